/* test_registry.c — the registry's C API on SQLite and (when KILN_TEST_PG_URL names a test
 * cluster) PostgreSQL: migrations on open, registration and resolve, alias rules, the change
 * counter another connection sees within a second, refused input that changes nothing, and a
 * tampered artifact refused on read. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "model/import.h"
#include "model/package.h"
#include "store/db.h"
#include "store/registry.h"

static char tmp[64], sqlite_path[128], art_dir[128], pg_url[512], pg_admin[512], pg_name[64];
static buf pkg;

static int make_pg_db(void)
{
    const char *admin = getenv("KILN_TEST_PG_URL");
    if (!admin || !*admin) return 0;
    snprintf(pg_admin, sizeof pg_admin, "%s", admin);
    snprintf(pg_name, sizeof pg_name, "kiln_test_reg_%ld_%ld", (long)getpid(), (long)time(NULL));
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
    snprintf(tmp, sizeof tmp, "/tmp/kiln-reg-XXXXXX");
    if (!mkdtemp(tmp)) return -1;
    snprintf(sqlite_path, sizeof sqlite_path, "%s/registry.db", tmp);
    snprintf(art_dir, sizeof art_dir, "%s/artifacts", tmp);
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
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
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

static kreg *open_reg(int pg)
{
    kreg_options o = {.store = pg ? pg_url : sqlite_path, .artifacts = art_dir};
    kreg *r = NULL;
    kerr e = {0};
    if (kreg_open(&o, &r, &e)) fail_msg("open: %s", e.msg);
    return r;
}

static kreg_version reg(kreg *r, const char *name, const char *alias)
{
    kreg_register_req q = {
        .name = name, .package = pkg.data, .package_len = pkg.len, .who = "unit", .alias = alias};
    kreg_version v;
    kerr e = {0};
    if (kreg_register(r, &q, &v, &e)) fail_msg("register: %s", e.msg);
    return v;
}

static void lifecycle(int pg)
{
    if (pg && !pg_url[0]) skip();
    kreg *r = open_reg(pg);
    int found, now;
    kreg_schema(r, &found, &now);
    assert_int_equal(now, KREG_SCHEMA_VERSION);
    assert_string_equal(kreg_backend(r), pg ? "postgres" : "sqlite");
    kreg_version v1 = reg(r, "life", NULL), v2 = reg(r, "life", "production");
    assert_int_equal(v1.version, 1);
    assert_int_equal(v2.version, 2);
    assert_string_equal(v1.package_sha256, v2.package_sha256); /* same bytes, one artifact */

    kreg_version got;
    kerr e = {0};
    assert_int_equal(kreg_resolve(r, "life", "production", &got, &e), K_OK);
    assert_int_equal(got.version, 2);
    assert_int_equal(kreg_resolve(r, "life", "", &got, &e), K_OK);
    assert_int_equal(got.version, 2);
    assert_int_equal(kreg_resolve(r, "life", "7", &got, &e), K_NOTFOUND);
    assert_non_null(strstr(e.msg, "no version 7"));
    assert_int_equal(kreg_resolve(r, "nobody", "", &got, &e), K_NOTFOUND);
    assert_non_null(strstr(e.msg, "no model named"));

    assert_int_equal(kreg_delete(r, "life", 2, &e), K_CONFLICT); /* production points at it */
    assert_int_equal(kreg_archive(r, "life", 1, 1, &e), K_OK);
    assert_int_equal(kreg_set_alias(r, "life", "canary", 1, "unit", &e), K_CONFLICT);
    assert_int_equal(kreg_delete(r, "life", 1, &e), K_OK);
    /* the shared artifact stays: version 2 still uses it */
    char *data;
    size_t len;
    assert_int_equal(kreg_read_package(r, &v2, &data, &len, &e), K_OK);
    assert_true(len == pkg.len && memcmp(data, pkg.data, len) == 0);
    free(data);
    kreg_close(r);
}

static void test_lifecycle_sqlite(void **state)
{
    lifecycle(0);
}
static void test_lifecycle_pg(void **state)
{
    lifecycle(1);
}

/* Another connection notices a change through kreg_changes within a second. */
static void changes(int pg)
{
    if (pg && !pg_url[0]) skip();
    kreg *writer = open_reg(pg), *watcher = open_reg(pg);
    kerr e = {0};
    uint64_t before, after = 0;
    reg(writer, "watched", "production");
    assert_int_equal(kreg_changes(watcher, &before, &e), K_OK);
    uint64_t same;
    assert_int_equal(kreg_changes(watcher, &same, &e), K_OK);
    assert_true(same == before);
    assert_int_equal(kreg_set_alias(writer, "watched", "staging", 1, "unit", &e), K_OK);
    for (int i = 0; i < 100 && after <= before; i++) {
        assert_int_equal(kreg_changes(watcher, &after, &e), K_OK);
        if (after <= before) usleep(10000);
    }
    assert_true(after > before);
    /* a refused write does not count as a change */
    assert_int_equal(kreg_set_alias(writer, "watched", "bad alias", 1, "unit", &e), K_INVALID);
    assert_int_equal(kreg_set_alias(writer, "watched", "x", 99, "unit", &e), K_NOTFOUND);
    usleep(50000);
    uint64_t later;
    assert_int_equal(kreg_changes(watcher, &later, &e), K_OK);
    assert_true(later == after);
    kreg_close(writer);
    kreg_close(watcher);
}

static void test_changes_sqlite(void **state)
{
    changes(0);
}
static void test_changes_pg(void **state)
{
    changes(1);
}

static void test_names(void **state)
{
    kerr e = {0};
    const char *good[] = {"demo", "fraud-v2", "a.b_c", "9lives", "X"};
    const char *bad[] = {"", "-x", ".x", "a b", "a@b", "a/b", "ü"};
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_int_equal(kreg_check_name("model", good[i], &e), K_OK);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(kreg_check_name("model", bad[i], &e), K_INVALID);
    char long_name[200];
    memset(long_name, 'a', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    assert_int_equal(kreg_check_name("model", long_name, &e), K_INVALID);
    assert_int_equal(kreg_check_alias("production", &e), K_OK);
    assert_int_equal(kreg_check_alias("latest", &e), K_INVALID);
    assert_int_equal(kreg_check_alias("1", &e), K_INVALID);
    char name[KREG_NAME_MAX + 1], ref[KREG_NAME_MAX + 1];
    assert_int_equal(kreg_split_ref("demo@production", name, ref, &e), K_OK);
    assert_string_equal(name, "demo");
    assert_string_equal(ref, "production");
    assert_int_equal(kreg_split_ref("demo@", name, ref, &e), K_INVALID);
}

/* A package that fails validation is refused before anything is written. */
static void test_bad_package(void **state)
{
    kreg *r = open_reg(0);
    kerr e = {0};
    uint64_t before, after;
    assert_int_equal(kreg_changes(r, &before, &e), K_OK);
    unsigned char *copy = malloc(pkg.len);
    memcpy(copy, pkg.data, pkg.len);
    copy[pkg.len / 2] ^= 1;
    kreg_register_req q = {.name = "bad", .package = copy, .package_len = pkg.len, .who = "unit"};
    kreg_version v;
    assert_int_not_equal(kreg_register(r, &q, &v, &e), K_OK);
    assert_non_null(strstr(e.msg, "not a valid model package"));
    assert_int_equal(kreg_changes(r, &after, &e), K_OK);
    assert_true(after == before);
    assert_int_equal(kreg_resolve(r, "bad", "", &v, &e), K_NOTFOUND);
    free(copy);
    kreg_close(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lifecycle_sqlite),
        cmocka_unit_test(test_lifecycle_pg),
        cmocka_unit_test(test_changes_sqlite),
        cmocka_unit_test(test_changes_pg),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_bad_package),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
