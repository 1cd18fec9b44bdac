/* test_jwt.c — the JWT verifier against tokens minted here with OpenSSL (RSA 2048, EC P-256, an
 * HMAC secret): valid RS256 / ES256 / HS256 from PEM, secret and JWKS keys; expiry, nbf and iat
 * with leeway; issuer and audience (string and array); `alg: none`, disallowed and unknown
 * algorithms, the HS256-with-the-RSA-public-key confusion attack, forged and truncated
 * signatures, unknown kids, malformed base64url / JSON / structure; configuration errors; and
 * concurrent verification. Rejection messages must never echo the token. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "serve/jwt.h"

#include "../lib/b64url.h"

#define NOW 1700000000.0
#define ISS "https://issuer.example"
#define AUD "kiln"

static char dir[] = "/tmp/kiln_jwt_XXXXXX";
static EVP_PKEY *rsa, *rsa2, *ec;
static const char secret[] = "0123456789abcdef0123456789abcdef-hs256-test-secret";
static char rsa_pem[256], ec_pem[256], secret_file[256], jwks_file[256];
static char *rsa_pub_text; /* the RSA public key PEM, used as an HMAC secret by the attack */

/* ---- minting -------------------------------------------------------------------------- */

static size_t sign_pkey(EVP_PKEY *k, const char *msg, unsigned char *sig)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    size_t n = 1024;
    assert_int_equal(EVP_DigestSignInit_ex(c, NULL, "SHA256", NULL, NULL, k, NULL), 1);
    assert_int_equal(EVP_DigestSign(c, sig, &n, (const unsigned char *)msg, strlen(msg)), 1);
    EVP_MD_CTX_free(c);
    return n;
}

/* ES256 wants raw r || s, not the DER EVP produces. */
static size_t sign_es256(EVP_PKEY *k, const char *msg, unsigned char *sig)
{
    unsigned char der[128];
    size_t n = sign_pkey(k, msg, der);
    const unsigned char *p = der;
    ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)n);
    assert_non_null(s);
    BN_bn2binpad(ECDSA_SIG_get0_r(s), sig, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(s), sig + 32, 32);
    ECDSA_SIG_free(s);
    return 64;
}

static size_t sign_hmac(const void *key, size_t klen, const char *msg, unsigned char *sig)
{
    size_t n = 0;
    assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, klen,
                              (const unsigned char *)msg, strlen(msg), sig, 64, &n));
    return n;
}

/* Returns a malloc'd token: header {"alg":alg[,"kid":kid]} and `payload`, signed with `key`
 * (an EVP_PKEY for RS256 / ES256, the secret text for HS256; NULL leaves the signature empty). */
static char *mint(const char *alg, const char *kid, const char *payload, const void *key)
{
    char header[256], msg[8192], *tok = malloc(12288);
    unsigned char sig[1024];
    size_t n = 0;
    if (kid)
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\",\"kid\":\"%s\"}", alg,
                 kid);
    else
        snprintf(header, sizeof header, "{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg);
    size_t h = b64url((const unsigned char *)header, strlen(header), msg);
    msg[h] = '.';
    b64url((const unsigned char *)payload, strlen(payload), msg + h + 1);
    if (key && strcmp(alg, "HS256") == 0)
        n = sign_hmac(key, strlen(key), msg, sig);
    else if (key && strcmp(alg, "ES256") == 0)
        n = sign_es256((EVP_PKEY *)key, msg, sig);
    else if (key)
        n = sign_pkey((EVP_PKEY *)key, msg, sig);
    size_t m = strlen(msg);
    memcpy(tok, msg, m);
    tok[m] = '.';
    b64url(sig, n, tok + m + 1);
    return tok;
}

/* Returns a malloc'd token: the given signing input (already base64url) with signature sig. */
static char *with_sig(const char *input, const unsigned char *sig, size_t n)
{
    char *tok = malloc(strlen(input) + 2 + 4 * n / 3 + 4);
    size_t m = strlen(input);
    memcpy(tok, input, m);
    tok[m] = '.';
    b64url(sig, n, tok + m + 1);
    return tok;
}

/* HS256-signs an arbitrary signing input, so malformed parts reach the checks after the MAC. */
static char *hs256_raw(const char *input)
{
    unsigned char sig[64];
    return with_sig(input, sig, sign_hmac(secret, strlen(secret), input, sig));
}

/* A payload with the usual good claims, plus `extra` members (",\"k\":v" form). */
static const char *claims(const char *extra)
{
    static char buf[4096];
    snprintf(buf, sizeof buf,
             "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"sub\":\"alice\",\"role\":\"predictor\","
             "\"iat\":%.0f,\"exp\":%.0f%s}",
             NOW - 10, NOW + 3600, extra ? extra : "");
    return buf;
}

/* ---- fixtures ------------------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *pem_public(EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, k);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    char *s = strndup(p, (size_t)n);
    BIO_free(b);
    return s;
}

static void bn_b64(EVP_PKEY *k, const char *param, size_t pad, char *out)
{
    BIGNUM *bn = NULL;
    unsigned char raw[600];
    assert_int_equal(EVP_PKEY_get_bn_param(k, param, &bn), 1);
    int n = pad ? BN_bn2binpad(bn, raw, (int)pad) : BN_bn2bin(bn, raw);
    b64url(raw, (size_t)n, out);
    BN_free(bn);
}

static void write_jwks(void)
{
    char n[400], e[16], x[64], y[64], k[128], text[2048];
    bn_b64(rsa, OSSL_PKEY_PARAM_RSA_N, 0, n);
    bn_b64(rsa, OSSL_PKEY_PARAM_RSA_E, 0, e);
    bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_X, 32, x);
    bn_b64(ec, OSSL_PKEY_PARAM_EC_PUB_Y, 32, y);
    b64url((const unsigned char *)secret, strlen(secret), k);
    snprintf(
        text, sizeof text,
        "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"r1\",\"use\":\"sig\",\"n\":\"%s\",\"e\":\"%s\"},"
        "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"x\":\"%s\",\"y\":\"%s\"},"
        "{\"kty\":\"oct\",\"kid\":\"h1\",\"alg\":\"HS256\",\"k\":\"%s\"},"
        "{\"kty\":\"OKP\",\"kid\":\"skipped\",\"crv\":\"Ed25519\",\"x\":\"AA\"},"
        "{\"kty\":\"RSA\",\"kid\":\"enc\",\"use\":\"enc\",\"n\":\"%s\",\"e\":\"%s\"}]}",
        n, e, x, y, k, n, e);
    write_file(jwks_file, text);
}

static int setup(void **state)
{
    if (!mkdtemp(dir)) return -1;
    rsa = EVP_RSA_gen(2048);
    rsa2 = EVP_RSA_gen(2048);
    ec = EVP_EC_gen("P-256");
    if (!rsa || !rsa2 || !ec) return -1;
    snprintf(rsa_pem, sizeof rsa_pem, "%s/rsa.pem", dir);
    snprintf(ec_pem, sizeof ec_pem, "%s/ec.pem", dir);
    snprintf(secret_file, sizeof secret_file, "%s/secret", dir);
    snprintf(jwks_file, sizeof jwks_file, "%s/jwks.json", dir);
    rsa_pub_text = pem_public(rsa);
    write_file(rsa_pem, rsa_pub_text);
    char *ec_text = pem_public(ec);
    write_file(ec_pem, ec_text);
    free(ec_text);
    char line[128];
    snprintf(line, sizeof line, "%s\n", secret); /* the trailing newline is not part of it */
    write_file(secret_file, line);
    write_jwks();
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) return -1;
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(rsa2);
    EVP_PKEY_free(ec);
    free(rsa_pub_text);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------------------- */

static kjwt *make(const char *algs, const char *key_file, const char *jwks)
{
    kjwt_config c;
    kjwt_config_default(&c);
    c.issuer = ISS;
    c.audience = AUD;
    c.algorithms = algs;
    c.key_file = key_file;
    c.jwks_file = jwks;
    kjwt *j = NULL;
    kerr e = {0};
    kstatus st = kjwt_new(&c, &j, &e);
    if (st) print_error("kjwt_new: %s\n", e.msg);
    assert_int_equal(st, K_OK);
    return j;
}

static void expect_ok(const kjwt *j, char *tok, const char *sub, const char *role)
{
    kjwt_claims c;
    kerr e = {0};
    kstatus st = kjwt_verify(j, tok, strlen(tok), NOW, &c, &e);
    if (st) print_error("verify: %s\n", e.msg);
    assert_int_equal(st, K_OK);
    assert_string_equal(c.subject, sub);
    assert_string_equal(c.role, role);
    free(tok);
}

/* Verifies `tok` at `now` expecting `code` and a message containing `why`; consumes tok. */
static void expect_fail_at(const kjwt *j, char *tok, double now, kstatus code, const char *why)
{
    kjwt_claims c;
    memset(&c, 0x5a, sizeof c);
    kerr e = {0};
    kstatus st = kjwt_verify(j, tok, strlen(tok), now, &c, &e);
    if (st != code || !strstr(e.msg, why))
        print_error("got %s \"%s\", want %s \"%s\"\n", kstatus_str(st), e.msg, kstatus_str(code),
                    why);
    assert_int_equal(st, code);
    assert_non_null(strstr(e.msg, why));
    assert_int_equal(c.subject[0], 0); /* nothing leaks out of a refused token */
    assert_int_equal(c.role[0], 0);
    const char *sig = strrchr(tok, '.');
    if (sig && strlen(sig) > 8) assert_null(strstr(e.msg, sig + 1));
    const char *dot = strchr(tok, '.');
    if (dot && dot - tok > 8) assert_null(strstr(e.msg, tok + 4));
    free(tok);
}

static void expect_fail(const kjwt *j, char *tok, kstatus code, const char *why)
{
    expect_fail_at(j, tok, NOW, code, why);
}

static void expect_config_error(kjwt_config *c, const char *why)
{
    kjwt *j = (kjwt *)&j;
    kerr e = {0};
    kstatus st = kjwt_new(c, &j, &e);
    if (st == K_OK || !strstr(e.msg, why)) print_error("got \"%s\", want \"%s\"\n", e.msg, why);
    assert_int_not_equal(st, K_OK);
    assert_non_null(strstr(e.msg, why));
    assert_ptr_equal(j, (kjwt *)&j);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_valid_each_algorithm(void **state)
{
    kjwt *r = make("RS256", rsa_pem, NULL), *s = make("ES256", ec_pem, NULL);
    kjwt *h = make("HS256", secret_file, NULL);
    kjwt_claims c;
    kerr e = {0};
    char *tok = mint("RS256", NULL, claims(NULL), rsa);
    assert_int_equal(kjwt_verify(r, tok, strlen(tok), NOW, &c, &e), K_OK);
    assert_string_equal(c.subject, "alice");
    assert_string_equal(c.role, "predictor");
    assert_true(c.expires == NOW + 3600);
    free(tok);
    expect_ok(s, mint("ES256", NULL, claims(NULL), ec), "alice", "predictor");
    expect_ok(h, mint("HS256", NULL, claims(NULL), secret), "alice", "predictor");
    /* a kid is ignored with a single key file */
    expect_ok(r, mint("RS256", "whatever", claims(NULL), rsa), "alice", "predictor");
    /* absent sub and role come back empty: the auth layer decides */
    expect_ok(
        r, mint("RS256", NULL, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\",\"exp\":1800000000}", rsa),
        "", "");
    kjwt_free(r);
    kjwt_free(s);
    kjwt_free(h);
}

static void test_jwks(void **state)
{
    kjwt *j = make("RS256,ES256,HS256", NULL, jwks_file);
    expect_ok(j, mint("RS256", "r1", claims(NULL), rsa), "alice", "predictor");
    expect_ok(j, mint("ES256", "e1", claims(NULL), ec), "alice", "predictor");
    expect_ok(j, mint("HS256", "h1", claims(NULL), secret), "alice", "predictor");
    /* without a kid, the only key of the algorithm's type is used */
    expect_ok(j, mint("ES256", NULL, claims(NULL), ec), "alice", "predictor");
    expect_fail(j, mint("RS256", "nope", claims(NULL), rsa), K_INVALID, "unknown key id");
    expect_fail(j, mint("RS256", "skipped", claims(NULL), rsa), K_INVALID, "unknown key id");
    expect_fail(j, mint("RS256", "enc", claims(NULL), rsa), K_INVALID, "unknown key id");
    /* a kid naming a key of another type */
    expect_fail(j, mint("ES256", "r1", claims(NULL), ec), K_INVALID, "does not match");
    expect_fail(j, mint("RS256", "r1", claims(NULL), rsa2), K_INVALID, "signature does not");
    kjwt_free(j);
    kjwt *r = make("RS256", NULL, jwks_file); /* other types present but not allowed */
    expect_fail(r, mint("HS256", "h1", claims(NULL), secret), K_INVALID, "not allowed");
    kjwt_free(r);
}

static void test_times(void **state)
{
    kjwt *j = make("RS256", rsa_pem, NULL);
    char *t = mint("RS256", NULL, claims(NULL), rsa);
    expect_fail_at(j, t, NOW + 3600 + 60, K_INVALID, "token expired");
    t = mint("RS256", NULL, claims(NULL), rsa);
    expect_ok(j, t, "alice", "predictor"); /* sanity */
    kjwt_claims c;
    kerr e = {0};
    t = mint("RS256", NULL, claims(NULL), rsa);
    assert_int_equal(kjwt_verify(j, t, strlen(t), NOW + 3600 + 59, &c, &e), K_OK); /* leeway */
    free(t);
    const char *nbf = ",\"nbf\":1700000100";
    expect_fail(j, mint("RS256", NULL, claims(nbf), rsa), K_INVALID, "not yet valid");
    t = mint("RS256", NULL, claims(nbf), rsa);
    assert_int_equal(kjwt_verify(j, t, strlen(t), NOW + 40, &c, &e), K_OK);
    free(t);
    expect_fail(j, mint("RS256", NULL, claims(",\"iat\":1700000061"), rsa), K_INVALID,
                "issued in the future");
    expect_fail(j, mint("RS256", NULL, "{\"iss\":\"" ISS "\",\"aud\":\"" AUD "\"}", rsa), K_INVALID,
                "no expiry");
    expect_fail(j, mint("RS256", NULL, claims(",\"exp\":\"soon\""), rsa), K_FORMAT, "exp");
    expect_fail(j, mint("RS256", NULL, claims(",\"nbf\":true"), rsa), K_FORMAT, "nbf");
    kjwt_free(j);

    kjwt_config cf;
    kjwt_config_default(&cf);
    cf.issuer = ISS;
    cf.audience = AUD;
    cf.algorithms = "RS256";
    cf.key_file = rsa_pem;
    cf.leeway_s = 0;
    kerr e2 = {0};
    assert_int_equal(kjwt_new(&cf, &j, &e2), K_OK);
    t = mint("RS256", NULL, claims(NULL), rsa);
    expect_fail_at(j, t, NOW + 3600, K_INVALID, "token expired");
    kjwt_free(j);
}

static void test_issuer_audience(void **state)
{
    kjwt *j = make("RS256", rsa_pem, NULL);
    const char *exp = ",\"exp\":1800000000}";
    char p[512];
    snprintf(p, sizeof p, "{\"iss\":\"https://evil.example\",\"aud\":\"" AUD "\"%s", exp);
    expect_fail(j, mint("RS256", NULL, p, rsa), K_INVALID, "issuer does not match");
    snprintf(p, sizeof p, "{\"aud\":\"" AUD "\"%s", exp);
    expect_fail(j, mint("RS256", NULL, p, rsa), K_INVALID, "issuer does not match");
    snprintf(p, sizeof p, "{\"iss\":\"" ISS "\",\"aud\":\"other\"%s", exp);
    expect_fail(j, mint("RS256", NULL, p, rsa), K_INVALID, "audience does not match");
    snprintf(p, sizeof p, "{\"iss\":\"" ISS "\"%s", exp);
    expect_fail(j, mint("RS256", NULL, p, rsa), K_INVALID, "audience does not match");
    snprintf(p, sizeof p, "{\"iss\":\"" ISS "\",\"aud\":[\"a\",\"b\"]%s", exp);
    expect_fail(j, mint("RS256", NULL, p, rsa), K_INVALID, "audience does not match");
    snprintf(p, sizeof p, "{\"iss\":\"" ISS "\",\"aud\":[\"a\",7,\"" AUD "\"],\"sub\":\"b\"%s",
             exp);
    expect_ok(j, mint("RS256", NULL, p, rsa), "b", "");
    kjwt_free(j);
}

static void test_algorithms(void **state)
{
    kjwt *j = make("RS256", rsa_pem, NULL);
    expect_fail(j, mint("none", NULL, claims(NULL), NULL), K_INVALID,
                "algorithm none is not allowed");
    expect_fail(j, mint("None", NULL, claims(NULL), NULL), K_INVALID,
                "algorithm none is not allowed");
    expect_fail(j, mint("RS512", NULL, claims(NULL), rsa), K_INVALID, "not supported");
    expect_fail(j, mint("ES256", NULL, claims(NULL), ec), K_INVALID, "algorithm is not allowed");
    /* the classic confusion: HS256 keyed with the RSA public key's PEM text */
    expect_fail(j, mint("HS256", NULL, claims(NULL), rsa_pub_text), K_INVALID,
                "algorithm is not allowed");
    kjwt_free(j);
    /* even with HS256 allowed, a PEM key file never becomes an HMAC secret */
    kjwt_config c;
    kjwt_config_default(&c);
    c.issuer = ISS;
    c.audience = AUD;
    c.algorithms = "RS256,HS256";
    c.key_file = rsa_pem;
    expect_config_error(&c, "HS256 is allowed but no key");
    j = make("RS256,HS256", NULL, jwks_file);
    expect_fail(j, mint("HS256", "r1", claims(NULL), rsa_pub_text), K_INVALID, "does not match");
    expect_fail(j, mint("HS256", "h1", claims(NULL), rsa_pub_text), K_INVALID, "signature");
    kjwt_free(j);
}

static void test_forged(void **state)
{
    kjwt *r = make("RS256", rsa_pem, NULL), *s = make("ES256", ec_pem, NULL);
    kjwt *h = make("HS256", secret_file, NULL);
    expect_fail(r, mint("RS256", NULL, claims(NULL), rsa2), K_INVALID, "signature does not");
    expect_fail(h, mint("HS256", NULL, claims(NULL), "another-secret-of-32-bytes-or-more!!"),
                K_INVALID, "signature does not");
    /* payload swapped after signing */
    char *good = mint("RS256", NULL, claims(NULL), rsa);
    char *evil = mint("RS256", NULL, claims(",\"role\":\"admin\""), rsa2);
    char *gd = strchr(good, '.'), *ed = strchr(evil, '.');
    char forged[12288];
    snprintf(forged, sizeof forged, "%.*s%.*s%s", (int)(gd - good), good,
             (int)(strrchr(evil, '.') - ed), ed, strrchr(good, '.'));
    expect_fail(r, strdup(forged), K_INVALID, "signature does not");
    free(good);
    free(evil);
    /* one flipped bit in the signature of each kind */
    char *toks[3] = {mint("RS256", NULL, claims(NULL), rsa), mint("ES256", NULL, claims(NULL), ec),
                     mint("HS256", NULL, claims(NULL), secret)};
    kjwt *vs[3] = {r, s, h};
    for (int i = 0; i < 3; i++) {
        char *sig = strrchr(toks[i], '.') + 1;
        sig[3] = sig[3] == 'A' ? 'B' : 'A';
        expect_fail(vs[i], toks[i], K_INVALID, "signature does not");
    }
    /* truncated / extended ES256 signatures (raw r||s must be exactly 64 bytes) */
    char *t = mint("ES256", NULL, claims(NULL), ec);
    t[strlen(t) - 2] = 0; /* 86 -> 84 chars: 63 bytes */
    expect_fail(s, t, K_INVALID, "signature does not");
    t = mint("ES256", NULL, claims(NULL), ec);
    char longer[12288];
    snprintf(longer, sizeof longer, "%sAAAA", t); /* 86 + 4 chars: wrong length or bad b64 */
    free(t);
    kjwt_claims c;
    kerr e = {0};
    assert_int_not_equal(kjwt_verify(s, longer, strlen(longer), NOW, &c, &e), K_OK);
    /* an ES256 token whose signature is DER, as a naive signer would send */
    t = mint("ES256", NULL, claims(NULL), ec);
    *strrchr(t, '.') = 0;
    unsigned char der[128];
    size_t dn = sign_pkey(ec, t, der);
    char *dt = with_sig(t, der, dn);
    free(t);
    expect_fail(s, dt, K_INVALID, "signature does not");
    kjwt_free(r);
    kjwt_free(s);
    kjwt_free(h);
}

static void test_malformed(void **state)
{
    kjwt *j = make("HS256", secret_file, NULL);
    const char *bad[] = {"",
                         "abc",
                         "a.b",
                         "a.b.c.d",
                         ".eyJ9.sig",
                         "eyJhbGciOiJIUzI1NiJ9..sig",
                         "eyJhbGciOiJIUzI1NiJ9=.eyJ9.sig",
                         "eyJhbGciOiJIUzI1NiJ9.eyJ+.sig",
                         "eyJhbGciOiJIUzI1NiJ9.e.sig",
                         "bm90IGpzb24.eyJ9.sig",
                         "WzFd.eyJ9.sig", /* [1] */
                         "eyJhbGciOiJIUzI1NiJ9.WzFd.sig"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        kjwt_claims c;
        kerr e = {0};
        kstatus st = kjwt_verify(j, bad[i], strlen(bad[i]), NOW, &c, &e);
        if (st == K_OK) print_error("accepted <<%s>>\n", bad[i]);
        assert_int_not_equal(st, K_OK);
        assert_true(e.msg[0] != 0 && !strchr(e.msg, '\n'));
    }
    /* correctly signed, but the payload is {"} (not JSON), has a non-canonical last
     * character (leftover bits set), holds characters outside base64url, or is an array */
    const char *h = "eyJhbGciOiJIUzI1NiJ9.";
    const char *payloads[] = {"eyJ9", "eyJ", "eyJ9+", "eyJ9/", "WzFd"};
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        char input[64];
        snprintf(input, sizeof input, "%s%s", h, payloads[i]);
        expect_fail(j, hs256_raw(input), K_FORMAT, "payload");
    }
    /* {} is well-formed JSON, but has none of the required claims */
    expect_fail(j, hs256_raw("eyJhbGciOiJIUzI1NiJ9.e30"), K_INVALID, "issuer");
    /* header extensions */
    char header[] = "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}";
    char tok[600], enc[200];
    b64url((unsigned char *)header, strlen(header), enc);
    snprintf(tok, sizeof tok, "%s.eyJhIjoxfQ.AAAA", enc);
    expect_fail(j, strdup(tok), K_INVALID, "critical");
    /* oversize token */
    char *big = calloc(KJWT_MAX_TOKEN + 2, 1);
    memset(big, 'A', KJWT_MAX_TOKEN + 1);
    big[10] = '.';
    big[20] = '.';
    expect_fail(j, big, K_FORMAT, "too long");
    /* claims with the wrong type or size */
    expect_fail(j, mint("HS256", NULL, claims(",\"role\":[\"admin\"]"), secret), K_INVALID,
                "role claim");
    char xs[301], longsub[400];
    memset(xs, 'x', 300);
    xs[300] = 0;
    snprintf(longsub, sizeof longsub, ",\"sub\":\"%s\"", xs);
    expect_fail(j, mint("HS256", NULL, claims(longsub), secret), K_INVALID, "subject claim");
    expect_fail(j, mint("HS256", NULL, claims(",\"sub\":\"a\\u0000b\""), secret), K_INVALID,
                "subject claim");
    kjwt_free(j);
}

/* The configuration of an HS256 verifier over secret_file. */
static kjwt_config hs256_config(void)
{
    kjwt_config c;
    kjwt_config_default(&c);
    c.issuer = ISS;
    c.audience = AUD;
    c.algorithms = "HS256";
    c.key_file = secret_file;
    return c;
}

static void test_role_claim_name(void **state)
{
    kjwt_config c = hs256_config();
    c.algorithms = " HS256 ";
    c.role_claim = "kiln/role";
    kjwt *j = NULL;
    kerr e = {0};
    assert_int_equal(kjwt_new(&c, &j, &e), K_OK);
    expect_ok(j, mint("HS256", NULL, claims(",\"kiln/role\":\"deployer\""), secret), "alice",
              "deployer");
    kjwt_free(j);
}

/* The optional models and rate claims: read only when configured; a list as a string or an
 * array; an empty or malformed list refuses the token rather than meaning "every model". */
static void expect_limits(const kjwt *j, const char *extra, const char *models, const char *rate)
{
    char *tok = mint("HS256", NULL, claims(extra), secret);
    kjwt_claims c;
    kerr e = {0};
    kstatus st = kjwt_verify(j, tok, strlen(tok), NOW, &c, &e);
    if (st) print_error("verify %s: %s\n", extra, e.msg);
    assert_int_equal(st, K_OK);
    assert_string_equal(c.models, models);
    assert_string_equal(c.rate, rate);
    free(tok);
}

static void test_models_and_rate_claims(void **state)
{
    kjwt_config c = hs256_config();
    kjwt *plain = NULL, *j = NULL;
    kerr e = {0};
    assert_int_equal(kjwt_new(&c, &plain, &e), K_OK);
    expect_limits(plain, ",\"models\":\"a\",\"rate\":\"5/s\"", "", ""); /* not configured */
    c.models_claim = "models";
    c.rate_claim = "rate";
    assert_int_equal(kjwt_new(&c, &j, &e), K_OK);
    expect_limits(j, "", "", "");
    expect_limits(j, ",\"models\":\"churn,fraud\",\"rate\":\"5/s\"", "churn,fraud", "5/s");
    expect_limits(j, ",\"models\":[\"churn\",\"fraud\"]", "churn,fraud", "");
    const char *bad[] = {",\"models\":[]",        ",\"models\":\"\"",     ",\"models\":\"a,\"",
                         ",\"models\":\"a,,b\"",  ",\"models\":[\"a,b\"]", ",\"models\":[1]",
                         ",\"models\":{}",        ",\"models\":true"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_fail(j, mint("HS256", NULL, claims(bad[i]), secret), K_INVALID, "models claim");
    expect_fail(j, mint("HS256", NULL, claims(",\"rate\":5"), secret), K_INVALID, "rate claim");
    kjwt_free(plain);
    kjwt_free(j);
}

static void test_config_errors(void **state)
{
    kjwt_config c;
    kjwt_config_default(&c);
    c.audience = AUD;
    c.algorithms = "RS256";
    c.key_file = rsa_pem;
    expect_config_error(&c, "issuer is required");
    c.issuer = ISS;
    c.audience = "";
    expect_config_error(&c, "audience is required");
    c.audience = AUD;
    c.algorithms = "RS256,none";
    expect_config_error(&c, "none is not allowed");
    c.algorithms = "RS384";
    expect_config_error(&c, "unsupported algorithm");
    c.algorithms = "";
    expect_config_error(&c, "no algorithms");
    c.algorithms = "RS256";
    c.jwks_file = jwks_file;
    expect_config_error(&c, "exactly one");
    c.jwks_file = NULL;
    c.leeway_s = 3601;
    expect_config_error(&c, "leeway");
    c.leeway_s = 60;
    c.key_file = "/nonexistent/key.pem";
    expect_config_error(&c, "key.pem");

    char path[300];
    snprintf(path, sizeof path, "%s/short", dir);
    write_file(path, "too-short\n");
    c.key_file = path;
    c.algorithms = "HS256";
    expect_config_error(&c, "shorter than");
    EVP_PKEY *small = EVP_RSA_gen(1024);
    char *pem = pem_public(small);
    snprintf(path, sizeof path, "%s/small.pem", dir);
    write_file(path, pem);
    free(pem);
    c.algorithms = "RS256";
    expect_config_error(&c, "2048");
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, small, NULL, NULL, 0, NULL, NULL);
    char *p = NULL;
    long n = BIO_get_mem_data(b, &p);
    pem = strndup(p, (size_t)n);
    BIO_free(b);
    EVP_PKEY_free(small);
    snprintf(path, sizeof path, "%s/private.pem", dir);
    write_file(path, pem);
    free(pem);
    expect_config_error(&c, "not a PEM public key");

    c.key_file = NULL;
    c.jwks_file = path;
    snprintf(path, sizeof path, "%s/bad.json", dir);
    write_file(path, "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"a\",\"k\":\"" // 40 bytes
                     "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWZhYmNkZWZnaA\"},"
                     "{\"kty\":\"oct\",\"kid\":\"a\",\"k\":"
                     "\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWZhYmNkZWZnaA\"}]}");
    c.algorithms = "HS256";
    expect_config_error(&c, "same kid");
    write_file(path,
               "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\"AAAA\"}]}");
    c.algorithms = "ES256";
    expect_config_error(&c, "32 bytes");
    write_file(path, "{\"keys\":[{\"kty\":\"EC\",\"crv\":\"P-256\","
                     "\"x\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
                     "\"y\":\"AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"}]}");
    expect_config_error(&c, "invalid"); /* not on the curve */
    write_file(path, "[1,2]");
    expect_config_error(&c, "JSON Web Key Set");
    write_file(path, "{\"keys\":[]}");
    expect_config_error(&c, "no key of its type");
}

typedef struct {
    const kjwt *j;
    const char *tok;
    int failures;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < 100; i++) {
        kjwt_claims c;
        kerr e = {0};
        if (kjwt_verify(a->j, a->tok, strlen(a->tok), NOW, &c, &e) != K_OK ||
            strcmp(c.subject, "alice") != 0)
            a->failures++;
    }
    return NULL;
}

static void test_threads(void **state)
{
    kjwt *j = make("RS256,ES256,HS256", NULL, jwks_file);
    char *toks[3] = {mint("RS256", "r1", claims(NULL), rsa), mint("ES256", "e1", claims(NULL), ec),
                     mint("HS256", "h1", claims(NULL), secret)};
    pthread_t th[6];
    worker_arg args[6];
    for (int i = 0; i < 6; i++) {
        args[i] = (worker_arg){j, toks[i % 3], 0};
        assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].failures, 0);
    }
    for (int i = 0; i < 3; i++)
        free(toks[i]);
    kjwt_free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_each_algorithm),
        cmocka_unit_test(test_jwks),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_issuer_audience),
        cmocka_unit_test(test_algorithms),
        cmocka_unit_test(test_forged),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_role_claim_name),
        cmocka_unit_test(test_models_and_rate_claims),
        cmocka_unit_test(test_config_errors),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
