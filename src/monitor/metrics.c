/* metrics.c — lock-free recording into fixed histograms and counters; a mutex only to create a
 * series; the exposition writer. */
#include "monitor/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/num.h"

/* Latency buckets resolve tens of microseconds up to seconds. */
static const double latency_le[] = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001,
                                    0.0025,  0.005,    0.01,    0.025,  0.05,    0.1,    0.25,
                                    0.5,     1,        2.5,     5,      10};
#define N_LAT (sizeof latency_le / sizeof *latency_le)
static const double confidence_le[] = {0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.975, 0.99, 0.999, 1};
#define N_CONF (sizeof confidence_le / sizeof *confidence_le)
static const int status_codes[] = {200, 400, 403, 404, 405, 408, 413, 422, 429, 500, 501, 503};
#define N_STATUS (sizeof status_codes / sizeof *status_codes)
#define N_REASONS 64

typedef struct {
    atomic_ullong count[N_STATUS + 1]; /* last slot: any other code */
    atomic_ullong lat[N_LAT + 1];      /* last slot: +Inf */
    atomic_ullong lat_sum_ns;
    atomic_ullong conf[N_CONF + 1];
    atomic_ullong conf_sum_micro; /* sum of confidences × 1e6 */
    atomic_ullong bytes_in, bytes_out, rows;
    atomic_ullong load_ns; /* how long loading this version took */
    atomic_ullong sec_count[60];
    atomic_llong sec_stamp[60];
} counters;

struct kseries {
    char model[130];
    int64_t version;
    counters c;
};

struct kmetrics {
    pthread_mutex_t lock;
    kseries *series[KMETRICS_MAX_SERIES + 1];
    atomic_int n_series;
    kseries overflow;
    char reasons[N_REASONS][32];
    atomic_ullong reason_count[N_REASONS];
    atomic_int n_reasons;
    atomic_llong in_flight;
};

kmetrics *kmetrics_new(void)
{
    kmetrics *m = calloc(1, sizeof *m);
    if (!m) return NULL;
    pthread_mutex_init(&m->lock, NULL);
    snprintf(m->overflow.model, sizeof m->overflow.model, "_other");
    return m;
}

void kmetrics_free(kmetrics *m)
{
    if (!m) return;
    for (int i = 0; i < atomic_load(&m->n_series); i++)
        free(m->series[i]);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static kseries *find(kmetrics *m, const char *model, int64_t version)
{
    int n = atomic_load(&m->n_series);
    for (int i = 0; i < n; i++)
        if (m->series[i]->version == version && strcmp(m->series[i]->model, model) == 0)
            return m->series[i];
    return NULL;
}

kseries *kmetrics_series(kmetrics *m, const char *model, int64_t version)
{
    kseries *s = find(m, model, version);
    if (s) return s;
    pthread_mutex_lock(&m->lock);
    s = find(m, model, version);
    int n = atomic_load(&m->n_series);
    if (!s && n < KMETRICS_MAX_SERIES && (s = calloc(1, sizeof *s))) {
        snprintf(s->model, sizeof s->model, "%s", model);
        s->version = version;
        m->series[n] = s;
        atomic_store(&m->n_series, n + 1); /* published after it is filled in */
    }
    pthread_mutex_unlock(&m->lock);
    return s ? s : &m->overflow;
}

static size_t bucket(const double *le, size_t n, double v)
{
    size_t i = 0;
    while (i < n && v > le[i])
        i++;
    return i;
}

void kseries_request(kseries *s, int status, uint64_t latency_ns, size_t bytes_in, size_t bytes_out)
{
    size_t k = 0;
    while (k < N_STATUS && status_codes[k] != status)
        k++;
    atomic_fetch_add_explicit(&s->c.count[k], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.lat[bucket(latency_le, N_LAT, (double)latency_ns / 1e9)], 1,
                              memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.lat_sum_ns, latency_ns, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.bytes_in, bytes_in, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->c.bytes_out, bytes_out, memory_order_relaxed);
    long long sec = (long long)time(NULL);
    int slot = (int)(sec % 60);
    long long seen = atomic_load_explicit(&s->c.sec_stamp[slot], memory_order_relaxed);
    if (seen != sec && atomic_compare_exchange_strong(&s->c.sec_stamp[slot], &seen, sec))
        atomic_store(&s->c.sec_count[slot], 0);
    atomic_fetch_add_explicit(&s->c.sec_count[slot], 1, memory_order_relaxed);
}

void kseries_confidence(kseries *s, double confidence)
{
    kseries_confidences(s, &confidence, 1);
}

void kseries_confidences(kseries *s, const double *confidence, size_t n)
{
    unsigned long long counts[N_CONF + 1] = {0}, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double x = confidence[i];
        if (!(x >= 0 && x <= 1)) continue;
        counts[bucket(confidence_le, N_CONF, x)]++;
        sum += (unsigned long long)(x * 1e6 + 0.5);
    }
    for (size_t b = 0; b <= N_CONF; b++)
        if (counts[b])
            atomic_fetch_add_explicit(&s->c.conf[b], counts[b], memory_order_relaxed);
    if (sum) atomic_fetch_add_explicit(&s->c.conf_sum_micro, sum, memory_order_relaxed);
}

void kseries_rows(kseries *s, uint64_t rows)
{
    atomic_fetch_add_explicit(&s->c.rows, rows, memory_order_relaxed);
}

void kmetrics_error(kmetrics *m, const char *reason)
{
    int n = atomic_load(&m->n_reasons);
    for (int i = 0; i < n; i++)
        if (strcmp(m->reasons[i], reason) == 0) {
            atomic_fetch_add_explicit(&m->reason_count[i], 1, memory_order_relaxed);
            return;
        }
    pthread_mutex_lock(&m->lock);
    n = atomic_load(&m->n_reasons);
    int i = 0;
    while (i < n && strcmp(m->reasons[i], reason) != 0)
        i++;
    if (i == n && n < N_REASONS) {
        snprintf(m->reasons[n], sizeof m->reasons[n], "%s", reason);
        atomic_store(&m->n_reasons, n + 1);
    }
    if (i < N_REASONS) atomic_fetch_add(&m->reason_count[i], 1);
    pthread_mutex_unlock(&m->lock);
}

void kmetrics_in_flight(kmetrics *m, int delta)
{
    atomic_fetch_add_explicit(&m->in_flight, delta, memory_order_relaxed);
}

/* ---- exposition --------------------------------------------------------------------------- */

void prom_escape(buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\')
            buf_append(b, "\\\\", 2);
        else if (*v == '"')
            buf_append(b, "\\\"", 2);
        else if (*v == '\n')
            buf_append(b, "\\n", 2);
        else
            buf_append(b, v, 1);
    }
}

void prom_family(buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_json_number(buf *b, double v);

static void put_value(buf *b, double v)
{
    char t[32];
    if (isinf(v))
        buf_append_str(b, v > 0 ? "+Inf" : "-Inf");
    else if (isnan(v))
        buf_append_str(b, "NaN");
    else
        buf_append(b, t, (size_t)num_format_shortest(v, t));
}

void prom_sample(buf *b, const char *name, const char *labels, double value)
{
    buf_append_str(b, name);
    if (labels && *labels) buf_printf(b, "{%s}", labels);
    buf_append(b, " ", 1);
    put_value(b, value);
    buf_append(b, "\n", 1);
}

/* model="…",version="…" */
static void series_labels(buf *b, const kseries *s)
{
    b->len = 0;
    buf_append_str(b, "model=\"");
    prom_escape(b, s->model);
    if (s->version)
        buf_printf(b, "\",version=\"%lld\"", (long long)s->version);
    else
        buf_append_str(b, "\",version=\"\"");
}

static void write_histogram(buf *b, const char *name, const char *labels, const double *le,
                            size_t n, atomic_ullong *counts, double sum)
{
    unsigned long long cum = 0;
    char l[600];
    for (size_t i = 0; i <= n; i++) {
        cum += atomic_load_explicit(&counts[i], memory_order_relaxed);
        char edge[32];
        if (i < n) num_format_shortest(le[i], edge);
        snprintf(l, sizeof l, "%s,le=\"%s\"", labels, i < n ? edge : "+Inf");
        char bname[128];
        snprintf(bname, sizeof bname, "%s_bucket", name);
        prom_sample(b, bname, l, (double)cum);
    }
    char sname[128], cname[128];
    snprintf(sname, sizeof sname, "%s_sum", name);
    snprintf(cname, sizeof cname, "%s_count", name);
    prom_sample(b, sname, labels, sum);
    prom_sample(b, cname, labels, (double)cum);
}

typedef void (*series_writer)(buf *out, const kseries *s, const char *labels);

static void requests_of(buf *out, const kseries *s, const char *labels)
{
    char l[600];
    for (size_t k = 0; k <= N_STATUS; k++) {
        unsigned long long n = atomic_load_explicit(&s->c.count[k], memory_order_relaxed);
        if (!n) continue;
        if (k < N_STATUS)
            snprintf(l, sizeof l, "%s,status=\"%d\"", labels, status_codes[k]);
        else
            snprintf(l, sizeof l, "%s,status=\"other\"", labels);
        prom_sample(out, "model_requests_total", l, (double)n);
    }
}

static void latency_of(buf *out, const kseries *s, const char *labels)
{
    kseries *w = (kseries *)s;
    write_histogram(out, "model_request_latency_seconds", labels, latency_le, N_LAT, w->c.lat,
                    (double)atomic_load(&w->c.lat_sum_ns) / 1e9);
}

static void confidence_of(buf *out, const kseries *s, const char *labels)
{
    kseries *w = (kseries *)s;
    write_histogram(out, "model_prediction_confidence", labels, confidence_le, N_CONF, w->c.conf,
                    (double)atomic_load(&w->c.conf_sum_micro) / 1e6);
}

static void bytes_in_of(buf *out, const kseries *s, const char *labels)
{
    prom_sample(out, "kiln_http_received_bytes_total", labels,
                (double)atomic_load(&((kseries *)s)->c.bytes_in));
}

static void bytes_out_of(buf *out, const kseries *s, const char *labels)
{
    prom_sample(out, "kiln_http_sent_bytes_total", labels,
                (double)atomic_load(&((kseries *)s)->c.bytes_out));
}

static void rows_of(buf *out, const kseries *s, const char *labels)
{
    prom_sample(out, "kiln_predicted_rows_total", labels,
                (double)atomic_load(&((kseries *)s)->c.rows));
}

static void load_of(buf *out, const kseries *s, const char *labels)
{
    uint64_t ns = atomic_load(&((kseries *)s)->c.load_ns);
    if (ns) prom_sample(out, "kiln_model_load_duration_seconds", labels, (double)ns / 1e9);
}

static void each_series(kmetrics *m, buf *out, series_writer fn)
{
    buf labels;
    buf_init(&labels, 1024);
    int n = atomic_load(&m->n_series);
    for (int i = 0; i <= n; i++) {
        const kseries *s = i < n ? m->series[i] : &m->overflow;
        if (i == n && !atomic_load(&((kseries *)s)->c.lat[N_LAT]) &&
            !atomic_load(&((kseries *)s)->c.lat_sum_ns))
            continue; /* the overflow series only once something overflowed */
        series_labels(&labels, s);
        fn(out, s, (const char *)labels.data);
    }
    buf_free(&labels);
}

kstatus kmetrics_write(kmetrics *m, buf *out)
{
    static const struct {
        const char *name, *type, *help;
        series_writer fn;
    } families[] = {
        {"model_requests_total", "counter", "Requests answered, by model, version and status code.",
         requests_of},
        {"model_request_latency_seconds", "histogram",
         "Time from a request's headers to its answer, by model and version.", latency_of},
        {"model_prediction_confidence", "histogram",
         "Top class probability of each prediction, by model and version.", confidence_of},
        {"kiln_predicted_rows_total", "counter", "Rows scored.", rows_of},
        {"kiln_http_received_bytes_total", "counter", "Request body bytes received.", bytes_in_of},
        {"kiln_http_sent_bytes_total", "counter", "Response body bytes sent.", bytes_out_of},
        {"kiln_model_load_duration_seconds", "gauge",
         "How long loading (reading, verifying, compiling) the version took.", load_of},
    };
    for (size_t f = 0; f < sizeof families / sizeof *families; f++) {
        prom_family(out, families[f].name, families[f].type, families[f].help);
        each_series(m, out, families[f].fn);
    }
    prom_family(out, "kiln_errors_total", "counter", "Requests that failed, by reason.");
    int n = atomic_load(&m->n_reasons);
    for (int i = 0; i < n; i++) {
        char l[80];
        snprintf(l, sizeof l, "reason=\"%s\"", m->reasons[i]);
        prom_sample(out, "kiln_errors_total", l, (double)atomic_load(&m->reason_count[i]));
    }
    prom_family(out, "kiln_requests_in_flight", "gauge", "Requests being handled now.");
    prom_sample(out, "kiln_requests_in_flight", "", (double)atomic_load(&m->in_flight));
    return out->len < out->max ? K_OK : K_LIMIT;
}

/* ---- summary -------------------------------------------------------------------------------- */

/* The q-quantile of latency from merged bucket counts, linear within the bucket. */
static double quantile(const unsigned long long *lat, unsigned long long total, double q)
{
    if (!total) return NAN;
    double rank = q * (double)total, cum = 0;
    for (size_t i = 0; i <= N_LAT; i++) {
        double next = cum + (double)lat[i];
        if (next >= rank && lat[i]) {
            double lo = i ? latency_le[i - 1] : 0,
                   hi = i < N_LAT ? latency_le[i] : latency_le[N_LAT - 1];
            return lo + (hi - lo) * (rank - cum) / (double)lat[i];
        }
        cum = next;
    }
    return latency_le[N_LAT - 1];
}

kstatus kmetrics_summary(kmetrics *m, const char *model, buf *out)
{
    unsigned long long lat[N_LAT + 1] = {0}, total = 0, errors = 0, last_minute = 0;
    int found = 0;
    long long now = (long long)time(NULL);
    int n = atomic_load(&m->n_series);
    for (int i = 0; i < n; i++) {
        kseries *s = m->series[i];
        if (strcmp(s->model, model) != 0) continue;
        found = 1;
        for (size_t k = 0; k <= N_LAT; k++)
            lat[k] += atomic_load(&s->c.lat[k]);
        for (size_t k = 0; k <= N_STATUS; k++) {
            unsigned long long c = atomic_load(&s->c.count[k]);
            total += c;
            if (k == N_STATUS || status_codes[k] >= 400) errors += c;
        }
        for (int k = 0; k < 60; k++) {
            long long stamp = atomic_load(&s->c.sec_stamp[k]);
            if (stamp > now - 60 && stamp < now) last_minute += atomic_load(&s->c.sec_count[k]);
        }
    }
    if (!found) return K_NOTFOUND;
    buf_append_str(out, "{\"model\":");
    buf_append(out, "\"", 1);
    prom_escape(out, model);
    buf_printf(out, "\",\"requests\":%llu,\"errors\":%llu,\"error_rate\":", total, errors);
    put_json_number(out, total ? (double)errors / (double)total : 0);
    buf_append_str(out, ",\"latency_seconds\":{\"p50\":");
    put_json_number(out, quantile(lat, total, 0.5));
    buf_append_str(out, ",\"p95\":");
    put_json_number(out, quantile(lat, total, 0.95));
    buf_append_str(out, ",\"p99\":");
    put_json_number(out, quantile(lat, total, 0.99));
    buf_append_str(out, "},\"requests_per_second_last_minute\":");
    put_json_number(out, (double)last_minute / 59.0);
    buf_append(out, "}", 1);
    return K_OK;
}

static void put_json_number(buf *b, double v)
{
    if (!isfinite(v))
        buf_append_str(b, "null");
    else
        put_value(b, v);
}

void kseries_loaded(kseries *s, uint64_t load_ns)
{
    atomic_store(&s->c.load_ns, load_ns);
}
