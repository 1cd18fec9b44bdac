/* test_oip.c — the Open Inference Protocol v2 handlers called directly with hand-built requests:
 * health and metadata, inference equal to kmodel_predict (one tensor, nested or flat, one row,
 * per-feature tensors, every datatype), output selection, id echo, the binary tensor extension
 * both ways, every refusal with its status, and the model-repository extension. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/buf.h"
#include "model/import.h"
#include "serve/handlers.h"

#define NF 30
#define NROWS 8

static kms *models;
static kserve_ctx ctx;
static double rows[NROWS][NF]; /* from examples/demo/patients.csv */
static const kmodel *demo, *reg;
static const char *feature_names[NF];

/* ---- fixtures -------------------------------------------------------------------------------- */

static kstatus install(const char *path, const char *name, int64_t version, kspec **keep,
                       const kmodel **out)
{
    kspec *s;
    kerr e = {0};
    if (import_file(path, KFMT_AUTO, &s, &e)) return e.code;
    if (keep) *keep = s;
    kmodel *m;
    if (kmodel_new(s, &m, &e)) return e.code;
    if (out) *out = m;
    return kms_install(models, name, version, "file:test", "", m, &e);
}

static void read_rows(void)
{
    FILE *f = fopen(KILN_SOURCE_DIR "/examples/demo/patients.csv", "r");
    assert_non_null(f);
    char line[4096];
    assert_non_null(fgets(line, sizeof line, f)); /* header */
    for (int i = 0; i < NROWS; i++) {
        assert_non_null(fgets(line, sizeof line, f));
        char *p = line;
        for (int j = 0; j < NF; j++) {
            rows[i][j] = strtod(p, &p);
            if (*p == ',') p++;
        }
    }
    fclose(f);
}

/* Fake repository control: records what it was asked. */
static char last_load[64], last_unload[64];
static kstatus fake_load(void *c, const char *name, kerr *e)
{
    snprintf(last_load, sizeof last_load, "%s", name);
    if (strcmp(name, "missing") == 0) return kerr_set(e, K_NOTFOUND, "no model 'missing'");
    return K_OK;
}
static kstatus fake_unload(void *c, const char *name, kerr *e)
{
    snprintf(last_unload, sizeof last_unload, "%s", name);
    return K_OK;
}

static int setup(void **state)
{
    models = kms_new();
    kspec *s = NULL;
    if (install(KILN_SOURCE_DIR "/examples/demo/model.json", "demo", 3, &s, &demo)) return -1;
    for (int j = 0; j < NF; j++)
        feature_names[j] = kmodel_spec(demo)->features[j].name;
    if (install(KILN_SOURCE_DIR "/tests/data/lightgbm/regression_sqrt.txt", "reg", 1, NULL, &reg))
        return -1;
    /* a classifier whose labels are words: predict answers the class index */
    kspec *w;
    kerr e = {0};
    if (import_file(KILN_SOURCE_DIR "/examples/demo/model.json", KFMT_AUTO, &w, &e)) return -1;
    const char **labels = arena_array(w->mem, 2, sizeof *labels);
    labels[0] = "benign";
    labels[1] = "malignant";
    w->class_labels = labels;
    kmodel *wm;
    if (kmodel_new(w, &wm, &e) || kms_install(models, "words", 1, "file:w", "", wm, &e)) return -1;
    if (install(KILN_SOURCE_DIR "/examples/demo/model.json", "gone", 1, NULL, NULL)) return -1;
    if (kms_remove(models, "gone", &e)) return -1;
    ctx = (kserve_ctx){
        .models = models,
        .limits = {.max_batch_rows = 100, .max_body_bytes = 1 << 20, .max_json_depth = 32},
        .control = {fake_load, fake_unload, NULL},
        .server_name = "kiln",
        .server_version = "0.1.0"};
    read_rows();
    return 0;
}

static int teardown(void **state)
{
    kms_free(models);
    return 0;
}

/* ---- calling a handler ----------------------------------------------------------------------- */

typedef struct {
    khttp_req q;
    khttp_resp r;
    const char *hdr_name, *hdr_value;
    char hdr_buf[32];
    json_object *json; /* the response's JSON part */
    size_t json_len;
} call;

static const char *header_text; /* overrides the header value sent, when set */

static const char *get_header(void *c, const char *name)
{
    call *k = c;
    return k->hdr_name && strcasecmp(name, k->hdr_name) == 0 ? k->hdr_value : NULL;
}

static void call_free(call *k)
{
    json_object_put(k->json);
    buf_free(&k->r.body);
    arena_free(k->q.mem);
    free((void *)k->q.body);
    memset(k, 0, sizeof *k);
}

static const char *resp_header(const call *k, const char *name)
{
    for (int i = 0; i < k->r.n_headers; i++)
        if (strcasecmp(k->r.header_names[i], name) == 0) return k->r.header_values[i];
    return NULL;
}

/* Runs handler h with the given body (len bytes; -1: strlen); json_header >= 0 sends
 * Inference-Header-Content-Length. Parses the response JSON part into k->json. */
static void run(call *k, khandler h, const char *body, long len, long json_header,
                const char *const *params, int n_params)
{
    memset(k, 0, sizeof *k);
    size_t n = len < 0 ? strlen(body) : (size_t)len;
    char *copy = malloc(n + 1);
    memcpy(copy, body, n);
    copy[n] = 0;
    k->q = (khttp_req){.method = "POST",
                       .path = "/v2",
                       .body = copy,
                       .body_len = n,
                       .request_id = "t",
                       .header = get_header,
                       .header_ctx = k,
                       .mem = arena_new((size_t)1 << 26)};
    if (json_header >= 0) {
        snprintf(k->hdr_buf, sizeof k->hdr_buf, "%ld", json_header);
        k->hdr_name = "inference-header-content-length";
        k->hdr_value = header_text ? header_text : k->hdr_buf;
    }
    buf_init(&k->r.body, 1 << 20);
    k->r.status = 200;
    h(&ctx, &k->q, &k->r, params, n_params);
    const char *l = resp_header(k, "Inference-Header-Content-Length");
    k->json_len = l ? strtoul(l, NULL, 10) : k->r.body.len;
    assert_true(k->json_len <= k->r.body.len);
    json_tokener *tok = json_tokener_new();
    k->json = json_tokener_parse_ex(tok, (const char *)k->r.body.data, (int)k->json_len);
    json_tokener_free(tok);
    if (!k->json) fail_msg("response is not JSON: %.*s", (int)k->r.body.len, k->r.body.data);
}

static void infer(call *k, const char *model, const char *body, long len, long json_header)
{
    const char *p[1] = {model};
    run(k, oip_infer, body, len, json_header, p, 1);
}

static json_object *get(json_object *o, const char *key)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v)) fail_msg("no key '%s'", key);
    return v;
}

static void expect_error(call *k, int status, const char *needle)
{
    if (k->r.status != status)
        fail_msg("status %d (want %d): %.*s", k->r.status, status, (int)k->r.body.len,
                 k->r.body.data);
    const char *msg = json_object_get_string(get(k->json, "error"));
    if (needle && !strstr(msg, needle)) fail_msg("message '%s' lacks '%s'", msg, needle);
    call_free(k);
}

/* An infer request for rows [from, from+n) as one [n, 30] tensor. */
static void matrix_request(buf *b, int from, int n, const char *dtype, int nested)
{
    buf_init(b, 1 << 20);
    buf_printf(b,
               "{\"inputs\":[{\"name\":\"input-0\",\"shape\":[%d,%d],\"datatype\":\"%s\","
               "\"data\":[",
               n, NF, dtype);
    for (int i = 0; i < n; i++) {
        buf_append_str(b, i ? (nested ? "],[" : ",") : (nested ? "[" : ""));
        for (int j = 0; j < NF; j++)
            buf_printf(b, "%s%.15g", j ? "," : "", rows[from + i][j]);
    }
    buf_append_str(b, nested ? "]]}]}" : "]}]}");
}

/* Checks the response's outputs against kmodel_predict on the same rows. */
static void expect_predictions(call *k, const kmodel *m, const double *x, size_t n)
{
    if (k->r.status != 200)
        fail_msg("status %d: %.*s", k->r.status, (int)k->r.body.len, k->r.body.data);
    int32_t nv = kmodel_n_values(m);
    double *want = calloc(n * (size_t)nv, sizeof *want);
    assert_int_equal(kmodel_predict(m, x, n, want, NULL), K_OK);
    json_object *outs = get(k->json, "outputs");
    double max_diff = 0;
    for (size_t o = 0; o < json_object_array_length(outs); o++) {
        json_object *t = json_object_array_get_idx(outs, o);
        const char *name = json_object_get_string(get(t, "name"));
        json_object *data = get(t, "data");
        int proba = strcmp(name, "predict_proba") == 0;
        size_t count = proba || kmodel_spec(m)->task == KTASK_REGRESSION ? n * (size_t)nv : n;
        assert_int_equal(json_object_array_length(data), count);
        for (size_t i = 0; i < count; i++) {
            double got = json_object_get_double(json_object_array_get_idx(data, i));
            double exp = want[i];
            if (!proba && kmodel_spec(m)->task == KTASK_CLASSIFICATION)
                exp = kmodel_predicted_class(m, want + i * (size_t)nv);
            max_diff = fmax(max_diff, fabs(got - exp));
        }
    }
    printf("    max |oip - kmodel_predict| = %g over %zu rows\n", max_diff, n);
    assert_true(max_diff == 0);
    free(want);
}

/* ---- health and metadata --------------------------------------------------------------------- */

static void test_health(void **state)
{
    call k;
    run(&k, oip_live, "", 0, -1, NULL, 0);
    assert_int_equal(k.r.status, 200);
    assert_true(json_object_get_boolean(get(k.json, "live")));
    call_free(&k);
    run(&k, oip_ready, "", 0, -1, NULL, 0);
    assert_int_equal(k.r.status, 200);
    assert_true(json_object_get_boolean(get(k.json, "ready")));
    call_free(&k);
    kms *empty = kms_new(), *keep = ctx.models;
    ctx.models = empty;
    run(&k, oip_ready, "", 0, -1, NULL, 0);
    assert_int_equal(k.r.status, 503);
    assert_false(json_object_get_boolean(get(k.json, "ready")));
    call_free(&k);
    ctx.models = keep;
    kms_free(empty);
}

static void test_server_meta(void **state)
{
    call k;
    run(&k, oip_server_meta, "", 0, -1, NULL, 0);
    assert_int_equal(k.r.status, 200);
    assert_string_equal(json_object_get_string(get(k.json, "name")), "kiln");
    assert_string_equal(json_object_get_string(get(k.json, "version")), "0.1.0");
    assert_int_equal(json_object_array_length(get(k.json, "extensions")), 1);
    call_free(&k);
    ctx.allow_model_control = 1;
    run(&k, oip_server_meta, "", 0, -1, NULL, 0);
    json_object *ext = get(k.json, "extensions");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(ext, 0)),
                        "binary_tensor_data");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(ext, 1)),
                        "model_repository");
    call_free(&k);
    ctx.allow_model_control = 0;
}

static void test_model_meta(void **state)
{
    call k;
    const char *p[2] = {"demo", "3"};
    run(&k, oip_model_meta, "", 0, -1, p, 2);
    assert_int_equal(k.r.status, 200);
    assert_string_equal(json_object_get_string(get(k.json, "name")), "demo");
    assert_string_equal(k.r.model, "demo");
    assert_int_equal(k.r.version, 3);
    json_object *v = get(k.json, "versions");
    assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)), "3");
    assert_string_equal(json_object_get_string(get(k.json, "platform")), "kiln");
    json_object *in = json_object_array_get_idx(get(k.json, "inputs"), 0);
    assert_string_equal(json_object_get_string(get(in, "datatype")), "FP64");
    assert_int_equal(json_object_get_int(json_object_array_get_idx(get(in, "shape"), 0)), -1);
    assert_int_equal(json_object_get_int(json_object_array_get_idx(get(in, "shape"), 1)), NF);
    json_object *outs = get(k.json, "outputs");
    assert_int_equal(json_object_array_length(outs), 2);
    json_object *proba = json_object_array_get_idx(outs, 1);
    assert_string_equal(json_object_get_string(get(proba, "name")), "predict_proba");
    assert_int_equal(json_object_get_int(json_object_array_get_idx(get(proba, "shape"), 1)), 2);
    json_object *params = get(k.json, "parameters");
    json_object *names = get(params, "feature_names");
    assert_int_equal(json_object_array_length(names), NF);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(names, 0)), "mean_radius");
    assert_int_equal(json_object_array_length(get(params, "class_labels")), 2);
    call_free(&k);

    const char *r[1] = {"reg"};
    run(&k, oip_model_meta, "", 0, -1, r, 1);
    assert_int_equal(json_object_array_length(get(k.json, "outputs")), 1);
    assert_string_equal(json_object_get_string(get(get(k.json, "parameters"), "task")),
                        "regression");
    call_free(&k);

    const char *unknown[1] = {"nope"}, *badv[2] = {"demo", "4"}, *textv[2] = {"demo", "x1"};
    run(&k, oip_model_meta, "", 0, -1, unknown, 1);
    expect_error(&k, 404, "nope");
    run(&k, oip_model_meta, "", 0, -1, badv, 2);
    expect_error(&k, 404, "no version 4");
    run(&k, oip_model_meta, "", 0, -1, textv, 2);
    expect_error(&k, 404, "x1");
}

static void test_model_ready(void **state)
{
    call k;
    const char *p[1] = {"demo"}, *gone[1] = {"gone"}, *nope[1] = {"nope"};
    run(&k, oip_model_ready, "", 0, -1, p, 1);
    assert_int_equal(k.r.status, 200);
    assert_string_equal(json_object_get_string(get(k.json, "name")), "demo");
    assert_true(json_object_get_boolean(get(k.json, "ready")));
    call_free(&k);
    run(&k, oip_model_ready, "", 0, -1, gone, 1);
    assert_int_equal(k.r.status, 503);
    assert_false(json_object_get_boolean(get(k.json, "ready")));
    call_free(&k);
    run(&k, oip_model_ready, "", 0, -1, nope, 1);
    expect_error(&k, 404, "nope");
}

/* ---- inference ------------------------------------------------------------------------------- */

static void test_infer_matrix(void **state)
{
    call k;
    buf b;
    for (int nested = 0; nested < 2; nested++) {
        matrix_request(&b, 0, NROWS, "FP64", nested);
        infer(&k, "demo", (const char *)b.data, (long)b.len, -1);
        buf_free(&b);
        expect_predictions(&k, demo, &rows[0][0], NROWS);
        assert_string_equal(json_object_get_string(get(k.json, "model_name")), "demo");
        assert_string_equal(json_object_get_string(get(k.json, "model_version")), "3");
        assert_false(json_object_object_get_ex(k.json, "id", NULL));
        json_object *pred = json_object_array_get_idx(get(k.json, "outputs"), 0);
        assert_string_equal(json_object_get_string(get(pred, "name")), "predict");
        assert_int_equal(json_object_get_int(json_object_array_get_idx(get(pred, "shape"), 0)),
                         NROWS);
        assert_string_equal(k.r.model, "demo");
        assert_int_equal(k.r.version, 3);
        assert_string_equal(k.r.content_type, "application/json");
        call_free(&k);
    }
    /* one row as shape [30], with an id, on the explicit version */
    buf_init(&b, 1 << 16);
    buf_printf(&b,
               "{\"id\":\"req-\\u00e9 1\",\"inputs\":[{\"name\":\"x\",\"shape\":[%d],"
               "\"datatype\":\"FP64\",\"data\":[",
               NF);
    for (int j = 0; j < NF; j++)
        buf_printf(&b, "%s%.15g", j ? "," : "", rows[2][j]);
    buf_append_str(&b, "]}]}");
    const char *p[2] = {"demo", "3"};
    run(&k, oip_infer, (const char *)b.data, (long)b.len, -1, p, 2);
    buf_free(&b);
    expect_predictions(&k, demo, rows[2], 1);
    assert_string_equal(json_object_get_string(get(k.json, "id")), "req-\xc3\xa9 1");
    call_free(&k);
}

static void test_infer_regressor(void **state)
{
    call k;
    const char *body = "{\"inputs\":[{\"name\":\"input-0\",\"shape\":[3,3],\"datatype\":\"FP64\","
                       "\"data\":[[2,100,5],[7,30.5,40],[NaN,200,null]]}]}";
    infer(&k, "reg", body, -1, -1);
    double x[9] = {2, 100, 5, 7, 30.5, 40, NAN, 200, NAN};
    expect_predictions(&k, reg, x, 3);
    json_object *outs = get(k.json, "outputs");
    assert_int_equal(json_object_array_length(outs), 1);
    call_free(&k);
    infer(&k, "reg",
          "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,3],\"datatype\":\"FP64\","
          "\"data\":[1,2,3]}],\"outputs\":[{\"name\":\"predict_proba\"}]}",
          -1, -1);
    expect_error(&k, 400, "unknown output 'predict_proba'");
    /* zero rows is a valid, empty batch */
    infer(&k, "reg",
          "{\"inputs\":[{\"name\":\"a\",\"shape\":[0,3],\"datatype\":\"FP64\","
          "\"data\":[]}]}",
          -1, -1);
    assert_int_equal(k.r.status, 200);
    json_object *t = json_object_array_get_idx(get(k.json, "outputs"), 0);
    assert_int_equal(json_object_array_length(get(t, "data")), 0);
    assert_int_equal(json_object_get_int(json_object_array_get_idx(get(t, "shape"), 0)), 0);
    call_free(&k);
}

static void test_infer_datatypes(void **state)
{
    /* every numeric type carries the same integral values to the model */
    static const char *const types[] = {"FP64",  "FP32",  "INT8",   "INT16",  "INT32",
                                        "INT64", "UINT8", "UINT16", "UINT32", "UINT64"};
    call k;
    for (size_t t = 0; t < sizeof types / sizeof *types; t++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"inputs\":[{\"name\":\"i\",\"shape\":[2,3],\"datatype\":\"%s\","
                 "\"data\":[1,120,7,3,60,12]}]}",
                 types[t]);
        infer(&k, "reg", body, -1, -1);
        double x[6] = {1, 120, 7, 3, 60, 12};
        expect_predictions(&k, reg, x, 2);
        call_free(&k);
    }
    /* FP32 values are the float32 the client meant */
    infer(&k, "reg",
          "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP32\","
          "\"data\":[2.1,95.5,12.75]}]}",
          -1, -1);
    double f[3] = {2.1f, 95.5f, 12.75f};
    expect_predictions(&k, reg, f, 1);
    call_free(&k);
    infer(&k, "reg",
          "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"BOOL\","
          "\"data\":[true,false,true]}]}",
          -1, -1);
    double bools[3] = {1, 0, 1};
    expect_predictions(&k, reg, bools, 1);
    call_free(&k);
    /* data before shape and datatype is read once both are known */
    infer(&k, "reg",
          "{\"inputs\":[{\"data\":[[4,50,1]],\"name\":\"i\",\"datatype\":\"INT16\","
          "\"shape\":[1,3]}],\"outputs\":[{\"name\":\"predict\"}]}",
          -1, -1);
    double d[3] = {4, 50, 1};
    expect_predictions(&k, reg, d, 1);
    call_free(&k);
}

static void test_infer_per_feature(void **state)
{
    call k;
    buf b;
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "{\"inputs\":[");
    for (int jj = 0; jj < NF; jj++) {
        int j = (jj * 7) % NF; /* any order */
        buf_printf(&b, "%s{\"name\":\"%s\",\"datatype\":\"FP64\",\"shape\":%s,\"data\":[",
                   jj ? "," : "", feature_names[j], j == 5 ? "[4,1]" : "[4]");
        for (int i = 0; i < 4; i++)
            buf_printf(&b, "%s%.15g", i ? "," : "", rows[i][j]);
        buf_append_str(&b, "]}");
    }
    buf_append_str(&b, "]}");
    infer(&k, "demo", (const char *)b.data, (long)b.len, -1);
    buf_free(&b);
    expect_predictions(&k, demo, &rows[0][0], 4);
    call_free(&k);

    infer(&k, "reg",
          "{\"inputs\":[{\"name\":\"rooms\",\"shape\":[2],\"datatype\":\"FP64\","
          "\"data\":[1,2]},{\"name\":\"area\",\"shape\":[2],\"datatype\":\"FP64\","
          "\"data\":[1,2]}]}",
          -1, -1);
    expect_error(&k, 400, "no input for feature 'distance'");
    infer(&k, "reg",
          "{\"inputs\":[{\"name\":\"rooms\",\"shape\":[2],\"datatype\":\"FP64\","
          "\"data\":[1,2]},{\"name\":\"rooms\",\"shape\":[2],\"datatype\":\"FP64\","
          "\"data\":[1,2]}]}",
          -1, -1);
    expect_error(&k, 400, "twice");
    infer(&k, "reg",
          "{\"inputs\":[{\"name\":\"rooms\",\"shape\":[2],\"datatype\":\"FP64\","
          "\"data\":[1,2]},{\"name\":\"size\",\"shape\":[2],\"datatype\":\"FP64\","
          "\"data\":[1,2]}]}",
          -1, -1);
    expect_error(&k, 400, "'size' is not a feature");
    infer(&k, "reg",
          "{\"inputs\":[{\"name\":\"rooms\",\"shape\":[2],\"datatype\":\"FP64\","
          "\"data\":[1,2]},{\"name\":\"area\",\"shape\":[1],\"datatype\":\"FP64\","
          "\"data\":[1]},{\"name\":\"distance\",\"shape\":[2],\"datatype\":\"FP64\","
          "\"data\":[1,2]}]}",
          -1, -1);
    expect_error(&k, 400, "shape [2]");
}

static void test_infer_outputs(void **state)
{
    call k;
    buf b;
    matrix_request(&b, 0, 2, "FP64", 0);
    /* splice an outputs list and an id in front of "inputs" */
    buf req;
    buf_init(&req, 1 << 20);
    buf_append_str(&req, "{\"id\":\"42\",\"outputs\":[{\"name\":\"predict_proba\"}],");
    buf_append(&req, b.data + 1, b.len - 1);
    infer(&k, "demo", (const char *)req.data, (long)req.len, -1);
    expect_predictions(&k, demo, &rows[0][0], 2);
    json_object *outs = get(k.json, "outputs");
    assert_int_equal(json_object_array_length(outs), 1);
    assert_string_equal(json_object_get_string(get(json_object_array_get_idx(outs, 0), "name")),
                        "predict_proba");
    assert_string_equal(json_object_get_string(get(k.json, "id")), "42");
    call_free(&k);
    buf_free(&req);

    static const char *const bad[] = {
        "{\"outputs\":[{\"name\":\"score\"}],",
        "{\"outputs\":[{\"name\":\"predict\"},{\"name\":\"predict\"}],",
        "{\"outputs\":[{}],",
        "{\"outputs\":{\"name\":\"predict\"},",
        "{\"outputs\":[{\"name\":\"predict\",\"parameters\":{\"binary_data\":1}}],",
    };
    static const char *const why[] = {"unknown output 'score'", "twice", "no \"name\"",
                                      "must be an array", "true or false"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        buf_init(&req, 1 << 20);
        buf_append_str(&req, bad[i]);
        buf_append(&req, b.data + 1, b.len - 1);
        infer(&k, "demo", (const char *)req.data, (long)req.len, -1);
        expect_error(&k, 400, why[i]);
        buf_free(&req);
    }
    buf_free(&b);

    /* word labels: predict is the class index */
    matrix_request(&b, 0, NROWS, "FP64", 0);
    infer(&k, "words", (const char *)b.data, (long)b.len, -1);
    expect_predictions(&k, demo, &rows[0][0], NROWS);
    call_free(&k);
    buf_free(&b);
}

static void test_infer_missing(void **state)
{
    /* NaN and null are missing values; the model routes them like kmodel_predict does */
    call k;
    buf b;
    matrix_request(&b, 1, 1, "FP64", 0);
    char *text = (char *)b.data;
    char *first = strstr(text, "\"data\":[") + 8;
    char *comma = strchr(first, ',');
    buf req;
    buf_init(&req, 1 << 20);
    buf_append(&req, text, (size_t)(first - text));
    buf_append_str(&req, "NaN");
    buf_append(&req, comma, b.len - (size_t)(comma - text));
    infer(&k, "demo", (const char *)req.data, (long)req.len, -1);
    double x[NF];
    memcpy(x, rows[1], sizeof x);
    x[0] = NAN;
    expect_predictions(&k, demo, x, 1);
    call_free(&k);
    buf_free(&req);
    buf_free(&b);
}

static void test_infer_refusals(void **state)
{
    static const struct {
        const char *model, *body;
        int status;
        const char *why;
    } cases[] = {
        {"reg", "", 400, "JSON object"},
        {"reg", "[]", 400, "JSON object"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,2,3]}]} x",
         400, "after the JSON"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,2,3]}",
         400, "end of input"},
        {"reg", "{}", 400, "no \"inputs\""},
        {"reg", "{\"inputs\":[]}", 400, "empty"},
        {"reg", "{\"inputs\":[1,]}", 400, "object"},
        {"reg", "{\"inputs\":{}}", 400, "array"},
        {"reg", "{\"inputs\":[1]}", 400, "object"},
        {"reg", "{\"inputs\":[{\"shape\":[1,3],\"datatype\":\"FP64\",\"data\":[1,2,3]}]}", 400,
         "no \"name\""},
        {"reg", "{\"inputs\":[{\"name\":\"i\",\"datatype\":\"FP64\",\"data\":[1,2,3]}]}", 400,
         "no \"shape\""},
        {"reg", "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"data\":[1,2,3]}]}", 400,
         "no \"datatype\""},
        {"reg", "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\"}]}", 400,
         "no \"data\""},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,2]}]}",
         400, "has 2 values; its shape needs 3"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,2,3,4]}]}",
         400, "more values"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,4],\"datatype\":\"FP64\","
         "\"data\":[1,2,3,4]}]}",
         400, "shape [1, 4]"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3,1],\"datatype\":\"FP64\","
         "\"data\":[1,2,3]}]}",
         400, "shape [1, 3, 1]"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[-1,3],\"datatype\":\"FP64\","
         "\"data\":[1,2,3]}]}",
         400, "non-negative"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[],\"datatype\":\"FP64\","
         "\"data\":[]}]}",
         400, "empty"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,Infinity,3]}]}",
         400, "infinite"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,-Infinity,3]}]}",
         400, "infinite"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP32\","
         "\"data\":[1,1e39,3]}]}",
         400, "FP32 range"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,\"2\",3]}]}",
         400, "string"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"INT32\","
         "\"data\":[1,1.5,3]}]}",
         400, "not an integer"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"INT32\","
         "\"data\":[1,NaN,3]}]}",
         400, "not an integer"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"INT32\","
         "\"data\":[1,null,3]}]}",
         400, "null"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"INT8\","
         "\"data\":[1,300,3]}]}",
         400, "out of range"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"UINT8\","
         "\"data\":[1,-1,3]}]}",
         400, "out of range"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"INT64\","
         "\"data\":[1,9223372036854775808,3]}]}",
         400, "out of range"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,true,3]}]}",
         400, "boolean"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"BOOL\","
         "\"data\":[1,0,1]}]}",
         400, "true or false"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP16\","
         "\"data\":[1,2,3]}]}",
         400, "FP16"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"BYTES\","
         "\"data\":[\"a\",\"b\",\"c\"]}]}",
         400, "BYTES"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,{},3]}]}",
         400, "object"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":5}]}",
         400, "must be an array"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[[[[[[1,2,3]]]]]]}]}",
         400, "too deep"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,2,3],\"data\":[1,2,3]}]}",
         400, "twice"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,2,3],\"parameters\":{\"binary_data_size\":24}}]}",
         400, "both"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"data\":[1,2,3]}],\"inputs\":[]}",
         400, "twice"},
        {"reg", "{\"id\":7,\"inputs\":[]}", 400, "id must be a string"},
        {"reg", "{\"parameters\":[],\"inputs\":[]}", 400, "parameters must be an object"},
        {"reg",
         "{\"x\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
         "}",
         400, "nesting too deep"},
        {"reg", "{\"parameters\":{\"binary_data_output\":\"yes\"},\"inputs\":[]}", 400,
         "true or false"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
         "\"parameters\":[],\"data\":[]}]}",
         400, "must be an object"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[1000000,3],\"datatype\":\"FP64\","
         "\"data\":[1,2,3]}]}",
         413, "too large"},
        {"reg",
         "{\"inputs\":[{\"name\":\"i\",\"shape\":[100,3],\"datatype\":\"FP64\","
         "\"data\":[1,2,3]}]}",
         400, "more than the request holds"},
        {"reg",
         "{\"inputs\":[{\"name\":\"a\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
         "{\"name\":\"b\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
         "{\"name\":\"c\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]},"
         "{\"name\":\"d\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[1]}]}",
         400, "more than 3 input tensors"},
        {"nope", "{}", 404, "nope"},
        {"gone", "{}", 503, "not loaded"},
    };
    call k;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        infer(&k, cases[i].model, cases[i].body, -1, -1);
        expect_error(&k, cases[i].status, cases[i].why);
    }
    /* 101 rows: over max_batch_rows */
    buf b;
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "{\"inputs\":[{\"name\":\"i\",\"shape\":[101,3],\"datatype\":\"FP64\","
                       "\"data\":[");
    for (int i = 0; i < 303; i++)
        buf_append_str(&b, i ? ",1" : "1");
    buf_append_str(&b, "]}]}");
    infer(&k, "reg", (const char *)b.data, (long)b.len, -1);
    expect_error(&k, 413, "at most 100");
    buf_free(&b);
    /* wrong version on the route */
    const char *p[2] = {"demo", "2"};
    run(&k, oip_infer, "{}", -1, -1, p, 2);
    expect_error(&k, 404, "no version 2");
}

/* ---- binary tensor data ---------------------------------------------------------------------- */

static void append_le(buf *b, const void *v, size_t size)
{
    buf_append(b, v, size); /* the tests run on little-endian machines */
}

static void test_binary_in(void **state)
{
    call k;
    buf b;
    buf_init(&b, 1 << 20);
    buf_printf(&b,
               "{\"inputs\":[{\"name\":\"input-0\",\"shape\":[%d,%d],\"datatype\":\"FP64\","
               "\"parameters\":{\"binary_data_size\":%d}}]}",
               NROWS, NF, NROWS * NF * 8);
    size_t json_len = b.len;
    append_le(&b, rows, sizeof rows);
    infer(&k, "demo", (const char *)b.data, (long)b.len, (long)json_len);
    expect_predictions(&k, demo, &rows[0][0], NROWS);
    call_free(&k);

    /* two binary inputs, FP32 and INT32, per feature; plus a JSON one between them */
    buf_free(&b);
    buf_init(&b, 1 << 20);
    buf_append_str(&b, "{\"inputs\":[{\"name\":\"area\",\"shape\":[2],\"datatype\":\"FP32\","
                       "\"parameters\":{\"binary_data_size\":8}},{\"name\":\"distance\","
                       "\"shape\":[2,1],\"datatype\":\"FP64\",\"data\":[3.5,40]},{\"name\":"
                       "\"rooms\",\"shape\":[2],\"datatype\":\"INT32\",\"parameters\":"
                       "{\"binary_data_size\":8}}]}");
    json_len = b.len;
    float area[2] = {95.25f, 30.5f};
    int32_t rooms[2] = {3, -2};
    append_le(&b, area, sizeof area);
    append_le(&b, rooms, sizeof rooms);
    infer(&k, "reg", (const char *)b.data, (long)b.len, (long)json_len);
    double x[6] = {3, 95.25, 3.5, -2, 30.5, 40};
    expect_predictions(&k, reg, x, 2);
    call_free(&k);

    /* refusals */
    infer(&k, "reg", (const char *)b.data, (long)b.len - 1, (long)json_len);
    expect_error(&k, 400, "only 7 bytes");
    buf_append(&b, "x", 1);
    infer(&k, "reg", (const char *)b.data, (long)b.len, (long)json_len);
    expect_error(&k, 400, "17 bytes of binary data");
    infer(&k, "reg", (const char *)b.data, (long)b.len, (long)b.len + 1);
    expect_error(&k, 400, "only");
    infer(&k, "reg", (const char *)b.data, (long)b.len, 0);
    expect_error(&k, 400, "JSON object");
    buf_free(&b);

    const char *hdr = "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
                      "\"parameters\":{\"binary_data_size\":16}}]}";
    buf_init(&b, 1 << 16);
    buf_append_str(&b, hdr);
    buf_append(&b, rows, 16);
    infer(&k, "reg", (const char *)b.data, (long)b.len, (long)strlen(hdr));
    expect_error(&k, 400, "does not match its shape");
    buf_free(&b);

    const char *bools = "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"BOOL\","
                        "\"parameters\":{\"binary_data_size\":3}}]}";
    buf_init(&b, 1 << 16);
    buf_append_str(&b, bools);
    buf_append(&b, "\x01\x00\x02", 3);
    infer(&k, "reg", (const char *)b.data, (long)b.len, (long)strlen(bools));
    expect_error(&k, 400, "neither 0 nor 1");
    buf_free(&b);

    const char *fp = "{\"inputs\":[{\"name\":\"i\",\"shape\":[1,3],\"datatype\":\"FP64\","
                     "\"parameters\":{\"binary_data_size\":24}}]}";
    double inf[3] = {1, INFINITY, 2};
    buf_init(&b, 1 << 16);
    buf_append_str(&b, fp);
    append_le(&b, inf, sizeof inf);
    infer(&k, "reg", (const char *)b.data, (long)b.len, (long)strlen(fp));
    expect_error(&k, 400, "infinite");
    buf_free(&b);

    /* the header must be a plain byte count */
    static const char *const bad_len[] = {"abc", "-1", "", "12x", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad_len / sizeof *bad_len; i++) {
        header_text = bad_len[i];
        infer(&k, "reg", "{}", -1, 0);
        header_text = NULL;
        expect_error(&k, 400, "byte count");
    }
}

static void test_binary_out(void **state)
{
    call k;
    buf b, req;
    matrix_request(&b, 0, NROWS, "FP64", 1);
    for (int mode = 0; mode < 2; mode++) {
        buf_init(&req, 1 << 20);
        buf_append_str(&req, mode ? "{\"parameters\":{\"binary_data_output\":true},"
                                  : "{\"outputs\":[{\"name\":\"predict\"},{\"name\":"
                                    "\"predict_proba\",\"parameters\":{\"binary_data\":true}}],");
        buf_append(&req, b.data + 1, b.len - 1);
        infer(&k, "demo", (const char *)req.data, (long)req.len, -1);
        buf_free(&req);
        assert_int_equal(k.r.status, 200);
        assert_string_equal(k.r.content_type, "application/octet-stream");
        double want[NROWS * 2];
        kmodel_predict(demo, &rows[0][0], NROWS, want, NULL);
        json_object *outs = get(k.json, "outputs");
        json_object *proba = json_object_array_get_idx(outs, 1);
        assert_false(json_object_object_get_ex(proba, "data", NULL));
        assert_int_equal(json_object_get_int(get(get(proba, "parameters"), "binary_data_size")),
                         NROWS * 2 * 8);
        size_t at = k.json_len;
        if (mode) {
            json_object *pred = json_object_array_get_idx(outs, 0);
            assert_int_equal(json_object_get_int(get(get(pred, "parameters"), "binary_data_size")),
                             NROWS * 8);
            for (int i = 0; i < NROWS; i++) {
                double v;
                memcpy(&v, k.r.body.data + at + 8 * (size_t)i, 8);
                assert_true(v == kmodel_predicted_class(demo, want + 2 * i));
            }
            at += NROWS * 8;
        } else {
            assert_int_equal(
                json_object_array_length(get(json_object_array_get_idx(outs, 0), "data")), NROWS);
        }
        assert_int_equal(k.r.body.len, at + sizeof want);
        assert_memory_equal(k.r.body.data + at, want, sizeof want);
        call_free(&k);
    }
    buf_free(&b);

    /* binary in, binary out */
    buf_init(&b, 1 << 20);
    buf_printf(&b,
               "{\"inputs\":[{\"name\":\"input-0\",\"shape\":[2,%d],\"datatype\":\"FP64\","
               "\"parameters\":{\"binary_data_size\":%d}}],\"outputs\":[{\"name\":"
               "\"predict_proba\",\"parameters\":{\"binary_data\":true}}]}",
               NF, 2 * NF * 8);
    size_t json_len = b.len;
    append_le(&b, rows, 2 * NF * 8);
    infer(&k, "demo", (const char *)b.data, (long)b.len, (long)json_len);
    assert_int_equal(k.r.status, 200);
    double want[4];
    kmodel_predict(demo, &rows[0][0], 2, want, NULL);
    assert_int_equal(k.r.body.len, k.json_len + sizeof want);
    assert_memory_equal(k.r.body.data + k.json_len, want, sizeof want);
    call_free(&k);
    buf_free(&b);
}

/* ---- repository extension -------------------------------------------------------------------- */

static void test_repository(void **state)
{
    call k;
    const char *p[1] = {"demo"}, *missing[1] = {"missing"};
    ctx.allow_model_control = 0;
    run(&k, oip_repo_index, "", 0, -1, NULL, 0);
    expect_error(&k, 403, "model control is disabled: start the server with --allow-model-control");
    run(&k, oip_repo_load, "", 0, -1, p, 1);
    expect_error(&k, 403, "--allow-model-control");
    run(&k, oip_repo_unload, "", 0, -1, p, 1);
    expect_error(&k, 403, "--allow-model-control");
    assert_string_equal(last_load, "");

    ctx.allow_model_control = 1;
    run(&k, oip_repo_index, "", 0, -1, NULL, 0);
    assert_int_equal(k.r.status, 200);
    size_t n = json_object_array_length(k.json);
    assert_int_equal(n, 4); /* demo, gone, reg, words */
    json_object *gone = json_object_array_get_idx(k.json, 1);
    assert_string_equal(json_object_get_string(get(gone, "name")), "gone");
    assert_string_equal(json_object_get_string(get(gone, "state")), "UNAVAILABLE");
    json_object *d = json_object_array_get_idx(k.json, 0);
    assert_string_equal(json_object_get_string(get(d, "state")), "READY");
    assert_string_equal(json_object_get_string(get(d, "version")), "3");
    call_free(&k);
    run(&k, oip_repo_index, "{\"ready\":true}", -1, -1, NULL, 0);
    assert_int_equal(json_object_array_length(k.json), 3);
    call_free(&k);
    run(&k, oip_repo_index, "{\"ready\":1}", -1, -1, NULL, 0);
    expect_error(&k, 400, "true or false");

    run(&k, oip_repo_load, "", 0, -1, p, 1);
    assert_int_equal(k.r.status, 200);
    assert_int_equal(json_object_object_length(k.json), 0);
    assert_string_equal(last_load, "demo");
    call_free(&k);
    run(&k, oip_repo_load, "", 0, -1, missing, 1);
    expect_error(&k, 404, "no model 'missing'");
    run(&k, oip_repo_unload, "", 0, -1, p, 1);
    assert_int_equal(k.r.status, 200);
    assert_string_equal(last_unload, "demo");
    call_free(&k);
    ctx.allow_model_control = 0;
}

/* ---- speed ----------------------------------------------------------------------------------- */

static void test_single_row_speed(void **state)
{
    buf b;
    matrix_request(&b, 0, 1, "FP64", 0);
    khttp_req q = {.body = (const char *)b.data, .body_len = b.len};
    khttp_resp r;
    buf_init(&r.body, 1 << 20);
    const char *p[1] = {"demo"};
    int runs = 20000;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < runs; i++) {
        q.mem = arena_new(1 << 20);
        r.body.len = 0;
        r.status = 200;
        r.n_headers = 0;
        oip_infer(&ctx, &q, &r, p, 1);
        arena_free(q.mem);
        assert_int_equal(r.status, 200);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us =
        ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / runs;
    printf("    single-row oip_infer (parse + predict + respond, arena per request): %.2f us\n",
           us);
    buf_free(&r.body);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health),           cmocka_unit_test(test_server_meta),
        cmocka_unit_test(test_model_meta),       cmocka_unit_test(test_model_ready),
        cmocka_unit_test(test_infer_matrix),     cmocka_unit_test(test_infer_regressor),
        cmocka_unit_test(test_infer_datatypes),  cmocka_unit_test(test_infer_per_feature),
        cmocka_unit_test(test_infer_outputs),    cmocka_unit_test(test_infer_missing),
        cmocka_unit_test(test_infer_refusals),   cmocka_unit_test(test_binary_in),
        cmocka_unit_test(test_binary_out),       cmocka_unit_test(test_repository),
        cmocka_unit_test(test_single_row_speed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
