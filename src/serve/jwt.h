/* jwt.h — verification of JWT bearer tokens (RFC 7519, compact JWS of RFC 7515) for the
 * server's authentication layer.
 *
 * A verifier is built once from a configuration (issuer, audience, allowed algorithms, keys from
 * a PEM / secret file or a JWKS file) and then checks tokens: strict base64url, bounded sizes,
 * the header's `alg` against the allowed list (`none` is never accepted), the key chosen by `kid`
 * and typed (an RSA key only verifies RS256, an EC P-256 key only ES256, an `oct` secret only
 * HS256, so a public key can never serve as an HMAC secret), the signature, then `iss`, `aud`,
 * `exp` (required), `nbf` and `iat` with a bounded clock-skew leeway.
 *
 * Error messages are short fixed reasons ("token expired", "signature does not verify") and
 * never contain the token, its claims or key material. */
#ifndef KILN_JWT_H
#define KILN_JWT_H

#include <stddef.h>

#include "base/status.h"

#define KJWT_MAX_TOKEN 8192   /* bytes of a compact token */
#define KJWT_MAX_HEADER 1024  /* bytes of the decoded header JSON */
#define KJWT_MAX_PAYLOAD 4096 /* bytes of the decoded claims JSON */
#define KJWT_MAX_KEYS 64      /* keys in a JWKS file */
#define KJWT_MAX_LEEWAY 600.0 /* seconds; larger clock skews are a configuration error */
#define KJWT_DEFAULT_LEEWAY 60.0
#define KJWT_MIN_SECRET 32 /* bytes of an HS256 secret (RFC 7518 3.2: at least the hash size) */

typedef struct kjwt kjwt;

/* Verifier configuration. Strings are borrowed for the duration of kjwt_new only.
 *   issuer      required; the token's `iss` must equal it.
 *   audience    required; the token's `aud` (a string, or an array of strings) must contain it.
 *   algorithms  required; comma-separated subset of "RS256", "ES256", "HS256". Every listed
 *               algorithm needs at least one key of its type.
 *   key_file    a PEM public key ("BEGIN PUBLIC KEY": RSA >= 2048 bits or EC P-256), or for HS256
 *               a secret file (its bytes, less trailing CR/LF, at least KJWT_MIN_SECRET long).
 *   jwks_file   a JSON Web Key Set; kty RSA (n, e), EC (crv P-256, x, y) or oct (k). Keys with
 *               `use` other than "sig" or an unknown kty / curve are skipped (RFC 7517 5).
 *               Exactly one of key_file and jwks_file must be given.
 *   role_claim  the claim holding the role (a string); NULL or "" means "role".
 *   models_claim  the claim limiting the models a token may use: a string "a,b" or an array of
 *               strings (present but empty refuses the token); NULL or "": not read.
 *   rate_claim  the claim holding the caller's own rate limit ("50/s"); NULL or "": not read.
 *   leeway_s    allowed clock skew in seconds, 0 .. KJWT_MAX_LEEWAY. */
typedef struct {
    const char *issuer;
    const char *audience;
    const char *algorithms;
    const char *key_file;
    const char *jwks_file;
    const char *role_claim;
    const char *models_claim;
    const char *rate_claim;
    double leeway_s;
} kjwt_config;

/* What a verified token says. Strings are NUL-terminated; empty when the claim is absent. */
typedef struct {
    char subject[256]; /* `sub` */
    char role[64];     /* the configured role claim */
    char models[512];  /* the models claim as "a,b"; "" = absent (every model) */
    char rate[32];     /* the rate claim as given; "" = absent */
    double expires;    /* `exp`, seconds since the epoch */
} kjwt_claims;

/* Fills `c` with the defaults: no issuer, audience or keys, role_claim "role", leeway 60 s. */
void kjwt_config_default(kjwt_config *c);

/* Builds a verifier: checks the configuration and loads the keys. Returns K_OK and sets *out
 * (caller frees with kjwt_free), or K_INVALID (bad configuration), K_FORMAT (unreadable keys),
 * K_IO / K_LIMIT (key files), K_NOMEM; *out is then untouched. */
kstatus kjwt_new(const kjwt_config *c, kjwt **out, kerr *e);

/* Frees a verifier; NULL is fine. */
void kjwt_free(kjwt *j);

/* Verifies token[0..len) (the bearer credential, without "Bearer ") at time `now` (seconds
 * since the epoch). Returns K_OK and fills *out only when everything checks; otherwise K_FORMAT
 * (malformed token) or K_INVALID (well-formed but refused), or K_NOMEM, with a short reason in
 * `e`, and *out zeroed. Any status other than K_OK means "reject". Thread-safe: the verifier is
 * not modified, and each call uses its own OpenSSL contexts. */
kstatus kjwt_verify(const kjwt *j, const char *token, size_t len, double now, kjwt_claims *out,
                    kerr *e);

#endif
