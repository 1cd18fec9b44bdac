/* test_sign.c — Ed25519 package signatures: sign and verify, any flipped byte refused, wrong
 * key, the require_signed policy, re-signing, key files and trust lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "model/package.h"
#include "model/sign.h"

static char dir[64];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-sign-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A one-feature linear regression, packaged. */
static buf package(void)
{
    kspec *s = kspec_new(1 << 20);
    static kfeature f[1];
    f[0] = (kfeature){"x", KFEAT_NUMERIC, NAN, NAN, 0, NULL};
    s->features = f;
    s->n_features = 1;
    static const double coef[] = {2.0}, icpt[] = {0.5};
    s->kind = KEST_LINEAR;
    s->linear = (klinear){1, 1, coef, icpt};
    s->task = KTASK_REGRESSION;
    s->n_outputs = 1;
    s->link = KLINK_IDENTITY;
    buf b;
    buf_init(&b, 1 << 24);
    kerr e = {0};
    assert_int_equal(kpkg_write(s, &b, &e), K_OK);
    kspec_free(s);
    return b;
}

static buf sign(const ksign_key *k, const void *data, size_t len)
{
    buf out;
    buf_init(&out, 1 << 24);
    kerr e = {0};
    assert_int_equal(ksign_sign(k, data, len, &out, &e), K_OK);
    return out;
}

static ksign_trust *trust_of(const ksign_key *k)
{
    ksign_trust *t;
    char line[KSIGN_PUBLIC_MAX];
    assert_int_equal(ksign_trust_new(&t, NULL), K_OK);
    if (k) {
        ksign_key_public(k, line);
        assert_int_equal(ksign_trust_add(t, line, NULL), K_OK);
    }
    return t;
}

static int reads(const buf *b)
{
    kspec *s = NULL;
    kstatus st = kpkg_read(b->data, b->len, &s, NULL);
    kspec_free(s);
    return st == K_OK;
}

static void test_sign_verify(void **state)
{
    ksign_key *k;
    kerr e = {0};
    assert_int_equal(ksign_key_generate(&k, &e), K_OK);
    buf p = package(), s = sign(k, p.data, p.len);
    assert_int_equal(s.len, p.len + KPKG_SIG_SIZE);
    assert_true(reads(&s)); /* every reader still accepts a signed package */
    ksign_trust *t = trust_of(k);
    assert_int_equal(ksign_check(t, 1, s.data, s.len, &e), K_OK);
    assert_int_equal(ksign_check(NULL, 0, s.data, s.len, &e), K_OK); /* integrity only */
    int is_signed;
    char id[KSIGN_ID_HEX];
    assert_int_equal(ksign_inspect(s.data, s.len, &is_signed, id, &e), K_OK);
    assert_true(is_signed);
    assert_string_equal(id, ksign_key_id(k));
    char sum_p[65], sum_s[65];
    kpkg_checksum_hex(p.data, p.len, sum_p, &e);
    kpkg_checksum_hex(s.data, s.len, sum_s, &e);
    assert_string_equal(sum_p, sum_s);
    ksign_trust_free(t);
    buf_free(&p);
    buf_free(&s);
    ksign_key_free(k);
}

/* Flipping any single byte of a signed package gets it refused: by the signature check, or
 * (where the flip unmakes the signature block) by the package reader or the policy. */
static void test_any_flipped_byte_refused(void **state)
{
    ksign_key *k;
    assert_int_equal(ksign_key_generate(&k, NULL), K_OK);
    buf p = package(), s = sign(k, p.data, p.len);
    ksign_trust *t = trust_of(k);
    for (size_t i = 0; i < s.len; i++) {
        s.data[i] ^= 0x01;
        assert_true(ksign_check(t, 1, s.data, s.len, NULL) != K_OK);
        assert_true(ksign_check(t, 0, s.data, s.len, NULL) != K_OK || !reads(&s));
        assert_true(ksign_check(NULL, 0, s.data, s.len, NULL) != K_OK || !reads(&s));
        s.data[i] ^= 0x01;
    }
    assert_int_equal(ksign_check(t, 1, s.data, s.len, NULL), K_OK);
    ksign_trust_free(t);
    buf_free(&p);
    buf_free(&s);
    ksign_key_free(k);
}

static void test_wrong_key(void **state)
{
    ksign_key *k, *other;
    kerr e = {0};
    assert_int_equal(ksign_key_generate(&k, NULL), K_OK);
    assert_int_equal(ksign_key_generate(&other, NULL), K_OK);
    buf p = package(), s = sign(k, p.data, p.len);
    ksign_trust *t = trust_of(other);
    assert_int_equal(ksign_check(t, 0, s.data, s.len, &e), K_CHECKSUM);
    assert_non_null(strstr(e.msg, "signature does not verify with any trusted key"));
    assert_int_equal(ksign_check(t, 1, s.data, s.len, &e), K_CHECKSUM);
    ksign_trust_free(t);
    t = trust_of(NULL);
    assert_int_equal(ksign_check(t, 1, s.data, s.len, &e), K_CHECKSUM); /* none trusted */
    ksign_trust_free(t);
    buf_free(&p);
    buf_free(&s);
    ksign_key_free(k);
    ksign_key_free(other);
}

static void test_unsigned_policy(void **state)
{
    kerr e = {0};
    buf p = package();
    assert_int_equal(ksign_check(NULL, 0, p.data, p.len, &e), K_OK);
    assert_int_equal(ksign_check(NULL, 1, p.data, p.len, &e), K_INVALID);
    assert_non_null(strstr(e.msg, "the package is not signed"));
    int is_signed = 1;
    char id[KSIGN_ID_HEX];
    assert_int_equal(ksign_inspect(p.data, p.len, &is_signed, id, &e), K_OK);
    assert_false(is_signed);
    assert_int_equal(ksign_check(NULL, 0, "not a package", 13, &e), K_FORMAT);
    buf_free(&p);
}

static void test_resign_replaces(void **state)
{
    ksign_key *k1, *k2;
    assert_int_equal(ksign_key_generate(&k1, NULL), K_OK);
    assert_int_equal(ksign_key_generate(&k2, NULL), K_OK);
    buf p = package(), s1 = sign(k1, p.data, p.len), s2 = sign(k2, s1.data, s1.len);
    assert_int_equal(s2.len, s1.len);
    assert_memory_equal(s2.data, p.data, p.len);
    ksign_trust *t1 = trust_of(k1), *t2 = trust_of(k2);
    assert_int_equal(ksign_check(t2, 1, s2.data, s2.len, NULL), K_OK);
    assert_int_equal(ksign_check(t1, 1, s2.data, s2.len, NULL), K_CHECKSUM);
    assert_true(reads(&s2));
    ksign_trust_free(t1);
    ksign_trust_free(t2);
    buf_free(&p);
    buf_free(&s1);
    buf_free(&s2);
    ksign_key_free(k1);
    ksign_key_free(k2);
}

static void test_key_files_and_trust_dir(void **state)
{
    char path[256], pub[270], keys[128];
    kerr e = {0};
    ksign_key *k, *loaded;
    snprintf(keys, sizeof keys, "%s/trusted", dir);
    assert_int_equal(mkdir(keys, 0755), 0);
    snprintf(path, sizeof path, "%s/signing.key", keys);
    assert_int_equal(ksign_key_generate(&k, NULL), K_OK);
    assert_int_equal(ksign_key_save(k, path, 0, &e), K_OK);
    assert_int_equal(ksign_key_save(k, path, 0, &e), K_EXISTS);
    assert_int_equal(ksign_key_save(k, path, 1, &e), K_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(ksign_key_load(path, &loaded, &e), K_OK);
    assert_string_equal(ksign_key_id(loaded), ksign_key_id(k));
    /* the directory's *.pub files are trusted; the secret key file next to them is not read */
    ksign_trust *t;
    assert_int_equal(ksign_trust_new(&t, NULL), K_OK);
    assert_int_equal(ksign_trust_load(t, keys, &e), K_OK);
    assert_int_equal(ksign_trust_count(t), 1);
    snprintf(pub, sizeof pub, "%s.pub", path);
    assert_int_equal(ksign_trust_load(t, pub, &e), K_OK); /* a file; duplicates collapse */
    assert_int_equal(ksign_trust_count(t), 1);
    buf p = package(), s = sign(loaded, p.data, p.len);
    assert_int_equal(ksign_check(t, 1, s.data, s.len, &e), K_OK);
    assert_int_equal(ksign_trust_load(t, path, &e), K_FORMAT); /* a secret key is no trust list */
    assert_int_equal(ksign_key_load(pub, &loaded, &e) == K_OK, 0);
    ksign_trust_free(t);
    buf_free(&p);
    buf_free(&s);
    ksign_key_free(k);
    ksign_key_free(loaded);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sign_verify),     cmocka_unit_test(test_any_flipped_byte_refused),
        cmocka_unit_test(test_wrong_key),       cmocka_unit_test(test_unsigned_policy),
        cmocka_unit_test(test_resign_replaces), cmocka_unit_test(test_key_files_and_trust_dir),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
