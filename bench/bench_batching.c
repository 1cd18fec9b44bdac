/* bench_batching.c — when do dynamic batching and the prediction cache pay off? In-process, no
 * HTTP: T threads each score single rows in a closed loop for a fixed time, through
 *   direct      kmodel_predict(m, row, 1, ...)
 *   batch       kbatcher_predict (max_batch 64, max_delay 200 us, no queue limit)
 *   cache R%    kcache_get, on a miss kmodel_predict + kcache_put (64 MiB budget); a call
 *               repeats one of 1000 hot rows with probability R, otherwise sends a row never
 *               seen before
 * and prints rows/s and per-call latency percentiles (every call timed into a log-linear
 * histogram, 1/32-octave buckets), with the mean batch size or the hit rate.
 *
 * Usage: bench_batching MODEL [MODEL...] [--secs 2] [--threads 1,2,8,32]
 *   MODEL  anything `kiln import` reads, or a .kiln package */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/import.h"
#include "model/predictor.h"
#include "serve/batcher.h"
#include "serve/cache.h"

#define HOT 1000
#define SUB 32 /* histogram buckets per octave */
#define OCTAVES 40
#define MAX_THREADS 64

typedef enum { MODE_DIRECT, MODE_BATCH, MODE_CACHE } mode;

typedef struct {
    const kmodel *m;
    mode how;
    double repeat; /* cache mode: probability of a hot row */
    kbatcher *b;
    kcache *c;
    double secs;
    atomic_int go;
} run_cfg;

typedef struct {
    run_cfg *cfg;
    int id;
    uint64_t calls;
    uint32_t hist[OCTAVES * SUB];
} worker;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_batching: %s: %s\n", what, msg);
    exit(1);
}

static int bucket_of(uint64_t ns)
{
    if (ns < SUB) return (int)ns;
    int oct = 63 - __builtin_clzll(ns); /* >= 5 */
    int sub = (int)((ns >> (oct - 5)) & (SUB - 1));
    int i = (oct - 4) * SUB + sub;
    return i < OCTAVES * SUB ? i : OCTAVES * SUB - 1;
}

static double bucket_ns(int i)
{
    if (i < SUB) return i;
    int oct = i / SUB + 4, sub = i % SUB;
    return ldexp(1.0 + (sub + 0.5) / SUB, oct);
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
    return *x;
}

/* A plausible row for the breast-cancer models: feature j scaled to its range. */
static void make_row(double *row, int32_t nf, uint64_t id)
{
    static const double scale[] = {30, 40, 190, 2500, 0.17, 0.35, 0.43, 0.2, 0.3, 0.1};
    uint64_t x = id * 0x9e3779b97f4a7c15ull + 1;
    for (int32_t j = 0; j < nf; j++) {
        double u = (double)(xorshift(&x) >> 11) / 9007199254740992.0;
        row[j] = u * scale[j % 10] * (j >= 20 ? 1.3 : 1.0);
    }
}

/* Rows made once, so the timed loop spends its time in the code under test: POOL base rows
 * (the first HOT of them are the hot set). A fresh row is a base row with its first feature
 * nudged by a per-call amount, which makes it a key never seen before. */
#define POOL 4096
static double *pool;

static void make_pool(int32_t nf)
{
    free(pool);
    pool = malloc((size_t)POOL * (size_t)nf * sizeof *pool);
    if (!pool) die("malloc", "row pool");
    for (int i = 0; i < POOL; i++)
        make_row(pool + (size_t)i * (size_t)nf, nf, (uint64_t)i);
}

static void one_call(worker *w, const double *row, double *out)
{
    run_cfg *g = w->cfg;
    int32_t nf = kmodel_n_features(g->m), nv = kmodel_n_values(g->m);
    kerr e = {0};
    switch (g->how) {
    case MODE_DIRECT:
        if (kmodel_predict(g->m, row, 1, out, NULL)) die("kmodel_predict", "failed");
        break;
    case MODE_BATCH:
        if (kbatcher_predict(g->b, row, out, &e)) die("kbatcher_predict", e.msg);
        break;
    case MODE_CACHE:
        if (kcache_get(g->c, row, nf, out, nv)) break;
        if (kmodel_predict(g->m, row, 1, out, NULL)) die("kmodel_predict", "failed");
        kcache_put(g->c, row, nf, out, nv);
        break;
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    run_cfg *g = w->cfg;
    int32_t nf = kmodel_n_features(g->m);
    double row[1024], out[1024];
    uint64_t x = 0x2545f4914f6cdd1dull * (uint64_t)(w->id + 1), fresh = 0;
    while (!atomic_load(&g->go))
        sched_yield();
    uint64_t end = now_ns() + (uint64_t)(g->secs * 1e9);
    for (;;) {
        uint64_t r = xorshift(&x);
        int hot = g->how == MODE_CACHE && (double)(r >> 11) / 9007199254740992.0 < g->repeat;
        memcpy(row, pool + (r % (hot ? HOT : POOL)) * (uint64_t)nf, (size_t)nf * sizeof *row);
        if (!hot) /* unique per thread and call */
            row[0] += (double)(++fresh * MAX_THREADS + (uint64_t)w->id) * 1e-9;
        uint64_t t0 = now_ns();
        one_call(w, row, out);
        uint64_t t1 = now_ns();
        w->hist[bucket_of(t1 - t0)]++;
        w->calls++;
        if (t1 >= end) break;
    }
    return NULL;
}

static double percentile(const uint64_t *hist, uint64_t total, double p)
{
    uint64_t want = (uint64_t)ceil(p * (double)total), seen = 0;
    for (int i = 0; i < OCTAVES * SUB; i++)
        if ((seen += hist[i]) >= want && hist[i]) return bucket_ns(i) / 1000.0;
    return NAN;
}

static void measure(run_cfg *g, int threads, const char *model_name, const char *label)
{
    static worker w[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    atomic_store(&g->go, 0);
    for (int t = 0; t < threads; t++) {
        memset(&w[t], 0, sizeof w[t]);
        w[t].cfg = g;
        w[t].id = t;
        if (pthread_create(&th[t], NULL, work, &w[t])) die("pthread_create", strerror(errno));
    }
    uint64_t t0 = now_ns();
    atomic_store(&g->go, 1);
    static uint64_t hist[OCTAVES * SUB];
    memset(hist, 0, sizeof hist);
    uint64_t calls = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(th[t], NULL);
        calls += w[t].calls;
        for (int i = 0; i < OCTAVES * SUB; i++)
            hist[i] += w[t].hist[i];
    }
    double wall = (double)(now_ns() - t0) * 1e-9;
    char extra[64] = "";
    if (g->how == MODE_BATCH) {
        uint64_t batches, rows;
        kbatcher_stats(g->b, &batches, &rows);
        snprintf(extra, sizeof extra, "mean batch %.1f", (double)rows / (double)batches);
    } else if (g->how == MODE_CACHE) {
        uint64_t hits, misses;
        kcache_stats(g->c, &hits, &misses, NULL, NULL);
        snprintf(extra, sizeof extra, "hit rate %.1f%%",
                 100.0 * (double)hits / (double)(hits + misses));
    }
    printf("| %-8s | %-11s | %7d | %12.0f | %9.1f | %9.1f | %-15s |\n", model_name, label, threads,
           (double)calls / wall, percentile(hist, calls, 0.5), percentile(hist, calls, 0.99),
           extra);
    fflush(stdout);
}

static void bench_model(const char *path, const int *threads, int n_threads, double secs)
{
    kspec *s;
    kmodel *m;
    kerr e = {0};
    if (import_file(path, KFMT_AUTO, &s, &e) || kmodel_new(s, &m, &e)) die(path, e.msg);
    if (kmodel_n_features(m) > 1024 || kmodel_n_values(m) > 1024) die(path, "too wide");
    make_pool(kmodel_n_features(m));
    const char *base = strrchr(path, '/');
    char name[16]; /* table column width */
    snprintf(name, sizeof name, "%.8s", base ? base + 1 : path);
    static const double repeats[] = {0.01, 0.5, 0.99};
    for (int k = 0; k < n_threads; k++) {
        int t = threads[k];
        run_cfg g = {.m = m, .secs = secs, .how = MODE_DIRECT};
        measure(&g, t, name, "direct");
        g.how = MODE_BATCH;
        g.b = kbatcher_new(m, 64, 200, 0);
        measure(&g, t, name, "batch64/200");
        kbatcher_free(g.b);
        g.how = MODE_CACHE;
        for (int r = 0; r < 3; r++) {
            char label[32];
            snprintf(label, sizeof label, "cache %g%%", repeats[r] * 100);
            g.repeat = repeats[r];
            g.c = kcache_new((size_t)64 << 20, 0);
            measure(&g, t, name, label);
            kcache_free(g.c);
        }
    }
    kmodel_free(m);
}

static int parse_threads(const char *s, int *out)
{
    int n = 0;
    while (*s && n < 8) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > MAX_THREADS) return -1;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return -1;
    }
    return n;
}

int main(int argc, char **argv)
{
    double secs = 2.0;
    int threads[8] = {1, 2, 8, 32}, n_threads = 4, n_models = 0;
    const char *models[8];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--secs") == 0 && i + 1 < argc)
            secs = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            if ((n_threads = parse_threads(argv[++i], threads)) <= 0) die("--threads", "bad list");
        } else if (n_models < 8)
            models[n_models++] = argv[i];
    }
    if (n_models == 0 || !(secs > 0)) {
        fprintf(stderr, "usage: bench_batching MODEL [MODEL...] [--secs 2] [--threads 1,2,8,32]\n");
        return 2;
    }
    printf("| model    | mode        | threads |       rows/s |   p50 us |   p99 us | note         "
           "   |\n");
    printf("|----------|-------------|---------|--------------|----------|----------|--------------"
           "---|\n");
    for (int i = 0; i < n_models; i++)
        bench_model(models[i], threads, n_threads, secs);
    return 0;
}
