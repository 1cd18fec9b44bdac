/* alerts.c — evaluating alert rules over a metrics exposition, tracking pending → firing →
 * resolved, and grouping notifications into Alertmanager webhook bodies (see alerts.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "data/jsonw.h"
#include "monitor/alerts_impl.h"
#include "monitor/promtext.h"

struct kal_hist {
    kal_labels labels;
    uint64_t key, gen;
    int n; /* entries of cur in use */
    double le[KAL_MAX_BUCKETS], cur[KAL_MAX_BUCKETS];
    int ring_cap, ring_n, head; /* snapshots, newest at head - 1 */
    double t[KAL_MAX_RING];
    double *snap; /* ring_cap × KAL_MAX_BUCKETS */
};

/* ---- derived signals: counter histories ---------------------------------------------------- */

static void hist_free(kal_hist *h)
{
    kal_labels_free(&h->labels);
    free(h->snap);
    free(h);
}

/* The history of the series `l` under rule r for evaluation gen (its counters zeroed at the
 * first sample of each evaluation); NULL when out of memory or past the limit. */
static kal_hist *hist_of(kalerts *a, kal_rule *r, kal_labels *l)
{
    kal_labels_sort(l);
    uint64_t key = kal_labels_hash(l);
    kal_hist *h = NULL;
    for (int i = 0; i < r->n_hist && !h; i++)
        if (r->hist[i]->key == key) h = r->hist[i];
    if (!h) {
        if (kal_grow((void ***)&r->hist, r->n_hist, &r->cap_hist, KALERTS_MAX_ALERTS)) return NULL;
        h = calloc(1, sizeof *h);
        int cap = (int)ceil(r->window_s / a->interval_s) + 2;
        h->ring_cap = cap > KAL_MAX_RING ? KAL_MAX_RING : cap;
        h->snap = h ? calloc((size_t)h->ring_cap * KAL_MAX_BUCKETS, sizeof(double)) : NULL;
        if (!h || !h->snap) return free(h), NULL;
        h->key = key;
        h->ring_n = 1; /* a new series counted 0 at the previous evaluation */
        h->head = 1 % h->ring_cap;
        h->t[0] = a->last_eval;
        h->labels = *l;
        memset(l, 0, sizeof *l);
        r->hist[r->n_hist++] = h;
    }
    if (h->gen != a->gen) {
        h->gen = a->gen;
        memset(h->cur, 0, sizeof h->cur);
    }
    return h;
}

/* The counter vector's change over the window: *d = now - the newest snapshot at least window
 * old (or the oldest kept). 0 when there is no earlier snapshot. */
static int hist_delta(const kal_hist *h, double now, double window, double *d)
{
    int best = -1;
    for (int i = 1; i <= h->ring_n; i++) {
        int slot = (h->head - i + h->ring_cap) % h->ring_cap;
        best = slot;
        if (now - h->t[slot] >= window - 1e-6) break;
    }
    if (best < 0) return 0;
    const double *old = h->snap + (size_t)best * KAL_MAX_BUCKETS;
    int reset = 0;
    for (int k = 0; k < h->n; k++)
        reset |= h->cur[k] < old[k];
    for (int k = 0; k < h->n; k++)
        d[k] = reset ? h->cur[k] : h->cur[k] - old[k];
    return 1;
}

static void hist_push(kal_hist *h, double now)
{
    memcpy(h->snap + (size_t)h->head * KAL_MAX_BUCKETS, h->cur, sizeof h->cur);
    h->t[h->head] = now;
    h->head = (h->head + 1) % h->ring_cap;
    if (h->ring_n < h->ring_cap) h->ring_n++;
}

/* histogram_quantile over cumulative bucket deltas d (bounds le, ascending, +Inf last). */
static double quantile(const double *le, const double *d, int n, double q)
{
    if (n == 0 || !(d[n - 1] > 0)) return NAN;
    double rank = q * d[n - 1];
    for (int i = 0; i < n; i++) {
        if (d[i] < rank) continue;
        if (isinf(le[i])) return i > 0 ? le[i - 1] : NAN;
        double lo = i ? le[i - 1] : 0, below = i ? d[i - 1] : 0, in = d[i] - below;
        return in > 0 ? lo + (le[i] - lo) * (rank - below) / in : le[i];
    }
    return NAN;
}

static double derived_value(const kal_rule *r, const kal_hist *h, double now)
{
    double d[KAL_MAX_BUCKETS];
    if (!hist_delta(h, now, r->window_s, d)) return NAN;
    if (r->signal == SIG_LATENCY) return quantile(h->le, d, h->n, r->quantile);
    return d[1] > 0 ? d[0] / d[1] : NAN;
}

/* ---- alert state ---------------------------------------------------------------------------- */

static int holds(const kal_rule *r, double v)
{
    if (isnan(v)) return 0;
    switch (r->op) {
    case OP_GT:
        return v > r->threshold;
    case OP_GE:
        return v >= r->threshold;
    case OP_LT:
        return v < r->threshold;
    case OP_LE:
        return v <= r->threshold;
    case OP_EQ:
        return v == r->threshold;
    case OP_NE:
        return v != r->threshold;
    }
    return 0;
}

/* Expands {{ $value }} and {{ $labels.NAME }} in an annotation template. */
static void render(const char *tpl, const kal_labels *l, double value, char *out, size_t size)
{
    size_t n = 0;
    while (*tpl && n + 1 < size) {
        const char *close = !strncmp(tpl, "{{", 2) ? strstr(tpl, "}}") : NULL;
        if (!close) {
            out[n++] = *tpl++;
            continue;
        }
        char expr[160];
        const char *p = tpl + 2;
        while (*p == ' ')
            p++;
        size_t len = (size_t)(close - p);
        while (len && p[len - 1] == ' ')
            len--;
        snprintf(expr, sizeof expr, "%.*s", (int)(len < 159 ? len : 159), p);
        char val[512] = "";
        if (!strcmp(expr, "$value"))
            snprintf(val, sizeof val, "%.6g", value);
        else if (!strncmp(expr, "$labels.", 8) && kal_labels_get(l, expr + 8))
            snprintf(val, sizeof val, "%s", kal_labels_get(l, expr + 8));
        n += (size_t)snprintf(out + n, size - n, "%s", val);
        if (n >= size) n = size - 1;
        tpl = close + 2;
    }
    out[n] = 0;
}

static void say(const kalerts_sink *sink, int level, const kal_alert *al, const char *what)
{
    if (!sink || !sink->event) return;
    char msg[1024];
    size_t n = (size_t)snprintf(msg, sizeof msg,
                                "alert %s %s:", kal_labels_get(&al->labels, "alertname"), what);
    for (int i = 0; i < al->labels.n && n < sizeof msg; i++)
        if (strcmp(al->labels.k[i], "alertname"))
            n += (size_t)snprintf(msg + n, sizeof msg - n, " %s=%s", al->labels.k[i],
                                  al->labels.v[i]);
    if (n < sizeof msg) snprintf(msg + n, sizeof msg - n, " value=%.6g", al->value);
    sink->event(sink->ctx, level, msg);
}

static kal_alert *find_alert(kalerts *a, uint64_t fp)
{
    for (int i = 0; i < a->n_alerts; i++)
        if (a->alerts[i]->fp == fp) return a->alerts[i];
    return NULL;
}

static void alert_free(kal_alert *al)
{
    kal_labels_free(&al->labels);
    kal_labels_free(&al->annotations);
    free(al);
}

static uint64_t group_key(const kalerts *a, const kal_labels *l)
{
    kal_labels g = {0};
    for (int i = 0; i < a->n_group_by; i++) {
        const char *v = kal_labels_get(l, a->group_by[i]);
        if (v) {
            g.k[g.n] = (char *)a->group_by[i];
            g.v[g.n++] = (char *)v;
        }
    }
    return kal_labels_hash(&g); /* g borrows its strings: not freed */
}

/* A series for which rule ri's condition was evaluated: value v, labels l (consumed). */
static void observe(kalerts *a, int ri, kal_labels *l, double v, double now,
                    const kalerts_sink *sink)
{
    kal_rule *r = &a->rules[ri];
    if (!holds(r, v)) return kal_labels_free(l);
    kal_labels_add(l, "alertname", r->name);
    for (int i = 0; i < r->labels.n; i++)
        kal_labels_add(l, r->labels.k[i], r->labels.v[i]);
    kal_labels_sort(l);
    uint64_t fp = kal_labels_hash(l) ^ (uint64_t)ri;
    kal_alert *al = find_alert(a, fp);
    if (!al) {
        if (kal_grow((void ***)&a->alerts, a->n_alerts, &a->cap_alerts, KALERTS_MAX_ALERTS) ||
            !(al = calloc(1, sizeof *al)))
            return kal_labels_free(l);
        a->alerts[a->n_alerts++] = al;
        al->fp = fp;
        al->rule = ri;
        al->labels = *l;
        al->group = group_key(a, l);
        al->state = ST_PENDING;
        al->active_since = now;
    } else {
        kal_labels_free(l);
        if (al->state == ST_RESOLVED) al->state = ST_PENDING, al->active_since = now;
    }
    memset(l, 0, sizeof *l);
    al->seen = a->gen;
    al->value = v;
    kal_labels_free(&al->annotations);
    for (int i = 0; i < r->annotations.n; i++) {
        char text[2048];
        render(r->annotations.v[i], &al->labels, v, text, sizeof text);
        kal_labels_add(&al->annotations, r->annotations.k[i], text);
    }
    if (al->state == ST_PENDING && now - al->active_since >= r->for_s - 1e-9) {
        al->state = ST_FIRING;
        al->fired_at = now;
        al->notified = 0;
        say(sink, 1, al, "firing");
    }
}

/* ---- reading the exposition ----------------------------------------------------------------- */

typedef struct {
    kalerts *a;
    double now;
    const kalerts_sink *sink;
    /* kiln_predicted_rows_total by (model, version), for missing_rate */
    int n_rows;
    struct {
        char model[128], version[32];
        double rows;
    } rows[256];
} evalctx;

static int where_ok(const kal_rule *r, const kprom_sample *s)
{
    for (int i = 0; i < r->where.n; i++) {
        const char *v = kprom_label(s, r->where.k[i]);
        if (!v || strcmp(v, r->where.v[i])) return 0;
    }
    return 1;
}

static void copy_labels(const kprom_sample *s, kal_labels *l, const char *const *only)
{
    for (int i = 0; i < s->n_labels; i++) {
        int keep = !only;
        for (int k = 0; only && only[k] && !keep; k++)
            keep = !strcmp(only[k], s->keys[i]);
        if (keep) kal_labels_add(l, s->keys[i], s->values[i]);
    }
}

static void add_bucket(kal_hist *h, const char *le, double v)
{
    double bound = !strcmp(le, "+Inf") ? INFINITY : strtod(le, NULL);
    int i = 0;
    while (i < h->n && h->le[i] != bound)
        i++;
    if (i == h->n) {
        if (h->n == KAL_MAX_BUCKETS) return;
        int at = h->n++;
        while (at > 0 && h->le[at - 1] > bound) /* keep bounds ascending */
            h->le[at] = h->le[at - 1], h->cur[at] = h->cur[at - 1], at--;
        h->le[at] = bound;
        h->cur[at] = 0;
        i = at;
    }
    h->cur[i] += v;
}

static void derived_sample(evalctx *x, kal_rule *r, const kprom_sample *s)
{
    static const char *const mv[] = {"model", "version", NULL};
    static const char *const mvf[] = {"model", "version", "feature", NULL};
    const char *want = r->signal == SIG_ERROR_RATE ? "model_requests_total"
                       : r->signal == SIG_LATENCY  ? "model_request_latency_seconds_bucket"
                                                   : "kiln_feature_missing_total";
    if (strcmp(s->name, want) || !where_ok(r, s)) return;
    kal_labels l = {0};
    copy_labels(s, &l, r->signal == SIG_MISSING_RATE ? mvf : mv);
    kal_hist *h = hist_of(x->a, r, &l);
    kal_labels_free(&l);
    if (!h) return;
    if (r->signal == SIG_LATENCY) {
        const char *le = kprom_label(s, "le");
        if (le) add_bucket(h, le, s->value);
        return;
    }
    h->n = 2;
    if (r->signal == SIG_MISSING_RATE) {
        h->cur[0] += s->value;
        return;
    }
    const char *status = kprom_label(s, "status");
    if (!status || status[0] != '2') h->cur[0] += s->value;
    h->cur[1] += s->value;
}

static void note_rows(evalctx *x, const kprom_sample *s)
{
    const char *m = kprom_label(s, "model"), *v = kprom_label(s, "version");
    if (!m || !v || x->n_rows == (int)(sizeof x->rows / sizeof *x->rows)) return;
    snprintf(x->rows[x->n_rows].model, sizeof x->rows[0].model, "%s", m);
    snprintf(x->rows[x->n_rows].version, sizeof x->rows[0].version, "%s", v);
    x->rows[x->n_rows++].rows = s->value;
}

static void on_sample(void *p, const kprom_sample *s)
{
    evalctx *x = p;
    int need_rows = 0;
    for (int i = 0; i < x->a->n_rules; i++) {
        kal_rule *r = &x->a->rules[i];
        need_rows |= r->signal == SIG_MISSING_RATE;
        if (r->signal != SIG_RAW) {
            derived_sample(x, r, s);
        } else if (!strcmp(s->name, r->metric) && where_ok(r, s)) {
            kal_labels l = {0};
            copy_labels(s, &l, NULL);
            observe(x->a, i, &l, s->value, x->now, x->sink);
        }
    }
    if (need_rows && !strcmp(s->name, "kiln_predicted_rows_total")) note_rows(x, s);
}

static void ignore(void *p, const kprom_sample *s)
{
    (void)p;
    (void)s;
}

static int same(const char *a, const char *b)
{
    return b && !strcmp(a, b);
}

static void finish_derived(evalctx *x)
{
    kalerts *a = x->a;
    for (int i = 0; i < a->n_rules; i++) {
        kal_rule *r = &a->rules[i];
        for (int j = 0; j < r->n_hist; j++) {
            kal_hist *h = r->hist[j];
            if (h->gen != a->gen) { /* the series is gone */
                hist_free(h);
                r->hist[j--] = r->hist[--r->n_hist];
                continue;
            }
            for (int k = 0; r->signal == SIG_MISSING_RATE && k < x->n_rows; k++)
                if (same(x->rows[k].model, kal_labels_get(&h->labels, "model")) &&
                    same(x->rows[k].version, kal_labels_get(&h->labels, "version")))
                    h->cur[1] = x->rows[k].rows;
            double v = derived_value(r, h, x->now);
            hist_push(h, x->now);
            kal_labels l = {0};
            for (int k = 0; k < h->labels.n; k++)
                kal_labels_add(&l, h->labels.k[k], h->labels.v[k]);
            observe(a, i, &l, v, x->now, x->sink);
        }
    }
}

/* Alerts whose condition no longer holds: pending ones are dropped, firing ones resolve. */
static void sweep(kalerts *a, double now, const kalerts_sink *sink)
{
    for (int i = 0; i < a->n_alerts; i++) {
        kal_alert *al = a->alerts[i];
        if (al->seen == a->gen || al->state == ST_RESOLVED) continue;
        if (al->state == ST_FIRING && al->notified && a->send_resolved) {
            al->state = ST_RESOLVED;
            al->resolved_at = now;
            say(sink, 2, al, "resolved");
            continue;
        }
        if (al->state == ST_FIRING) say(sink, 2, al, "resolved");
        alert_free(al);
        a->alerts[i--] = a->alerts[--a->n_alerts];
    }
}

kstatus kalerts_eval(kalerts *a, const char *text, size_t len, double now, const kalerts_sink *sink,
                     kerr *e)
{
    kstatus st = kprom_parse(text, len, ignore, NULL, e);
    if (st) return st;
    evalctx *x = calloc(1, sizeof *x);
    if (!x) return kerr_set(e, K_NOMEM, "out of memory");
    pthread_mutex_lock(&a->lock);
    a->gen++;
    x->a = a;
    x->now = now;
    x->sink = sink;
    if (a->gen == 1) a->last_eval = now - a->interval_s;
    kprom_parse(text, len, on_sample, x, NULL);
    finish_derived(x);
    sweep(a, now, sink);
    kal_notify_groups(a, now, sink);
    a->last_eval = now;
    pthread_mutex_unlock(&a->lock);
    free(x);
    return K_OK;
}

/* ---- accessors and listings ---------------------------------------------------------------- */

double kalerts_interval(const kalerts *a)
{
    return a->interval_s;
}

const kalerts_webhook *kalerts_webhooks(const kalerts *a, int *n)
{
    *n = a->n_webhooks;
    return a->webhooks;
}

int kalerts_rule_count(const kalerts *a)
{
    return a->n_rules;
}

void kal_time(buf *b, double t)
{
    char s[40] = "0001-01-01T00:00:00Z";
    if (t > 0) {
        time_t sec = (time_t)t;
        struct tm tm;
        gmtime_r(&sec, &tm);
        size_t n = strftime(s, sizeof s, "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(s + n, sizeof s - n, ".%03dZ", (int)((t - (double)sec) * 1000));
    }
    jsonw_string(b, s);
}

void kal_write_labels(buf *b, const kal_labels *l)
{
    buf_append_str(b, "{");
    for (int i = 0; i < l->n; i++) {
        if (i) buf_append_str(b, ",");
        jsonw_string(b, l->k[i]);
        buf_append_str(b, ":");
        jsonw_string(b, l->v[i]);
    }
    buf_append_str(b, "}");
}

static const char *state_name(kal_state s)
{
    return s == ST_PENDING ? "pending" : s == ST_FIRING ? "firing" : "resolved";
}

kstatus kalerts_write_json(kalerts *a, buf *out)
{
    pthread_mutex_lock(&a->lock);
    buf_append_str(out, "{\"alerts\":[");
    int first = 1;
    for (int i = 0; i < a->n_alerts; i++) {
        const kal_alert *al = a->alerts[i];
        if (al->state == ST_RESOLVED) continue;
        buf_append_str(out, first ? "{\"labels\":" : ",{\"labels\":");
        first = 0;
        kal_write_labels(out, &al->labels);
        buf_append_str(out, ",\"annotations\":");
        kal_write_labels(out, &al->annotations);
        buf_printf(out, ",\"state\":\"%s\",\"activeAt\":", state_name(al->state));
        kal_time(out, al->active_since);
        buf_append_str(out, ",\"value\":");
        jsonw_number(out, al->value);
        buf_append_str(out, "}");
    }
    kstatus st = buf_append_str(out, "]}");
    pthread_mutex_unlock(&a->lock);
    return st;
}

void kalerts_write_metrics(kalerts *a, buf *out)
{
    pthread_mutex_lock(&a->lock);
    buf_append_str(out, "# HELP kiln_alerts Alerts pending or firing now, by rule.\n"
                        "# TYPE kiln_alerts gauge\n");
    for (int i = 0; i < a->n_rules; i++) {
        int n[2] = {0, 0};
        for (int j = 0; j < a->n_alerts; j++)
            if (a->alerts[j]->rule == i && a->alerts[j]->state != ST_RESOLVED)
                n[a->alerts[j]->state == ST_FIRING]++;
        for (int s = 0; s < 2; s++)
            buf_printf(out, "kiln_alerts{alertname=\"%s\",state=\"%s\"} %d\n", a->rules[i].name,
                       s ? "firing" : "pending", n[s]);
    }
    pthread_mutex_unlock(&a->lock);
}

void kalerts_free(kalerts *a)
{
    if (!a) return;
    for (int i = 0; i < a->n_alerts; i++)
        alert_free(a->alerts[i]);
    free(a->alerts);
    for (int i = 0; i < a->n_groups; i++) {
        kal_labels_free(&a->groups[i]->labels);
        free(a->groups[i]);
    }
    free(a->groups);
    for (int i = 0; i < a->n_rules; i++) {
        kal_rule *r = &a->rules[i];
        for (int j = 0; j < r->n_hist; j++)
            hist_free(r->hist[j]);
        free(r->hist);
        kal_labels_free(&r->where);
        kal_labels_free(&r->labels);
        kal_labels_free(&r->annotations);
    }
    pthread_mutex_destroy(&a->lock);
    free(a);
}
