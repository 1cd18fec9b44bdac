/* jsonw.c — writing JSON text into bounded buffers: strings (escaped, invalid UTF-8 replaced),
 * numbers (shortest round-trip, non-finite as null), arrays of numbers. */
#include "data/jsonw.h"

#include <math.h>
#include <stdint.h>

#include "base/num.h"

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
kstatus jsonw_string(buf *b, const char *s)
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

kstatus jsonw_number(buf *b, double v)
{
    if (!isfinite(v)) return buf_append(b, "null", 4);
    char text[32];
    int n = num_format_shortest(v, text);
    return buf_append(b, text, (size_t)n);
}

kstatus jsonw_array(buf *b, const double *v, size_t n)
{
    kstatus st = buf_append(b, "[", 1);
    for (size_t i = 0; !st && i < n; i++) {
        if (i) st = buf_append(b, ",", 1);
        if (!st) st = jsonw_number(b, v[i]);
    }
    return st ? st : buf_append(b, "]", 1);
}
