/* fuzz_oip.c — libFuzzer target: arbitrary bytes as the body of an Open Inference Protocol infer
 * request against the demo classifier (or a small LightGBM regressor). Whatever arrives, the
 * answer is never a 500, always a protocol status, and always well formed: a JSON error object,
 * or a JSON header whose binary parts add up to exactly the bytes that follow it.
 *
 * Input layout: byte 0 holds flags (bit 0: send Inference-Header-Content-Length, its value from
 * bytes 1-2, little-endian; bit 1: the regressor; bit 2: the header as malformed text); the rest
 * is the body. The models are found from this file's path (CMake passes absolute paths). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "model/import.h"
#include "serve/handlers.h"

static kserve_ctx ctx;

static void load(const char *rel, const char *name)
{
    char path[4096];
    const char *here = __FILE__, *cut = strstr(here, "tests/fuzz/");
    if (!cut) abort();
    snprintf(path, sizeof path, "%.*s%s", (int)(cut - here), here, rel);
    kspec *s;
    kmodel *m;
    kerr e = {0};
    if (import_file(path, KFMT_AUTO, &s, &e) || kmodel_new(s, &m, &e) ||
        kms_install(ctx.models, name, 1, "file:fuzz", "", m, &e)) {
        fprintf(stderr, "fuzz_oip: %s\n", e.msg);
        abort();
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ctx.models = kms_new();
    ctx.limits =
        (kserve_limits){.max_batch_rows = 1000, .max_body_bytes = 1 << 20, .max_json_depth = 32};
    ctx.server_name = "kiln";
    ctx.server_version = "fuzz";
    load("examples/demo/model.json", "demo");
    load("tests/data/lightgbm/regression_sqrt.txt", "reg");
    return 0;
}

typedef struct {
    const char *value;
} header;

static const char *get_header(void *c, const char *name)
{
    const header *h = c;
    return h->value && strcmp(name, "Inference-Header-Content-Length") == 0 ? h->value : NULL;
}

static const char *resp_header(const khttp_resp *r, const char *name)
{
    for (int i = 0; i < r->n_headers; i++)
        if (strcmp(r->header_names[i], name) == 0) return r->header_values[i];
    return NULL;
}

/* A success: a JSON header with outputs, then exactly the binary bytes it announces. */
static void check_ok(const khttp_resp *r, json_object *j, size_t json_len)
{
    json_object *outs = NULL;
    if (!json_object_object_get_ex(j, "outputs", &outs) ||
        !json_object_is_type(outs, json_type_array))
        abort();
    size_t binary = 0;
    for (size_t i = 0; i < json_object_array_length(outs); i++) {
        json_object *o = json_object_array_get_idx(outs, i), *p, *size, *data;
        if (json_object_object_get_ex(o, "parameters", &p) &&
            json_object_object_get_ex(p, "binary_data_size", &size))
            binary += (size_t)json_object_get_int64(size);
        else if (!json_object_object_get_ex(o, "data", &data))
            abort();
    }
    if (json_len + binary != r->body.len) abort();
}

static void check(const khttp_resp *r)
{
    if (r->status != 200 && r->status != 400 && r->status != 404 && r->status != 413 &&
        r->status != 503)
        abort(); /* never 500: nothing a client sends is the server's fault */
    const char *l = resp_header(r, "Inference-Header-Content-Length");
    size_t json_len = l ? strtoul(l, NULL, 10) : r->body.len;
    if (json_len > r->body.len) abort();
    json_tokener *tok = json_tokener_new();
    json_object *j = json_tokener_parse_ex(tok, (const char *)r->body.data, (int)json_len);
    int whole = json_tokener_get_parse_end(tok) == json_len;
    json_tokener_free(tok);
    if (!j || !whole || !json_object_is_type(j, json_type_object)) abort();
    json_object *err = NULL;
    if (r->status == 200)
        check_ok(r, j, json_len);
    else if (!json_object_object_get_ex(j, "error", &err) ||
             !json_object_is_type(err, json_type_string))
        abort();
    json_object_put(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    unsigned flags = data[0];
    size_t skip = flags & 1 ? 3 : 1;
    if (size < skip) return 0;
    char value[16];
    header h = {NULL};
    if (flags & 1) {
        snprintf(value, sizeof value, (flags & 4) ? "%u x" : "%u", data[1] | data[2] << 8);
        h.value = value;
    }
    size_t len = size - skip;
    char *body = malloc(len + 1);
    if (!body) return 0;
    memcpy(body, data + skip, len);
    body[len] = 0;
    khttp_req q = {.method = "POST",
                   .path = "/v2/models/m/infer",
                   .body = body,
                   .body_len = len,
                   .request_id = "fuzz",
                   .header = get_header,
                   .header_ctx = &h,
                   .mem = arena_new((size_t)1 << 26)};
    khttp_resp r = {.status = 200};
    buf_init(&r.body, (size_t)1 << 24);
    const char *p[1] = {flags & 2 ? "reg" : "demo"};
    oip_infer(&ctx, &q, &r, p, 1);
    if (getenv("FUZZ_OIP_VERBOSE")) /* for triage: what each input got */
        fprintf(stderr, "%d %.*s\n", r.status, (int)(r.body.len < 300 ? r.body.len : 300),
                (const char *)r.body.data);
    check(&r);
    buf_free(&r.body);
    arena_free(q.mem);
    free(body);
    return 0;
}
