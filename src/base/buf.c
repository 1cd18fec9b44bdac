/* buf.c — bounded growable byte buffer. */
#include "base/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

void buf_free(buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static kstatus buf_reserve(buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra) return K_LIMIT;
    size_t need = b->len + extra;
    if (need <= b->cap) return K_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap = cap > b->max / 2 ? b->max : cap * 2;
    unsigned char *p = realloc(b->data, cap);
    if (!p) return K_NOMEM;
    b->data = p;
    b->cap = cap;
    return K_OK;
}

kstatus buf_append(buf *b, const void *p, size_t n)
{
    kstatus s = buf_reserve(b, n + 1);
    if (s) return s;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0; /* keeps text NUL-terminated for free */
    return K_OK;
}

kstatus buf_append_str(buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

kstatus buf_printf(buf *b, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return K_FORMAT;
    if ((size_t)n < sizeof small) return buf_append(b, small, (size_t)n);
    kstatus s = buf_reserve(b, (size_t)n + 1);
    if (s) return s;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return K_OK;
}

kstatus buf_pad(buf *b, size_t align)
{
    static const unsigned char zeros[64];
    while (b->len % align) {
        size_t n = align - b->len % align;
        kstatus s = buf_append(b, zeros, n < sizeof zeros ? n : sizeof zeros);
        if (s) return s;
    }
    return K_OK;
}
