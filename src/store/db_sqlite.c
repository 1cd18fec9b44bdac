/* db_sqlite.c — the embedded SQLite backend of db.h: WAL mode, full fsync, busy timeout,
 * $N parameters rewritten to SQLite's ?N, and a small cache of prepared statements. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"
#include "store/db_impl.h"

#define STMT_CACHE 32
#define SQL_MAX 8192

typedef struct {
    char *sql; /* the statement as written ($N), malloc'd */
    sqlite3_stmt *stmt;
} cached_stmt;

typedef struct {
    sqlite3 *conn;
    char path[1024];
    cached_stmt cache[STMT_CACHE];
    int next_evict;
} sqlite_db;

static sqlite_db *impl(kdb *db)
{
    return db->impl;
}

static kstatus map_error(sqlite_db *s, int rc, const char *what, kerr *e)
{
    int ext = sqlite3_extended_errcode(s->conn);
    kstatus st = K_IO;
    if (ext == SQLITE_CONSTRAINT_PRIMARYKEY || ext == SQLITE_CONSTRAINT_UNIQUE)
        st = K_EXISTS;
    else if ((rc & 0xff) == SQLITE_CONSTRAINT)
        st = K_CONFLICT;
    else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED)
        st = K_BUSY;
    else if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT)
        st = K_FORMAT;
    if (st == K_FORMAT)
        return kerr_set(e, st, "%s is not a valid SQLite registry database (%s)", s->path,
                        sqlite3_errmsg(s->conn));
    return kerr_set(e, st, "registry database %s: %s: %s", s->path, what, sqlite3_errmsg(s->conn));
}

static void close_db(kdb *db)
{
    sqlite_db *s = impl(db);
    for (int i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(s->cache[i].stmt);
        free(s->cache[i].sql);
    }
    sqlite3_close(s->conn);
    free(s);
    free(db);
}

static kstatus exec_sql(kdb *db, const char *sql, kerr *e)
{
    int rc = sqlite3_exec(impl(db)->conn, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? K_OK : map_error(impl(db), rc, "statement failed", e);
}

/* Rewrites $N placeholders to ?N (SQLite binds $N by name in order of appearance, not by N). */
static kstatus rewrite_params(const char *sql, char *out, size_t size, kerr *e)
{
    size_t n = strlen(sql);
    if (n >= size) return kerr_set(e, K_LIMIT, "SQL statement too long");
    for (size_t i = 0; i <= n; i++)
        out[i] = sql[i] == '$' && sql[i + 1] >= '0' && sql[i + 1] <= '9' ? '?' : sql[i];
    return K_OK;
}

static kstatus prepare(sqlite_db *s, const char *sql, sqlite3_stmt **out, kerr *e)
{
    for (int i = 0; i < STMT_CACHE; i++)
        if (s->cache[i].sql && strcmp(s->cache[i].sql, sql) == 0) {
            *out = s->cache[i].stmt;
            return K_OK;
        }
    char text[SQL_MAX];
    if (rewrite_params(sql, text, sizeof text, e)) return K_LIMIT;
    sqlite3_stmt *stmt;
    int rc = sqlite3_prepare_v3(s->conn, text, -1, SQLITE_PREPARE_PERSISTENT, &stmt, NULL);
    if (rc != SQLITE_OK) return map_error(s, rc, "cannot prepare statement", e);
    cached_stmt *slot = &s->cache[s->next_evict];
    s->next_evict = (s->next_evict + 1) % STMT_CACHE;
    sqlite3_finalize(slot->stmt);
    free(slot->sql);
    slot->sql = strdup(sql);
    slot->stmt = slot->sql ? stmt : NULL;
    if (!slot->sql) {
        sqlite3_finalize(stmt);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    *out = stmt;
    return K_OK;
}

static kstatus add_cell(kdb__builder *b, sqlite3_stmt *stmt, int col, kerr *e)
{
    switch (sqlite3_column_type(stmt, col)) {
    case SQLITE_NULL:
        return kdb__builder_add(b, NULL, 0, e);
    case SQLITE_FLOAT: {
        char num[32];
        int len = num_format_shortest(sqlite3_column_double(stmt, col), num);
        return kdb__builder_add(b, num, (size_t)len, e);
    }
    default: {
        const char *t = (const char *)sqlite3_column_text(stmt, col);
        if (!t) return kerr_set(e, K_NOMEM, "out of memory reading a query result");
        return kdb__builder_add(b, t, (size_t)sqlite3_column_bytes(stmt, col), e);
    }
    }
}

static kstatus step_all(sqlite_db *s, sqlite3_stmt *stmt, kdb_rows **rows, kerr *e)
{
    kdb__builder b;
    kdb__builder_init(&b, sqlite3_column_count(stmt));
    int rc;
    kstatus st = K_OK;
    while (!st && (rc = sqlite3_step(stmt)) == SQLITE_ROW)
        for (int c = 0; !st && c < b.ncols; c++)
            st = add_cell(&b, stmt, c, e);
    if (!st && rc != SQLITE_DONE) st = map_error(s, rc, "query failed", e);
    if (st || !rows) {
        kdb__builder_free(&b);
        return st;
    }
    return kdb__builder_finish(&b, rows, e);
}

static kstatus query(kdb *db, const char *sql, int n, const char *const *params, kdb_rows **rows,
                     kerr *e)
{
    sqlite_db *s = impl(db);
    sqlite3_stmt *stmt;
    kstatus st = prepare(s, sql, &stmt, e);
    if (st) return st;
    for (int i = 0; i < n && !st; i++) {
        int rc = params[i] ? sqlite3_bind_text(stmt, i + 1, params[i], -1, SQLITE_TRANSIENT)
                           : sqlite3_bind_null(stmt, i + 1);
        if (rc != SQLITE_OK) st = map_error(s, rc, "cannot bind parameter", e);
    }
    if (!st) st = step_all(s, stmt, rows, e);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return st;
}

static kstatus begin(kdb *db, kerr *e)
{
    return exec_sql(db, "BEGIN IMMEDIATE", e);
}

static kstatus commit(kdb *db, kerr *e)
{
    return exec_sql(db, "COMMIT", e);
}

static void rollback(kdb *db)
{
    if (!sqlite3_get_autocommit(impl(db)->conn))
        sqlite3_exec(impl(db)->conn, "ROLLBACK", NULL, NULL, NULL);
}

static const kdb__ops sqlite_ops = {
    .close = close_db,
    .exec = exec_sql,
    .query = query,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
};

/* Checks the file is a database before anything writes to it, then sets the pragmas. */
static kstatus configure(kdb *db, int busy_ms, kerr *e)
{
    sqlite3_busy_timeout(impl(db)->conn, busy_ms);
    kstatus st = exec_sql(db, "SELECT count(*) FROM sqlite_master", e);
    if (!st) st = exec_sql(db, "PRAGMA journal_mode=WAL", e);
    if (!st) st = exec_sql(db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON", e);
    return st;
}

kstatus kdb__sqlite_open(const char *path, int busy_ms, kdb **out, kerr *e)
{
    kdb *db = calloc(1, sizeof *db);
    sqlite_db *s = calloc(1, sizeof *s);
    if (!db || !s) {
        free(db);
        free(s);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    snprintf(s->path, sizeof s->path, "%s", path);
    db->ops = &sqlite_ops;
    db->kind = KDB_SQLITE;
    db->impl = s;
    int rc = sqlite3_open_v2(
        path, &s->conn, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    kstatus st = rc == SQLITE_OK ? configure(db, busy_ms, e)
                                 : kerr_set(e, K_IO, "cannot open registry database %s: %s", path,
                                            s->conn ? sqlite3_errmsg(s->conn) : "out of memory");
    if (st) {
        close_db(db);
        return st;
    }
    *out = db;
    return K_OK;
}
