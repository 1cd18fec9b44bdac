/* keys.c — API key records in the registry's api_keys table (see keys.h). */
#include "store/keys.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/audit.h"
#include "store/registry_impl.h"

#define OPS 2
#define MEM ((size_t)19 << 20)

static const char *const role_names[] = {"", "viewer", "predictor", "deployer", "admin"};

krole krole_parse(const char *name)
{
    for (int i = KROLE_VIEWER; i <= KROLE_ADMIN; i++)
        if (name && !strcmp(name, role_names[i])) return (krole)i;
    return KROLE_NONE;
}

const char *krole_name(krole r)
{
    return r >= KROLE_VIEWER && r <= KROLE_ADMIN ? role_names[r] : "";
}

/* ---- the key text ----------------------------------------------------------------------- */

static kstatus make_key(char key[KKEY_LEN], char id[KKEY_ID_LEN + 1], char hash[160], kerr *e)
{
    if (sodium_init() < 0) return kerr_set(e, K_IO, "libsodium failed to start");
    unsigned char rid[KKEY_ID_LEN / 2], secret[32];
    randombytes_buf(rid, sizeof rid);
    randombytes_buf(secret, sizeof secret);
    sodium_bin2hex(id, KKEY_ID_LEN + 1, rid, sizeof rid);
    char b64[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    sodium_bin2base64(b64, sizeof b64, secret, sizeof secret,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(secret, sizeof secret);
    snprintf(key, KKEY_LEN, "kiln_%s_%s", id, b64);
    sodium_memzero(b64, sizeof b64);
    if (crypto_pwhash_str_alg(hash, key, strlen(key), OPS, MEM, crypto_pwhash_ALG_ARGON2ID13))
        return kerr_set(e, K_NOMEM, "not enough memory to hash the key");
    return K_OK;
}

int kkey_id_of(const char *key, char id[KKEY_ID_LEN + 1])
{
    if (!key || strncmp(key, "kiln_", 5) || strlen(key) != 5 + KKEY_ID_LEN + 1 + 43) return 0;
    for (int i = 0; i < KKEY_ID_LEN; i++)
        if (!strchr("0123456789abcdef", key[5 + i]) || !key[5 + i]) return 0;
    if (key[5 + KKEY_ID_LEN] != '_') return 0;
    memcpy(id, key + 5, KKEY_ID_LEN);
    id[KKEY_ID_LEN] = 0;
    return 1;
}

int kkey_matches(const char *key, const char *hash)
{
    return sodium_init() >= 0 && hash[0] && crypto_pwhash_str_verify(hash, key, strlen(key)) == 0;
}

int kkey_allows_model(const char *models, const char *model)
{
    if (!models[0]) return 1;
    size_t n = strlen(model);
    for (const char *p = models; *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && !strncmp(p, model, n)) return 1;
        p += len + (p[len] == ',');
    }
    return 0;
}

/* ---- checks -------------------------------------------------------------------------------- */

static kstatus check_models(const char *models, kerr *e)
{
    if (!models || !*models) return K_OK;
    if (strlen(models) >= KKEY_MODELS_MAX) return kerr_set(e, K_INVALID, "--models is too long");
    char one[KREG_NAME_MAX + 1];
    for (const char *p = models; *p;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > KREG_NAME_MAX)
            return kerr_set(e, K_INVALID, "--models: expected NAME,NAME,…");
        snprintf(one, sizeof one, "%.*s", (int)len, p);
        kstatus st = kreg_check_name("model", one, e);
        if (st) return st;
        p += len + (p[len] == ',');
    }
    return K_OK;
}

static kstatus check_rate(const char *rate, kerr *e)
{
    if (!rate || !*rate) return K_OK;
    char *end;
    double x = strtod(rate, &end);
    if (!(x > 0) || (strcmp(end, "/s") && strcmp(end, "/m") && strcmp(end, "/h")))
        return kerr_set(e, K_INVALID, "--rate: expected N/s, N/m or N/h (e.g. 100/s), got '%.40s'",
                        rate);
    return K_OK;
}

/* ---- writes -------------------------------------------------------------------------------- */

/* The audit record of a key change, in the change's own transaction. */
static kstatus audit(kreg *r, const char *by, const char *action, const char *name,
                     const char *detail, kerr *e)
{
    kaudit_event ev = {.actor = by ? by : "unknown",
                       .action = action,
                       .object = name,
                       .outcome = "ok",
                       .detail = detail};
    return kaudit_append(r, &ev, e);
}

typedef struct {
    const kkey_spec *spec;
    const char *name, *by;
    char key[KKEY_LEN], id[KKEY_ID_LEN + 1], hash[160];
    int64_t grace_ms;
} key_txn;

static kstatus create_txn(kreg *r, void *ctx, kerr *e)
{
    key_txn *c = ctx;
    char now[24], exp[24];
    const kkey_spec *s = c->spec;
    const char *p[] = {s->name,
                       c->id,
                       c->hash,
                       krole_name(s->role),
                       s->models ? s->models : "",
                       s->rate ? s->rate : "",
                       kreg__i64(kreg__now_ms(), now),
                       s->by ? s->by : "unknown",
                       s->expires_at ? kreg__i64(s->expires_at, exp) : NULL};
    kstatus st = kdb_query(r->db,
                           "INSERT INTO api_keys (name, key_id, hash, role, models, rate, "
                           "created_at, created_by, expires_at) "
                           "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                           9, p, NULL, e);
    if (st == K_EXISTS) return kerr_set(e, K_EXISTS, "a key named '%s' exists already", s->name);
    char detail[KKEY_MODELS_MAX + 64];
    snprintf(detail, sizeof detail, "role=%s models=%s", krole_name(s->role),
             s->models && *s->models ? s->models : "*");
    return st ? st : audit(r, s->by, "key.create", s->name, detail, e);
}

kstatus kkeys_create(kreg *r, const kkey_spec *spec, char key_out[KKEY_LEN], kerr *e)
{
    kstatus st = kreg_check_name("key", spec->name, e);
    if (!st && spec->role == KROLE_NONE)
        st = kerr_set(e, K_INVALID, "--role: expected viewer, predictor, deployer or admin");
    if (!st) st = check_models(spec->models, e);
    if (!st) st = check_rate(spec->rate, e);
    if (st) return st;
    key_txn c = {.spec = spec};
    if ((st = make_key(c.key, c.id, c.hash, e))) return st;
    st = kreg__write(r, create_txn, &c, e);
    if (!st) memcpy(key_out, c.key, KKEY_LEN);
    sodium_memzero(c.key, sizeof c.key);
    return st;
}

static kstatus revoke_txn(kreg *r, void *ctx, kerr *e)
{
    key_txn *c = ctx;
    char now[24];
    const char *p[] = {c->name, kreg__i64(kreg__now_ms(), now)};
    kdb_rows *rows;
    char what[200];
    snprintf(what, sizeof what, "no key named '%s'", c->name);
    kstatus st = kreg__query_one(r,
                                 "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) "
                                 "WHERE name = $1 RETURNING name",
                                 2, p, &rows, what, e);
    kdb_rows_free(rows);
    return st ? st : audit(r, c->by, "key.revoke", c->name, NULL, e);
}

kstatus kkeys_revoke(kreg *r, const char *name, const char *by, kerr *e)
{
    key_txn c = {.name = name, .by = by};
    return kreg__write(r, revoke_txn, &c, e);
}

static kstatus rotate_txn(kreg *r, void *ctx, kerr *e)
{
    key_txn *c = ctx;
    char until[24];
    const char *p[] = {c->name, c->id, c->hash, kreg__i64(kreg__now_ms() + c->grace_ms, until)};
    kdb_rows *rows;
    char what[200];
    snprintf(what, sizeof what, "no active key named '%s'", c->name);
    kstatus st = kreg__query_one(r,
                                 "UPDATE api_keys SET old_key_id = key_id, old_hash = hash, "
                                 "old_valid_until = $4, key_id = $2, hash = $3 "
                                 "WHERE name = $1 AND revoked_at IS NULL RETURNING name",
                                 4, p, &rows, what, e);
    kdb_rows_free(rows);
    char detail[48];
    snprintf(detail, sizeof detail, "grace_ms=%lld", (long long)c->grace_ms);
    return st ? st : audit(r, c->by, "key.rotate", c->name, detail, e);
}

kstatus kkeys_rotate(kreg *r, const char *name, int64_t grace_ms, const char *by,
                     char key_out[KKEY_LEN], kerr *e)
{
    key_txn c = {.name = name, .by = by, .grace_ms = grace_ms};
    kstatus st = make_key(c.key, c.id, c.hash, e);
    if (!st) st = kreg__write(r, rotate_txn, &c, e);
    if (!st) memcpy(key_out, c.key, KKEY_LEN);
    sodium_memzero(c.key, sizeof c.key);
    return st;
}

/* ---- reads --------------------------------------------------------------------------------- */

static void copy(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src ? src : "");
}

static void fill(kkey *k, const kdb_rows *rows, int i)
{
    copy(k->name, sizeof k->name, kdb_value(rows, i, 0));
    copy(k->key_id, sizeof k->key_id, kdb_value(rows, i, 1));
    copy(k->hash, sizeof k->hash, kdb_value(rows, i, 2));
    k->role = krole_parse(kdb_value(rows, i, 3));
    copy(k->models, sizeof k->models, kdb_value(rows, i, 4));
    copy(k->rate, sizeof k->rate, kdb_value(rows, i, 5));
    k->created_at = kdb_int(rows, i, 6, 0);
    copy(k->created_by, sizeof k->created_by, kdb_value(rows, i, 7));
    k->expires_at = kdb_int(rows, i, 8, 0);
    k->revoked_at = kdb_int(rows, i, 9, 0);
    copy(k->old_key_id, sizeof k->old_key_id, kdb_value(rows, i, 10));
    copy(k->old_hash, sizeof k->old_hash, kdb_value(rows, i, 11));
    k->old_valid_until = kdb_int(rows, i, 12, 0);
}

kstatus kkeys_list(kreg *r, kkey **out, int *n, kerr *e)
{
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT name, key_id, hash, role, models, rate, created_at, created_by, "
                           "expires_at, revoked_at, old_key_id, old_hash, old_valid_until "
                           "FROM api_keys ORDER BY created_at DESC, name",
                           0, NULL, &rows, e);
    if (st) return st;
    int count = kdb_nrows(rows);
    kkey *keys = calloc((size_t)count + 1, sizeof *keys);
    if (!keys) {
        kdb_rows_free(rows);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    for (int i = 0; i < count; i++)
        fill(&keys[i], rows, i);
    kdb_rows_free(rows);
    *out = keys;
    *n = count;
    return K_OK;
}
