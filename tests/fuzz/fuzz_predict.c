/* fuzz_predict.c — libFuzzer target: arbitrary bytes as the body of the seed's POST /predict and
 * of POST /models/{name}/predict (rows as arrays or named objects, batches), against the demo
 * classifier. Whatever arrives, the answer is never a 500, is always valid JSON, and an error
 * always has the {"error": "..."} shape.
 *
 * Input layout: byte 0 picks the endpoint (bit 0: the seed's /predict); the rest is the body.
 * The model is found from this file's path (CMake passes absolute paths). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "model/import.h"
#include "serve/handlers.h"

static kserve_ctx ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char path[4096];
    const char *here = __FILE__, *cut = strstr(here, "tests/fuzz/");
    if (!cut) abort();
    snprintf(path, sizeof path, "%.*sexamples/demo/model.json", (int)(cut - here), here);
    ctx.models = kms_new();
    ctx.limits =
        (kserve_limits){.max_batch_rows = 100, .max_body_bytes = 1 << 20, .max_json_depth = 32};
    kspec *s;
    kmodel *m;
    kerr e = {0};
    if (import_file(path, KFMT_AUTO, &s, &e) || kmodel_new(s, &m, &e) ||
        kms_install(ctx.models, "demo", 1, "file:fuzz", "", m, &e)) {
        fprintf(stderr, "fuzz_predict: %s\n", e.msg);
        abort();
    }
    return 0;
}

static void check(const khttp_resp *r)
{
    if (r->status == 500 || r->status < 200) abort();
    json_tokener *tok = json_tokener_new();
    json_object *j = json_tokener_parse_ex(tok, (const char *)r->body.data, (int)r->body.len);
    int complete = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    if (!j || !complete) abort();
    if (r->status != 200 && !json_object_object_get_ex(j, "error", NULL)) abort();
    if (r->status == 200 && !json_object_object_get_ex(j, "prediction", NULL) &&
        !json_object_object_get_ex(j, "predictions", NULL))
        abort();
    json_object_put(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *body = malloc(size); /* NUL-terminated copy, as the server hands it over */
    memcpy(body, data + 1, size - 1);
    body[size - 1] = 0;
    arena *mem = arena_new((size_t)64 << 20);
    khttp_req q = {.method = "POST", .path = "/predict", .body = body, .body_len = size - 1,
                   .request_id = "fuzz", .mem = mem};
    khttp_resp r = {.status = 200};
    buf_init(&r.body, 1 << 24);
    const char *params[] = {"demo"};
    if (data[0] & 1) h_seed_predict(&ctx, &q, &r, params, 0);
    else h_model_predict(&ctx, &q, &r, params, 1);
    check(&r);
    buf_free(&r.body);
    arena_free(mem);
    free(body);
    return 0;
}
