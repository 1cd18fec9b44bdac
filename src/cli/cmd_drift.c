/* cmd_drift.c — `kiln drift REF.csv CUR.csv`: the offline drift report of two CSV files,
 * feature by feature (PSI, JS, Wasserstein, KS), as a table, JSON or a self-contained HTML page.
 *
 * Loading: the main thread reads a file's whole-record blocks (csv_source), worker threads parse
 * the blocks into per-block float64 columns, and the blocks are then joined in input order, so
 * line numbers in messages are exact. Only the columns both files share are kept. Scoring runs
 * one feature per thread (src/monitor/report.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/num.h"
#include "cli/cli.h"
#include "data/csv.h"
#include "monitor/report.h"

#define BLOCK_SIZE ((size_t)4 << 20)
#define MAX_RECORD ((size_t)64 << 20)
#define MAX_THREADS 64
#define CAT_AUTO_CODES 64 /* a column of integers 0..63 only is taken as categorical codes */

void cmd_drift_help(void)
{
    printf("usage: kiln drift REF.csv CUR.csv [--columns a,b,...] [--json] [--html FILE]\n"
           "                  [--share S] [--threads N]\n\n"
           "Compares the current file with the reference file feature by feature: PSI and\n"
           "Jensen-Shannon over the reference deciles, Wasserstein (divided by the reference\n"
           "std) and Kolmogorov-Smirnov, both exact; chi-square and JS for categorical columns.\n"
           "Columns are matched by name; empty and NA fields are missing values. A column of\n"
           "integers 0..%d only is categorical; a column with text is skipped.\n\n"
           "  --columns LIST   compare only these columns (comma-separated)\n"
           "  --json           print one JSON document instead of the table\n"
           "  --html FILE      also write a self-contained HTML report (written atomically)\n"
           "  --share S        dataset drift when the share of drifted features >= S (0.5)\n"
           "  --threads N      worker threads (default: all cores)\n\n"
           "Exit codes: 0 report produced (drift or not), 1 error, 2 usage error.\n",
           CAT_AUTO_CODES - 1);
}

/* ---- one CSV file --------------------------------------------------------------------------- */

typedef struct {
    int text, inf;      /* saw a non-numeric / an infinite field (kept as missing) */
    char sample[48];    /* the first non-numeric field */
    size_t sample_line; /* its line (block-relative while parsing, then absolute) */
} col_flags;

typedef struct {
    const char *path;
    int fd;
    csv_source *src;
    char **names; /* header */
    int n_cols;
    int *slot; /* header column -> kept column, or -1 */
    int n_slots;
    double **cols; /* kept columns, `rows` values each */
    col_flags *flags;
    size_t rows;
    char *first; /* the header block's remaining records */
    size_t first_len;
} table;

typedef struct {
    char *text;
    size_t len, lines, rows, err_line;
    double *vals; /* n_slots columns of `cap` values */
    size_t cap;
    col_flags *flags;
    kerr err;
} block;

static void table_free(table *t)
{
    for (int i = 0; t->names && i < t->n_cols; i++)
        free(t->names[i]);
    for (int i = 0; t->cols && i < t->n_slots; i++)
        free(t->cols[i]);
    free(t->names);
    free(t->slot);
    free(t->cols);
    free(t->flags);
    free(t->first);
    csv_source_free(t->src);
    if (t->fd >= 0) close(t->fd);
}

static char *dup_field(const csv_field *f)
{
    char *s = malloc(f->len + 1);
    if (s) {
        memcpy(s, f->p, f->len);
        s[f->len] = 0;
    }
    return s;
}

static int take_header(table *t, const csv_record *h, kerr *e)
{
    t->n_cols = h->n;
    t->names = calloc((size_t)h->n, sizeof *t->names);
    t->slot = malloc((size_t)h->n * sizeof *t->slot);
    if (!t->names || !t->slot) return kerr_set(e, K_NOMEM, "out of memory"), -1;
    for (int c = 0; c < h->n; c++) {
        if (!(t->names[c] = dup_field(&h->fields[c])))
            return kerr_set(e, K_NOMEM, "out of memory"), -1;
        t->slot[c] = -1;
        for (int d = 0; d < c; d++)
            if (strcmp(t->names[d], t->names[c]) == 0)
                return kerr_set(e, K_FORMAT, "%s: the header names column '%s' twice", t->path,
                                t->names[c]),
                       -1;
    }
    return 0;
}

/* Opens the file and reads its header; the rest of the first block stays in t->first. */
static int table_open(table *t, const char *path, kerr *e)
{
    t->path = path;
    t->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (t->fd < 0) return kerr_set(e, K_IO, "cannot open %s: %s", path, strerror(errno)), -1;
    if (!(t->src = csv_source_new(t->fd, BLOCK_SIZE, MAX_RECORD)))
        return kerr_set(e, K_NOMEM, "out of memory"), -1;
    int rc = csv_source_next(t->src, &t->first, &t->first_len, e);
    if (rc == 0) return kerr_set(e, K_FORMAT, "%s is empty (a header row is required)", path), -1;
    if (rc < 0) return kerr_prefix(e, "%s", path), -1;
    csv_record h;
    csv_record_init(&h);
    const char *pos = t->first;
    rc = csv_split(&pos, t->first + t->first_len, &h, e) == 1 ? take_header(t, &h, e) : -1;
    csv_record_free(&h);
    if (rc == 0) {
        t->first_len -= (size_t)(pos - t->first);
        memmove(t->first, pos, t->first_len);
    }
    return rc;
}

/* ---- parsing blocks in parallel ------------------------------------------------------------- */

static size_t count_lines(const char *start, const char *at)
{
    size_t n = 0;
    for (const char *c = start; (c = memchr(c, '\n', (size_t)(at - c))) != NULL; c++)
        n++;
    return n;
}

static int is_na(const csv_field *f)
{
    return (f->len == 2 && memcmp(f->p, "NA", 2) == 0) ||
           (f->len == 3 && memcmp(f->p, "N/A", 3) == 0);
}

static double parse_field(const csv_field *f, col_flags *cf, const block *b, const char *at)
{
    double v;
    if (!f->len || is_na(f)) return NAN;
    if (num_parse_double(f->p, f->len, &v)) {
        if (!isinf(v)) return v;
        cf->inf = 1;
        return NAN;
    }
    if (!cf->text) {
        cf->text = 1;
        snprintf(cf->sample, sizeof cf->sample, "%.*s", (int)(f->len > 40 ? 40 : f->len), f->p);
        cf->sample_line = count_lines(b->text, at);
    }
    return NAN;
}

static int parse_record(const table *t, block *b, const csv_record *rec, const char *at)
{
    if (rec->n != t->n_cols) {
        kerr_set(&b->err, K_FORMAT, "has %d fields, the header has %d", rec->n, t->n_cols);
        return -1;
    }
    for (int c = 0; c < t->n_cols; c++) {
        int s = t->slot[c];
        if (s >= 0)
            b->vals[(size_t)s * b->cap + b->rows] =
                parse_field(&rec->fields[c], &b->flags[s], b, at);
    }
    b->rows++;
    return 0;
}

static void parse_block(const table *t, block *b, csv_record *rec)
{
    const char *pos = b->text, *end = b->text + b->len;
    b->lines = count_lines(b->text, end);
    b->cap = b->lines + 1; /* every record but the last ends with a line feed */
    b->vals = malloc(b->cap * (size_t)(t->n_slots ? t->n_slots : 1) * sizeof *b->vals);
    b->flags = calloc((size_t)t->n_slots + 1, sizeof *b->flags);
    if (!b->vals || !b->flags) {
        kerr_set(&b->err, K_NOMEM, "out of memory");
        return;
    }
    for (;;) {
        const char *at = pos;
        int rc = csv_split(&pos, end, rec, &b->err);
        if (rc == 0) break;
        if (rc > 0 && rec->n == 1 && rec->fields[0].len == 0) continue; /* blank line */
        if (rc < 0 || parse_record(t, b, rec, at)) {
            b->err_line = count_lines(b->text, at);
            break;
        }
    }
    free(b->text);
    b->text = NULL;
}

typedef struct {
    const table *t;
    block *blocks;
    size_t n, next;
    pthread_mutex_t mu;
} parse_queue;

static void *parse_worker(void *arg)
{
    parse_queue *q = arg;
    csv_record rec;
    csv_record_init(&rec);
    for (;;) {
        pthread_mutex_lock(&q->mu);
        size_t i = q->next++;
        pthread_mutex_unlock(&q->mu);
        if (i >= q->n) break;
        parse_block(q->t, &q->blocks[i], &rec);
    }
    csv_record_free(&rec);
    return NULL;
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

/* Reads every block of the file (the header block's rest first). */
static int read_blocks(table *t, block **out, size_t *n, kerr *e)
{
    size_t cap = 64;
    block *b = calloc(cap, sizeof *b);
    if (!b) return kerr_set(e, K_NOMEM, "out of memory"), -1;
    b[0].text = t->first, b[0].len = t->first_len;
    t->first = NULL;
    *n = 1;
    for (;;) {
        if (*n == cap) {
            block *g = realloc(b, 2 * cap * sizeof *b);
            if (!g) return *out = b, kerr_set(e, K_NOMEM, "out of memory"), -1;
            memset(g + cap, 0, cap * sizeof *g);
            b = g, cap *= 2;
        }
        int rc = csv_source_next(t->src, &b[*n].text, &b[*n].len, e);
        if (rc <= 0) {
            *out = b;
            if (rc < 0) kerr_prefix(e, "%s", t->path);
            return rc;
        }
        (*n)++;
    }
}

/* Appends block b's columns to the table; `line` is the line b starts on. */
static int join_block(table *t, block *b, size_t line, kerr *e)
{
    if (b->err.code) {
        *e = b->err;
        kerr_prefix(e, "%s line %zu", t->path, line + b->err_line);
        return -1;
    }
    for (int s = 0; s < t->n_slots; s++) {
        memcpy(t->cols[s] + t->rows, b->vals + (size_t)s * b->cap, b->rows * sizeof(double));
        col_flags *f = &t->flags[s], *bf = &b->flags[s];
        f->inf |= bf->inf;
        if (bf->text && !f->text) *f = *bf, f->sample_line = line + bf->sample_line;
    }
    t->rows += b->rows;
    return 0;
}

static int join_blocks(table *t, block *b, size_t n, kerr *e)
{
    size_t rows = 0, line = 2;
    for (size_t i = 0; i < n; i++)
        rows += b[i].rows;
    t->cols = calloc((size_t)t->n_slots + 1, sizeof *t->cols);
    t->flags = calloc((size_t)t->n_slots + 1, sizeof *t->flags);
    if (!t->cols || !t->flags) return kerr_set(e, K_NOMEM, "out of memory"), -1;
    for (int s = 0; s < t->n_slots; s++)
        if (!(t->cols[s] = malloc((rows + 1) * sizeof(double))))
            return kerr_set(e, K_NOMEM, "out of memory"), -1;
    for (size_t i = 0; i < n; i++) {
        if (join_block(t, &b[i], line, e)) return -1;
        line += b[i].lines;
    }
    return 0;
}

static int table_load(table *t, int threads, kerr *e)
{
    block *b = NULL;
    size_t n = 0;
    int rc = read_blocks(t, &b, &n, e);
    if (rc == 0) {
        parse_queue q = {.t = t, .blocks = b, .n = n};
        pthread_mutex_init(&q.mu, NULL);
        run_parallel(parse_worker, &q, threads);
        pthread_mutex_destroy(&q.mu);
        rc = join_blocks(t, b, n, e);
    }
    for (size_t i = 0; b && i < n; i++) {
        free(b[i].text);
        free(b[i].vals);
        free(b[i].flags);
    }
    free(b);
    if (rc == 0 && t->rows == 0) rc = (kerr_set(e, K_FORMAT, "%s has no data rows", t->path), -1);
    return rc;
}

/* ---- matching columns and typing features --------------------------------------------------- */

static int find_name(const table *t, const char *name)
{
    for (int c = 0; c < t->n_cols; c++)
        if (strcmp(t->names[c], name) == 0) return c;
    return -1;
}

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
static int check_listed(const char *list, const table *r, const table *c, kerr *e)
{
    char name[256];
    for (const char *p = list; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        snprintf(name, sizeof name, "%.*s", (int)(n < 255 ? n : 255), p);
        if (find_name(r, name) < 0 || find_name(c, name) < 0)
            return kerr_set(e, K_NOTFOUND, "--columns: '%s' is not a column of both files", name),
                   -1;
        p = comma ? comma + 1 : p + n;
    }
    return 0;
}

/* Gives each shared (and listed) column a slot in both tables. */
static int plan_columns(table *r, table *c, const char *list, kerr *e)
{
    if (check_listed(list, r, c, e)) return -1;
    for (int i = 0; i < r->n_cols; i++) {
        int j = find_name(c, r->names[i]);
        if (j < 0 || !listed(list, r->names[i])) continue;
        r->slot[i] = r->n_slots++;
        c->slot[j] = c->n_slots++;
    }
    if (r->n_slots == 0)
        return kerr_set(e, K_NOTFOUND, "%s and %s have no column in common", r->path, c->path), -1;
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

static void type_feature(report_feature *f, const table *r, const table *c, int sr, int sc)
{
    const col_flags *fr = &r->flags[sr], *fc = &c->flags[sc];
    if (fr->text || fc->text) {
        const table *t = fr->text ? r : c;
        const col_flags *ff = fr->text ? fr : fc;
        report_feature_skip(f, "not numeric: '%s' on line %zu of %s", ff->sample, ff->sample_line,
                            t->path);
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

/* Fills the features, in reference column order. */
static int build_features(const table *r, const table *c, report_feature **out, int *n)
{
    report_feature *f = calloc((size_t)r->n_slots, sizeof *f);
    if (!f) return -1;
    for (int i = 0, k = 0; i < r->n_cols; i++) {
        if (r->slot[i] < 0) continue;
        int j = find_name(c, r->names[i]);
        report_feature *x = &f[k++];
        x->name = r->names[i];
        x->ref = r->cols[r->slot[i]], x->n_ref = r->rows;
        x->cur = c->cols[c->slot[j]], x->n_cur = c->rows;
        type_feature(x, r, c, r->slot[i], c->slot[j]);
    }
    *out = f;
    *n = r->n_slots;
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
    for (;;) {
        pthread_mutex_lock(&q->mu);
        int i = q->next++;
        pthread_mutex_unlock(&q->mu);
        if (i >= q->n) break;
        if (q->f[i].state != REPORT_SKIPPED) report_feature_score(&q->f[i], &q->th);
    }
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
static const char **unmatched(const table *t, const table *other, int *n)
{
    const char **v = calloc((size_t)t->n_cols + 1, sizeof *v);
    *n = 0;
    for (int i = 0; v && i < t->n_cols; i++)
        if (find_name(other, t->names[i]) < 0) v[(*n)++] = t->names[i];
    return v;
}

/* ---- command -------------------------------------------------------------------------------- */

typedef struct {
    const char *ref, *cur, *columns, *html;
    int json, threads;
    double share;
} drift_args;

static int parse_args(int argc, char **argv, drift_args *a)
{
    static const struct option opts[] = {
        {"columns", required_argument, 0, 'c'}, {"json", no_argument, 0, 'j'},
        {"html", required_argument, 0, 'H'},    {"share", required_argument, 0, 's'},
        {"threads", required_argument, 0, 't'}, {0, 0, 0, 0}};
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
        } else
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

static int run_report(table *rt, table *ct, const drift_args *a, kerr *e)
{
    report r = {.ref_path = a->ref,
                .cur_path = a->cur,
                .ref_rows = rt->rows,
                .cur_rows = ct->rows,
                .share_threshold = a->share};
    const char **only_r = unmatched(rt, ct, &r.n_only_ref),
               **only_c = unmatched(ct, rt, &r.n_only_cur);
    r.only_ref = only_r, r.only_cur = only_c;
    int rc = -1;
    if (!only_r || !only_c || build_features(rt, ct, &r.features, &r.n_features)) {
        kerr_set(e, K_NOMEM, "out of memory");
    } else {
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

int cmd_drift(int argc, char **argv)
{
    drift_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    kerr e = {0};
    table rt = {.fd = -1}, ct = {.fd = -1};
    rc = table_open(&rt, a.ref, &e) || table_open(&ct, a.cur, &e) ||
                 plan_columns(&rt, &ct, a.columns, &e) || table_load(&rt, a.threads, &e) ||
                 table_load(&ct, a.threads, &e) || run_report(&rt, &ct, &a, &e)
             ? -1
             : 0;
    table_free(&rt);
    table_free(&ct);
    return rc ? cli_fail(&e) : EXIT_OK;
}
