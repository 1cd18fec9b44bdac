/* drift.h — data drift statistics: reference statistics of one feature, and scores of a current
 * sample against them (PSI, Jensen-Shannon, Wasserstein-1, KS, chi-square).
 *
 * Pure computation, no I/O. A reference (drift_ref) is built once from a reference sample and
 * stored as JSON in a model package or registry version; the server then scores a sliding
 * window (drift_window) against it, and the offline report can use the exact two-sample
 * functions when both full samples are at hand. Methods, formulas, binning, tolerances and
 * thresholds: docs/drift.md. Missing values are NaN: ignored by every statistic and counted. */
#ifndef KILN_DRIFT_H
#define KILN_DRIFT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "base/status.h"

#define DRIFT_BINS 10                /* PSI / JS bins for numeric features: reference deciles */
#define DRIFT_DEFAULT_QUANTILES 1000 /* quantile sketch size for KS and Wasserstein */
#define DRIFT_MAX_QUANTILES 100000   /* upper bound accepted from callers and from JSON */
#define DRIFT_MAX_CATEGORIES 4096    /* categorical codes 0..K-1, plus one "other" bucket */
#define DRIFT_PSI_EPS 0.0001         /* a zero bin share is replaced by this (as Evidently) */
#define DRIFT_STD_FLOOR 0.001        /* Wasserstein is divided by max(std, this) (as Evidently) */
#define DRIFT_MAX_WINDOW (1u << 24)  /* largest drift_window capacity */
#define DRIFT_MAX_JSON (64u << 20)   /* largest reference JSON text accepted */

typedef enum { DRIFT_NUMERIC, DRIFT_CATEGORICAL } drift_kind;

/* Opaque reference statistics of one feature; immutable once built, so one reference may be
 * read by many threads at once. */
typedef struct drift_ref drift_ref;

/* Summary of a reference, for reports and data-quality checks. For categorical references
 * mean/std/min/max are NaN. */
typedef struct {
    drift_kind kind;
    int64_t count;              /* non-missing values */
    int64_t missing;            /* NaN values seen */
    double mean, std, min, max; /* std is the population one (ddof = 0) */
    int n_quantiles;            /* stored quantile points (numeric) */
    int exact;                  /* 1 when the stored quantiles are the whole sorted sample */
    int n_categories; /* categorical: codes 0..n_categories-1; the "other" bucket is extra */
} drift_ref_info;

/* Builds the reference of a numeric feature from x[0..n) (NaN = missing). n_quantiles (2 to
 * DRIFT_MAX_QUANTILES; 0 means DRIFT_DEFAULT_QUANTILES) is the sketch size; when the sample
 * has no more non-missing values than that, the whole sorted sample is kept and KS and
 * Wasserstein become exact. Infinite values are refused (K_RANGE), as is a sample with no
 * non-missing value (K_INVALID). On success *out is the caller's (drift_ref_free). */
kstatus drift_ref_build(const double *x, size_t n, int n_quantiles, drift_ref **out, kerr *e);

/* drift_ref_build on values the caller has already sorted ascending, without NaN: s[0..m),
 * with `missing` NaN values left out (counted only). Nothing is copied but the reference. */
kstatus drift_ref_build_sorted(const double *s, size_t m, size_t missing, int n_quantiles,
                               drift_ref **out, kerr *e);

/* Builds the reference of a categorical feature whose values are integer codes
 * 0..n_categories-1 (1 to DRIFT_MAX_CATEGORIES); any other non-NaN value counts in the "other"
 * bucket. On success *out is the caller's (drift_ref_free). */
kstatus drift_ref_build_categorical(const double *x, size_t n, int n_categories, drift_ref **out,
                                    kerr *e);

/* Frees a reference; NULL is fine. */
void drift_ref_free(drift_ref *r);

/* Fills *info with the reference's summary. */
void drift_ref_get_info(const drift_ref *r, drift_ref_info *info);

/* Reference bin counts: DRIFT_BINS decile bins for numeric features, n_categories + 1 (last =
 * "other") for categorical ones. Returns the number of bins and points *counts at storage the
 * reference owns. */
int drift_ref_bins(const drift_ref *r, const int64_t **counts);

/* Numeric only: the DRIFT_BINS + 1 bin edges (min, the nine deciles, max), owned by the
 * reference; NULL for categorical references. A value v falls in bin
 * #{k in 1..9 : edges[k] <= v}. */
const double *drift_ref_edges(const drift_ref *r);

/* Returns a new JSON object describing the reference (schema in docs/drift.md); the caller
 * owns the reference count (json_object_put), NULL when out of memory. Doubles round-trip. */
json_object *drift_ref_to_json(const drift_ref *r);

/* Rebuilds a reference from untrusted JSON: sizes, types, finiteness, monotone edges and
 * quantiles and count consistency are checked (K_FORMAT / K_LIMIT otherwise). Does not take
 * `o`. On success *out is the caller's. */
kstatus drift_ref_from_json(const json_object *o, drift_ref **out, kerr *e);

/* Text forms of the two above. drift_ref_to_text returns a malloc'd NUL-terminated string
 * (caller frees) or NULL when out of memory; drift_ref_from_text parses text[0..len) (at most
 * DRIFT_MAX_JSON bytes, nesting limited). */
char *drift_ref_to_text(const drift_ref *r);
kstatus drift_ref_from_text(const char *text, size_t len, drift_ref **out, kerr *e);

/* Scores of a current sample against a reference; NaN where a method does not apply (KS,
 * Wasserstein on categorical features; chi2 on numeric ones) or the current sample has no
 * non-missing value. */
typedef struct {
    double psi;         /* population stability index over the reference bins */
    double js;          /* Jensen-Shannon distance, base 2, over the same bins: 0..1 */
    double wasserstein; /* W1 / max(reference std, DRIFT_STD_FLOOR) */
    double ks;          /* Kolmogorov-Smirnov statistic: max |F_ref - F_cur| */
    double ks_pvalue;   /* asymptotic two-sample Kolmogorov p-value for ks */
    double chi2;        /* Pearson chi-square of current counts vs reference shares */
    int64_t count;      /* non-missing current values */
    int64_t missing;    /* NaN current values */
} drift_scores;

/* Scores cur[0..n) against ref. Allocates a sorted copy of the current values (freed before
 * returning). Returns K_OK, or K_NOMEM. */
kstatus drift_score(const drift_ref *ref, const double *cur, size_t n, drift_scores *out);

/* drift_score on sorted, NaN-free current values s[0..m) (`missing` NaN values left out);
 * allocates nothing. */
void drift_score_sorted(const drift_ref *ref, const double *s, size_t m, size_t missing,
                        drift_scores *out);

/* Thresholds of the per-feature verdict; a method whose threshold is <= 0 or NaN is not used.
 * A score at or above its threshold flags drift (for ks_pvalue: a p-value below it does). */
typedef struct {
    double psi_moderate;    /* 0.1 */
    double psi_significant; /* 0.25 */
    double js;              /* 0.1 */
    double wasserstein;     /* 0.1 (normalised) */
    double ks_pvalue;       /* 0 = off: on large windows any tiny shift is "significant" */
    double chi2;            /* 0 = off: the statistic grows with the window size */
} drift_thresholds;

typedef enum { DRIFT_NONE = 0, DRIFT_MODERATE = 1, DRIFT_SIGNIFICANT = 2 } drift_level;

/* Evidently-compatible defaults (values in the comments above). */
void drift_thresholds_default(drift_thresholds *t);

/* Per-feature verdict: DRIFT_SIGNIFICANT when PSI >= psi_significant or any other enabled
 * method crosses its threshold, DRIFT_MODERATE when only PSI >= psi_moderate, else
 * DRIFT_NONE. NaN scores never flag. */
drift_level drift_verdict(const drift_scores *s, const drift_thresholds *t);

/* Returns "none", "moderate" or "significant". */
const char *drift_level_str(drift_level l);

/* Exact two-sample statistics of a[0..na) and b[0..nb) (NaN values are dropped first; NaN
 * when either side has no value left or out of memory):
 * drift_exact_ks is scipy.stats.ks_2samp's statistic, drift_exact_wasserstein is
 * scipy.stats.wasserstein_distance (unnormalised). */
double drift_exact_ks(const double *a, size_t na, const double *b, size_t nb);
double drift_exact_wasserstein(const double *a, size_t na, const double *b, size_t nb);

/* The two above on sorted, NaN-free samples (nothing copied); NaN when either is empty. */
double drift_exact_ks_sorted(const double *a, size_t na, const double *b, size_t nb);
double drift_exact_wasserstein_sorted(const double *a, size_t na, const double *b, size_t nb);

/* Both of the two above from one merge of the sorted, NaN-free samples (the same doubles as
 * the two calls give); both NaN when either sample is empty. */
void drift_exact_both_sorted(const double *a, size_t na, const double *b, size_t nb, double *ks,
                             double *w);

/* Jensen-Shannon distance, base 2, of two histograms p[0..k), q[0..k) of non-negative counts
 * (each normalised to sum 1 first), as scipy.spatial.distance.jensenshannon(p, q, base=2).
 * NaN when a histogram sums to 0 or has a negative entry. */
double drift_js_counts(const double *p, const double *q, size_t k);

/* A sliding window of the last `capacity` values of one feature. Not thread-safe: the caller
 * serialises drift_window_push and drift_window_score (one mutex per window). */
typedef struct drift_window drift_window;

/* Creates a window of capacity 1..DRIFT_MAX_WINDOW; memory is allocated once, here (the values
 * and a scoring scratch array). On success *out is the caller's (drift_window_free). */
kstatus drift_window_new(size_t capacity, drift_window **out, kerr *e);
void drift_window_free(drift_window *w);

/* Appends v (NaN counts as missing), evicting the oldest value once full. O(1). */
void drift_window_push(drift_window *w, double v);

/* Number of values held (missing ones included). */
size_t drift_window_len(const drift_window *w);

/* Empties the window. */
void drift_window_clear(drift_window *w);

/* Scores the window's values against ref, as drift_score would; uses the window's scratch
 * array, so it allocates nothing. Returns K_OK. */
kstatus drift_window_score(drift_window *w, const drift_ref *ref, drift_scores *out);

#endif
