/* crypt.h — encryption at rest for stored artifacts: XChaCha20-Poly1305 (libsodium's
 * crypto_aead_xchacha20poly1305_ietf), one 32-byte key per store.
 *
 * Sealed format: "KILNENC1" (8) | key id (8: the first 8 bytes of SHA-256 of the key) |
 * nonce (24, random) | ciphertext with its 16-byte tag. The 40-byte header is authenticated
 * as associated data, so a changed key id or nonce fails like a changed ciphertext. Opening
 * is all or nothing: no plaintext is returned unless the tag verifies.
 *
 * Key material lives in sodium_malloc'd memory, is wiped on free and never appears in a
 * message; only the key id (a hash prefix, safe to show) does. */
#ifndef KILN_CRYPT_H
#define KILN_CRYPT_H

#include <stddef.h>

#include "base/status.h"

#define KCRYPT_MAGIC "KILNENC1"
#define KCRYPT_HEADER 40
#define KCRYPT_OVERHEAD (KCRYPT_HEADER + 16)
#define KCRYPT_KEY_LEN 32
#define KCRYPT_ID_HEX 17

typedef struct kcrypt_key kcrypt_key;

/* A key from 64 hex digits (surrounding whitespace allowed). Caller frees with kcrypt_key_free. */
kstatus kcrypt_key_from_hex(const char *hex, kcrypt_key **out, kerr *e);
/* A key file: exactly 32 raw bytes, or 64 hex digits (and whitespace). */
kstatus kcrypt_key_load(const char *path, kcrypt_key **out, kerr *e);
/* The configured key: the file $KILN_ARTIFACT_KEY_FILE, else the hex in $KILN_ARTIFACT_KEY;
 * *out is NULL (and K_OK) when neither is set. */
kstatus kcrypt_key_from_env(kcrypt_key **out, kerr *e);
/* A new random key, as 64 hex digits written to `hex` (65 bytes); for `kiln store rekey`
 * users who need one. */
kstatus kcrypt_key_random_hex(char hex[2 * KCRYPT_KEY_LEN + 1], kerr *e);
/* Wipes and frees (NULL is fine). */
void kcrypt_key_free(kcrypt_key *k);
/* The key id as 16 hex digits, owned by the key. */
const char *kcrypt_key_id(const kcrypt_key *k);

/* 1 when `data` starts with a sealed header; then `id` (if not NULL) gets its key id. */
int kcrypt_is_sealed(const void *data, size_t len, char id[KCRYPT_ID_HEX]);

/* Encrypts `len` bytes into a malloc'd buffer of len + KCRYPT_OVERHEAD bytes (caller frees). */
kstatus kcrypt_seal(const kcrypt_key *k, const void *plain, size_t len, unsigned char **out,
                    size_t *out_len, kerr *e);
/* Decrypts a sealed buffer into a malloc'd, NUL-terminated buffer (caller frees). K_CHECKSUM
 * when the key id is another key's ("encrypted with key …, not the configured key …") or the
 * tag does not verify ("authentication failed: the file was altered"); K_FORMAT when the
 * buffer is not sealed. */
kstatus kcrypt_open(const kcrypt_key *k, const void *sealed, size_t len, char **out,
                    size_t *out_len, kerr *e);

#endif
