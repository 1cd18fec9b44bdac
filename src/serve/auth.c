/* auth.c — API key authentication for the server (see auth.h). */
#include "serve/auth.h"

#include <pthread.h>
#include <stdio.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/sha256.h"
#include "serve/jwt.h"
#include "serve/ratelimit.h"
#include "store/audit.h"

#define POLL_MS 500
#define MAX_ARGON 2
/* argon2id checks (a key's first use, or a guess at a never-used key's secret) come from a
 * token bucket: ARGON_BURST at once, then ARGON_PER_SECOND (at ~30 ms each, under a core). */
#define ARGON_BURST 20.0
#define ARGON_PER_SECOND 20.0

/* A token bucket (for rates of rare events; callers hold the lock). */
typedef struct {
    double tokens;
    int64_t at_ms; /* last refill; 0: never used, full */
} bucket;

static int bucket_take(bucket *b, double burst, double per_s, int64_t now_ms)
{
    if (b->at_ms == 0) b->tokens = burst, b->at_ms = now_ms;
    if (now_ms > b->at_ms) {
        b->tokens += (double)(now_ms - b->at_ms) / 1000.0 * per_s;
        if (b->tokens > burst) b->tokens = burst;
        b->at_ms = now_ms;
    }
    if (b->tokens < 1.0) return 0;
    b->tokens -= 1.0;
    return 1;
}

typedef struct {
    kkey k;
    unsigned char good[32], old_good[32], bad[32]; /* SHA-256 of keys already checked */
    int has_good, has_old_good, has_bad;
} entry;

struct kauth {
    kreg *reg;
    kjwt *jwt;
    int required;
    pthread_t thread;
    int stopping, started;
    pthread_mutex_t lock; /* guards the table and the entries' remembered hashes */
    pthread_cond_t argon_free;
    pthread_mutex_t reg_lock; /* the registry handle: refresher and audit appends */
    bucket audit_budget; /* failure records that may be written */
    unsigned long long audit_dropped;
    bucket argon_budget; /* argon2id checks that may run */
    int argon_running;
    entry *keys;
    int n_keys;
};

static kstatus reload(kauth *a, kerr *e)
{
    kkey *list;
    int n;
    kstatus st = kkeys_list(a->reg, &list, &n, e);
    if (st) return st;
    entry *fresh = calloc((size_t)n + 1, sizeof *fresh);
    if (!fresh) {
        free(list);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    pthread_mutex_lock(&a->lock);
    for (int i = 0; i < n; i++) {
        fresh[i].k = list[i];
        for (int j = 0; j < a->n_keys; j++) /* keep what was checked while the hash is the same */
            if (!strcmp(a->keys[j].k.name, list[i].name) &&
                !strcmp(a->keys[j].k.hash, list[i].hash) &&
                !strcmp(a->keys[j].k.old_hash, list[i].old_hash)) {
                entry *o = &a->keys[j];
                memcpy(fresh[i].good, o->good, 32), fresh[i].has_good = o->has_good;
                memcpy(fresh[i].old_good, o->old_good, 32), fresh[i].has_old_good = o->has_old_good;
            }
    }
    sodium_memzero(a->keys, (size_t)a->n_keys * sizeof *a->keys);
    free(a->keys);
    a->keys = fresh;
    a->n_keys = n;
    pthread_mutex_unlock(&a->lock);
    sodium_memzero(list, (size_t)n * sizeof *list);
    free(list);
    return K_OK;
}

static void *refresher(void *p)
{
    kauth *a = p;
    uint64_t seen = 0;
    pthread_mutex_lock(&a->reg_lock); /* the handle is shared with kauth_audit's appends */
    kreg_changes(a->reg, &seen, NULL);
    pthread_mutex_unlock(&a->reg_lock);
    for (;;) {
        pthread_mutex_lock(&a->lock);
        int stop = a->stopping;
        pthread_mutex_unlock(&a->lock);
        if (stop) break;
        nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
        uint64_t now = seen;
        pthread_mutex_lock(&a->reg_lock);
        if (kreg_changes(a->reg, &now, NULL) == K_OK && now != seen && reload(a, NULL) == K_OK)
            seen = now;
        pthread_mutex_unlock(&a->reg_lock);
    }
    return NULL;
}

kstatus kauth_start(kreg *r, kjwt *jwt, int required, kauth **out, kerr *e)
{
    if (sodium_init() < 0) return kerr_set(e, K_IO, "libsodium failed to start");
    kauth *a = calloc(1, sizeof *a);
    if (!a) return kerr_set(e, K_NOMEM, "out of memory");
    a->reg = r;
    a->jwt = jwt;
    a->required = required;
    pthread_mutex_init(&a->lock, NULL);
    pthread_cond_init(&a->argon_free, NULL);
    pthread_mutex_init(&a->reg_lock, NULL);
    kstatus st = r ? reload(a, e) : K_OK;
    if (!st && r && pthread_create(&a->thread, NULL, refresher, a))
        st = kerr_set(e, K_NOMEM, "cannot start the key refresher thread");
    a->started = !st && r;
    if (st) {
        a->reg = NULL; /* the caller keeps r and jwt on failure */
        a->jwt = NULL;
        kauth_stop(a);
        return st;
    }
    *out = a;
    return K_OK;
}

void kauth_stop(kauth *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_mutex_unlock(&a->lock);
    if (a->started) pthread_join(a->thread, NULL);
    sodium_memzero(a->keys, (size_t)a->n_keys * sizeof *a->keys);
    free(a->keys);
    if (a->reg) kreg_close(a->reg);
    kjwt_free(a->jwt);
    pthread_cond_destroy(&a->argon_free);
    pthread_mutex_destroy(&a->reg_lock);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

int kauth_enabled(kauth *a)
{
    if (!a) return 0;
    pthread_mutex_lock(&a->lock);
    int on = a->required || a->n_keys > 0 || a->jwt;
    pthread_mutex_unlock(&a->lock);
    return on;
}

/* The key in "Bearer KEY" or X-API-Key; NULL when neither is present. */
static const char *presented(const char *authorization, const char *api_key)
{
    if (api_key && *api_key) return api_key;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7)) return NULL;
    authorization += 7;
    while (*authorization == ' ')
        authorization++;
    return authorization;
}

/* An argon2id check with at most MAX_ARGON at once (lock held on entry and exit). */
static int slow_match(kauth *a, const char *key, const char *hash)
{
    while (a->argon_running >= MAX_ARGON)
        pthread_cond_wait(&a->argon_free, &a->lock);
    a->argon_running++;
    char h[160];
    memcpy(h, hash, sizeof h);
    pthread_mutex_unlock(&a->lock);
    int ok = kkey_matches(key, h);
    pthread_mutex_lock(&a->lock);
    a->argon_running--;
    pthread_cond_signal(&a->argon_free);
    return ok;
}

static entry *find(kauth *a, const char *id, int *old)
{
    for (int i = 0; i < a->n_keys; i++) {
        if (!strcmp(a->keys[i].k.key_id, id)) return *old = 0, &a->keys[i];
        if (!strcmp(a->keys[i].k.old_key_id, id)) return *old = 1, &a->keys[i];
    }
    return NULL;
}

/* Whether `key` (with SHA-256 `sum`) is entry x's current (old = 0) or previous secret. The
 * entry may be replaced while the lock is dropped, so it is looked up again by id. */
static kstatus verify(kauth *a, const char *key, const char *id, const unsigned char *sum,
                      int64_t now_ms, kauth_who *who, kerr *e)
{
    int old;
    entry *x = find(a, id, &old);
    if (!x) return kerr_set(e, K_INVALID, "unknown key");
    if (x->k.revoked_at) return kerr_set(e, K_INVALID, "key revoked");
    if (x->k.expires_at && now_ms >= x->k.expires_at) return kerr_set(e, K_INVALID, "key expired");
    if (old && now_ms >= x->k.old_valid_until)
        return kerr_set(e, K_INVALID, "key rotated: the old secret's grace period is over");
    unsigned char *good = old ? x->old_good : x->good;
    int *has = old ? &x->has_old_good : &x->has_good;
    int ok = *has && !sodium_memcmp(good, sum, 32);
    /* Once the right secret is known, any other is wrong without another argon2id run: a
     * caller who knows a key id (a former holder of a rotated key) cannot make the server
     * spend 50 ms of CPU per guess. */
    if (!ok && (*has || (x->has_bad && !sodium_memcmp(x->bad, sum, 32))))
        return kerr_set(e, K_INVALID, "wrong key");
    if (!ok && !bucket_take(&a->argon_budget, ARGON_BURST, ARGON_PER_SECOND, now_ms))
        return kerr_set(e, K_BUSY, "too many first-time key checks; retry in a second");
    if (!ok) {
        char hash[160];
        memcpy(hash, old ? x->k.old_hash : x->k.hash, sizeof hash);
        ok = slow_match(a, key, hash);
        if (!(x = find(a, id, &old))) return kerr_set(e, K_INVALID, "unknown key");
        memcpy(ok ? (old ? x->old_good : x->good) : x->bad, sum, 32);
        *(ok ? (old ? &x->has_old_good : &x->has_good) : &x->has_bad) = 1;
        if (!ok) return kerr_set(e, K_INVALID, "wrong key");
    }
    who->role = x->k.role;
    memcpy(who->name, x->k.name, sizeof who->name);
    memcpy(who->models, x->k.models, sizeof who->models);
    memcpy(who->rate, x->k.rate, sizeof who->rate);
    return K_OK;
}

/* A JWT bearer token: verified, then its role claim is the role ("" or unknown: no role, so
 * every endpoint answers 403), and the optional models and rate claims limit it like a key's
 * --models and --rate. */
static kstatus check_jwt(kauth *a, const char *token, int64_t now_ms, kauth_who *who, kerr *e)
{
    kjwt_claims c;
    kstatus st = kjwt_verify(a->jwt, token, strlen(token), (double)now_ms / 1000.0, &c, e);
    if (st) { /* malformed or refused: both are 401 */
        char why[KERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", e ? e->msg : "bad token");
        return kerr_set(e, K_INVALID, "%s", why);
    }
    double per_s;
    if (c.rate[0] && (krl_parse_rate("rate claim", c.rate, &per_s, NULL) || per_s <= 0))
        return kerr_set(e, K_INVALID, "token rate claim is not a rate like 50/s");
    if (strlen(c.models) >= sizeof who->models)
        return kerr_set(e, K_INVALID, "token models claim is too long");
    who->role = krole_parse(c.role);
    snprintf(who->name, sizeof who->name, "jwt:%.120s", c.subject);
    snprintf(who->models, sizeof who->models, "%s", c.models);
    snprintf(who->rate, sizeof who->rate, "%s", c.rate);
    return K_OK;
}

kstatus kauth_check(kauth *a, const char *authorization, const char *api_key, int64_t now_ms,
                    kauth_who *who, kerr *e)
{
    memset(who, 0, sizeof *who);
    const char *key = presented(authorization, api_key);
    if (!key) return kerr_set(e, K_INVALID, "no credentials");
    char id[KKEY_ID_LEN + 1];
    if (!kkey_id_of(key, id))
        return a->jwt ? check_jwt(a, key, now_ms, who, e)
                      : kerr_set(e, K_INVALID, "not a Kiln API key");
    unsigned char sum[32];
    sha256(key, strlen(key), sum);
    pthread_mutex_lock(&a->lock);
    kstatus st = verify(a, key, id, sum, now_ms, who, e);
    pthread_mutex_unlock(&a->lock);
    return st;
}

/* Failure records come from a token bucket: AUDIT_BURST at once, then AUDIT_PER_SECOND, so a
 * sustained flood of bad credentials adds at most 86 400 records a day (about 25 MB) rather than
 * filling the disk; the failures not recorded are counted in the next record's detail. */
#define AUDIT_BURST 10.0
#define AUDIT_PER_SECOND 1.0


void kauth_audit_failure(kauth *a, const char *actor, const char *client, const char *reason,
                         int64_t now_ms)
{
    if (!a || !a->reg) return;
    pthread_mutex_lock(&a->lock);
    int write = bucket_take(&a->audit_budget, AUDIT_BURST, AUDIT_PER_SECOND, now_ms);
    unsigned long long dropped = write ? a->audit_dropped : 0;
    if (write)
        a->audit_dropped = 0;
    else
        a->audit_dropped++;
    pthread_mutex_unlock(&a->lock);
    if (!write) return;
    char detail[KERR_MSG_MAX + 64];
    snprintf(detail, sizeof detail, "%s", reason);
    if (dropped)
        snprintf(detail, sizeof detail, "%s (%llu more failures before this one not recorded)",
                 reason, dropped);
    kaudit_event ev = {.actor = actor && *actor ? actor : "anonymous",
                       .address = client && *client ? client : "unknown",
                       .action = actor && *actor ? "auth.forbidden" : "auth.failure",
                       .object = "http",
                       .outcome = "denied",
                       .detail = detail};
    pthread_mutex_lock(&a->reg_lock);
    kaudit_append(a->reg, &ev, NULL);
    pthread_mutex_unlock(&a->reg_lock);
}

kstatus kauth_audit(kauth *a, const char *actor, const char *client, const char *action,
                    const char *object, const char *outcome, const char *detail, kerr *e)
{
    if (!a || !a->reg) return K_OK;
    kaudit_event ev = {.actor = actor && *actor ? actor : "anonymous",
                       .address = client && *client ? client : "unknown",
                       .action = action,
                       .object = object,
                       .outcome = outcome,
                       .detail = detail};
    pthread_mutex_lock(&a->reg_lock);
    kstatus st = kaudit_append(a->reg, &ev, e);
    pthread_mutex_unlock(&a->reg_lock);
    return st;
}
