/* buf.h — growable byte buffer with a hard maximum size.
 *
 * Used for building output (package files, JSON) without unbounded growth: an append that would
 * pass `max` fails with K_LIMIT and leaves the buffer unchanged. */
#ifndef KILN_BUF_H
#define KILN_BUF_H

#include <stddef.h>

#include "base/status.h"

typedef struct {
    unsigned char *data;
    size_t len, cap, max;
} buf;

/* Initialises an empty buffer that may grow to at most `max` bytes. Caller frees with buf_free. */
void buf_init(buf *b, size_t max);
void buf_free(buf *b);

/* Appends n bytes; K_OK, K_LIMIT past max, K_NOMEM. */
kstatus buf_append(buf *b, const void *p, size_t n);
kstatus buf_append_str(buf *b, const char *s);
/* Appends printf-formatted text. */
kstatus buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends zero bytes until len is a multiple of `align`. */
kstatus buf_pad(buf *b, size_t align);

#endif
