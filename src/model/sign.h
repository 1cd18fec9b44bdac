/* sign.h — Ed25519 signatures on .kiln packages (libsodium), and the set of trusted keys.
 *
 * A signed package is the package followed by one signature block of KPKG_SIG_SIZE bytes
 * (package.h; docs/security.md, "Model artifacts"), so it stays one file that every reader
 * still accepts and the registry stores unchanged. The block, little-endian:
 *   offset 0   magic "KILNSIG1"
 *          8   version (u32, 1)
 *          12  algorithm (u32, 1 = Ed25519)
 *          16  key id (the first 8 bytes of SHA-256 of the public key)
 *          24  public key (32 bytes)
 *          56  reserved (8 bytes, zero)
 *          64  signature (64 bytes)
 * The signature covers every byte before it: the package and the block's first 64 bytes.
 * Signing a signed package replaces its block.
 *
 * Key files are one line of text: the secret key file (mode 0600) is
 * "kiln-ed25519-secret BASE64(seed)", the public one "kiln-ed25519 BASE64(pk) KEYID". A trust
 * list is a file of public-key lines ('#' comments, blank lines allowed) or a directory whose
 * *.pub files are read. Secret material is wiped when freed and never put in messages. */
#ifndef KILN_SIGN_H
#define KILN_SIGN_H

#include <stddef.h>

#include "base/buf.h"
#include "base/status.h"

#define KSIGN_ID_HEX 17      /* 16 hex digits + NUL */
#define KSIGN_PUBLIC_MAX 128 /* a public-key line, NUL included */
#define KSIGN_TRUST_MAX 256  /* keys in one trust list */

typedef struct ksign_key ksign_key;

/* A fresh random signing key. Caller frees with ksign_key_free. */
kstatus ksign_key_generate(ksign_key **out, kerr *e);
/* Writes the secret key to `path` (0600, atomically) and the public line to PATH.pub.
 * K_EXISTS when `path` exists and `force` is 0. */
kstatus ksign_key_save(const ksign_key *k, const char *path, int force, kerr *e);
/* Reads a secret key file. Caller frees with ksign_key_free. */
kstatus ksign_key_load(const char *path, ksign_key **out, kerr *e);
/* Wipes and frees (NULL is fine). */
void ksign_key_free(ksign_key *k);
/* The key id (16 hex digits), owned by the key. */
const char *ksign_key_id(const ksign_key *k);
/* The public-key line, without a newline. */
void ksign_key_public(const ksign_key *k, char out[KSIGN_PUBLIC_MAX]);

typedef struct ksign_trust ksign_trust;

/* An empty trust list. Caller frees with ksign_trust_free. */
kstatus ksign_trust_new(ksign_trust **out, kerr *e);
/* Adds every key of a file, or of the *.pub files in a directory. */
kstatus ksign_trust_load(ksign_trust *t, const char *path, kerr *e);
/* Adds one public-key line. */
kstatus ksign_trust_add(ksign_trust *t, const char *line, kerr *e);
int ksign_trust_count(const ksign_trust *t);
void ksign_trust_free(ksign_trust *t);

/* Signs a package (signed or not) into `out` (initialised by the caller, who frees it):
 * the package without any old block, then the new block. */
kstatus ksign_sign(const ksign_key *k, const void *pkg, size_t len, buf *out, kerr *e);

/* Whether a package carries a signature block, and the id of the key that made it ("" when
 * unsigned). K_FORMAT when `pkg` is not a package. */
kstatus ksign_inspect(const void *pkg, size_t len, int *is_signed, char key_id[KSIGN_ID_HEX],
                      kerr *e);

/* The load/register policy. An unsigned package passes unless `require_signed`
 * (K_INVALID "the package is not signed"). A signed package must verify with a key of `trust`
 * (K_CHECKSUM "signature does not verify with any trusted key"); when `trust` is NULL or
 * empty and signatures are not required, it must at least verify with the key it names, so a
 * package altered after signing is always refused. */
kstatus ksign_check(const ksign_trust *trust, int require_signed, const void *pkg, size_t len,
                    kerr *e);

#endif
