/* online.h — online drift for one served model version: reference statistics per feature (and
 * for the prediction distribution) travel in the model package's metadata as
 * "drift_reference" (JSON built by `kiln import --reference DATA.csv`); the server keeps a
 * sliding window of the last N rows per version (optionally also only those of the last T
 * seconds) and scores it against the reference when metrics are scraped (drift.h: PSI,
 * Jensen–Shannon, Wasserstein, KS, chi-square).
 *
 * Observing a batch takes one mutex per version, one clock read (time window only) and one
 * copy of each tracked column into its ring; scoring happens only on scrape. The time window
 * counts rows per clock second (one small bucket per second, not a timestamp per value), so a
 * value leaves between T and T + 1 seconds after it came. The prediction statistic is the top
 * class probability for classifiers and the predicted value for regressors; it is reported as
 * feature "__prediction__". */
#ifndef KILN_ONLINE_H
#define KILN_ONLINE_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "model/spec.h"

typedef struct kdrift kdrift;

#define KDRIFT_PREDICTION "__prediction__"

/* Reference JSON text for the features of `s` from n rows (row-major, n_features values each,
 * NaN missing) and, when pred is not NULL, n prediction statistics. Caller frees the text. */
kstatus kdrift_reference_json(const kspec *s, const double *rows, size_t n, const double *pred,
                              char **out, kerr *e);

/* Online drift state for a version whose spec carries "drift_reference" (else *out = NULL and
 * K_OK). The last `window` rows (1..DRIFT_MAX_WINDOW) are kept; when window_s > 0, rows also
 * leave once more than window_s seconds old (whole clock seconds). */
kstatus kdrift_new(const kspec *s, size_t window, uint32_t window_s, kdrift **out, kerr *e);
void kdrift_free(kdrift *d);

/* A clock in whole seconds that never goes back (default: CLOCK_MONOTONIC); ctx is passed
 * through. kdrift_set_clock (NULL: the default) is for tests; call it before observing. */
typedef int64_t (*kdrift_clock)(void *ctx);
void kdrift_set_clock(kdrift *d, kdrift_clock clock, void *ctx);

/* Rows in the window now (as of the last observe or write). Thread-safe. */
size_t kdrift_len(kdrift *d);

/* Pushes n rows and their predictions (nv values per row: class probabilities, or the value of
 * a regressor). Thread-safe. */
void kdrift_observe(kdrift *d, const double *rows, const double *values, int32_t nv, int classifier,
                    size_t n);

/* Appends one family's samples: which = 0 kiln_feature_drift{…,method}, 1
 * kiln_feature_drift_status (0 none, 1 moderate, 2 significant). */
void kdrift_write(kdrift *d, int which, const char *model, int64_t version, buf *out);
const char *kdrift_family(int which, const char **type, const char **help);

#endif
