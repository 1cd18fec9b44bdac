/* online.h — online drift for one served model version: reference statistics per feature (and
 * for the prediction distribution) travel in the model package's metadata as
 * "drift_reference" (JSON built by `kiln import --reference DATA.csv`); the server keeps a
 * sliding window of the last N values per feature and scores it against the reference when
 * metrics are scraped (drift.h: PSI, Jensen–Shannon, Wasserstein, KS, chi-square).
 *
 * Observing takes one mutex per version and N_features + 1 ring pushes per row; scoring happens
 * only on scrape. The prediction statistic is the top class probability for classifiers and
 * the predicted value for regressors; it is reported as feature "__prediction__". */
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
 * K_OK). `window` values are kept per feature. */
kstatus kdrift_new(const kspec *s, size_t window, kdrift **out, kerr *e);
void kdrift_free(kdrift *d);

/* Pushes n rows and their predictions (nv values per row: class probabilities, or the value of
 * a regressor). Thread-safe. */
void kdrift_observe(kdrift *d, const double *rows, const double *values, int32_t nv, int classifier,
                    size_t n);

/* Appends one family's samples: which = 0 kiln_feature_drift{…,method}, 1
 * kiln_feature_drift_status (0 none, 1 moderate, 2 significant). */
void kdrift_write(kdrift *d, int which, const char *model, int64_t version, buf *out);
const char *kdrift_family(int which, const char **type, const char **help);

#endif
