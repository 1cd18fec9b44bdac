/* sha256.c — thin wrapper over libsodium's SHA-256. */
#include "base/sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

void sha256(const void *data, size_t len, unsigned char out[SHA256_LEN])
{
    crypto_hash_sha256(out, data, len);
}

void sha256_to_hex(const unsigned char digest[SHA256_LEN], char out[SHA256_HEX_LEN])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < SHA256_LEN; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = 0;
}

void sha256_hex(const void *data, size_t len, char out[SHA256_HEX_LEN])
{
    unsigned char d[SHA256_LEN];
    sha256(data, len, d);
    sha256_to_hex(d, out);
}

kstatus sha256_file_hex(const char *path, char out[SHA256_HEX_LEN], kerr *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) return kerr_set(e, K_IO, "cannot open %s: %s", path, strerror(errno));
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    unsigned char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) crypto_hash_sha256_update(&st, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return kerr_set(e, K_IO, "read error on %s", path);
    unsigned char d[SHA256_LEN];
    crypto_hash_sha256_final(&st, d);
    sha256_to_hex(d, out);
    return K_OK;
}
