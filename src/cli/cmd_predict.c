/* cmd_predict.c — `kiln predict`: score a CSV file with a .kiln package.
 *
 * A reader (the main thread) cuts the input into blocks of whole records; workers parse,
 * score and format their block; the main thread writes finished blocks in input order. At most
 * 2 x threads blocks are in flight, so memory is constant whatever the input size. Output goes
 * to a temporary file renamed into place on success, so a failed run never leaves half a
 * result behind. */
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
#include "base/num.h"
#include "cli/cli.h"
#include "data/csv.h"
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
} plan;

typedef struct {
    char *block;
    size_t len;
    size_t lines;    /* line feeds in the block (counted by the worker) */
    size_t err_line; /* on error: line of the bad row, counted from the block's first line */
    buf out;
    kerr err;
    int state; /* 0 empty, 1 ready, 2 taken, 3 done */
} job;

typedef struct {
    const plan *p;
    job *jobs;
    size_t depth, next_take, n_read;
    int eof, stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} queue;

/* ---- scoring one block ----------------------------------------------------------------------- */

/* Line feeds in [start, at). */
static size_t count_lines(const char *start, const char *at)
{
    size_t n = 0;
    for (const char *c = start; (c = memchr(c, '\n', (size_t)(at - c))) != NULL; c++)
        n++;
    return n;
}

/* Names the input line of a failed job's bad row, given the line the block started on. */
static void name_line(job *j, size_t first_line)
{
    if (j->err.code) kerr_prefix(&j->err, "input line %zu", first_line + j->err_line);
}

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

/* Scores the batched rows; on a row the model cannot score, names its input line. */
static int flush_batch(const plan *p, scratch *sc, size_t n, job *j)
{
    if (!n || !score_batch(p, sc, n, &j->out, &j->err)) return 0;
    j->err_line = count_lines(j->block, sc->row_start[sc->bad_row]);
    return -1;
}

static void run_job(const plan *p, job *j, scratch *sc)
{
    const char *pos = j->block, *end = j->block + j->len;
    size_t n = 0;
    buf_init(&j->out, (size_t)1 << 31);
    for (;;) {
        const char *at = pos;
        int rc = csv_split(&pos, end, &sc->rec, &j->err);
        if (rc == 0) break;
        if (rc > 0 && sc->rec.n == 1 && sc->rec.fields[0].len == 0) continue; /* blank line */
        if (rc < 0 || parse_row(p, &sc->rec, sc->rows + n * (size_t)p->n_feat, &j->err)) {
            j->err_line = count_lines(j->block, at);
            return;
        }
        sc->row_start[n] = at;
        if (++n == BATCH_ROWS) {
            if (flush_batch(p, sc, n, j)) return;
            n = 0;
        }
    }
    if (flush_batch(p, sc, n, j) == 0) j->lines = count_lines(j->block, end);
}

/* ---- worker pool ----------------------------------------------------------------------------- */

static int scratch_init(scratch *sc, const plan *p)
{
    sc->rows = malloc(BATCH_ROWS * (size_t)p->n_feat * sizeof(double));
    sc->values = malloc(BATCH_ROWS * (size_t)p->n_values * sizeof(double));
    sc->margins = malloc(BATCH_ROWS * (size_t)p->n_margins * sizeof(double));
    sc->row_start = malloc(BATCH_ROWS * sizeof *sc->row_start);
    csv_record_init(&sc->rec);
    return sc->rows && sc->values && sc->margins && sc->row_start ? 0 : -1;
}

static void scratch_free(scratch *sc)
{
    free(sc->rows);
    free(sc->values);
    free(sc->margins);
    free(sc->row_start);
    csv_record_free(&sc->rec);
}

static void *worker(void *arg)
{
    queue *q = arg;
    scratch sc;
    int ok = scratch_init(&sc, q->p) == 0;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop &&
               (q->next_take == q->n_read || q->jobs[q->next_take % q->depth].state != 1))
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop) break;
        job *j = &q->jobs[q->next_take++ % q->depth];
        j->state = 2;
        pthread_mutex_unlock(&q->mu);
        if (ok)
            run_job(q->p, j, &sc);
        else
            kerr_set(&j->err, K_NOMEM, "out of memory");
        pthread_mutex_lock(&q->mu);
        j->state = 3;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    scratch_free(&sc);
    return NULL;
}

/* Reads the next block into a free slot; returns 1 if one was queued, 0 at EOF, -1 on error. */
static int feed(queue *q, csv_source *src, kerr *e)
{
    char *block;
    size_t len;
    int rc = csv_source_next(src, &block, &len, e);
    if (rc <= 0) return rc;
    pthread_mutex_lock(&q->mu);
    job *j = &q->jobs[q->n_read % q->depth];
    memset(j, 0, sizeof *j);
    j->block = block;
    j->len = len;
    j->state = 1;
    q->n_read++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    return 1;
}

/* Waits for job `seq`, writes its output and frees it; *line is the line its block starts on
 * and advances past it. */
static int drain(queue *q, size_t seq, size_t *line, FILE *out, kerr *e)
{
    job *j = &q->jobs[seq % q->depth];
    pthread_mutex_lock(&q->mu);
    while (j->state != 3)
        pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
    int rc = 0;
    name_line(j, *line);
    *line += j->lines;
    if (j->err.code) {
        *e = j->err;
        rc = -1;
    } else if (j->out.len && fwrite(j->out.data, 1, j->out.len, out) != j->out.len) {
        kerr_set(e, K_IO, "write error: %s", strerror(errno));
        rc = -1;
    }
    free(j->block);
    j->block = NULL;
    buf_free(&j->out);
    j->state = 0;
    return rc;
}

static int pump(const plan *p, csv_source *src, size_t first_line, int threads, FILE *out, kerr *e)
{
    queue q = {.p = p, .depth = 2 * (size_t)threads};
    q.jobs = calloc(q.depth, sizeof *q.jobs);
    pthread_t tid[MAX_THREADS];
    if (!q.jobs) return kerr_set(e, K_NOMEM, "out of memory"), -1;
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, worker, &q)) break;
    size_t written = 0, line = first_line;
    int rc = started ? 0 : (kerr_set(e, K_NOMEM, "cannot start threads"), -1), eof = 0;
    while (rc == 0 && !(eof && written == q.n_read)) {
        if (!eof && q.n_read - written < q.depth) {
            int f = feed(&q, src, e);
            if (f < 0) rc = -1;
            eof = f == 0;
            continue;
        }
        rc = drain(&q, written++, &line, out, e);
    }
    pthread_mutex_lock(&q.mu);
    q.stop = 1;
    pthread_cond_broadcast(&q.cv);
    pthread_mutex_unlock(&q.mu);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
    for (size_t i = 0; i < q.depth; i++) {
        free(q.jobs[i].block);
        buf_free(&q.jobs[i].out);
    }
    free(q.jobs);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.cv);
    return rc;
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

/* Reads the header record from the first block, leaving the rest queued in `first`. */
static int read_header(plan *p, csv_source *src, char **first, size_t *first_len, kerr *e)
{
    int rc = csv_source_next(src, first, first_len, e);
    if (rc == 0) return kerr_set(e, K_FORMAT, "input is empty (a header row is required)"), -1;
    if (rc < 0) return -1;
    csv_record hdr;
    csv_record_init(&hdr);
    const char *pos = *first;
    rc = csv_split(&pos, *first + *first_len, &hdr, e) == 1 ? map_columns(p, &hdr, e) : -1;
    csv_record_free(&hdr);
    if (rc == 0) {
        *first_len -= (size_t)(pos - *first);
        memmove(*first, pos, *first_len);
    }
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
    char *first = NULL;
    size_t first_len = 0;
    int rc = read_header(p, src, &first, &first_len, e);
    if (rc == 0) rc = write_header(p, out, e);
    if (rc == 0) {
        /* the header block's remaining records are scored first, synchronously */
        job j = {.block = first, .len = first_len};
        scratch sc;
        if (scratch_init(&sc, p))
            kerr_set(&j.err, K_NOMEM, "out of memory");
        else
            run_job(p, &j, &sc);
        scratch_free(&sc);
        name_line(&j, 2);
        if (j.err.code)
            *e = j.err, rc = -1;
        else if (j.out.len && fwrite(j.out.data, 1, j.out.len, out) != j.out.len)
            rc = (kerr_set(e, K_IO, "write error"), -1);
        buf_free(&j.out);
        if (rc == 0) rc = pump(p, src, 2 + j.lines, threads, out, e);
    }
    free(first);
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
