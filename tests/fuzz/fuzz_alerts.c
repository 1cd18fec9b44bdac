/* fuzz_alerts.c — libFuzzer target: the alert engine's two readers. Input is CONFIG \0 METRICS:
 * the first part is parsed as a kiln.yaml `alerts:` mapping (no NUL: a fixed configuration with
 * every kind of rule is used), the second is read as a Prometheus exposition and evaluated at
 * several times, so rule parsing, the exposition reader, the derived signals, grouping and the
 * webhook bodies all see arbitrary input. Every body produced must be valid JSON. */
#include <json-c/json.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/yaml.h"
#include "monitor/alerts.h"
#include "monitor/promtext.h"

static const char fixed[] =
    "interval: 1s\ngroup_wait: 0s\ngroup_interval: 1s\nrepeat_interval: 2s\n"
    "group_by: [alertname, model]\nwebhooks: [http://127.0.0.1:1/x]\nrules:\n"
    "  - {alert: A, metric: kiln_feature_drift, where: {method: psi}, op: '>=', threshold: 0.1}\n"
    "  - {alert: B, metric: error_rate, threshold: 0.1, window: 2s, for: 1s}\n"
    "  - {alert: C, metric: latency_p99, threshold: 0.01, window: 3s}\n"
    "  - {alert: D, metric: missing_rate, op: '>', threshold: 0, window: 2s,\n"
    "     annotations: {summary: '{{ $labels.feature }} {{ $value }} {{$labels.x}}'}}\n";

static void notify(void *ctx, const char *body, size_t len)
{
    json_tokener *t = json_tokener_new();
    json_object *o = json_tokener_parse_ex(t, body, (int)len);
    if (!o || json_tokener_get_parse_end(t) != len) abort();
    json_object_put(o);
    json_tokener_free(t);
}

static void on_sample(void *ctx, const kprom_sample *s)
{
    if (!s->name[0] || s->n_labels > KPROM_MAX_LABELS) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const uint8_t *nul = memchr(data, 0, size);
    const char *cfg = nul ? text : fixed;
    size_t cfg_len = nul ? (size_t)(nul - data) : sizeof fixed - 1;
    const char *metrics = nul ? (const char *)nul + 1 : text;
    size_t metrics_len = nul ? size - cfg_len - 1 : size;
    kprom_parse(metrics, metrics_len, on_sample, NULL, NULL);
    json_object *doc = NULL;
    kalerts *a = NULL;
    if (yaml_parse(cfg, cfg_len, &doc, NULL) == K_OK && kalerts_new(doc, &a, NULL) == K_OK) {
        kalerts_sink sink = {NULL, notify, NULL};
        for (int i = 0; i < 4; i++)
            kalerts_eval(a, metrics, metrics_len, 1000.0 + i * 1.5, &sink, NULL);
        buf b;
        buf_init(&b, 1 << 24);
        kalerts_write_json(a, &b);
        kalerts_write_metrics(a, &b);
        buf_free(&b);
        kalerts_free(a);
    }
    json_object_put(doc);
    return 0;
}
