/* http.c — the small helpers handlers share for reading requests and writing JSON responses. */
#include "serve/http.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/num.h"

const char *khttp_header(const khttp_req *q, const char *name)
{
    return q->header ? q->header(q->header_ctx, name) : NULL;
}

const char *khttp_query(const khttp_req *q, const char *name)
{
    return q->query ? q->query(q->header_ctx, name) : NULL;
}

/* Length of the well-formed UTF-8 sequence at p (1-4), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    uint32_t cp = len == 1 ? c : c & (0x7Fu >> len);
    for (size_t k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80) return 0; /* also stops at the NUL */
        cp = cp << 6 | (p[k] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (!len || cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

/* Escapes quotes, backslashes and control characters; bytes that are not UTF-8 (a hostile
 * path or key echoed in an error) become U+FFFD, so every answer is valid JSON text. */
kstatus khttp_json_string(buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    kstatus st = buf_append(b, "\"", 1);
    const unsigned char *p = (const unsigned char *)s;
    while (!st && *p) {
        size_t run = 0, len;
        while (p[run] >= 0x20 && p[run] < 0x80 && p[run] != '"' && p[run] != '\\')
            run++;
        if (run) st = buf_append(b, p, run);
        p += run;
        if (st || !*p) break;
        if (*p >= 0x80) {
            len = utf8_len(p);
            st = len ? buf_append(b, p, len) : buf_append(b, "\\ufffd", 6);
            p += len ? len : 1;
            continue;
        }
        char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
        if (*p == '"' || *p == '\\')
            st = buf_append(b, (char[]){'\\', (char)*p}, 2);
        else
            st = buf_append(b, esc, 6);
        p++;
    }
    return st ? st : buf_append(b, "\"", 1);
}

kstatus khttp_json_number(buf *b, double v)
{
    if (!isfinite(v)) return buf_append(b, "null", 4);
    char text[32];
    int n = num_format_shortest(v, text);
    return buf_append(b, text, (size_t)n);
}

void khttp_error(khttp_resp *r, int status, const char *reason, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->status = status;
    r->content_type = "application/json";
    r->error_reason = reason;
    r->body.len = 0;
    buf_append(&r->body, "{\"error\":", 9);
    khttp_json_string(&r->body, msg);
    buf_append(&r->body, "}", 1);
}

int khttp_status_for(kstatus st)
{
    switch (st) {
    case K_LIMIT:
        return 413;
    case K_NOTFOUND:
        return 404;
    case K_INVALID:
    case K_RANGE:
        return 422;
    case K_FORMAT:
    case K_UNSUPPORTED:
        return 400;
    case K_BUSY:
        return 503;
    default:
        return 500;
    }
}

void khttp_add_header(khttp_resp *r, const char *name, const char *value)
{
    if (r->n_headers >= KHTTP_MAX_HEADERS) return;
    r->header_names[r->n_headers] = name;
    snprintf(r->header_values[r->n_headers], sizeof r->header_values[0], "%s", value);
    r->n_headers++;
}

kstatus khttp_json_array(buf *b, const double *v, size_t n)
{
    kstatus st = buf_append(b, "[", 1);
    for (size_t i = 0; !st && i < n; i++) {
        if (i) st = buf_append(b, ",", 1);
        if (!st) st = khttp_json_number(b, v[i]);
    }
    return st ? st : buf_append(b, "]", 1);
}
