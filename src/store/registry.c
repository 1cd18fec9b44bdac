/* registry.c — opening the registry, names and references, write transactions, the change
 * counter, resolving NAME@REF and reading a version's package. */
#include "store/registry.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/registry_impl.h"

#define CHANNEL "kiln_registry"
#define PACKAGE_MAX ((size_t)4 << 30)

kstatus kreg_open(const kreg_options *o, kreg **out, kerr *e)
{
    if (!o->store || !o->artifacts)
        return kerr_set(e, K_INVALID, "registry needs a store and an artifact directory");
    kreg *r = calloc(1, sizeof *r);
    if (!r) return kerr_set(e, K_NOMEM, "out of memory");
    kstatus st = kdb_open(o->store, o->busy_ms > 0 ? o->busy_ms : 30000, &r->db, e);
    if (!st) st = kreg__migrate(r, e);
    if (!st) st = kaudit__open(r, o, e);
    if (!st) st = artifacts_open(o->artifacts, &r->art, e);
    if (!st && kdb_kind(r->db) == KDB_POSTGRES) st = kdb_listen(r->db, CHANNEL, e);
    if (st) {
        kreg_close(r);
        return st;
    }
    *out = r;
    return K_OK;
}

void kreg_close(kreg *r)
{
    if (!r) return;
    kdb_close(r->db);
    artifacts_close(r->art);
    kaudit__close(r);
    free(r);
}

const char *kreg_backend(const kreg *r)
{
    return kdb_kind(r->db) == KDB_SQLITE ? "sqlite" : "postgres";
}

void kreg_schema(const kreg *r, int *found, int *now)
{
    *found = r->schema_found;
    *now = r->schema_now;
}

/* ---- names ---------------------------------------------------------------------------------- */

kstatus kreg_check_name(const char *what, const char *name, kerr *e)
{
    size_t n = name ? strlen(name) : 0;
    int ok = n >= 1 && n <= KREG_NAME_MAX && isalnum((unsigned char)name[0]);
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        ok = isalnum(c) || c == '.' || c == '_' || c == '-';
    }
    if (ok) return K_OK;
    return kerr_set(e, K_INVALID,
                    "invalid %s name '%.*s': use 1-%d letters, digits, '.', '_' or '-', "
                    "starting with a letter or digit",
                    what, 200, name ? name : "", KREG_NAME_MAX);
}

kstatus kreg_check_alias(const char *alias, kerr *e)
{
    size_t n = alias ? strlen(alias) : 0;
    int ok = n >= 1 && n <= KREG_ALIAS_MAX && isalpha((unsigned char)alias[0]) &&
             strcmp(alias, "latest") != 0;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)alias[i];
        ok = isalnum(c) || c == '_' || c == '-';
    }
    if (ok) return K_OK;
    return kerr_set(e, K_INVALID,
                    "invalid alias '%.*s': use 1-%d letters, digits, '_' or '-', starting with "
                    "a letter ('latest' is reserved)",
                    200, alias ? alias : "", KREG_ALIAS_MAX);
}

kstatus kreg_split_ref(const char *text, char *name, char *ref, kerr *e)
{
    const char *at = strchr(text, '@');
    size_t n = at ? (size_t)(at - text) : strlen(text);
    size_t m = at ? strlen(at + 1) : 0;
    if (n > KREG_NAME_MAX || m > KREG_NAME_MAX || (at && m == 0))
        return kerr_set(e, K_INVALID,
                        "invalid model reference '%.*s' (expected NAME[@VERSION|@ALIAS])", 200,
                        text);
    memcpy(name, text, n);
    name[n] = 0;
    memcpy(ref, at ? at + 1 : "", m + 1);
    return kreg_check_name("model", name, e);
}

/* ---- shared helpers ------------------------------------------------------------------------- */

int64_t kreg__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const char *kreg__i64(int64_t v, char buf[24])
{
    snprintf(buf, 24, "%lld", (long long)v);
    return buf;
}

struct json_object *kreg__jstr(const char *s)
{
    return s ? json_object_new_string(s) : NULL;
}

struct json_object *kreg__jint(const char *int_text)
{
    if (!int_text) return NULL;
    return json_object_new_int64(strtoll(int_text, NULL, 10));
}

struct json_object *kreg__jtime(const char *ms_text)
{
    if (!ms_text) return NULL;
    long long ms = strtoll(ms_text, NULL, 10);
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    char out[40], day[32];
    if (!gmtime_r(&secs, &tm)) return NULL;
    strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, sizeof out, "%s.%03dZ", day, (int)(ms % 1000));
    return json_object_new_string(out);
}

kstatus kreg__query_one(kreg *r, const char *sql, int n, const char *const *p, kdb_rows **rows,
                        const char *what, kerr *e)
{
    kstatus st = kdb_query(r->db, sql, n, p, rows, e);
    if (!st && kdb_nrows(*rows) == 0) {
        kdb_rows_free(*rows);
        *rows = NULL;
        st = kerr_set(e, K_NOTFOUND, "%s", what);
    }
    return st;
}

kstatus kreg__kv_json(kreg *r, const char *sql, int n, const char *const *p, json_object **out,
                      kerr *e)
{
    kdb_rows *rows;
    kstatus st = kdb_query(r->db, sql, n, p, &rows, e);
    if (st) return st;
    *out = json_object_new_object();
    for (int i = 0; i < kdb_nrows(rows); i++)
        json_object_object_add(*out, kdb_value(rows, i, 0),
                               json_object_new_string(kdb_value(rows, i, 1)));
    kdb_rows_free(rows);
    return K_OK;
}

kstatus kreg__check_tag(const char *key, const char *value, kerr *e)
{
    size_t n = key ? strlen(key) : 0;
    int ok = n >= 1 && n <= 128;
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        ok = isalnum(c) || strchr("._-:/", c);
    }
    if (!ok)
        return kerr_set(e, K_INVALID, "invalid key '%.*s': use 1-128 letters, digits or '._-:/'",
                        200, key ? key : "");
    if (value && strlen(value) > 8192)
        return kerr_set(e, K_LIMIT, "value of '%s' is longer than 8192 bytes", key);
    return K_OK;
}

kstatus kreg__write(kreg *r, kreg__txn_fn fn, void *ctx, kerr *e)
{
    kstatus st = kdb_begin(r->db, e);
    if (st) return st;
    r->in_write = 1; /* audit records appended now join this transaction */
    st = fn(r, ctx, e);
    r->in_write = 0;
    if (!st)
        st = kdb_query(r->db, "UPDATE kiln_state SET changes = changes + 1 WHERE id = 1", 0, NULL,
                       NULL, e);
    if (!st && kdb_kind(r->db) == KDB_POSTGRES) st = kdb_notify(r->db, CHANNEL, e);
    if (!st) st = kdb_commit(r->db, e);
    if (st) {
        kdb_rollback(r->db);
        kaudit__rolled_back(r);
    } else {
        kaudit__committed(r);
    }
    return st;
}

/* ---- change counter ------------------------------------------------------------------------- */

kstatus kreg_changes(kreg *r, uint64_t *counter, kerr *e)
{
    if (r->changes_known && kdb_poll_notified(r->db) == 0) {
        *counter = r->changes;
        return K_OK;
    }
    kdb_rows *rows;
    kstatus st = kdb_query(r->db, "SELECT changes FROM kiln_state WHERE id = 1", 0, NULL, &rows, e);
    if (!st) {
        r->changes = (uint64_t)kdb_int(rows, 0, 0, 0);
        r->changes_known = 1;
        *counter = r->changes;
    }
    kdb_rows_free(rows);
    return st;
}

/* ---- resolve -------------------------------------------------------------------------------- */

#define VERSION_COLS "name, version, archived, package_sha256, package_size"

static kstatus fill_version(const kdb_rows *rows, kreg_version *v)
{
    snprintf(v->name, sizeof v->name, "%s", kdb_value(rows, 0, 0));
    v->version = kdb_int(rows, 0, 1, 0);
    v->archived = (int)kdb_int(rows, 0, 2, 0);
    snprintf(v->package_sha256, sizeof v->package_sha256, "%s", kdb_value(rows, 0, 3));
    v->package_size = kdb_int(rows, 0, 4, 0);
    return K_OK;
}

static int is_number(const char *s)
{
    if (!*s || strlen(s) > 18) return 0;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s)) return 0;
    return 1;
}

static kstatus resolve_alias(kreg *r, const char *name, const char *ref, kdb_rows **rows, kerr *e)
{
    const char *p[] = {name, ref};
    kstatus st = kdb_query(r->db,
                           "SELECT v.name, v.version, v.archived, v.package_sha256, v.package_size "
                           "FROM aliases a JOIN model_versions v "
                           "ON v.name = a.name AND v.version = a.version "
                           "WHERE a.name = $1 AND a.alias = $2",
                           2, p, rows, e);
    if (!st && kdb_nrows(*rows) == 0) {
        kdb_rows_free(*rows);
        *rows = NULL;
        st = kerr_set(e, K_NOTFOUND, "model '%s' has no alias '%s'", name, ref);
    }
    return st;
}

kstatus kreg_resolve(kreg *r, const char *name, const char *ref, kreg_version *out, kerr *e)
{
    kstatus st = kreg_check_name("model", name, e);
    if (st) return st;
    kdb_rows *rows = NULL;
    char what[400];
    if (!*ref || strcmp(ref, "latest") == 0) {
        const char *p[] = {name};
        snprintf(what, sizeof what, "model '%s' has no version that is not archived", name);
        st = kreg__query_one(r,
                             "SELECT " VERSION_COLS " FROM model_versions WHERE name = $1 AND "
                             "archived = 0 ORDER BY version DESC LIMIT 1",
                             1, p, &rows, what, e);
    } else if (is_number(ref)) {
        const char *p[] = {name, ref};
        snprintf(what, sizeof what, "model '%s' has no version %.30s", name, ref);
        st = kreg__query_one(r,
                             "SELECT " VERSION_COLS " FROM model_versions "
                             "WHERE name = $1 AND version = CAST($2 AS BIGINT)",
                             2, p, &rows, what, e);
    } else {
        st = resolve_alias(r, name, ref, &rows, e);
    }
    if (!st) fill_version(rows, out);
    kdb_rows_free(rows);
    if (st == K_NOTFOUND) {
        const char *p[] = {name};
        kdb_rows *m;
        if (!kdb_query(r->db, "SELECT 1 FROM models WHERE name = $1", 1, p, &m, NULL) &&
            kdb_nrows(m) == 0)
            kerr_set(e, K_NOTFOUND, "no model named '%s' is registered", name);
        kdb_rows_free(m);
    }
    return st;
}

kstatus kreg_read_package(kreg *r, const kreg_version *v, char **data, size_t *len, kerr *e)
{
    kstatus st = artifacts_get(r->art, v->package_sha256, PACKAGE_MAX, data, len, e);
    if (st) kerr_prefix(e, "package of %s version %lld", v->name, (long long)v->version);
    return st;
}
