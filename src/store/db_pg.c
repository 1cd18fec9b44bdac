/* db_pg.c — the PostgreSQL backend of db.h over libpq: text parameters and results, SQLSTATE
 * mapped to kstatus, LISTEN/NOTIFY for change notification, and one reconnect attempt when
 * the connection was lost outside a transaction.
 *
 * Error messages name the server as host:port/db and never include the URL itself, so a
 * password in it cannot leak into logs. */
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/db_impl.h"

#define WHERE_MAX 256
#define ERRLINE_MAX 384 /* one error line from the server or libpq, before it goes into a kerr */
#define SECRET_MAX 128
#define CHANNELS_MAX 8
#define CHANNEL_MAX 64 /* PostgreSQL identifiers are at most 63 bytes */

typedef struct {
    PGconn *conn;
    char where[WHERE_MAX];   /* host:port/db, for messages */
    char secret[SECRET_MAX]; /* the URL's password, scrubbed from any message */
    char channels[CHANNELS_MAX][CHANNEL_MAX];
    int nchannels;
    int in_txn;   /* between kdb_begin and commit/rollback: never reconnect silently here */
    int notified; /* a notification arrived (or may have been missed) since the last poll */
} pg_db;

static pg_db *impl(kdb *db)
{
    return db->impl;
}

/* Library code never prints: NOTICE and WARNING messages from the server are dropped. */
static void discard_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Replaces every occurrence of `secret` in the string `s` with "***" (it only shrinks). */
static void scrub(char *s, const char *secret)
{
    size_t n = strlen(secret);
    if (n < 4) return; /* libpq never echoes passwords; shorter ones would garble words */
    char *hit;
    while ((hit = strstr(s, secret)) != NULL) {
        size_t tail = strlen(hit + n);
        memmove(hit + 3, hit + n, tail + 1);
        memcpy(hit, "***", 3);
    }
}

/* Copies `msg` into `out` as one line: newlines and tabs become single spaces, the
 * "ERROR:" prefix libpq adds is dropped, trailing spaces trimmed. */
static void one_line(const char *msg, char *out, size_t size, const char *secret)
{
    if (!msg || !*msg) msg = "unknown error";
    if (strncmp(msg, "ERROR:", 6) == 0) msg += 6;
    size_t j = 0;
    for (; *msg && j + 1 < size; msg++) {
        char c = *msg == '\n' || *msg == '\t' || *msg == '\r' ? ' ' : *msg;
        if (c == ' ' && (j == 0 || out[j - 1] == ' ')) continue;
        out[j++] = c;
    }
    while (j > 0 && out[j - 1] == ' ')
        j--;
    out[j] = 0;
    scrub(out, secret);
}

static kstatus status_of(const char *sqlstate)
{
    if (!sqlstate) return K_IO; /* client-side: connection lost, out of memory */
    if (strcmp(sqlstate, "23505") == 0) return K_EXISTS;
    if (strncmp(sqlstate, "23", 2) == 0) return K_CONFLICT;
    if (!strcmp(sqlstate, "40001") || !strcmp(sqlstate, "40P01") || !strcmp(sqlstate, "55P03"))
        return K_BUSY;
    return K_IO;
}

/* Fills `e` from a failed result (which may be NULL) and frees the result. */
static kstatus result_error(pg_db *p, PGresult *res, kerr *e)
{
    char line[ERRLINE_MAX];
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *sqlstate = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    one_line(primary ? primary : PQerrorMessage(p->conn), line, sizeof line, p->secret);
    kstatus st = status_of(sqlstate);
    PQclear(res);
    if (PQstatus(p->conn) == CONNECTION_BAD)
        return kerr_set(e, K_IO, "lost connection to PostgreSQL at %s: %s", p->where, line);
    return kerr_set(e, st, "PostgreSQL at %s: %s", p->where, line);
}

/* Session settings applied after every (re)connect. Floats print in shortest round-trip form
 * from PostgreSQL 12 on (extra_float_digits > 0); older servers need 3 for exact 17 digits. */
static kstatus configure(pg_db *p, kerr *e)
{
    PQsetNoticeProcessor(p->conn, discard_notice, NULL);
    const char *sql = PQserverVersion(p->conn) >= 120000
                          ? "SET client_min_messages = warning; SET extra_float_digits = 1"
                          : "SET client_min_messages = warning; SET extra_float_digits = 3";
    PGresult *res = PQexec(p->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) return result_error(p, res, e);
    PQclear(res);
    return K_OK;
}

static kstatus listen_channel(pg_db *p, const char *channel, kerr *e)
{
    char *quoted = PQescapeIdentifier(p->conn, channel, strlen(channel));
    if (!quoted) return result_error(p, NULL, e);
    char sql[CHANNEL_MAX * 2 + 16];
    snprintf(sql, sizeof sql, "LISTEN %s", quoted);
    PQfreemem(quoted);
    PGresult *res = PQexec(p->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) return result_error(p, res, e);
    PQclear(res);
    return K_OK;
}

/* Reconnects once when the connection was lost, restoring settings and subscriptions. Inside
 * a transaction it refuses: the transaction is gone and later statements must not silently
 * run outside it. */
static kstatus ensure_conn(pg_db *p, kerr *e)
{
    if (PQstatus(p->conn) != CONNECTION_BAD) return K_OK;
    if (p->in_txn)
        return kerr_set(e, K_IO, "lost connection to PostgreSQL at %s inside a transaction",
                        p->where);
    PQreset(p->conn);
    if (PQstatus(p->conn) != CONNECTION_OK) {
        char line[ERRLINE_MAX];
        one_line(PQerrorMessage(p->conn), line, sizeof line, p->secret);
        return kerr_set(e, K_IO, "cannot reconnect to PostgreSQL at %s: %s", p->where, line);
    }
    kstatus st = configure(p, e);
    for (int i = 0; !st && i < p->nchannels; i++)
        st = listen_channel(p, p->channels[i], e);
    p->notified = 1; /* whatever was sent while we were away is lost: tell the poller */
    return st;
}

static void close_db(kdb *db)
{
    pg_db *p = impl(db);
    PQfinish(p->conn);
    free(p);
    free(db);
}

static kstatus exec_sql(kdb *db, const char *sql, kerr *e)
{
    pg_db *p = impl(db);
    kstatus st = ensure_conn(p, e);
    if (st) return st;
    PGresult *res = PQexec(p->conn, sql);
    ExecStatusType rs = PQresultStatus(res);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK && rs != PGRES_EMPTY_QUERY)
        return result_error(p, res, e);
    PQclear(res);
    return K_OK;
}

static kstatus add_cell(kdb__builder *b, const PGresult *res, int r, int c, kerr *e)
{
    if (PQgetisnull(res, r, c)) return kdb__builder_add(b, NULL, 0, e);
    return kdb__builder_add(b, PQgetvalue(res, r, c), (size_t)PQgetlength(res, r, c), e);
}

static kstatus build_rows(const PGresult *res, kdb_rows **rows, kerr *e)
{
    kdb__builder b;
    int nrows = PQntuples(res), ncols = PQnfields(res);
    kdb__builder_init(&b, ncols);
    kstatus st = K_OK;
    for (int r = 0; !st && r < nrows; r++)
        for (int c = 0; !st && c < ncols; c++)
            st = add_cell(&b, res, r, c, e);
    if (st) {
        kdb__builder_free(&b);
        return st;
    }
    return kdb__builder_finish(&b, rows, e);
}

static kstatus query(kdb *db, const char *sql, int n, const char *const *params, kdb_rows **rows,
                     kerr *e)
{
    pg_db *p = impl(db);
    kstatus st = ensure_conn(p, e);
    if (st) return st;
    PGresult *res = PQexecParams(p->conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType rs = PQresultStatus(res);
    if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) return result_error(p, res, e);
    st = rows ? build_rows(res, rows, e) : K_OK;
    PQclear(res);
    return st;
}

static kstatus begin(kdb *db, kerr *e)
{
    kstatus st = exec_sql(db, "BEGIN", e);
    if (!st) impl(db)->in_txn = 1;
    return st;
}

/* COMMIT of a transaction an earlier error aborted "succeeds" as ROLLBACK: report it. */
static kstatus commit(kdb *db, kerr *e)
{
    pg_db *p = impl(db);
    PGresult *res = PQexec(p->conn, "COMMIT");
    p->in_txn = 0;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) return result_error(p, res, e);
    int rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
    PQclear(res);
    if (rolled_back)
        return kerr_set(e, K_CONFLICT,
                        "PostgreSQL at %s: transaction was rolled back after an earlier error",
                        p->where);
    return K_OK;
}

static void rollback(kdb *db)
{
    pg_db *p = impl(db);
    p->in_txn = 0;
    PGTransactionStatusType ts = PQtransactionStatus(p->conn);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) PQclear(PQexec(p->conn, "ROLLBACK"));
}

static kstatus listen_db(kdb *db, const char *channel, kerr *e)
{
    pg_db *p = impl(db);
    if (!channel || !*channel || strlen(channel) >= CHANNEL_MAX)
        return kerr_set(e, K_INVALID, "bad notification channel name");
    for (int i = 0; i < p->nchannels; i++)
        if (strcmp(p->channels[i], channel) == 0) return K_OK;
    if (p->nchannels == CHANNELS_MAX)
        return kerr_set(e, K_LIMIT, "too many notification channels (at most %d)", CHANNELS_MAX);
    kstatus st = ensure_conn(p, e);
    if (!st) st = listen_channel(p, channel, e);
    if (!st) snprintf(p->channels[p->nchannels++], CHANNEL_MAX, "%s", channel);
    return st;
}

static kstatus notify(kdb *db, const char *channel, kerr *e)
{
    const char *params[1] = {channel};
    return query(db, "SELECT pg_notify($1, '')", 1, params, NULL, e);
}

/* Reads whatever the server already sent, without a round trip. A broken connection counts as
 * "maybe notified": the caller rescans, and its next statement reconnects. */
static int poll_notified(kdb *db)
{
    pg_db *p = impl(db);
    int got = p->notified;
    p->notified = 0;
    if (!PQconsumeInput(p->conn)) return 1;
    PGnotify *n;
    while ((n = PQnotifies(p->conn)) != NULL) {
        PQfreemem(n);
        got = 1;
    }
    return got;
}

static const kdb__ops pg_ops = {
    .close = close_db,
    .exec = exec_sql,
    .query = query,
    .begin = begin,
    .commit = commit,
    .rollback = rollback,
    .listen = listen_db,
    .notify = notify,
    .poll_notified = poll_notified,
};

static const char *opt_value(const PQconninfoOption *opts, const char *key)
{
    for (; opts && opts->keyword; opts++)
        if (strcmp(opts->keyword, key) == 0 && opts->val && *opts->val) return opts->val;
    return NULL;
}

/* libpq's message for a malformed URL quotes parts of it, maybe the password: keep the text
 * before the first quote. Frees `err`. */
static kstatus url_error(char *err, kerr *e)
{
    char line[ERRLINE_MAX];
    one_line(err ? err : "out of memory", line, sizeof line, "");
    PQfreemem(err);
    size_t n = strcspn(line, "\"");
    while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == ':'))
        n--;
    line[n] = 0;
    return kerr_set(e, K_INVALID, "invalid PostgreSQL URL: %s", line);
}

/* Parses the URL for what messages may show (host:port/db) and the password to hide. */
static kstatus describe(pg_db *p, const char *url, kerr *e)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &err);
    if (!opts) return url_error(err, e);
    const char *host = opt_value(opts, "host"), *port = opt_value(opts, "port");
    const char *dbname = opt_value(opts, "dbname"), *pw = opt_value(opts, "password");
    if (!dbname) dbname = opt_value(opts, "user");
    snprintf(p->where, sizeof p->where, "%s:%s/%s", host ? host : "localhost", port ? port : "5432",
             dbname ? dbname : "");
    snprintf(p->secret, sizeof p->secret, "%s", pw ? pw : "");
    scrub(p->where, p->secret);
    PQconninfoFree(opts);
    return K_OK;
}

/* connect_timeout comes first so a value in the URL overrides the 10 s default. */
static kstatus connect_pg(pg_db *p, const char *url, kerr *e)
{
    const char *keys[] = {"connect_timeout", "fallback_application_name", "dbname", NULL};
    const char *vals[] = {"10", "kiln", url, NULL};
    p->conn = PQconnectdbParams(keys, vals, 1);
    if (!p->conn) return kerr_set(e, K_NOMEM, "out of memory connecting to PostgreSQL");
    if (PQstatus(p->conn) != CONNECTION_OK) {
        char line[ERRLINE_MAX];
        one_line(PQerrorMessage(p->conn), line, sizeof line, p->secret);
        return kerr_set(e, K_IO, "cannot connect to PostgreSQL at %s: %s", p->where, line);
    }
    return configure(p, e);
}

kstatus kdb__pg_open(const char *url, kdb **out, kerr *e)
{
    kdb *db = calloc(1, sizeof *db);
    pg_db *p = calloc(1, sizeof *p);
    if (!db || !p) {
        free(db);
        free(p);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    db->ops = &pg_ops;
    db->kind = KDB_POSTGRES;
    db->impl = p;
    kstatus st = describe(p, url, e);
    if (!st) st = connect_pg(p, url, e);
    if (st) {
        close_db(db);
        return st;
    }
    *out = db;
    return K_OK;
}
