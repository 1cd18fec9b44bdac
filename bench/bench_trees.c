/* bench_trees.c — Kiln tree-ensemble prediction against XGBoost's own C API: the same XGBoost
 * JSON model loaded by both, the same rows, in the same run. Checks that the two agree (raw
 * margins bit for bit, probabilities to float32 rounding of XGBoost's sigmoid), then measures
 * single-row latency (median and p99 of 10k calls), batch throughput at 1 and 2 threads, model
 * load time and resident memory per loaded model, and prints one table with the ratio.
 *
 * Usage: bench_trees MODEL.json [--rows 100000] [--calls 10000] [--reps 7]
 *
 * Kiln loads the model with xgboost_import, as `kiln import` does. */
#include <errno.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <xgboost/c_api.h>

#include "base/fs.h"
#include "model/import.h"
#include "model/package.h"
#include "model/predictor.h"
#include "model/trees.h"

#define MAX_FILE ((size_t)1 << 30)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_trees: %s: %s\n", what, msg);
    exit(1);
}

static void xgb_check(int rc, const char *what)
{
    if (rc) die(what, XGBGetLastError());
}

static long rss_bytes(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f) return 0;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    fclose(f);
    return resident * sysconf(_SC_PAGESIZE);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double percentile(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

/* ---- Kiln model loading ---------------------------------------------------------------------- */

#define bench_xgb_import xgboost_import
#define IMPORTER "xgboost_import"

static kmodel *kiln_load(const char *path)
{
    char *data;
    size_t len;
    kerr e = {0};
    kspec *s = NULL;
    kmodel *m = NULL;
    if (fs_read_all(path, MAX_FILE, &data, &len, &e)) die(path, e.msg);
    if (bench_xgb_import(data, len, &s, &e)) die("kiln import", e.msg);
    free(data);
    if (kmodel_new(s, &m, &e)) die("kmodel_new", e.msg);
    return m;
}

static kmodel *kiln_load_package(const char *path)
{
    kerr e = {0};
    kspec *s = NULL;
    kmodel *m = NULL;
    if (kpkg_load(path, &s, &e)) die(path, e.msg);
    if (kmodel_new(s, &m, &e)) die("kmodel_new", e.msg);
    return m;
}

static BoosterHandle xgb_load(const char *path, int nthread)
{
    BoosterHandle h;
    char n[16];
    xgb_check(XGBoosterCreate(NULL, 0, &h), "XGBoosterCreate");
    xgb_check(XGBoosterLoadModel(h, path), "XGBoosterLoadModel");
    snprintf(n, sizeof n, "%d", nthread);
    xgb_check(XGBoosterSetParam(h, "nthread", n), "XGBoosterSetParam");
    return h;
}

/* ---- prediction wrappers --------------------------------------------------------------------- */

static const char XGB_CONFIG[] = "{\"type\": %d, \"training\": false, \"iteration_begin\": 0, "
                                 "\"iteration_end\": 0, \"strict_shape\": false, "
                                 "\"cache_id\": 0, \"missing\": NaN}";

static void array_interface(char *text, size_t cap, const double *x, size_t n, int nf)
{
    snprintf(text, cap,
             "{\"data\": [%llu, true], \"shape\": [%zu, %d], \"typestr\": \"<f8\", "
             "\"version\": 3}",
             (unsigned long long)(uintptr_t)x, n, nf);
}

static const float *xgb_predict(BoosterHandle h, const char *arr, const char *config)
{
    const bst_ulong *shape;
    bst_ulong dim;
    const float *out;
    xgb_check(XGBoosterPredictFromDense(h, arr, config, NULL, &shape, &dim, &out),
              "XGBoosterPredictFromDense");
    return out;
}

typedef struct {
    const kmodel *m;
    const trees_compiled *tc; /* when set: trees_predict on the plan alone (margins) */
    const double *x;
    size_t n;
    int nf;
    double *out;
} kiln_job;

static void *kiln_run(void *arg)
{
    kiln_job *j = arg;
    if (j->tc)
        trees_predict(j->tc, j->x, j->n, (size_t)j->nf, j->out);
    else if (kmodel_predict(j->m, j->x, j->n, j->out, NULL))
        die("kmodel_predict", "failed");
    return NULL;
}

/* Seconds to score n rows split over `threads` threads (the calling thread takes the last). */
static double kiln_batch(const kmodel *m, const trees_compiled *tc, const double *x, size_t n,
                         int nf, double *out, int threads)
{
    pthread_t th[8];
    kiln_job jobs[8];
    size_t nv = tc ? 1 : (size_t)kmodel_n_values(m);
    double t0 = now_s();
    for (int i = 0; i < threads; i++) {
        size_t a = n * (size_t)i / (size_t)threads, b = n * (size_t)(i + 1) / (size_t)threads;
        jobs[i] = (kiln_job){m, tc, x + a * (size_t)nf, b - a, nf, out + a * nv};
        if (i < threads - 1 && pthread_create(&th[i], NULL, kiln_run, &jobs[i]))
            die("pthread_create", strerror(errno));
    }
    kiln_run(&jobs[threads - 1]);
    for (int i = 0; i < threads - 1; i++)
        pthread_join(th[i], NULL);
    return now_s() - t0;
}

static double median_of(double *v, int n)
{
    return percentile(v, (size_t)n, 0.5);
}

/* ---- the benchmark --------------------------------------------------------------------------- */

typedef struct {
    const char *name, *unit;
    double kiln, xgb;
    int higher_better;
} row;

static void print_row(const row *r)
{
    double ratio = r->higher_better ? r->kiln / r->xgb : r->xgb / r->kiln;
    printf("| %-44s | %12.3f | %12.3f | %7.2fx |\n", r->name, r->kiln, r->xgb, ratio);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_trees MODEL.json [--rows N] [--calls N] [--reps N]\n");
        return 2;
    }
    const char *path = argv[1];
    size_t n = 100000;
    int calls = 10000, reps = 7;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--rows"))
            n = (size_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--calls"))
            calls = (int)strtol(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reps"))
            reps = (int)strtol(argv[i + 1], NULL, 10);
    }

    /* Load both once; the XGBoost handles per thread count. */
    kmodel *m = kiln_load(path);
    const kspec *spec = kmodel_spec(m);
    int nf = kmodel_n_features(m), nv = kmodel_n_values(m);
    BoosterHandle h1 = xgb_load(path, 1), h2 = xgb_load(path, 2);
    trees_compiled *plan = NULL, *scalar = NULL;
    kerr e = {0};
    if (trees_compile(&spec->trees, spec->base_score, &plan, &e) ||
        trees__compile_opts(&spec->trees, spec->base_score, TREES__NO_SIMD, &scalar, &e))
        die("trees_compile", e.msg);

    /* Rows: standard normal (like the training data), 2% missing; fixed seed. */
    double *x = malloc(n * (size_t)nf * sizeof *x);
    uint64_t st = 12345;
    for (size_t i = 0; i < n * (size_t)nf; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        double u1 = ((double)(st >> 11) + 0.5) / 9007199254740992.0;
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        double u2 = (double)(st >> 11) / 9007199254740992.0;
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        int missing = (st >> 33) % 50 == 0;
        x[i] = missing ? NAN : sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
    }
    double *kv = malloc(n * (size_t)nv * sizeof *kv), *km = malloc(n * sizeof *km);
    char cfg_value[256], cfg_margin[256], arr[256];
    snprintf(cfg_value, sizeof cfg_value, XGB_CONFIG, 0);
    snprintf(cfg_margin, sizeof cfg_margin, XGB_CONFIG, 1);

    /* Agreement on every row. */
    if (kmodel_predict(m, x, n, kv, km)) die("kmodel_predict", "failed");
    array_interface(arr, sizeof arr, x, n, nf);
    const float *xm = xgb_predict(h1, arr, cfg_margin);
    size_t margin_mismatch = 0;
    double margin_diff = 0, prob_diff = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(km[i] - (double)xm[i]);
        if (km[i] != (double)xm[i]) margin_mismatch++;
        if (d > margin_diff) margin_diff = d;
    }
    const float *xp = xgb_predict(h1, arr, cfg_value);
    for (size_t i = 0; i < n; i++) {
        double d = fabs(kv[i * (size_t)nv + (size_t)nv - 1] - (double)xp[i]);
        if (d > prob_diff) prob_diff = d;
    }

    /* Single-row latency: every call timed; rows cycle through the data set. */
    size_t nrow1 = n < (size_t)calls ? n : (size_t)calls;
    char **arrs = malloc(nrow1 * sizeof *arrs);
    for (size_t i = 0; i < nrow1; i++) {
        arrs[i] = malloc(160);
        array_interface(arrs[i], 160, x + i * (size_t)nf, 1, nf);
    }
    double *lat = malloc((size_t)calls * sizeof *lat), val[16];
    double k_med, k_p99, x_med, x_p99, s_med, s_p99;
    for (int pass = 0; pass < 2; pass++) /* first pass warms up */
        for (int i = 0; i < calls; i++) {
            const double *r = x + (size_t)i % nrow1 * (size_t)nf;
            double t0 = now_s();
            kmodel_predict(m, r, 1, val, NULL);
            lat[i] = now_s() - t0;
        }
    k_med = percentile(lat, (size_t)calls, 0.5) * 1e6;
    k_p99 = percentile(lat, (size_t)calls, 0.99) * 1e6;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < calls; i++) {
            const double *r = x + (size_t)i % nrow1 * (size_t)nf;
            double t0 = now_s();
            trees_predict(scalar, r, 1, (size_t)nf, val);
            lat[i] = now_s() - t0;
        }
    s_med = percentile(lat, (size_t)calls, 0.5) * 1e6;
    s_p99 = percentile(lat, (size_t)calls, 0.99) * 1e6;
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < calls; i++) {
            const char *a = arrs[(size_t)i % nrow1];
            double t0 = now_s();
            xgb_predict(h1, a, cfg_value);
            lat[i] = now_s() - t0;
        }
    x_med = percentile(lat, (size_t)calls, 0.5) * 1e6;
    x_p99 = percentile(lat, (size_t)calls, 0.99) * 1e6;

    /* Batch throughput, 1 and 2 threads: best of reps (on a shared machine the fastest run is
     * the one least disturbed), Kiln and XGBoost alternating. */
    double tk[16], tx[16], ts[16], kr[3], xr[3], sr[3];
    if (reps > 16) reps = 16;
    for (int threads = 1; threads <= 2; threads++) {
        BoosterHandle h = threads == 1 ? h1 : h2;
        xgb_predict(h, arr, cfg_value); /* warm */
        kiln_batch(m, NULL, x, n, nf, kv, threads);
        for (int r = 0; r < reps; r++) {
            tk[r] = kiln_batch(m, NULL, x, n, nf, kv, threads);
            ts[r] = kiln_batch(NULL, scalar, x, n, nf, km, threads);
            double t0 = now_s();
            xgb_predict(h, arr, cfg_value);
            tx[r] = now_s() - t0;
        }
        kr[threads] = (double)n / percentile(tk, (size_t)reps, 0);
        sr[threads] = (double)n / percentile(ts, (size_t)reps, 0);
        xr[threads] = (double)n / percentile(tx, (size_t)reps, 0);
    }

    /* Load time (median of 10) and resident memory per loaded model (10 held at once, after
     * malloc_trim so memory freed by parsing is not counted for either side). Kiln's memory is
     * measured the way a server holds models: loaded from the .kiln package. */
    enum { NLOAD = 10 };
    char pkg[] = "/tmp/bench_trees_XXXXXX.kiln";
    int fd = mkstemps(pkg, 5);
    if (fd < 0) die("mkstemps", strerror(errno));
    close(fd);
    if (kpkg_save(spec, pkg, &e)) die("kpkg_save", e.msg);
    kmodel *km_hold[NLOAD];
    BoosterHandle xh_hold[NLOAD];
    double lk[NLOAD], lp[NLOAD], lx[NLOAD];
    array_interface(arr, sizeof arr, x, 1, nf);
    for (int i = 0; i < NLOAD; i++) {
        double t0 = now_s();
        kmodel *jm = kiln_load(path);
        lk[i] = now_s() - t0;
        kmodel_free(jm);
    }
    malloc_trim(0);
    long rss0 = rss_bytes();
    for (int i = 0; i < NLOAD; i++) {
        double t0 = now_s();
        km_hold[i] = kiln_load_package(pkg);
        lp[i] = now_s() - t0;
        kmodel_predict(km_hold[i], x, 1, val, NULL);
    }
    malloc_trim(0);
    long rss1 = rss_bytes();
    for (int i = 0; i < NLOAD; i++)
        kmodel_free(km_hold[i]);
    malloc_trim(0);
    long rss2 = rss_bytes();
    for (int i = 0; i < NLOAD; i++) {
        double t0 = now_s();
        xh_hold[i] = xgb_load(path, 1);
        lx[i] = now_s() - t0;
        xgb_predict(xh_hold[i], arr, cfg_value); /* first predict finishes XGBoost's setup */
    }
    malloc_trim(0);
    long rss3 = rss_bytes();
    for (int i = 0; i < NLOAD; i++)
        XGBoosterFree(xh_hold[i]);
    unlink(pkg);
    double mem_k = (double)(rss1 - rss0) / NLOAD / 1024,
           mem_x = (double)(rss3 - rss2) / NLOAD / 1024;

    int bst_major, bst_minor, bst_patch;
    XGBoostVersion(&bst_major, &bst_minor, &bst_patch);
    printf("\nKiln vs XGBoost %d.%d.%d C API — %s: %d trees, %d features, %zu rows\n", bst_major,
           bst_minor, bst_patch, path, spec->trees.n_trees, nf, n);
    printf("kiln loader: %s; plan: %s (%zu bytes); portable fallback: %s\n", IMPORTER,
           trees__describe(plan), trees__bytes(plan), trees__describe(scalar));
    printf("agreement over %zu rows: margins identical %zu/%zu (max |diff| %.3g), "
           "probability max |diff| %.3g\n\n",
           n, n - margin_mismatch, n, margin_diff, prob_diff);
    printf("| %-44s | %12s | %12s | %8s |\n", "metric", "kiln", "xgboost", "ratio");
    printf("|%s|%s|%s|%s|\n", "----------------------------------------------", "--------------",
           "--------------", "----------");
    row rows[] = {
        {"single-row latency, median (us)", "us", k_med, x_med, 0},
        {"single-row latency, p99 (us)", "us", k_p99, x_p99, 0},
        {"batch throughput, 1 thread (M rows/s)", "", kr[1] / 1e6, xr[1] / 1e6, 1},
        {"batch throughput, 2 threads (M rows/s)", "", kr[2] / 1e6, xr[2] / 1e6, 1},
        {"load XGBoost JSON, median (ms)", "ms", median_of(lk, NLOAD) * 1e3,
         median_of(lx, NLOAD) * 1e3, 0},
        {"load .kiln package vs XGBoost JSON (ms)", "ms", median_of(lp, NLOAD) * 1e3,
         median_of(lx, NLOAD) * 1e3, 0},
        {"resident memory per loaded model (KiB)", "KiB", mem_k, mem_x, 0},
        {"scalar kernel: single-row median (us)", "us", s_med, x_med, 0},
        {"scalar kernel: single-row p99 (us)", "us", s_p99, x_p99, 0},
        {"scalar kernel: batch 1 thread (M rows/s)", "", sr[1] / 1e6, xr[1] / 1e6, 1},
        {"scalar kernel: batch 2 threads (M rows/s)", "", sr[2] / 1e6, xr[2] / 1e6, 1},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        print_row(&rows[i]);
    printf("\nratio: how many times better Kiln is (latency, time, memory: xgboost/kiln; "
           "throughput: kiln/xgboost).\n"
           "scalar kernel rows: trees_predict with SIMD disabled (margins only), the path a CPU "
           "without AVX-512 takes.\n");

    for (size_t i = 0; i < nrow1; i++)
        free(arrs[i]);
    free(arrs);
    free(lat);
    free(x);
    free(kv);
    free(km);
    trees_free(plan);
    trees_free(scalar);
    XGBoosterFree(h1);
    XGBoosterFree(h2);
    kmodel_free(m);
    return margin_mismatch ? 1 : 0;
}
