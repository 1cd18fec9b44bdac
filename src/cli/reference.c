/* reference.c — `--reference DATA.csv`: reference statistics of a model's inputs and of its
 * predictions, computed from a dataset and kept in the package metadata ("drift_reference"),
 * which `kiln serve` scores its recent traffic against (monitor/online.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/fs.h"
#include "base/num.h"
#include "cli/cli.h"
#include "data/csv.h"
#include "model/package.h"
#include "model/predictor.h"
#include "monitor/online.h"

#define REFERENCE_MAX ((size_t)2 << 30)

typedef struct {
    int32_t nf;
    int *column_of; /* feature index -> CSV column */
    double *rows;   /* n * nf */
    size_t n, cap;
} matrix;

static kstatus map_header(const kspec *s, const csv_record *h, matrix *m, kerr *e)
{
    for (int32_t j = 0; j < s->n_features; j++) {
        m->column_of[j] = -1;
        for (int c = 0; c < h->n; c++)
            if (strlen(s->features[j].name) == h->fields[c].len &&
                memcmp(s->features[j].name, h->fields[c].p, h->fields[c].len) == 0)
                m->column_of[j] = c;
        if (m->column_of[j] < 0)
            return kerr_set(e, K_INVALID, "the reference data has no column '%s'",
                            s->features[j].name);
    }
    return K_OK;
}

static kstatus add_row(matrix *m, const csv_record *r, size_t line, kerr *e)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        double *p = realloc(m->rows, cap * (size_t)m->nf * sizeof *p);
        if (!p) return kerr_set(e, K_NOMEM, "out of memory reading the reference data");
        m->rows = p;
        m->cap = cap;
    }
    double *row = m->rows + m->n * (size_t)m->nf;
    for (int32_t j = 0; j < m->nf; j++) {
        int c = m->column_of[j];
        if (c >= r->n) return kerr_set(e, K_FORMAT, "line %zu: too few fields", line);
        const csv_field *f = &r->fields[c];
        if (f->len == 0 || (f->len == 2 && memcmp(f->p, "NA", 2) == 0))
            row[j] = NAN;
        else if (!num_parse_double(f->p, f->len, &row[j]) || isinf(row[j]))
            return kerr_set(e, K_FORMAT, "line %zu, column %d: not a number", line, c + 1);
    }
    m->n++;
    return K_OK;
}

static kstatus read_matrix(const kspec *s, const char *path, matrix *m, kerr *e)
{
    char *data;
    size_t len;
    kstatus st = fs_read_all(path, REFERENCE_MAX, &data, &len, e);
    if (st) return st;
    csv_record rec;
    csv_record_init(&rec);
    const char *pos = data, *end = data + len;
    m->nf = s->n_features;
    m->column_of = calloc((size_t)(m->nf ? m->nf : 1), sizeof *m->column_of);
    if (!m->column_of)
        st = kerr_set(e, K_NOMEM, "out of memory");
    else if (csv_split(&pos, end, &rec, e) != 1)
        st = kerr_set(e, K_FORMAT, "%s has no header", path);
    else
        st = map_header(s, &rec, m, e);
    int got;
    for (size_t line = 2; !st && (got = csv_split(&pos, end, &rec, e)) != 0; line++)
        st = got < 0 ? K_FORMAT : add_row(m, &rec, line, e);
    if (!st && m->n == 0) st = kerr_set(e, K_FORMAT, "%s has no data rows", path);
    csv_record_free(&rec);
    free(data);
    if (st) kerr_prefix(e, "%s", path);
    return st;
}

/* The prediction statistic per row: top class probability, or the predicted value. */
static kstatus predictions(const kspec *s, const matrix *m, double **pred, kerr *e)
{
    buf bytes;
    buf_init(&bytes, REFERENCE_MAX);
    kspec *copy = NULL;
    kmodel *model = NULL;
    kstatus st = kpkg_write(s, &bytes, e);
    if (!st) st = kpkg_read(bytes.data, bytes.len, &copy, e);
    buf_free(&bytes);
    if (!st) st = kmodel_new(copy, &model, e);
    int32_t nv = st ? 0 : kmodel_n_values(model);
    double *values = st ? NULL : malloc(m->n * (size_t)nv * sizeof *values);
    *pred = st ? NULL : malloc(m->n * sizeof **pred);
    if (!st && (!values || !*pred)) st = kerr_set(e, K_NOMEM, "out of memory");
    if (!st) st = kmodel_predict(model, m->rows, m->n, values, NULL);
    for (size_t i = 0; !st && i < m->n; i++) {
        const double *v = values + i * (size_t)nv;
        int32_t k = kmodel_predicted_class(model, v);
        (*pred)[i] = k >= 0 ? v[k] : v[0];
    }
    free(values);
    kmodel_free(model);
    return st;
}

/* Features whose training range the source model did not record get the reference data's
 * range, so data quality (out of range) and the input policy (validation: range) apply. */
static void fill_ranges(kspec *s, const matrix *m)
{
    size_t nf = (size_t)s->n_features;
    for (size_t j = 0; j < nf; j++) {
        kfeature *f = &s->features[j];
        if (!isnan(f->min) || !isnan(f->max) || f->type == KFEAT_CATEGORICAL) continue;
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < m->n; i++) {
            double x = m->rows[i * nf + j];
            if (x < lo) lo = x;
            if (x > hi) hi = x;
        }
        if (lo <= hi) f->min = lo, f->max = hi;
    }
}

kstatus cli_attach_reference(kspec *s, const char *csv_path, size_t *rows, kerr *e)
{
    matrix m = {0};
    double *pred = NULL;
    char *json = NULL;
    kstatus st = read_matrix(s, csv_path, &m, e);
    if (!st) fill_ranges(s, &m);
    if (!st) st = predictions(s, &m, &pred, e);
    if (!st) st = kdrift_reference_json(s, m.rows, m.n, pred, &json, e);
    if (!st && kspec_set_meta(s, "drift_reference", json))
        st = kerr_set(e, K_LIMIT, "the reference statistics do not fit in the package");
    *rows = m.n;
    free(json);
    free(pred);
    free(m.rows);
    free(m.column_of);
    return st;
}
