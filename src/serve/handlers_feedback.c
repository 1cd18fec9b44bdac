/* handlers_feedback.c — POST /feedback: ground truth for earlier predictions, one or a batch,
 * joined through the kfeedback_hub with what each request id was answered.
 *
 *   {"request_id": "…", "label": 1}            classifier (number, or the class label text)
 *   {"request_id": "…", "value": 3.2}          regressor
 *   {"feedback": [ {…}, {…} ]}                 at most limits.max_batch_rows items
 * Each item may name "model" to restrict the search to that model's versions. The whole body is
 * checked first (400 malformed JSON, 422 bad item, 413 too many items); then every item is
 * applied and the answer counts the outcomes:
 *   {"joined": N, "unknown": N, "duplicate": N, "invalid": N}. */
#include <math.h>
#include <string.h>

#include "data/jsonpull.h"
#include "monitor/feedback.h"
#include "serve/handlers.h"

typedef struct {
    const char *request_id, *model, *text; /* text: the label given as a string */
    double truth;
    int has_truth;
} fb_item;

/* "label" or "value": a number, or (label only) a string. */
static kstatus read_truth(jsonpull *j, arena *mem, const char *key, fb_item *it)
{
    if (it->has_truth) return jsonpull_fail(j, "both \"label\" and \"value\" given");
    it->has_truth = 1;
    if (jsonpull_peek(j) == '"' && strcmp(key, "label") == 0)
        return jsonpull_string(j, mem, &it->text, 1024);
    return jsonpull_double(j, &it->truth);
}

static kstatus read_item_member(jsonpull *j, arena *mem, const char *key, fb_item *it)
{
    if (strcmp(key, "request_id") == 0) return jsonpull_string(j, mem, &it->request_id, 1024);
    if (strcmp(key, "model") == 0) return jsonpull_string(j, mem, &it->model, KHTTP_NAME_MAX - 1);
    if (strcmp(key, "label") == 0 || strcmp(key, "value") == 0) return read_truth(j, mem, key, it);
    return jsonpull_skip(j);
}

static kstatus check_item(jsonpull *j, const fb_item *it, kerr *e)
{
    if (!it->request_id || !*it->request_id)
        return kerr_set(e, K_INVALID, "feedback needs a non-empty \"request_id\"");
    if (strlen(it->request_id) > KFEEDBACK_ID_MAX)
        return kerr_set(e, K_INVALID, "\"request_id\" is longer than %d bytes", KFEEDBACK_ID_MAX);
    if (!it->has_truth) return kerr_set(e, K_INVALID, "feedback needs a \"label\" or a \"value\"");
    if (!it->text && !isfinite(it->truth))
        return kerr_set(e, K_INVALID, "the truth must be a finite number");
    return K_OK;
}

/* Reads the members of one item object whose '{' is consumed; `first` starts at 1. */
static kstatus read_item_rest(jsonpull *j, arena *mem, int first, fb_item *it, kerr *e)
{
    char key[JSONPULL_KEY_MAX];
    kstatus st = K_OK;
    for (int more; !st && !(st = jsonpull_member(j, &first, key, &more)) && more;)
        st = read_item_member(j, mem, key, it);
    return st ? st : check_item(j, it, e);
}

static kstatus read_batch(jsonpull *j, arena *mem, size_t max, fb_item **items, size_t *n, kerr *e)
{
    int64_t count;
    kstatus st = jsonpull_array_begin(j, &count);
    if (st) return st;
    if (count < 0 || (uint64_t)count > max)
        return kerr_set(e, K_LIMIT, "%lld feedback items, more than the %zu allowed",
                        (long long)count, max);
    *items = arena_array(mem, count ? (size_t)count : 1, sizeof **items);
    if (!*items) return kerr_set(e, K_LIMIT, "feedback batch too large for request memory");
    *n = 0;
    for (int first = 1, more; !(st = jsonpull_element(j, &first, &more)) && more;) {
        if (*n >= (size_t)count) return jsonpull_fail(j, "malformed array");
        fb_item *it = &(*items)[(*n)++];
        memset(it, 0, sizeof *it);
        if ((st = jsonpull_expect(j, '{', "expected a feedback object")) ||
            (st = read_item_rest(j, mem, 1, it, e)))
            return st;
    }
    return st;
}

/* Top level: an item, or {"feedback": [...]}; mixing both is an error. */
static kstatus read_body(jsonpull *j, arena *mem, size_t max, fb_item **items, size_t *n, kerr *e)
{
    fb_item single = {0};
    char key[JSONPULL_KEY_MAX];
    int batch = 0, fields = 0;
    kstatus st = jsonpull_expect(j, '{', "expected a JSON object");
    for (int first = 1, more; !st && !(st = jsonpull_member(j, &first, key, &more)) && more;) {
        if (strcmp(key, "feedback") == 0 && !batch) {
            batch = 1;
            st = read_batch(j, mem, max, items, n, e);
        } else {
            fields |= strcmp(key, "request_id") == 0 || strcmp(key, "label") == 0 ||
                      strcmp(key, "value") == 0 || strcmp(key, "feedback") == 0;
            st = read_item_member(j, mem, key, &single);
        }
    }
    if (!st) st = jsonpull_finish(j);
    if (st || batch) {
        if (!st && fields) return kerr_set(e, K_INVALID, "give one item or \"feedback\", not both");
        return st;
    }
    if ((st = check_item(j, &single, e))) return st;
    if (!(*items = arena_memdup(mem, &single, sizeof single)))
        return kerr_set(e, K_LIMIT, "out of request memory");
    *n = 1;
    return K_OK;
}

static void answer(khttp_resp *r, const size_t counts[KFB__COUNT])
{
    buf_printf(&r->body, "{\"joined\":%zu,\"unknown\":%zu,\"duplicate\":%zu,\"invalid\":%zu}",
               counts[KFB_JOINED], counts[KFB_UNKNOWN], counts[KFB_DUPLICATE], counts[KFB_INVALID]);
}

void kfeedback_serve(kfeedback_hub *hub, const kserve_limits *lim, const khttp_req *q,
                     khttp_resp *r)
{
    if (!hub) {
        khttp_error(r, 404, "feedback_off", "feedback is not enabled on this server");
        return;
    }
    kerr e = {0};
    jsonpull j;
    jsonpull_init(&j, q->body, q->body_len, "feedback: ", &e);
    jsonpull_set_max_depth(&j, lim->max_json_depth);
    fb_item *items = NULL;
    size_t n = 0, counts[KFB__COUNT] = {0};
    kstatus st = read_body(&j, q->mem, lim->max_batch_rows, &items, &n, &e);
    if (st) {
        int status = khttp_status_for(st);
        status = status == 500 ? 400 : status;
        khttp_error(r, status, status == 413 ? "too_large" : "bad_request", "%s",
                    e.msg[0] ? e.msg : kstatus_str(st));
        return;
    }
    for (size_t i = 0; i < n; i++)
        counts[kfeedback_hub_label(hub, items[i].model, items[i].request_id, items[i].text,
                                   items[i].truth)]++;
    r->status = 200;
    answer(r, counts);
}

void h_feedback(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    kfeedback_serve(c->feedback, &c->limits, q, r);
}
