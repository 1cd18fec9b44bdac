/* package.c — writing and reading .kiln packages (see package.h and docs/model-format.md).
 *
 * Writing: every array of the spec becomes a named section; the manifest (JSON, built with
 * json-c) refers to sections by name. Reading: checksum first, then header and section-table
 * bounds, then the manifest, copying each referenced array into the new spec's arena and
 * checking its element type and count. kspec_validate has the last word. */
#include "model/package.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "model/pkg_json.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .kiln reader and writer assume a little-endian host"
#endif

#define HEADER_SIZE 64
#define SECTION_ENTRY_SIZE 56
#define SECTION_NAME_MAX 32
#define SECTION_ALIGN 64
#define MAX_SECTIONS 65536
#define MANIFEST_MAX ((size_t)64 << 20)
#define MANIFEST_DEPTH 32

enum { DT_F64 = 1, DT_I32 = 2, DT_U32 = 3 };

static size_t dtype_size(uint32_t dt)
{
    return dt == DT_F64 ? 8 : (dt == DT_I32 || dt == DT_U32) ? 4 : 0;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static void put_u64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- writer ---------------------------------------------------------------------------------- */

typedef struct {
    char name[SECTION_NAME_MAX];
    uint32_t dtype;
    const void *data;
    uint64_t count;
} section;

struct pkg_writer {
    section *sec;
    size_t n, cap;
    arena *tmp; /* scratch arrays (tree fields) that live until the file is written */
    kerr *e;
    kstatus status;
};

/* Adds a section and returns its name as a JSON string (the manifest's reference to it). */
static json_object *pkgw_array(pkg_writer *w, const char *name, uint32_t dtype, const void *data,
                        size_t count)
{
    if (w->status) return json_object_new_null();
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        section *s = cap <= MAX_SECTIONS ? realloc(w->sec, cap * sizeof *s) : NULL;
        if (!s) {
            w->status = kerr_set(w->e, K_NOMEM, "too many sections");
            return json_object_new_null();
        }
        w->sec = s;
        w->cap = cap;
    }
    section *s = &w->sec[w->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->dtype = dtype;
    s->data = data;
    s->count = count;
    return json_object_new_string(s->name);
}

json_object *pkgw_f64(pkg_writer *w, const char *name, const double *v, size_t n)
{
    return pkgw_array(w, name, DT_F64, v, n);
}

json_object *pkgw_i32(pkg_writer *w, const char *name, const int32_t *v, size_t n)
{
    return pkgw_array(w, name, DT_I32, v, n);
}

json_object *pkgw_u32(pkg_writer *w, const char *name, const uint32_t *v, size_t n)
{
    return pkgw_array(w, name, DT_U32, v, n);
}

void *pkgw_scratch(pkg_writer *w, size_t n, size_t size)
{
    void *p = w->status ? NULL : arena_array(w->tmp, n, size);
    if (!p && !w->status) w->status = kerr_set(w->e, K_NOMEM, "out of memory writing package");
    return p;
}

static kstatus layout_file(pkg_writer *w, const char *manifest, size_t mlen, buf *out)
{
    unsigned char head[HEADER_SIZE] = {0};
    kstatus st = buf_append(out, head, sizeof head);
    if (!st) st = buf_append(out, manifest, mlen);
    if (!st) st = buf_pad(out, 8);
    size_t table_at = out->len;
    size_t table_len = w->n * SECTION_ENTRY_SIZE;
    unsigned char *table = calloc(1, table_len ? table_len : 1);
    if (!table) return kerr_set(w->e, K_NOMEM, "out of memory writing package");
    if (!st) st = buf_append(out, table, table_len);
    for (size_t i = 0; i < w->n && !st; i++) {
        section *s = &w->sec[i];
        st = buf_pad(out, SECTION_ALIGN);
        unsigned char *ent = table + i * SECTION_ENTRY_SIZE;
        memcpy(ent, s->name, SECTION_NAME_MAX);
        put_u32(ent + 32, s->dtype);
        put_u64(ent + 40, out->len);
        put_u64(ent + 48, s->count);
        if (!st) st = buf_append(out, s->data, (size_t)s->count * dtype_size(s->dtype));
    }
    if (!st) {
        memcpy(out->data + table_at, table, table_len);
        unsigned char *h = out->data;
        memcpy(h, KPKG_MAGIC, 8);
        put_u32(h + 8, KPKG_FORMAT_VERSION);
        put_u32(h + 12, HEADER_SIZE);
        put_u64(h + 16, out->len + SHA256_LEN);
        put_u64(h + 24, HEADER_SIZE);
        put_u64(h + 32, mlen);
        put_u32(h + 40, (uint32_t)w->n);
        put_u64(h + 48, table_at);
        unsigned char digest[SHA256_LEN];
        sha256(out->data, out->len, digest);
        st = buf_append(out, digest, sizeof digest);
    }
    free(table);
    if (st) return kerr_set(w->e, st, "package too large or out of memory");
    return K_OK;
}

kstatus kpkg_write(const kspec *s, buf *out, kerr *e)
{
    kstatus st = kspec_validate(s, e);
    if (st) return st;
    pkg_writer w = {.e = e, .tmp = arena_new(KPKG_MAX_SIZE)};
    if (!w.tmp) return kerr_set(e, K_NOMEM, "out of memory");
    json_object *manifest = pkgj_manifest(&w, s);
    st = w.status;
    if (!st && !manifest) st = kerr_set(e, K_NOMEM, "out of memory building manifest");
    if (!st) {
        size_t mlen;
        const char *text = json_object_to_json_string_length(manifest, JSON_C_TO_STRING_PLAIN |
                                                                          JSON_C_TO_STRING_NOSLASHESCAPE,
                                                             &mlen);
        st = layout_file(&w, text, mlen, out);
    }
    json_object_put(manifest);
    free(w.sec);
    arena_free(w.tmp);
    return st;
}

kstatus kpkg_save(const kspec *s, const char *path, kerr *e)
{
    buf b;
    buf_init(&b, KPKG_MAX_SIZE);
    kstatus st = kpkg_write(s, &b, e);
    if (!st) st = fs_write_atomic(path, b.data, b.len, e);
    buf_free(&b);
    return st;
}

/* ---- reader ---------------------------------------------------------------------------------- */

struct pkg_reader {
    const unsigned char *data;
    size_t len;
    const unsigned char *table;
    uint32_t n_sections;
    arena *mem;
    kerr *e;
};

static const unsigned char *find_section(pkg_reader *r, const char *name)
{
    for (uint32_t i = 0; i < r->n_sections; i++) {
        const unsigned char *ent = r->table + (size_t)i * SECTION_ENTRY_SIZE;
        if (strncmp((const char *)ent, name, SECTION_NAME_MAX) == 0) return ent;
    }
    return NULL;
}

/* Finds the section `ref` names and checks its type and count; *at points at its bytes in the
 * file (valid only while reading, possibly unaligned). */
static kstatus pkgr_locate(pkg_reader *r, json_object *ref, uint32_t dtype, size_t count,
                           const unsigned char **at)
{
    if (!ref) return r->e->code ? r->e->code : kerr_set(r->e, K_FORMAT, "manifest: missing section");
    const char *name = json_object_is_type(ref, json_type_string) ? json_object_get_string(ref)
                                                                   : NULL;
    if (!name) return kerr_set(r->e, K_FORMAT, "manifest: expected a section name");
    const unsigned char *ent = find_section(r, name);
    if (!ent) return kerr_set(r->e, K_FORMAT, "section '%.32s' is missing", name);
    if (get_u32(ent + 32) != dtype || get_u64(ent + 48) != count)
        return kerr_set(r->e, K_FORMAT, "section '%.32s' has type %u and %llu elements, "
                                        "expected type %u and %zu",
                        name, get_u32(ent + 32), (unsigned long long)get_u64(ent + 48), dtype,
                        count);
    *at = r->data + get_u64(ent + 40); /* table entries were bounds-checked on open */
    return K_OK;
}

static kstatus pkgr_array(pkg_reader *r, json_object *ref, uint32_t dtype, size_t count,
                          void **out)
{
    const unsigned char *at;
    kstatus st = pkgr_locate(r, ref, dtype, count, &at);
    if (st) return st;
    *out = arena_memdup(r->mem, at, count * dtype_size(dtype));
    if (!*out) return kerr_set(r->e, K_LIMIT, "a section is too large for memory limits");
    return K_OK;
}

kstatus pkgr_raw(pkg_reader *r, json_object *ref, int is_f64, size_t n, const unsigned char **at)
{
    return pkgr_locate(r, ref, is_f64 ? DT_F64 : DT_I32, n, at);
}

kstatus pkgr_raw_u32(pkg_reader *r, json_object *ref, size_t n, const unsigned char **at)
{
    return pkgr_locate(r, ref, DT_U32, n, at);
}

kstatus pkgr_f64(pkg_reader *r, json_object *ref, size_t n, const double **out)
{
    return pkgr_array(r, ref, DT_F64, n, (void **)out);
}

kstatus pkgr_i32(pkg_reader *r, json_object *ref, size_t n, const int32_t **out)
{
    return pkgr_array(r, ref, DT_I32, n, (void **)out);
}

kstatus pkgr_u32(pkg_reader *r, json_object *ref, size_t n, const uint32_t **out)
{
    return pkgr_array(r, ref, DT_U32, n, (void **)out);
}

static kstatus check_table(pkg_reader *r, uint64_t table_at)
{
    uint64_t body = r->len - SHA256_LEN;
    if (table_at > body || (uint64_t)r->n_sections * SECTION_ENTRY_SIZE > body - table_at)
        return kerr_set(r->e, K_FORMAT, "section table lies outside the file");
    r->table = r->data + table_at;
    for (uint32_t i = 0; i < r->n_sections; i++) {
        const unsigned char *ent = r->table + (size_t)i * SECTION_ENTRY_SIZE;
        size_t es = dtype_size(get_u32(ent + 32));
        uint64_t off = get_u64(ent + 40), count = get_u64(ent + 48);
        if (!es || memchr(ent, 0, SECTION_NAME_MAX) == NULL || off % SECTION_ALIGN ||
            off > body || count > (body - off) / es)
            return kerr_set(r->e, K_FORMAT, "section %u is malformed or lies outside the file",
                            i);
    }
    return K_OK;
}

static kstatus check_header(pkg_reader *r, uint64_t *m_at, uint64_t *m_len, kerr *e)
{
    const unsigned char *h = r->data;
    if (r->len < HEADER_SIZE + SHA256_LEN || memcmp(h, KPKG_MAGIC, 8) != 0)
        return kerr_set(e, K_FORMAT, "not a Kiln model package (bad magic or too short)");
    uint32_t version = get_u32(h + 8);
    if (version == 0 || version > KPKG_FORMAT_VERSION)
        return kerr_set(e, K_VERSION, "package format version %u is not supported by this "
                                      "kiln (supports up to %d); upgrade kiln",
                        version, KPKG_FORMAT_VERSION);
    if (get_u64(h + 16) != r->len)
        return kerr_set(e, K_FORMAT, "package is truncated or has trailing data (%zu bytes, "
                                     "header says %llu)",
                        r->len, (unsigned long long)get_u64(h + 16));
    unsigned char digest[SHA256_LEN];
    sha256(r->data, r->len - SHA256_LEN, digest);
    if (memcmp(digest, r->data + r->len - SHA256_LEN, SHA256_LEN) != 0)
        return kerr_set(e, K_CHECKSUM, "package checksum mismatch: the file is corrupt or was "
                                       "modified");
    *m_at = get_u64(h + 24);
    *m_len = get_u64(h + 32);
    r->n_sections = get_u32(h + 40);
    if (*m_at > r->len - SHA256_LEN || *m_len > r->len - SHA256_LEN - *m_at ||
        *m_len > MANIFEST_MAX || r->n_sections > MAX_SECTIONS)
        return kerr_set(e, K_FORMAT, "manifest lies outside the file");
    return check_table(r, get_u64(h + 48));
}

size_t kpkg_body_len(const void *data, size_t len)
{
    const unsigned char *p = data;
    if (len < HEADER_SIZE + SHA256_LEN + KPKG_SIG_SIZE || memcmp(p, KPKG_MAGIC, 8) != 0)
        return len;
    uint64_t size = get_u64(p + 16);
    if (size == len - KPKG_SIG_SIZE && memcmp(p + size, KPKG_SIG_MAGIC, 8) == 0)
        return (size_t)size;
    return len;
}

kstatus kpkg_read(const void *data, size_t len, kspec **out, kerr *e)
{
    kerr local;
    if (!e) e = &local;
    len = kpkg_body_len(data, len); /* a signature block is model/sign.c's business */
    pkg_reader r = {.data = data, .len = len, .e = e};
    uint64_t m_at = 0, m_len = 0;
    kstatus st = check_header(&r, &m_at, &m_len, e);
    if (st) return st;
    json_tokener *tok = json_tokener_new_ex(MANIFEST_DEPTH);
    if (!tok) return kerr_set(e, K_NOMEM, "out of memory");
    json_object *manifest =
        json_tokener_parse_ex(tok, (const char *)r.data + m_at, (int)m_len);
    int ok = json_tokener_get_error(tok) == json_tokener_success && manifest;
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(manifest);
        return kerr_set(e, K_FORMAT, "package manifest is not valid JSON");
    }
    kspec *s = kspec_new(KPKG_MAX_SIZE);
    if (!s) {
        json_object_put(manifest);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    r.mem = s->mem;
    st = pkgj_read_manifest(&r, manifest, s, e);
    json_object_put(manifest);
    if (!st) st = kspec_validate(s, e);
    if (st) {
        kspec_free(s);
        return st;
    }
    *out = s;
    return K_OK;
}

kstatus kpkg_load(const char *path, kspec **out, kerr *e)
{
    fs_map m;
    kstatus st = fs_map_file(path, &m, e);
    if (st) return st;
    st = kpkg_read(m.data, m.len, out, e);
    fs_unmap(&m);
    if (st) kerr_prefix(e, "%s", path);
    return st;
}

kstatus kpkg_checksum_hex(const void *data, size_t len, char out[65], kerr *e)
{
    len = kpkg_body_len(data, len);
    if (len < SHA256_LEN) return kerr_set(e, K_FORMAT, "package too short");
    sha256_to_hex((const unsigned char *)data + len - SHA256_LEN, out);
    return K_OK;
}
