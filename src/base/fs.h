/* fs.h — file helpers: bounded whole-file reads, read-only mappings and crash-safe writes. */
#ifndef KILN_FS_H
#define KILN_FS_H

#include <stddef.h>

#include "base/status.h"

/* Reads all of `path` into a malloc'd buffer (NUL-terminated, *len excludes the NUL). Files
 * larger than `max` fail with K_LIMIT. Caller frees *out with free(). */
kstatus fs_read_all(const char *path, size_t max, char **out, size_t *len, kerr *e);

/* The first line of a secret file (a password or passphrase; the line end is not part of it)
 * into out[cap], NUL-terminated; every other copy of the file's bytes is wiped. K_INVALID when
 * the first line is empty, K_LIMIT when it does not fit (messages name `path`, never the
 * secret). The caller wipes out when done. */
kstatus fs_read_secret_line(const char *path, char *out, size_t cap, kerr *e);

/* A read-only mapping of a whole file. */
typedef struct {
    const unsigned char *data;
    size_t len;
} fs_map;

/* Maps `path` read-only. Caller releases with fs_unmap. Empty files map to data=NULL, len=0. */
kstatus fs_map_file(const char *path, fs_map *m, kerr *e);
void fs_unmap(fs_map *m);

/* Writes `len` bytes to `path` atomically: a temporary file in the same directory, fsync,
 * rename over `path`, fsync of the directory. On failure `path` is left as it was. */
kstatus fs_write_atomic(const char *path, const void *data, size_t len, kerr *e);

#endif
