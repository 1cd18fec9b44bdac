/* test_batcher.c — dynamic batching on the demo XGBoost model: 16 threads x 200 calls each get
 * exactly the values kmodel_predict gives their row alone (max-diff printed, must be 0); batches
 * form under concurrency; a lone caller returns within about max_delay; a full queue answers
 * K_BUSY at once; free waits for callers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/import.h"
#include "model/predictor.h"
#include "serve/batcher.h"

#define THREADS 16
#define CALLS 200
#define N_ROWS 512

static kmodel *model;
static int32_t nf, nv;
static double *rows, *expect; /* N_ROWS rows and each one's values, scored alone */

static double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec * 1e-3;
}

/* Rows spread over each feature's range in the demo data (scaled by a deterministic
 * generator), with some missing values, so different rows take different tree paths. */
static void make_rows(void)
{
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < N_ROWS * nf; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double u = (double)(x >> 11) / 9007199254740992.0;
        static const double scale[] = {30, 40, 190, 2500, 0.17, 0.35, 0.43, 0.2, 0.3, 0.1};
        rows[i] = u * scale[(i % nf) % 10] * ((i % nf) >= 20 ? 1.3 : 1.0);
        if (x % 37 == 0) rows[i] = NAN;
    }
}

static int setup(void **state)
{
    kspec *s;
    kerr e = {0};
    if (import_file(KILN_SOURCE_DIR "/examples/demo/model.json", KFMT_AUTO, &s, &e)) return -1;
    if (kmodel_new(s, &model, &e)) return -1;
    nf = kmodel_n_features(model);
    nv = kmodel_n_values(model);
    rows = malloc((size_t)N_ROWS * (size_t)nf * sizeof *rows);
    expect = malloc((size_t)N_ROWS * (size_t)nv * sizeof *expect);
    if (!rows || !expect) return -1;
    make_rows();
    for (int i = 0; i < N_ROWS; i++)
        if (kmodel_predict(model, rows + i * nf, 1, expect + i * nv, NULL)) return -1;
    return 0;
}

static int teardown(void **state)
{
    kmodel_free(model);
    free(rows);
    free(expect);
    return 0;
}

static void off_when_max_batch_le_1(void **state)
{
    assert_null(kbatcher_new(model, 1, 100, 0));
    assert_null(kbatcher_new(model, 0, 100, 0));
    kbatcher_free(NULL);
}

typedef struct {
    kbatcher *b;
    int id;
    int calls;
    double max_diff;
    int failed;
} caller;

static void *call_many(void *arg)
{
    caller *c = arg;
    double out[16];
    for (int k = 0; k < c->calls; k++) {
        int i = (c->id * 7919 + k * 31) % N_ROWS;
        kerr e = {0};
        if (kbatcher_predict(c->b, rows + i * nf, out, &e) != K_OK) {
            c->failed++;
            continue;
        }
        for (int j = 0; j < nv; j++) {
            double d = fabs(out[j] - expect[i * nv + j]);
            if (!(d <= c->max_diff)) c->max_diff = isnan(d) ? INFINITY : d;
        }
    }
    return NULL;
}

static void run_callers(kbatcher *b, int threads, int calls, caller *c)
{
    pthread_t th[THREADS];
    for (int t = 0; t < threads; t++) {
        c[t] = (caller){.b = b, .id = t, .calls = calls};
        assert_int_equal(pthread_create(&th[t], NULL, call_many, &c[t]), 0);
    }
    for (int t = 0; t < threads; t++)
        pthread_join(th[t], NULL);
}

static void same_values_as_alone(void **state)
{
    assert_true(nv <= 16);
    kbatcher *b = kbatcher_new(model, 32, 2000, 0);
    assert_non_null(b);
    caller c[THREADS];
    run_callers(b, THREADS, CALLS, c);
    double max_diff = 0;
    for (int t = 0; t < THREADS; t++) {
        assert_int_equal(c[t].failed, 0);
        if (c[t].max_diff > max_diff) max_diff = c[t].max_diff;
    }
    uint64_t batches, n;
    kbatcher_stats(b, &batches, &n);
    print_message("16 x 200 calls: %llu batches, mean batch %.2f rows, max |diff| %.3g\n",
                  (unsigned long long)batches, (double)n / (double)batches, max_diff);
    assert_true(max_diff == 0.0); /* a row's score does not depend on its batch */
    assert_int_equal(n, THREADS * CALLS);
    assert_true((double)n / (double)batches > 1.5); /* batches really form */
    kbatcher_free(b);
}

static void lone_caller_latency(void **state)
{
    const uint32_t delay_us = 20000;
    kbatcher *b = kbatcher_new(model, 64, delay_us, 0);
    double out[16], worst = 0, best = 1e12;
    kerr e = {0};
    for (int k = 0; k < 5; k++) {
        double t0 = now_us();
        assert_int_equal(kbatcher_predict(b, rows + k * nf, out, &e), K_OK);
        double took = now_us() - t0;
        if (took > worst) worst = took;
        if (took < best) best = took;
        assert_true(took >= delay_us * 0.9); /* it did wait for company */
        assert_true(memcmp(out, expect + k * nv, (size_t)nv * sizeof *out) == 0);
    }
    print_message("lone caller, max_delay %u us: calls took %.0f to %.0f us\n", delay_us, best,
                  worst);
    /* The batch goes once the delay is up, not later: the best of five calls shows it (one call
     * can lose tens of ms to scheduling on a loaded 2-core machine, as CI once saw: 43 ms). */
    assert_true(best < delay_us + 15000.0);
    uint64_t batches, n;
    kbatcher_stats(b, &batches, &n);
    assert_int_equal(batches, 5);
    assert_int_equal(n, 5);
    kbatcher_free(b);
}

/* A full batch does not wait for the delay. */
static void full_batch_goes_at_once(void **state)
{
    kbatcher *b = kbatcher_new(model, 4, 5000000, 0); /* 5 s delay: only fullness ends a batch */
    caller c[THREADS];
    double t0 = now_us();
    run_callers(b, 8, 1, c);
    double took = now_us() - t0;
    for (int t = 0; t < 8; t++)
        assert_int_equal(c[t].failed, 0);
    uint64_t batches, n;
    kbatcher_stats(b, &batches, &n);
    assert_int_equal(batches, 2);
    assert_int_equal(n, 8);
    assert_true(took < 2000000.0);
    kbatcher_free(b);
}

static void *one_call(void *arg)
{
    caller *c = arg;
    double out[16];
    kerr e = {0};
    if (kbatcher_predict(c->b, rows, out, &e) != K_OK) c->failed++;
    return NULL;
}

static void queue_limit_busy(void **state)
{
    kbatcher *b = kbatcher_new(model, 64, 300000, 2); /* 300 ms: the two callers stay queued */
    caller c[2] = {{.b = b}, {.b = b}};
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        assert_int_equal(pthread_create(&th[t], NULL, one_call, &c[t]), 0);
    struct timespec pause = {0, 100 * 1000000L};
    nanosleep(&pause, NULL);
    double out[16];
    kerr e = {0};
    double t0 = now_us();
    assert_int_equal(kbatcher_predict(b, rows, out, &e), K_BUSY);
    assert_true(now_us() - t0 < 50000.0); /* refused at once, not after the delay */
    assert_non_null(strstr(e.msg, "queue full"));
    kbatcher_free(b); /* waits for the two callers */
    for (int t = 0; t < 2; t++) {
        pthread_join(th[t], NULL);
        assert_int_equal(c[t].failed, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(off_when_max_batch_le_1), cmocka_unit_test(same_values_as_alone),
        cmocka_unit_test(lone_caller_latency),     cmocka_unit_test(full_batch_goes_at_once),
        cmocka_unit_test(queue_limit_busy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
