/* cmd_predict.c — `kiln predict`: score a CSV file with a .kiln package.
 *
 * The input streams through the ordered block pipeline (data/csv_pipe.h): the main thread cuts
 * it into blocks of whole records, workers parse, score and format their block into the slot's
 * reused output buffer, and the main thread writes finished blocks in input order, so memory is
 * constant whatever the input size. Output goes to a temporary file renamed into place on
 * success, so a failed run never leaves half a result behind. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/num.h"
#include "cli/cli.h"
#include "data/csv.h"
#include "data/csv_pipe.h"
#include "model/package.h"
#include "model/predictor.h"

#define BLOCK_SIZE ((size_t)1 << 20)
#define MAX_RECORD ((size_t)64 << 20)
#define BATCH_ROWS 512
#define MAX_THREADS 64

void cmd_predict_help(void)
{
    printf("usage: kiln predict MODEL.kiln --input IN.csv [--output OUT.csv] [--threads N] "
           "[--margin]\n\n"
           "Scores every row of IN.csv and writes one output row per input row, in order.\n\n"
           "  -i, --input FILE    CSV with a header row ('-' for stdin). Columns are matched to\n"
           "                      the model's features by name, in any order; extra columns are\n"
           "                      ignored; a missing feature column is an error. An empty field\n"
           "                      or NaN is a missing value.\n"
           "  -o, --output FILE   where to write (default: stdout). Written to a temporary file\n"
           "                      and renamed into place only when every row succeeded.\n"
           "  -t, --threads N     worker threads (default: all cores)\n"
           "      --margin        also write the raw scores: margin_0 .. margin_{K-1}\n\n"
           "Output columns: classifiers write 'prediction' (the class label) then\n"
           "'proba_<label>' for each class; regressors write 'prediction'.\n"
           "Exit codes: 0 every row scored, 1 error (bad file, bad row), 2 usage error.\n");
}

typedef struct {
    const kmodel *model;
    int32_t n_feat, n_values, n_margins;
    int *col;   /* input column of each feature */
    int n_cols; /* header width */
    const char **feat_names;
    int margin;
    FILE *out; /* where finished blocks go, in input order */
} plan;

/* ---- scoring one block ----------------------------------------------------------------------- */

static int parse_row(const plan *p, const csv_record *rec, double *row, kerr *e)
{
    if (rec->n != p->n_cols)
        return kerr_set(e, K_FORMAT, "has %d fields, the header has %d", rec->n, p->n_cols), -1;
    for (int32_t f = 0; f < p->n_feat; f++) {
        const csv_field *fld = &rec->fields[p->col[f]];
        double v = NAN;
        if (fld->len && !num_parse_double(fld->p, fld->len, &v))
            return kerr_set(e, K_FORMAT, "column '%s': '%.*s' is not a number", p->feat_names[f],
                            (int)(fld->len > 40 ? 40 : fld->len), fld->p),
                   -1;
        if (isinf(v))
            return kerr_set(e, K_FORMAT, "column '%s': infinite value", p->feat_names[f]), -1;
        row[f] = v;
    }
    return 0;
}

static kstatus format_rows(const plan *p, const double *values, const double *margins, size_t n,
                           buf *out)
{
    const kspec *s = kmodel_spec(p->model);
    char num[40];
    kstatus st = K_OK;
    for (size_t r = 0; r < n && !st; r++) {
        const double *v = values + r * (size_t)p->n_values;
        if (s->task == KTASK_CLASSIFICATION) {
            st = csv_append_field(out, s->class_labels[kmodel_predicted_class(p->model, v)]);
            for (int32_t i = 0; i < p->n_values && !st; i++) {
                num[0] = ',';
                st = buf_append(out, num, 1 + (size_t)num_format_double(v[i], num + 1));
            }
        } else {
            for (int32_t i = 0; i < p->n_values && !st; i++) {
                size_t at = 0;
                if (i) num[at++] = ',';
                st = buf_append(out, num, at + (size_t)num_format_double(v[i], num + at));
            }
        }
        for (int32_t i = 0; p->margin && i < p->n_margins && !st; i++) {
            num[0] = ',';
            int len = num_format_double(margins[r * (size_t)p->n_margins + (size_t)i], num + 1);
            st = buf_append(out, num, 1 + (size_t)len);
        }
        if (!st) st = buf_append(out, "\n", 1);
    }
    return st;
}

typedef struct {
    double *rows, *values, *margins;
    const char **row_start; /* where each batched row began, for messages */
    size_t bad_row;
    csv_record rec;
} scratch;

/* Returns the index of the first row with no score (NaN), or n. */
static size_t first_unscored(const double *values, size_t n, int32_t width)
{
    for (size_t i = 0; i < n * (size_t)width; i++)
        if (isnan(values[i])) return i / (size_t)width;
    return n;
}

static kstatus score_batch(const plan *p, scratch *sc, size_t n, buf *out, kerr *e)
{
    if (kmodel_predict(p->model, sc->rows, n, sc->values, sc->margins))
        return kerr_set(e, K_NOMEM, "out of memory while scoring");
    size_t bad = first_unscored(sc->values, n, p->n_values);
    if (bad < n) {
        sc->bad_row = bad;
        return kerr_set(e, K_INVALID,
                        "the model cannot score this row: it has a missing value "
                        "and the model has no way to handle one (linear models "
                        "and MLPs need an imputer)");
    }
    if (format_rows(p, sc->values, sc->margins, n, out))
        return kerr_set(e, K_NOMEM, "output buffer limit reached");
    return K_OK;
}

/* The output of one block, kept by its pipeline slot and reused block after block. */
typedef struct {
    buf out;
} slot_out;

static buf *slot_buf(csv_chunk *c)
{
    slot_out *o = c->user;
    if (!o && (o = calloc(1, sizeof *o)) != NULL) {
        buf_init(&o->out, (size_t)1 << 31);
        c->user = o;
    }
    if (o) o->out.len = 0;
    return o ? &o->out : NULL;
}

/* Scores the batched rows; on a row the model cannot score, names its input line. */
static int flush_batch(const plan *p, scratch *sc, size_t n, csv_chunk *c, buf *out)
{
    if (!n || !score_batch(p, sc, n, out, &c->err)) return 0;
    c->err_line = csv_count_lines(c->text, sc->row_start[sc->bad_row]);
    return -1;
}

static void run_job(void *ctx, void *scratch_, csv_chunk *c)
{
    const plan *p = ctx;
    scratch *sc = scratch_;
    const char *pos = c->text, *end = c->text + c->len;
    size_t n = 0;
    buf *out = slot_buf(c);
    if (!out) {
        kerr_set(&c->err, K_NOMEM, "out of memory");
        return;
    }
    for (;;) {
        const char *at = pos;
        int rc = csv_split(&pos, end, &sc->rec, &c->err);
        if (rc == 0) break;
        if (rc > 0 && sc->rec.n == 1 && sc->rec.fields[0].len == 0) continue; /* blank line */
        if (rc < 0 || parse_row(p, &sc->rec, sc->rows + n * (size_t)p->n_feat, &c->err)) {
            c->err_line = csv_count_lines(c->text, at);
            return;
        }
        sc->row_start[n] = at;
        if (++n == BATCH_ROWS) {
            if (flush_batch(p, sc, n, c, out)) return;
            n = 0;
        }
    }
    flush_batch(p, sc, n, c, out);
}

/* ---- pipeline callbacks ---------------------------------------------------------------------- */

static void scratch_free(void *ctx, void *scratch_)
{
    (void)ctx;
    scratch *sc = scratch_;
    free(sc->rows);
    free(sc->values);
    free(sc->margins);
    free(sc->row_start);
    csv_record_free(&sc->rec);
    free(sc);
}

static void *scratch_new(void *ctx)
{
    const plan *p = ctx;
    scratch *sc = calloc(1, sizeof *sc);
    if (!sc) return NULL;
    sc->rows = malloc(BATCH_ROWS * (size_t)p->n_feat * sizeof(double));
    sc->values = malloc(BATCH_ROWS * (size_t)p->n_values * sizeof(double));
    sc->margins = malloc(BATCH_ROWS * (size_t)p->n_margins * sizeof(double));
    sc->row_start = malloc(BATCH_ROWS * sizeof *sc->row_start);
    csv_record_init(&sc->rec);
    if (sc->rows && sc->values && sc->margins && sc->row_start) return sc;
    scratch_free(ctx, sc);
    return NULL;
}

static void slot_free(void *ctx, void *user)
{
    (void)ctx;
    slot_out *o = user;
    buf_free(&o->out);
    free(o);
}

/* Writes a finished block, in input order; names the input line of a failed one. */
static int drain_job(void *ctx, csv_chunk *c, size_t line, kerr *e)
{
    FILE *out = ((const plan *)ctx)->out;
    if (c->err.code) {
        *e = c->err;
        kerr_prefix(e, "input line %zu", line + c->err_line);
        return -1;
    }
    const slot_out *o = c->user;
    if (o && o->out.len && fwrite(o->out.data, 1, o->out.len, out) != o->out.len)
        return kerr_set(e, K_IO, "write error: %s", strerror(errno)), -1;
    return 0;
}

/* ---- header and command ---------------------------------------------------------------------- */

static int map_columns(plan *p, const csv_record *hdr, kerr *e)
{
    const kspec *s = kmodel_spec(p->model);
    p->n_cols = hdr->n;
    for (int32_t f = 0; f < p->n_feat; f++) {
        const char *name = s->features[f].name;
        size_t nlen = strlen(name);
        p->col[f] = -1;
        p->feat_names[f] = name;
        for (int c = 0; c < hdr->n; c++) {
            if (hdr->fields[c].len != nlen || memcmp(hdr->fields[c].p, name, nlen) != 0) continue;
            if (p->col[f] >= 0)
                return kerr_set(e, K_FORMAT, "input header names column '%s' twice", name), -1;
            p->col[f] = c;
        }
        if (p->col[f] < 0)
            return kerr_set(e, K_FORMAT,
                            "input has no column '%s' (the model needs %d features: "
                            "'%s'%s)",
                            name, p->n_feat, s->features[0].name, p->n_feat > 1 ? ", ..." : ""),
                   -1;
    }
    return 0;
}

static int write_header(const plan *p, FILE *out, kerr *e)
{
    const kspec *s = kmodel_spec(p->model);
    buf b;
    buf_init(&b, (size_t)64 << 20);
    char name[48];
    kstatus st = buf_append_str(&b, "prediction");
    for (int32_t i = 0; s->task == KTASK_CLASSIFICATION && i < s->n_classes && !st; i++) {
        buf label;
        buf_init(&label, (size_t)1 << 20);
        st = buf_append_str(&label, "proba_");
        if (!st) st = buf_append_str(&label, s->class_labels[i]);
        if (!st) st = buf_append(&b, ",", 1);
        if (!st) st = csv_append_field(&b, (const char *)label.data);
        buf_free(&label);
    }
    for (int32_t i = 1; s->task != KTASK_CLASSIFICATION && i < p->n_values && !st; i++) {
        snprintf(name, sizeof name, ",prediction_%d", i);
        st = buf_append_str(&b, name);
    }
    for (int32_t i = 0; p->margin && i < p->n_margins && !st; i++) {
        snprintf(name, sizeof name, ",margin_%d", i);
        st = buf_append_str(&b, name);
    }
    if (!st) st = buf_append(&b, "\n", 1);
    int rc = st || fwrite(b.data, 1, b.len, out) != b.len ? -1 : 0;
    buf_free(&b);
    if (rc) kerr_set(e, K_IO, "cannot write the output header");
    return rc;
}

/* Reads the header record and maps the model's features to its columns. */
static int read_header(plan *p, csv_source *src, csv_first *first, kerr *e)
{
    csv_record hdr;
    csv_record_init(&hdr);
    int rc = csv_pipe_header(src, &hdr, first, e);
    if (rc == 0) kerr_set(e, K_FORMAT, "input is empty (a header row is required)");
    rc = rc > 0 ? map_columns(p, &hdr, e) : -1;
    csv_record_free(&hdr);
    return rc;
}

typedef struct {
    const char *model, *input, *output;
    int threads, margin;
} predict_args;

static int parse_args(int argc, char **argv, predict_args *a)
{
    static const struct option opts[] = {{"input", required_argument, 0, 'i'},
                                         {"output", required_argument, 0, 'o'},
                                         {"threads", required_argument, 0, 't'},
                                         {"margin", no_argument, 0, 'm'},
                                         {0, 0, 0, 0}};
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    a->threads = cpus > 0 ? (int)(cpus < MAX_THREADS ? cpus : MAX_THREADS) : 1;
    int c;
    char *endp;
    optind = 1;
    while ((c = getopt_long(argc, argv, "i:o:t:", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            a->input = optarg;
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'm':
            a->margin = 1;
            break;
        case 't':
            a->threads = (int)strtol(optarg, &endp, 10);
            if (*endp || a->threads < 1 || a->threads > MAX_THREADS)
                return cli_usage("predict", "--threads must be 1..%d", MAX_THREADS);
            break;
        default:
            return cli_usage("predict", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage("predict", "expected exactly one MODEL.kiln");
    if (!a->input) return cli_usage("predict", "--input is required");
    a->model = argv[optind];
    return 0;
}

/* Scores everything from `in_fd` into `out`. */
static int predict_stream(plan *p, int in_fd, int threads, FILE *out, kerr *e)
{
    csv_source *src = csv_source_new(in_fd, BLOCK_SIZE, MAX_RECORD);
    if (!src) return kerr_set(e, K_NOMEM, "out of memory"), -1;
    csv_first first = {0};
    int rc = read_header(p, src, &first, e);
    if (rc == 0) rc = write_header(p, out, e);
    if (rc == 0) {
        p->out = out;
        csv_pipe_ops ops = {.ctx = p,
                            .scratch_new = scratch_new,
                            .scratch_free = scratch_free,
                            .work = run_job,
                            .drain = drain_job,
                            .slot_free = slot_free};
        rc = csv_pipe_run(src, &first, threads, &ops, e);
    }
    free(first.block);
    csv_source_free(src);
    return rc;
}

static int open_output(const char *path, char *tmp, size_t tmp_size, FILE **out, kerr *e)
{
    if (!path || strcmp(path, "-") == 0) {
        *out = stdout;
        return 0;
    }
    snprintf(tmp, tmp_size, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0 || !(*out = fdopen(fd, "w")))
        return kerr_set(e, K_IO, "cannot create %s: %s", path, strerror(errno)), -1;
    return 0;
}

static int finish_output(FILE *out, const char *path, const char *tmp, int ok, kerr *e)
{
    if (out == stdout) return fflush(stdout) == 0 ? ok : -1;
    int bad = fflush(out) != 0 || fsync(fileno(out)) != 0;
    bad |= fclose(out) != 0;
    if (ok == 0 && !bad && rename(tmp, path) == 0) return 0;
    if (ok == 0) kerr_set(e, K_IO, "cannot write %s: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
}

int cmd_predict(int argc, char **argv)
{
    predict_args a = {0};
    int rc = parse_args(argc, argv, &a);
    if (rc) return rc;
    kerr e = {0};
    kspec *spec;
    kmodel *m;
    if (kpkg_load(a.model, &spec, &e) || kmodel_new(spec, &m, &e)) return cli_fail(&e);
    plan p = {.model = m,
              .n_feat = kmodel_n_features(m),
              .n_values = kmodel_n_values(m),
              .n_margins = kmodel_n_margins(m),
              .margin = a.margin};
    p.col = calloc((size_t)p.n_feat, sizeof *p.col);
    p.feat_names = calloc((size_t)p.n_feat, sizeof *p.feat_names);
    int in_fd = strcmp(a.input, "-") == 0 ? 0 : open(a.input, O_RDONLY | O_CLOEXEC);
    char tmp[4096];
    FILE *out = NULL;
    if (!p.col || !p.feat_names)
        rc = (kerr_set(&e, K_NOMEM, "out of memory"), -1);
    else if (in_fd < 0)
        rc = (kerr_set(&e, K_IO, "cannot open %s: %s", a.input, strerror(errno)), -1);
    else if ((rc = open_output(a.output, tmp, sizeof tmp, &out, &e)) == 0) {
        rc = predict_stream(&p, in_fd, a.threads, out, &e);
        rc = finish_output(out, a.output, tmp, rc, &e);
    }
    if (in_fd > 0) close(in_fd);
    free(p.col);
    free(p.feat_names);
    kmodel_free(m);
    if (rc) {
        if (!e.msg[0]) kerr_set(&e, K_IO, "cannot write output");
        return cli_fail(&e);
    }
    return EXIT_OK;
}
