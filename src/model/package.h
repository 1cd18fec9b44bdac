/* package.h — the .kiln model package: one self-checking file holding a kspec.
 *
 * Layout (little-endian; docs/model-format.md is the full specification):
 *   header (64 bytes): magic "KILNMODL", format version, sizes and offsets
 *   manifest: UTF-8 JSON — schema, preprocessing, estimator parameters, output, metadata;
 *             every numeric array is a named reference to a section
 *   section table: name, element type, offset and count of each array
 *   sections: raw little-endian arrays, each aligned to 64 bytes (mmap-friendly)
 *   trailer: SHA-256 of every byte before it
 * A loader verifies the checksum before reading anything else, refuses newer format versions,
 * and bounds-checks every offset, so truncated or tampered files fail with a clear error. */
#ifndef KILN_PACKAGE_H
#define KILN_PACKAGE_H

#include <stddef.h>

#include "base/buf.h"
#include "model/spec.h"

#define KPKG_MAGIC "KILNMODL"
#define KPKG_FORMAT_VERSION 1
#define KPKG_MAX_SIZE ((size_t)4 << 30) /* 4 GiB */
/* An optional signature block after the trailer (model/sign.h); readers skip it. */
#define KPKG_SIG_MAGIC "KILNSIG1"
#define KPKG_SIG_SIZE 128

/* Serialises `s` into `out` (initialised by the caller with buf_init; caller frees). */
kstatus kpkg_write(const kspec *s, buf *out, kerr *e);

/* Writes `s` to `path` atomically (temp file, fsync, rename). */
kstatus kpkg_save(const kspec *s, const char *path, kerr *e);

/* Parses a package held in memory. The result copies what it needs: `data` may be released
 * afterwards. Caller frees *out with kspec_free. */
kstatus kpkg_read(const void *data, size_t len, kspec **out, kerr *e);

/* Maps and parses the package at `path`. Caller frees *out with kspec_free. */
kstatus kpkg_load(const char *path, kspec **out, kerr *e);

/* The length of the package proper: `len` for an unsigned package, len - KPKG_SIG_SIZE when a
 * signature block follows the trailer. Malformed input gives `len` (kpkg_read then says why). */
size_t kpkg_body_len(const void *data, size_t len);

/* Returns the hex SHA-256 checksum stored in a package's trailer (which kpkg_read verified). */
kstatus kpkg_checksum_hex(const void *data, size_t len, char out[65], kerr *e);

#endif
