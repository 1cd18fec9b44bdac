/* cmd_drift.c — `kiln drift REF.csv CUR.csv`: the offline drift report of two CSV files,
 * feature by feature (PSI, JS, Wasserstein, KS), as a table, JSON or a self-contained HTML page;
 * with --model, also of the model's predictions (and top-class confidence) on both files.
 *
 * Loading: each file streams through the ordered block pipeline (data/csv_pipe.h). The columns
 * are sized up front from the file size and the first block; a worker writes its block's values
 * straight into them, at the block's line offset (an upper bound of its row offset, known before
 * parsing), and the main thread closes the gap blank lines leave, if any, as it takes blocks in
 * input order, so line numbers in messages are exact. A block past the columns' first size is
 * parsed into its slot's own buffer and appended (growing the columns) instead. A record is
 * parsed straight from the block, numbers converted as they are scanned (num_scan_double), and
 * rows go to the columns 8 at a time, a run per column; a record with a quoted field, a blank
 * line or the wrong field count takes csv_split instead, with the same results. Only the columns
 * both files share (and the model's features) are kept. Scoring runs one feature per thread
 * (src/monitor/report.c). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/num.h"
#include "cli/cli.h"
#include "data/csv.h"
#include "data/csv_pipe.h"
#include "model/package.h"
#include "model/predictor.h"
#include "monitor/report.h"

#define BLOCK_SIZE ((size_t)4 << 20)
#define MAX_RECORD ((size_t)64 << 20)
#define MAX_THREADS 64
#define HUGE_PAGE ((size_t)2 << 20)
#define PREDICT_ROWS 4096 /* rows per kmodel_predict call */
#define STAGE_ROWS 8      /* rows parsed before they go to the columns: a cache line of each */
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
    double **cols; /* kept columns, `rows` values each, room for `cap` */
    col_flags *flags;
    size_t rows, cap;
    size_t direct_cap; /* rows workers may write in place: the columns' size before loading */
    size_t bytes;      /* file size (0 when unknown): sizes the columns up front */
    int named;         /* the error message names the file already */
    csv_first first;   /* the header block, queued first */
} table;

/* One parsed block, kept by its pipeline slot and reused block after block. */
typedef struct {
    size_t rows, cap;
    int direct;   /* 1: the values went straight into the table's columns at row `base` */
    size_t base;  /* direct: the row of the block's first value in the columns */
    double *vals; /* not direct: n_slots columns of `cap` values */
    double **dst; /* per slot: where the block's values go */
    col_flags *flags;
    double *stage; /* STAGE_ROWS rows of n_slots values, row by row, on their way to dst */
    int staged;    /* rows in stage (they follow the `rows` already in dst) */
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
    free(t->first.block);
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
    struct stat st;
    if (fstat(t->fd, &st) == 0 && S_ISREG(st.st_mode)) t->bytes = (size_t)st.st_size;
    if (!(t->src = csv_source_new(t->fd, BLOCK_SIZE, MAX_RECORD)))
        return kerr_set(e, K_NOMEM, "out of memory"), -1;
    csv_record h;
    csv_record_init(&h);
    int rc = csv_pipe_header(t->src, &h, &t->first, e);
    if (rc == 0) kerr_set(e, K_FORMAT, "%s is empty (a header row is required)", path);
    if (rc < 0) kerr_prefix(e, "%s", path);
    rc = rc > 0 ? take_header(t, &h, e) : -1;
    csv_record_free(&h);
    return rc;
}

/* ---- parsing blocks in parallel ------------------------------------------------------------- */

static int is_na(const csv_field *f)
{
    return (f->len == 2 && memcmp(f->p, "NA", 2) == 0) ||
           (f->len == 3 && memcmp(f->p, "N/A", 3) == 0);
}

static double parse_field(const csv_field *f, col_flags *cf, const csv_chunk *c, const char *at)
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
        cf->sample_line = csv_count_lines(c->text, at);
    }
    return NAN;
}

static int parse_record(const table *t, block *b, csv_chunk *c, const csv_record *rec,
                        const char *at)
{
    if (rec->n != t->n_cols) {
        kerr_set(&c->err, K_FORMAT, "has %d fields, the header has %d", rec->n, t->n_cols);
        return -1;
    }
    for (int i = 0; i < t->n_cols; i++) {
        int s = t->slot[i];
        if (s >= 0) b->dst[s][b->rows] = parse_field(&rec->fields[i], &b->flags[s], c, at);
    }
    b->rows++;
    return 0;
}

/* Points the block's destinations at the table's columns, at the chunk's line offset, when it
 * fits in them (direct_cap does not change while the pipe runs, and every block that fits comes
 * before every block that does not, so the columns are not moved under a worker); else at the
 * slot's own buffer, grown as needed. Returns -1 when out of memory. */
static int block_target(const table *t, const csv_chunk *c, block *b)
{
    size_t need = c->lines + 1; /* every record but the last ends with a line feed */
    b->direct = c->lines_before + need <= t->direct_cap;
    b->base = c->lines_before;
    if (b->direct) {
        for (int s = 0; s < t->n_slots; s++)
            b->dst[s] = t->cols[s] + b->base;
        return 0;
    }
    if (need > b->cap) {
        double *v = realloc(b->vals, need * (size_t)(t->n_slots ? t->n_slots : 1) * sizeof *v);
        if (!v) return -1;
        b->vals = v, b->cap = need;
    }
    for (int s = 0; s < t->n_slots; s++)
        b->dst[s] = b->vals + (size_t)s * b->cap;
    return 0;
}

/* The slot's block, with room for the chunk's records; NULL when out of memory. */
static block *slot_block(const table *t, csv_chunk *c)
{
    block *b = c->user;
    if (!b && (b = calloc(1, sizeof *b)) != NULL) {
        b->flags = calloc((size_t)t->n_slots + 1, sizeof *b->flags);
        b->stage = malloc(((size_t)t->n_slots + 1) * STAGE_ROWS * sizeof *b->stage);
        b->dst = calloc((size_t)t->n_slots + 1, sizeof *b->dst);
        c->user = b;
    }
    if (!b || !b->flags || !b->dst || !b->stage || block_target(t, c, b)) return NULL;
    b->rows = 0;
    b->staged = 0;
    memset(b->flags, 0, ((size_t)t->n_slots + 1) * sizeof *b->flags);
    return b;
}

/* Where the unquoted field at p ends: at the ',' or line feed after it, or at end. A CR right
 * before the line feed (or the end) is not part of the field, as in csv_split. *len is the
 * field's length. */
static const char *field_end(const char *p, const char *end, size_t *len)
{
    const char *q = p;
    while (q < end && *q != ',' && *q != '\n')
        q++;
    *len = (size_t)(q - p) - (q > p && q[-1] == '\r' && (q == end || *q == '\n'));
    return q;
}

/* Is q where a field ends (a ',' or a line end, CRLF included)? Sets *next to the delimiter. */
static int at_field_end(const char *q, const char *end, const char **next)
{
    if (q < end && *q == '\r' && (q + 1 == end || q[1] == '\n')) q++;
    *next = q;
    return q == end || *q == ',' || *q == '\n';
}

/* The value of the unquoted field at *p: a plain number is converted as it is scanned, anything
 * else goes through parse_field (the same double either way). *p moves to the field's end. */
static double scan_value(const char **p, const char *end, col_flags *cf, const csv_chunk *c,
                         const char *at)
{
    double v;
    const char *q = num_scan_double(*p, end, &v), *next;
    if (q && at_field_end(q, end, &next)) {
        *p = next;
        return v;
    }
    csv_field f = {*p, 0};
    *p = field_end(*p, end, &f.len);
    return parse_field(&f, cf, c, at);
}

/* Moves the staged rows to the columns, a column at a time: each column then takes a run of
 * values, where a row at a time would write to as many cache lines as there are columns. */
static void flush_stage(const table *t, block *b)
{
    for (int s = 0; s < t->n_slots; s++) {
        double *d = b->dst[s] + b->rows;
        for (int k = 0; k < b->staged; k++)
            d[k] = b->stage[(size_t)k * (size_t)t->n_slots + (size_t)s];
    }
    b->rows += (size_t)b->staged;
    b->staged = 0;
}

/* Parses the record at *pos straight from the block, without splitting it first, into the
 * stage. Returns 1 when it did (*pos moves past it), 0 when the record needs csv_split: a blank
 * line, a quoted field or the wrong number of fields (nothing is staged then). */
static int scan_record(const table *t, block *b, const csv_chunk *c, const char **pos,
                       const char *end)
{
    const char *p = *pos, *at = p;
    double *row = b->stage + (size_t)b->staged * (size_t)t->n_slots;
    if (p >= end || *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'))) return 0;
    for (int i = 0; i < t->n_cols; i++) {
        if (p < end && *p == '"') return 0;
        int s = t->slot[i];
        if (s >= 0) {
            row[s] = scan_value(&p, end, &b->flags[s], c, at);
        } else {
            size_t len;
            p = field_end(p, end, &len);
        }
        int last = i == t->n_cols - 1;
        if (p < end && *p == ',' && !last) {
            p++;
            continue;
        }
        if (!last || (p < end && *p != '\n')) return 0;
    }
    *pos = p < end ? p + 1 : p;
    if (++b->staged == STAGE_ROWS) flush_stage(t, b);
    return 1;
}

static void parse_block(void *ctx, void *scratch, csv_chunk *c)
{
    const table *t = ctx;
    csv_record *rec = scratch;
    block *b = slot_block(t, c);
    if (!b) {
        kerr_set(&c->err, K_NOMEM, "out of memory");
        return;
    }
    const char *pos = c->text, *end = c->text + c->len;
    for (;;) {
        const char *at = pos;
        if (scan_record(t, b, c, &pos, end)) continue;
        flush_stage(t, b); /* csv_split's records go straight to the columns */
        int rc = csv_split(&pos, end, rec, &c->err);
        if (rc == 0) break;
        if (rc > 0 && rec->n == 1 && rec->fields[0].len == 0) continue; /* blank line */
        if (rc < 0 || parse_record(t, b, c, rec, at)) {
            c->err_line = csv_count_lines(c->text, at);
            break;
        }
    }
}

static void *record_new(void *ctx)
{
    (void)ctx;
    csv_record *r = malloc(sizeof *r);
    if (r) csv_record_init(r);
    return r;
}

static void record_free(void *ctx, void *r)
{
    (void)ctx;
    csv_record_free(r);
    free(r);
}

static void block_free(void *ctx, void *user)
{
    (void)ctx;
    block *b = user;
    free(b->vals);
    free(b->dst);
    free(b->flags);
    free(b->stage);
    free(b);
}

/* A column of cap doubles, aligned for transparent huge pages: a column is written once, front
 * to back, and 4 KiB page faults on gigabytes of them cost more than the parsing. The size is
 * rounded up to whole huge pages, as a huge page is only used where all of it lies in the
 * mapping (else a column's last partial huge page takes hundreds of small faults). */
static double *column_alloc(size_t cap)
{
    void *p = NULL;
    size_t bytes = cap * sizeof(double);
    if (bytes < HUGE_PAGE) return malloc(bytes);
    bytes = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
    if (posix_memalign(&p, HUGE_PAGE, bytes)) return NULL;
#ifdef MADV_HUGEPAGE
    madvise(p, bytes, MADV_HUGEPAGE); /* advice only: without it, small pages */
#endif
    return p;
}

/* Makes room for `more` rows: sized from the file size once the first block tells the bytes
 * per row (about 2% over), then doubled. */
static int table_reserve(table *t, size_t more, size_t block_bytes)
{
    size_t need = t->rows + more;
    if (need <= t->cap) return 0;
    size_t cap = t->cap ? 2 * t->cap : 1024;
    if (!t->cap && more && t->bytes > block_bytes)
        cap = (size_t)((double)t->bytes / ((double)block_bytes / (double)more) * 1.02) + 1024;
    if (cap < need) cap = need;
    for (int s = 0; s < t->n_slots; s++) {
        double *v = column_alloc(cap);
        if (!v) return -1;
        if (t->rows) memcpy(v, t->cols[s], t->rows * sizeof *v);
        free(t->cols[s]);
        t->cols[s] = v;
    }
    t->cap = cap;
    return 0;
}

/* Appends a parsed block's columns to the table, in input order; `line` is where it starts. */
static int join_block(void *ctx, csv_chunk *c, size_t line, kerr *e)
{
    table *t = ctx;
    const block *b = c->user;
    if (c->err.code) {
        *e = c->err;
        kerr_prefix(e, "%s line %zu", t->path, line + c->err_line);
        t->named = 1;
        return -1;
    }
    if (!b->direct && table_reserve(t, b->rows, c->len))
        return kerr_set(e, K_NOMEM, "out of memory"), -1;
    for (int s = 0; s < t->n_slots; s++) {
        if (!b->direct || b->base != t->rows) /* direct: close the gap of blank lines */
            memmove(t->cols[s] + t->rows, b->dst[s], b->rows * sizeof(double));
        col_flags *f = &t->flags[s], *bf = &b->flags[s];
        f->inf |= bf->inf;
        if (bf->text && !f->text) *f = *bf, f->sample_line = line + bf->sample_line;
    }
    t->rows += b->rows;
    return 0;
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

static int table_load(table *t, int threads, kerr *e)
{
    t->cols = calloc((size_t)t->n_slots + 1, sizeof *t->cols);
    t->flags = calloc((size_t)t->n_slots + 1, sizeof *t->flags);
    if (!t->cols || !t->flags) return kerr_set(e, K_NOMEM, "out of memory"), -1;
    if (t->first.block) { /* size the columns from the first block's bytes per line */
        size_t len = t->first.len - t->first.skip;
        size_t lines =
            csv_count_lines(t->first.block + t->first.skip, t->first.block + t->first.len);
        if (table_reserve(t, lines + 1, len)) return kerr_set(e, K_NOMEM, "out of memory"), -1;
        t->direct_cap = t->cap;
    }
    csv_pipe_ops ops = {.ctx = t,
                        .scratch_new = record_new,
                        .scratch_free = record_free,
                        .work = parse_block,
                        .drain = join_block,
                        .slot_free = block_free};
    if (csv_pipe_run(t->src, &t->first, threads, &ops, e)) {
        if (!t->named) kerr_prefix(e, "%s", t->path);
        return -1;
    }
    if (t->rows == 0) return kerr_set(e, K_FORMAT, "%s has no data rows", t->path), -1;
    return 0;
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

/* Gives each of the model's features a slot in t (kept even when --columns leaves it out of
 * the report); fslot[f] is the feature's slot. */
static int plan_model_columns(table *t, const kmodel *m, int *fslot, kerr *e)
{
    const kspec *s = kmodel_spec(m);
    for (int32_t f = 0; f < s->n_features; f++) {
        int c = find_name(t, s->features[f].name);
        if (c < 0)
            return kerr_set(e, K_NOTFOUND,
                            "%s has no column '%s', a feature of the model (it needs %d: "
                            "'%s'%s)",
                            t->path, s->features[f].name, s->n_features, s->features[0].name,
                            s->n_features > 1 ? ", ..." : ""),
                   -1;
        if (t->slot[c] < 0) t->slot[c] = t->n_slots++;
        fslot[f] = t->slot[c];
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

/* Fills the features, in reference column order, leaving `extra` entries free at the end. */
static int build_features(const table *r, const table *c, const char *list, int extra,
                          report_feature **out, int *n)
{
    report_feature *f = calloc((size_t)(r->n_slots + extra), sizeof *f);
    if (!f) return -1;
    int k = 0;
    for (int i = 0; i < r->n_cols; i++) {
        int j = find_name(c, r->names[i]);
        if (r->slot[i] < 0 || j < 0 || !listed(list, r->names[i])) continue;
        report_feature *x = &f[k++];
        x->name = r->names[i];
        x->ref = r->cols[r->slot[i]], x->n_ref = r->rows;
        x->cur = c->cols[c->slot[j]], x->n_cur = c->rows;
        type_feature(x, r, c, r->slot[i], c->slot[j]);
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
static const char **unmatched(const table *t, const table *other, int *n)
{
    const char **v = calloc((size_t)t->n_cols + 1, sizeof *v);
    *n = 0;
    for (int i = 0; v && i < t->n_cols; i++)
        if (find_name(other, t->names[i]) < 0) v[(*n)++] = t->names[i];
    return v;
}

/* ---- command -------------------------------------------------------------------------------- */

/* ---- model outputs -------------------------------------------------------------------------- */

/* The model and its outputs on both files: [0] reference, [1] current. */
typedef struct {
    kmodel *model;
    int classifier;
    int *fslot[2];   /* feature -> slot in each table */
    double *pred[2]; /* regressors: the first value; classifiers: the class index */
    double *conf[2]; /* classifiers: the top-class probability */
} model_run;

typedef struct {
    const kmodel *m;
    const table *t;
    const int *fslot;
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
            rows[(i - lo) * (size_t)nf + (size_t)f] = q->t->cols[q->fslot[f]][i];
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
        if (!ok || lo >= q->t->rows) break;
        size_t hi = lo + PREDICT_ROWS < q->t->rows ? lo + PREDICT_ROWS : q->t->rows;
        ok = predict_rows(q, lo, hi, rows, vals) == 0;
    }
    free(rows);
    free(vals);
    return NULL;
}

/* A model feature column with text cannot be scored. */
static int check_model_columns(const table *t, const model_run *mr, int side, kerr *e)
{
    const kspec *s = kmodel_spec(mr->model);
    for (int32_t f = 0; f < s->n_features; f++) {
        const col_flags *cf = &t->flags[mr->fslot[side][f]];
        if (cf->text)
            return kerr_set(e, K_FORMAT,
                            "%s: column '%s' (a feature of the model) is not numeric: '%s' on "
                            "line %zu",
                            t->path, s->features[f].name, cf->sample, cf->sample_line),
                   -1;
    }
    return 0;
}

/* Scores every row of t (side 0: reference, 1: current). */
static int predict_table(const table *t, model_run *mr, int side, int threads, kerr *e)
{
    if (check_model_columns(t, mr, side, e)) return -1;
    mr->pred[side] = malloc((t->rows + 1) * sizeof(double));
    mr->conf[side] = mr->classifier ? malloc((t->rows + 1) * sizeof(double)) : NULL;
    if (!mr->pred[side] || (mr->classifier && !mr->conf[side]))
        return kerr_set(e, K_NOMEM, "out of memory"), -1;
    predict_queue q = {.m = mr->model,
                       .t = t,
                       .fslot = mr->fslot[side],
                       .pred = mr->pred[side],
                       .conf = mr->conf[side]};
    pthread_mutex_init(&q.mu, NULL);
    size_t chunks = t->rows / PREDICT_ROWS + 1;
    run_parallel(predict_worker, &q, (size_t)threads < chunks ? threads : (int)chunks);
    pthread_mutex_destroy(&q.mu);
    if (q.failed) return kerr_set(e, K_NOMEM, "out of memory while scoring %s", t->path), -1;
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
        if (!(mr->fslot[i] = calloc((size_t)s->n_features + 1, sizeof(int))))
            return kerr_set(e, K_NOMEM, "out of memory"), -1;
    return 0;
}

static void model_free(model_run *mr)
{
    for (int i = 0; i < 2; i++) {
        free(mr->fslot[i]);
        free(mr->pred[i]);
        free(mr->conf[i]);
    }
    kmodel_free(mr->model);
}

static report_feature *model_entry(report *r, const char *name, double *const v[2], const table *rt,
                                   const table *ct)
{
    report_feature *f = &r->features[r->n_features++];
    f->name = name;
    f->model_output = 1;
    f->kind = DRIFT_NUMERIC;
    f->ref = v[0], f->n_ref = rt->rows;
    f->cur = v[1], f->n_cur = ct->rows;
    return f;
}

/* Appends "prediction" (and "confidence") after the features. */
static void add_model_entries(report *r, const model_run *mr, const table *rt, const table *ct)
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

static int run_report(table *rt, table *ct, const model_run *mr, const drift_args *a, kerr *e)
{
    report r = {.ref_path = a->ref,
                .cur_path = a->cur,
                .ref_rows = rt->rows,
                .cur_rows = ct->rows,
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

/* Plans, loads and scores both files (and the model's outputs on them). */
static int drift_files(table *rt, table *ct, model_run *mr, const drift_args *a, kerr *e)
{
    if (table_open(rt, a->ref, e) || table_open(ct, a->cur, e) ||
        plan_columns(rt, ct, a->columns, e))
        return -1;
    if (mr->model && (plan_model_columns(rt, mr->model, mr->fslot[0], e) ||
                      plan_model_columns(ct, mr->model, mr->fslot[1], e)))
        return -1;
    if (table_load(rt, a->threads, e) || table_load(ct, a->threads, e)) return -1;
    if (mr->model &&
        (predict_table(rt, mr, 0, a->threads, e) || predict_table(ct, mr, 1, a->threads, e)))
        return -1;
    return run_report(rt, ct, mr, a, e);
}

int cmd_drift(int argc, char **argv)
{
    drift_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    kerr e = {0};
    table rt = {.fd = -1}, ct = {.fd = -1};
    model_run mr = {0};
    rc = a.model && model_load(a.model, &a.reg, &mr, &e) ? -1 : drift_files(&rt, &ct, &mr, &a, &e);
    table_free(&rt);
    table_free(&ct);
    model_free(&mr);
    return rc ? cli_fail(&e) : EXIT_OK;
}
