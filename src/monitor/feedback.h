/* feedback.h — ground truth joined with the predictions it is about, and the online quality
 * metrics of each model version over its most recent joined pairs.
 *
 * One kfeedback belongs to one served model version. The predict path remembers what it
 * answered under the request id (kfeedback_remember: a sharded, bounded table; the oldest entry
 * of a shard is overwritten when it is full, entries older than window_s are expired); when the
 * truth for that request arrives (POST /feedback), kfeedback_label joins it with the
 * prediction and pushes the (prediction, truth) pair into a ring of the last max_pairs pairs.
 * The metrics are computed from that ring when asked for (a scrape), with scikit-learn 1.2's
 * definitions: see docs/feedback.md for formulas, edge cases and what "equal" means.
 *
 * A kfeedback_hub holds the kfeedback of every version served, so POST /feedback, which names a
 * request id but not always a model, can find the version that answered: it asks each version
 * (optionally only those of the model named in the body). Versions are added and never removed
 * (like metric series: an unloaded version keeps its numbers) up to KFEEDBACK_HUB_MAX.
 *
 * Thread safety: everything here may be called from any thread at once. */
#ifndef KILN_FEEDBACK_H
#define KILN_FEEDBACK_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/status.h"

#define KFEEDBACK_ID_MAX 64              /* longest request id remembered (server ids: 64) */
#define KFEEDBACK_MAX_CLASSES 4096       /* classifiers with more classes get no feedback */
#define KFEEDBACK_MAX_PENDING (1u << 24) /* largest max_pending */
#define KFEEDBACK_MAX_PAIRS (1u << 22)   /* largest max_pairs */
#define KFEEDBACK_DEFAULT_PENDING 100000
#define KFEEDBACK_DEFAULT_WINDOW_S 3600
#define KFEEDBACK_DEFAULT_PAIRS 10000
#define KFEEDBACK_HUB_MAX 1024 /* model versions one hub tracks */

typedef struct kfeedback kfeedback;
typedef struct kfeedback_hub kfeedback_hub;

/* What became of one piece of feedback. */
typedef enum {
    KFB_JOINED,    /* joined with its prediction */
    KFB_UNKNOWN,   /* no remembered prediction: never made, evicted or expired */
    KFB_DUPLICATE, /* that request already got its feedback */
    KFB_INVALID,   /* the truth does not fit the model (no such class, non-finite value) */
    KFB__COUNT
} kfeedback_outcome;

/* Online metrics over the pairs in the window. A metric that does not apply to the model
 * (accuracy of a regressor, MAE of a classifier) or is undefined on the window (no pairs; ROC
 * AUC with one class only) is NaN. */
typedef struct {
    int64_t n;                                    /* pairs in the window */
    uint64_t joined, unknown, duplicate, invalid; /* feedback counts since creation */
    double accuracy, precision, recall, f1;       /* binary: class 1 positive; else macro */
    double log_loss, roc_auc;                     /* roc_auc multiclass: macro one-vs-rest */
    double mae, rmse;                             /* regressors */
} kfeedback_stats;

/* Creates the feedback state of one version; NULL when out of memory or on bad arguments.
 * max_pending: predictions remembered (0 → KFEEDBACK_DEFAULT_PENDING, at most
 * KFEEDBACK_MAX_PENDING); window_s: how long one is remembered (0 → KFEEDBACK_DEFAULT_WINDOW_S);
 * max_pairs: joined pairs the metrics look at (0 → KFEEDBACK_DEFAULT_PAIRS, at most
 * KFEEDBACK_MAX_PAIRS); n_classes: 0 for a regressor, else 2..KFEEDBACK_MAX_CLASSES;
 * class_labels: NULL or n_classes strings, copied. Memory grows with use up to the bounds.
 * Caller frees with kfeedback_free (a hub frees its own). */
kfeedback *kfeedback_new(size_t max_pending, uint32_t window_s, size_t max_pairs, int n_classes,
                         const char *const *class_labels);
void kfeedback_free(kfeedback *f);

/* Remembers the prediction answered for request_id: n_values class probabilities in class
 * order (classifier; a binary classifier may give 1 value, p(class 1)) or the value
 * (regressor, n_values = 1). Other widths, an empty id or one longer than KFEEDBACK_ID_MAX are
 * ignored. Cheap: one shard lock, no allocation once the shard has grown. */
void kfeedback_remember(kfeedback *f, const char *request_id, const double *values, int n_values);

/* Remembers the n_rows predictions of one request: a single row under request_id, rows of a
 * batch under "<request_id>:<row index>" (row index from 0), so each can get its own feedback.
 * A batch reads the clock once, hashes request_id once and takes each shard's lock once per 64
 * rows. */
void kfeedback_remember_rows(kfeedback *f, const char *request_id, const double *values,
                             int n_values, size_t n_rows);

/* Joins the truth for request_id. Classifiers: when every class label is a number, `label` is
 * matched against those numbers (labels "0","1": label 1 is class "1"; labels "2","4": label 4
 * is the second class); otherwise (string labels, or none) `label` is the class index
 * 0..n_classes-1. Regressors: `label` is the true value. Returns K_OK (joined), K_NOTFOUND
 * (unknown or expired), K_EXISTS (already got feedback), K_INVALID (does not fit the model);
 * counts the outcome. */
kstatus kfeedback_label(kfeedback *f, const char *request_id, double label, kerr *e);

/* Like kfeedback_label with the class label as text ("setosa"); a text that matches no label
 * but is a number is taken as kfeedback_label would take that number. */
kstatus kfeedback_label_text(kfeedback *f, const char *request_id, const char *label, kerr *e);

/* Computes the metrics over the current window (a copy is taken, the window is not held while
 * computing). K_OK or K_NOMEM. */
kstatus kfeedback_metrics(kfeedback *f, kfeedback_stats *out);

/* Metric families, for writing # HELP / # TYPE once per scrape: returns the name of family
 * `which` (0..KFEEDBACK_FAMILIES-1) and its type and help text; NULL past the end. Families
 * 0..7 are the gauges kiln_model_accuracy, _precision, _recall, _f1, _log_loss, _roc_auc,
 * _mae, _rmse; 8 the gauge kiln_feedback_window_pairs; 9 the counter
 * kiln_feedback_total{outcome="joined|unknown|duplicate|invalid"}. */
#define KFEEDBACK_FAMILIES 10
const char *kfeedback_family(int which, const char **type, const char **help);

/* Appends the samples (no # lines) of family `which` (< 0: every family) for one version,
 * labelled model="…",version="…" (version "" when 0), from stats computed by
 * kfeedback_metrics; NaN metrics are left out. */
void kfeedback_write_stats(const kfeedback_stats *s, int which, const char *model, int64_t version,
                           buf *out);

/* Standalone convenience: families with their # lines, then this version's samples. Use the
 * hub (kfeedback_hub_write) when several versions share one exposition. */
void kfeedback_write(kfeedback *f, const char *model, int64_t version, buf *out);

/* ---- hub: every served version's kfeedback ---- */

/* Creates a hub whose kfeedback all use these bounds (0 → defaults, as kfeedback_new). NULL
 * when out of memory. Caller frees with kfeedback_hub_free, which frees every kfeedback. */
kfeedback_hub *kfeedback_hub_new(size_t max_pending, uint32_t window_s, size_t max_pairs);
void kfeedback_hub_free(kfeedback_hub *h);

/* The kfeedback of (model, version), created on first call with n_classes / class_labels (see
 * kfeedback_new); later calls return the same one. NULL when the hub is full, on bad
 * arguments or out of memory (that version then gets no feedback). Valid until the hub is
 * freed. Call once per loaded version, not per request. */
kfeedback *kfeedback_hub_get(kfeedback_hub *h, const char *model, int64_t version, int n_classes,
                             const char *const *class_labels);

/* Joins one piece of feedback: asks every version (of `model` only, when model is not NULL
 * or "") for request_id, newest version first. Truth is label_text when not NULL, else
 * `label`. Counts the outcome: in the version that knew the id, or, for KFB_UNKNOWN, in the
 * hub's own series (model=""). */
kfeedback_outcome kfeedback_hub_label(kfeedback_hub *h, const char *model, const char *request_id,
                                      const char *label_text, double label);

/* Appends all feedback families, each with its # HELP / # TYPE once, with the samples of every
 * version in the hub, to a /metrics exposition. Metrics are computed here (O(n log n) in the
 * window per version): call it from the scrape, not the hot path. */
void kfeedback_hub_write(kfeedback_hub *h, buf *out);

#endif
