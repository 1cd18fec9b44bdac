/* b64url.h — for tests and fuzz targets that mint JSON Web Tokens: base64url without padding
 * (RFC 4648 section 5), the encoding JWS uses. Header-only; the library has its own decoder. */
#ifndef KILN_TEST_B64URL_H
#define KILN_TEST_B64URL_H

#include <stddef.h>

/* Encodes in[0..n) into out (room for 4 * ceil(n / 3) + 1 bytes), NUL-terminated; returns the
 * length written. */
static inline size_t b64url(const unsigned char *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n) v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n) v |= in[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n) out[o++] = abc[(v >> 6) & 63];
        if (i + 2 < n) out[o++] = abc[v & 63];
    }
    out[o] = 0;
    return o;
}

#endif
