/* registry_maint.c — `kiln store check` and `kiln store gc`: finding what does not add up
 * between the database and the artifact store, and removing orphans safely. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/registry_impl.h"

#define CHECK_MAX ((size_t)4 << 30)

typedef struct {
    char (*shas)[SHA256_HEX_LEN];
    size_t n;
} sha_set;

static int cmp_sha(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int in_set(const sha_set *s, const char *sha)
{
    return s->n && bsearch(sha, s->shas, s->n, sizeof *s->shas, cmp_sha) != NULL;
}

/* Every artifact the database refers to, sorted. */
static kstatus referenced(kreg *r, sha_set *out, kerr *e)
{
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT package_sha256 FROM model_versions UNION "
                           "SELECT sha256 FROM run_artifacts",
                           0, NULL, &rows, e);
    if (st) return st;
    out->n = (size_t)kdb_nrows(rows);
    out->shas = calloc(out->n + 1, sizeof *out->shas);
    if (!out->shas) {
        kdb_rows_free(rows);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < out->n; i++)
        snprintf(out->shas[i], SHA256_HEX_LEN, "%s", kdb_value(rows, (int)i, 0));
    kdb_rows_free(rows);
    qsort(out->shas, out->n, sizeof *out->shas, cmp_sha);
    return K_OK;
}

static void problem(json_object *list, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(json_object *list, const char *fmt, ...)
{
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_object_array_add(list, json_object_new_string(msg));
}

static kstatus check_database(kreg *r, json_object *problems, kerr *e)
{
    if (kdb_kind(r->db) != KDB_SQLITE) return K_OK;
    kdb_rows *rows;
    kstatus st = kdb_query(r->db, "PRAGMA integrity_check", 0, NULL, &rows, e);
    if (st) return st;
    for (int i = 0; i < kdb_nrows(rows); i++)
        if (strcmp(kdb_value(rows, i, 0), "ok") != 0)
            problem(problems, "database: %s", kdb_value(rows, i, 0));
    kdb_rows_free(rows);
    return K_OK;
}

/* Rows whose artifact is missing or altered. */
static kstatus check_artifacts(kreg *r, int verify, json_object *problems, kerr *e)
{
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT package_sha256, name || ' version ' || CAST(version AS TEXT) "
                           "FROM model_versions UNION ALL SELECT sha256, 'run ' || run_id || "
                           "' artifact ' || path FROM run_artifacts",
                           0, NULL, &rows, e);
    if (st) return st;
    for (int i = 0; i < kdb_nrows(rows); i++) {
        const char *sha = kdb_value(rows, i, 0), *who = kdb_value(rows, i, 1);
        if (!artifacts_has(r->art, sha)) {
            problem(problems, "%s: artifact %s is missing", who, sha);
            continue;
        }
        char *data;
        size_t len;
        kerr ae = {0};
        if (verify && artifacts_get(r->art, sha, CHECK_MAX, &data, &len, &ae) == K_OK)
            free(data);
        else if (verify)
            problem(problems, "%s: %s", who, ae.msg);
    }
    kdb_rows_free(rows);
    return K_OK;
}

static kstatus check_rows(kreg *r, json_object *problems, kerr *e)
{
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT a.name || '@' || a.alias, CASE WHEN v.version IS NULL THEN "
                           "'points at a missing version' ELSE 'points at an archived version' "
                           "END FROM aliases a LEFT JOIN model_versions v ON v.name = a.name AND "
                           "v.version = a.version WHERE v.version IS NULL OR v.archived <> 0",
                           0, NULL, &rows, e);
    if (st) return st;
    for (int i = 0; i < kdb_nrows(rows); i++)
        problem(problems, "alias %s %s", kdb_value(rows, i, 0), kdb_value(rows, i, 1));
    kdb_rows_free(rows);
    st = kdb_query(
        r->db,
        "SELECT m.name, CAST(m.last_version AS TEXT) FROM models m WHERE m.last_version "
        "< (SELECT coalesce(max(version), 0) FROM model_versions v WHERE v.name = m.name)",
        0, NULL, &rows, e);
    if (st) return st;
    for (int i = 0; i < kdb_nrows(rows); i++)
        problem(problems, "model %s: version counter %s is behind its versions",
                kdb_value(rows, i, 0), kdb_value(rows, i, 1));
    kdb_rows_free(rows);
    return K_OK;
}

typedef struct {
    const sha_set *refs;
    json_object *orphans, *temps;
    double grace_s;
    int remove, dry_run;
    artifacts *art;
    long long removed, removed_bytes;
} scan_ctx;

static int visit(void *vctx, const artifacts_entry *en)
{
    scan_ctx *c = vctx;
    if (en->sha[0] && in_set(c->refs, en->sha)) return 0;
    json_object *o = json_object_new_object();
    json_object_object_add(o, en->sha[0] ? "sha256" : "path",
                           json_object_new_string(en->sha[0] ? en->sha : en->path));
    json_object_object_add(o, "size", json_object_new_int64(en->size));
    json_object_object_add(o, "age_seconds", json_object_new_int64((int64_t)en->age_s));
    int eligible = en->age_s >= c->grace_s;
    if (c->remove)
        json_object_object_add(o, "removed", json_object_new_boolean(eligible && !c->dry_run));
    json_object_array_add(en->sha[0] ? c->orphans : c->temps, o);
    if (c->remove && eligible && !c->dry_run && artifacts_unlink(c->art, en->path, NULL) == K_OK) {
        c->removed++;
        c->removed_bytes += en->size;
    }
    return 0;
}

static kstatus scan(kreg *r, scan_ctx *c, json_object *report, kerr *e)
{
    sha_set refs = {0};
    kstatus st = referenced(r, &refs, e);
    c->refs = &refs;
    c->art = r->art;
    c->orphans = json_object_new_array();
    c->temps = json_object_new_array();
    if (!st) st = artifacts_scan(r->art, visit, c, e);
    json_object_object_add(report, "orphans", c->orphans);
    json_object_object_add(report, "temporary_files", c->temps);
    json_object_object_add(report, "referenced_artifacts", json_object_new_int64((int64_t)refs.n));
    free(refs.shas);
    return st;
}

kstatus kreg_check(kreg *r, int verify_hashes, json_object **out, kerr *e)
{
    json_object *report = json_object_new_object(), *problems = json_object_new_array();
    json_object_object_add(report, "backend", json_object_new_string(kreg_backend(r)));
    json_object_object_add(report, "schema", json_object_new_int(r->schema_now));
    json_object_object_add(report, "problems", problems);
    scan_ctx c = {0};
    kstatus st = check_database(r, problems, e);
    if (!st) st = check_rows(r, problems, e);
    if (!st) st = check_artifacts(r, verify_hashes, problems, e);
    if (!st) st = scan(r, &c, report, e);
    json_object_object_add(report, "ok",
                           json_object_new_boolean(json_object_array_length(problems) == 0));
    if (st)
        json_object_put(report);
    else
        *out = report;
    return st;
}

kstatus kreg_gc(kreg *r, double grace_s, int dry_run, json_object **out, kerr *e)
{
    kstatus st = artifacts_lock(r->art, 1, e);
    if (st) return st;
    json_object *report = json_object_new_object();
    scan_ctx c = {.grace_s = grace_s, .remove = 1, .dry_run = dry_run};
    st = scan(r, &c, report, e);
    artifacts_unlock(r->art);
    json_object_object_add(report, "dry_run", json_object_new_boolean(dry_run));
    json_object_object_add(report, "removed", json_object_new_int64(c.removed));
    json_object_object_add(report, "removed_bytes", json_object_new_int64(c.removed_bytes));
    if (st)
        json_object_put(report);
    else
        *out = report;
    return st;
}
