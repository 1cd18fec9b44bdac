/* registry_show.c — the registry's state as JSON documents for people and scripts: the list of
 * models, one model with its versions, one version with its lineage. */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "store/registry_impl.h"

static void add(json_object *o, const char *key, json_object *v)
{
    json_object_object_add(o, key, v);
}

/* Parses JSON text stored by the registry itself; NULL when absent. */
static json_object *stored_json(const char *text)
{
    return text ? json_tokener_parse(text) : NULL;
}

static kstatus tags_of(kreg *r, const char *name, const char *version, json_object **out, kerr *e)
{
    const char *p[] = {name, version};
    return kreg__kv_json(r,
                         "SELECT key, value FROM model_tags WHERE name = $1 AND version = "
                         "CAST($2 AS BIGINT) ORDER BY key",
                         2, p, out, e);
}

/* Aliases of a model as {alias: version}, or of one version as [alias…] (version != NULL). */
static kstatus aliases_of(kreg *r, const char *name, const char *version, json_object **out,
                          kerr *e)
{
    const char *p[] = {name, version};
    kdb_rows *rows;
    kstatus st = version ? kdb_query(r->db,
                                     "SELECT alias, version FROM aliases WHERE name = $1 AND "
                                     "version = CAST($2 AS BIGINT) ORDER BY alias",
                                     2, p, &rows, e)
                         : kdb_query(r->db,
                                     "SELECT alias, version FROM aliases WHERE name = $1 "
                                     "ORDER BY alias",
                                     1, p, &rows, e);
    if (st) return st;
    *out = version ? json_object_new_array() : json_object_new_object();
    for (int i = 0; i < kdb_nrows(rows); i++) {
        if (version)
            json_object_array_add(*out, json_object_new_string(kdb_value(rows, i, 0)));
        else
            add(*out, kdb_value(rows, i, 0), kreg__jint(kdb_value(rows, i, 1)));
    }
    kdb_rows_free(rows);
    return K_OK;
}

kstatus kreg_list_models(kreg *r, json_object **out, kerr *e)
{
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT m.name, m.description, m.updated_at, "
                           "(SELECT max(version) FROM model_versions v WHERE v.name = m.name), "
                           "(SELECT count(*) FROM model_versions v WHERE v.name = m.name) "
                           "FROM models m ORDER BY m.name",
                           0, NULL, &rows, e);
    if (st) return st;
    json_object *list = json_object_new_array();
    for (int i = 0; !st && i < kdb_nrows(rows); i++) {
        json_object *m = json_object_new_object(), *aliases = NULL, *tags = NULL;
        const char *name = kdb_value(rows, i, 0);
        add(m, "name", json_object_new_string(name));
        add(m, "description", json_object_new_string(kdb_value(rows, i, 1)));
        add(m, "latest_version", kreg__jint(kdb_value(rows, i, 3)));
        add(m, "versions", kreg__jint(kdb_value(rows, i, 4)));
        add(m, "updated_at", kreg__jtime(kdb_value(rows, i, 2)));
        st = aliases_of(r, name, NULL, &aliases, e);
        if (!st) st = tags_of(r, name, "0", &tags, e);
        add(m, "aliases", aliases);
        add(m, "tags", tags);
        json_object_array_add(list, m);
    }
    kdb_rows_free(rows);
    if (st) {
        json_object_put(list);
        return st;
    }
    *out = list;
    return K_OK;
}

static json_object *version_summary(const kdb_rows *rows, int i)
{
    json_object *v = json_object_new_object();
    add(v, "version", kreg__jint(kdb_value(rows, i, 0)));
    add(v, "archived", json_object_new_boolean(kdb_int(rows, i, 1, 0) != 0));
    add(v, "framework", kreg__jstr(kdb_value(rows, i, 2)));
    add(v, "registered_by", kreg__jstr(kdb_value(rows, i, 3)));
    add(v, "registered_at", kreg__jtime(kdb_value(rows, i, 4)));
    add(v, "package_sha256", kreg__jstr(kdb_value(rows, i, 5)));
    add(v, "description", kreg__jstr(kdb_value(rows, i, 6)));
    return v;
}

static kstatus versions_of(kreg *r, const char *name, json_object **out, kerr *e)
{
    const char *p[] = {name};
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT version, archived, framework, registered_by, registered_at, "
                           "package_sha256, description FROM model_versions WHERE name = $1 "
                           "ORDER BY version",
                           1, p, &rows, e);
    if (st) return st;
    *out = json_object_new_array();
    for (int i = 0; i < kdb_nrows(rows); i++)
        json_object_array_add(*out, version_summary(rows, i));
    kdb_rows_free(rows);
    return K_OK;
}

kstatus kreg_show_model(kreg *r, const char *name, json_object **out, kerr *e)
{
    const char *p[] = {name};
    kdb_rows *rows;
    char what[300];
    snprintf(what, sizeof what, "no model named '%s' is registered", name);
    kstatus st = kreg__query_one(r,
                                 "SELECT name, description, created_at, updated_at, last_version "
                                 "FROM models WHERE name = $1",
                                 1, p, &rows, what, e);
    if (st) return st;
    json_object *m = json_object_new_object(), *tags = NULL, *aliases = NULL, *versions = NULL;
    add(m, "name", json_object_new_string(kdb_value(rows, 0, 0)));
    add(m, "description", json_object_new_string(kdb_value(rows, 0, 1)));
    add(m, "created_at", kreg__jtime(kdb_value(rows, 0, 2)));
    add(m, "updated_at", kreg__jtime(kdb_value(rows, 0, 3)));
    add(m, "last_version", kreg__jint(kdb_value(rows, 0, 4)));
    kdb_rows_free(rows);
    st = tags_of(r, name, "0", &tags, e);
    if (!st) st = aliases_of(r, name, NULL, &aliases, e);
    if (!st) st = versions_of(r, name, &versions, e);
    add(m, "tags", tags);
    add(m, "aliases", aliases);
    add(m, "versions", versions);
    if (st) {
        json_object_put(m);
        return st;
    }
    *out = m;
    return K_OK;
}

static const char *const version_cols[] = {"name",           "version",      "archived",
                                           "package_sha256", "package_size", "source_sha256",
                                           "source_format",  "framework",    "framework_version",
                                           "task",           "n_features",   "schema",
                                           "metadata",       "config",       "description",
                                           "parent_version", "run_id",       "dataset",
                                           "registered_by",  "registered_at"};

static json_object *version_field(const kdb_rows *rows, int col)
{
    const char *v = kdb_value(rows, 0, col);
    switch (col) {
    case 1:
    case 4:
    case 10:
    case 15:
        return kreg__jint(v);
    case 2:
        return json_object_new_boolean(v && strcmp(v, "0") != 0);
    case 11:
    case 12:
    case 13:
        return stored_json(v);
    case 19:
        return kreg__jtime(v);
    default:
        return kreg__jstr(v);
    }
}

/* "drift_reference": {rows, created_at, created_by} when the version has one, else null. */
static kstatus reference_of(kreg *r, const char *name, const char *version, json_object *v, kerr *e)
{
    const char *p[] = {name, version};
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT rows, created_at, created_by FROM version_references WHERE "
                           "name = $1 AND version = CAST($2 AS BIGINT)",
                           2, p, &rows, e);
    if (st) return st;
    json_object *o = NULL;
    if (kdb_nrows(rows)) {
        o = json_object_new_object();
        add(o, "rows", kreg__jint(kdb_value(rows, 0, 0)));
        add(o, "created_at", kreg__jtime(kdb_value(rows, 0, 1)));
        add(o, "created_by", kreg__jstr(kdb_value(rows, 0, 2)));
    }
    add(v, "drift_reference", o);
    kdb_rows_free(rows);
    return K_OK;
}

kstatus kreg_show_version(kreg *r, const char *name, int64_t version, json_object **out, kerr *e)
{
    char vs[24], what[300];
    const char *p[] = {name, kreg__i64(version, vs)};
    snprintf(what, sizeof what, "model '%s' has no version %lld", name, (long long)version);
    kdb_rows *rows;
    kstatus st = kreg__query_one(
        r,
        "SELECT name, version, archived, package_sha256, package_size, source_sha256, "
        "source_format, framework, framework_version, task, n_features, schema_json, meta_json, "
        "config_json, description, parent_version, run_id, dataset, registered_by, registered_at "
        "FROM model_versions WHERE name = $1 AND version = CAST($2 AS BIGINT)",
        2, p, &rows, what, e);
    if (st) return st;
    json_object *v = json_object_new_object(), *tags = NULL, *aliases = NULL;
    for (int c = 0; c < (int)(sizeof version_cols / sizeof *version_cols); c++)
        add(v, version_cols[c], version_field(rows, c));
    kdb_rows_free(rows);
    st = tags_of(r, name, vs, &tags, e);
    if (!st) st = aliases_of(r, name, vs, &aliases, e);
    if (!st) st = reference_of(r, name, vs, v, e);
    add(v, "tags", tags);
    add(v, "aliases", aliases);
    if (st) {
        json_object_put(v);
        return st;
    }
    *out = v;
    return K_OK;
}
