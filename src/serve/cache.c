/* cache.c — the prediction cache: 16 shards, each a mutex, a chained hash table that doubles
 * as it fills, and an intrusive LRU list. A node holds its canonical key words and its values
 * in one allocation. Nodes are allocated and freed outside the shard lock, so the lock covers
 * only pointer updates and the copy of a few values.
 *
 * The hash is our own: a per-cache random seed, then one 64x64→128-bit multiply folded to 64
 * bits per pair of key words, chaining the running state into each multiply. The seed keeps
 * a client from choosing inputs that all land in one bucket. */
#include "serve/cache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define SHARD_BITS 4
#define N_SHARDS (1u << SHARD_BITS)
#define MIN_BUCKETS 64u
#define CANON_NAN 0x7ff8000000000000ull

typedef struct node {
    struct node *chain;       /* next node in the same bucket */
    struct node *prev, *next; /* LRU list: prev is more recent */
    uint64_t hash;
    uint64_t born_ns;
    size_t cost; /* bytes charged to the budget */
    int32_t nf, nv;
    uint64_t words[]; /* nf canonical key words, then nv values (their bits) */
} node;

typedef struct {
    _Alignas(64) pthread_mutex_t lock; /* a shard per cache line: no false sharing */
    node **buckets;
    size_t n_buckets; /* a power of two */
    size_t count;
    node *mru, *lru;
    size_t bytes, budget;
    uint64_t hits, misses, evictions;
} shard;

struct kcache {
    shard *shards;
    uint64_t seed[4];
    uint64_t ttl_ns;
};

/* ---- keys ------------------------------------------------------------------------------------ */

/* The bits that stand for d in a key: one NaN for every NaN, and 0.0 for -0.0. */
static uint64_t canon(double d)
{
    if (d != d) return CANON_NAN;
    if (d == 0.0) return 0;
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* 128-bit product of a and b, its halves xor-ed: every input bit reaches every output bit. */
static uint64_t mix(uint64_t a, uint64_t b)
{
    __extension__ typedef unsigned __int128 u128;
    u128 r = (u128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static uint64_t hash_row(const kcache *c, const double *row, int32_t nf)
{
    const uint64_t *s = c->seed;
    uint64_t h = s[0] ^ ((uint64_t)nf * 0x9e3779b97f4a7c15ull);
    int32_t i = 0;
    for (; i + 1 < nf; i += 2)
        h = mix(canon(row[i]) ^ s[1] ^ h, canon(row[i + 1]) ^ s[2]);
    if (i < nf) h = mix(canon(row[i]) ^ s[1] ^ h, s[3]);
    return mix(h ^ s[2], (uint64_t)nf ^ s[3]) ^ h;
}

static int key_equal(const node *n, const double *row, int32_t nf)
{
    if (n->nf != nf) return 0;
    for (int32_t i = 0; i < nf; i++)
        if (n->words[i] != canon(row[i])) return 0;
    return 1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Charged per entry: the node, its words, and up to two bucket slots (the table is kept at
 * least half full of entries before it doubles, so this covers its share). */
static size_t node_cost(int32_t nf, int32_t nv)
{
    return sizeof(node) + ((size_t)nf + (size_t)nv) * sizeof(uint64_t) + 2 * sizeof(node *);
}

/* ---- a shard's table and LRU list (caller holds the shard lock) ------------------------------ */

static node **slot_of(shard *sh, const node *n)
{
    node **p = &sh->buckets[n->hash & (sh->n_buckets - 1)];
    while (*p != n)
        p = &(*p)->chain;
    return p;
}

static node *find(shard *sh, uint64_t h, const double *row, int32_t nf)
{
    for (node *n = sh->buckets[h & (sh->n_buckets - 1)]; n; n = n->chain)
        if (n->hash == h && key_equal(n, row, nf)) return n;
    return NULL;
}

static void lru_unlink(shard *sh, node *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        sh->mru = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        sh->lru = n->prev;
}

static void lru_push_front(shard *sh, node *n)
{
    n->prev = NULL;
    n->next = sh->mru;
    if (sh->mru)
        sh->mru->prev = n;
    else
        sh->lru = n;
    sh->mru = n;
}

/* Takes n out of the shard; the caller frees it (after unlocking). */
static void detach(shard *sh, node *n)
{
    *slot_of(sh, n) = n->chain;
    lru_unlink(sh, n);
    sh->count--;
    sh->bytes -= n->cost;
}

/* Doubles the table when entries outnumber buckets. A failed allocation keeps the old table:
 * chains get longer, nothing breaks. */
static void maybe_grow(shard *sh)
{
    if (sh->count <= sh->n_buckets) return;
    size_t nb = sh->n_buckets * 2;
    node **b = calloc(nb, sizeof *b);
    if (!b) return;
    for (size_t i = 0; i < sh->n_buckets; i++) {
        node *n = sh->buckets[i];
        while (n) {
            node *next = n->chain;
            n->chain = b[n->hash & (nb - 1)];
            b[n->hash & (nb - 1)] = n;
            n = next;
        }
    }
    free(sh->buckets);
    sh->buckets = b;
    sh->n_buckets = nb;
}

static void insert(shard *sh, node *n)
{
    node **b = &sh->buckets[n->hash & (sh->n_buckets - 1)];
    n->chain = *b;
    *b = n;
    lru_push_front(sh, n);
    sh->count++;
    sh->bytes += n->cost;
    maybe_grow(sh);
}

static void free_list(node *n)
{
    while (n) {
        node *next = n->chain;
        free(n);
        n = next;
    }
}

/* ---- public API ------------------------------------------------------------------------------ */

static void seed_init(kcache *c)
{
    if (getrandom(c->seed, sizeof c->seed, GRND_NONBLOCK) == (ssize_t)sizeof c->seed) return;
    /* No entropy yet (early boot): the clock and an address are still hard to guess. */
    uint64_t x = now_ns() ^ (uint64_t)(uintptr_t)c;
    for (int i = 0; i < 4; i++)
        c->seed[i] = x = mix(x ^ 0x243f6a8885a308d3ull, 0x13198a2e03707345ull);
}

kcache *kcache_new(size_t byte_budget, uint32_t ttl_ms)
{
    if (byte_budget == 0) return NULL;
    kcache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->shards = aligned_alloc(64, N_SHARDS * sizeof *c->shards);
    if (!c->shards) {
        free(c);
        return NULL;
    }
    memset(c->shards, 0, N_SHARDS * sizeof *c->shards);
    c->ttl_ns = (uint64_t)ttl_ms * 1000000u;
    seed_init(c);
    for (unsigned i = 0; i < N_SHARDS; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_init(&sh->lock, NULL);
        sh->budget = byte_budget / N_SHARDS;
        sh->n_buckets = MIN_BUCKETS;
        sh->buckets = calloc(MIN_BUCKETS, sizeof *sh->buckets);
        if (!sh->buckets) sh->budget = 0; /* this shard stores nothing */
    }
    return c;
}

void kcache_free(kcache *c)
{
    if (!c) return;
    for (unsigned i = 0; i < N_SHARDS; i++) {
        shard *sh = &c->shards[i];
        for (node *n = sh->mru, *next; n; n = next) {
            next = n->next;
            free(n);
        }
        free(sh->buckets);
        pthread_mutex_destroy(&sh->lock);
    }
    free(c->shards);
    free(c);
}

static shard *shard_of(const kcache *c, uint64_t h)
{
    return &c->shards[h >> (64 - SHARD_BITS)];
}

int kcache__shard(const kcache *c, const double *row, int32_t nf)
{
    return (int)(hash_row(c, row, nf) >> (64 - SHARD_BITS));
}

int kcache_get(kcache *c, const double *row, int32_t nf, double *values, int32_t nv)
{
    if (nf <= 0 || nv <= 0) return 0;
    uint64_t h = hash_row(c, row, nf), now = c->ttl_ns ? now_ns() : 0;
    shard *sh = shard_of(c, h);
    node *stale = NULL;
    int hit = 0;
    pthread_mutex_lock(&sh->lock);
    node *n = sh->buckets ? find(sh, h, row, nf) : NULL;
    if (n && c->ttl_ns && now - n->born_ns >= c->ttl_ns) {
        detach(sh, n);
        stale = n;
    } else if (n && n->nv == nv) {
        memcpy(values, n->words + nf, (size_t)nv * sizeof *values);
        lru_unlink(sh, n);
        lru_push_front(sh, n);
        hit = 1;
    }
    if (hit)
        sh->hits++;
    else
        sh->misses++;
    pthread_mutex_unlock(&sh->lock);
    free(stale);
    return hit;
}

static node *node_new(uint64_t h, const double *row, int32_t nf, const double *values, int32_t nv,
                      size_t cost)
{
    node *n = malloc(sizeof(node) + ((size_t)nf + (size_t)nv) * sizeof(uint64_t));
    if (!n) return NULL;
    *n = (node){.hash = h, .cost = cost, .nf = nf, .nv = nv};
    for (int32_t i = 0; i < nf; i++)
        n->words[i] = canon(row[i]);
    memcpy(n->words + nf, values, (size_t)nv * sizeof *values);
    return n;
}

void kcache_put(kcache *c, const double *row, int32_t nf, const double *values, int32_t nv)
{
    if (nf <= 0 || nv <= 0) return;
    uint64_t h = hash_row(c, row, nf);
    shard *sh = shard_of(c, h);
    size_t cost = node_cost(nf, nv);
    if (cost > sh->budget) return; /* budget is fixed at creation: safe to read unlocked */
    node *n = node_new(h, row, nf, values, nv, cost);
    if (!n) return;
    if (c->ttl_ns) n->born_ns = now_ns();
    node *dead = NULL; /* freed after unlocking */
    pthread_mutex_lock(&sh->lock);
    node *old = find(sh, h, row, nf);
    if (old) {
        detach(sh, old);
        old->chain = dead;
        dead = old;
    }
    while (sh->bytes + cost > sh->budget && sh->lru) {
        node *victim = sh->lru;
        detach(sh, victim);
        victim->chain = dead;
        dead = victim;
        sh->evictions++;
    }
    insert(sh, n);
    pthread_mutex_unlock(&sh->lock);
    free_list(dead);
}

void kcache_stats(const kcache *c, uint64_t *hits, uint64_t *misses, size_t *bytes,
                  uint64_t *evictions)
{
    uint64_t th = 0, tm = 0, te = 0;
    size_t tb = 0;
    for (unsigned i = 0; i < N_SHARDS; i++) {
        shard *sh = &c->shards[i];
        pthread_mutex_lock(&sh->lock);
        th += sh->hits;
        tm += sh->misses;
        te += sh->evictions;
        tb += sh->bytes;
        pthread_mutex_unlock(&sh->lock);
    }
    if (hits) *hits = th;
    if (misses) *misses = tm;
    if (bytes) *bytes = tb;
    if (evictions) *evictions = te;
}
