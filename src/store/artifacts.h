/* artifacts.h — the content-addressed artifact store under a directory (the registry's
 * artifact directory; several Kiln instances may share one).
 *
 * An artifact is a byte string named by its SHA-256. Writes go to a temporary file in the
 * store, are fsynced, renamed into place and the directory is fsynced, so a crash leaves either
 * the whole artifact or nothing. Every read verifies the hash: a file that no longer matches
 * its name is refused with K_CHECKSUM instead of being served. Layout:
 *   DIR/sha256/<first two hex digits>/<64 hex digits>
 *
 * Encryption at rest (crypt.h): when the store has a key, artifacts are written sealed with it
 * and decrypted only in memory; the name stays the SHA-256 of the plaintext, checked after
 * decryption. A plaintext artifact is still read (so a store can be migrated), an artifact
 * sealed with another key or altered is refused with K_CHECKSUM, never partly returned.
 */
#ifndef KILN_ARTIFACTS_H
#define KILN_ARTIFACTS_H

#include <stddef.h>

#include "base/sha256.h"
#include "base/status.h"
#include "store/crypt.h"

typedef struct artifacts artifacts;

/* Opens (creating when missing) the store rooted at `dir`, with the artifact key configured in
 * the environment (kcrypt_key_from_env; a bad key fails the open). Caller frees with
 * artifacts_close. */
kstatus artifacts_open(const char *dir, artifacts **out, kerr *e);
void artifacts_close(artifacts *a);

/* Replaces the store's key (consumed; NULL: store plaintext from now on). */
void artifacts_set_key(artifacts *a, kcrypt_key *key);

/* Re-encrypts every artifact with `new_key`: sealed ones are opened with `old_key` (NULL when
 * the store had none), plaintext ones are sealed, ones already under `new_key` are left as
 * they are (so an interrupted rekey can simply be run again). Each file is rewritten
 * atomically after its hash is verified; the store lock is held exclusive throughout. Counts
 * go to the struct; files that cannot be rekeyed are skipped, counted as failed and the first
 * failure is returned (K_CHECKSUM) after the others are done. */
typedef struct {
    long long rekeyed, encrypted, unchanged, failed;
} artifacts_rekey_stats;
kstatus artifacts_rekey(artifacts *a, const kcrypt_key *old_key, const kcrypt_key *new_key,
                        artifacts_rekey_stats *stats, kerr *e);

/* Stores `len` bytes and writes their hex SHA-256 to `sha`. Storing bytes that are already
 * there intact only refreshes the file's time (so a grace period protects it from garbage
 * collection), so concurrent writers of the same artifact are safe; a damaged copy is
 * replaced. */
kstatus artifacts_put(artifacts *a, const void *data, size_t len, char sha[SHA256_HEX_LEN],
                      kerr *e);

/* Reads the artifact named `sha` (at most `max` bytes) into a malloc'd buffer the caller
 * frees. K_NOTFOUND when absent, K_CHECKSUM when its content no longer matches its name. */
kstatus artifacts_get(artifacts *a, const char *sha, size_t max, char **data, size_t *len, kerr *e);

/* Returns 1 when the artifact is present (without verifying it), 0 otherwise. */
int artifacts_has(artifacts *a, const char *sha);

/* Removes the artifact; K_NOTFOUND when absent. */
kstatus artifacts_remove(artifacts *a, const char *sha, kerr *e);

/* Store-wide lock shared by writers and the garbage collector: a writer holds it shared from
 * artifacts_put until the registry row naming the artifact is committed; kreg_gc holds it
 * exclusive while it decides what is orphaned and removes it. An flock on DIR/.lock. */
kstatus artifacts_lock(artifacts *a, int exclusive, kerr *e);
void artifacts_unlock(artifacts *a);

/* One entry found by artifacts_scan: an artifact (sha set) or a leftover temporary file from
 * an interrupted write (sha empty). `age_s` is seconds since it was last written or put. */
typedef struct {
    char sha[SHA256_HEX_LEN];
    const char *path;
    long long size;
    double age_s;
} artifacts_entry;

/* Calls fn for every file in the store; stops early when fn returns non-zero. */
kstatus artifacts_scan(artifacts *a, int (*fn)(void *ctx, const artifacts_entry *en), void *ctx,
                       kerr *e);

/* Removes any file of the store by path (as given by artifacts_scan). */
kstatus artifacts_unlink(artifacts *a, const char *path, kerr *e);

/* Writes the path of artifact `sha` to `out`; K_INVALID when `sha` is not 64 lowercase hex. */
kstatus artifacts_path(const artifacts *a, const char *sha, char *out, size_t size, kerr *e);

#endif
