/* db.h — one small SQL interface over the registry's two backends: embedded SQLite (the
 * default) and PostgreSQL through libpq. The registry writes its SQL once against this.
 *
 * Dialect: statements use PostgreSQL-style positional parameters $1..$n, passed as text (NULL
 * means SQL NULL); write portable SQL (INSERT ... ON CONFLICT, RETURNING, CAST(x AS BIGINT)).
 * Results come back as text: integers in decimal, floating-point values in shortest
 * round-trip form (never rounded to 15 digits), SQL NULL as a NULL pointer.
 *
 * A kdb handle is one connection: use it from one thread at a time. */
#ifndef KILN_DB_H
#define KILN_DB_H

#include <stdint.h>

#include "base/status.h"

typedef struct kdb kdb;
typedef struct kdb_rows kdb_rows;

typedef enum { KDB_SQLITE, KDB_POSTGRES } kdb_backend;

/* Opens a connection. `url` is "postgres://…" or "postgresql://…" (libpq connection URI) for
 * PostgreSQL; anything else is an SQLite database path, optionally prefixed "sqlite://".
 * SQLite databases are created when missing, put in WAL mode and given a busy timeout of
 * `busy_ms`. A file that is not an SQLite database is refused with K_FORMAT and left untouched.
 * Caller frees with kdb_close. */
kstatus kdb_open(const char *url, int busy_ms, kdb **out, kerr *e);
void kdb_close(kdb *db);
kdb_backend kdb_kind(const kdb *db);

/* Runs one or more statements without parameters or results (DDL, pragmas). */
kstatus kdb_exec(kdb *db, const char *sql, kerr *e);

/* Runs one statement with `n` text parameters. When `rows` is not NULL it receives the result
 * (possibly zero rows), which the caller frees with kdb_rows_free. Errors: K_EXISTS on a
 * unique or primary-key violation, K_CONFLICT on another constraint violation, K_BUSY when
 * the database stayed locked past the busy timeout, K_IO otherwise. */
kstatus kdb_query(kdb *db, const char *sql, int n, const char *const *params, kdb_rows **rows,
                  kerr *e);

int kdb_nrows(const kdb_rows *r);
int kdb_ncols(const kdb_rows *r);
/* The value at (row, col) as text, or NULL for SQL NULL. Valid until kdb_rows_free. */
const char *kdb_value(const kdb_rows *r, int row, int col);
/* The value parsed as an integer; `dflt` for NULL or non-numeric text. */
int64_t kdb_int(const kdb_rows *r, int row, int col, int64_t dflt);
void kdb_rows_free(kdb_rows *r);

/* Transactions. kdb_begin starts a write transaction that takes the write lock at once
 * (SQLite BEGIN IMMEDIATE, waiting up to the busy timeout; PostgreSQL BEGIN). kdb_rollback is
 * safe to call when no transaction is open. */
kstatus kdb_begin(kdb *db, kerr *e);
kstatus kdb_commit(kdb *db, kerr *e);
void kdb_rollback(kdb *db);

/* Change notification. kdb_listen subscribes to `channel` (PostgreSQL LISTEN); kdb_notify
 * sends on it when the current transaction commits (pg_notify). kdb_poll_notified returns 1
 * when a notification arrived since the last call, 0 when none, without a round trip to the
 * server. On SQLite the three are no-ops and kdb_poll_notified returns -1 ("unsupported: poll
 * a counter instead"). */
kstatus kdb_listen(kdb *db, const char *channel, kerr *e);
kstatus kdb_notify(kdb *db, const char *channel, kerr *e);
int kdb_poll_notified(kdb *db);

#endif
