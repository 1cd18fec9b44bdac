/* oip.c — the Open Inference Protocol v2 REST endpoints (KServe, Triton, Seldon): health,
 * server and model metadata, inference with the binary tensor data extension, and the model
 * repository extension.
 *
 * A Kiln model has one input (FP64 [-1, F], features in schema order; or, as KServe clients
 * often send, one [N] tensor per feature, named by feature) and the outputs "predict" (the
 * predicted value; for classifiers the class label when every label is a number, else the class
 * index) and, for classifiers, "predict_proba" ([N, C], class order). Request parsing is in
 * oip_parse.c; responses are written straight into the response buffer. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/jsonpull.h"
#include "serve/auth.h"
#include "serve/handlers.h"
#include "serve/oip.h"

#define HDR_LEN "Inference-Header-Content-Length"
#define MAX_LISTED 1024 /* models in one repository index */

/* ---- shared helpers -------------------------------------------------------------------------- */

static void set_json(khttp_resp *r, const char *text)
{
    r->status = 200;
    r->content_type = "application/json";
    r->body.len = 0;
    buf_append_str(&r->body, text);
}

/* Maps a request error to its protocol status: 413 for size limits, else 400. */
static void request_error(khttp_resp *r, const kerr *e)
{
    if (e->code == K_LIMIT)
        khttp_error(r, 413, "too_large", "%s", e->msg);
    else if (e->code == K_RANGE) /* refused by the input policy (validate.h) */
        khttp_error(r, 422, "invalid_input", "%s", e->msg);
    else if (e->code == K_BUSY)
        khttp_error(r, 503, "overloaded", "%s", e->msg);
    else
        khttp_error(r, 400, "bad_request", "%s", e->msg);
}

/* A route's version text: a positive decimal integer. */
static int parse_version(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 18) return 0;
    for (const char *p = s; *p; p++)
        if (*p < '0' || *p > '9') return 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    *out = v;
    return *end == 0 && v > 0;
}

/* The model (and version) a route names, or NULL with the error response written: 404 for an
 * unknown model or version, 503 for a model the server knows but has unloaded. Release the
 * reference with kms_release. */
static kms_ref *route_model(kserve_ctx *c, khttp_resp *r, const char *const *p, int n)
{
    const char *name = n >= 1 && p[0] ? p[0] : "";
    int64_t version = 0;
    snprintf(r->model, sizeof r->model, "%s", name);
    if (n >= 2 && !parse_version(p[1], &version)) {
        khttp_error(r, 404, "not_found", "model '%s' has no version '%s'", name, p[1]);
        return NULL;
    }
    kms_ref *ref = *name ? kms_acquire(c->models, name, version) : NULL;
    if (ref) {
        r->version = kms_version(ref);
        return ref;
    }
    kms_info info;
    if (!*name || kms_info_of(c->models, name, &info) != K_OK)
        khttp_error(r, 404, "not_found", "model '%s' is not served here", name);
    else if (!info.ready)
        khttp_error(r, 503, "not_ready", "model '%s' is not loaded", name);
    else
        khttp_error(r, 404, "not_found", "model '%s' has no version %lld (serving version %lld)",
                    name, (long long)version, (long long)info.version);
    return NULL;
}

static int is_classifier(const kspec *sp)
{
    return sp->task == KTASK_CLASSIFICATION;
}

/* ---- health and metadata --------------------------------------------------------------------- */

void oip_live(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    set_json(r, "{\"live\":true}");
}

/* Ready when at least one model is loaded. */
void oip_ready(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    int total = kms_list(c->models, NULL, 0), ready = 0;
    if (total > MAX_LISTED) total = MAX_LISTED;
    kms_info *all = q->mem && total ? arena_array(q->mem, (size_t)total, sizeof *all) : NULL;
    if (all) {
        int got = kms_list(c->models, all, total);
        for (int i = 0; i < got && i < total && !ready; i++)
            ready = all[i].ready;
    } else {
        ready = kms_loaded_versions(c->models) > 0;
    }
    set_json(r, ready ? "{\"ready\":true}" : "{\"ready\":false}");
    if (!ready) r->status = 503;
}

void oip_server_meta(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    buf *b = &r->body;
    set_json(r, "{\"name\":");
    khttp_json_string(b, c->server_name ? c->server_name : "kiln");
    buf_append_str(b, ",\"version\":");
    khttp_json_string(b, c->server_version ? c->server_version : KILN_VERSION);
    buf_append_str(b, c->allow_model_control
                          ? ",\"extensions\":[\"binary_tensor_data\",\"model_repository\"]}"
                          : ",\"extensions\":[\"binary_tensor_data\"]}");
}

static kstatus string_list(buf *b, const char *key, const char *const *items, int n)
{
    kstatus st = buf_printf(b, ",\"%s\":[", key);
    for (int i = 0; i < n && !st; i++) {
        if (i) st = buf_append(b, ",", 1);
        if (!st) st = khttp_json_string(b, items[i] ? items[i] : "");
    }
    return st ? st : buf_append(b, "]", 1);
}

/* "parameters": what a client needs to build inputs and read outputs. */
static kstatus meta_params(buf *b, const kspec *sp)
{
    kstatus st = buf_printf(b, ",\"parameters\":{\"task\":\"%s\"",
                            is_classifier(sp) ? "classification" : "regression");
    for (int32_t j = 0; j < sp->n_features && !st; j++) {
        st = buf_append_str(b, j ? "," : ",\"feature_names\":[");
        if (!st) st = khttp_json_string(b, sp->features[j].name);
    }
    if (!st) st = buf_append_str(b, sp->n_features ? "]" : ",\"feature_names\":[]");
    if (!st && is_classifier(sp))
        st = string_list(b, "class_labels", sp->class_labels, sp->n_classes);
    return st ? st : buf_append(b, "}", 1);
}

static kstatus meta_body(buf *b, const kms_ref *ref)
{
    const kmodel *m = kms_model(ref);
    const kspec *sp = kmodel_spec(m);
    int32_t nv = kmodel_n_values(m);
    kstatus st = buf_append_str(b, "{\"name\":");
    if (!st) st = khttp_json_string(b, kms_name(ref));
    if (!st)
        st = buf_printf(b,
                        ",\"versions\":[\"%lld\"],\"platform\":\"kiln\",\"inputs\":[{\"name\":"
                        "\"input-0\",\"datatype\":\"FP64\",\"shape\":[-1,%d]}],\"outputs\":[",
                        (long long)kms_version(ref), (int)kmodel_n_features(m));
    if (!st && !is_classifier(sp) && nv > 1)
        st = buf_printf(b, "{\"name\":\"predict\",\"datatype\":\"FP64\",\"shape\":[-1,%d]}",
                        (int)nv);
    else if (!st)
        st = buf_append_str(b, "{\"name\":\"predict\",\"datatype\":\"FP64\",\"shape\":[-1]}");
    if (!st && is_classifier(sp))
        st = buf_printf(b, ",{\"name\":\"predict_proba\",\"datatype\":\"FP64\",\"shape\":[-1,%d]}",
                        (int)nv);
    if (!st) st = buf_append(b, "]", 1);
    if (!st) st = meta_params(b, sp);
    return st ? st : buf_append(b, "}", 1);
}

static void output_failed(khttp_resp *r, kstatus st)
{
    if (st == K_LIMIT)
        khttp_error(r, 413, "too_large", "the response is larger than the server allows");
    else
        khttp_error(r, 500, "internal", "out of memory writing the response");
}

void oip_model_meta(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    kms_ref *ref = route_model(c, r, p, n);
    if (!ref) return;
    set_json(r, "");
    kstatus st = meta_body(&r->body, ref);
    kms_release(ref);
    if (st) output_failed(r, st);
}

void oip_model_ready(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    kms_ref *ref = route_model(c, r, p, n);
    if (!ref) {
        if (r->status != 503) return;
        set_json(r, "{\"name\":"); /* known but unloaded: say so in the protocol's form */
        khttp_json_string(&r->body, p[0]);
        buf_append_str(&r->body, ",\"ready\":false}");
        r->status = 503;
        r->error_reason = "not_ready";
        return;
    }
    set_json(r, "{\"name\":");
    khttp_json_string(&r->body, kms_name(ref));
    buf_append_str(&r->body, ",\"ready\":true}");
    kms_release(ref);
}

/* ---- repository extension -------------------------------------------------------------------- */

static int control_allowed(kserve_ctx *c, khttp_resp *r)
{
    if (c->allow_model_control) return 1;
    khttp_error(r, 403, "forbidden",
                "model control is disabled: start the server with --allow-model-control");
    return 0;
}

/* The index request body may hold {"ready": true}: list only ready models. */
static kstatus index_filter(const kserve_ctx *c, const khttp_req *q, int *ready_only, kerr *e)
{
    jsonpull j;
    jsonpull_init(&j, q->body ? q->body : "", q->body ? q->body_len : 0, "request: ", e);
    jsonpull_set_max_depth(&j, c->limits.max_json_depth);
    if (jsonpull_peek(&j) == -1) return K_OK;
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&j, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&j, &first, key, &more)) && more;) {
        int ch = jsonpull_peek(&j);
        if (strcmp(key, "ready") != 0)
            st = jsonpull_skip(&j);
        else if (ch != 't' && ch != 'f')
            st = kerr_set(e, K_FORMAT, "ready must be true or false");
        else
            st = jsonpull_literal(&j, (*ready_only = ch == 't') ? "true" : "false");
    }
    return st ? st : jsonpull_finish(&j);
}

static kstatus index_entry(buf *b, const kms_info *m, int first)
{
    kstatus st = buf_append_str(b, first ? "{\"name\":" : ",{\"name\":");
    if (!st) st = khttp_json_string(b, m->name);
    if (!st)
        st = buf_printf(b, ",\"version\":\"%lld\",\"state\":\"%s\"", (long long)m->version,
                        m->ready ? "READY" : "UNAVAILABLE");
    if (!st && !m->ready) st = buf_append_str(b, ",\"reason\":\"unloaded\"");
    return st ? st : buf_append(b, "}", 1);
}

void oip_repo_index(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    if (!control_allowed(c, r)) return;
    kerr e = {0};
    int ready_only = 0;
    if (index_filter(c, q, &ready_only, &e)) {
        request_error(r, &e);
        return;
    }
    int total = kms_list(c->models, NULL, 0);
    if (total > MAX_LISTED) total = MAX_LISTED;
    kms_info *all = total ? arena_array(q->mem, (size_t)total, sizeof *all) : NULL;
    if (total && !all) {
        khttp_error(r, 500, "internal", "out of memory listing models");
        return;
    }
    int got = total ? kms_list(c->models, all, total) : 0;
    set_json(r, "[");
    kstatus st = K_OK;
    for (int i = 0, first = 1; i < got && i < total && !st; i++) {
        if (ready_only && !all[i].ready) continue;
        st = index_entry(&r->body, &all[i], first);
        first = 0;
    }
    if (!st) st = buf_append(&r->body, "]", 1);
    if (st) output_failed(r, st);
}

static void repo_action(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p,
                        int n, int load)
{
    if (!control_allowed(c, r)) return;
    const char *name = n >= 1 && p[0] ? p[0] : "";
    snprintf(r->model, sizeof r->model, "%s", name);
    kstatus (*fn)(void *, const char *, kerr *) = load ? c->control.load : c->control.unload;
    if (!fn) {
        khttp_error(r, 501, "unsupported", "this server cannot %s models",
                    load ? "load" : "unload");
        return;
    }
    if (!*name) {
        khttp_error(r, 400, "bad_request", "no model name");
        return;
    }
    kerr e = {0};
    kstatus st = fn(c->control.ctx, name, &e);
    kauth_audit(c->auth, r->actor, q->client, load ? "model.load" : "model.unload", name,
                st ? kstatus_str(st) : "ok", st ? e.msg : NULL, NULL);
    if (st) {
        khttp_error(r, khttp_status_for(st), "model_control", "%s",
                    e.msg[0] ? e.msg : kstatus_str(st));
        return;
    }
    set_json(r, "{}");
}

void oip_repo_load(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    repo_action(c, q, r, p, n, 1);
}

void oip_repo_unload(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    repo_action(c, q, r, p, n, 0);
}

/* ---- inference: from tensors to rows --------------------------------------------------------- */

/* One tensor holding every feature: [N, F], or [F] for one row ([N] when F is 1). */
static kstatus one_tensor(const oip_tensor *t, int32_t nf, const double **rows, size_t *n, kerr *e)
{
    size_t f = (size_t)nf;
    if (t->rank == 2 && (size_t)t->shape[1] == f)
        *n = (size_t)t->shape[0];
    else if (t->rank == 1 && f == 1)
        *n = (size_t)t->shape[0];
    else if (t->rank == 1 && (size_t)t->shape[0] == f)
        *n = 1;
    else {
        char shape[96];
        size_t at = 0;
        for (int d = 0; d < t->rank && at < sizeof shape; d++)
            at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld", d ? ", " : "",
                                   (long long)t->shape[d]);
        return kerr_set(e, K_FORMAT,
                        "input '%s' has shape [%s]: the model takes %d features, so send shape "
                        "[N, %d] (or [%d] for one row), or one [N] tensor per feature",
                        t->name, shape, (int)nf, (int)nf, (int)nf);
    }
    *rows = t->values;
    return K_OK;
}

static int32_t feature_index(const kspec *sp, const char *name)
{
    for (int32_t j = 0; j < sp->n_features; j++)
        if (strcmp(sp->features[j].name, name) == 0) return j;
    return -1;
}

/* Checks the per-feature tensors and finds each one's column: every feature exactly once, each
 * tensor [N] or [N, 1] with the same N. Nothing is allocated per row before this passes. */
static kstatus match_features(const kspec *sp, const oip_request *q, arena *a, size_t max_rows,
                              int32_t *col, kerr *e)
{
    size_t nf = (size_t)sp->n_features, nr = (size_t)q->inputs[0].shape[0];
    unsigned char *seen = arena_alloc(a, nf);
    if (!seen) return kerr_set(e, K_LIMIT, "the request needs more memory than allowed");
    for (int i = 0; i < q->n_inputs; i++) {
        const oip_tensor *t = &q->inputs[i];
        int32_t j = col[i] = feature_index(sp, t->name);
        if (j < 0)
            return kerr_set(e, K_FORMAT,
                            "input '%s' is not a feature of the model: send one tensor [N, %zu] "
                            "or one [N] tensor per feature, named by feature",
                            t->name, nf);
        if (seen[j]) return kerr_set(e, K_FORMAT, "input '%s' is given twice", t->name);
        if ((t->rank != 1 && (t->rank != 2 || t->shape[1] != 1)) || (size_t)t->shape[0] != nr)
            return kerr_set(e, K_FORMAT, "input '%s' must have shape [%zu] like the first input",
                            t->name, nr);
        seen[j] = 1;
    }
    for (size_t j = 0; j < nf; j++)
        if (!seen[j])
            return kerr_set(e, K_FORMAT, "no input for feature '%s'", sp->features[j].name);
    if (nr > max_rows)
        return kerr_set(e, K_LIMIT, "%zu rows in one request; the server takes at most %zu", nr,
                        max_rows);
    return K_OK;
}

/* One [N] or [N, 1] tensor per feature, matched by name, copied into row-major rows. */
static kstatus per_feature(const kspec *sp, const oip_request *q, arena *a, size_t max_rows,
                           const double **rows, size_t *n, kerr *e)
{
    size_t nf = (size_t)sp->n_features, nr = (size_t)q->inputs[0].shape[0];
    int32_t *col = arena_array(a, (size_t)q->n_inputs, sizeof *col);
    if (!col) return kerr_set(e, K_LIMIT, "the request needs more memory than allowed");
    kstatus st = match_features(sp, q, a, max_rows, col, e);
    if (st) return st;
    double *out = arena_array(a, nr * nf + 1, sizeof *out);
    if (!out) return kerr_set(e, K_LIMIT, "the request needs more memory than allowed");
    for (int i = 0; i < q->n_inputs; i++)
        for (size_t k = 0; k < nr; k++)
            out[k * nf + (size_t)col[i]] = q->inputs[i].values[k];
    *rows = out;
    *n = nr;
    return K_OK;
}

static kstatus assemble(const kmodel *m, const oip_request *q, arena *a, size_t max_rows,
                        const double **rows, size_t *n, kerr *e)
{
    const kspec *sp = kmodel_spec(m);
    kstatus st = q->n_inputs == 1 ? one_tensor(&q->inputs[0], kmodel_n_features(m), rows, n, e)
                                  : per_feature(sp, q, a, max_rows, rows, n, e);
    if (!st && *n > max_rows)
        return kerr_set(e, K_LIMIT, "%zu rows in one request; the server takes at most %zu", *n,
                        max_rows);
    return st;
}

/* ---- inference: outputs ---------------------------------------------------------------------- */

enum { OUT_PREDICT = 0, OUT_PROBA = 1 };

typedef struct {
    int kind[2], binary[2], n;
} out_sel;

static kstatus select_outputs(const kspec *sp, const oip_request *q, out_sel *s, kerr *e)
{
    *s = (out_sel){0};
    if (!q->has_outputs || q->n_outputs == 0) {
        int count = is_classifier(sp) ? 2 : 1;
        for (int k = 0; k < count; k++)
            s->kind[k] = k, s->binary[k] = q->binary_output;
        s->n = count;
        return K_OK;
    }
    for (int i = 0; i < q->n_outputs; i++) {
        const oip_output_req *o = &q->outputs[i];
        int kind = strcmp(o->name, "predict") == 0                              ? OUT_PREDICT
                   : strcmp(o->name, "predict_proba") == 0 && is_classifier(sp) ? OUT_PROBA
                                                                                : -1;
        if (kind < 0)
            return kerr_set(e, K_FORMAT, "unknown output '%s': the model has %s", o->name,
                            is_classifier(sp) ? "predict and predict_proba" : "predict");
        if (s->n == 2 || (s->n == 1 && s->kind[0] == kind))
            return kerr_set(e, K_FORMAT, "output '%s' is requested twice", o->name);
        s->kind[s->n] = kind;
        s->binary[s->n++] = o->binary >= 0 ? o->binary : q->binary_output;
    }
    return K_OK;
}

/* Predicted labels: the label itself when every class label is a number, else the index. */
static kstatus class_values(const kmodel *m, const double *proba, size_t n, arena *a, double *out)
{
    const kspec *sp = kmodel_spec(m);
    int32_t nc = sp->n_classes, nv = kmodel_n_values(m);
    double *label = arena_array(a, nc > 0 ? (size_t)nc : 1, sizeof *label);
    if (!label) return K_LIMIT;
    int numeric = 1;
    for (int32_t k = 0; k < nc && numeric; k++) {
        const char *s = sp->class_labels ? sp->class_labels[k] : NULL;
        char *end = NULL;
        label[k] = s && *s ? strtod(s, &end) : NAN;
        numeric = end && *end == 0 && isfinite(label[k]);
    }
    for (size_t i = 0; i < n; i++) {
        int32_t k = kmodel_predicted_class(m, proba + i * (size_t)nv);
        out[i] = numeric && k >= 0 && k < nc ? label[k] : (double)k;
    }
    return K_OK;
}

typedef struct {
    const double *data;
    size_t rows, cols;
    int matrix; /* shape [rows, cols] rather than [rows] */
} out_tensor;

static kstatus write_shape(buf *b, const out_tensor *t)
{
    return t->matrix ? buf_printf(b, "\"shape\":[%zu,%zu]", t->rows, t->cols)
                     : buf_printf(b, "\"shape\":[%zu]", t->rows);
}

static kstatus write_output(buf *b, const char *name, const out_tensor *t, int binary)
{
    size_t count = t->rows * t->cols;
    kstatus st = buf_printf(b, "{\"name\":\"%s\",\"datatype\":\"FP64\",", name);
    if (!st) st = write_shape(b, t);
    if (!st && binary)
        return buf_printf(b, ",\"parameters\":{\"binary_data_size\":%zu}}", count * 8);
    if (!st) st = buf_append(b, ",\"data\":[", 9);
    for (size_t i = 0; i < count && !st; i++) {
        if (i) st = buf_append(b, ",", 1);
        if (!st) st = khttp_json_number(b, t->data[i]);
    }
    return st ? st : buf_append(b, "]}", 2);
}

/* Raw little-endian doubles, as the binary tensor extension defines them. */
static kstatus write_binary(buf *b, const double *v, size_t count)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return buf_append(b, v, count * sizeof *v);
#else
    kstatus st = K_OK;
    for (size_t i = 0; i < count && !st; i++) {
        uint64_t u;
        unsigned char le[8];
        memcpy(&u, &v[i], 8);
        for (int k = 0; k < 8; k++)
            le[k] = (unsigned char)(u >> (8 * k));
        st = buf_append(b, le, 8);
    }
    return st;
#endif
}

typedef struct {
    const kms_ref *ref;
    const oip_request *q;
    out_sel sel;
    out_tensor t[2]; /* by output kind */
} infer_out;

static kstatus write_response(khttp_resp *r, const infer_out *o)
{
    static const char *const names[] = {"predict", "predict_proba"};
    buf *b = &r->body;
    b->len = 0;
    kstatus st = buf_append_str(b, "{\"model_name\":");
    if (!st) st = khttp_json_string(b, kms_name(o->ref));
    if (!st) st = buf_printf(b, ",\"model_version\":\"%lld\"", (long long)kms_version(o->ref));
    if (!st && o->q->id) st = buf_append_str(b, ",\"id\":");
    if (!st && o->q->id) st = khttp_json_string(b, o->q->id);
    if (!st) st = buf_append_str(b, ",\"outputs\":[");
    int any_binary = 0;
    for (int i = 0; i < o->sel.n && !st; i++) {
        if (i) st = buf_append(b, ",", 1);
        if (!st)
            st = write_output(b, names[o->sel.kind[i]], &o->t[o->sel.kind[i]], o->sel.binary[i]);
        any_binary |= o->sel.binary[i];
    }
    if (!st) st = buf_append(b, "]}", 2);
    size_t json_len = b->len;
    for (int i = 0; i < o->sel.n && !st; i++) {
        const out_tensor *t = &o->t[o->sel.kind[i]];
        if (o->sel.binary[i]) st = write_binary(b, t->data, t->rows * t->cols);
    }
    if (st || !any_binary) return st;
    char len_text[32];
    snprintf(len_text, sizeof len_text, "%zu", json_len);
    khttp_add_header(r, HDR_LEN, len_text);
    r->content_type = "application/octet-stream";
    return K_OK;
}

/* ---- inference: the endpoint ----------------------------------------------------------------- */

/* The JSON header's length: Inference-Header-Content-Length when sent, else the whole body. */
static kstatus header_length(const khttp_req *q, size_t body_len, size_t *out, kerr *e)
{
    const char *h = khttp_header(q, HDR_LEN);
    *out = body_len;
    if (!h) return K_OK;
    while (*h == ' ' || *h == '\t')
        h++;
    size_t digits = strspn(h, "0123456789");
    const char *rest = h + digits;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (digits == 0 || digits > 18 || *rest)
        return kerr_set(e, K_FORMAT, HDR_LEN " must be a byte count");
    unsigned long long v = strtoull(h, NULL, 10);
    if (v > body_len)
        return kerr_set(e, K_FORMAT, HDR_LEN " is %llu but the body has only %zu bytes", v,
                        body_len);
    *out = (size_t)v;
    return K_OK;
}

static size_t max_rows_of(const kserve_ctx *c)
{
    return c->limits.max_batch_rows ? c->limits.max_batch_rows : (size_t)1 << 40;
}

/* Parses, scores and answers; returns K_OK with the response written, else the status of a
 * request error in e (the caller answers it) or K_NOMEM. */
static kstatus infer_run(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const kms_ref *ref,
                         kerr *e)
{
    const kmodel *m = kms_model(ref);
    const kspec *sp = kmodel_spec(m);
    const char *body = q->body ? q->body : "";
    size_t body_len = q->body ? q->body_len : 0, json_len, n = 0;
    int32_t nf = kmodel_n_features(m), nv = kmodel_n_values(m);
    oip_bounds bounds = {.max_inputs = nf > 0 ? nf : 1};
    size_t max_rows = max_rows_of(c);
    bounds.max_rows = max_rows;
    bounds.max_depth = c->limits.max_json_depth;
    bounds.max_values = max_rows > ((size_t)1 << 40) / (size_t)bounds.max_inputs
                            ? (size_t)1 << 40
                            : max_rows * (size_t)bounds.max_inputs;
    infer_out o = {.ref = ref};
    oip_request req;
    const double *rows = NULL;
    kstatus st = header_length(q, body_len, &json_len, e);
    if (!st) st = oip__parse(body, json_len, body_len, &bounds, q->mem, &req, e);
    if (!st) st = select_outputs(sp, &req, &o.sel, e);
    if (!st) st = assemble(m, &req, q->mem, max_rows, &rows, &n, e);
    if (st) return st;
    double *values = arena_array(q->mem, n * (size_t)nv + 1, sizeof *values);
    double *labels = is_classifier(sp) ? arena_array(q->mem, n + 1, sizeof *labels) : NULL;
    if (!values || (is_classifier(sp) && !labels))
        return kerr_set(e, K_LIMIT, "the request needs more memory than allowed");
    if ((st = kserve_predict(c, q, ref, rows, n, values, e))) return st;
    if (labels && class_values(m, values, n, q->mem, labels))
        return kerr_set(e, K_LIMIT, "the request needs more memory than allowed");
    o.q = &req;
    o.t[OUT_PREDICT] =
        labels ? (out_tensor){labels, n, 1, 0} : (out_tensor){values, n, (size_t)nv, nv > 1};
    o.t[OUT_PROBA] = (out_tensor){values, n, (size_t)nv, 1};
    st = write_response(r, &o);
    if (st) output_failed(r, st);
    return K_OK;
}

void oip_infer(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    kms_ref *ref = route_model(c, r, p, n);
    if (!ref) return;
    r->status = 200;
    r->content_type = "application/json";
    kerr e = {0};
    kstatus st = q->mem ? infer_run(c, q, r, ref, &e) : kerr_set(&e, K_NOMEM, "no request arena");
    kms_release(ref);
    if (st == K_NOMEM)
        khttp_error(r, 500, "internal", "%s", e.msg);
    else if (st)
        request_error(r, &e);
}
