/* test_audit.c — the audit log's C API: registry writes recorded with actor, action, object and
 * outcome; a rolled-back action leaves no record; the JSONL mirror; gap-free numbering under
 * concurrent writers (SQLite, and PostgreSQL when KILN_TEST_PG_URL names a test cluster); and
 * tampering through raw SQL or the file (edit, delete, reorder, rewrite with a fresh hash,
 * newest record deleted) named at the first bad record; a pinned head catches the newest
 * records removed from both. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "model/import.h"
#include "model/package.h"
#include "store/audit.h"
#include "store/db.h"
#include "store/registry.h"
#include "store/registry_impl.h"

static char root[64], pg_url[512], pg_admin[512], pg_name[64];
static buf pkg;
static int n_dirs;

static int make_pg_db(void)
{
    const char *admin = getenv("KILN_TEST_PG_URL");
    if (!admin || !*admin) return 0;
    snprintf(pg_admin, sizeof pg_admin, "%s", admin);
    snprintf(pg_name, sizeof pg_name, "kiln_test_audit_%ld_%ld", (long)getpid(), (long)time(NULL));
    const char *slash = strrchr(admin, '/');
    snprintf(pg_url, sizeof pg_url, "%.*s/%s", (int)(slash - admin), admin, pg_name);
    kdb *db;
    kerr e = {0};
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", pg_name);
    if (kdb_open(admin, 0, &db, &e)) return -1;
    kstatus st = kdb_exec(db, sql, &e);
    kdb_close(db);
    return st ? -1 : 0;
}

static int setup(void **state)
{
    snprintf(root, sizeof root, "/tmp/kiln-audit-XXXXXX");
    if (!mkdtemp(root)) return -1;
    kspec *s;
    kerr e = {0};
    buf_init(&pkg, (size_t)1 << 28);
    if (import_file(KILN_SOURCE_DIR "/examples/demo/model.json", KFMT_AUTO, &s, &e)) return -1;
    kstatus st = kpkg_write(s, &pkg, &e);
    kspec_free(s);
    return st ? -1 : make_pg_db();
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    int rc = system(cmd) == 0 ? 0 : -1;
    buf_free(&pkg);
    if (!pg_url[0]) return rc;
    kdb *db = NULL;
    kerr e = {0};
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", pg_name);
    if (kdb_open(pg_admin, 0, &db, &e) || kdb_exec(db, sql, &e)) rc = -1;
    kdb_close(db);
    return rc;
}

/* A fresh SQLite registry in its own directory (or the PostgreSQL test database). */
typedef struct {
    char dir[128], store[600], art[160], jsonl[160];
} place;

static void fresh(place *p, int pg)
{
    snprintf(p->dir, sizeof p->dir, "%s/r%d", root, ++n_dirs);
    snprintf(p->art, sizeof p->art, "%s/artifacts", p->dir);
    snprintf(p->jsonl, sizeof p->jsonl, "%s/audit.jsonl", p->dir);
    if (pg)
        snprintf(p->store, sizeof p->store, "%s", pg_url);
    else
        snprintf(p->store, sizeof p->store, "%s/registry.db", p->dir);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", p->dir);
    assert_int_equal(system(cmd), 0);
    if (pg) { /* the PostgreSQL test database is shared: start from an empty log */
        kerr e = {0};
        kdb *db;
        assert_int_equal(kdb_open(p->store, 0, &db, &e), K_OK);
        kdb_exec(db, "DELETE FROM audit_log", &e); /* fails before the first migration */
        kdb_close(db);
    }
}

static kreg *open_reg(const place *p, int pg)
{
    kreg_options o = {
        .store = p->store, .artifacts = p->art, .user = "alice", .home = pg ? p->dir : NULL};
    kreg *r = NULL;
    kerr e = {0};
    if (kreg_open(&o, &r, &e)) fail_msg("open: %s", e.msg);
    return r;
}

static void append(kreg *r, const char *action, const char *object)
{
    kaudit_event ev = {.actor = "ops",
                       .address = "10.0.0.7",
                       .action = action,
                       .object = object,
                       .outcome = "ok",
                       .detail = "unit"};
    kerr e = {0};
    if (kaudit_append(r, &ev, &e)) fail_msg("append: %s", e.msg);
}

static kaudit_report verify(kreg *r)
{
    kaudit_report rep;
    kerr e = {0};
    if (kaudit_verify(r, &rep, &e)) fail_msg("verify: %s", e.msg);
    return rep;
}

static const char *field(json_object *list, size_t i, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(json_object_array_get_idx(list, i), key, &v)) return "";
    return json_object_get_string(v);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

/* ---- registry writes are recorded --------------------------------------------------------- */

static void recorded(int pg)
{
    if (pg && !pg_url[0]) skip();
    place p;
    fresh(&p, pg);
    kreg *r = open_reg(&p, pg);
    kreg_register_req q = {
        .name = "demo", .package = pkg.data, .package_len = pkg.len, .who = "bob"};
    kreg_version v;
    kerr e = {0};
    assert_int_equal(kreg_register(r, &q, &v, &e), K_OK);
    assert_int_equal(kreg_register(r, &q, &v, &e), K_OK);
    assert_int_equal(kreg_set_alias(r, "demo", "production", 2, "bob", &e), K_OK);
    assert_int_equal(kreg_archive(r, "demo", 2, 1, &e), K_CONFLICT); /* refused: recorded */
    assert_int_equal(kreg_archive(r, "demo", 1, 1, &e), K_OK);
    const char *keys[] = {"team"}, *vals[] = {"risk"};
    assert_int_equal(kreg_set_tags(r, "demo", 0, 1, keys, vals, &e), K_OK);
    assert_int_equal(kreg_delete(r, "demo", 1, &e), K_OK);
    assert_int_equal(kreg_delete_alias(r, "demo", "production", "carol", &e), K_OK);

    json_object *list;
    assert_int_equal(kaudit_list(r, 0, 0, &list, &e), K_OK);
    static const char *const want[][4] = {
        {"model.register", "demo@1", "bob", "ok"},
        {"model.register", "demo@2", "bob", "ok"},
        {"alias.set", "demo:production", "bob", "ok"},
        {"version.archive", "demo@2", "alice", "conflict"},
        {"version.archive", "demo@1", "alice", "ok"},
        {"tags.set", "demo", "alice", "ok"},
        {"version.delete", "demo@1", "alice", "ok"},
        {"alias.delete", "demo:production", "carol", "ok"},
    };
    size_t n = sizeof want / sizeof want[0];
    assert_int_equal(json_object_array_length(list), n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(field(list, i, "action"), want[i][0]);
        assert_string_equal(field(list, i, "object"), want[i][1]);
        assert_string_equal(field(list, i, "actor"), want[i][2]);
        assert_string_equal(field(list, i, "outcome"), want[i][3]);
        assert_string_equal(field(list, i, "address"), "local");
    }
    assert_string_equal(field(list, 2, "detail"), "version 2 (new)");
    assert_string_equal(field(list, 5, "detail"), "team=risk");
    json_object_put(list);
    assert_int_equal(kaudit_list(r, 0, 3, &list, &e), K_OK); /* the newest three */
    assert_int_equal(json_object_array_length(list), 3);
    assert_string_equal(field(list, 0, "seq"), "6");
    json_object_put(list);
    assert_int_equal(kaudit_list(r, kreg__now_ms() + 60000, 0, &list, &e), K_OK);
    assert_int_equal(json_object_array_length(list), 0);
    json_object_put(list);

    kaudit_report rep = verify(r);
    assert_int_equal(rep.bad_seq, 0);
    assert_int_equal(rep.records, (int64_t)n);
    assert_int_equal(rep.file_records, (int64_t)n);
    assert_int_equal(count_lines(p.jsonl), (int)n);
    kreg_close(r);
}

static void test_recorded_sqlite(void **state)
{
    recorded(0);
}
static void test_recorded_pg(void **state)
{
    recorded(1);
}

/* ---- a rolled-back action leaves no record ----------------------------------------------- */

static kstatus append_then_fail(kreg *r, void *ctx, kerr *e)
{
    append(r, "key.create", "k1");
    return kerr_set(e, K_IO, "simulated failure after the append");
}

static void test_rollback(void **state)
{
    place p;
    fresh(&p, 0);
    kreg *r = open_reg(&p, 0);
    append(r, "model.load", "demo@1");
    kerr e = {0};
    assert_int_equal(kreg__write(r, append_then_fail, NULL, &e), K_IO);
    append(r, "model.unload", "demo@1");
    kaudit_report rep = verify(r);
    assert_int_equal(rep.bad_seq, 0);
    assert_int_equal(rep.records, 2);
    assert_int_equal(count_lines(p.jsonl), 2);
    kaudit_event bad_ev = {.actor = "x", .action = "", .object = "o", .outcome = "ok"};
    assert_int_equal(kaudit_append(r, &bad_ev, &e), K_INVALID);
    kreg_close(r);
}

/* ---- concurrent writers get consecutive numbers ------------------------------------------- */

static void concurrent(int pg)
{
    if (pg && !pg_url[0]) skip();
    place p;
    fresh(&p, pg);
    kreg_close(open_reg(&p, pg)); /* migrate once */
    enum { WRITERS = 4, EACH = 25 };
    for (int w = 0; w < WRITERS; w++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            kreg *r = open_reg(&p, pg);
            for (int i = 0; i < EACH; i++) {
                kaudit_event ev = {
                    .actor = "w", .action = "model.load", .object = "x", .outcome = "ok"};
                if (kaudit_append(r, &ev, NULL)) _exit(1);
            }
            kreg_close(r);
            _exit(0);
        }
    }
    for (int w = 0; w < WRITERS; w++) {
        int status;
        wait(&status);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    kreg *r = open_reg(&p, pg);
    kaudit_report rep = verify(r);
    if (rep.bad_seq) fail_msg("%s", rep.message);
    assert_int_equal(rep.records, WRITERS * EACH);
    assert_int_equal(rep.file_records, WRITERS * EACH);
    kreg_close(r);
}

static void test_concurrent_sqlite(void **state)
{
    concurrent(0);
}
static void test_concurrent_pg(void **state)
{
    concurrent(1);
}

/* ---- tampering ------------------------------------------------------------------------------ */

/* Six records, then `sql` run on a separate raw connection, then verify. */
static kaudit_report tampered(int pg, const char *sql, place *p)
{
    fresh(p, pg);
    kreg *r = open_reg(p, pg);
    const char *objs[] = {"demo@1", "demo@2", "demo:production", "demo@3", "demo@4", "k1"};
    for (int i = 0; i < 6; i++)
        append(r, i == 5 ? "key.create" : "model.register", objs[i]);
    kaudit_report rep = verify(r);
    assert_int_equal(rep.bad_seq, 0);
    if (sql) {
        kerr e = {0};
        kdb *db;
        assert_int_equal(kdb_open(p->store, 0, &db, &e), K_OK);
        if (kdb_exec(db, sql, &e)) fail_msg("tamper: %s", e.msg);
        kdb_close(db);
    }
    rep = verify(r);
    kreg_close(r);
    return rep;
}

static void expect(const kaudit_report *rep, int64_t seq, const char *where, const char *text)
{
    if (rep->bad_seq != seq || strcmp(rep->where, where) != 0 || !strstr(rep->message, text))
        fail_msg("expected record %lld (%s) '%s', got %lld (%s) '%s'", (long long)seq, where, text,
                 (long long)rep->bad_seq, rep->where, rep->message);
}

static void tamper_db(int pg)
{
    if (pg && !pg_url[0]) skip();
    place p;
    kaudit_report rep;
    rep = tampered(pg, "UPDATE audit_log SET actor = 'mallory' WHERE seq = 3", &p);
    expect(&rep, 3, "database", "record 3: hash mismatch (edited?)");
    rep = tampered(pg, "DELETE FROM audit_log WHERE seq = 4", &p);
    expect(&rep, 4, "database", "record 4 missing (deleted?)");
    rep = tampered(pg,
                   "UPDATE audit_log SET seq = -1 WHERE seq = 2; UPDATE audit_log SET seq = 2 "
                   "WHERE seq = 5; UPDATE audit_log SET seq = 5 WHERE seq = -1",
                   &p);
    expect(&rep, 2, "database", "record 2 out of order");
    rep = tampered(pg, "DELETE FROM audit_log WHERE seq = 6", &p); /* the newest */
    expect(&rep, 6, "database", "record 6 missing from the database");
    rep = tampered(pg, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 1", &p);
    expect(&rep, 1, "database", "record 1: hash mismatch");
}

static void test_tamper_db_sqlite(void **state)
{
    tamper_db(0);
}
static void test_tamper_db_pg(void **state)
{
    tamper_db(1);
}

/* A record rewritten with a correct fresh hash of its own: the next link breaks. */
static void test_tamper_rehashed(void **state)
{
    place p;
    kaudit_report rep = tampered(0, NULL, &p);
    kdb *db;
    kerr e = {0};
    assert_int_equal(kdb_open(p.store, 0, &db, &e), K_OK);
    kdb_rows *rows;
    assert_int_equal(
        kdb_query(db, "SELECT at_ms, prev_hash FROM audit_log WHERE seq = 3", 0, NULL, &rows, &e),
        K_OK);
    kaudit_event ev = {.actor = "mallory",
                       .address = "10.0.0.7",
                       .action = "model.register",
                       .object = "demo:production",
                       .outcome = "ok",
                       .detail = "unit"};
    char h[SHA256_HEX_LEN];
    kaudit_hash(3, kdb_int(rows, 0, 0, 0), &ev, kdb_value(rows, 0, 1), h);
    kdb_rows_free(rows);
    const char *prm[] = {h};
    assert_int_equal(kdb_query(db,
                               "UPDATE audit_log SET actor = 'mallory', hash = $1 WHERE seq = 3", 1,
                               prm, NULL, &e),
                     K_OK);
    kdb_close(db);
    kreg *r = open_reg(&p, 0);
    rep = verify(r);
    kreg_close(r);
    expect(&rep, 4, "database", "record 4: chain broken");
}

/* Rewrites line `line` (1-based) of the file with `from` replaced by `to`, or drops it when
 * `to` is NULL. */
static void edit_line(const char *path, int line, const char *from, const char *to)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[64][2048];
    int n = 0;
    while (n < 64 && fgets(text[n], sizeof text[n], f))
        n++;
    fclose(f);
    f = fopen(path, "w");
    for (int i = 0; i < n; i++) {
        if (i + 1 != line) {
            fputs(text[i], f);
            continue;
        }
        if (!to) continue;
        char *at = strstr(text[i], from);
        assert_non_null(at);
        fprintf(f, "%.*s%s%s", (int)(at - text[i]), text[i], to, at + strlen(from));
    }
    fclose(f);
}

static void test_tamper_file(void **state)
{
    place p;
    tampered(0, NULL, &p);
    edit_line(p.jsonl, 3, "\"ops\"", "\"eve\"");
    kreg *r = open_reg(&p, 0);
    kaudit_report rep = verify(r);
    expect(&rep, 3, "file", "record 3 in");
    expect(&rep, 3, "file", "hash mismatch (edited?)");
    kreg_close(r);

    tampered(0, NULL, &p);
    edit_line(p.jsonl, 2, NULL, NULL);
    r = open_reg(&p, 0);
    rep = verify(r);
    expect(&rep, 2, "file", "record 2 missing from");
    kreg_close(r);

    tampered(0, NULL, &p);
    remove(p.jsonl);
    r = open_reg(&p, 0);
    rep = verify(r);
    expect(&rep, 1, "file", "is missing");
    append(r, "model.load", "demo@1"); /* the next write brings the file back up to date */
    rep = verify(r);
    assert_int_equal(rep.bad_seq, 0);
    assert_int_equal(rep.file_records, 7);
    kreg_close(r);
}

/* The newest records removed from the database and the file alike leave a valid, shorter
 * chain: only a head hash kept elsewhere (kaudit_head) and passed as a pin catches that. */
static void test_pinned_head(void **state)
{
    place p;
    tampered(0, NULL, &p);
    kreg *r = open_reg(&p, 0);
    int64_t seq;
    char head[SHA256_HEX_LEN], old[SHA256_HEX_LEN];
    kerr e = {0};
    assert_int_equal(kaudit_head(r, &seq, head, &e), K_OK);
    assert_int_equal(seq, 6);
    kaudit_report rep;
    assert_int_equal(kaudit_verify_pinned(r, head, &rep, &e), K_OK);
    assert_int_equal(rep.bad_seq, 0);
    assert_string_equal(rep.head_hash, head);
    append(r, "model.load", "demo@1"); /* the log grows past the pin: still fine */
    assert_int_equal(kaudit_verify_pinned(r, head, &rep, &e), K_OK);
    assert_int_equal(rep.bad_seq, 0);
    snprintf(old, sizeof old, "%s", head);
    kreg_close(r);

    kdb *db;
    assert_int_equal(kdb_open(p.store, 0, &db, &e), K_OK);
    assert_int_equal(kdb_exec(db, "DELETE FROM audit_log WHERE seq >= 6", &e), K_OK);
    kdb_close(db);
    edit_line(p.jsonl, 7, NULL, NULL);
    edit_line(p.jsonl, 6, NULL, NULL);
    r = open_reg(&p, 0);
    rep = verify(r);
    assert_int_equal(rep.bad_seq, 0); /* unpinned, the shorter chain looks intact */
    assert_int_equal(rep.records, 5);
    assert_int_equal(kaudit_verify_pinned(r, old, &rep, &e), K_OK);
    expect(&rep, 6, "database", "is not in the log");
    assert_int_equal(kaudit_verify_pinned(r, "not-a-hash", &rep, &e), K_OK);
    expect(&rep, 6, "pin", "not a record hash");
    kreg_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_sqlite), cmocka_unit_test(test_recorded_pg),
        cmocka_unit_test(test_rollback),        cmocka_unit_test(test_concurrent_sqlite),
        cmocka_unit_test(test_concurrent_pg),   cmocka_unit_test(test_tamper_db_sqlite),
        cmocka_unit_test(test_tamper_db_pg),    cmocka_unit_test(test_tamper_rehashed),
        cmocka_unit_test(test_tamper_file),
        cmocka_unit_test(test_pinned_head),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
