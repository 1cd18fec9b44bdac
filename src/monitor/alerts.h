/* alerts.h — Kiln's alert engine: rules over the server's own metrics, a `for:` duration, and
 * notifications grouped, deduplicated and repeated the way Alertmanager does it, in
 * Alertmanager's webhook JSON (version 4).
 *
 * Rules come from the `alerts:` section of kiln.yaml (docs/monitoring.md, "Alerts"). A rule's
 * `metric` is either any sample name GET /metrics shows (kiln_feature_drift, kiln_model_accuracy,
 * process_resident_memory_bytes, …), filtered by `where:` label equality, or one of the derived
 * signals computed over the rule's `window`:
 *     error_rate     share of model_requests_total not answered 2xx, per model and version
 *     latency_p50, latency_p90, latency_p95, latency_p99
 *                    a quantile of model_request_latency_seconds, per model and version
 *     missing_rate   kiln_feature_missing_total / kiln_predicted_rows_total, per feature
 * A derived signal is a counter delta: a series new since the previous evaluation counts from 0.
 *
 * Each matching series is one alert: pending while the condition holds for less than `for`,
 * firing after, resolved when the condition stops holding or the series disappears. Alerts are
 * grouped by the `group_by` labels; a group is notified `group_wait` after its first alert
 * fires, again `group_interval` after any change (a new firing alert, a resolved one), and every
 * `repeat_interval` while unchanged and firing. Nothing is sent twice inside repeat_interval.
 *
 * The engine does no I/O: kalerts_eval hands log lines and webhook bodies to the caller's sink.
 * All functions are thread-safe (one internal mutex). */
#ifndef KILN_ALERTS_H
#define KILN_ALERTS_H

#include <stddef.h>

#include "base/buf.h"
#include "base/status.h"

struct json_object;
typedef struct kalerts kalerts;

#define KALERTS_MAX_RULES 128
#define KALERTS_MAX_WEBHOOKS 8
#define KALERTS_MAX_ALERTS 10000 /* alert instances tracked at once; more are not created */

typedef struct {
    char url[1024];
    double timeout_s; /* 5 */
} kalerts_webhook;

/* Parses and validates the `alerts:` mapping (a json-c tree as data/yaml.h builds it). Errors
 * (K_INVALID) name the offending key: "alerts.rules[1].op: expected one of >, >=, <, <=, ==,
 * !=". The result is owned by the caller (kalerts_free). */
kstatus kalerts_new(const struct json_object *section, kalerts **out, kerr *e);
void kalerts_free(kalerts *a);

/* Seconds between evaluations (`interval`, default 10). */
double kalerts_interval(const kalerts *a);
/* The configured webhooks; *n gets their count. Valid until kalerts_free. */
const kalerts_webhook *kalerts_webhooks(const kalerts *a, int *n);
int kalerts_rule_count(const kalerts *a);

typedef struct {
    /* A log line: level 1 warn (an alert fires), 2 info (resolved). */
    void (*event)(void *ctx, int level, const char *msg);
    /* A webhook body (Alertmanager JSON) to deliver to every webhook. */
    void (*notify)(void *ctx, const char *json, size_t len);
    void *ctx;
} kalerts_sink;

/* Evaluates every rule over a metrics exposition (text[0..len), as GET /metrics serves it) at
 * wall-clock time `now` (Unix seconds), updates alert states and sends due notifications to
 * `sink`. K_FORMAT when the text cannot be parsed (states are then left as they were). */
kstatus kalerts_eval(kalerts *a, const char *text, size_t len, double now, const kalerts_sink *sink,
                     kerr *e);

/* The alerts pending or firing now, as JSON: {"alerts":[{"labels":{…},"annotations":{…},
 * "state":"firing","activeAt":"…","value":…},…]}. */
kstatus kalerts_write_json(kalerts *a, buf *out);
/* kiln_alerts{alertname,state} gauges (Prometheus text). */
void kalerts_write_metrics(kalerts *a, buf *out);

/* "30s", "5m", "1h30m", "250ms", "2d", or a plain number of seconds; -1 when malformed. */
double kalerts_duration(const char *text);

#endif
