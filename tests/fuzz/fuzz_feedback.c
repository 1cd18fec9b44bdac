/* fuzz_feedback.c — libFuzzer target: arbitrary bytes as the body of POST /feedback, against a
 * hub with a classifier (string labels) and a regressor that remember request ids r0..r9.
 * Whatever arrives, the answer is never a 500, is always valid JSON, an error always has the
 * {"error": "..."} shape and a 200 always has the four counts, summing to at most the batch
 * limit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "monitor/feedback.h"
#include "serve/handlers.h"

/* Declared in handlers_feedback.c until handlers.h carries it. */
void kfeedback_serve(kfeedback_hub *hub, const kserve_limits *lim, const khttp_req *q,
                     khttp_resp *r);

static kfeedback_hub *hub;
static const kserve_limits limits = {
    .max_batch_rows = 100, .max_body_bytes = 1 << 20, .max_json_depth = 32};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const char *const labels[] = {"setosa", "versicolor", "virginica"};
    hub = kfeedback_hub_new(1000, 0, 1000);
    kfeedback *c = kfeedback_hub_get(hub, "iris", 1, 3, labels);
    kfeedback *g = kfeedback_hub_get(hub, "price", 2, 0, NULL);
    if (!c || !g) abort();
    return 0;
}

/* Fresh predictions each run, so joins (not only duplicates) are reached every time. */
static void remember(int run)
{
    char id[32];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "r%d", i);
        kfeedback_remember(kfeedback_hub_get(hub, "iris", 1, 3, NULL), id,
                           (double[]){0.2, 0.5, 0.3}, 3);
        kfeedback_remember(kfeedback_hub_get(hub, "price", 2, 0, NULL), id, (double[]){run * 0.5},
                           1);
    }
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
    if (r->status == 200) {
        const char *keys[] = {"joined", "unknown", "duplicate", "invalid"};
        int64_t sum = 0;
        for (int k = 0; k < 4; k++) {
            json_object *v;
            if (!json_object_object_get_ex(j, keys[k], &v)) abort();
            sum += json_object_get_int64(v);
        }
        if (sum < 0 || sum > (int64_t)limits.max_batch_rows) abort();
    }
    json_object_put(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int run;
    remember(run++ % 1000);
    char *body = malloc(size + 1); /* NUL-terminated copy, as the server hands it over */
    memcpy(body, data, size);
    body[size] = 0;
    arena *mem = arena_new((size_t)16 << 20);
    khttp_req q = {.method = "POST",
                   .path = "/feedback",
                   .body = body,
                   .body_len = size,
                   .request_id = "fuzz",
                   .mem = mem};
    khttp_resp r = {.status = 200};
    buf_init(&r.body, 1 << 20);
    kfeedback_serve(hub, &limits, &q, &r);
    check(&r);
    if (run % 256 == 0) { /* the scrape path too */
        buf m;
        buf_init(&m, 1 << 20);
        kfeedback_hub_write(hub, &m);
        buf_free(&m);
    }
    buf_free(&r.body);
    arena_free(mem);
    free(body);
    return 0;
}
