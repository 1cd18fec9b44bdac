/* test_crypt.c — encryption at rest: seal/open round trip, tampering and wrong keys refused
 * without partial output, key files, the artifact store sealing what it writes, reading
 * plaintext artifacts (migration) and rekeying. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/fs.h"
#include "store/artifacts.h"
#include "store/crypt.h"

static char dir[64];
static const char *hex1 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
static const char *hex2 = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static int setup(void **state)
{
    unsetenv("KILN_ARTIFACT_KEY");
    unsetenv("KILN_ARTIFACT_KEY_FILE");
    snprintf(dir, sizeof dir, "/tmp/kiln-crypt-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static kcrypt_key *key(const char *hex)
{
    kcrypt_key *k;
    assert_int_equal(kcrypt_key_from_hex(hex, &k, NULL), K_OK);
    return k;
}

static void test_round_trip_and_tamper(void **state)
{
    kcrypt_key *k = key(hex1), *other = key(hex2);
    const char *msg = "model bytes, secret weights";
    unsigned char *sealed;
    size_t n, len = strlen(msg), plen;
    char *plain = NULL;
    kerr e = {0};
    assert_int_equal(kcrypt_seal(k, msg, len, &sealed, &n, &e), K_OK);
    assert_int_equal(n, len + KCRYPT_OVERHEAD);
    assert_true(kcrypt_is_sealed(sealed, n, NULL));
    assert_null(memmem(sealed, n, "secret", 6));
    assert_int_equal(kcrypt_open(k, sealed, n, &plain, &plen, &e), K_OK);
    assert_int_equal(plen, len);
    assert_memory_equal(plain, msg, len);
    free(plain);
    for (size_t i = 16; i < n; i++) { /* header past the key id, ciphertext and tag */
        plain = NULL;
        sealed[i] ^= 0x80;
        assert_int_equal(kcrypt_open(k, sealed, n, &plain, &plen, &e), K_CHECKSUM);
        assert_null(plain);
        sealed[i] ^= 0x80;
    }
    assert_non_null(strstr(e.msg, "authentication failed: the file was altered"));
    assert_int_equal(kcrypt_open(other, sealed, n, &plain, &plen, &e), K_CHECKSUM);
    assert_non_null(strstr(e.msg, "not the configured key"));
    assert_non_null(strstr(e.msg, kcrypt_key_id(k)));
    assert_null(strstr(e.msg, hex1));
    assert_null(strstr(e.msg, hex2));
    free(sealed);
    kcrypt_key_free(k);
    kcrypt_key_free(other);
}

static void test_key_files(void **state)
{
    char path[128];
    kerr e = {0};
    kcrypt_key *a, *b;
    unsigned char raw[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (unsigned char)i;
    snprintf(path, sizeof path, "%s/raw.key", dir);
    assert_int_equal(fs_write_atomic(path, raw, 32, &e), K_OK);
    assert_int_equal(kcrypt_key_load(path, &a, &e), K_OK);
    snprintf(path, sizeof path, "%s/hex.key", dir);
    char text[80];
    snprintf(text, sizeof text, "%s\n", hex1);
    assert_int_equal(fs_write_atomic(path, text, strlen(text), &e), K_OK);
    assert_int_equal(kcrypt_key_load(path, &b, &e), K_OK);
    assert_string_equal(kcrypt_key_id(a), kcrypt_key_id(b)); /* same 32 bytes */
    kcrypt_key_free(a);
    kcrypt_key_free(b);
    assert_int_equal(fs_write_atomic(path, "abcd", 4, &e), K_OK);
    assert_int_equal(kcrypt_key_load(path, &a, &e), K_INVALID);
    setenv("KILN_ARTIFACT_KEY", "0011zz", 1);
    assert_int_equal(kcrypt_key_from_env(&a, &e), K_INVALID);
    assert_null(strstr(e.msg, "0011zz")); /* key material is never echoed */
    setenv("KILN_ARTIFACT_KEY", hex1, 1);
    assert_int_equal(kcrypt_key_from_env(&a, &e), K_OK);
    assert_non_null(a);
    kcrypt_key_free(a);
    unsetenv("KILN_ARTIFACT_KEY");
    assert_int_equal(kcrypt_key_from_env(&a, &e), K_OK);
    assert_null(a);
}

static void file_of(artifacts *a, const char *sha, char **data, size_t *len)
{
    char path[4200];
    assert_int_equal(artifacts_path(a, sha, path, sizeof path, NULL), K_OK);
    assert_int_equal(fs_read_all(path, 1 << 20, data, len, NULL), K_OK);
}

static void flip_file_byte(artifacts *a, const char *sha, size_t at)
{
    char path[4200];
    assert_int_equal(artifacts_path(a, sha, path, sizeof path, NULL), K_OK);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, (long)at, SEEK_SET);
    int c = fgetc(f);
    fseek(f, (long)at, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
}

static void test_store_encrypts(void **state)
{
    char sub[128], sha[SHA256_HEX_LEN], *data, *raw;
    size_t len, raw_len;
    kerr e = {0};
    artifacts *a;
    snprintf(sub, sizeof sub, "%s/enc", dir);
    assert_int_equal(artifacts_open(sub, &a, &e), K_OK);
    artifacts_set_key(a, key(hex1));
    assert_int_equal(artifacts_put(a, "model bytes", 11, sha, &e), K_OK);
    file_of(a, sha, &raw, &raw_len);
    assert_true(kcrypt_is_sealed(raw, raw_len, NULL));
    assert_null(memmem(raw, raw_len, "model", 5));
    free(raw);
    assert_int_equal(artifacts_get(a, sha, 1024, &data, &len, &e), K_OK);
    assert_int_equal(len, 11);
    assert_memory_equal(data, "model bytes", 11);
    free(data);
    /* a flipped byte: refused, nothing returned */
    flip_file_byte(a, sha, raw_len - 3);
    data = NULL;
    assert_int_equal(artifacts_get(a, sha, 1024, &data, &len, &e), K_CHECKSUM);
    assert_null(data);
    assert_non_null(strstr(e.msg, "authentication failed"));
    char head[13];
    snprintf(head, sizeof head, "%.12s", sha);
    assert_non_null(strstr(e.msg, head)); /* "artifact ab12…: authentication failed: …" */
    /* putting the same bytes again repairs it */
    assert_int_equal(artifacts_put(a, "model bytes", 11, sha, &e), K_OK);
    assert_int_equal(artifacts_get(a, sha, 1024, &data, &len, &e), K_OK);
    free(data);
    /* the wrong key, or none */
    artifacts_set_key(a, key(hex2));
    assert_int_equal(artifacts_get(a, sha, 1024, &data, &len, &e), K_CHECKSUM);
    assert_non_null(strstr(e.msg, "not the configured key"));
    artifacts_set_key(a, NULL);
    assert_int_equal(artifacts_get(a, sha, 1024, &data, &len, &e), K_INVALID);
    assert_non_null(strstr(e.msg, "no artifact key is configured"));
    artifacts_close(a);
}

static void test_migration_and_rekey(void **state)
{
    char sub[128], s1[SHA256_HEX_LEN], s2[SHA256_HEX_LEN], *data, *raw;
    size_t len, raw_len;
    kerr e = {0};
    artifacts *a;
    snprintf(sub, sizeof sub, "%s/mig", dir);
    assert_int_equal(artifacts_open(sub, &a, &e), K_OK);
    assert_int_equal(artifacts_put(a, "plain one", 9, s1, &e), K_OK); /* no key yet */
    kcrypt_key *k1 = key(hex1), *k2 = key(hex2);
    artifacts_set_key(a, key(hex1));
    assert_int_equal(artifacts_get(a, s1, 1024, &data, &len, &e), K_OK); /* plaintext still read */
    free(data);
    assert_int_equal(artifacts_put(a, "sealed two", 10, s2, &e), K_OK);
    artifacts_rekey_stats st;
    assert_int_equal(artifacts_rekey(a, NULL, k2, &st, &e), K_CHECKSUM); /* s2 needs the old key */
    assert_int_equal(st.encrypted, 1);
    assert_int_equal(st.failed, 1);
    assert_non_null(strstr(e.msg, "--old-key-file"));
    assert_int_equal(artifacts_rekey(a, k1, k2, &st, &e), K_OK);
    assert_int_equal(st.rekeyed, 1);
    assert_int_equal(st.unchanged, 1);
    assert_int_equal(artifacts_rekey(a, k1, k2, &st, &e), K_OK); /* idempotent */
    assert_int_equal(st.unchanged, 2);
    file_of(a, s1, &raw, &raw_len);
    assert_true(kcrypt_is_sealed(raw, raw_len, NULL));
    free(raw);
    assert_int_equal(artifacts_get(a, s2, 1024, &data, &len, &e), K_CHECKSUM); /* old key now */
    artifacts_set_key(a, key(hex2));
    assert_int_equal(artifacts_get(a, s1, 1024, &data, &len, &e), K_OK);
    assert_memory_equal(data, "plain one", 9);
    free(data);
    assert_int_equal(artifacts_get(a, s2, 1024, &data, &len, &e), K_OK);
    assert_memory_equal(data, "sealed two", 10);
    free(data);
    kcrypt_key_free(k1);
    kcrypt_key_free(k2);
    artifacts_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_tamper),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_store_encrypts),
        cmocka_unit_test(test_migration_and_rekey),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
