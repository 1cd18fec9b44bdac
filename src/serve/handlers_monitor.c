/* handlers_monitor.c — GET /metrics (Prometheus text exposition) and GET /v2/models/{m}/stats
 * (a JSON summary computed server-side). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "monitor/feedback.h"
#include "monitor/metrics.h"
#include "monitor/online.h"
#include "monitor/process.h"
#include "monitor/quality.h"
#include "serve/alerter.h"
#include "serve/batcher.h"
#include "serve/cache.h"
#include "serve/handlers.h"
#include "serve/ratelimit.h"

#define MAX_LISTED 1024

/* Per-feature data-quality counters of the versions being served. */
static void quality_families(kserve_ctx *c, const kms_info *infos, int n, buf *out)
{
    for (int which = 0; which < 3; which++) {
        const char *help, *name = kquality_family(which, &help);
        prom_family(out, name, "counter", help);
        for (int i = 0; i < n; i++) {
            kms_ref *ref = infos[i].ready ? kms_acquire(c->models, infos[i].name, 0) : NULL;
            if (!ref) continue;
            if (kms_quality(ref))
                kquality_write(kms_quality(ref), which, infos[i].name, kms_version(ref), out);
            kms_release(ref);
        }
    }
}

/* Online drift of the versions being served that carry reference statistics. */
static void drift_families(kserve_ctx *c, const kms_info *infos, int n, buf *out)
{
    for (int which = 0; which < 2; which++) {
        const char *type, *help, *name = kdrift_family(which, &type, &help);
        prom_family(out, name, type, help);
        for (int i = 0; i < n; i++) {
            kms_ref *ref = infos[i].ready ? kms_acquire(c->models, infos[i].name, 0) : NULL;
            if (!ref) continue;
            if (kms_drift(ref))
                kdrift_write(kms_drift(ref), which, infos[i].name, kms_version(ref), out);
            kms_release(ref);
        }
    }
}

/* Gauges and counters read from the loaded versions: models loaded, cache and batcher. */
static void model_gauges(kserve_ctx *c, buf *out)
{
    static kms_info infos[MAX_LISTED]; /* guarded by lock below: scrapes are rare */
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    int n = kms_list(c->models, infos, MAX_LISTED), ready = 0;
    if (n > MAX_LISTED) n = MAX_LISTED;
    for (int i = 0; i < n; i++)
        ready += infos[i].ready;
    prom_family(out, "kiln_models_loaded", "gauge", "Models with a version loaded and serving.");
    prom_sample(out, "kiln_models_loaded", "", ready);
    prom_family(out, "kiln_model_versions_resident", "gauge",
                "Versions in memory, including replaced ones still finishing requests.");
    prom_sample(out, "kiln_model_versions_resident", "", kms_loaded_versions(c->models));
    const char *names[] = {"kiln_cache_hits_total", "kiln_cache_misses_total", "kiln_batches_total",
                           "kiln_batched_rows_total"};
    const char *help[] = {"Prediction cache hits.", "Prediction cache misses.",
                          "Predictor calls made by the dynamic batcher.",
                          "Rows scored through the dynamic batcher."};
    for (int f = 0; f < 4; f++) {
        prom_family(out, names[f], "counter", help[f]);
        for (int i = 0; i < n; i++) {
            kms_ref *ref = infos[i].ready ? kms_acquire(c->models, infos[i].name, 0) : NULL;
            if (!ref) continue;
            uint64_t a = 0, b = 0, x = 0;
            size_t bytes = 0;
            if (f < 2 && kms_cache(ref)) kcache_stats(kms_cache(ref), &a, &b, &bytes, &x);
            if (f >= 2 && kms_batcher(ref)) kbatcher_stats(kms_batcher(ref), &a, &b);
            char labels[300];
            snprintf(labels, sizeof labels, "model=\"%.128s\",version=\"%lld\"", infos[i].name,
                     (long long)kms_version(ref));
            prom_sample(out, names[f], labels, (double)(f % 2 ? b : a));
            kms_release(ref);
        }
    }
    quality_families(c, infos, n, out);
    drift_families(c, infos, n, out);
    pthread_mutex_unlock(&lock);
}

void kserve_metrics_text(kserve_ctx *c, buf *out)
{
    if (c->metrics) kmetrics_write(c->metrics, out);
    model_gauges(c, out);
    if (c->feedback) kfeedback_hub_write(c->feedback, out);
    if (c->alerter) kalerter_write_metrics(c->alerter, out);
    krl_write_metrics(c->ratelimit, out);
    process_metrics_write(out);
    prom_family(out, "kiln_build_info", "gauge", "Kiln's version; the value is always 1.");
    char labels[64];
    snprintf(labels, sizeof labels, "version=\"%s\"", c->server_version ? c->server_version : "");
    prom_sample(out, "kiln_build_info", labels, 1);
}

void h_metrics(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    r->content_type = "text/plain; version=0.0.4; charset=utf-8";
    kserve_metrics_text(c, &r->body);
}

void h_alerts(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    if (c->alerter)
        kalerts_write_json(kalerter_rules(c->alerter), &r->body);
    else
        buf_append_str(&r->body, "{\"alerts\":[]}");
}

void h_model_stats(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const char *const *p, int n)
{
    if (!c->metrics || kmetrics_summary(c->metrics, p[0], &r->body) != K_OK)
        khttp_error(r, 404, "not_found", "no requests recorded for model '%.128s'", p[0]);
}
