/* handlers_predict.c — the seed's endpoints (GET /health, POST /predict) and Kiln's own
 * POST /models/{name}[/versions/{v}]/predict: JSON rows in, predictions out. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/jsonpull.h"
#include "model/predictor.h"
#include "serve/batcher.h"
#include "serve/cache.h"
#include "monitor/feedback.h"
#include "monitor/metrics.h"
#include "monitor/predlog.h"
#include "monitor/online.h"
#include "monitor/quality.h"
#include "serve/handlers.h"
#include "serve/validate.h"

void h_health(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    buf_append_str(&r->body, "{\"status\":\"healthy\"}");
}

/* ---- reading rows ---------------------------------------------------------------------- */

typedef struct {
    jsonpull jp;
    const kmodel *m;
    int32_t nf;
    kerr *e;
} row_reader;

static kstatus read_value(row_reader *rr, double *out, const char *feature)
{
    if (jsonpull_peek(&rr->jp) == 'n') {
        *out = NAN; /* null: a missing value */
        return jsonpull_literal(&rr->jp, "null");
    }
    double v;
    kstatus st = jsonpull_double(&rr->jp, &v);
    if (st) return st;
    if (!isfinite(v))
        return kerr_set(rr->e, K_FORMAT,
                        "feature '%s' is not a finite number (NaN and Infinity are not JSON; "
                        "send null for a missing value)",
                        feature);
    *out = v;
    return K_OK;
}

static const char *feature_name(const kmodel *m, int32_t i)
{
    return kmodel_spec(m)->features[i].name;
}

/* [v, v, …]: read in one pass (no look-ahead count), extra values only counted for the
 * message. */
static kstatus read_array_row(row_reader *rr, double *row)
{
    kstatus st = jsonpull_expect(&rr->jp, '[', "expected an array of numbers");
    int64_t i = 0;
    for (int first = 1, more; !st && !(st = jsonpull_element(&rr->jp, &first, &more)) && more; i++)
        st = i < rr->nf ? read_value(rr, &row[i], feature_name(rr->m, (int32_t)i))
                        : jsonpull_skip(&rr->jp);
    if (!st && i != rr->nf)
        st =
            kerr_set(rr->e, K_INVALID, "expected %d features, got %lld", (int)rr->nf, (long long)i);
    return st;
}

static int32_t find_feature(const kmodel *m, const char *name)
{
    const kspec *s = kmodel_spec(m);
    for (int32_t i = 0; i < s->n_features; i++)
        if (strcmp(s->features[i].name, name) == 0) return i;
    return -1;
}

/* {"feature": value, …}: absent features are missing values; unknown names are refused. */
static kstatus read_object_row(row_reader *rr, double *row)
{
    for (int32_t i = 0; i < rr->nf; i++)
        row[i] = NAN;
    kstatus st = jsonpull_expect(&rr->jp, '{', "expected an object of features");
    char key[JSONPULL_KEY_MAX];
    for (int first = 1, more;
         !st && !(st = jsonpull_member(&rr->jp, &first, key, &more)) && more;) {
        int32_t i = find_feature(rr->m, key);
        if (i < 0) return kerr_set(rr->e, K_INVALID, "unknown feature '%s'", key);
        st = read_value(rr, &row[i], key);
    }
    return st;
}

static kstatus read_row(row_reader *rr, double *row)
{
    int c = jsonpull_peek(&rr->jp);
    if (c == '[') return read_array_row(rr, row);
    if (c == '{') return read_object_row(rr, row);
    return jsonpull_fail(&rr->jp, "expected an array of numbers or an object of features");
}

static kstatus read_rows(row_reader *rr, arena *mem, size_t max_rows, double **rows, size_t *n)
{
    int64_t count;
    kstatus st = jsonpull_array_begin(&rr->jp, &count);
    if (st) return st;
    if ((size_t)count > max_rows)
        return kerr_set(rr->e, K_LIMIT, "%lld instances exceed the limit of %zu rows per request",
                        (long long)count, max_rows);
    *rows = arena_array(mem, (size_t)count ? (size_t)count * rr->nf : 1, sizeof **rows);
    if (!*rows) return kerr_set(rr->e, K_LIMIT, "request too large for its memory budget");
    size_t i = 0;
    for (int first = 1, more; !(st = jsonpull_element(&rr->jp, &first, &more)) && more; i++) {
        if (i >= (size_t)count) return kerr_set(rr->e, K_FORMAT, "malformed instances array");
        if ((st = read_row(rr, *rows + i * rr->nf))) return st;
    }
    *n = i;
    return st;
}

/* Reads {"features": row} or {"instances": [row, …]}; other members are ignored. */
static kstatus read_body(row_reader *rr, const khttp_req *q, size_t max_rows, double **rows,
                         size_t *n, int *batch)
{
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&rr->jp, '{', "expected a JSON object");
    *rows = NULL;
    for (int first = 1, more;
         !st && !(st = jsonpull_member(&rr->jp, &first, key, &more)) && more;) {
        if (strcmp(key, "features") == 0 && !*rows) {
            *rows = arena_array(q->mem, rr->nf ? (size_t)rr->nf : 1, sizeof **rows);
            if (!*rows) return kerr_set(rr->e, K_LIMIT, "out of request memory");
            *n = 1;
            *batch = 0;
            st = read_row(rr, *rows);
        } else if (strcmp(key, "instances") == 0 && !*rows) {
            *batch = 1;
            st = read_rows(rr, q->mem, max_rows, rows, n);
        } else {
            st = jsonpull_skip(&rr->jp);
        }
    }
    if (!st) st = jsonpull_finish(&rr->jp);
    if (!st && !*rows)
        st = kerr_set(rr->e, K_INVALID, "the body needs \"features\" (one row) or \"instances\"");
    return st;
}

/* ---- writing predictions ----------------------------------------------------------------- */

/* A class label as JSON: a number when the label is numeric ("1" → 1), else a string. */
static void put_label(buf *b, const char *label)
{
    char *end;
    double v = strtod(label, &end);
    if (*label && !*end && isfinite(v) && strspn(label, "-0123456789.eE+") == strlen(label))
        buf_append_str(b, label);
    else
        khttp_json_string(b, label);
}

static void put_prediction(buf *b, const kmodel *m, const double *values)
{
    int32_t k = kmodel_predicted_class(m, values);
    if (k < 0)
        khttp_json_number(b, values[0]);
    else
        put_label(b, kmodel_spec(m)->class_labels[k]);
}

static void put_probabilities(buf *b, const double *values, int32_t nv)
{
    khttp_json_array(b, values, (size_t)nv);
}

static int is_classifier(const kmodel *m)
{
    return kmodel_spec(m)->task == KTASK_CLASSIFICATION;
}

/* {"prediction": …, "confidence": …} as the seed's FastAPI app answers. */
static void put_seed(buf *b, const kmodel *m, const double *values)
{
    buf_append_str(b, "{\"prediction\":");
    put_prediction(b, m, values);
    if (is_classifier(m)) {
        buf_append_str(b, ",\"confidence\":");
        khttp_json_number(b, values[kmodel_predicted_class(m, values)]);
    }
    buf_append(b, "}", 1);
}

static void put_model_answer(buf *b, const kms_ref *ref, const double *values, size_t n, int batch)
{
    const kmodel *m = kms_model(ref);
    int32_t nv = kmodel_n_values(m);
    buf_append_str(b, "{\"model\":");
    khttp_json_string(b, kms_name(ref));
    buf_printf(b, ",\"version\":%lld,", (long long)kms_version(ref));
    if (!batch) {
        buf_append_str(b, "\"prediction\":");
        put_prediction(b, m, values);
        if (is_classifier(m)) {
            buf_append_str(b, ",\"confidence\":");
            khttp_json_number(b, values[kmodel_predicted_class(m, values)]);
            buf_append_str(b, ",\"probabilities\":");
            put_probabilities(b, values, nv);
        }
        buf_append(b, "}", 1);
        return;
    }
    buf_append_str(b, "\"predictions\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append(b, ",", 1);
        put_prediction(b, m, values + i * nv);
    }
    buf_append(b, "]", 1);
    if (is_classifier(m)) {
        buf_append_str(b, ",\"probabilities\":[");
        for (size_t i = 0; i < n; i++) {
            if (i) buf_append(b, ",", 1);
            put_probabilities(b, values + i * nv, nv);
        }
        buf_append(b, "]", 1);
    }
    buf_append(b, "}", 1);
}

/* ---- the handlers ------------------------------------------------------------------------- */

static void parse_error(khttp_resp *r, kstatus st, const kerr *e)
{
    khttp_error(r, khttp_status_for(st), st == K_LIMIT ? "too_large" : "bad_request", "%s", e->msg);
}

/* One row: the version's cache first, then its batcher (coalescing with concurrent requests),
 * else the predictor directly. */
static kstatus predict_one(const kms_ref *ref, const double *row, double *values, kerr *e)
{
    const kmodel *m = kms_model(ref);
    int32_t nf = kmodel_n_features(m), nv = kmodel_n_values(m);
    kcache *cache = kms_cache(ref);
    if (cache && kcache_get(cache, row, nf, values, nv)) return K_OK;
    kbatcher *b = kms_batcher(ref);
    kstatus st = b ? kbatcher_predict(b, row, values, e) : kmodel_predict(m, row, 1, values, NULL);
    if (!st && cache) kcache_put(cache, row, nf, values, nv);
    return st;
}

/* Counts the rows and each prediction's confidence (classifiers) in the version's series. */
/* Remembers the predictions for feedback and writes the sampled prediction log. */
static void remember(kserve_ctx *c, const khttp_req *q, const kms_ref *ref, const double *rows,
                     const double *values, size_t n)
{
    const kmodel *m = kms_model(ref);
    int32_t nv = kmodel_n_values(m);
    if (c->feedback) {
        kfeedback *f = kms_feedback(ref);
        if (!f) {
            const kspec *s = kmodel_spec(m);
            int classes = s->task == KTASK_CLASSIFICATION ? s->n_classes : 0;
            f = kfeedback_hub_get(c->feedback, kms_name(ref), kms_version(ref), classes,
                                  classes ? s->class_labels : NULL);
            kms_set_feedback(ref, f);
        }
        if (f) kfeedback_remember_rows(f, q->request_id, values, nv, n);
    }
    if (c->predlog)
        kpredlog_write(c->predlog, q->request_id, kms_name(ref), kms_version(ref), rows,
                       kmodel_n_features(m), values, nv, n);
}

static void record(kserve_ctx *c, const kms_ref *ref, const double *rows, const double *values,
                   size_t n)
{
    if (!c->metrics) return;
    if (kms_quality(ref)) kquality_observe(kms_quality(ref), rows, n);
    if (kms_drift(ref))
        kdrift_observe(kms_drift(ref), rows, values, kmodel_n_values(kms_model(ref)),
                       kmodel_spec(kms_model(ref))->task == KTASK_CLASSIFICATION, n);
    const kmodel *m = kms_model(ref);
    kseries *s = kmetrics_series(c->metrics, kms_name(ref), kms_version(ref));
    kseries_rows(s, n);
    if (kmodel_spec(m)->task != KTASK_CLASSIFICATION) return;
    int32_t nv = kmodel_n_values(m);
    double conf[256];
    for (size_t done = 0; done < n;) {
        size_t k = n - done < 256 ? n - done : 256;
        for (size_t i = 0; i < k; i++) {
            const double *v = values + (done + i) * (size_t)nv;
            conf[i] = v[kmodel_predicted_class(m, v)];
        }
        kseries_confidences(s, conf, k);
        done += k;
    }
}

kstatus kserve_predict(kserve_ctx *c, const khttp_req *q, const kms_ref *ref, const double *rows,
                       size_t n, double *values, kerr *e)
{
    kstatus st = K_OK;
    const double *in = rows; /* as received: data quality and drift watch these */
    if (c->validate &&
        (st = kvalidate_rows(c->validate, kmodel_spec(kms_model(ref)), in, n, q->mem, &rows, e)))
        return st;
    if (n == 1)
        st = predict_one(ref, rows, values, e);
    else if (n && kmodel_predict(kms_model(ref), rows, n, values, NULL))
        st = kerr_set(e, K_NOMEM, "out of memory scoring %zu rows", n);
    if (!st && n) record(c, ref, in, values, n);
    if (!st && n) remember(c, q, ref, rows, values, n);
    return st;
}

typedef struct {
    double *rows, *values;
    size_t n;
    int batch;
} scored;

/* Parses the body against the model and predicts; on failure the error is in r. */
static int score(kserve_ctx *c, const khttp_req *q, khttp_resp *r, kms_ref *ref, scored *out)
{
    const kmodel *m = kms_model(ref);
    kerr e = {0};
    snprintf(r->model, sizeof r->model, "%s", kms_name(ref)); /* errors count for the model too */
    r->version = kms_version(ref);
    row_reader rr = {.m = m, .nf = kmodel_n_features(m), .e = &e};
    jsonpull_init(&rr.jp, q->body, q->body_len, "", &e);
    jsonpull_set_max_depth(&rr.jp, c->limits.max_json_depth);
    kstatus st = read_body(&rr, q, c->limits.max_batch_rows, &out->rows, &out->n, &out->batch);
    if (st) {
        parse_error(r, st, &e);
        return 0;
    }
    out->values =
        arena_array(q->mem, out->n ? out->n * (size_t)kmodel_n_values(m) : 1, sizeof *out->values);
    if (!out->values) {
        khttp_error(r, 413, "too_large", "request too large for its memory budget");
        return 0;
    }
    st = kserve_predict(c, q, ref, out->rows, out->n, out->values, &e);
    if (st) {
        khttp_error(r, khttp_status_for(st),
                    st == K_BUSY    ? "overloaded"
                    : st == K_RANGE ? "invalid_input"
                                    : "too_large",
                    "%s", e.msg[0] ? e.msg : "request too large for its memory budget");
        return 0;
    }
    return 1;
}

void h_seed_predict(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    kms_ref *ref = kms_acquire(c->models, NULL, 0);
    if (!ref) {
        khttp_error(r, 503, "no_model", "no model is loaded");
        return;
    }
    scored s;
    if (score(c, q, r, ref, &s)) {
        if (s.batch)
            put_model_answer(&r->body, ref, s.values, s.n, 1);
        else
            put_seed(&r->body, kms_model(ref), s.values);
    }
    kms_release(ref);
}

/* p[0] = name, p[1] = version (when n == 2). */
void h_model_predict(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    int64_t version = 0;
    if (n == 2) {
        char *end;
        version = strtoll(p[1], &end, 10);
        if (*end || version <= 0) {
            khttp_error(r, 404, "not_found", "invalid version '%.40s'", p[1]);
            return;
        }
    }
    kms_ref *ref = kms_acquire(c->models, p[0], version);
    if (!ref) {
        if (version)
            khttp_error(r, 404, "not_found", "model '%.128s' version %lld is not loaded", p[0],
                        (long long)version);
        else
            khttp_error(r, 404, "not_found", "model '%.128s' is not loaded", p[0]);
        return;
    }
    scored s;
    if (score(c, q, r, ref, &s)) put_model_answer(&r->body, ref, s.values, s.n, s.batch);
    kms_release(ref);
}
