/* test_artifacts.c — the content-addressed store: names are SHA-256 of the content, writes are
 * idempotent, reads verify, tampering and bad names are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/artifacts.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-artifacts-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_put_get(void **state)
{
    artifacts *a;
    kerr e = {0};
    char sha[SHA256_HEX_LEN], again[SHA256_HEX_LEN];
    assert_int_equal(artifacts_open(dir, &a, &e), K_OK);
    assert_int_equal(artifacts_put(a, "abc", 3, sha, &e), K_OK);
    /* the SHA-256 of "abc" (FIPS 180-2 test vector) */
    assert_string_equal(sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(artifacts_put(a, "abc", 3, again, &e), K_OK);
    assert_string_equal(sha, again);
    char *data;
    size_t len;
    assert_int_equal(artifacts_get(a, sha, 1024, &data, &len, &e), K_OK);
    assert_true(len == 3 && memcmp(data, "abc", 3) == 0);
    free(data);
    assert_true(artifacts_has(a, sha));
    artifacts_close(a);
}

static void test_tamper_and_names(void **state)
{
    artifacts *a;
    kerr e = {0};
    char sha[SHA256_HEX_LEN], path[4096];
    assert_int_equal(artifacts_open(dir, &a, &e), K_OK);
    assert_int_equal(artifacts_put(a, "model bytes", 11, sha, &e), K_OK);
    assert_int_equal(artifacts_path(a, sha, path, sizeof path, &e), K_OK);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fputc('M', f); /* flip the first byte on disk */
    fclose(f);
    char *data = NULL;
    size_t len;
    assert_int_equal(artifacts_get(a, sha, 1024, &data, &len, &e), K_CHECKSUM);
    assert_null(data);
    assert_non_null(strstr(e.msg, "corrupt"));
    char again[SHA256_HEX_LEN]; /* storing the same bytes again repairs the damaged copy */
    assert_int_equal(artifacts_put(a, "model bytes", 11, again, &e), K_OK);
    assert_int_equal(artifacts_get(a, sha, 1024, &data, &len, &e), K_OK);
    assert_true(len == 11 && memcmp(data, "model bytes", 11) == 0);
    free(data);
    data = NULL;
    assert_int_equal(artifacts_remove(a, sha, &e), K_OK);
    assert_int_equal(artifacts_get(a, sha, 1024, &data, &len, &e), K_NOTFOUND);
    assert_int_equal(artifacts_remove(a, sha, &e), K_NOTFOUND);
    assert_int_equal(artifacts_get(a, "../../etc/passwd", 1024, &data, &len, &e), K_INVALID);
    assert_int_equal(artifacts_get(a, "ABC", 1024, &data, &len, &e), K_INVALID);
    assert_false(artifacts_has(a, "not-a-hash"));
    artifacts_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get),
        cmocka_unit_test(test_tamper_and_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
