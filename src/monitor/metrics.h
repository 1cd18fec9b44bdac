/* metrics.h — the server's metrics, cheap to record on the hot path (atomic counters, no locks
 * once a series exists) and written in the Prometheus text exposition format.
 *
 * A series is one (model, version) pair: the seed's model_requests_total (by status code),
 * model_request_latency_seconds and model_prediction_confidence histograms, bytes in and out,
 * and a per-second ring for "the last minute". Series are created on first use and live as long
 * as the kmetrics (a version that was unloaded keeps its counters, as Prometheus expects), up to
 * KMETRICS_MAX_SERIES; past that, requests count in an overflow series (model="_other").
 * Requests that reached no model count in the series ("", 0). */
#ifndef KILN_METRICS_H
#define KILN_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/status.h"

typedef struct kmetrics kmetrics;
typedef struct kseries kseries;

#define KMETRICS_MAX_SERIES 1024

kmetrics *kmetrics_new(void);
void kmetrics_free(kmetrics *m);

/* The series of (model, version); never NULL once m exists. Valid until kmetrics_free. */
kseries *kmetrics_series(kmetrics *m, const char *model, int64_t version);

/* One answered request: its status code, latency and sizes. */
void kseries_request(kseries *s, int status, uint64_t latency_ns, size_t bytes_in,
                     size_t bytes_out);
/* One prediction's confidence (the top class probability). */
void kseries_confidence(kseries *s, double confidence);
/* n confidences at once: the same counts as n calls, with one atomic add per touched bucket. */
void kseries_confidences(kseries *s, const double *confidence, size_t n);
/* How long loading the version took (reading, verifying, compiling). */
void kseries_loaded(kseries *s, uint64_t load_ns);
/* Rows scored (a batch counts its rows). */
void kseries_rows(kseries *s, uint64_t rows);

/* An error by short reason ("bad_request", "too_large", …; at most 64 distinct reasons). */
void kmetrics_error(kmetrics *m, const char *reason);
/* Requests being handled now (+1 when one starts, -1 when it ends). */
void kmetrics_in_flight(kmetrics *m, int delta);

/* Appends every metric family above in the text exposition format (version 0.0.4). */
kstatus kmetrics_write(kmetrics *m, buf *out);

/* Server-side summary of one model (all its versions) as JSON: requests, errors, error rate,
 * latency p50/p95/p99 (interpolated within histogram buckets), requests per second over the
 * last 60 s. K_NOTFOUND when the model never had a request. */
kstatus kmetrics_summary(kmetrics *m, const char *model, buf *out);

/* Prometheus helpers for other writers (process metrics, server gauges). */
void prom_family(buf *b, const char *name, const char *type, const char *help);
/* Writes `name{labels} value`; labels is "" or k="v",… already escaped. */
void prom_sample(buf *b, const char *name, const char *labels, double value);
/* Appends a label value escaped per the exposition format (\\, \", \n). */
void prom_escape(buf *b, const char *value);

#endif
