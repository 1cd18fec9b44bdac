/* artifacts.h — the content-addressed artifact store under a directory (the registry's
 * artifact directory; several Kiln instances may share one).
 *
 * An artifact is a byte string named by its SHA-256. Writes go to a temporary file in the
 * store, are fsynced, renamed into place and the directory is fsynced, so a crash leaves either
 * the whole artifact or nothing. Every read verifies the hash: a file that no longer matches
 * its name is refused with K_CHECKSUM instead of being served. Layout:
 *   DIR/sha256/<first two hex digits>/<64 hex digits>
 */
#ifndef KILN_ARTIFACTS_H
#define KILN_ARTIFACTS_H

#include <stddef.h>

#include "base/sha256.h"
#include "base/status.h"

typedef struct artifacts artifacts;

/* Opens (creating when missing) the store rooted at `dir`. Caller frees with artifacts_close. */
kstatus artifacts_open(const char *dir, artifacts **out, kerr *e);
void artifacts_close(artifacts *a);

/* Stores `len` bytes and writes their hex SHA-256 to `sha`. Storing bytes that are already
 * there intact is a no-op, so concurrent writers of the same artifact are safe; a damaged copy
 * is replaced. */
kstatus artifacts_put(artifacts *a, const void *data, size_t len, char sha[SHA256_HEX_LEN],
                      kerr *e);

/* Reads the artifact named `sha` (at most `max` bytes) into a malloc'd buffer the caller
 * frees. K_NOTFOUND when absent, K_CHECKSUM when its content no longer matches its name. */
kstatus artifacts_get(artifacts *a, const char *sha, size_t max, char **data, size_t *len,
                      kerr *e);

/* Returns 1 when the artifact is present (without verifying it), 0 otherwise. */
int artifacts_has(artifacts *a, const char *sha);

/* Removes the artifact; K_NOTFOUND when absent. */
kstatus artifacts_remove(artifacts *a, const char *sha, kerr *e);

/* Writes the path of artifact `sha` to `out`; K_INVALID when `sha` is not 64 lowercase hex. */
kstatus artifacts_path(const artifacts *a, const char *sha, char *out, size_t size, kerr *e);

#endif
