/* ratelimit.c — token buckets per key and per address: local (a lock-striped hash with an LRU
 * list per stripe) or shared through Redis (an atomic Lua script); ratelimit.h has the rules
 * and the failure policy. */
#include "serve/ratelimit.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "base/fs.h"
#include "monitor/metrics.h"

#define N_STRIPES 64 /* a power of two */
#define DEFAULT_MAX_BUCKETS 65536
#define N_CONNS 8               /* pooled Redis connections, one request on each at a time */
#define REDIS_TIMEOUT_US 100000 /* connect and command; a slow Redis must not stall requests */
#define REDIS_RETRY_US 1000000  /* after a failure, local buckets only for this long */
#define WARN_EVERY_US 10000000
#define MAX_RATE 1e9
#define MAX_RETRY_S 1e9

typedef struct rl_bucket {
    struct rl_bucket *next;          /* hash chain */
    struct rl_bucket *newer, *older; /* LRU list */
    uint64_t hash;
    double tokens;
    int64_t at_us; /* when `tokens` was last brought up to date */
    char name[];
} rl_bucket;

typedef struct {
    pthread_mutex_t lock;
    rl_bucket **slots;
    size_t n_slots, count, cap;
    rl_bucket *newest, *oldest;
} stripe;

typedef struct {
    pthread_mutex_t lock;
    redisContext *c;
} rconn;

#define PASSWORD_MAX 1024 /* bytes of a Redis password, NUL included */

struct krl {
    stripe stripes[N_STRIPES];
    krl_limit per_address, per_role[5];
    double burst_s, burst_tokens; /* bucket size: burst_s seconds' worth, or burst_tokens */
    uint64_t seed;
    int64_t (*clock_us)(void *);
    void *clock_ctx;
    void (*log)(void *, int, const char *);
    void *log_ctx;
    int redis; /* buckets in Redis */
    char host[256], user[128];
    char password[PASSWORD_MAX]; /* Redis AUTH, wiped when freed; "" = none */
    int port, db;
    char sha[41]; /* SHA-1 of SCRIPT, for EVALSHA */
    rconn conns[N_CONNS];
    atomic_uint next_conn;
    _Atomic int64_t down_until_us, warned_at_us;
    atomic_int degraded;
    _Atomic unsigned long long limited_key, limited_address, evicted, redis_errors, fallbacks;
};

/* The shared bucket: KEYS[1] a hash {tokens, at (µs, Redis's clock)}; ARGV per_s, burst, ttl
 * (ms). Returns {1, 0} when a token was taken, {0, µs until one is there} when not. Redis's
 * own clock is used so instances with skewed clocks still agree. */
static const char SCRIPT[] =
    "local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local s = redis.call('HMGET', KEYS[1], 'tokens', 'at')\n"
    "local tokens, at = tonumber(s[1]), tonumber(s[2])\n"
    "if tokens == nil or at == nil then tokens, at = burst, now end\n"
    "if now > at then\n"
    "  tokens = math.min(burst, tokens + (now - at) * rate / 1000000)\n"
    "  at = now\n"
    "end\n"
    "local ok, wait = 0, 0\n"
    "if tokens >= 1 then tokens, ok = tokens - 1, 1\n"
    "else wait = math.ceil((1 - tokens) * 1000000 / rate) end\n"
    "redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),\n"
    "           'at', string.format('%.0f', at))\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[3])\n"
    "return {ok, wait}\n";

/* ---- settings ------------------------------------------------------------------------------ */

kstatus krl_parse_rate(const char *setting, const char *text, double *per_s, kerr *e)
{
    *per_s = 0;
    if (!text || !*text) return K_OK;
    size_t n = strspn(text, "0123456789.");
    const char *unit = text + n, *dot = strchr(text, '.');
    int shape_ok = n > 0 && text[0] != '.' && text[n - 1] != '.' &&
                   (!dot || dot >= unit || !memchr(dot + 1, '.', (size_t)(unit - dot - 1)));
    double per = !strcmp(unit, "/s")   ? 1
                 : !strcmp(unit, "/m") ? 60
                 : !strcmp(unit, "/h") ? 3600
                                       : 0;
    double x = shape_ok ? strtod(text, NULL) : 0;
    if (!(x > 0) || x > MAX_RATE || per == 0)
        return kerr_set(e, K_INVALID,
                        "%s: expected a rate N/s, N/m or N/h (e.g. 100/s; \"\" for none), got "
                        "'%.40s'",
                        setting, text);
    *per_s = x / per;
    return K_OK;
}

/* "" → 1 s worth; "Ns" → N seconds' worth; "N" → N tokens (a whole number >= 1). */
static kstatus parse_burst(krl *rl, const char *text, kerr *e)
{
    rl->burst_s = 1;
    if (!text || !*text) return K_OK;
    size_t n = strspn(text, "0123456789.");
    int seconds = !strcmp(text + n, "s");
    char *end = NULL;
    double x = n > 0 && text[0] != '.' ? strtod(text, &end) : 0;
    int ok = x > 0 && x <= MAX_RATE && end == text + n && (seconds || (!text[n] && x == floor(x)));
    if (!ok)
        return kerr_set(e, K_INVALID,
                        "rate_limit_burst: expected Ns (N seconds' worth of the rate, e.g. 1s) or "
                        "a whole number of requests, got '%.40s'",
                        text);
    if (seconds)
        rl->burst_s = x;
    else
        rl->burst_s = 0, rl->burst_tokens = x;
    return K_OK;
}

static void make_limit(const krl *rl, double per_s, const char *text, krl_limit *out)
{
    out->per_s = per_s;
    out->burst = rl->burst_s > 0 ? per_s * rl->burst_s : rl->burst_tokens;
    if (out->burst < 1) out->burst = 1;
    snprintf(out->text, sizeof out->text, "%s", text ? text : "");
}

static kstatus parse_limit(krl *rl, const char *setting, const char *text, krl_limit *out, kerr *e)
{
    double per_s;
    kstatus st = krl_parse_rate(setting, text, &per_s, e);
    if (!st) make_limit(rl, per_s, text, out);
    return st;
}

/* "USER@" before the host: an ACL user name (the password is never part of the URL). */
static kstatus parse_user(krl *rl, const char **p, const char *url, kerr *e)
{
    const char *at = strchr(*p, '@');
    if (!at) return K_OK;
    size_t n = (size_t)(at - *p);
    if (memchr(*p, ':', n))
        return kerr_set(e, K_INVALID,
                        "rate_limit_redis: a password does not belong in the URL (it would show "
                        "in logs and process lists); put it in rate_limit_redis_password_file");
    if (n == 0 || n >= sizeof rl->user || strcspn(*p, "/[") < n)
        return kerr_set(e, K_INVALID, "rate_limit_redis: bad user name in '%.100s'", url);
    snprintf(rl->user, sizeof rl->user, "%.*s", (int)n, *p);
    *p = at + 1;
    return K_OK;
}

/* "redis://[USER@]HOST:PORT[/DB]", "HOST:PORT[/DB]" or "HOST" (port 6379); "[::1]:6379" for
 * IPv6. */
static kstatus parse_redis(krl *rl, const char *url, kerr *e)
{
    const char *p = !strncmp(url, "redis://", 8) ? url + 8 : url;
    kstatus st = parse_user(rl, &p, url, e);
    if (st) return st;
    const char *host_end = p[0] == '[' ? strchr(p, ']') : p + strcspn(p, ":/");
    const char *host = p[0] == '[' ? p + 1 : p;
    char *end = NULL;
    long port = 6379, db = 0;
    int ok = host_end && host_end > host && (size_t)(host_end - host) < sizeof rl->host &&
             !strchr(p, '@');
    const char *q = ok ? host_end + (p[0] == '[') : "";
    if (ok && *q == ':') {
        port = strtol(q + 1, &end, 10);
        ok = end > q + 1 && port > 0 && port < 65536;
        q = end;
    }
    if (ok && *q == '/' && q[1]) {
        db = strtol(q + 1, &end, 10);
        ok = end > q + 1 && db >= 0 && db < 100000;
        q = end;
    }
    if (!ok || (*q && strcmp(q, "/")))
        return kerr_set(e, K_INVALID,
                        "rate_limit_redis: expected redis://[USER@]HOST:PORT[/DB] or HOST:PORT, "
                        "got '%.100s'",
                        url);
    snprintf(rl->host, sizeof rl->host, "%.*s", (int)(host_end - host), host);
    rl->port = (int)port, rl->db = (int)db, rl->redis = 1;
    return K_OK;
}

static void script_sha(char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_Digest(SCRIPT, strlen(SCRIPT), md, &n, EVP_sha1(), NULL);
    for (unsigned i = 0; i < n && i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* ---- clock, logging ------------------------------------------------------------------------ */

static int64_t now_us(krl *rl)
{
    if (rl->clock_us) return rl->clock_us(rl->clock_ctx);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* A warning at most once per WARN_EVERY_US (every request may hit the same failure). */
static void warn(krl *rl, const char *why)
{
    int64_t now = now_us(rl), last = atomic_load(&rl->warned_at_us);
    if (!rl->log || (last && now - last < WARN_EVERY_US)) return;
    if (!atomic_compare_exchange_strong(&rl->warned_at_us, &last, now)) return;
    char msg[800];
    snprintf(msg, sizeof msg,
             "rate limiting: Redis at %s:%d failed (%.300s); each instance enforces the limits "
             "with its own buckets until Redis answers again",
             rl->host, rl->port, why);
    rl->log(rl->log_ctx, 1, msg);
}

/* ---- local buckets ------------------------------------------------------------------------- */

static uint64_t hash_of(const krl *rl, const char *s)
{
    uint64_t h = 1469598103934665603ULL ^ rl->seed; /* FNV-1a, seeded against chosen collisions */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    h ^= h >> 33; /* spread the low bits, which pick the stripe */
    h *= 0xff51afd7ed558ccdULL;
    return h ^ (h >> 33);
}

static void lru_unlink(stripe *s, rl_bucket *b)
{
    if (b->newer)
        b->newer->older = b->older;
    else
        s->newest = b->older;
    if (b->older)
        b->older->newer = b->newer;
    else
        s->oldest = b->newer;
    b->newer = b->older = NULL;
}

static void lru_push(stripe *s, rl_bucket *b)
{
    b->older = s->newest;
    b->newer = NULL;
    if (s->newest) s->newest->newer = b;
    s->newest = b;
    if (!s->oldest) s->oldest = b;
}

static rl_bucket **slot_of(stripe *s, uint64_t h)
{
    return &s->slots[(h / N_STRIPES) & (s->n_slots - 1)];
}

static void drop_oldest(krl *rl, stripe *s)
{
    rl_bucket *b = s->oldest;
    rl_bucket **p = slot_of(s, b->hash);
    while (*p != b)
        p = &(*p)->next;
    *p = b->next;
    lru_unlink(s, b);
    free(b);
    s->count--;
    atomic_fetch_add(&rl->evicted, 1);
}

static rl_bucket *find_or_add(krl *rl, stripe *s, uint64_t h, const char *name,
                              const krl_limit *lim, int64_t now)
{
    for (rl_bucket *b = *slot_of(s, h); b; b = b->next)
        if (b->hash == h && !strcmp(b->name, name)) return b;
    if (s->count >= s->cap) drop_oldest(rl, s);
    size_t len = strlen(name) + 1;
    rl_bucket *b = malloc(sizeof *b + len);
    if (!b) return NULL;
    memcpy(b->name, name, len);
    b->hash = h, b->tokens = lim->burst, b->at_us = now;
    b->next = *slot_of(s, h);
    *slot_of(s, h) = b;
    lru_push(s, b);
    s->count++;
    return b;
}

/* Refills b up to now and takes a token: 1, or 0 with *wait_s until one is there. */
static int take_token(rl_bucket *b, const krl_limit *lim, int64_t now, double *wait_s)
{
    if (now > b->at_us) {
        b->tokens += (double)(now - b->at_us) * lim->per_s / 1e6;
        b->at_us = now;
    }
    if (b->tokens > lim->burst) b->tokens = lim->burst;
    if (b->tokens >= 1) {
        b->tokens -= 1;
        return 1;
    }
    *wait_s = (1 - b->tokens) / lim->per_s;
    return 0;
}

static int local_take(krl *rl, const char *name, const krl_limit *lim, double *wait_s)
{
    uint64_t h = hash_of(rl, name);
    stripe *s = &rl->stripes[h & (N_STRIPES - 1)];
    int64_t now = now_us(rl);
    pthread_mutex_lock(&s->lock);
    rl_bucket *b = find_or_add(rl, s, h, name, lim, now);
    int ok = 1; /* out of memory: let the request through rather than fail it */
    if (b) {
        ok = take_token(b, lim, now, wait_s);
        lru_unlink(s, b);
        lru_push(s, b);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* ---- Redis buckets ------------------------------------------------------------------------- */

/* AUTH [USER] PASSWORD; the reason on failure is Redis's (it never echoes the password). */
static int authenticate(krl *rl, redisContext *c, char *why, size_t size)
{
    redisReply *r = rl->user[0] ? redisCommand(c, "AUTH %s %s", rl->user, rl->password)
                                : redisCommand(c, "AUTH %s", rl->password);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    if (!ok)
        snprintf(why, size, "AUTH%s%s: %s", rl->user[0] ? " as " : "", rl->user,
                 r && r->str ? r->str : c->errstr);
    freeReplyObject(r);
    return ok;
}

static redisContext *redis_connect(krl *rl, char *why, size_t size)
{
    struct timeval tv = {0, REDIS_TIMEOUT_US};
    redisContext *c = redisConnectWithTimeout(rl->host, rl->port, tv);
    if (!c || c->err) {
        snprintf(why, size, "connect: %s", c ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    if (rl->password[0] && !authenticate(rl, c, why, size)) {
        redisFree(c);
        return NULL;
    }
    if (!rl->db) return c;
    redisReply *r = redisCommand(c, "SELECT %d", rl->db);
    int ok = r && r->type != REDIS_REPLY_ERROR;
    snprintf(why, size, "SELECT %d: %s", rl->db, r ? r->str : c->errstr);
    freeReplyObject(r);
    if (ok) return c;
    redisFree(c);
    return NULL;
}

static redisReply *run_script(krl *rl, redisContext *c, const char *key, const krl_limit *lim)
{
    char rate[40], burst[40], ttl[40];
    snprintf(rate, sizeof rate, "%.17g", lim->per_s);
    snprintf(burst, sizeof burst, "%.17g", lim->burst);
    double ttl_ms = ceil(lim->burst / lim->per_s * 1000) + 1000; /* full again by then */
    snprintf(ttl, sizeof ttl, "%.0f", ttl_ms < 1e12 ? ttl_ms : 1e12);
    redisReply *r = redisCommand(c, "EVALSHA %s 1 %s %s %s %s", rl->sha, key, rate, burst, ttl);
    if (r && r->type == REDIS_REPLY_ERROR && !strncmp(r->str, "NOSCRIPT", 8)) {
        freeReplyObject(r); /* not cached (new or restarted Redis): EVAL caches it */
        r = redisCommand(c, "EVAL %s 1 %s %s %s %s", SCRIPT, key, rate, burst, ttl);
    }
    return r;
}

/* Reads {ok, wait µs}; 0 when the reply has that shape, else -1 with why. */
static int read_reply(const redisReply *r, int *ok, double *wait_s, char *why, size_t size)
{
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER && r->element[1]->type == REDIS_REPLY_INTEGER) {
        *ok = r->element[0]->integer == 1;
        *wait_s = (double)r->element[1]->integer / 1e6;
        return 0;
    }
    snprintf(why, size, "unexpected reply: %.200s", r->type == REDIS_REPLY_ERROR ? r->str : "?");
    return -1;
}

/* One check on connection k (locked): 0 and *ok, or -1 with why (connection dropped if bad). */
static int redis_take_on(krl *rl, rconn *k, const char *key, const krl_limit *lim, int *ok,
                         double *wait_s, char *why, size_t size)
{
    if (!k->c && !(k->c = redis_connect(rl, why, size))) return -1;
    redisReply *r = run_script(rl, k->c, key, lim);
    if (!r) {
        snprintf(why, size, "%s", k->c->errstr[0] ? k->c->errstr : "no reply");
        redisFree(k->c);
        k->c = NULL;
        return -1;
    }
    int rc = read_reply(r, ok, wait_s, why, size);
    freeReplyObject(r);
    return rc;
}

/* 0 with the shared bucket's answer, or -1: use the local buckets (the failure policy). */
static int redis_take(krl *rl, const char *name, const krl_limit *lim, int *ok, double *wait_s)
{
    int64_t now = now_us(rl);
    if (now < atomic_load(&rl->down_until_us)) return -1;
    char key[300], why[400] = "";
    snprintf(key, sizeof key, "kiln:rl:%s", name);
    rconn *k = &rl->conns[atomic_fetch_add(&rl->next_conn, 1) % N_CONNS];
    pthread_mutex_lock(&k->lock);
    int rc = redis_take_on(rl, k, key, lim, ok, wait_s, why, sizeof why);
    pthread_mutex_unlock(&k->lock);
    if (rc == 0) {
        if (atomic_exchange(&rl->degraded, 0) && rl->log)
            rl->log(rl->log_ctx, 2, "rate limiting: Redis answers again; limits are shared");
        return 0;
    }
    atomic_fetch_add(&rl->redis_errors, 1);
    atomic_store(&rl->down_until_us, now + REDIS_RETRY_US);
    atomic_store(&rl->degraded, 1);
    warn(rl, why);
    return -1;
}

/* ---- public -------------------------------------------------------------------------------- */

static kstatus init_stripes(krl *rl, size_t max_buckets)
{
    size_t cap = (max_buckets ? max_buckets : DEFAULT_MAX_BUCKETS) / N_STRIPES;
    if (cap < 1) cap = 1;
    size_t slots = 1;
    while (slots < cap)
        slots <<= 1;
    for (int i = 0; i < N_STRIPES; i++) {
        stripe *s = &rl->stripes[i];
        pthread_mutex_init(&s->lock, NULL);
        s->cap = cap, s->n_slots = slots;
        if (!(s->slots = calloc(slots, sizeof *s->slots))) return K_NOMEM;
    }
    return K_OK;
}


/* The password file's first line, kept in memory that is wiped when freed. */
static kstatus read_password(krl *rl, const char *path, kerr *e)
{
    if (!rl->redis)
        return kerr_set(e, K_INVALID,
                        "rate_limit_redis_password_file is set without rate_limit_redis");
    kstatus st = fs_read_secret_line(path, rl->password, sizeof rl->password, e);
    if (st) kerr_prefix(e, "rate_limit_redis_password_file");
    return st;
}

static kstatus apply_options(krl *rl, const krl_options *o, kerr *e)
{
    static const char *const role_settings[5] = {"", "rate_limit_viewer", "rate_limit_predictor",
                                                 "rate_limit_deployer", "rate_limit_admin"};
    kstatus st = parse_burst(rl, o->burst, e);
    if (!st) st = parse_limit(rl, "rate_limit_per_address", o->per_address, &rl->per_address, e);
    for (int i = 1; i < 5 && !st; i++)
        st = parse_limit(rl, role_settings[i], o->per_role[i], &rl->per_role[i], e);
    if (!st && o->redis && *o->redis) st = parse_redis(rl, o->redis, e);
    if (!st && o->redis_password_file && *o->redis_password_file)
        st = read_password(rl, o->redis_password_file, e);
    return st;
}

/* Tries Redis once at start, so a wrong address shows in the log right away. */
static void probe_redis(krl *rl)
{
    char why[400];
    redisContext *c = redis_connect(rl, why, sizeof why);
    if (c) {
        redisReply *r = redisCommand(c, "SCRIPT LOAD %s", SCRIPT);
        freeReplyObject(r);
        rl->conns[0].c = c;
        return;
    }
    atomic_store(&rl->degraded, 1);
    warn(rl, why);
}

kstatus krl_new(const krl_options *o, krl **out, kerr *e)
{
    *out = NULL;
    krl *rl = calloc(1, sizeof *rl);
    if (!rl) return kerr_set(e, K_NOMEM, "out of memory");
    rl->clock_us = o->clock_us, rl->clock_ctx = o->clock_ctx;
    rl->log = o->log, rl->log_ctx = o->log_ctx;
    if (getrandom(&rl->seed, sizeof rl->seed, GRND_NONBLOCK) != (ssize_t)sizeof rl->seed)
        rl->seed = (uint64_t)(uintptr_t)rl ^ (uint64_t)time(NULL);
    for (int i = 0; i < N_CONNS; i++)
        pthread_mutex_init(&rl->conns[i].lock, NULL);
    kstatus st = init_stripes(rl, o->max_buckets);
    if (st) kerr_set(e, st, "out of memory");
    if (!st) st = apply_options(rl, o, e);
    if (st) {
        krl_free(rl);
        return st;
    }
    script_sha(rl->sha);
    if (rl->redis) probe_redis(rl);
    *out = rl;
    return K_OK;
}

void krl_free(krl *rl)
{
    if (!rl) return;
    for (int i = 0; i < N_STRIPES; i++) {
        stripe *s = &rl->stripes[i];
        while (s->oldest)
            drop_oldest(rl, s);
        free(s->slots);
        pthread_mutex_destroy(&s->lock);
    }
    for (int i = 0; i < N_CONNS; i++) {
        redisFree(rl->conns[i].c);
        pthread_mutex_destroy(&rl->conns[i].lock);
    }
    OPENSSL_cleanse(rl->password, sizeof rl->password);
    free(rl);
}

int krl_take(krl *rl, const char *bucket, const krl_limit *lim, krl_denial *d)
{
    if (!rl || !lim || !(lim->per_s > 0)) return 1;
    int ok = 1;
    double wait_s = 0;
    if (!rl->redis || redis_take(rl, bucket, lim, &ok, &wait_s) != 0) {
        if (rl->redis) atomic_fetch_add(&rl->fallbacks, 1);
        ok = local_take(rl, bucket, lim, &wait_s);
    }
    if (ok) return 1;
    double s = ceil(wait_s - 1e-9); /* 2.0000000001 s of float noise is still 2 s */
    d->retry_after_s = s < 1 ? 1 : s > MAX_RETRY_S ? (int)MAX_RETRY_S : (int)s;
    d->what[0] = 0;
    return 0;
}

int krl_allow_address(krl *rl, const char *client, krl_denial *d)
{
    if (!rl || !(rl->per_address.per_s > 0)) return 1;
    char bucket[128];
    snprintf(bucket, sizeof bucket, "addr:%.100s", client && *client ? client : "unknown");
    if (krl_take(rl, bucket, &rl->per_address, d)) return 1;
    atomic_fetch_add(&rl->limited_address, 1);
    snprintf(d->what, sizeof d->what, "address %.100s may make %s", bucket + 5,
             rl->per_address.text);
    return 0;
}

int krl_allow_key(krl *rl, const char *name, krole role, const char *rate, krl_denial *d)
{
    if (!rl) return 1;
    krl_limit own;
    const krl_limit *lim = role > KROLE_NONE && role <= KROLE_ADMIN ? &rl->per_role[role] : NULL;
    double per_s = 0;
    if (rate && *rate && !krl_parse_rate("rate", rate, &per_s, NULL) && per_s > 0) {
        make_limit(rl, per_s, rate, &own); /* the key's own rate wins over its role's */
        lim = &own;
    }
    if (!lim || !(lim->per_s > 0)) return 1;
    char bucket[200];
    snprintf(bucket, sizeof bucket, "key:%.150s", name ? name : "");
    if (krl_take(rl, bucket, lim, d)) return 1;
    atomic_fetch_add(&rl->limited_key, 1);
    snprintf(d->what, sizeof d->what, "key '%.130s' may make %s", bucket + 4, lim->text);
    return 0;
}

size_t krl_buckets(krl *rl)
{
    size_t n = 0;
    for (int i = 0; rl && i < N_STRIPES; i++) {
        pthread_mutex_lock(&rl->stripes[i].lock);
        n += rl->stripes[i].count;
        pthread_mutex_unlock(&rl->stripes[i].lock);
    }
    return n;
}

void krl_write_metrics(krl *rl, buf *out)
{
    if (!rl) return;
    prom_family(out, "kiln_rate_limited_total", "counter",
                "Requests refused with 429 by a rate limit, by the bucket that was empty.");
    prom_sample(out, "kiln_rate_limited_total", "scope=\"key\"",
                (double)atomic_load(&rl->limited_key));
    prom_sample(out, "kiln_rate_limited_total", "scope=\"address\"",
                (double)atomic_load(&rl->limited_address));
    prom_family(out, "kiln_rate_limit_buckets", "gauge", "Rate-limit buckets held in memory.");
    prom_sample(out, "kiln_rate_limit_buckets", "", (double)krl_buckets(rl));
    prom_family(out, "kiln_rate_limit_evictions_total", "counter",
                "Least recently used buckets dropped to stay within the memory bound.");
    prom_sample(out, "kiln_rate_limit_evictions_total", "", (double)atomic_load(&rl->evicted));
    if (!rl->redis) return;
    prom_family(out, "kiln_rate_limit_redis_errors_total", "counter",
                "Redis rate-limit checks that failed (unreachable, timeout, error reply).");
    prom_sample(out, "kiln_rate_limit_redis_errors_total", "",
                (double)atomic_load(&rl->redis_errors));
    prom_family(out, "kiln_rate_limit_redis_fallbacks_total", "counter",
                "Checks answered from local buckets because Redis was failing.");
    prom_sample(out, "kiln_rate_limit_redis_fallbacks_total", "",
                (double)atomic_load(&rl->fallbacks));
}
