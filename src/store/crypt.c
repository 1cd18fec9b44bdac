/* crypt.c — XChaCha20-Poly1305 sealing of artifacts and artifact keys (see crypt.h). */
#include "store/crypt.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/fs.h"
#include "base/sha256.h"

#define NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES

_Static_assert(KCRYPT_HEADER == 16 + NONCE_LEN, "header layout");
_Static_assert(KCRYPT_OVERHEAD == KCRYPT_HEADER + TAG_LEN, "overhead");
_Static_assert(KCRYPT_KEY_LEN == crypto_aead_xchacha20poly1305_ietf_KEYBYTES, "key size");

struct kcrypt_key {
    unsigned char key[KCRYPT_KEY_LEN];
    unsigned char id[8];
    char id_hex[KCRYPT_ID_HEX];
};

static kstatus key_new(const unsigned char *raw, kcrypt_key **out, kerr *e)
{
    if (sodium_init() < 0) return kerr_set(e, K_IO, "libsodium failed to initialise");
    kcrypt_key *k = sodium_malloc(sizeof *k);
    if (!k) return kerr_set(e, K_NOMEM, "out of memory");
    unsigned char d[SHA256_LEN];
    memcpy(k->key, raw, KCRYPT_KEY_LEN);
    sha256(raw, KCRYPT_KEY_LEN, d);
    memcpy(k->id, d, 8);
    sodium_bin2hex(k->id_hex, sizeof k->id_hex, k->id, 8);
    *out = k;
    return K_OK;
}

/* Decodes 64 hex digits surrounded by optional whitespace; -1 otherwise. */
static int parse_hex(const char *text, size_t len, unsigned char raw[KCRYPT_KEY_LEN])
{
    while (len && isspace((unsigned char)text[len - 1]))
        len--;
    while (len && isspace((unsigned char)*text))
        text++, len--;
    size_t got = 0;
    if (len != 2 * KCRYPT_KEY_LEN) return -1;
    if (sodium_hex2bin(raw, KCRYPT_KEY_LEN, text, len, NULL, &got, NULL) != 0) return -1;
    return got == KCRYPT_KEY_LEN ? 0 : -1;
}

kstatus kcrypt_key_from_hex(const char *hex, kcrypt_key **out, kerr *e)
{
    unsigned char raw[KCRYPT_KEY_LEN];
    kstatus st = parse_hex(hex, strlen(hex), raw) == 0
                     ? key_new(raw, out, e)
                     : kerr_set(e, K_INVALID, "an artifact key must be 64 hex digits (32 bytes)");
    sodium_memzero(raw, sizeof raw);
    return st;
}

kstatus kcrypt_key_load(const char *path, kcrypt_key **out, kerr *e)
{
    char *text;
    size_t len;
    unsigned char raw[KCRYPT_KEY_LEN];
    kstatus st = fs_read_all(path, 4096, &text, &len, e);
    if (st) return st;
    if (len == KCRYPT_KEY_LEN) {
        memcpy(raw, text, KCRYPT_KEY_LEN);
        st = key_new(raw, out, e);
    } else if (parse_hex(text, len, raw) == 0) {
        st = key_new(raw, out, e);
    } else {
        st = kerr_set(e, K_INVALID, "%s: an artifact key file holds 32 raw bytes or 64 hex digits",
                      path);
    }
    sodium_memzero(raw, sizeof raw);
    sodium_memzero(text, len);
    free(text);
    return st;
}

kstatus kcrypt_key_from_env(kcrypt_key **out, kerr *e)
{
    const char *file = getenv("KILN_ARTIFACT_KEY_FILE"), *hex = getenv("KILN_ARTIFACT_KEY");
    *out = NULL;
    kstatus st = K_OK;
    if (file && *file) {
        if ((st = kcrypt_key_load(file, out, e))) kerr_prefix(e, "KILN_ARTIFACT_KEY_FILE");
    } else if (hex && *hex) {
        if ((st = kcrypt_key_from_hex(hex, out, e))) kerr_prefix(e, "KILN_ARTIFACT_KEY");
    }
    return st;
}

kstatus kcrypt_key_random_hex(char hex[2 * KCRYPT_KEY_LEN + 1], kerr *e)
{
    unsigned char raw[KCRYPT_KEY_LEN];
    if (sodium_init() < 0) return kerr_set(e, K_IO, "libsodium failed to initialise");
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(hex, 2 * KCRYPT_KEY_LEN + 1, raw, sizeof raw);
    sodium_memzero(raw, sizeof raw);
    return K_OK;
}

void kcrypt_key_free(kcrypt_key *k)
{
    if (k) sodium_free(k);
}

const char *kcrypt_key_id(const kcrypt_key *k)
{
    return k->id_hex;
}

int kcrypt_is_sealed(const void *data, size_t len, char id[KCRYPT_ID_HEX])
{
    if (len < KCRYPT_OVERHEAD || memcmp(data, KCRYPT_MAGIC, 8) != 0) return 0;
    if (id) sodium_bin2hex(id, KCRYPT_ID_HEX, (const unsigned char *)data + 8, 8);
    return 1;
}

kstatus kcrypt_seal(const kcrypt_key *k, const void *plain, size_t len, unsigned char **out,
                    size_t *out_len, kerr *e)
{
    if (len > SIZE_MAX - KCRYPT_OVERHEAD) return kerr_set(e, K_LIMIT, "artifact too large");
    unsigned char *c = malloc(len + KCRYPT_OVERHEAD);
    if (!c) return kerr_set(e, K_NOMEM, "out of memory encrypting an artifact");
    memcpy(c, KCRYPT_MAGIC, 8);
    memcpy(c + 8, k->id, 8);
    randombytes_buf(c + 16, NONCE_LEN);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(c + KCRYPT_HEADER, &clen, plain, len, c,
                                               KCRYPT_HEADER, NULL, c + 16, k->key);
    *out = c;
    *out_len = KCRYPT_HEADER + (size_t)clen;
    return K_OK;
}

kstatus kcrypt_open(const kcrypt_key *k, const void *sealed, size_t len, char **out,
                    size_t *out_len, kerr *e)
{
    const unsigned char *s = sealed;
    char id[KCRYPT_ID_HEX];
    if (!kcrypt_is_sealed(s, len, id)) return kerr_set(e, K_FORMAT, "not an encrypted artifact");
    if (memcmp(s + 8, k->id, 8) != 0)
        return kerr_set(e, K_CHECKSUM, "encrypted with key %s, not the configured key %s", id,
                        k->id_hex);
    size_t plen = len - KCRYPT_OVERHEAD;
    char *p = malloc(plen + 1);
    if (!p) return kerr_set(e, K_NOMEM, "out of memory decrypting an artifact");
    unsigned long long got = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)p, &got, NULL,
                                                   s + KCRYPT_HEADER, len - KCRYPT_HEADER, s,
                                                   KCRYPT_HEADER, s + 16, k->key) != 0) {
        free(p);
        return kerr_set(e, K_CHECKSUM, "authentication failed: the file was altered");
    }
    p[got] = 0;
    *out = p;
    *out_len = (size_t)got;
    return K_OK;
}
