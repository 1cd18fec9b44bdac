/* jwt.c — JWT bearer-token verification: strict compact-JWS parsing, typed keys from PEM /
 * secret / JWKS files, RS256 / ES256 / HS256 through OpenSSL 3's EVP interfaces, and the
 * registered-claim checks.
 *
 * Order matters for safety: the header is parsed only to learn `alg` and `kid`; the signature is
 * checked before a single claim is looked at; and a key is bound to one algorithm family by its
 * type, so the header can never talk the verifier into using a public key as an HMAC secret. */
#include "serve/jwt.h"

#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "base/fs.h"

#define ALG_RS256 1u
#define ALG_ES256 2u
#define ALG_HS256 4u

#define MAX_KEY_FILE (64 * 1024)
#define MAX_JWKS_FILE (1024 * 1024)
#define MAX_KID 128
#define MAX_SIG 1024 /* an 8192-bit RSA signature */
#define MIN_RSA_BITS 2048
#define MAX_RSA_BITS 8192
#define JSON_DEPTH 16

typedef enum { KEY_RSA, KEY_EC, KEY_OCT } key_type;

typedef struct {
    key_type type;
    unsigned algs; /* algorithms this key may verify: its type's, narrowed by a JWK's "alg" */
    char kid[MAX_KID];
    int has_kid;
    EVP_PKEY *pkey;        /* RSA / EC */
    unsigned char *secret; /* oct; cleansed on free */
    size_t secret_len;
} jwt_key;

struct kjwt {
    char *issuer, *audience, *role_claim;
    char *models_claim, *rate_claim; /* NULL: not read */
    unsigned algs;
    double leeway;
    int from_jwks; /* kid selection applies only to a key set */
    jwt_key keys[KJWT_MAX_KEYS];
    size_t n_keys;
};

/* The pieces of one token, pointing into the caller's buffer. */
typedef struct {
    const char *header_b64, *payload_b64, *sig_b64;
    size_t header_len, payload_len, sig_len;
    unsigned alg;
    char kid[MAX_KID];
    int has_kid;
} jwt_parts;

/* ---- small helpers ---------------------------------------------------------------------- */

static unsigned alg_from_name(const char *s, size_t n)
{
    if (n == 5 && memcmp(s, "RS256", 5) == 0) return ALG_RS256;
    if (n == 5 && memcmp(s, "ES256", 5) == 0) return ALG_ES256;
    if (n == 5 && memcmp(s, "HS256", 5) == 0) return ALG_HS256;
    return 0;
}

static unsigned algs_of_type(key_type t)
{
    return t == KEY_RSA ? ALG_RS256 : t == KEY_EC ? ALG_ES256 : ALG_HS256;
}

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Strict base64url without padding (RFC 7515 2): only the URL-safe alphabet, no '=', no
 * impossible lengths, and zero unused bits so every value has exactly one encoding. Returns 0
 * and the decoded length, or -1. */
static int b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap, size_t *outlen)
{
    if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap) return -1;
    unsigned acc = 0, bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0) return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0) return -1; /* non-zero leftover bits */
    *outlen = o;
    return 0;
}

/* Parses exactly data[0..n) as one strict JSON object. Returns NULL on anything else. */
static json_object *parse_object(const unsigned char *data, size_t n)
{
    if (n == 0 || memchr(data, 0, n)) return NULL;
    json_tokener *tok = json_tokener_new_ex(JSON_DEPTH);
    if (!tok) return NULL;
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *o = json_tokener_parse_ex(tok, (const char *)data, (int)n);
    int ok = o && json_tokener_get_error(tok) == json_tokener_success &&
             json_tokener_get_parse_end(tok) == n && json_object_is_type(o, json_type_object);
    json_tokener_free(tok);
    if (!ok) {
        json_object_put(o);
        return NULL;
    }
    return o;
}

/* Looks up string member `k`: 1 and *s / *len when it is a string without NUL bytes, 0 when
 * absent, -1 when present with another type. */
static int get_string(json_object *o, const char *k, const char **s, size_t *len)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v)) return 0;
    if (!json_object_is_type(v, json_type_string)) return -1;
    *s = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    return strlen(*s) == *len ? 1 : -1;
}

/* Looks up a NumericDate member: 1 and *t when it is a finite number, 0 when absent, -1 else. */
static int get_time(json_object *o, const char *k, double *t)
{
    json_object *v;
    if (!json_object_object_get_ex(o, k, &v)) return 0;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return -1;
    *t = json_object_get_double(v);
    return isfinite(*t) ? 1 : -1;
}

static int copy_bounded(char *dst, size_t cap, const char *s, size_t len)
{
    if (len >= cap) return -1;
    memcpy(dst, s, len);
    dst[len] = 0;
    return 0;
}

/* ---- keys --------------------------------------------------------------------------------- */

static void key_clear(jwt_key *k)
{
    EVP_PKEY_free(k->pkey);
    if (k->secret) OPENSSL_cleanse(k->secret, k->secret_len);
    free(k->secret);
    memset(k, 0, sizeof *k);
}

/* Checks a public key is one we accept and types it: RSA of 2048..8192 bits or EC P-256. */
static kstatus classify_pkey(EVP_PKEY *p, key_type *t, kerr *e)
{
    if (EVP_PKEY_is_a(p, "RSA")) {
        int bits = EVP_PKEY_get_bits(p);
        if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS)
            return kerr_set(e, K_INVALID, "RSA key size must be 2048 to 8192 bits");
        *t = KEY_RSA;
        return K_OK;
    }
    if (EVP_PKEY_is_a(p, "EC")) {
        char group[64];
        size_t glen = 0;
        if (!EVP_PKEY_get_utf8_string_param(p, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                            &glen) ||
            (OBJ_sn2nid(group) != NID_X9_62_prime256v1 &&
             EC_curve_nist2nid(group) != NID_X9_62_prime256v1))
            return kerr_set(e, K_INVALID, "EC key is not on curve P-256");
        *t = KEY_EC;
        return K_OK;
    }
    return kerr_set(e, K_INVALID, "unsupported public key type (want RSA or EC P-256)");
}

/* Runs OpenSSL's public-key sanity check (on-curve point, odd exponent...). */
static int pkey_check(EVP_PKEY *p)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, p, NULL);
    int ok = c && EVP_PKEY_public_check(c) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

static kstatus add_key(kjwt *j, jwt_key *k, kerr *e)
{
    if (j->n_keys == KJWT_MAX_KEYS) {
        key_clear(k);
        return kerr_set(e, K_LIMIT, "too many keys (at most %d)", KJWT_MAX_KEYS);
    }
    j->keys[j->n_keys++] = *k;
    return K_OK;
}

static kstatus add_secret(const unsigned char *s, size_t n, jwt_key *k, kerr *e)
{
    if (n < KJWT_MIN_SECRET)
        return kerr_set(e, K_INVALID, "HS256 secret is shorter than %d bytes", KJWT_MIN_SECRET);
    k->type = KEY_OCT;
    k->secret = malloc(n);
    if (!k->secret) return kerr_set(e, K_NOMEM, "out of memory");
    memcpy(k->secret, s, n);
    k->secret_len = n;
    return K_OK;
}

/* key_file: a PEM public key, or (when it holds no PEM block) an HS256 secret. */
static kstatus load_key_file(kjwt *j, const char *path, kerr *e)
{
    char *text = NULL;
    size_t len = 0;
    kstatus st = fs_read_all(path, MAX_KEY_FILE, &text, &len, e);
    if (st) return st;
    jwt_key k = {0};
    if (strstr(text, "-----BEGIN")) {
        BIO *bio = BIO_new_mem_buf(text, (int)len);
        k.pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        ERR_clear_error();
        if (!k.pkey)
            st = kerr_set(e, K_FORMAT, "key_file is not a PEM public key (BEGIN PUBLIC KEY)");
        else if (!(st = classify_pkey(k.pkey, &k.type, e)) && !pkey_check(k.pkey))
            st = kerr_set(e, K_FORMAT, "key_file holds an invalid public key");
    } else {
        while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        st = add_secret((unsigned char *)text, len, &k, e);
    }
    OPENSSL_cleanse(text, len);
    free(text);
    if (st) {
        key_clear(&k);
        return st;
    }
    k.algs = algs_of_type(k.type);
    return add_key(j, &k, e);
}

/* Decodes base64url member `name` of a JWK into a malloc'd buffer (caller frees). */
static kstatus jwk_bytes(json_object *o, const char *name, size_t max, unsigned char **out,
                         size_t *n, kerr *e)
{
    const char *s = NULL;
    size_t len = 0;
    if (get_string(o, name, &s, &len) != 1 || len == 0)
        return kerr_set(e, K_FORMAT, "JWK member \"%s\" is missing or not a string", name);
    if (len > max / 3 * 4 + 4) return kerr_set(e, K_FORMAT, "JWK member \"%s\" is too long", name);
    *out = malloc(len);
    if (!*out) return kerr_set(e, K_NOMEM, "out of memory");
    if (b64url_decode(s, len, *out, len, n) == 0 && *n > 0) return K_OK;
    free(*out);
    *out = NULL;
    return kerr_set(e, K_FORMAT, "JWK member \"%s\" is not base64url", name);
}

/* Builds an EVP_PKEY of `type` ("RSA", "EC") from the parameters in `b`. */
static EVP_PKEY *pkey_fromdata(const char *type, OSSL_PARAM_BLD *b)
{
    EVP_PKEY *p = NULL;
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(b);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    if (!params || !c || EVP_PKEY_fromdata_init(c) != 1 ||
        EVP_PKEY_fromdata(c, &p, EVP_PKEY_PUBLIC_KEY, params) != 1)
        p = NULL;
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(params);
    return p;
}

static kstatus jwk_rsa(json_object *o, jwt_key *k, kerr *e)
{
    unsigned char *n = NULL, *x = NULL;
    size_t nn = 0, nx = 0;
    kstatus st = jwk_bytes(o, "n", MAX_RSA_BITS / 8 + 1, &n, &nn, e);
    if (!st) st = jwk_bytes(o, "e", 8, &x, &nx, e);
    BIGNUM *bn = st ? NULL : BN_bin2bn(n, (int)nn, NULL);
    BIGNUM *be = st ? NULL : BN_bin2bn(x, (int)nx, NULL);
    OSSL_PARAM_BLD *b = st ? NULL : OSSL_PARAM_BLD_new();
    if (!st && (!bn || !be || !b)) st = kerr_set(e, K_NOMEM, "out of memory");
    if (!st && (!OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) ||
                !OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) ||
                !(k->pkey = pkey_fromdata("RSA", b))))
        st = kerr_set(e, K_FORMAT, "JWK RSA key is invalid");
    OSSL_PARAM_BLD_free(b);
    BN_free(bn);
    BN_free(be);
    free(n);
    free(x);
    k->type = KEY_RSA;
    return st;
}

static kstatus jwk_ec(json_object *o, jwt_key *k, kerr *e)
{
    unsigned char *x = NULL, *y = NULL, point[65];
    size_t nx = 0, ny = 0;
    kstatus st = jwk_bytes(o, "x", 32, &x, &nx, e);
    if (!st) st = jwk_bytes(o, "y", 32, &y, &ny, e);
    if (!st && (nx != 32 || ny != 32))
        st = kerr_set(e, K_FORMAT, "JWK EC coordinates must be 32 bytes");
    OSSL_PARAM_BLD *b = st ? NULL : OSSL_PARAM_BLD_new();
    if (!st && !b) st = kerr_set(e, K_NOMEM, "out of memory");
    if (!st) {
        point[0] = 0x04; /* uncompressed SEC1 point */
        memcpy(point + 1, x, 32);
        memcpy(point + 33, y, 32);
        if (!OSSL_PARAM_BLD_push_utf8_string(b, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
            !OSSL_PARAM_BLD_push_octet_string(b, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) ||
            !(k->pkey = pkey_fromdata("EC", b)))
            st = kerr_set(e, K_FORMAT, "JWK EC key is invalid");
    }
    OSSL_PARAM_BLD_free(b);
    free(x);
    free(y);
    k->type = KEY_EC;
    return st;
}

static kstatus jwk_oct(json_object *o, jwt_key *k, kerr *e)
{
    unsigned char *s = NULL;
    size_t n = 0;
    kstatus st = jwk_bytes(o, "k", 4096, &s, &n, e);
    if (!st) st = add_secret(s, n, k, e);
    if (s) OPENSSL_cleanse(s, n);
    free(s);
    return st;
}

/* Reads the members every JWK may carry: kid, use, alg. Returns 1 to skip the key. */
static int jwk_common(json_object *o, jwt_key *k, kerr *e, kstatus *st)
{
    const char *s = NULL;
    size_t n = 0;
    int r = get_string(o, "use", &s, &n);
    if (r < 0) *st = kerr_set(e, K_FORMAT, "JWK \"use\" is not a string");
    if (r == 1 && strcmp(s, "sig") != 0) return 1;
    if (!*st && (r = get_string(o, "kid", &s, &n)) != 0) {
        if (r < 0 || copy_bounded(k->kid, sizeof k->kid, s, n))
            *st = kerr_set(e, K_FORMAT, "JWK \"kid\" is not a short string");
        k->has_kid = 1;
    }
    if (!*st && (r = get_string(o, "alg", &s, &n)) < 0)
        *st = kerr_set(e, K_FORMAT, "JWK \"alg\" is not a string");
    if (!*st && r > 0 && !(k->algs = alg_from_name(s, n)))
        return 1; /* an algorithm we never accept: the key is unusable */
    return 0;
}

/* Converts one JWK; *skip is set for keys RFC 7517 tells us to ignore. */
static kstatus jwk_load(json_object *o, jwt_key *k, int *skip, kerr *e)
{
    const char *kty = NULL, *crv = NULL;
    size_t n = 0;
    kstatus st = K_OK;
    if (!json_object_is_type(o, json_type_object) || get_string(o, "kty", &kty, &n) != 1)
        return kerr_set(e, K_FORMAT, "JWK without a \"kty\" string");
    if ((*skip = jwk_common(o, k, e, &st)) || st) return st;
    if (strcmp(kty, "RSA") == 0) {
        st = jwk_rsa(o, k, e);
    } else if (strcmp(kty, "EC") == 0) {
        if (get_string(o, "crv", &crv, &n) != 1) return kerr_set(e, K_FORMAT, "EC JWK without crv");
        if (strcmp(crv, "P-256") != 0) return (*skip = 1), K_OK;
        st = jwk_ec(o, k, e);
    } else if (strcmp(kty, "oct") == 0) {
        st = jwk_oct(o, k, e);
    } else {
        return (*skip = 1), K_OK;
    }
    if (!st && k->pkey && !(st = classify_pkey(k->pkey, &k->type, e)) && !pkey_check(k->pkey))
        st = kerr_set(e, K_FORMAT, "JWK holds an invalid public key");
    unsigned typed = algs_of_type(k->type);
    if (!st && k->algs && !(k->algs & typed)) *skip = 1; /* "alg" contradicts "kty" */
    k->algs = typed;
    return st;
}

static kstatus check_kid_unique(const kjwt *j, const jwt_key *k, kerr *e)
{
    for (size_t i = 0; k->has_kid && i < j->n_keys; i++)
        if (j->keys[i].has_kid && strcmp(j->keys[i].kid, k->kid) == 0)
            return kerr_set(e, K_FORMAT, "JWKS has two keys with the same kid");
    return K_OK;
}

static kstatus load_jwks(kjwt *j, const char *path, kerr *e)
{
    char *text = NULL;
    size_t len = 0;
    kstatus st = fs_read_all(path, MAX_JWKS_FILE, &text, &len, e);
    if (st) return st;
    json_object *doc = parse_object((unsigned char *)text, len), *keys = NULL;
    OPENSSL_cleanse(text, len);
    free(text);
    if (!doc || !json_object_object_get_ex(doc, "keys", &keys) ||
        !json_object_is_type(keys, json_type_array)) {
        json_object_put(doc);
        return kerr_set(e, K_FORMAT, "jwks_file is not a JSON Web Key Set ({\"keys\": [...]})");
    }
    size_t n = json_object_array_length(keys);
    for (size_t i = 0; !st && i < n; i++) {
        jwt_key k = {0};
        int skip = 0;
        st = jwk_load(json_object_array_get_idx(keys, i), &k, &skip, e);
        if (!st && !skip && !(st = check_kid_unique(j, &k, e))) {
            st = add_key(j, &k, e);
            continue;
        }
        key_clear(&k);
        if (st) kerr_prefix(e, "jwks_file key %zu: ", i);
    }
    json_object_put(doc);
    return st;
}

/* ---- construction --------------------------------------------------------------------------- */

void kjwt_config_default(kjwt_config *c)
{
    memset(c, 0, sizeof *c);
    c->role_claim = "role";
    c->leeway_s = KJWT_DEFAULT_LEEWAY;
}

static kstatus parse_algorithms(const char *list, unsigned *out, kerr *e)
{
    *out = 0;
    const char *p = list;
    while (p && *p) {
        size_t n = strcspn(p, ",");
        const char *s = p;
        size_t m = n;
        while (m && (*s == ' ' || *s == '\t'))
            s++, m--;
        while (m && (s[m - 1] == ' ' || s[m - 1] == '\t'))
            m--;
        unsigned a = alg_from_name(s, m);
        if (m == 4 && strncasecmp(s, "none", 4) == 0)
            return kerr_set(e, K_INVALID, "algorithm none is not allowed");
        if (!a) return kerr_set(e, K_INVALID, "unsupported algorithm (want RS256, ES256, HS256)");
        *out |= a;
        p += n + (p[n] == ',');
    }
    return *out ? K_OK : kerr_set(e, K_INVALID, "no algorithms configured");
}

static kstatus check_config(const kjwt_config *c, kerr *e)
{
    if (!c->issuer || !*c->issuer) return kerr_set(e, K_INVALID, "JWT issuer is required");
    if (!c->audience || !*c->audience) return kerr_set(e, K_INVALID, "JWT audience is required");
    if (!(c->leeway_s >= 0 && c->leeway_s <= KJWT_MAX_LEEWAY))
        return kerr_set(e, K_INVALID, "JWT leeway must be 0 to %g seconds", KJWT_MAX_LEEWAY);
    int nk = (c->key_file && *c->key_file) + (c->jwks_file && *c->jwks_file);
    if (nk != 1) return kerr_set(e, K_INVALID, "JWT needs exactly one of key_file and jwks_file");
    return K_OK;
}

/* Every allowed algorithm must have a key of its type, so a mistyped key file is found at
 * startup rather than as a stream of 401s. */
static kstatus check_coverage(const kjwt *j, kerr *e)
{
    static const struct {
        unsigned alg;
        const char *name;
    } all[] = {{ALG_RS256, "RS256"}, {ALG_ES256, "ES256"}, {ALG_HS256, "HS256"}};
    for (size_t a = 0; a < sizeof all / sizeof all[0]; a++) {
        if (!(j->algs & all[a].alg)) continue;
        size_t i = 0;
        while (i < j->n_keys && !(j->keys[i].algs & all[a].alg))
            i++;
        if (i == j->n_keys)
            return kerr_set(e, K_INVALID,
                            "algorithm %s is allowed but no key of its type is "
                            "configured",
                            all[a].name);
    }
    return K_OK;
}

kstatus kjwt_new(const kjwt_config *c, kjwt **out, kerr *e)
{
    unsigned algs = 0;
    kstatus st = check_config(c, e);
    if (!st) st = parse_algorithms(c->algorithms, &algs, e);
    if (st) return st;
    kjwt *j = calloc(1, sizeof *j);
    if (!j) return kerr_set(e, K_NOMEM, "out of memory");
    const char *role = c->role_claim && *c->role_claim ? c->role_claim : "role";
    j->issuer = strdup(c->issuer);
    j->audience = strdup(c->audience);
    j->role_claim = strdup(role);
    if (c->models_claim && *c->models_claim && !(j->models_claim = strdup(c->models_claim)))
        st = kerr_set(e, K_NOMEM, "out of memory");
    if (c->rate_claim && *c->rate_claim && !(j->rate_claim = strdup(c->rate_claim)))
        st = kerr_set(e, K_NOMEM, "out of memory");
    j->algs = algs;
    j->leeway = c->leeway_s;
    j->from_jwks = c->jwks_file && *c->jwks_file;
    if (!j->issuer || !j->audience || !j->role_claim) st = kerr_set(e, K_NOMEM, "out of memory");
    if (!st) st = j->from_jwks ? load_jwks(j, c->jwks_file, e) : load_key_file(j, c->key_file, e);
    if (!st) st = check_coverage(j, e);
    if (st) {
        kjwt_free(j);
        return st;
    }
    *out = j;
    return K_OK;
}

void kjwt_free(kjwt *j)
{
    if (!j) return;
    for (size_t i = 0; i < j->n_keys; i++)
        key_clear(&j->keys[i]);
    free(j->issuer);
    free(j->audience);
    free(j->role_claim);
    free(j->models_claim);
    free(j->rate_claim);
    free(j);
}

/* ---- verification ---------------------------------------------------------------------- */

static kstatus reject(kerr *e, kstatus code, const char *why)
{
    return kerr_set(e, code, "%s", why);
}

/* Splits the compact serialisation into its three base64url parts. */
static kstatus split_token(const char *t, size_t len, jwt_parts *p, kerr *e)
{
    if (len == 0) return reject(e, K_FORMAT, "empty token");
    if (len > KJWT_MAX_TOKEN) return reject(e, K_FORMAT, "token too long");
    const char *d1 = memchr(t, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - t)) : NULL;
    if (!d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - t)))
        return reject(e, K_FORMAT, "token is not three dot-separated parts");
    p->header_b64 = t;
    p->header_len = (size_t)(d1 - t);
    p->payload_b64 = d1 + 1;
    p->payload_len = (size_t)(d2 - d1 - 1);
    p->sig_b64 = d2 + 1;
    p->sig_len = len - (size_t)(d2 + 1 - t);
    /* An empty signature is left to fail later, so `alg: none` tokens get their own reason. */
    if (!p->header_len || !p->payload_len) return reject(e, K_FORMAT, "token has an empty part");
    return K_OK;
}

static kstatus read_alg(json_object *h, jwt_parts *p, kerr *e)
{
    const char *alg = NULL;
    size_t n = 0;
    if (get_string(h, "alg", &alg, &n) != 1) return reject(e, K_FORMAT, "token header has no alg");
    if (n == 4 && strncasecmp(alg, "none", 4) == 0)
        return reject(e, K_INVALID, "algorithm none is not allowed");
    p->alg = alg_from_name(alg, n);
    if (!p->alg) return reject(e, K_INVALID, "algorithm is not supported");
    return K_OK;
}

/* Header: alg (required), kid (optional), no crit (we implement no extensions). */
static kstatus parse_header(jwt_parts *p, kerr *e)
{
    unsigned char buf[KJWT_MAX_HEADER];
    size_t n = 0;
    if (b64url_decode(p->header_b64, p->header_len, buf, sizeof buf, &n))
        return reject(e, K_FORMAT, "token header is not base64url or too large");
    json_object *h = parse_object(buf, n), *v;
    if (!h) return reject(e, K_FORMAT, "token header is not a JSON object");
    const char *kid = NULL;
    size_t klen = 0;
    kstatus st = read_alg(h, p, e);
    int r = st ? 0 : get_string(h, "kid", &kid, &klen);
    if (r < 0 || (r > 0 && copy_bounded(p->kid, sizeof p->kid, kid, klen)))
        st = reject(e, K_FORMAT, "token kid is not a short string");
    p->has_kid = r > 0;
    if (!st && json_object_object_get_ex(h, "crit", &v))
        st = reject(e, K_INVALID, "critical header parameters are not supported");
    json_object_put(h);
    return st;
}

/* Chooses the key: by kid in a key set, else the only key able to verify the algorithm. */
static kstatus select_key(const kjwt *j, const jwt_parts *p, const jwt_key **out, kerr *e)
{
    if (!(j->algs & p->alg)) return reject(e, K_INVALID, "algorithm is not allowed");
    if (j->from_jwks && p->has_kid) {
        for (size_t i = 0; i < j->n_keys; i++) {
            if (!j->keys[i].has_kid || strcmp(j->keys[i].kid, p->kid) != 0) continue;
            if (!(j->keys[i].algs & p->alg))
                return reject(e, K_INVALID, "key does not match the algorithm");
            *out = &j->keys[i];
            return K_OK;
        }
        return reject(e, K_INVALID, "unknown key id");
    }
    const jwt_key *found = NULL;
    for (size_t i = 0; i < j->n_keys; i++) {
        if (!(j->keys[i].algs & p->alg)) continue;
        if (found) return reject(e, K_INVALID, "token has no kid and several keys match");
        found = &j->keys[i];
    }
    if (!found) return reject(e, K_INVALID, "no key for the algorithm");
    *out = found;
    return K_OK;
}

static int verify_digest(EVP_PKEY *pkey, const unsigned char *sig, size_t n, const char *msg,
                         size_t mlen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestVerifyInit_ex(c, NULL, "SHA256", NULL, NULL, pkey, NULL) == 1 &&
             EVP_DigestVerify(c, sig, n, (const unsigned char *)msg, mlen) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

/* JWS ES256 signatures are raw r || s (RFC 7518 3.4); EVP wants DER. */
static int verify_es256(EVP_PKEY *pkey, const unsigned char *sig, size_t n, const char *msg,
                        size_t mlen)
{
    if (n != 64) return 0;
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *ss = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    int ok = 0, dlen = -1;
    if (s && r && ss && ECDSA_SIG_set0(s, r, ss) == 1) {
        r = ss = NULL; /* owned by s now */
        dlen = i2d_ECDSA_SIG(s, &der);
    }
    if (dlen > 0) ok = verify_digest(pkey, der, (size_t)dlen, msg, mlen);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(ss);
    ECDSA_SIG_free(s);
    return ok;
}

static int verify_hs256(const jwt_key *k, const unsigned char *sig, size_t n, const char *msg,
                        size_t mlen)
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    if (n != 32) return 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, k->secret, k->secret_len,
                   (const unsigned char *)msg, mlen, mac, sizeof mac, &mac_len) ||
        mac_len != 32)
        return 0;
    int ok = CRYPTO_memcmp(mac, sig, 32) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    return ok;
}

static kstatus check_signature(const jwt_key *k, const jwt_parts *p, kerr *e)
{
    unsigned char sig[MAX_SIG];
    size_t n = 0;
    if (b64url_decode(p->sig_b64, p->sig_len, sig, sizeof sig, &n))
        return reject(e, K_FORMAT, "token signature is not base64url or too large");
    const char *msg = p->header_b64;
    size_t mlen = p->header_len + 1 + p->payload_len;
    int ok = 0;
    if (p->alg == ALG_HS256 && k->type == KEY_OCT)
        ok = verify_hs256(k, sig, n, msg, mlen);
    else if (p->alg == ALG_ES256 && k->type == KEY_EC)
        ok = verify_es256(k->pkey, sig, n, msg, mlen);
    else if (p->alg == ALG_RS256 && k->type == KEY_RSA)
        ok = n == (size_t)EVP_PKEY_get_size(k->pkey) && verify_digest(k->pkey, sig, n, msg, mlen);
    ERR_clear_error();
    return ok ? K_OK : reject(e, K_INVALID, "signature does not verify");
}

static int audience_matches(json_object *claims, const char *want)
{
    json_object *aud;
    if (!json_object_object_get_ex(claims, "aud", &aud)) return 0;
    if (json_object_is_type(aud, json_type_string))
        return strcmp(json_object_get_string(aud), want) == 0;
    if (!json_object_is_type(aud, json_type_array)) return 0;
    size_t n = json_object_array_length(aud);
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(aud, i);
        if (json_object_is_type(v, json_type_string) &&
            strcmp(json_object_get_string(v), want) == 0)
            return 1;
    }
    return 0;
}

static kstatus check_times(const kjwt *j, json_object *c, double now, kjwt_claims *out, kerr *e)
{
    double exp = 0, nbf = 0, iat = 0;
    int r = get_time(c, "exp", &exp);
    if (r == 0) return reject(e, K_INVALID, "token has no expiry (exp)");
    if (r < 0) return reject(e, K_FORMAT, "token exp is not a number");
    if (now >= exp + j->leeway) return reject(e, K_INVALID, "token expired");
    r = get_time(c, "nbf", &nbf);
    if (r < 0) return reject(e, K_FORMAT, "token nbf is not a number");
    if (r > 0 && now + j->leeway < nbf) return reject(e, K_INVALID, "token not yet valid");
    r = get_time(c, "iat", &iat);
    if (r < 0) return reject(e, K_FORMAT, "token iat is not a number");
    if (r > 0 && iat > now + j->leeway) return reject(e, K_INVALID, "token issued in the future");
    out->expires = exp;
    return K_OK;
}

/* Copies optional string claim `name` into dst; absent leaves it empty. */
static kstatus copy_claim(json_object *c, const char *name, char *dst, size_t cap, const char *why,
                          kerr *e)
{
    const char *s = NULL;
    size_t n = 0;
    int r = get_string(c, name, &s, &n);
    if (r < 0 || (r > 0 && copy_bounded(dst, cap, s, n))) return reject(e, K_INVALID, why);
    return K_OK;
}

/* Appends `name` to the comma-separated list; -1 when it is empty, holds a comma or does not
 * fit. */
static int add_model(char *list, size_t cap, const char *name, size_t n)
{
    size_t used = strlen(list);
    if (n == 0 || memchr(name, ',', n) || memchr(name, 0, n) || used + n + 2 > cap) return -1;
    if (used) list[used++] = ',';
    memcpy(list + used, name, n);
    list[used + n] = 0;
    return 0;
}

/* The models claim: "a,b" or ["a", "b"]; present but empty or malformed refuses the token
 * (an empty list must not read as "every model"). */
static kstatus copy_models(json_object *c, const char *name, char *dst, size_t cap, kerr *e)
{
    json_object *v;
    if (!name || !json_object_object_get_ex(c, name, &v)) return K_OK;
    int bad = 0;
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        for (const char *p = s; *p && !bad; p += *p == ',') {
            size_t n = strcspn(p, ",");
            bad = add_model(dst, cap, p, n);
            p += n;
        }
        bad = bad || !*s || s[strlen(s) - 1] == ',';
    } else if (json_object_is_type(v, json_type_array)) {
        size_t n = json_object_array_length(v);
        for (size_t i = 0; i < n && !bad; i++) {
            json_object *x = json_object_array_get_idx(v, i);
            bad = !json_object_is_type(x, json_type_string) ||
                  add_model(dst, cap, json_object_get_string(x),
                            (size_t)json_object_get_string_len(x));
        }
        bad = bad || n == 0;
    } else {
        bad = 1;
    }
    if (bad) dst[0] = 0;
    return bad ? reject(e, K_INVALID, "models claim is invalid or empty") : K_OK;
}

static kstatus check_claims(const kjwt *j, const jwt_parts *p, double now, kjwt_claims *out,
                            kerr *e)
{
    unsigned char buf[KJWT_MAX_PAYLOAD];
    size_t n = 0;
    if (b64url_decode(p->payload_b64, p->payload_len, buf, sizeof buf, &n))
        return reject(e, K_FORMAT, "token payload is not base64url or too large");
    json_object *c = parse_object(buf, n);
    if (!c) return reject(e, K_FORMAT, "token payload is not a JSON object");
    const char *iss = NULL;
    size_t ilen = 0;
    const char *bad_sub = "subject claim is invalid", *bad_role = "role claim is invalid";
    kstatus st = K_OK;
    if (get_string(c, "iss", &iss, &ilen) != 1 || strcmp(iss, j->issuer) != 0)
        st = reject(e, K_INVALID, "issuer does not match");
    else if (!audience_matches(c, j->audience))
        st = reject(e, K_INVALID, "audience does not match");
    if (!st) st = check_times(j, c, now, out, e);
    if (!st) st = copy_claim(c, "sub", out->subject, sizeof out->subject, bad_sub, e);
    if (!st) st = copy_claim(c, j->role_claim, out->role, sizeof out->role, bad_role, e);
    if (!st) st = copy_models(c, j->models_claim, out->models, sizeof out->models, e);
    if (!st && j->rate_claim)
        st = copy_claim(c, j->rate_claim, out->rate, sizeof out->rate, "rate claim is invalid", e);
    json_object_put(c);
    return st;
}

kstatus kjwt_verify(const kjwt *j, const char *token, size_t len, double now, kjwt_claims *out,
                    kerr *e)
{
    memset(out, 0, sizeof *out);
    if (!j || !token) return reject(e, K_INVALID, "no verifier or token");
    if (!isfinite(now)) return reject(e, K_INVALID, "clock is not a finite time");
    jwt_parts p = {0};
    const jwt_key *k = NULL;
    kstatus st = split_token(token, len, &p, e);
    if (!st) st = parse_header(&p, e);
    if (!st) st = select_key(j, &p, &k, e);
    if (!st) st = check_signature(k, &p, e);
    if (!st) st = check_claims(j, &p, now, out, e);
    if (st) memset(out, 0, sizeof *out);
    return st;
}
