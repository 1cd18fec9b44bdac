/* test_tls.c — the server's TLS material (src/serve/tls.h) without a network: certificates and
 * keys made here with GnuTLS (ECDSA P-256, self-signed), then what ktls_new accepts and refuses
 * and with which message (a key of another certificate, an expired certificate, an encrypted key
 * without or with the wrong passphrase, a CA file with no certificate, settings that do not go
 * together), and that ktls_reload keeps the current material when the new files are bad. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "serve/tls.h"

#define DAY 86400

static char dir[64];

static const char *path(const char *name)
{
    static char p[8][128];
    static int next;
    char *out = p[next++ % 8];
    snprintf(out, sizeof p[0], "%s/%s", dir, name);
    return out;
}

static void write_file(const char *name, const void *data, size_t len)
{
    FILE *f = fopen(path(name), "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A P-256 key, written as `key_name` (PKCS#8 PEM, encrypted when `password` is set), and a
 * self-signed certificate for it valid from `from` to `until`, written as `cert_name`. */
static void make_pair(const char *cert_name, const char *key_name, const char *password,
                      time_t from, time_t until)
{
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    assert_int_equal(gnutls_x509_privkey_init(&key), 0);
    assert_int_equal(gnutls_x509_privkey_generate(
                         key, GNUTLS_PK_ECDSA, GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
                     0);
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    unsigned char serial[] = {1, 2, 3, 4};
    assert_int_equal(gnutls_x509_crt_set_version(crt, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(crt, serial, sizeof serial), 0);
    assert_int_equal(gnutls_x509_crt_set_dn(crt, "CN=localhost", NULL), 0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(crt, from), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(crt, until), 0);
    assert_int_equal(gnutls_x509_crt_set_key(crt, key), 0);
    assert_int_equal(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
    gnutls_datum_t out;
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &out), 0);
    write_file(cert_name, out.data, out.size);
    gnutls_free(out.data);
    assert_int_equal(gnutls_x509_privkey_export2_pkcs8(
                         key, GNUTLS_X509_FMT_PEM, password,
                         password ? GNUTLS_PKCS_PBES2_AES_256 : GNUTLS_PKCS_PLAIN, &out),
                     0);
    write_file(key_name, out.data, out.size);
    gnutls_free(out.data);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
}

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-tls-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    time_t now = time(NULL);
    make_pair("a.pem", "a.key", NULL, now - DAY, now + 30 * DAY);
    make_pair("b.pem", "b.key", NULL, now - DAY, now + 30 * DAY);
    make_pair("old.pem", "old.key", NULL, now - 30 * DAY, now - DAY);
    make_pair("enc.pem", "enc.key", "correct horse", now - DAY, now + 30 * DAY);
    write_file("enc.pass", "correct horse\n", 14);
    write_file("wrong.pass", "battery staple\n", 15);
    write_file("empty.pass", "\ncorrect horse\n", 15);
    write_file("garbage.pem", "not a certificate\n", 18);
    return 0;
}

static int teardown(void **state)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ktls_new with these files must fail with `code` and a message containing `why`. */
static void refused(const ktls_options *o, kstatus code, const char *why)
{
    ktls *t = NULL;
    kerr e = {0};
    kstatus st = ktls_new(o, &t, &e);
    if (st != code || !strstr(e.msg, why))
        print_error("got %s \"%s\", want %s \"%s\"\n", kstatus_str(st), e.msg, kstatus_str(code),
                    why);
    assert_int_equal(st, code);
    assert_non_null(strstr(e.msg, why));
    assert_null(t);
    assert_null(strstr(e.msg, "correct horse")); /* a passphrase is never in a message */
    assert_null(strstr(e.msg, "battery"));
}

static void test_good_pair(void **state)
{
    ktls_options o = {.cert_file = path("a.pem"), .key_file = path("a.key")};
    ktls *t = NULL;
    kerr e = {0};
    assert_int_equal(ktls_new(&o, &t, &e), K_OK);
    assert_non_null(strstr(ktls_priorities(t), "+VERS-TLS1.2"));
    ktls_free(t);
    o.min_version = "1.3";
    assert_int_equal(ktls_new(&o, &t, &e), K_OK);
    assert_null(strstr(ktls_priorities(t), "+VERS-TLS1.2"));
    ktls_free(t);
}

static void test_refusals(void **state)
{
    ktls_options o = {.cert_file = path("a.pem"), .key_file = path("b.key")};
    refused(&o, K_INVALID, "does not match the certificate");
    o = (ktls_options){.cert_file = path("old.pem"), .key_file = path("old.key")};
    refused(&o, K_INVALID, "has expired");
    o = (ktls_options){.cert_file = path("garbage.pem"), .key_file = path("a.key")};
    refused(&o, K_FORMAT, "tls_cert_file");
    o = (ktls_options){.cert_file = path("a.pem"), .key_file = path("missing.key")};
    refused(&o, K_IO, "tls_key_file");
    o = (ktls_options){.cert_file = path("a.pem")};
    refused(&o, K_INVALID, "go together");
    o = (ktls_options){.cert_file = path("a.pem"), .key_file = path("a.key"), .min_version = "1.1"};
    refused(&o, K_INVALID, "tls_min_version");
    o = (ktls_options){.client_ca_file = path("a.pem")};
    refused(&o, K_INVALID, "needs tls_cert_file");
    o = (ktls_options){.cert_file = path("a.pem"),
                       .key_file = path("a.key"),
                       .client_ca_file = path("garbage.pem")};
    refused(&o, K_FORMAT, "tls_client_ca_file");
}

static void test_encrypted_key(void **state)
{
    ktls_options o = {.cert_file = path("enc.pem"), .key_file = path("enc.key")};
    refused(&o, K_INVALID, "set tls_key_password_file");
    o.key_password_file = path("wrong.pass");
    refused(&o, K_INVALID, "wrong passphrase");
    o.key_password_file = path("empty.pass");
    refused(&o, K_INVALID, "tls_key_password_file");
    refused(&o, K_INVALID, "the first line is empty");
    o.key_password_file = path("enc.pass");
    ktls *t = NULL;
    kerr e = {0};
    assert_int_equal(ktls_new(&o, &t, &e), K_OK);
    ktls_free(t);
}

/* A reload with bad files keeps the current material and says why; good files are taken. */
static void test_reload(void **state)
{
    write_file("live.pem", "", 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "cp '%s' '%s' && cp '%s' '%s'", path("a.pem"), path("live.pem"),
             path("a.key"), path("live.key"));
    assert_int_equal(system(cmd), 0);
    ktls_options o = {.cert_file = path("live.pem"),
                      .key_file = path("live.key"),
                      .client_ca_file = path("b.pem")};
    ktls *t = NULL;
    kerr e = {0};
    assert_int_equal(ktls_new(&o, &t, &e), K_OK);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path("b.pem"), path("live.pem"));
    assert_int_equal(system(cmd), 0); /* the certificate changed, the key not: a mismatch */
    assert_int_equal(ktls_reload(t, &e), K_INVALID);
    assert_non_null(strstr(e.msg, "keeping the current"));
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path("b.key"), path("live.key"));
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ktls_reload(t, &e), K_OK);
    ktls_collect(t, UINT64_MAX); /* no connection holds the retired one */
    ktls_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_pair),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_encrypted_key),
        cmocka_unit_test(test_reload),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
