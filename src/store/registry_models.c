/* registry_models.c — registering versions, aliases, tags, archive and delete, and the JSON
 * descriptions of models and versions. Every write appends an audit record in its own
 * transaction (kreg__audited_write). */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/describe.h"
#include "model/package.h"
#include "model/spec.h"
#include "store/audit.h"
#include "store/registry_impl.h"

/* Audit record objects: "NAME@VERSION", "NAME:ALIAS" or "NAME". */
#define OBJECT_MAX (KREG_NAME_MAX + KREG_ALIAS_MAX + 32)

static const char *version_object(char *out, const char *name, int64_t version)
{
    snprintf(out, OBJECT_MAX, "%s@%lld", name, (long long)version);
    return out;
}

/* ---- what a package tells the registry -------------------------------------------------- */

static const char *const est_names[] = {"linear", "trees", "mlp"};

static json_object *schema_json(const kspec *s)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "features", describe_features(s));
    json_object_object_add(
        o, "task",
        json_object_new_string(s->task == KTASK_CLASSIFICATION ? "classification" : "regression"));
    json_object_object_add(o, "estimator", json_object_new_string(est_names[s->kind]));
    json_object_object_add(o, "outputs", json_object_new_int(kspec_n_values(s)));
    if (s->task == KTASK_CLASSIFICATION) {
        json_object *labels = json_object_new_array();
        for (int i = 0; i < s->n_classes; i++)
            json_object_array_add(labels, json_object_new_string(s->class_labels[i]));
        json_object_object_add(o, "classes", labels);
    }
    return o;
}

static json_object *meta_json(const kspec *s)
{
    json_object *o = json_object_new_object();
    for (int i = 0; i < s->n_meta; i++)
        json_object_object_add(o, s->meta[i].key, json_object_new_string(s->meta[i].value));
    return o;
}

/* ---- register --------------------------------------------------------------------------- */

typedef struct {
    const kreg_register_req *q;
    const kspec *spec;
    char sha[SHA256_HEX_LEN];
    kreg_version *out;
    kreg__audit_op *op;
    char object[OBJECT_MAX], detail[KREG_ALIAS_MAX + 100];
} reg_ctx;

static kstatus must_exist(kreg *r, const char *sql, int n, const char *const *p, const char *what,
                          kerr *e)
{
    kdb_rows *rows;
    kstatus st = kreg__query_one(r, sql, n, p, &rows, what, e);
    kdb_rows_free(rows);
    return st;
}

static kstatus next_version(kreg *r, const char *name, const char *now, int64_t *v, kerr *e)
{
    const char *p[] = {name, now};
    kstatus st = kdb_query(r->db,
                           "INSERT INTO models (name, created_at, updated_at) VALUES ($1, "
                           "CAST($2 AS BIGINT), CAST($2 AS BIGINT)) ON CONFLICT (name) DO NOTHING",
                           2, p, NULL, e);
    kdb_rows *rows = NULL;
    if (!st)
        st = kreg__query_one(r,
                             "UPDATE models SET last_version = last_version + 1, updated_at = "
                             "CAST($2 AS BIGINT) WHERE name = $1 RETURNING last_version",
                             2, p, &rows, "model vanished during registration", e);
    if (!st) *v = kdb_int(rows, 0, 0, 0);
    kdb_rows_free(rows);
    return st;
}

static kstatus check_refs(kreg *r, const kreg_register_req *q, kerr *e)
{
    char pv[24], what[300];
    if (q->parent_version > 0) {
        const char *p[] = {q->name, kreg__i64(q->parent_version, pv)};
        snprintf(what, sizeof what, "parent version %lld of '%s' does not exist",
                 (long long)q->parent_version, q->name);
        kstatus st = must_exist(r,
                                "SELECT 1 FROM model_versions WHERE name = $1 AND version = "
                                "CAST($2 AS BIGINT)",
                                2, p, what, e);
        if (st) return st;
    }
    if (q->run_id) {
        const char *p[] = {q->run_id};
        snprintf(what, sizeof what, "run '%.64s' does not exist", q->run_id);
        return must_exist(r, "SELECT 1 FROM runs WHERE id = $1", 1, p, what, e);
    }
    return K_OK;
}

static kstatus insert_version(kreg *r, reg_ctx *c, int64_t v, const char *now, kerr *e)
{
    const kreg_register_req *q = c->q;
    const kspec *s = c->spec;
    char vs[24], size[24], nf[24], parent[24];
    json_object *schema = schema_json(s), *meta = meta_json(s);
    const char *p[] = {q->name,
                       kreg__i64(v, vs),
                       c->sha,
                       kreg__i64((int64_t)q->package_len, size),
                       kspec_get_meta(s, "source_sha256"),
                       kspec_get_meta(s, "source_format"),
                       kspec_get_meta(s, "source_framework"),
                       kspec_get_meta(s, "source_version"),
                       s->task == KTASK_CLASSIFICATION ? "classification" : "regression",
                       kreg__i64(s->n_features, nf),
                       json_object_to_json_string_ext(schema, JSON_C_TO_STRING_PLAIN),
                       json_object_to_json_string_ext(meta, JSON_C_TO_STRING_PLAIN),
                       q->config_json,
                       q->description ? q->description : "",
                       q->parent_version > 0 ? kreg__i64(q->parent_version, parent) : NULL,
                       q->run_id,
                       q->dataset,
                       q->who,
                       now};
    kstatus st = kdb_query(
        r->db,
        "INSERT INTO model_versions (name, version, package_sha256, package_size, source_sha256,"
        " source_format, framework, framework_version, task, n_features, schema_json, meta_json,"
        " config_json, description, parent_version, run_id, dataset, registered_by,"
        " registered_at) VALUES ($1, CAST($2 AS BIGINT), $3, CAST($4 AS BIGINT), $5, $6, $7, $8,"
        " $9, CAST($10 AS BIGINT), $11, $12, $13, $14, CAST($15 AS BIGINT), $16, $17, $18,"
        " CAST($19 AS BIGINT))",
        19, p, NULL, e);
    json_object_put(schema);
    json_object_put(meta);
    return st;
}

static kstatus put_tags(kreg *r, const char *name, int64_t version, int n, const char *const *keys,
                        const char *const *values, kerr *e)
{
    char vs[24];
    kreg__i64(version, vs);
    kstatus st = K_OK;
    for (int i = 0; i < n && !st; i++) {
        const char *p[] = {name, vs, keys[i], values[i]};
        st = values[i] ? kdb_query(r->db,
                                   "INSERT INTO model_tags (name, version, key, value) VALUES "
                                   "($1, CAST($2 AS BIGINT), $3, $4) ON CONFLICT (name, version, "
                                   "key) DO UPDATE SET value = excluded.value",
                                   4, p, NULL, e)
                       : kdb_query(r->db,
                                   "DELETE FROM model_tags WHERE name = $1 AND version = "
                                   "CAST($2 AS BIGINT) AND key = $3",
                                   3, p, NULL, e);
    }
    return st;
}

static kstatus upsert_alias(kreg *r, const char *name, const char *alias, int64_t version,
                            const char *who, kerr *e)
{
    char vs[24], now[24];
    const char *p[] = {name, alias, kreg__i64(version, vs), kreg__i64(kreg__now_ms(), now), who};
    return kdb_query(r->db,
                     "INSERT INTO aliases (name, alias, version, updated_at, updated_by) VALUES "
                     "($1, $2, CAST($3 AS BIGINT), CAST($4 AS BIGINT), $5) ON CONFLICT (name, "
                     "alias) DO UPDATE SET version = excluded.version, updated_at = "
                     "excluded.updated_at, updated_by = excluded.updated_by",
                     5, p, NULL, e);
}

static kstatus register_txn(kreg *r, void *ctx, kerr *e)
{
    reg_ctx *c = ctx;
    const kreg_register_req *q = c->q;
    char now[24];
    kreg__i64(kreg__now_ms(), now);
    int64_t v;
    kstatus st = check_refs(r, q, e);
    if (!st) st = next_version(r, q->name, now, &v, e);
    if (!st) st = insert_version(r, c, v, now, e);
    if (!st && q->description && *q->description) {
        const char *p[] = {q->name, q->description};
        st = kdb_query(r->db,
                       "UPDATE models SET description = $2 WHERE name = $1 AND "
                       "description = ''",
                       2, p, NULL, e);
    }
    if (!st) st = put_tags(r, q->name, v, q->n_tags, q->tag_keys, q->tag_values, e);
    if (!st && q->alias) st = upsert_alias(r, q->name, q->alias, v, q->who, e);
    if (!st) {
        snprintf(c->out->name, sizeof c->out->name, "%s", q->name);
        c->out->version = v;
        c->out->archived = 0;
        memcpy(c->out->package_sha256, c->sha, SHA256_HEX_LEN);
        c->out->package_size = (int64_t)q->package_len;
        c->op->object = version_object(c->object, q->name, v);
        snprintf(c->detail, sizeof c->detail, "package %.64s%s%s", c->sha,
                 q->alias ? ", alias " : "", q->alias ? q->alias : "");
        c->op->detail = c->detail;
    }
    return st;
}

static kstatus check_request(const kreg_register_req *q, kerr *e)
{
    kstatus st = kreg_check_name("model", q->name, e);
    if (!st && q->alias) st = kreg_check_alias(q->alias, e);
    for (int i = 0; !st && i < q->n_tags; i++)
        st = kreg__check_tag(q->tag_keys[i], q->tag_values[i], e);
    if (!st && (!q->who || !*q->who)) st = kerr_set(e, K_INVALID, "registration needs a user name");
    if (!st && q->description && strlen(q->description) > 8192)
        st = kerr_set(e, K_LIMIT, "description is longer than 8192 bytes");
    if (!st && q->dataset && strlen(q->dataset) > 4096)
        st = kerr_set(e, K_LIMIT, "dataset reference is longer than 4096 bytes");
    return st;
}

kstatus kreg_register(kreg *r, const kreg_register_req *q, kreg_version *out, kerr *e)
{
    kstatus st = check_request(q, e);
    if (st) return st;
    kspec *spec;
    if ((st = kpkg_read(q->package, q->package_len, &spec, e))) {
        kerr_prefix(e, "not a valid model package");
        return st;
    }
    kreg__audit_op op = {.who = q->who, .action = "model.register", .object = q->name};
    reg_ctx c = {.q = q, .spec = spec, .out = out, .op = &op};
    st = artifacts_lock(r->art, 0, e);
    if (!st) {
        st = artifacts_put(r->art, q->package, q->package_len, c.sha, e);
        if (!st) st = kreg__audited_write(r, register_txn, &c, &op, e);
        artifacts_unlock(r->art);
    }
    kspec_free(spec);
    return st;
}

/* ---- aliases, tags, archive -------------------------------------------------------------- */

typedef struct {
    const char *name, *alias, *who;
    int64_t version;
    int archived;
    int n;
    const char *const *keys, *const *values;
    char sha[SHA256_HEX_LEN];
    char object[OBJECT_MAX], detail[KAUDIT_DETAIL_MAX];
} edit_ctx;

static kstatus version_row(kreg *r, const char *name, int64_t version, kdb_rows **rows, kerr *e)
{
    char vs[24], what[300];
    const char *p[] = {name, kreg__i64(version, vs)};
    snprintf(what, sizeof what, "model '%s' has no version %lld", name, (long long)version);
    return kreg__query_one(r,
                           "SELECT archived, package_sha256 FROM model_versions WHERE name = $1 "
                           "AND version = CAST($2 AS BIGINT)",
                           2, p, rows, what, e);
}

static kstatus alias_txn(kreg *r, void *ctx, kerr *e)
{
    edit_ctx *c = ctx;
    kdb_rows *rows;
    kstatus st = version_row(r, c->name, c->version, &rows, e);
    if (!st && kdb_int(rows, 0, 0, 0))
        st = kerr_set(e, K_CONFLICT, "%s version %lld is archived: restore it before aliasing it",
                      c->name, (long long)c->version);
    kdb_rows_free(rows);
    const char *p[] = {c->name, c->alias};
    if (!st)
        st = kdb_query(r->db, "SELECT version FROM aliases WHERE name = $1 AND alias = $2", 2, p,
                       &rows, e);
    if (!st) {
        if (kdb_nrows(rows))
            snprintf(c->detail, sizeof c->detail, "version %lld (was %s)", (long long)c->version,
                     kdb_value(rows, 0, 0));
        else
            snprintf(c->detail, sizeof c->detail, "version %lld (new)", (long long)c->version);
        kdb_rows_free(rows);
    }
    if (!st) st = upsert_alias(r, c->name, c->alias, c->version, c->who, e);
    return st;
}

static const char *alias_object(edit_ctx *c)
{
    snprintf(c->object, sizeof c->object, "%s:%s", c->name, c->alias);
    return c->object;
}

kstatus kreg_set_alias(kreg *r, const char *name, const char *alias, int64_t version,
                       const char *who, kerr *e)
{
    kstatus st = kreg_check_name("model", name, e);
    if (!st) st = kreg_check_alias(alias, e);
    if (st) return st;
    edit_ctx c = {.name = name, .alias = alias, .version = version, .who = who ? who : "unknown"};
    kreg__audit_op op = {
        .who = who, .action = "alias.set", .object = alias_object(&c), .detail = c.detail};
    return kreg__audited_write(r, alias_txn, &c, &op, e);
}

static kstatus unalias_txn(kreg *r, void *ctx, kerr *e)
{
    edit_ctx *c = ctx;
    const char *p[] = {c->name, c->alias};
    kdb_rows *rows;
    char what[300];
    snprintf(what, sizeof what, "model '%s' has no alias '%s'", c->name, c->alias);
    kstatus st = kreg__query_one(r,
                                 "DELETE FROM aliases WHERE name = $1 AND alias = $2 "
                                 "RETURNING version",
                                 2, p, &rows, what, e);
    if (!st) snprintf(c->detail, sizeof c->detail, "was version %s", kdb_value(rows, 0, 0));
    kdb_rows_free(rows);
    return st;
}

kstatus kreg_delete_alias(kreg *r, const char *name, const char *alias, const char *who, kerr *e)
{
    kstatus st = kreg_check_name("model", name, e);
    if (!st) st = kreg_check_alias(alias, e);
    if (st) return st;
    edit_ctx c = {.name = name, .alias = alias, .who = who};
    kreg__audit_op op = {
        .who = who, .action = "alias.delete", .object = alias_object(&c), .detail = c.detail};
    return kreg__audited_write(r, unalias_txn, &c, &op, e);
}

static kstatus tags_txn(kreg *r, void *ctx, kerr *e)
{
    edit_ctx *c = ctx;
    kdb_rows *rows = NULL;
    char what[300];
    const char *p[] = {c->name};
    snprintf(what, sizeof what, "no model named '%s' is registered", c->name);
    kstatus st = c->version ? version_row(r, c->name, c->version, &rows, e)
                            : kreg__query_one(r, "SELECT 1 FROM models WHERE name = $1", 1, p,
                                              &rows, what, e);
    kdb_rows_free(rows);
    if (!st) st = put_tags(r, c->name, c->version, c->n, c->keys, c->values, e);
    return st;
}

/* "key=value, key (deleted)", cut short to fit the audit detail. */
static void tags_detail(edit_ctx *c)
{
    size_t used = 0, size = sizeof c->detail;
    c->detail[0] = 0;
    for (int i = 0; i < c->n && used < size - 1; i++) {
        int k = c->values[i] ? snprintf(c->detail + used, size - used, "%s%s=%s", i ? ", " : "",
                                        c->keys[i], c->values[i])
                             : snprintf(c->detail + used, size - used, "%s%s (deleted)",
                                        i ? ", " : "", c->keys[i]);
        used = k < 0 ? size - 1 : used + (size_t)k;
    }
}

kstatus kreg_set_tags(kreg *r, const char *name, int64_t version, int n, const char *const *keys,
                      const char *const *values, kerr *e)
{
    kstatus st = kreg_check_name("model", name, e);
    for (int i = 0; !st && i < n; i++)
        st = kreg__check_tag(keys[i], values[i], e);
    if (st) return st;
    edit_ctx c = {.name = name, .version = version, .n = n, .keys = keys, .values = values};
    if (version)
        version_object(c.object, name, version);
    else
        snprintf(c.object, sizeof c.object, "%s", name);
    tags_detail(&c);
    kreg__audit_op op = {.action = "tags.set", .object = c.object, .detail = c.detail};
    return kreg__audited_write(r, tags_txn, &c, &op, e);
}

/* K_CONFLICT naming the aliases that point at a version, or K_OK when none does. */
static kstatus refuse_if_aliased(kreg *r, const char *name, int64_t version, const char *doing,
                                 kerr *e)
{
    char vs[24];
    const char *p[] = {name, kreg__i64(version, vs)};
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT alias FROM aliases WHERE name = $1 AND version = "
                           "CAST($2 AS BIGINT) ORDER BY alias",
                           2, p, &rows, e);
    if (!st && kdb_nrows(rows) > 0)
        st = kerr_set(e, K_CONFLICT,
                      "cannot %s %s version %lld: alias '%s' points at it (move or delete the "
                      "alias first)",
                      doing, name, (long long)version, kdb_value(rows, 0, 0));
    kdb_rows_free(rows);
    return st;
}

static kstatus archive_txn(kreg *r, void *ctx, kerr *e)
{
    edit_ctx *c = ctx;
    kdb_rows *rows;
    kstatus st = version_row(r, c->name, c->version, &rows, e);
    kdb_rows_free(rows);
    if (!st && c->archived) st = refuse_if_aliased(r, c->name, c->version, "archive", e);
    char vs[24];
    const char *p[] = {c->name, kreg__i64(c->version, vs), c->archived ? "1" : "0"};
    if (!st)
        st = kdb_query(r->db,
                       "UPDATE model_versions SET archived = CAST($3 AS INTEGER) WHERE name = $1 "
                       "AND version = CAST($2 AS BIGINT)",
                       3, p, NULL, e);
    return st;
}

kstatus kreg_archive(kreg *r, const char *name, int64_t version, int archived, kerr *e)
{
    kstatus st = kreg_check_name("model", name, e);
    if (st) return st;
    edit_ctx c = {.name = name, .version = version, .archived = archived};
    kreg__audit_op op = {.action = archived ? "version.archive" : "version.restore",
                         .object = version_object(c.object, name, version)};
    return kreg__audited_write(r, archive_txn, &c, &op, e);
}

/* ---- delete ------------------------------------------------------------------------------ */

static kstatus delete_txn(kreg *r, void *ctx, kerr *e)
{
    edit_ctx *c = ctx;
    kdb_rows *rows;
    kstatus st = version_row(r, c->name, c->version, &rows, e);
    if (!st) memcpy(c->sha, kdb_value(rows, 0, 1), SHA256_HEX_LEN);
    kdb_rows_free(rows);
    if (!st) st = refuse_if_aliased(r, c->name, c->version, "delete", e);
    char vs[24];
    const char *p[] = {c->name, kreg__i64(c->version, vs)};
    if (!st)
        st = kdb_query(r->db,
                       "DELETE FROM version_references WHERE name = $1 AND version = "
                       "CAST($2 AS BIGINT)",
                       2, p, NULL, e);
    if (!st)
        st = kdb_query(r->db,
                       "DELETE FROM model_tags WHERE name = $1 AND version = CAST($2 AS BIGINT)", 2,
                       p, NULL, e);
    if (!st)
        st = kdb_query(r->db,
                       "DELETE FROM model_versions WHERE name = $1 AND version = "
                       "CAST($2 AS BIGINT)",
                       2, p, NULL, e);
    return st;
}

/* 1 when a version or a run still refers to artifact `sha`. */
static kstatus artifact_in_use(kreg *r, const char *sha, int *used, kerr *e)
{
    const char *p[] = {sha};
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT 1 FROM model_versions WHERE package_sha256 = $1 UNION ALL "
                           "SELECT 1 FROM run_artifacts WHERE sha256 = $1 LIMIT 1",
                           1, p, &rows, e);
    *used = st || kdb_nrows(rows) > 0;
    kdb_rows_free(rows);
    return st;
}

kstatus kreg_delete(kreg *r, const char *name, int64_t version, kerr *e)
{
    kstatus st = kreg_check_name("model", name, e);
    if (st) return st;
    edit_ctx c = {.name = name, .version = version};
    kreg__audit_op op = {.action = "version.delete",
                         .object = version_object(c.object, name, version)};
    if ((st = kreg__audited_write(r, delete_txn, &c, &op, e))) return st;
    /* The row is gone; the package goes too unless something else uses the same bytes. A
     * failure here only leaves an orphan for kreg_gc. */
    int used = 1;
    if (artifacts_lock(r->art, 1, NULL) == K_OK) {
        if (artifact_in_use(r, c.sha, &used, NULL) == K_OK && !used)
            artifacts_remove(r->art, c.sha, NULL);
        artifacts_unlock(r->art);
    }
    return K_OK;
}

/* ---- drift references ----------------------------------------------------------------------- */

typedef struct {
    const char *name, *json, *who;
    int64_t version, rows;
} ref_ctx;

static kstatus reference_txn(kreg *r, void *ctx, kerr *e)
{
    ref_ctx *c = ctx;
    kdb_rows *rows;
    kstatus st = version_row(r, c->name, c->version, &rows, e);
    kdb_rows_free(rows);
    char vs[24], n[24], now[24];
    const char *p[] = {c->name,
                       kreg__i64(c->version, vs),
                       c->json,
                       kreg__i64(c->rows, n),
                       kreg__i64(kreg__now_ms(), now),
                       c->who};
    if (!st)
        st = kdb_query(r->db,
                       "INSERT INTO version_references (name, version, reference_json, rows, "
                       "created_at, created_by) VALUES ($1, CAST($2 AS BIGINT), $3, "
                       "CAST($4 AS BIGINT), CAST($5 AS BIGINT), $6) ON CONFLICT (name, version) "
                       "DO UPDATE SET reference_json = excluded.reference_json, rows = "
                       "excluded.rows, created_at = excluded.created_at, created_by = "
                       "excluded.created_by",
                       6, p, NULL, e);
    return st;
}

kstatus kreg_set_reference(kreg *r, const char *name, int64_t version, const char *json,
                           int64_t rows, const char *who, kerr *e)
{
    kstatus st = kreg_check_name("model", name, e);
    if (st) return st;
    ref_ctx c = {
        .name = name, .version = version, .json = json, .rows = rows, .who = who ? who : "unknown"};
    char object[OBJECT_MAX], detail[64];
    snprintf(detail, sizeof detail, "%lld rows", (long long)rows);
    kreg__audit_op op = {.who = who,
                         .action = "reference.set",
                         .object = version_object(object, name, version),
                         .detail = detail};
    return kreg__audited_write(r, reference_txn, &c, &op, e);
}

kstatus kreg_get_reference(kreg *r, const char *name, int64_t version, char **json, kerr *e)
{
    char vs[24], what[300];
    const char *p[] = {name, kreg__i64(version, vs)};
    snprintf(what, sizeof what, "%s version %lld has no drift reference", name, (long long)version);
    kdb_rows *rows;
    kstatus st = kreg__query_one(r,
                                 "SELECT reference_json FROM version_references WHERE name = $1 "
                                 "AND version = CAST($2 AS BIGINT)",
                                 2, p, &rows, what, e);
    if (!st && !(*json = strdup(kdb_value(rows, 0, 0)))) st = kerr_set(e, K_NOMEM, "out of memory");
    kdb_rows_free(rows);
    return st;
}
