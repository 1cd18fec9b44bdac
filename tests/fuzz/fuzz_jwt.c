/* fuzz_jwt.c — libFuzzer target: arbitrary bytes as a bearer token against a fixed verifier
 * holding an HS256 secret and an RSA 2048 public key (a JWKS written at start-up, keys made with
 * OpenSSL). Nothing may crash, no input may verify (the fuzzer cannot forge a MAC or an RSA
 * signature), and every refusal carries a one-line reason. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "serve/jwt.h"

#include "../lib/b64url.h"

static kjwt *verifier;

static void b64_param(EVP_PKEY *k, const char *name, char *out)
{
    BIGNUM *bn = NULL;
    unsigned char raw[512];
    if (EVP_PKEY_get_bn_param(k, name, &bn) != 1) abort();
    b64url(raw, (size_t)BN_bn2bin(bn, raw), out);
    BN_free(bn);
}

/* Writes a JWKS with an RSA key (kid "rsa") and a random HS256 secret (kid "hmac"). */
static void write_jwks(const char *path)
{
    EVP_PKEY *rsa = EVP_RSA_gen(2048);
    unsigned char secret[32];
    char n[400], e[16], k[64];
    if (!rsa) abort();
    FILE *r = fopen("/dev/urandom", "rb");
    if (!r || fread(secret, 1, sizeof secret, r) != sizeof secret) abort();
    fclose(r);
    b64_param(rsa, OSSL_PKEY_PARAM_RSA_N, n);
    b64_param(rsa, OSSL_PKEY_PARAM_RSA_E, e);
    b64url(secret, sizeof secret, k);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fprintf(f,
            "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"rsa\",\"n\":\"%s\",\"e\":\"%s\"},"
            "{\"kty\":\"oct\",\"kid\":\"hmac\",\"k\":\"%s\"}]}",
            n, e, k);
    fclose(f);
    EVP_PKEY_free(rsa);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[] = "/tmp/kiln_fuzz_jwt_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) abort();
    close(fd);
    write_jwks(path);
    kjwt_config c;
    kjwt_config_default(&c);
    c.issuer = "https://issuer.example";
    c.audience = "kiln";
    c.algorithms = "RS256,HS256";
    c.jwks_file = path;
    kerr e = {0};
    if (kjwt_new(&c, &verifier, &e) != K_OK) abort();
    unlink(path);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kjwt_claims out;
    kerr e = {0};
    kstatus st = kjwt_verify(verifier, (const char *)data, size, 1700000000.0, &out, &e);
    if (st == K_OK) abort(); /* a forgery */
    if (e.msg[0] == 0 || strchr(e.msg, '\n') || out.subject[0] || out.role[0]) abort();
    return 0;
}
