/* batcher.c — leader/follower dynamic batching (see batcher.h for why no worker thread).
 *
 * One mutex guards the batcher: the batch now forming, the free list of batch buffers and the
 * count of callers in flight. Each batch has two condition variables: `full` (only its leader
 * waits on it, with the monotonic clock, for the batch to fill) and `done` (its followers wait
 * on it for the values). Every wait re-checks its predicate under the mutex, so a signal sent
 * before the waiter sleeps is never lost. A batch returns to the free list when the last of its
 * callers has copied its values out. */
#include "serve/batcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct batch {
    struct batch *next_free;
    pthread_cond_t full; /* the leader waits: n reached max_batch */
    pthread_cond_t done; /* followers wait: finished */
    int n;               /* rows joined */
    int left;            /* callers that have taken their values */
    int finished;
    kstatus status;
    double *rows;   /* max_batch x n_features */
    double *values; /* max_batch x n_values */
} batch;

struct kbatcher {
    const kmodel *m;
    int32_t nf, nv;
    int max_batch, queue_limit;
    uint64_t delay_ns;
    pthread_mutex_t lock;
    pthread_cond_t idle; /* kbatcher_free waits: no caller in flight */
    batch *forming;      /* accepting rows; NULL when none */
    batch *free_batches;
    int inflight; /* callers admitted and not yet returned */
    atomic_uint_fast64_t batches, rows;
};

static void batch_free(batch *bt)
{
    pthread_cond_destroy(&bt->full);
    pthread_cond_destroy(&bt->done);
    free(bt->rows);
    free(bt->values);
    free(bt);
}

static batch *batch_new(const kbatcher *b)
{
    batch *bt = calloc(1, sizeof *bt);
    if (!bt) return NULL;
    bt->rows = malloc((size_t)b->max_batch * (size_t)b->nf * sizeof(double));
    bt->values = malloc((size_t)b->max_batch * (size_t)b->nv * sizeof(double));
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&bt->full, &attr);
    pthread_condattr_destroy(&attr);
    pthread_cond_init(&bt->done, NULL);
    if (!bt->rows || !bt->values) {
        batch_free(bt);
        return NULL;
    }
    return bt;
}

/* A cleared batch from the free list, or a new one. Caller holds the lock. */
static batch *batch_take(kbatcher *b)
{
    batch *bt = b->free_batches;
    if (bt)
        b->free_batches = bt->next_free;
    else if (!(bt = batch_new(b)))
        return NULL;
    bt->n = bt->left = bt->finished = 0;
    bt->status = K_OK;
    return bt;
}

kbatcher *kbatcher_new(const kmodel *m, int max_batch, uint32_t max_delay_us, int queue_limit)
{
    if (!m || max_batch <= 1) return NULL;
    kbatcher *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->m = m;
    b->nf = kmodel_n_features(m);
    b->nv = kmodel_n_values(m);
    b->max_batch = max_batch < KBATCHER_MAX_BATCH ? max_batch : KBATCHER_MAX_BATCH;
    b->queue_limit = queue_limit;
    b->delay_ns = (uint64_t)max_delay_us * 1000u;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->idle, NULL);
    atomic_init(&b->batches, 0);
    atomic_init(&b->rows, 0);
    return b;
}

void kbatcher_free(kbatcher *b)
{
    if (!b) return;
    pthread_mutex_lock(&b->lock);
    while (b->inflight > 0)
        pthread_cond_wait(&b->idle, &b->lock);
    pthread_mutex_unlock(&b->lock);
    while (b->free_batches) {
        batch *bt = b->free_batches;
        b->free_batches = bt->next_free;
        batch_free(bt);
    }
    pthread_cond_destroy(&b->idle);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

static struct timespec deadline_after(uint64_t ns)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    uint64_t nsec = (uint64_t)t.tv_nsec + ns;
    t.tv_sec += (time_t)(nsec / 1000000000u);
    t.tv_nsec = (long)(nsec % 1000000000u);
    return t;
}

/* The leader's part: wait for the batch to fill or the delay to pass, close it, score it
 * without the lock, publish the result. Called and returns with the lock held. */
static void lead(kbatcher *b, batch *bt)
{
    struct timespec until = deadline_after(b->delay_ns);
    while (bt->n < b->max_batch)
        if (pthread_cond_timedwait(&bt->full, &b->lock, &until) == ETIMEDOUT) break;
    if (b->forming == bt) b->forming = NULL; /* late arrivals start the next batch */
    int n = bt->n;                           /* closed: no one writes rows or n now */
    pthread_mutex_unlock(&b->lock);
    kstatus st = kmodel_predict(b->m, bt->rows, (size_t)n, bt->values, NULL);
    atomic_fetch_add_explicit(&b->batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&b->rows, (uint64_t)n, memory_order_relaxed);
    pthread_mutex_lock(&b->lock);
    bt->status = st;
    bt->finished = 1;
    pthread_cond_broadcast(&bt->done);
}

/* Adds the row to the forming batch (starting one if none); returns its slot, or -1 when out of
 * memory. *leader says whether this caller started the batch. Caller holds the lock. */
static int join(kbatcher *b, const double *row, batch **out, int *leader)
{
    batch *bt = b->forming;
    *leader = !bt;
    if (!bt && !(bt = b->forming = batch_take(b))) return -1;
    int slot = bt->n++;
    memcpy(bt->rows + (size_t)slot * (size_t)b->nf, row, (size_t)b->nf * sizeof *row);
    if (bt->n == b->max_batch) {
        b->forming = NULL;
        if (!*leader) pthread_cond_signal(&bt->full);
    }
    *out = bt;
    return slot;
}

kstatus kbatcher_predict(kbatcher *b, const double *row, double *values, kerr *e)
{
    pthread_mutex_lock(&b->lock);
    int limit = b->queue_limit;
    if (limit > 0 && b->inflight >= limit) {
        pthread_mutex_unlock(&b->lock);
        return kerr_set(e, K_BUSY, "queue full: %d rows waiting for batched prediction", limit);
    }
    batch *bt;
    int leader, slot = join(b, row, &bt, &leader);
    if (slot < 0) {
        pthread_mutex_unlock(&b->lock);
        return kerr_set(e, K_NOMEM, "out of memory for a prediction batch");
    }
    b->inflight++;
    if (leader)
        lead(b, bt);
    else
        while (!bt->finished)
            pthread_cond_wait(&bt->done, &b->lock);
    kstatus st = bt->status;
    if (st == K_OK)
        memcpy(values, bt->values + (size_t)slot * (size_t)b->nv, (size_t)b->nv * sizeof *values);
    if (++bt->left == bt->n) { /* the last one out recycles the batch */
        bt->next_free = b->free_batches;
        b->free_batches = bt;
    }
    if (--b->inflight == 0) pthread_cond_broadcast(&b->idle);
    pthread_mutex_unlock(&b->lock);
    if (st != K_OK) return kerr_set(e, st, "batched prediction failed: %s", kstatus_str(st));
    return K_OK;
}

void kbatcher_stats(const kbatcher *b, uint64_t *batches, uint64_t *rows)
{
    uint64_t r = atomic_load_explicit(&b->rows, memory_order_relaxed);
    uint64_t n = atomic_load_explicit(&b->batches, memory_order_relaxed);
    if (batches) *batches = n;
    if (rows) *rows = r;
}
