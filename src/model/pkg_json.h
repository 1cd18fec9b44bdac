/* pkg_json.h — the manifest half of the package format (internal to src/model).
 *
 * package.c owns the binary framing (header, section table, checksum); pkg_json.c maps a kspec
 * to and from the manifest JSON. They meet through these section helpers: the writer turns an
 * array into a named section and hands back the JSON reference; the reader resolves a reference
 * into a checked copy in the spec's arena. */
#ifndef KILN_PKG_JSON_H
#define KILN_PKG_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "model/spec.h"

typedef struct pkg_writer pkg_writer;
typedef struct pkg_reader pkg_reader;

/* Writer side: each returns a new JSON string naming the section (owned by the caller). The
 * array must stay alive until the package is written. */
json_object *pkgw_f64(pkg_writer *w, const char *name, const double *v, size_t n);
json_object *pkgw_i32(pkg_writer *w, const char *name, const int32_t *v, size_t n);
json_object *pkgw_u32(pkg_writer *w, const char *name, const uint32_t *v, size_t n);
/* Zeroed scratch memory that lives until the package is written (NULL on failure, recorded). */
void *pkgw_scratch(pkg_writer *w, size_t n, size_t size);

/* Reader side: copies the section named by `ref` (checking type and exact count) into the
 * spec's arena. */
kstatus pkgr_f64(pkg_reader *r, json_object *ref, size_t n, const double **out);
kstatus pkgr_i32(pkg_reader *r, json_object *ref, size_t n, const int32_t **out);
kstatus pkgr_u32(pkg_reader *r, json_object *ref, size_t n, const uint32_t **out);

/* Reader side, without copying: *at points at the section's bytes inside the package, valid
 * only during kpkg_read and not necessarily aligned (read elements with memcpy). pkgr_raw
 * checks for f64 (is_f64) or i32 elements, pkgr_raw_u32 for u32. */
kstatus pkgr_raw(pkg_reader *r, json_object *ref, int is_f64, size_t n, const unsigned char **at);
kstatus pkgr_raw_u32(pkg_reader *r, json_object *ref, size_t n, const unsigned char **at);

/* Builds the manifest for `s` (caller releases with json_object_put), or NULL on failure. */
json_object *pkgj_manifest(pkg_writer *w, const kspec *s);

/* Fills `s` (empty, from kspec_new) from a parsed manifest. */
kstatus pkgj_read_manifest(pkg_reader *r, json_object *manifest, kspec *s, kerr *e);

#endif
