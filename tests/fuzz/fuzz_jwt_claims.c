/* fuzz_jwt_claims.c — libFuzzer target: arbitrary bytes as the claims of a token this harness
 * signs itself (HS256, a fixed secret), so the fuzzer reaches what runs only after a signature
 * verifies: issuer, audience, times, subject, role, and the optional models and rate claims.
 * Nothing may crash; a refusal carries a one-line reason; an accepted token's fields are
 * bounded, and its models list has no empty item (an empty list must never mean every model). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "serve/jwt.h"

#include "../lib/b64url.h"

#define SECRET "fuzz-secret-fuzz-secret-fuzz-secret-0123"
#define MAX_CLAIMS 6000

static kjwt *verifier;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[] = "/tmp/kiln_fuzz_jwt_claims_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, SECRET, strlen(SECRET)) != (ssize_t)strlen(SECRET)) abort();
    close(fd);
    kjwt_config c;
    kjwt_config_default(&c);
    c.issuer = "https://issuer.example";
    c.audience = "kiln";
    c.algorithms = "HS256";
    c.key_file = path;
    c.models_claim = "models";
    c.rate_claim = "rate";
    kerr e = {0};
    if (kjwt_new(&c, &verifier, &e) != K_OK) abort();
    unlink(path);
    return 0;
}

/* header.payload.signature for `claims`, signed with SECRET. */
static char *mint(const uint8_t *claims, size_t n)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *tok = malloc(2 * n + 256);
    if (!tok) abort();
    size_t len = b64url((const unsigned char *)header, strlen(header), tok);
    tok[len++] = '.';
    len += b64url(claims, n, tok + len);
    unsigned char mac[32];
    unsigned mac_len = 0;
    if (!HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)tok, len, mac, &mac_len))
        abort();
    tok[len++] = '.';
    b64url(mac, mac_len, tok + len);
    return tok;
}

static int bounded(const char *s, size_t cap)
{
    return memchr(s, 0, cap) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > MAX_CLAIMS) return 0;
    char *tok = mint(data, size);
    kjwt_claims out;
    kerr e = {0};
    kstatus st = kjwt_verify(verifier, tok, strlen(tok), 1700000000.0, &out, &e);
    free(tok);
    if (st != K_OK) {
        if (e.msg[0] == 0 || strchr(e.msg, '\n') || out.subject[0] || out.models[0]) abort();
        return 0;
    }
    if (!bounded(out.subject, sizeof out.subject) || !bounded(out.role, sizeof out.role) ||
        !bounded(out.models, sizeof out.models) || !bounded(out.rate, sizeof out.rate))
        abort();
    const char *m = out.models;
    size_t n = strlen(m);
    if (n && (m[0] == ',' || m[n - 1] == ',' || strstr(m, ",,"))) abort();
    return 0;
}
