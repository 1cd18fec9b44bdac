/* http.c — the small helpers handlers share for reading requests and writing JSON responses. */
#include "serve/http.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "data/jsonw.h"

const char *khttp_header(const khttp_req *q, const char *name)
{
    return q->header ? q->header(q->header_ctx, name) : NULL;
}

const char *khttp_query(const khttp_req *q, const char *name)
{
    return q->query ? q->query(q->header_ctx, name) : NULL;
}

kstatus khttp_json_string(buf *b, const char *s)
{
    return jsonw_string(b, s);
}

kstatus khttp_json_number(buf *b, double v)
{
    return jsonw_number(b, v);
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
    return jsonw_array(b, v, n);
}
