/* report.c — the offline drift report: scores each feature with the drift statistics core
 * (src/monitor/drift.c) and renders the result as JSON and as one self-contained HTML page.
 *
 * Both full samples are at hand, so each column is sorted once here (LSD radix sort on the
 * IEEE bits, NaN dropped, every digit counted in one pass) into buffers a scorer reuses from one
 * feature to the next, and drift.c's *_sorted functions take the sorted samples as they are. The
 * HTML page has inline CSS and inline SVG only, so it opens offline and leaks nothing when mailed
 * around. */
#include "monitor/report.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"

#define RADIX_BITS 11
#define RADIX_SIZE (1u << RADIX_BITS)

/* ---- sorting -------------------------------------------------------------------------------- */

/* Order-preserving map of a non-NaN double to an unsigned key (and back). */
static uint64_t key_of(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return (u >> 63) ? ~u : u | ((uint64_t)1 << 63);
}

static double value_of(uint64_t k)
{
    uint64_t u = (k >> 63) ? k & ~((uint64_t)1 << 63) : ~k;
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

#define RADIX_DIGITS ((64 + RADIX_BITS - 1) / RADIX_BITS)

/* Reusable sorting buffers (see report.h). */
struct report_scratch {
    uint64_t *ref, *cur, *tmp; /* `cap` keys each */
    size_t cap;
    size_t count[RADIX_DIGITS][RADIX_SIZE];
};

report_scratch *report_scratch_new(void)
{
    return calloc(1, sizeof(report_scratch));
}

void report_scratch_free(report_scratch *s)
{
    if (!s) return;
    free(s->ref);
    free(s->cur);
    free(s->tmp);
    free(s);
}

static int scratch_reserve(report_scratch *s, size_t n)
{
    if (n <= s->cap) return 0;
    uint64_t *p[3] = {s->ref, s->cur, s->tmp};
    for (int i = 0; i < 3; i++) {
        uint64_t *g = realloc(p[i], n * sizeof *g);
        if (!g) {
            s->ref = p[0], s->cur = p[1], s->tmp = p[2]; /* the ones grown so far stay valid */
            s->cap = 0;
            return -1;
        }
        p[i] = g;
    }
    s->ref = p[0], s->cur = p[1], s->tmp = p[2];
    s->cap = n;
    return 0;
}

/* Writes the keys of the non-NaN values of x[0..n) to a and counts every digit of them at
 * once; returns how many. */
static size_t load_keys(report_scratch *s, const double *x, size_t n, uint64_t *a)
{
    memset(s->count, 0, sizeof s->count);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) continue;
        uint64_t k = key_of(x[i]);
        a[m++] = k;
        for (int d = 0; d < RADIX_DIGITS; d++)
            s->count[d][(k >> (d * RADIX_BITS)) & (RADIX_SIZE - 1)]++;
    }
    return m;
}

/* Turns digit d's counts into offsets; returns 0 when every key has the same digit (the pass
 * is skipped). */
static int radix_offsets(size_t *count, size_t m)
{
    size_t sum = 0;
    for (unsigned v = 0; v < RADIX_SIZE; v++) {
        if (count[v] == m) return 0;
        size_t c = count[v];
        count[v] = sum;
        sum += c;
    }
    return 1;
}

/* Sorts the non-NaN values of x[0..n) into *out (ascending doubles, stored in place of their
 * keys), using *spare as the other buffer; the two may be swapped. Returns how many. */
static size_t sort_into(report_scratch *s, const double *x, size_t n, uint64_t **out,
                        uint64_t **spare)
{
    uint64_t *a = *out, *b = *spare;
    size_t m = load_keys(s, x, n, a);
    for (int d = 0; d < RADIX_DIGITS; d++) {
        size_t *count = s->count[d];
        if (!radix_offsets(count, m)) continue;
        int shift = d * RADIX_BITS;
        for (size_t i = 0; i < m; i++)
            b[count[(a[i] >> shift) & (RADIX_SIZE - 1)]++] = a[i];
        uint64_t *t = a;
        a = b, b = t;
    }
    double *v = (double *)a; /* same size as uint64_t: convert in place */
    for (size_t i = 0; i < m; i++)
        v[i] = value_of(a[i]);
    *out = a, *spare = b;
    return m;
}

/* ---- scoring -------------------------------------------------------------------------------- */

void report_feature_skip(report_feature *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->reason, sizeof f->reason, fmt, ap);
    va_end(ap);
    f->state = REPORT_SKIPPED;
}

static kstatus fail(report_feature *f, kstatus st, const char *msg)
{
    f->state = REPORT_FAILED;
    snprintf(f->reason, sizeof f->reason, "%.190s", msg);
    return st;
}

/* Current-sample histogram on the reference's bins (the rules drift.c uses). s is sorted, so a
 * value's bin is never below the previous value's and the edge search resumes where it was. */
static void count_current(report_feature *f, const double *s, size_t m)
{
    int k = 0;
    for (size_t i = 0; i < m; i++) {
        if (f->edges) {
            while (k < DRIFT_BINS - 1 && f->edges[k + 1] <= s[i])
                k++;
        } else {
            double v = s[i];
            k = v >= 0 && v < f->n_bins - 1 && v == floor(v) ? (int)v : f->n_bins - 1;
        }
        f->cur_counts[k]++;
    }
}

static kstatus copy_histogram(report_feature *f, const drift_ref *ref)
{
    const int64_t *counts;
    f->n_bins = drift_ref_bins(ref, &counts);
    f->ref_counts = calloc((size_t)f->n_bins, sizeof *f->ref_counts);
    f->cur_counts = calloc((size_t)f->n_bins, sizeof *f->cur_counts);
    const double *edges = drift_ref_edges(ref);
    if (edges) f->edges = malloc((DRIFT_BINS + 1) * sizeof *f->edges);
    if (!f->ref_counts || !f->cur_counts || (edges && !f->edges)) return K_NOMEM;
    memcpy(f->ref_counts, counts, (size_t)f->n_bins * sizeof *counts);
    if (edges) memcpy(f->edges, edges, (DRIFT_BINS + 1) * sizeof *edges);
    return K_OK;
}

static kstatus build_ref(report_feature *f, const double *s, size_t m, drift_ref **ref)
{
    kerr e = {0};
    kstatus st = f->kind == DRIFT_NUMERIC
                     ? drift_ref_build_sorted(s, m, f->n_ref - m, 0, ref, &e)
                     : drift_ref_build_categorical(s, m, f->n_categories, ref, &e);
    if (st) fail(f, st, e.msg);
    return st;
}

/* Scores with the sorted, NaN-free samples sr[0..mr) and sc[0..mc). */
static kstatus score_sorted(report_feature *f, const drift_thresholds *t, const double *sr,
                            size_t mr, const double *sc, size_t mc)
{
    drift_ref *ref = NULL;
    kstatus st = build_ref(f, sr, mr, &ref);
    if (st) return st;
    drift_ref_get_info(ref, &f->info);
    f->info.missing = (int64_t)(f->n_ref - mr);
    drift_score_sorted(ref, sc, mc, f->n_cur - mc, &f->scores);
    if (copy_histogram(f, ref)) {
        drift_ref_free(ref);
        return fail(f, K_NOMEM, "out of memory");
    }
    drift_ref_free(ref);
    count_current(f, sc, mc);
    drift_scores verdict = f->scores;
    if (f->kind == DRIFT_NUMERIC && mc) {
        drift_exact_both_sorted(sr, mr, sc, mc, &f->exact_ks, &f->exact_w);
        f->exact_w /= fmax(f->info.std, DRIFT_STD_FLOOR);
        verdict.ks = f->exact_ks;
        verdict.wasserstein = f->exact_w;
    }
    f->level = drift_verdict(&verdict, t);
    f->state = REPORT_COMPARED;
    return K_OK;
}

kstatus report_feature_score_with(report_feature *f, const drift_thresholds *t, report_scratch *s)
{
    f->exact_ks = f->exact_w = NAN;
    size_t n = (f->n_ref > f->n_cur ? f->n_ref : f->n_cur) + 1;
    if (scratch_reserve(s, n)) return fail(f, K_NOMEM, "out of memory");
    size_t mr = sort_into(s, f->ref, f->n_ref, &s->ref, &s->tmp);
    size_t mc = sort_into(s, f->cur, f->n_cur, &s->cur, &s->tmp);
    if (mr == 0) return report_feature_skip(f, "no value in the reference file"), K_OK;
    return score_sorted(f, t, (const double *)s->ref, mr, (const double *)s->cur, mc);
}

kstatus report_feature_score(report_feature *f, const drift_thresholds *t)
{
    report_scratch *s = report_scratch_new();
    if (!s) {
        f->exact_ks = f->exact_w = NAN;
        return fail(f, K_NOMEM, "out of memory");
    }
    kstatus st = report_feature_score_with(f, t, s);
    report_scratch_free(s);
    return st;
}

void report_feature_free(report_feature *f)
{
    free(f->edges);
    free(f->ref_counts);
    free(f->cur_counts);
    f->edges = NULL;
    f->ref_counts = f->cur_counts = NULL;
}

void report_summarize(report *r)
{
    r->n_compared = r->n_drifted = r->prediction_drift = 0;
    for (int i = 0; i < r->n_features; i++) {
        const report_feature *f = &r->features[i];
        if (f->state != REPORT_COMPARED) continue;
        if (f->model_output) {
            r->prediction_drift |= f->level >= DRIFT_SIGNIFICANT;
            continue;
        }
        r->n_compared++;
        r->n_drifted += f->level >= DRIFT_SIGNIFICANT;
    }
    r->share = r->n_compared ? (double)r->n_drifted / r->n_compared : 0;
    r->dataset_drift = r->n_compared > 0 && r->share >= r->share_threshold;
}

const char *report_feature_verdict(const report_feature *f)
{
    if (f->state == REPORT_SKIPPED) return "skipped";
    if (f->state == REPORT_FAILED) return "failed";
    return f->level == DRIFT_SIGNIFICANT ? "drift"
           : f->level == DRIFT_MODERATE  ? "moderate"
                                         : "no drift";
}

/* ---- JSON ----------------------------------------------------------------------------------- */

static json_object *jnum(double v)
{
    return isfinite(v) ? json_object_new_double(v) : NULL;
}

static json_object *jdoubles(const double *v, int n)
{
    json_object *a = json_object_new_array();
    for (int i = 0; a && i < n; i++)
        json_object_array_add(a, jnum(v[i]));
    return a;
}

static json_object *jcounts(const int64_t *v, int n)
{
    json_object *a = json_object_new_array();
    for (int i = 0; a && i < n; i++)
        json_object_array_add(a, json_object_new_int64(v[i]));
    return a;
}

static void add_scores(json_object *o, const report_feature *f)
{
    const drift_scores *s = &f->scores;
    json_object_object_add(o, "ref_count", json_object_new_int64(f->info.count));
    json_object_object_add(o, "ref_missing", json_object_new_int64(f->info.missing));
    json_object_object_add(o, "cur_count", json_object_new_int64(s->count));
    json_object_object_add(o, "cur_missing", json_object_new_int64(s->missing));
    json_object_object_add(o, "ref_std", jnum(f->info.std));
    json_object_object_add(o, "psi", jnum(s->psi));
    json_object_object_add(o, "js", jnum(s->js));
    json_object_object_add(o, "wasserstein", jnum(s->wasserstein));
    json_object_object_add(o, "ks", jnum(s->ks));
    json_object_object_add(o, "ks_pvalue", jnum(s->ks_pvalue));
    json_object_object_add(o, "chi2", jnum(s->chi2));
    json_object_object_add(o, "exact_ks", jnum(f->exact_ks));
    json_object_object_add(o, "exact_wasserstein", jnum(f->exact_w));
    json_object_object_add(o, "reference_exact", json_object_new_boolean(f->info.exact));
    json_object *h = json_object_new_object();
    if (f->edges) json_object_object_add(h, "edges", jdoubles(f->edges, f->n_bins + 1));
    json_object_object_add(h, "ref_counts", jcounts(f->ref_counts, f->n_bins));
    json_object_object_add(h, "cur_counts", jcounts(f->cur_counts, f->n_bins));
    json_object_object_add(o, "bins", h);
}

static json_object *feature_json(const report_feature *f)
{
    json_object *o = json_object_new_object();
    if (!o) return NULL;
    json_object_object_add(o, "name", json_object_new_string(f->name));
    json_object_object_add(
        o, "type", json_object_new_string(f->kind == DRIFT_NUMERIC ? "numeric" : "categorical"));
    json_object_object_add(o, "verdict", json_object_new_string(report_feature_verdict(f)));
    json_object_object_add(o, "model_output", json_object_new_boolean(f->model_output));
    if (f->state != REPORT_COMPARED) {
        json_object_object_add(o, "reason", json_object_new_string(f->reason));
        return o;
    }
    json_object_object_add(o, "level", json_object_new_string(drift_level_str(f->level)));
    json_object_object_add(o, "drift", json_object_new_boolean(f->level >= DRIFT_SIGNIFICANT));
    add_scores(o, f);
    return o;
}

static json_object *names_json(const char *const *names, int n)
{
    json_object *a = json_object_new_array();
    for (int i = 0; a && i < n; i++)
        json_object_array_add(a, json_object_new_string(names[i]));
    return a;
}

json_object *report_to_json(const report *r)
{
    json_object *o = json_object_new_object(), *fs = json_object_new_array();
    if (!o || !fs) {
        json_object_put(o);
        json_object_put(fs);
        return NULL;
    }
    json_object_object_add(o, "reference", json_object_new_string(r->ref_path));
    json_object_object_add(o, "current", json_object_new_string(r->cur_path));
    json_object_object_add(o, "reference_rows", json_object_new_int64((int64_t)r->ref_rows));
    json_object_object_add(o, "current_rows", json_object_new_int64((int64_t)r->cur_rows));
    json_object_object_add(o, "dataset_drift", json_object_new_boolean(r->dataset_drift));
    json_object_object_add(o, "drift_share", json_object_new_double(r->share));
    json_object_object_add(o, "share_threshold", json_object_new_double(r->share_threshold));
    json_object_object_add(o, "n_compared", json_object_new_int(r->n_compared));
    json_object_object_add(o, "n_drifted", json_object_new_int(r->n_drifted));
    json_object_object_add(o, "model", r->model ? json_object_new_string(r->model) : NULL);
    if (r->model)
        json_object_object_add(o, "prediction_drift", json_object_new_boolean(r->prediction_drift));
    for (int i = 0; i < r->n_features; i++)
        json_object_array_add(fs, feature_json(&r->features[i]));
    json_object_object_add(o, "features", fs);
    json_object_object_add(o, "only_in_reference", names_json(r->only_ref, r->n_only_ref));
    json_object_object_add(o, "only_in_current", names_json(r->only_cur, r->n_only_cur));
    return o;
}

/* ---- HTML ----------------------------------------------------------------------------------- */

#define SVG_W 640
#define SVG_H 220
#define PLOT_L 50
#define PLOT_B 180
#define PLOT_T 20

static kstatus html_escaped(buf *b, const char *s)
{
    kstatus st = K_OK;
    for (; *s && !st; s++) {
        const char *rep = *s == '<'    ? "&lt;"
                          : *s == '>'  ? "&gt;"
                          : *s == '&'  ? "&amp;"
                          : *s == '"'  ? "&quot;"
                          : *s == '\'' ? "&#39;"
                                       : NULL;
        st = rep ? buf_append_str(b, rep) : buf_append(b, s, 1);
    }
    return st;
}

/* A score for the table: shortest round-trip digits, "–" for NaN. */
static kstatus html_num(buf *b, double v)
{
    char num[32];
    if (isnan(v)) return buf_append_str(b, "<td>–</td>");
    int len = num_format_shortest(v, num);
    return buf_printf(b, "<td>%.*s</td>", len > 10 ? 10 : len, num);
}

static const char *const style =
    "<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;"
    "text-align:right}th{background:#f3f3f3}td:first-child{text-align:left}"
    ".drift{color:#b00;font-weight:bold}.ok{color:#070}.plot{display:inline-block;"
    "margin:1em}svg text{font-size:11px}</style>";

static kstatus html_head(const report *r, buf *b)
{
    kstatus st = buf_append_str(b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
                                   "charset=\"utf-8\"><title>Kiln drift report</title>");
    if (!st) st = buf_append_str(b, style);
    if (!st) st = buf_append_str(b, "</head><body><h1>Drift report</h1><p>Reference: <code>");
    if (!st) st = html_escaped(b, r->ref_path);
    if (!st) st = buf_printf(b, "</code> (%zu rows) &middot; current: <code>", r->ref_rows);
    if (!st) st = html_escaped(b, r->cur_path);
    if (!st)
        st = buf_printf(b,
                        "</code> (%zu rows)</p><h2 class=\"%s\">%s: %d of %d features drifted "
                        "(share %.3f, threshold %.3f)</h2>\n",
                        r->cur_rows, r->dataset_drift ? "drift" : "ok",
                        r->dataset_drift ? "Dataset drift" : "No dataset drift", r->n_drifted,
                        r->n_compared, r->share, r->share_threshold);
    if (!st && r->model) st = buf_append_str(b, "<p>Model: <code>");
    if (!st && r->model) st = html_escaped(b, r->model);
    if (!st && r->model)
        st = buf_printf(b, "</code> &middot; <span class=\"%s\">%s</span></p>\n",
                        r->prediction_drift ? "drift" : "ok",
                        r->prediction_drift ? "prediction drift" : "no prediction drift");
    return st;
}

static kstatus html_row(const report_feature *f, buf *b)
{
    kstatus st = buf_append_str(b, "<tr><td>");
    if (!st) st = html_escaped(b, f->name);
    if (!st)
        st =
            buf_printf(b, "</td><td>%s</td>", f->kind == DRIFT_NUMERIC ? "numeric" : "categorical");
    if (f->state != REPORT_COMPARED) {
        if (!st) st = buf_printf(b, "<td colspan=\"6\">%s: ", report_feature_verdict(f));
        if (!st) st = html_escaped(b, f->reason);
        return st ? st : buf_append_str(b, "</td></tr>\n");
    }
    double ks = isnan(f->exact_ks) ? f->scores.ks : f->exact_ks;
    double w = isnan(f->exact_w) ? f->scores.wasserstein : f->exact_w;
    const double v[] = {f->scores.psi, f->scores.js, w, ks, f->scores.ks_pvalue};
    for (size_t i = 0; i < sizeof v / sizeof *v && !st; i++)
        st = html_num(b, v[i]);
    if (!st)
        st = buf_printf(b, "<td class=\"%s\">%s</td></tr>\n",
                        f->level >= DRIFT_SIGNIFICANT ? "drift" : "ok", report_feature_verdict(f));
    return st;
}

static kstatus html_table(const report *r, buf *b)
{
    kstatus st = buf_append_str(b, "<table><tr><th>feature</th><th>type</th><th>PSI</th>"
                                   "<th>JS</th><th>Wasserstein (norm.)</th><th>KS</th>"
                                   "<th>KS p-value</th><th>verdict</th></tr>\n");
    for (int i = 0; i < r->n_features && !st; i++)
        st = html_row(&r->features[i], b);
    if (!st) st = buf_append_str(b, "</table>\n");
    for (int i = 0; i < r->n_only_ref && !st; i++) {
        st = buf_append_str(b, "<p>Only in the reference file: ");
        if (!st) st = html_escaped(b, r->only_ref[i]);
        if (!st) st = buf_append_str(b, "</p>\n");
    }
    for (int i = 0; i < r->n_only_cur && !st; i++) {
        st = buf_append_str(b, "<p>Only in the current file: ");
        if (!st) st = html_escaped(b, r->only_cur[i]);
        if (!st) st = buf_append_str(b, "</p>\n");
    }
    return st;
}

/* Largest bin share of either sample, for the y scale. */
static double max_share(const report_feature *f)
{
    double top = 1e-12, nr = (double)f->info.count, nc = (double)f->scores.count;
    for (int k = 0; k < f->n_bins; k++) {
        top = fmax(top, (double)f->ref_counts[k] / nr);
        if (nc > 0) top = fmax(top, (double)f->cur_counts[k] / nc);
    }
    return top;
}

static kstatus svg_bars(const report_feature *f, buf *b)
{
    double slot = (double)(SVG_W - PLOT_L - 10) / f->n_bins, top = max_share(f);
    double scale = (PLOT_B - PLOT_T) / top, nr = (double)f->info.count;
    double nc = f->scores.count ? (double)f->scores.count : 1;
    kstatus st = K_OK;
    for (int k = 0; k < f->n_bins && !st; k++) {
        double x = PLOT_L + k * slot, hr = f->ref_counts[k] / nr * scale;
        double hc = f->cur_counts[k] / nc * scale;
        st = buf_printf(b,
                        "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                        "fill=\"#4c78a8\" fill-opacity=\"0.75\"/><rect x=\"%.1f\" y=\"%.1f\" "
                        "width=\"%.1f\" height=\"%.1f\" fill=\"#f58518\" fill-opacity=\"0.75\"/>",
                        x + slot * 0.1, PLOT_B - hr, slot * 0.4, hr, x + slot * 0.5, PLOT_B - hc,
                        slot * 0.4, hc);
    }
    return st;
}

/* x-axis labels: the bin edges (numeric) or the category codes. */
static kstatus svg_labels(const report_feature *f, buf *b)
{
    double slot = (double)(SVG_W - PLOT_L - 10) / f->n_bins;
    char num[32];
    kstatus st = K_OK;
    int step = f->n_bins > 20 ? f->n_bins / 10 : 1;
    for (int k = 0; k <= f->n_bins && !st; k += step) {
        if (!f->edges && k == f->n_bins) break;
        double x = PLOT_L + (f->edges ? k : k + 0.5) * slot;
        int len;
        if (f->edges)
            len = num_format_shortest(f->edges[k], num);
        else if (k == f->n_bins - 1)
            len = snprintf(num, sizeof num, "other");
        else
            len = snprintf(num, sizeof num, "%d", k);
        st = buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.*s</text>", x,
                        PLOT_B + 15 + (f->edges ? (k % 2) * 12 : 0), len > 7 ? 7 : len, num);
    }
    return st;
}

static kstatus svg_plot(const report_feature *f, buf *b)
{
    kstatus st = buf_append_str(b, "<div class=\"plot\"><h3>");
    if (!st) st = html_escaped(b, f->name);
    if (!st)
        st = buf_printf(b,
                        " <small class=\"%s\">%s</small></h3><svg "
                        "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\">",
                        f->level >= DRIFT_SIGNIFICANT ? "drift" : "ok", report_feature_verdict(f),
                        SVG_W, SVG_H, SVG_W, SVG_H);
    if (!st)
        st = buf_printf(b,
                        "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/>"
                        "<text x=\"%d\" y=\"12\">share per %s bin</text>",
                        PLOT_L, PLOT_B, SVG_W - 10, PLOT_B, PLOT_L,
                        f->edges ? "reference-decile" : "category");
    if (!st) st = svg_bars(f, b);
    if (!st) st = svg_labels(f, b);
    if (!st)
        st = buf_printf(b,
                        "<rect x=\"%d\" y=\"4\" width=\"10\" height=\"10\" fill=\"#4c78a8\"/>"
                        "<text x=\"%d\" y=\"13\">reference</text><rect x=\"%d\" y=\"4\" "
                        "width=\"10\" height=\"10\" fill=\"#f58518\"/><text x=\"%d\" "
                        "y=\"13\">current</text></svg></div>\n",
                        SVG_W - 170, SVG_W - 156, SVG_W - 85, SVG_W - 71);
    return st;
}

kstatus report_to_html(const report *r, buf *out)
{
    kstatus st = html_head(r, out);
    if (!st) st = html_table(r, out);
    for (int i = 0; i < r->n_features && !st; i++)
        if (r->features[i].state == REPORT_COMPARED) st = svg_plot(&r->features[i], out);
    if (!st) st = buf_append_str(out, "</body></html>\n");
    return st;
}
