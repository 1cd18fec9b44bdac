/* online.c — per-version sliding windows scored against package reference statistics. */
#include "monitor/online.h"

#include <json-c/json.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "monitor/drift.h"
#include "monitor/metrics.h"

#define REF_QUANTILES 1000

typedef struct {
    const char *name; /* owned by the spec, or KDRIFT_PREDICTION */
    int column;       /* feature index, -1 for the prediction */
    drift_ref *ref;
    double *vals; /* ring of cap values; positions are the kdrift's (every feature gets a value
                     per row) */
} tracked;

/* Rows observed during one clock second: the time window drops whole buckets. */
typedef struct {
    int64_t sec;
    size_t rows;
} tbucket;

struct kdrift {
    pthread_mutex_t lock;
    int32_t nf;
    int n;
    tracked *t;
    drift_thresholds th;
    size_t cap, len, head; /* the rows' ring: head is where the next row goes */
    drift_window *scratch; /* the live values of one feature, for scoring */
    uint32_t window_s;     /* 0: no time window */
    kdrift_clock clock;
    void *clock_ctx;
    tbucket *tb; /* ring of buckets, oldest first from tb_head; their rows sum to len */
    size_t tb_cap, tb_len, tb_head;
};

/* ---- building references (kiln import --reference) ------------------------------------ */

static kstatus build_one(const kfeature *f, const double *col, size_t n, drift_ref **ref, kerr *e)
{
    if (f && f->type == KFEAT_CATEGORICAL && f->n_categories > 0)
        return drift_ref_build_categorical(col, n, f->n_categories, ref, e);
    return drift_ref_build(col, n, REF_QUANTILES, ref, e);
}

static kstatus add_ref(json_object *features, const char *name, const kfeature *f,
                       const double *col, size_t n, kerr *e)
{
    drift_ref *ref;
    kstatus st = build_one(f, col, n, &ref, e);
    if (st) {
        kerr_prefix(e, "reference for '%s'", name);
        return st;
    }
    json_object_object_add(features, name, drift_ref_to_json(ref));
    drift_ref_free(ref);
    return K_OK;
}

kstatus kdrift_reference_json(const kspec *s, const double *rows, size_t n, const double *pred,
                              char **out, kerr *e)
{
    double *col = malloc((n ? n : 1) * sizeof *col);
    json_object *doc = json_object_new_object(), *features = json_object_new_object();
    json_object_object_add(doc, "version", json_object_new_int(1));
    json_object_object_add(doc, "rows", json_object_new_int64((int64_t)n));
    json_object_object_add(doc, "features", features);
    kstatus st = col ? K_OK : kerr_set(e, K_NOMEM, "out of memory");
    for (int32_t j = 0; !st && j < s->n_features; j++) {
        for (size_t i = 0; i < n; i++)
            col[i] = rows[i * (size_t)s->n_features + j];
        st = add_ref(features, s->features[j].name, &s->features[j], col, n, e);
    }
    if (!st && pred) st = add_ref(features, KDRIFT_PREDICTION, NULL, pred, n, e);
    if (!st && !(*out = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN))))
        st = kerr_set(e, K_NOMEM, "out of memory");
    json_object_put(doc);
    free(col);
    return st;
}

/* ---- online state ----------------------------------------------------------------------- */

static int column_of(const kspec *s, const char *name)
{
    if (strcmp(name, KDRIFT_PREDICTION) == 0) return -1;
    for (int32_t j = 0; j < s->n_features; j++)
        if (strcmp(s->features[j].name, name) == 0) return j;
    return -2;
}

static kstatus track(kdrift *d, const kspec *s, const char *name, json_object *ref_json, kerr *e)
{
    int col = column_of(s, name);
    if (col == -2)
        return kerr_set(e, K_FORMAT, "drift reference names unknown feature '%.100s'", name);
    tracked *t = &d->t[d->n];
    t->name = col >= 0 ? s->features[col].name : KDRIFT_PREDICTION;
    t->column = col;
    kstatus st = drift_ref_from_json(ref_json, &t->ref, e);
    if (!st && !(t->vals = malloc(d->cap * sizeof *t->vals)))
        st = kerr_set(e, K_NOMEM, "out of memory");
    if (st) {
        drift_ref_free(t->ref);
        return st;
    }
    d->n++;
    return K_OK;
}

static int64_t monotonic_s(void *ctx)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* The ring state: window rows, the scoring scratch, time buckets when window_s > 0. */
static kstatus init_state(kdrift *d, size_t window, uint32_t window_s, size_t max, kerr *e)
{
    kstatus st = drift_window_new(window, &d->scratch, e);
    if (st) return st;
    d->cap = window;
    d->window_s = window_s;
    d->clock = monotonic_s;
    if (window_s) {
        /* after expiry the live seconds are now-window_s..now: at most window_s + 1 buckets */
        d->tb_cap = (size_t)window_s + 1 < window ? (size_t)window_s + 1 : window;
        d->tb_cap++;
        if (!(d->tb = calloc(d->tb_cap, sizeof *d->tb)))
            return kerr_set(e, K_NOMEM, "out of memory");
    }
    if (!(d->t = calloc(max + 1, sizeof *d->t))) return kerr_set(e, K_NOMEM, "out of memory");
    return K_OK;
}

kstatus kdrift_new(const kspec *s, size_t window, uint32_t window_s, kdrift **out, kerr *e)
{
    *out = NULL;
    const char *text = kspec_get_meta(s, "drift_reference");
    if (!text) return K_OK;
    json_object *doc = json_tokener_parse(text), *features;
    if (!doc || !json_object_object_get_ex(doc, "features", &features) ||
        !json_object_is_type(features, json_type_object)) {
        json_object_put(doc);
        return kerr_set(e, K_FORMAT, "the package's drift reference is not valid JSON");
    }
    kdrift *d = calloc(1, sizeof *d);
    size_t max = (size_t)json_object_object_length(features);
    kstatus st =
        d ? init_state(d, window, window_s, max, e) : kerr_set(e, K_NOMEM, "out of memory");
    if (!st) {
        d->nf = s->n_features;
        pthread_mutex_init(&d->lock, NULL);
        drift_thresholds_default(&d->th);
        json_object_object_foreach(features, name, ref)
        {
            if (!st && d->n < (int)max) st = track(d, s, name, ref, e);
        }
    }
    json_object_put(doc);
    if (st) {
        kdrift_free(d);
        return st;
    }
    *out = d;
    return K_OK;
}

void kdrift_set_clock(kdrift *d, kdrift_clock clock, void *ctx)
{
    d->clock = clock ? clock : monotonic_s;
    d->clock_ctx = ctx;
}

void kdrift_free(kdrift *d)
{
    if (!d) return;
    for (int i = 0; i < d->n; i++) {
        drift_ref_free(d->t[i].ref);
        free(d->t[i].vals);
    }
    if (d->t) pthread_mutex_destroy(&d->lock);
    free(d->t);
    free(d->tb);
    drift_window_free(d->scratch);
    free(d);
}

size_t kdrift_len(kdrift *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->len;
    pthread_mutex_unlock(&d->lock);
    return n;
}

static double prediction_stat(const double *v, int32_t nv, int classifier)
{
    if (!classifier) return v[0];
    if (nv == 1) return v[0] >= 0.5 ? v[0] : 1 - v[0]; /* binary: p(class 1) */
    double top = v[0];
    for (int32_t k = 1; k < nv; k++)
        if (v[k] > top) top = v[k];
    return top;
}

/* ---- the time window: whole seconds leave once older than window_s ---------------------- */

static tbucket *bucket_at(kdrift *d, size_t i) /* i-th oldest */
{
    return &d->tb[(d->tb_head + i) % d->tb_cap];
}

static void drop_oldest_bucket(kdrift *d)
{
    d->tb_head = (d->tb_head + 1) % d->tb_cap;
    d->tb_len--;
}

/* Drops the buckets of seconds more than window_s before now, and their rows (the oldest). */
static void expire(kdrift *d, int64_t now)
{
    while (d->tb_len && now - bucket_at(d, 0)->sec > (int64_t)d->window_s) {
        size_t rows = bucket_at(d, 0)->rows;
        d->len -= rows < d->len ? rows : d->len;
        drop_oldest_bucket(d);
    }
}

/* Counts m new rows in the bucket of `now`, then forgets `evicted` rows from the oldest
 * buckets (the rows the ring overwrote). */
static void count_rows(kdrift *d, int64_t now, size_t m, size_t evicted)
{
    tbucket *last = d->tb_len ? bucket_at(d, d->tb_len - 1) : NULL;
    /* same second, a clock that went back, or (never with a monotonic clock) no room left */
    if (last && (now <= last->sec || d->tb_len == d->tb_cap))
        last->rows += m;
    else
        *bucket_at(d, d->tb_len++) = (tbucket){now, m};
    while (evicted && d->tb_len) {
        tbucket *b = bucket_at(d, 0);
        size_t k = b->rows < evicted ? b->rows : evicted;
        b->rows -= k;
        evicted -= k;
        if (!b->rows) drop_oldest_bucket(d);
    }
}

/* ---- observing ------------------------------------------------------------------------- */

/* Writes column `t` of rows first..n-1 into its ring from d->head on. */
static void push_column(const kdrift *d, tracked *t, const double *rows, const double *values,
                        int32_t nv, int classifier, size_t first, size_t n)
{
    size_t pos = d->head;
    for (size_t i = first; i < n; i++) {
        t->vals[pos] = t->column < 0 ? prediction_stat(values + i * (size_t)nv, nv, classifier)
                                     : rows[i * (size_t)d->nf + (size_t)t->column];
        if (++pos == d->cap) pos = 0;
    }
}

void kdrift_observe(kdrift *d, const double *rows, const double *values, int32_t nv, int classifier,
                    size_t n)
{
    if (!n) return;
    size_t first = n > d->cap ? n - d->cap : 0, m = n - first; /* only the last cap rows stay */
    pthread_mutex_lock(&d->lock);
    int64_t now = 0;
    if (d->window_s) {
        now = d->clock(d->clock_ctx);
        expire(d, now);
    }
    for (int k = 0; k < d->n; k++)
        push_column(d, &d->t[k], rows, values, nv, classifier, first, n);
    size_t len = d->len + m > d->cap ? d->cap : d->len + m;
    if (d->window_s) count_rows(d, now, m, d->len + m - len);
    d->head = (d->head + m) % d->cap;
    d->len = len;
    pthread_mutex_unlock(&d->lock);
}

const char *kdrift_family(int which, const char **type, const char **help)
{
    *type = "gauge";
    *help = which ? "Drift verdict of the recent window against the reference: 0 none, 1 "
                    "moderate, 2 significant."
                  : "Drift of the recent window of a feature against its reference, by method "
                    "(psi, js, wasserstein, ks, chi2).";
    return which ? "kiln_feature_drift_status" : "kiln_feature_drift";
}

static void labels_of(buf *b, const char *model, int64_t version, const char *feature)
{
    b->len = 0;
    buf_append_str(b, "model=\"");
    prom_escape(b, model);
    buf_printf(b, "\",version=\"%lld\",feature=\"", (long long)version);
    prom_escape(b, feature);
    buf_append(b, "\"", 1);
}

static void write_scores(buf *out, buf *l, const drift_scores *s)
{
    const char *methods[] = {"psi", "js", "wasserstein", "ks", "chi2"};
    double v[] = {s->psi, s->js, s->wasserstein, s->ks, s->chi2};
    size_t base = l->len;
    for (int m = 0; m < 5; m++) {
        if (isnan(v[m])) continue;
        l->len = base;
        buf_printf(l, ",method=\"%s\"", methods[m]);
        prom_sample(out, "kiln_feature_drift", (const char *)l->data, v[m]);
    }
    l->len = base;
}

/* Scores the live values of t (copied into the scratch window). */
static kstatus score_tracked(kdrift *d, const tracked *t, drift_scores *out)
{
    drift_window_clear(d->scratch);
    size_t pos = (d->head + d->cap - d->len) % d->cap;
    for (size_t i = 0; i < d->len; i++) {
        drift_window_push(d->scratch, t->vals[pos]);
        if (++pos == d->cap) pos = 0;
    }
    return drift_window_score(d->scratch, t->ref, out);
}

void kdrift_write(kdrift *d, int which, const char *model, int64_t version, buf *out)
{
    buf l;
    buf_init(&l, 1024);
    pthread_mutex_lock(&d->lock);
    if (d->window_s) expire(d, d->clock(d->clock_ctx));
    for (int k = 0; d->len && k < d->n; k++) {
        drift_scores s;
        if (score_tracked(d, &d->t[k], &s) != K_OK) continue;
        labels_of(&l, model, version, d->t[k].name);
        if (which == 0)
            write_scores(out, &l, &s);
        else
            prom_sample(out, "kiln_feature_drift_status", (const char *)l.data,
                        (double)drift_verdict(&s, &d->th));
    }
    pthread_mutex_unlock(&d->lock);
    buf_free(&l);
}
