/* report.h — the offline drift report: per-feature scores of a current sample against a
 * reference sample when both are held in full (columns of float64, NaN = missing), the
 * dataset verdict, and the report's JSON and self-contained HTML forms.
 *
 * Pure computation and formatting, no I/O and no printing: callers (src/cli/cmd_drift.c) load
 * the columns, run report_feature_score on each feature (features are independent, so one
 * thread per feature is safe), call report_summarize, then render. Methods: docs/drift.md. */
#ifndef KILN_REPORT_H
#define KILN_REPORT_H

#include <stddef.h>

#include <json-c/json.h>

#include "base/buf.h"
#include "base/status.h"
#include "monitor/drift.h"

#define REPORT_MAX_HTML ((size_t)256 << 20) /* largest HTML document rendered */

typedef enum { REPORT_COMPARED, REPORT_SKIPPED, REPORT_FAILED } report_state;

/* One feature. The caller fills name, kind, n_categories (categorical only), ref/cur and
 * their lengths; report_feature_score fills the rest. The columns stay the caller's. */
typedef struct {
    const char *name;
    drift_kind kind;
    int n_categories;
    const double *ref, *cur;
    size_t n_ref, n_cur;
    int model_output; /* 1: a model's prediction or confidence, not an input column; such
                         entries are left out of the dataset drift share */

    report_state state;
    char reason[200];    /* skipped / failed: why */
    drift_ref_info info; /* the reference summary */
    drift_scores scores; /* drift_score's (sketch KS / Wasserstein on large references) */
    double exact_ks;     /* drift_exact_ks, NaN for categorical features */
    double exact_w;      /* drift_exact_wasserstein / max(ref std, DRIFT_STD_FLOOR), or NaN */
    drift_level level;   /* drift_verdict on the scores with the exact KS / W substituted */
    int n_bins;          /* histogram: DRIFT_BINS deciles, or categories + "other" */
    double *edges;       /* numeric: n_bins + 1 edges; NULL for categorical */
    int64_t *ref_counts, *cur_counts; /* n_bins each */
} report_feature;

/* Marks f skipped with a printf-style reason. */
void report_feature_skip(report_feature *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Scores one feature with thresholds t: builds the reference, scores the current column,
 * computes the exact two-sample statistics and the histogram. Allocates the histogram arrays
 * (report_feature_free releases them). On failure state is REPORT_FAILED with a reason;
 * returns K_OK or the failure's status. */
kstatus report_feature_score(report_feature *f, const drift_thresholds *t);

/* Sorting buffers one thread reuses from one feature to the next, so scoring many large
 * features does not allocate (and fault in) fresh memory for each. Not shareable between
 * threads. */
typedef struct report_scratch report_scratch;
report_scratch *report_scratch_new(void); /* NULL when out of memory */
void report_scratch_free(report_scratch *s);

/* report_feature_score with the buffers of s (grown as needed). */
kstatus report_feature_score_with(report_feature *f, const drift_thresholds *t, report_scratch *s);

/* Frees what report_feature_score allocated (not the columns). */
void report_feature_free(report_feature *f);

/* The whole report. The caller owns every array and string it points to. */
typedef struct {
    const char *ref_path, *cur_path;
    size_t ref_rows, cur_rows;
    report_feature *features;
    int n_features;
    const char *const *only_ref; /* column names present in one file only */
    int n_only_ref;
    const char *const *only_cur;
    int n_only_cur;
    double share_threshold; /* dataset drift when share >= this (Evidently: 0.5) */
    const char *model;      /* the model whose outputs are compared, or NULL */
    /* filled by report_summarize */
    int n_compared, n_drifted;
    double share;
    int dataset_drift;
    int prediction_drift; /* a model output drifted (level >= DRIFT_SIGNIFICANT) */
} report;

/* Counts compared and drifted input features (level >= DRIFT_SIGNIFICANT) and sets the dataset
 * verdict; model outputs only set prediction_drift. */
void report_summarize(report *r);

/* Returns the feature's verdict word: "drift", "moderate", "no drift", "skipped", "failed". */
const char *report_feature_verdict(const report_feature *f);

/* Returns a new JSON document of the report (caller json_object_put), NULL when out of
 * memory. NaN scores are null. */
json_object *report_to_json(const report *r);

/* Appends a self-contained HTML document (inline CSS and SVG, no external reference) to out:
 * the verdict, the table and one histogram per compared feature. K_OK, K_LIMIT or K_NOMEM. */
kstatus report_to_html(const report *r, buf *out);

#endif
