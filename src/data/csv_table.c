/* csv_table.c — a CSV file into float64 columns: each file streams through the ordered block
 * pipeline (data/csv_pipe.h). The columns are sized up front from the file size and the first
 * block; a worker writes its block's values straight into them, at the block's line offset (an
 * upper bound of its row offset, known before parsing), and the main thread closes the gap blank
 * lines leave, if any, as it takes blocks in input order, so line numbers in messages are exact.
 * A block past the columns' first size is parsed into its slot's own buffer and appended
 * (growing the columns) instead. A record is parsed straight from the block, numbers converted
 * as they are scanned (num_scan_double), and rows go to the columns 8 at a time, a run per
 * column; a record with a quoted field, a blank line or the wrong field count takes csv_split
 * instead, with the same results (fuzz_csv_table checks it). */
#include "data/csv_table.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/num.h"
#include "data/csv.h"
#include "data/csv_pipe.h"

#define BLOCK_SIZE ((size_t)4 << 20)
#define MAX_RECORD ((size_t)64 << 20)
#define HUGE_PAGE ((size_t)2 << 20)
#define STAGE_ROWS 8 /* rows parsed before they go to the columns: a cache line of each */

/* ---- one CSV file --------------------------------------------------------------------------- */

struct csv_table {
    char *path;
    int fd;
    int fast; /* scan records in place (see csv_table_opts.no_fast_path) */
    csv_source *src;
    char **names; /* header */
    int n_cols;
    int *slot; /* header column -> kept column, or -1 */
    int n_slots;
    double **cols; /* kept columns, `rows` values each, room for `cap` */
    csv_table_flags *flags;
    size_t rows, cap;
    size_t direct_cap; /* rows workers may write in place: the columns' size before loading */
    size_t bytes;      /* file size (0 when unknown): sizes the columns up front */
    int named;         /* the error message names the file already */
    int loaded;
    csv_first first; /* the header block, queued first */
};

/* One parsed block, kept by its pipeline slot and reused block after block. */
typedef struct {
    size_t rows, cap;
    size_t room;  /* the rows dst has room for: the block's line feeds + 1 */
    int direct;   /* 1: the values went straight into the table's columns at row `base` */
    size_t base;  /* direct: the row of the block's first value in the columns */
    double *vals; /* not direct: n_slots columns of `cap` values */
    double **dst; /* per slot: where the block's values go */
    csv_table_flags *flags;
    double *stage; /* STAGE_ROWS rows of n_slots values, row by row, on their way to dst */
    int staged;    /* rows in stage (they follow the `rows` already in dst) */
} block;

void csv_table_free(csv_table *t)
{
    if (!t) return;
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
    free(t->path);
    free(t);
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

static int take_header(csv_table *t, const csv_record *h, kerr *e)
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
static int table_open(csv_table *t, const char *path, size_t block_size, kerr *e)
{
    t->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (t->fd < 0) return kerr_set(e, K_IO, "cannot open %s: %s", path, strerror(errno)), -1;
    struct stat st;
    if (fstat(t->fd, &st) == 0 && S_ISREG(st.st_mode)) t->bytes = (size_t)st.st_size;
    if (!(t->src = csv_source_new(t->fd, block_size, MAX_RECORD)))
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

kstatus csv_table_open(const char *path, const csv_table_opts *o, csv_table **out, kerr *e)
{
    csv_table_opts none = {0};
    kerr local;
    if (!o) o = &none;
    if (!e) e = &local;
    csv_table *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t || !(t->path = strdup(path))) {
        free(t);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    t->fd = -1;
    t->fast = !o->no_fast_path;
    if (table_open(t, path, o->block_size ? o->block_size : BLOCK_SIZE, e)) {
        csv_table_free(t);
        return e->code;
    }
    *out = t;
    return K_OK;
}

const char *csv_table_path(const csv_table *t)
{
    return t->path;
}

int csv_table_n_cols(const csv_table *t)
{
    return t->n_cols;
}

const char *csv_table_name(const csv_table *t, int col)
{
    return t->names[col];
}

int csv_table_find(const csv_table *t, const char *name)
{
    for (int c = 0; c < t->n_cols; c++)
        if (strcmp(t->names[c], name) == 0) return c;
    return -1;
}

void csv_table_keep(csv_table *t, int col)
{
    if (t->slot[col] < 0) t->slot[col] = t->n_slots++;
}

int csv_table_kept(const csv_table *t, int col)
{
    return t->slot[col] >= 0;
}

size_t csv_table_rows(const csv_table *t)
{
    return t->rows;
}

const double *csv_table_values(const csv_table *t, int col)
{
    return t->loaded && t->slot[col] >= 0 ? t->cols[t->slot[col]] : NULL;
}

const csv_table_flags *csv_table_col_flags(const csv_table *t, int col)
{
    return t->loaded && t->slot[col] >= 0 ? &t->flags[t->slot[col]] : NULL;
}

/* ---- parsing blocks in parallel ------------------------------------------------------------- */

static int is_na(const csv_field *f)
{
    return (f->len == 2 && memcmp(f->p, "NA", 2) == 0) ||
           (f->len == 3 && memcmp(f->p, "N/A", 3) == 0);
}

static double parse_field(const csv_field *f, csv_table_flags *cf, const csv_chunk *c,
                          const char *at)
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

static int parse_record(const csv_table *t, block *b, csv_chunk *c, const csv_record *rec,
                        const char *at)
{
    if (rec->n != t->n_cols) {
        kerr_set(&c->err, K_FORMAT, "has %d fields, the header has %d", rec->n, t->n_cols);
        return -1;
    }
    if (b->rows >= b->room) { /* cannot happen: csv_split ends records at line feeds only */
        kerr_set(&c->err, K_FORMAT, "more records than lines in a block");
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
static int block_target(const csv_table *t, const csv_chunk *c, block *b)
{
    size_t need = c->lines + 1; /* every record but the last ends with a line feed */
    b->direct = c->lines_before + need <= t->direct_cap;
    b->base = c->lines_before;
    b->room = need;
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
static block *slot_block(const csv_table *t, csv_chunk *c)
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
static double scan_value(const char **p, const char *end, csv_table_flags *cf, const csv_chunk *c,
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
static void flush_stage(const csv_table *t, block *b)
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
static int scan_record(const csv_table *t, block *b, const csv_chunk *c, const char **pos,
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
    const csv_table *t = ctx;
    csv_record *rec = scratch;
    block *b = slot_block(t, c);
    if (!b) {
        kerr_set(&c->err, K_NOMEM, "out of memory");
        return;
    }
    const char *pos = c->text, *end = c->text + c->len;
    for (;;) {
        const char *at = pos;
        if (t->fast && scan_record(t, b, c, &pos, end)) continue;
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

/* The rows the file size allows at most: a record has n_cols - 1 commas and a line feed (the
 * last one may lack it), and a blank line is no row. */
static size_t max_rows(const csv_table *t)
{
    return t->bytes / (size_t)(t->n_cols > 0 ? t->n_cols : 1) + 1;
}

/* Makes room for `more` rows: sized from the file size once the first block tells the bytes
 * per row (about 2% over, never past what the file can hold), then doubled. */
static int table_reserve(csv_table *t, size_t more, size_t block_bytes)
{
    size_t need = t->rows + more;
    if (need <= t->cap) return 0;
    size_t cap = t->cap ? 2 * t->cap : 1024;
    if (!t->cap && more && block_bytes && t->bytes > block_bytes) {
        double rows = (double)t->bytes / ((double)block_bytes / (double)more) * 1.02 + 1024;
        cap = rows < (double)max_rows(t) ? (size_t)rows : max_rows(t);
    }
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
    csv_table *t = ctx;
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
        csv_table_flags *f = &t->flags[s], *bf = &b->flags[s];
        int inf = f->inf | bf->inf; /* the first text's sample, and inf from every block */
        if (bf->text && !f->text) *f = *bf, f->sample_line = line + bf->sample_line;
        f->inf = inf;
    }
    t->rows += b->rows;
    return 0;
}

kstatus csv_table_load(csv_table *t, int threads, kerr *e)
{
    kerr local;
    if (!e) e = &local;
    if (t->loaded) return kerr_set(e, K_INVALID, "%s is loaded already", t->path);
    t->loaded = 1;
    t->cols = calloc((size_t)t->n_slots + 1, sizeof *t->cols);
    t->flags = calloc((size_t)t->n_slots + 1, sizeof *t->flags);
    if (!t->cols || !t->flags) return kerr_set(e, K_NOMEM, "out of memory");
    if (t->first.block) { /* size the columns from the first block's bytes per line */
        size_t len = t->first.len - t->first.skip;
        size_t lines =
            csv_count_lines(t->first.block + t->first.skip, t->first.block + t->first.len);
        if (table_reserve(t, lines + 1, len)) return kerr_set(e, K_NOMEM, "out of memory");
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
        return e->code ? e->code : K_IO;
    }
    return K_OK;
}
