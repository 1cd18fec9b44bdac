/* bench_model.c — times any .kiln package through the C API (kmodel_predict), for
 * bench_sklearn.py: batch throughput at 1 and 2 threads (rows split across pthreads, as the CLI
 * does), single-row latency (median and p99, every call timed), and agreement with the values
 * the source library produced. Prints one JSON object.
 *
 * Usage: bench_model MODEL.kiln ROWS.f64 [EXPECTED.f64] [--calls 10000] [--reps 7]
 *   ROWS.f64      n x n_features float64, row-major, native byte order
 *   EXPECTED.f64  n x n_values float64: the source library's outputs for those rows */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fs.h"
#include "model/package.h"
#include "model/predictor.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_model: %s: %s\n", what, msg);
    exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double *read_f64(const char *path, size_t *count)
{
    char *data;
    size_t len;
    kerr e = {0};
    if (fs_read_all(path, (size_t)8 << 30, &data, &len, &e)) die(path, e.msg);
    *count = len / sizeof(double);
    return (double *)data; /* malloc'd, suitably aligned */
}

typedef struct {
    const kmodel *m;
    const double *x;
    size_t n;
    double *out;
} job;

static void *run(void *arg)
{
    job *j = arg;
    if (kmodel_predict(j->m, j->x, j->n, j->out, NULL)) die("kmodel_predict", "failed");
    return NULL;
}

static double batch(const kmodel *m, const double *x, size_t n, double *out, int threads)
{
    size_t nf = (size_t)kmodel_n_features(m), nv = (size_t)kmodel_n_values(m);
    pthread_t th[8];
    job jobs[8];
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        size_t a = n * (size_t)i / (size_t)threads, b = n * (size_t)(i + 1) / (size_t)threads;
        jobs[i] = (job){m, x + a * nf, b - a, out + a * nv};
        if (i < threads - 1 && pthread_create(&th[i], NULL, run, &jobs[i]))
            die("pthread_create", strerror(errno));
    }
    run(&jobs[threads - 1]);
    for (int i = 0; i < threads - 1; i++)
        pthread_join(th[i], NULL);
    return now_s() - t0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr,
                "usage: bench_model MODEL.kiln ROWS.f64 [EXPECTED.f64] [--calls N] [--reps N]\n");
        return 2;
    }
    const char *expected = NULL;
    int calls = 10000, reps = 7;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--calls") && i + 1 < argc)
            calls = (int)strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = (int)strtol(argv[++i], NULL, 10);
        else
            expected = argv[i];
    }
    kerr e = {0};
    kspec *s = NULL;
    kmodel *m = NULL;
    double t0 = now_s();
    if (kpkg_load(argv[1], &s, &e)) die(argv[1], e.msg);
    if (kmodel_new(s, &m, &e)) die("kmodel_new", e.msg);
    double load_s = now_s() - t0;
    size_t nf = (size_t)kmodel_n_features(m), nv = (size_t)kmodel_n_values(m), count;
    double *x = read_f64(argv[2], &count);
    size_t n = count / nf;
    double *out = malloc(n * nv * sizeof *out);

    double max_diff = -1;
    if (expected) {
        size_t ne;
        double *want = read_f64(expected, &ne);
        if (ne != n * nv) die(expected, "size does not match rows x values");
        batch(m, x, n, out, 1);
        max_diff = 0;
        for (size_t i = 0; i < n * nv; i++) {
            double d = fabs(out[i] - want[i]);
            if (!(d <= max_diff)) max_diff = d; /* NaN counts as a difference */
        }
        free(want);
    }

    double best[3] = {0, INFINITY, INFINITY};
    for (int threads = 1; threads <= 2; threads++) {
        batch(m, x, n, out, threads); /* warm */
        for (int r = 0; r < reps; r++) {
            double t = batch(m, x, n, out, threads);
            if (t < best[threads]) best[threads] = t;
        }
    }

    double *lat = malloc((size_t)calls * sizeof *lat), v[64];
    if (nv > 64) die("bench_model", "too many outputs");
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < calls; i++) {
            const double *row = x + (size_t)i % n * nf;
            double a = now_s();
            kmodel_predict(m, row, 1, v, NULL);
            lat[i] = now_s() - a;
        }
    qsort(lat, (size_t)calls, sizeof *lat, cmp_double);
    printf("{\"rows\": %zu, \"features\": %zu, \"values\": %zu, \"load_ms\": %.4f, "
           "\"rows_per_s_1t\": %.1f, \"rows_per_s_2t\": %.1f, \"single_median_us\": %.4f, "
           "\"single_p99_us\": %.4f, \"max_abs_diff\": %.3g}\n",
           n, nf, nv, load_s * 1e3, (double)n / best[1], (double)n / best[2], lat[calls / 2] * 1e6,
           lat[(size_t)(0.99 * (calls - 1))] * 1e6, max_diff);
    free(lat);
    free(out);
    free(x);
    kmodel_free(m);
    return 0;
}
