/* handlers.h — what every endpoint handler receives, and the handler entry points the router
 * (router.c) maps paths to. Handlers fill a khttp_resp; they never touch the HTTP library. */
#ifndef KILN_HANDLERS_H
#define KILN_HANDLERS_H

#include <stddef.h>

#include "serve/http.h"
#include "serve/modelset.h"

/* Limits a handler enforces on request content (body size and header size are enforced by the
 * server before a handler runs). */
typedef struct {
    size_t max_batch_rows; /* rows in one request (instances, tensor shape[0]) */
    size_t max_body_bytes; /* the server's body limit, for messages */
    int max_json_depth;    /* nesting accepted in request JSON */
} kserve_limits;

/* Repository control (OIP model-repository extension), provided by the server: load makes the
 * configured version of `name` (registry alias or file) current; unload removes it. */
typedef struct {
    kstatus (*load)(void *ctx, const char *name, kerr *e);
    kstatus (*unload)(void *ctx, const char *name, kerr *e);
    void *ctx;
} kserve_control;

typedef struct {
    kms *models;
    kserve_limits limits;
    int allow_model_control; /* repository load/unload/index allowed */
    int open_probes;         /* health probes answer without credentials (auth_open_probes) */
    kserve_control control;
    const char *server_name;        /* "kiln" */
    const char *server_version;     /* KILN_VERSION */
    struct kmetrics *metrics;       /* NULL: no metrics */
    struct kfeedback_hub *feedback; /* NULL: POST /feedback answers 404 */
    struct kpredlog *predlog;       /* NULL: no prediction log */
    struct kalerter *alerter;       /* NULL: no alert rules */
    struct kauth *auth;             /* NULL: no API keys (model control then refused) */
    struct krl *ratelimit;          /* NULL: no rate limits (ratelimit.h) */
    struct kvalidate *validate;     /* NULL: inputs only counted (data quality), never refused */
} kserve_ctx;

/* A handler gets the path parameters the route captured ({name}, {version}), in order. */
typedef void (*khandler)(kserve_ctx *c, const khttp_req *q, khttp_resp *r,
                         const char *const *params, int n_params);

/* Scores n rows with a served version: a single row goes through the version's prediction cache
 * and dynamic batcher when they are on (K_BUSY when the batch queue is full). */
kstatus kserve_predict(kserve_ctx *c, const khttp_req *q, const kms_ref *ref, const double *rows,
                       size_t n, double *values, kerr *e);

/* The seed's endpoints and Kiln's own (handlers_predict.c). */
void h_health(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void h_seed_predict(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void h_model_predict(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
/* POST /feedback (handlers_feedback.c): ground truth joined to logged predictions. */
void kfeedback_serve(struct kfeedback_hub *hub, const kserve_limits *lim, const khttp_req *q,
                     khttp_resp *r);
void h_feedback(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
/* The whole /metrics exposition (also what alert rules are evaluated over). */
void kserve_metrics_text(kserve_ctx *c, buf *out);
void h_alerts(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void h_metrics(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void h_model_stats(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void h_openapi(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);

/* Open Inference Protocol v2 (oip.c). Paths: /v2/health/live, /v2/health/ready, /v2,
 * /v2/models/{m}[/versions/{v}], …/ready, …/infer, /v2/repository/index,
 * /v2/repository/models/{m}/load, /v2/repository/models/{m}/unload. For the model routes,
 * p[0] is the model name and p[1] (when n == 2) the version text. */
void oip_live(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void oip_ready(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void oip_server_meta(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void oip_model_meta(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void oip_model_ready(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void oip_infer(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void oip_repo_index(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void oip_repo_load(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);
void oip_repo_unload(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n);

#endif
