/* registry_schema.c — the registry's versioned schema migrations, applied on open inside one
 * transaction (PostgreSQL: under an advisory lock, so concurrent first opens are safe). The
 * same SQL runs on SQLite and PostgreSQL. */
#include <stdio.h>
#include <string.h>

#include "store/registry_impl.h"

/* migrations[i] takes the schema from version i to i + 1. Never edit a released step: add one. */
static const char *const migrations[] = {
    /* 0 -> 1: models, versions, tags, aliases, experiments and runs */
    "CREATE TABLE kiln_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE kiln_state (id INTEGER PRIMARY KEY CHECK (id = 1), changes BIGINT NOT NULL);"
    "INSERT INTO kiln_state (id, changes) VALUES (1, 0);"
    "CREATE TABLE models ("
    "  name TEXT PRIMARY KEY,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  last_version BIGINT NOT NULL DEFAULT 0);"
    "CREATE TABLE model_versions ("
    "  name TEXT NOT NULL REFERENCES models(name),"
    "  version BIGINT NOT NULL,"
    "  archived INTEGER NOT NULL DEFAULT 0,"
    "  package_sha256 TEXT NOT NULL,"
    "  package_size BIGINT NOT NULL,"
    "  source_sha256 TEXT, source_format TEXT, framework TEXT, framework_version TEXT,"
    "  task TEXT NOT NULL, n_features BIGINT NOT NULL,"
    "  schema_json TEXT NOT NULL, meta_json TEXT NOT NULL, config_json TEXT,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  parent_version BIGINT, run_id TEXT, dataset TEXT,"
    "  registered_by TEXT NOT NULL, registered_at BIGINT NOT NULL,"
    "  PRIMARY KEY (name, version));"
    "CREATE INDEX model_versions_sha ON model_versions (package_sha256);"
    "CREATE TABLE model_tags ("
    "  name TEXT NOT NULL REFERENCES models(name),"
    "  version BIGINT NOT NULL,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (name, version, key));"
    "CREATE TABLE aliases ("
    "  name TEXT NOT NULL, alias TEXT NOT NULL, version BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL, updated_by TEXT NOT NULL,"
    "  PRIMARY KEY (name, alias),"
    "  FOREIGN KEY (name, version) REFERENCES model_versions (name, version));"
    "CREATE TABLE experiments (name TEXT PRIMARY KEY, created_at BIGINT NOT NULL);"
    "CREATE TABLE runs ("
    "  id TEXT PRIMARY KEY,"
    "  experiment TEXT NOT NULL REFERENCES experiments(name),"
    "  name TEXT NOT NULL DEFAULT '', status TEXT NOT NULL,"
    "  start_time BIGINT NOT NULL, end_time BIGINT, created_by TEXT NOT NULL);"
    "CREATE INDEX runs_experiment ON runs (experiment, start_time);"
    "CREATE TABLE run_params ("
    "  run_id TEXT NOT NULL REFERENCES runs(id), key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (run_id, key));"
    "CREATE TABLE run_metrics ("
    "  run_id TEXT NOT NULL REFERENCES runs(id), key TEXT NOT NULL,"
    "  step BIGINT NOT NULL, ts BIGINT NOT NULL, value DOUBLE PRECISION NOT NULL);"
    "CREATE INDEX run_metrics_key ON run_metrics (run_id, key, step);"
    "CREATE TABLE run_artifacts ("
    "  run_id TEXT NOT NULL REFERENCES runs(id), path TEXT NOT NULL,"
    "  sha256 TEXT NOT NULL, size BIGINT NOT NULL,"
    "  PRIMARY KEY (run_id, path));"
    "CREATE INDEX run_artifacts_sha ON run_artifacts (sha256);"
    "INSERT INTO kiln_meta (key, value) VALUES ('schema', '0');",
    /* 1 -> 2: drift reference statistics attached to a registered version */
    "CREATE TABLE version_references ("
    "  name TEXT NOT NULL, version BIGINT NOT NULL,"
    "  reference_json TEXT NOT NULL, rows BIGINT NOT NULL,"
    "  created_at BIGINT NOT NULL, created_by TEXT NOT NULL,"
    "  PRIMARY KEY (name, version),"
    "  FOREIGN KEY (name, version) REFERENCES model_versions (name, version));",
    /* 2 -> 3: API keys (argon2id hashes, never secrets) and the hash-chained audit log */
    "CREATE TABLE api_keys ("
    "  name TEXT PRIMARY KEY,"
    "  key_id TEXT NOT NULL UNIQUE,"
    "  hash TEXT NOT NULL,"
    "  role TEXT NOT NULL,"
    "  models TEXT NOT NULL DEFAULT '',"
    "  rate TEXT NOT NULL DEFAULT '',"
    "  created_at BIGINT NOT NULL, created_by TEXT NOT NULL,"
    "  expires_at BIGINT, revoked_at BIGINT,"
    "  old_key_id TEXT, old_hash TEXT, old_valid_until BIGINT);"
    "CREATE TABLE audit_log ("
    "  seq BIGINT PRIMARY KEY,"
    "  at_ms BIGINT NOT NULL,"
    "  actor TEXT NOT NULL, address TEXT NOT NULL,"
    "  action TEXT NOT NULL, object TEXT NOT NULL, outcome TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT '',"
    "  prev_hash TEXT NOT NULL, hash TEXT NOT NULL);",
};
#define N_MIGRATIONS ((int)(sizeof migrations / sizeof migrations[0]))
_Static_assert(N_MIGRATIONS == KREG_SCHEMA_VERSION, "one migration per schema version");

static int has_meta_table(kreg *r, kerr *e, kstatus *st)
{
    const char *sql =
        kdb_kind(r->db) == KDB_SQLITE
            ? "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'kiln_meta'"
            : "SELECT 1 FROM pg_catalog.pg_tables WHERE tablename = 'kiln_meta' "
              "AND schemaname = current_schema()";
    kdb_rows *rows;
    *st = kdb_query(r->db, sql, 0, NULL, &rows, e);
    int yes = !*st && kdb_nrows(rows) > 0;
    kdb_rows_free(rows);
    return yes;
}

/* Reads the schema version: 0 for an empty database. */
static kstatus read_version(kreg *r, int *version, kerr *e)
{
    kstatus st;
    *version = 0;
    if (!has_meta_table(r, e, &st)) return st;
    kdb_rows *rows;
    st = kdb_query(r->db, "SELECT value FROM kiln_meta WHERE key = 'schema'", 0, NULL, &rows, e);
    if (!st) *version = (int)kdb_int(rows, 0, 0, -1);
    kdb_rows_free(rows);
    if (!st && *version < 0) st = kerr_set(e, K_FORMAT, "registry schema version is unreadable");
    return st;
}

static kstatus too_new(int found, kerr *e)
{
    return kerr_set(e, K_VERSION,
                    "the registry's schema is version %d but this kiln knows only up to %d: "
                    "upgrade kiln",
                    found, KREG_SCHEMA_VERSION);
}

static kstatus apply(kreg *r, int from, kerr *e)
{
    for (int v = from; v < N_MIGRATIONS; v++) {
        kstatus st = kdb_exec(r->db, migrations[v], e);
        if (st) {
            kerr_prefix(e, "schema migration %d -> %d failed", v, v + 1);
            return st;
        }
    }
    char text[16];
    snprintf(text, sizeof text, "%d", KREG_SCHEMA_VERSION);
    const char *p[] = {text};
    return kdb_query(r->db, "UPDATE kiln_meta SET value = $1 WHERE key = 'schema'", 1, p, NULL, e);
}

kstatus kreg__migrate(kreg *r, kerr *e)
{
    int found;
    kstatus st = read_version(r, &found, e);
    if (st) return st;
    r->schema_found = r->schema_now = found;
    if (found > KREG_SCHEMA_VERSION) return too_new(found, e);
    if (found == KREG_SCHEMA_VERSION) return K_OK;
    /* Take the write lock, then look again: another process may have migrated meanwhile. */
    if ((st = kdb_begin(r->db, e))) return st;
    if (kdb_kind(r->db) == KDB_POSTGRES)
        st = kdb_exec(r->db, "SELECT pg_advisory_xact_lock(7243001)", e);
    if (!st) st = read_version(r, &found, e);
    if (!st && found > KREG_SCHEMA_VERSION) st = too_new(found, e);
    if (!st && found < KREG_SCHEMA_VERSION) st = apply(r, found, e);
    if (!st) st = kdb_commit(r->db, e);
    if (st) {
        kdb_rollback(r->db);
        return st;
    }
    r->schema_found = found;
    r->schema_now = KREG_SCHEMA_VERSION;
    return K_OK;
}
