/* test_db.c — the db.h contract, run on SQLite (a temporary file) and, when KILN_TEST_PG_URL
 * is set, on PostgreSQL in a database of its own: parameters, NULLs, exact numbers, error
 * codes, transactions, upserts, RETURNING, and LISTEN/NOTIFY. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"

#define URL_MAX 512

static char sqlite_dir[64];
static char sqlite_path[128];
static char pg_url[URL_MAX];   /* the test database's URL; empty when PostgreSQL is not tested */
static char pg_admin[URL_MAX]; /* KILN_TEST_PG_URL, from where the test database is made */
static char pg_name[64];

/* The URL with its database (path) replaced by `name`; query parameters are kept. */
static int url_with_db(const char *url, const char *name, char *out, size_t size)
{
    const char *host = strstr(url, "://");
    if (!host) return -1;
    host += 3;
    const char *path = host + strcspn(host, "/?");
    const char *query = path + strcspn(path, "?");
    int n = snprintf(out, size, "%.*s/%s%s", (int)(path - url), url, name, query);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static int make_pg_db(void)
{
    const char *admin = getenv("KILN_TEST_PG_URL");
    if (!admin || !*admin) return 0;
    snprintf(pg_admin, sizeof pg_admin, "%s", admin);
    snprintf(pg_name, sizeof pg_name, "kiln_test_db_%ld_%ld", (long)getpid(), (long)time(NULL));
    if (url_with_db(admin, pg_name, pg_url, sizeof pg_url)) return -1;
    kdb *db;
    kerr e = {0};
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", pg_name);
    if (kdb_open(admin, 0, &db, &e)) {
        fprintf(stderr, "KILN_TEST_PG_URL: %s\n", e.msg);
        return -1;
    }
    kstatus st = kdb_exec(db, sql, &e);
    kdb_close(db);
    if (st) fprintf(stderr, "%s\n", e.msg);
    return st ? -1 : 0;
}

static int setup(void **state)
{
    snprintf(sqlite_dir, sizeof sqlite_dir, "/tmp/kiln-db-XXXXXX");
    if (!mkdtemp(sqlite_dir)) return -1;
    snprintf(sqlite_path, sizeof sqlite_path, "%s/registry.db", sqlite_dir);
    return make_pg_db();
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", sqlite_dir);
    int rc = system(cmd) == 0 ? 0 : -1;
    if (!pg_url[0]) return rc;
    kdb *db = NULL;
    kerr e = {0};
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_name);
    if (kdb_open(pg_admin, 0, &db, &e) || kdb_exec(db, sql, &e)) rc = -1;
    kdb_close(db);
    return rc;
}

/* Opens backend `which` (0 SQLite, 1 PostgreSQL) on an empty table t; NULL when PostgreSQL is
 * not configured (the caller skips). */
static kdb *open_fresh(int which)
{
    if (which == 1 && !pg_url[0]) return NULL;
    kdb *db = NULL;
    kerr e = {0};
    if (kdb_open(which ? pg_url : sqlite_path, 2000, &db, &e)) fail_msg("open: %s", e.msg);
    assert_int_equal(kdb_kind(db), which ? KDB_POSTGRES : KDB_SQLITE);
    assert_int_equal(kdb_exec(db,
                              "DROP TABLE IF EXISTS t;"
                              "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT UNIQUE,"
                              " x DOUBLE PRECISION, n BIGINT CHECK (n >= 0))",
                              &e),
                     K_OK);
    return db;
}

static void insert(kdb *db, const char *id, const char *name, const char *x, const char *n,
                   kstatus want)
{
    const char *p[] = {id, name, x, n};
    kerr e = {0};
    kstatus st =
        kdb_query(db, "INSERT INTO t (id, name, x, n) VALUES ($1, $2, $3, $4)", 4, p, NULL, &e);
    if (st != want) fail_msg("insert %s: got %s (%s)", id, kstatus_str(st), e.msg);
}

/* The single value `sql` returns, copied into `out` ("<null>" for SQL NULL). */
static void one_value(kdb *db, const char *sql, int n, const char *const *p, char *out, size_t size)
{
    kdb_rows *r;
    kerr e = {0};
    if (kdb_query(db, sql, n, p, &r, &e)) fail_msg("%s: %s", sql, e.msg);
    assert_int_equal(kdb_nrows(r), 1);
    assert_int_equal(kdb_ncols(r), 1);
    const char *v = kdb_value(r, 0, 0);
    snprintf(out, size, "%s", v ? v : "<null>");
    kdb_rows_free(r);
}

static void check_values(int which)
{
    kdb *db = open_fresh(which);
    if (!db) skip();
    insert(db, "1", "one", "0.1", "42", K_OK);
    insert(db, "2", NULL, NULL, NULL, K_OK);
    kdb_rows *r;
    kerr e = {0};
    const char *id[] = {"1"};
    assert_int_equal(kdb_query(db, "SELECT id, name, x, n FROM t WHERE id = $1", 1, id, &r, &e),
                     K_OK);
    assert_int_equal(kdb_nrows(r), 1);
    assert_int_equal(kdb_ncols(r), 4);
    assert_string_equal(kdb_value(r, 0, 1), "one");
    assert_string_equal(kdb_value(r, 0, 2),
                        "0.1"); /* shortest round trip, not 0.10000000000000001 */
    assert_int_equal(kdb_int(r, 0, 3, -1), 42);
    assert_int_equal(kdb_int(r, 0, 0, -1), 1);
    assert_null(kdb_value(r, 5, 0)); /* out of range */
    kdb_rows_free(r);
    id[0] = "2";
    assert_int_equal(kdb_query(db, "SELECT name, x, n FROM t WHERE id = $1", 1, id, &r, &e), K_OK);
    assert_null(kdb_value(r, 0, 0));
    assert_null(kdb_value(r, 0, 1));
    assert_int_equal(kdb_int(r, 0, 2, -7), -7);
    kdb_rows_free(r);
    kdb_close(db);
}

static void check_numbers(int which)
{
    kdb *db = open_fresh(which);
    if (!db) skip();
    char v[64];
    one_value(db, "SELECT CAST(1 AS DOUBLE PRECISION) / 3", 0, NULL, v, sizeof v);
    assert_true(strtod(v, NULL) == 1.0 / 3.0);
    const char *big[] = {"9007199254740993", "9223372036854775807", "-1e-300"};
    insert(db, "3", "big", big[2], big[1], K_OK);
    one_value(db, "SELECT n FROM t WHERE id = 3", 0, NULL, v, sizeof v);
    assert_string_equal(v, big[1]);
    one_value(db, "SELECT x FROM t WHERE id = 3", 0, NULL, v, sizeof v);
    assert_true(strtod(v, NULL) == -1e-300);
    one_value(db, "SELECT CAST($1 AS BIGINT) + 0", 1, big, v, sizeof v);
    assert_string_equal(v, big[0]); /* past 2^53: integers are not squeezed through a double */
    kdb_rows *r;
    kerr e = {0};
    assert_int_equal(kdb_query(db, "SELECT id FROM t WHERE id > 100", 0, NULL, &r, &e), K_OK);
    assert_int_equal(kdb_nrows(r), 0);
    assert_int_equal(kdb_ncols(r), 1);
    kdb_rows_free(r);
    kdb_close(db);
}

static void check_errors(int which)
{
    kdb *db = open_fresh(which);
    if (!db) skip();
    insert(db, "1", "one", "1", "1", K_OK);
    insert(db, "1", "uno", "1", "1", K_EXISTS);      /* primary key */
    insert(db, "2", "one", "1", "1", K_EXISTS);      /* unique */
    insert(db, "3", "three", "1", "-1", K_CONFLICT); /* check constraint */
    kerr e = {0};
    assert_int_not_equal(kdb_query(db, "SELEKT 1", 0, NULL, NULL, &e), K_OK);
    assert_non_null(strstr(e.msg, "SELEKT")); /* the server's own words */
    assert_null(strchr(e.msg, '\n'));
    kdb_close(db);
}

static int count_rows(kdb *db)
{
    char v[32];
    one_value(db, "SELECT count(*) FROM t", 0, NULL, v, sizeof v);
    return (int)strtol(v, NULL, 10);
}

static void check_transactions(int which)
{
    kdb *db = open_fresh(which);
    if (!db) skip();
    kerr e = {0};
    kdb_rollback(db); /* no transaction open: harmless */
    assert_int_equal(kdb_begin(db, &e), K_OK);
    insert(db, "1", "a", NULL, NULL, K_OK);
    kdb_rollback(db);
    assert_int_equal(count_rows(db), 0);
    assert_int_equal(kdb_begin(db, &e), K_OK);
    insert(db, "1", "a", NULL, NULL, K_OK);
    insert(db, "2", "b", NULL, NULL, K_OK);
    assert_int_equal(kdb_commit(db, &e), K_OK);
    assert_int_equal(count_rows(db), 2);
    kdb_rollback(db);
    assert_int_equal(count_rows(db), 2);
    kdb_close(db);
    db = NULL; /* reopened: the commit is on disk */
    assert_int_equal(kdb_open(which ? pg_url : sqlite_path, 2000, &db, &e), K_OK);
    assert_int_equal(count_rows(db), 2);
    kdb_close(db);
}

static void check_upsert_returning(int which)
{
    kdb *db = open_fresh(which);
    if (!db) skip();
    insert(db, "1", "a", "1.5", "1", K_OK);
    kerr e = {0};
    const char *p[] = {"1", "again"};
    kdb_rows *r;
    assert_int_equal(kdb_query(db,
                               "INSERT INTO t (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING", 2,
                               p, &r, &e),
                     K_OK);
    assert_int_equal(kdb_nrows(r), 0);
    kdb_rows_free(r);
    char v[64];
    one_value(db, "SELECT name FROM t WHERE id = 1", 0, NULL, v, sizeof v);
    assert_string_equal(v, "a");
    const char *u[] = {"1", "5"};
    assert_int_equal(kdb_query(db,
                               "UPDATE t SET n = n + CAST($2 AS BIGINT) WHERE id = $1 "
                               "RETURNING id, n, name",
                               2, u, &r, &e),
                     K_OK);
    assert_int_equal(kdb_nrows(r), 1);
    assert_int_equal(kdb_ncols(r), 3);
    assert_int_equal(kdb_int(r, 0, 1, -1), 6);
    assert_string_equal(kdb_value(r, 0, 2), "a");
    kdb_rows_free(r);
    kdb_close(db);
}

static void test_sqlite_values(void **state)
{
    check_values(0);
}
static void test_sqlite_numbers(void **state)
{
    check_numbers(0);
}
static void test_sqlite_errors(void **state)
{
    check_errors(0);
}
/* A handle is for one thread at a time: another thread's call inside an open transaction is
 * refused with a message (it once interleaved and lost a committed audit record). */
typedef struct {
    kdb *db;
    kstatus st;
    char msg[KERR_MSG_MAX];
} other_call;

static void *call_from_other_thread(void *p)
{
    other_call *c = p;
    kerr e = {0};
    kdb_rows *rows = NULL;
    c->st = kdb_query(c->db, "SELECT count(*) FROM t", 0, NULL, &rows, &e);
    kdb_rows_free(rows);
    snprintf(c->msg, sizeof c->msg, "%s", e.msg);
    return NULL;
}

static void check_one_thread(int which)
{
    kdb *db = open_fresh(which);
    if (!db) skip();
    kerr e = {0};
    other_call c = {.db = db};
    pthread_t t;
    assert_int_equal(kdb_begin(db, &e), K_OK);
    insert(db, "1", "a", NULL, NULL, K_OK);
    assert_int_equal(pthread_create(&t, NULL, call_from_other_thread, &c), 0);
    pthread_join(t, NULL);
    assert_int_equal(c.st, K_INVALID);
    assert_non_null(strstr(c.msg, "another thread's transaction"));
    assert_int_equal(kdb_commit(db, &e), K_OK); /* the owner's transaction is untouched */
    assert_int_equal(count_rows(db), 1);
    assert_int_equal(pthread_create(&t, NULL, call_from_other_thread, &c), 0);
    pthread_join(t, NULL);
    assert_int_equal(c.st, K_OK); /* outside a transaction, taking turns is fine */
    kdb_close(db);
}

static void test_sqlite_one_thread(void **state)
{
    check_one_thread(0);
}

static void test_sqlite_transactions(void **state)
{
    check_transactions(0);
}
static void test_sqlite_upsert_returning(void **state)
{
    check_upsert_returning(0);
}
static void test_pg_values(void **state)
{
    check_values(1);
}
static void test_pg_numbers(void **state)
{
    check_numbers(1);
}
static void test_pg_errors(void **state)
{
    check_errors(1);
}
static void test_pg_transactions(void **state)
{
    check_transactions(1);
}
static void test_pg_upsert_returning(void **state)
{
    check_upsert_returning(1);
}

static void test_sqlite_notify_unsupported(void **state)
{
    kdb *db = open_fresh(0);
    kerr e = {0};
    assert_int_equal(kdb_listen(db, "models", &e), K_OK);
    assert_int_equal(kdb_notify(db, "models", &e), K_OK);
    assert_int_equal(kdb_poll_notified(db), -1);
    kdb_close(db);
}

/* Delivered at the sender's commit, seen by the listener without a round trip, once. */
static void test_pg_listen_notify(void **state)
{
    kdb *a = open_fresh(1), *b = NULL;
    if (!a) skip();
    kerr e = {0};
    assert_int_equal(kdb_open(pg_url, 0, &b, &e), K_OK);
    assert_int_equal(kdb_listen(a, "models", &e), K_OK);
    assert_int_equal(kdb_listen(a, "models", &e), K_OK); /* twice is fine */
    assert_int_equal(kdb_poll_notified(a), 0);
    assert_int_equal(kdb_begin(b, &e), K_OK);
    assert_int_equal(kdb_notify(b, "models", &e), K_OK);
    usleep(100 * 1000);
    assert_int_equal(kdb_poll_notified(a), 0); /* not before the commit */
    assert_int_equal(kdb_commit(b, &e), K_OK);
    int got = 0;
    for (int i = 0; i < 100 && !got; i++) {
        got = kdb_poll_notified(a);
        if (!got) usleep(20 * 1000);
    }
    assert_int_equal(got, 1);
    assert_int_equal(kdb_poll_notified(a), 0);
    assert_int_equal(kdb_notify(b, "other", &e), K_OK); /* a channel nobody listens on */
    usleep(100 * 1000);
    assert_int_equal(kdb_poll_notified(a), 0);
    kdb_close(b);
    kdb_close(a);
}

/* A failed statement inside a transaction makes COMMIT a rollback: it must not report K_OK. */
static void test_pg_commit_after_error(void **state)
{
    kdb *db = open_fresh(1);
    if (!db) skip();
    kerr e = {0};
    assert_int_equal(kdb_begin(db, &e), K_OK);
    insert(db, "1", "a", NULL, NULL, K_OK);
    insert(db, "1", "a", NULL, NULL, K_EXISTS);
    assert_int_not_equal(kdb_commit(db, &e), K_OK);
    assert_int_equal(count_rows(db), 0);
    kdb_close(db);
}

/* Refused connections say where, in one line, and never show the password. */
static void test_pg_connect_failure(void **state)
{
    kdb *db = NULL;
    kerr e = {0};
    kstatus st = kdb_open("postgresql://kiln:s3cretpassw0rd@127.0.0.1:1/regdb", 0, &db, &e);
    assert_int_equal(st, K_IO);
    assert_null(db);
    assert_non_null(strstr(e.msg, "cannot connect to PostgreSQL at 127.0.0.1:1/regdb: "));
    assert_null(strstr(e.msg, "s3cret"));
    assert_null(strchr(e.msg, '\n'));
    assert_int_equal(kdb_open("postgresql://kiln:s3cretpassw0rd@[bad/x", 0, &db, &e), K_INVALID);
    assert_null(strstr(e.msg, "s3cret"));
    assert_int_equal(kdb_open("postgresql://kiln:s3cretpassw0rd@h/x?bad%zz=1", 0, &db, &e),
                     K_INVALID);
    assert_null(strstr(e.msg, "s3cret"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sqlite_values),
        cmocka_unit_test(test_sqlite_numbers),
        cmocka_unit_test(test_sqlite_errors),
        cmocka_unit_test(test_sqlite_transactions),
        cmocka_unit_test(test_sqlite_one_thread),
        cmocka_unit_test(test_sqlite_upsert_returning),
        cmocka_unit_test(test_sqlite_notify_unsupported),
        cmocka_unit_test(test_pg_connect_failure),
        cmocka_unit_test(test_pg_values),
        cmocka_unit_test(test_pg_numbers),
        cmocka_unit_test(test_pg_errors),
        cmocka_unit_test(test_pg_transactions),
        cmocka_unit_test(test_pg_upsert_returning),
        cmocka_unit_test(test_pg_listen_notify),
        cmocka_unit_test(test_pg_commit_after_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
