/* sha256.h — SHA-256 digests (libsodium), as raw bytes or lowercase hex. */
#ifndef KILN_SHA256_H
#define KILN_SHA256_H

#include <stddef.h>

#include "base/status.h"

#define SHA256_LEN 32
#define SHA256_HEX_LEN 65 /* 64 hex digits + NUL */

void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN]);
void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN]);
void sha256_to_hex(const unsigned char digest[SHA256_LEN], char out[SHA256_HEX_LEN]);

/* Hashes the file at `path` in streaming fashion. */
kstatus sha256_file_hex(const char *path, char out[SHA256_HEX_LEN], kerr *e);

#endif
