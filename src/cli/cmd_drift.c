/* cmd_drift.c — `kiln drift REF.csv CUR.csv`: the offline drift report of two CSV files,
 * feature by feature (PSI, JS, Wasserstein, KS), as a table, JSON or a self-contained HTML page;
 * with --model, also of the model's predictions (and top-class confidence) on both files.
 *
 * Loading: each file is read into columns in parallel by data/csv_table.h; only the columns
 * both files share (and the model's features) are kept. Scoring runs one feature per thread
 * (src/monitor/report.c). */
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "cli/cli.h"
#include "data/csv_table.h"
#include "model/package.h"
#include "model/predictor.h"
#include "monitor/report.h"

#define MAX_THREADS 64
#define PREDICT_ROWS 4096 /* rows per kmodel_predict call */
#define CAT_AUTO_CODES 64 /* a column of integers 0..63 only is taken as categorical codes */

void cmd_drift_help(void)
{
    printf("usage: kiln drift REF.csv CUR.csv [--columns a,b,...] [--json] [--html FILE]\n"
           "                  [--share S] [--threads N] [--model NAME@REF|FILE.kiln]\n\n"
           "Compares the current file with the reference file feature by feature: PSI and\n"
           "Jensen-Shannon over the reference deciles, Wasserstein (divided by the reference\n"
           "std) and Kolmogorov-Smirnov, both exact; chi-square and JS for categorical columns.\n"
           "Columns are matched by name; empty and NA fields are missing values. A column of\n"
           "integers 0..%d only is categorical; a column with text is skipped.\n\n"
           "  --columns LIST   compare only these columns (comma-separated)\n"
           "  --json           print one JSON document instead of the table\n"
           "  --html FILE      also write a self-contained HTML report (written atomically)\n"
           "  --share S        dataset drift when the share of drifted features >= S (0.5)\n"
           "  --threads N      worker threads (default: all cores)\n"
           "  --model M        also score both files with model M (a registry NAME@VERSION or\n"
           "                   NAME@alias, or a .kiln file) and compare its outputs:\n"
           "                   'prediction' (regressors: the value; classifiers: the class\n"
           "                   index, categorical) and, for classifiers, 'confidence' (the\n"
           "                   top-class probability). Both files need the model's features.\n"
           "  --home, --store, --artifacts   where the registry is (see kiln models --help)\n\n"
           "Exit codes: 0 report produced (drift or not), 1 error, 2 usage error.\n",
           CAT_AUTO_CODES - 1);
}

/* Runs fn(arg) on `threads` threads (at least the calling one) and waits for them. */
static void run_parallel(void *(*fn)(void *), void *arg, int threads)
{
    pthread_t tid[MAX_THREADS];
    int started = 0;
    while (started < threads - 1 && pthread_create(&tid[started], NULL, fn, arg) == 0)
        started++;
    fn(arg);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
}

/* ---- matching columns and typing features --------------------------------------------------- */

/* Is `name` in the comma-separated list (NULL: every name is)? */
static int listed(const char *list, const char *name)
{
    if (!list) return 1;
    size_t len = strlen(name);
    for (const char *p = list;; p++) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == len && memcmp(p, name, n) == 0) return 1;
        if (!comma) return 0;
        p = comma;
    }
}

/* Every name of --columns must be in both files. */
static int check_listed(const char *list, const csv_table *r, const csv_table *c, kerr *e)
{
    char name[256];
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(name, sizeof name, "%.*s", (int)(n < 255 ? n : 255), p);
        if (csv_table_find(r, name) < 0 || csv_table_find(c, name) < 0)
            return kerr_set(e, K_NOTFOUND, "--columns: '%s' is not a column of both files", name),
                   -1;
        p = comma ? comma + 1 : p + n;
    }
    return 0;
}

/* Gives each shared (and listed) column a slot in both tables. */
static int plan_columns(csv_table *r, csv_table *c, const char *list, kerr *e)
{
    if (check_listed(list, r, c, e)) return -1;
    int kept = 0;
    for (int i = 0; i < csv_table_n_cols(r); i++) {
        const char *name = csv_table_name(r, i);
        int j = csv_table_find(c, name);
        if (j < 0 || !listed(list, name)) continue;
        csv_table_keep(r, i);
        csv_table_keep(c, j);
        kept++;
    }
    if (kept == 0)
        return kerr_set(e, K_NOTFOUND, "%s and %s have no column in common", csv_table_path(r),
                        csv_table_path(c)),
               -1;
    return 0;
}

/* Keeps each of the model's features in t (even when --columns leaves it out of the report);
 * fcol[f] is the feature's column. */
static int plan_model_columns(csv_table *t, const kmodel *m, int *fcol, kerr *e)
{
    const kspec *s = kmodel_spec(m);
    for (int32_t f = 0; f < s->n_features; f++) {
        int c = csv_table_find(t, s->features[f].name);
        if (c < 0)
            return kerr_set(e, K_NOTFOUND,
                            "%s has no column '%s', a feature of the model (it needs %d: "
                            "'%s'%s)",
                            csv_table_path(t), s->features[f].name, s->n_features,
                            s->features[0].name, s->n_features > 1 ? ", ..." : ""),
                   -1;
        csv_table_keep(t, c);
        fcol[f] = c;
    }
    return 0;
}

/* Largest value if every value of x is an integer in 0..CAT_AUTO_CODES-1 (-1: no value at
 * all), else -2. */
static int max_code(const double *x, size_t n)
{
    double top = -1;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        if (isnan(v)) continue;
        if (!(v >= 0 && v < CAT_AUTO_CODES && v == floor(v))) return -2;
        if (v > top) top = v;
    }
    return (int)top;
}

static void type_feature(report_feature *f, const csv_table *r, const csv_table *c, int ir, int ic)
{
    const csv_table_flags *fr = csv_table_col_flags(r, ir), *fc = csv_table_col_flags(c, ic);
    if (fr->text || fc->text) {
        const csv_table *t = fr->text ? r : c;
        const csv_table_flags *ff = fr->text ? fr : fc;
        report_feature_skip(f, "not numeric: '%s' on line %zu of %s", ff->sample, ff->sample_line,
                            csv_table_path(t));
        return;
    }
    if (fr->inf || fc->inf) {
        report_feature_skip(f, "holds infinite values");
        return;
    }
    int mr = max_code(f->ref, f->n_ref), mc = max_code(f->cur, f->n_cur);
    if (mr >= 0 && mc >= -1) {
        f->kind = DRIFT_CATEGORICAL;
        f->n_categories = (mr > mc ? mr : mc) + 1;
    }
}

/* Fills the features, in reference column order, leaving `extra` entries free at the end. */
static int build_features(const csv_table *r, const csv_table *c, const char *list, int extra,
                          report_feature **out, int *n)
{
    report_feature *f = calloc((size_t)(csv_table_n_cols(r) + extra), sizeof *f);
    if (!f) return -1;
    int k = 0;
    for (int i = 0; i < csv_table_n_cols(r); i++) {
        const char *name = csv_table_name(r, i);
        int j = csv_table_find(c, name);
        if (!csv_table_kept(r, i) || j < 0 || !listed(list, name)) continue;
        report_feature *x = &f[k++];
        x->name = name;
        x->ref = csv_table_values(r, i), x->n_ref = csv_table_rows(r);
        x->cur = csv_table_values(c, j), x->n_cur = csv_table_rows(c);
        type_feature(x, r, c, i, j);
    }
    *out = f;
    *n = k;
    return 0;
}

/* ---- scoring in parallel -------------------------------------------------------------------- */

typedef struct {
    report_feature *f;
    int n, next;
    drift_thresholds th;
    pthread_mutex_t mu;
} score_queue;

static void *score_worker(void *arg)
{
    score_queue *q = arg;
    report_scratch *s = report_scratch_new();
    for (;;) {
        pthread_mutex_lock(&q->mu);
        int i = q->next++;
        pthread_mutex_unlock(&q->mu);
        if (i >= q->n) break;
        if (q->f[i].state == REPORT_SKIPPED) continue;
        if (s)
            report_feature_score_with(&q->f[i], &q->th, s);
        else
            report_feature_score(&q->f[i], &q->th);
    }
    report_scratch_free(s);
    return NULL;
}

static void score_all(report_feature *f, int n, int threads)
{
    score_queue q = {.f = f, .n = n};
    drift_thresholds_default(&q.th);
    pthread_mutex_init(&q.mu, NULL);
    run_parallel(score_worker, &q, threads < n ? threads : n);
    pthread_mutex_destroy(&q.mu);
}

/* ---- output --------------------------------------------------------------------------------- */

static void print_score(double v)
{
    if (isnan(v))
        printf(" %10s", "-");
    else
        printf(" %10.4g", v);
}

static void print_table(const report *r)
{
    printf("%-24s %-11s %10s %10s %10s %10s %10s  %s\n", "feature", "type", "PSI", "JS",
           "Wasserst.", "KS", "KS p", "verdict");
    for (int i = 0; i < r->n_features; i++) {
        const report_feature *f = &r->features[i];
        printf("%-24s %-11s", f->name, f->kind == DRIFT_NUMERIC ? "numeric" : "categorical");
        if (f->state != REPORT_COMPARED) {
            printf(" %s: %s\n", report_feature_verdict(f), f->reason);
            continue;
        }
        print_score(f->scores.psi);
        print_score(f->scores.js);
        print_score(isnan(f->exact_w) ? f->scores.wasserstein : f->exact_w);
        print_score(isnan(f->exact_ks) ? f->scores.ks : f->exact_ks);
        print_score(f->scores.ks_pvalue);
        printf("  %s\n", report_feature_verdict(f));
    }
    for (int i = 0; i < r->n_only_ref; i++)
        printf("only in %s: %s\n", r->ref_path, r->only_ref[i]);
    for (int i = 0; i < r->n_only_cur; i++)
        printf("only in %s: %s\n", r->cur_path, r->only_cur[i]);
    printf("%s: %d of %d features drifted (share %.3f, threshold %.3f)\n",
           r->dataset_drift ? "DATASET DRIFT" : "no dataset drift", r->n_drifted, r->n_compared,
           r->share, r->share_threshold);
    if (r->model)
        printf("%s: model %s\n", r->prediction_drift ? "PREDICTION DRIFT" : "no prediction drift",
               r->model);
}

static int write_html(const report *r, const char *path, kerr *e)
{
    buf b;
    buf_init(&b, REPORT_MAX_HTML);
    kstatus st = report_to_html(r, &b);
    if (st)
        kerr_set(e, st, "cannot render the HTML report: %s", kstatus_str(st));
    else
        st = fs_write_atomic(path, b.data, b.len, e);
    buf_free(&b);
    return st ? -1 : 0;
}

/* Names of t's columns that `other` lacks. */
static const char **unmatched(const csv_table *t, const csv_table *other, int *n)
{
    const char **v = calloc((size_t)csv_table_n_cols(t) + 1, sizeof *v);
    *n = 0;
    for (int i = 0; v && i < csv_table_n_cols(t); i++)
        if (csv_table_find(other, csv_table_name(t, i)) < 0) v[(*n)++] = csv_table_name(t, i);
    return v;
}

/* ---- command -------------------------------------------------------------------------------- */

/* ---- model outputs -------------------------------------------------------------------------- */

/* The model and its outputs on both files: [0] reference, [1] current. */
typedef struct {
    kmodel *model;
    int classifier;
    int *fcol[2];    /* feature -> column in each table */
    double *pred[2]; /* regressors: the first value; classifiers: the class index */
    double *conf[2]; /* classifiers: the top-class probability */
} model_run;

typedef struct {
    const kmodel *m;
    const double **x; /* per feature: its column */
    size_t rows;
    double *pred, *conf;
    size_t next;
    int failed;
    pthread_mutex_t mu;
} predict_queue;

/* Scores rows [lo, hi) of the table with the row and value buffers of one worker. */
static int predict_rows(predict_queue *q, size_t lo, size_t hi, double *rows, double *vals)
{
    int32_t nf = kmodel_n_features(q->m), nv = kmodel_n_values(q->m);
    for (size_t i = lo; i < hi; i++)
        for (int32_t f = 0; f < nf; f++)
            rows[(i - lo) * (size_t)nf + (size_t)f] = q->x[f][i];
    if (kmodel_predict(q->m, rows, hi - lo, vals, NULL)) return -1;
    for (size_t i = lo; i < hi; i++) {
        const double *v = vals + (i - lo) * (size_t)nv;
        int32_t k = q->conf ? kmodel_predicted_class(q->m, v) : -1;
        if (isnan(v[0]) || (q->conf && (k < 0 || isnan(v[k])))) /* the model could not score */
            q->pred[i] = NAN, k = -1;
        else
            q->pred[i] = q->conf ? (double)k : v[0];
        if (q->conf) q->conf[i] = k >= 0 ? v[k] : NAN;
    }
    return 0;
}

static void *predict_worker(void *arg)
{
    predict_queue *q = arg;
    size_t nf = (size_t)kmodel_n_features(q->m), nv = (size_t)kmodel_n_values(q->m);
    double *rows = malloc(PREDICT_ROWS * (nf ? nf : 1) * sizeof *rows);
    double *vals = malloc(PREDICT_ROWS * nv * sizeof *vals);
    for (int ok = rows && vals;;) {
        pthread_mutex_lock(&q->mu);
        size_t lo = q->next;
        q->next += PREDICT_ROWS;
        q->failed |= !ok;
        pthread_mutex_unlock(&q->mu);
        if (!ok || lo >= q->rows) break;
        size_t hi = lo + PREDICT_ROWS < q->rows ? lo + PREDICT_ROWS : q->rows;
        ok = predict_rows(q, lo, hi, rows, vals) == 0;
    }
    free(rows);
    free(vals);
    return NULL;
}

/* A model feature column with text cannot be scored. */
static int check_model_columns(const csv_table *t, const model_run *mr, int side, kerr *e)
{
    const kspec *s = kmodel_spec(mr->model);
    for (int32_t f = 0; f < s->n_features; f++) {
        const csv_table_flags *cf = csv_table_col_flags(t, mr->fcol[side][f]);
        if (cf->text)
            return kerr_set(e, K_FORMAT,
                            "%s: column '%s' (a feature of the model) is not numeric: '%s' on "
                            "line %zu",
                            csv_table_path(t), s->features[f].name, cf->sample, cf->sample_line),
                   -1;
    }
    return 0;
}

/* Scores every row of t (side 0: reference, 1: current). */
static int predict_table(const csv_table *t, model_run *mr, int side, int threads, kerr *e)
{
    if (check_model_columns(t, mr, side, e)) return -1;
    size_t rows = csv_table_rows(t);
    int32_t nf = kmodel_n_features(mr->model);
    mr->pred[side] = malloc((rows + 1) * sizeof(double));
    mr->conf[side] = mr->classifier ? malloc((rows + 1) * sizeof(double)) : NULL;
    const double **x = calloc((size_t)nf + 1, sizeof *x);
    if (!x || !mr->pred[side] || (mr->classifier && !mr->conf[side])) {
        free(x);
        return kerr_set(e, K_NOMEM, "out of memory"), -1;
    }
    for (int32_t f = 0; f < nf; f++)
        x[f] = csv_table_values(t, mr->fcol[side][f]);
    predict_queue q = {
        .m = mr->model, .x = x, .rows = rows, .pred = mr->pred[side], .conf = mr->conf[side]};
    pthread_mutex_init(&q.mu, NULL);
    size_t chunks = rows / PREDICT_ROWS + 1;
    run_parallel(predict_worker, &q, (size_t)threads < chunks ? threads : (int)chunks);
    pthread_mutex_destroy(&q.mu);
    free(x);
    if (q.failed)
        return kerr_set(e, K_NOMEM, "out of memory while scoring %s", csv_table_path(t)), -1;
    return 0;
}

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* A registered version's package. */
static kstatus registry_spec(const cli_reg_opts *o, const char *text, kspec **spec, kerr *e)
{
    char name[KREG_NAME_MAX + 1], ref[KREG_NAME_MAX + 1];
    kstatus st = kreg_split_ref(text, name, ref, e);
    if (st) return st;
    cli_reg_location loc;
    if (cli_registry_location(o, &loc)) return kerr_set(e, K_IO, "no registry");
    kreg *r = NULL;
    kreg_version v;
    char *data = NULL;
    size_t len = 0;
    st = kreg_open(&loc.options, &r, e);
    if (!st) st = kreg_resolve(r, name, ref, &v, e);
    if (!st) st = kreg_read_package(r, &v, &data, &len, e);
    if (!st) st = kpkg_read(data, len, spec, e);
    free(data);
    kreg_close(r);
    return st;
}

/* Loads --model: a .kiln file when one is there (or the name ends in .kiln), else a registry
 * reference. */
static int model_load(const char *text, const cli_reg_opts *o, model_run *mr, kerr *e)
{
    kspec *spec = NULL;
    size_t len = strlen(text);
    int file = is_file(text) || (len > 5 && strcmp(text + len - 5, ".kiln") == 0);
    kstatus st = file ? kpkg_load(text, &spec, e) : registry_spec(o, text, &spec, e);
    if (!st) st = kmodel_new(spec, &mr->model, e);
    if (st) return kerr_prefix(e, "--model %s", text), -1;
    const kspec *s = kmodel_spec(mr->model);
    mr->classifier = s->task == KTASK_CLASSIFICATION;
    for (int i = 0; i < 2; i++)
        if (!(mr->fcol[i] = calloc((size_t)s->n_features + 1, sizeof(int))))
            return kerr_set(e, K_NOMEM, "out of memory"), -1;
    return 0;
}

static void model_free(model_run *mr)
{
    for (int i = 0; i < 2; i++) {
        free(mr->fcol[i]);
        free(mr->pred[i]);
        free(mr->conf[i]);
    }
    kmodel_free(mr->model);
}

static report_feature *model_entry(report *r, const char *name, double *const v[2],
                                   const csv_table *rt, const csv_table *ct)
{
    report_feature *f = &r->features[r->n_features++];
    f->name = name;
    f->model_output = 1;
    f->kind = DRIFT_NUMERIC;
    f->ref = v[0], f->n_ref = csv_table_rows(rt);
    f->cur = v[1], f->n_cur = csv_table_rows(ct);
    return f;
}

/* Appends "prediction" (and "confidence") after the features. */
static void add_model_entries(report *r, const model_run *mr, const csv_table *rt,
                              const csv_table *ct)
{
    report_feature *f = model_entry(r, "prediction", mr->pred, rt, ct);
    int32_t k = kmodel_spec(mr->model)->n_classes;
    if (mr->classifier && k <= DRIFT_MAX_CATEGORIES) {
        f->kind = DRIFT_CATEGORICAL;
        f->n_categories = k;
    }
    if (mr->classifier) model_entry(r, "confidence", mr->conf, rt, ct);
}

/* ---- command -------------------------------------------------------------------------------- */

typedef struct {
    const char *ref, *cur, *columns, *html, *model;
    int json, threads;
    double share;
    cli_reg_opts reg; /* where --model NAME@REF is looked up */
} drift_args;

static int parse_args(int argc, char **argv, drift_args *a)
{
    static const struct option opts[] = {{"columns", required_argument, 0, 'c'},
                                         {"json", no_argument, 0, 'j'},
                                         {"html", required_argument, 0, 'H'},
                                         {"share", required_argument, 0, 's'},
                                         {"threads", required_argument, 0, 't'},
                                         {"model", required_argument, 0, 'm'},
                                         {"home", required_argument, 0, CLI_OPT_HOME},
                                         {"store", required_argument, 0, CLI_OPT_STORE},
                                         {"artifacts", required_argument, 0, CLI_OPT_ARTIFACTS},
                                         {0, 0, 0, 0}};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = cpus > 0 ? (int)(cpus < MAX_THREADS ? cpus : MAX_THREADS) : 1;
    a->share = 0.5;
    int c;
    char *end;
    optind = 1;
    opterr = 0; /* cli_usage says what is wrong, in one line */
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'c')
            a->columns = optarg;
        else if (c == 'j')
            a->json = 1;
        else if (c == 'H')
            a->html = optarg;
        else if (c == 's') {
            a->share = strtod(optarg, &end);
            if (*end || !(a->share > 0 && a->share <= 1))
                return cli_usage("drift", "--share must be a number in (0, 1]");
        } else if (c == 't') {
            a->threads = (int)strtol(optarg, &end, 10);
            if (*end || a->threads < 1 || a->threads > MAX_THREADS)
                return cli_usage("drift", "--threads must be 1..%d", MAX_THREADS);
        } else if (c == 'm') {
            a->model = optarg;
            if (!*optarg) return cli_usage("drift", "--model needs NAME@REF or a .kiln file");
        } else if (!cli_reg_option(c, optarg, &a->reg))
            return cli_usage("drift", "unknown option");
    }
    if (optind != argc - 2) return cli_usage("drift", "expected REF.csv and CUR.csv");
    a->ref = argv[optind], a->cur = argv[optind + 1];
    return 0;
}

static int emit(report *r, const drift_args *a, kerr *e)
{
    if (a->html && write_html(r, a->html, e)) return -1;
    if (!a->json) {
        print_table(r);
        return 0;
    }
    json_object *j = report_to_json(r);
    if (!j) return kerr_set(e, K_NOMEM, "out of memory"), -1;
    cli_print_json(j);
    json_object_put(j);
    return 0;
}

static int run_report(csv_table *rt, csv_table *ct, const model_run *mr, const drift_args *a,
                      kerr *e)
{
    report r = {.ref_path = a->ref,
                .cur_path = a->cur,
                .ref_rows = csv_table_rows(rt),
                .cur_rows = csv_table_rows(ct),
                .share_threshold = a->share,
                .model = mr->model ? a->model : NULL};
    int extra = mr->model ? 1 + mr->classifier : 0;
    const char **only_r = unmatched(rt, ct, &r.n_only_ref),
               **only_c = unmatched(ct, rt, &r.n_only_cur);
    r.only_ref = only_r, r.only_cur = only_c;
    int rc = -1;
    if (!only_r || !only_c ||
        build_features(rt, ct, a->columns, extra, &r.features, &r.n_features)) {
        kerr_set(e, K_NOMEM, "out of memory");
    } else {
        if (mr->model) add_model_entries(&r, mr, rt, ct);
        score_all(r.features, r.n_features, a->threads);
        report_summarize(&r);
        rc = emit(&r, a, e);
    }
    for (int i = 0; r.features && i < r.n_features; i++)
        report_feature_free(&r.features[i]);
    free(r.features);
    free(only_r);
    free(only_c);
    return rc;
}

/* Loads the kept columns of t; a file without data rows cannot be compared. */
static int load_table(csv_table *t, int threads, kerr *e)
{
    if (csv_table_load(t, threads, e)) return -1;
    if (csv_table_rows(t) == 0)
        return kerr_set(e, K_FORMAT, "%s has no data rows", csv_table_path(t)), -1;
    return 0;
}

/* Plans, loads and scores both files (and the model's outputs on them). */
static int drift_files(csv_table **rt, csv_table **ct, model_run *mr, const drift_args *a, kerr *e)
{
    if (csv_table_open(a->ref, NULL, rt, e) || csv_table_open(a->cur, NULL, ct, e) ||
        plan_columns(*rt, *ct, a->columns, e))
        return -1;
    if (mr->model && (plan_model_columns(*rt, mr->model, mr->fcol[0], e) ||
                      plan_model_columns(*ct, mr->model, mr->fcol[1], e)))
        return -1;
    if (load_table(*rt, a->threads, e) || load_table(*ct, a->threads, e)) return -1;
    if (mr->model &&
        (predict_table(*rt, mr, 0, a->threads, e) || predict_table(*ct, mr, 1, a->threads, e)))
        return -1;
    return run_report(*rt, *ct, mr, a, e);
}

int cmd_drift(int argc, char **argv)
{
    drift_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    kerr e = {0};
    csv_table *rt = NULL, *ct = NULL;
    model_run mr = {0};
    rc = a.model && model_load(a.model, &a.reg, &mr, &e) ? -1 : drift_files(&rt, &ct, &mr, &a, &e);
    csv_table_free(rt);
    csv_table_free(ct);
    model_free(&mr);
    return rc ? cli_fail(&e) : EXIT_OK;
}
