/* predictor.h — a compiled, immutable model that scores rows.
 *
 * kmodel_new compiles a validated kspec into the layouts the hot loops want (compact tree nodes,
 * float32 thresholds where exact) and keeps the spec for inspection. A kmodel is read-only after
 * creation: any number of threads may call kmodel_predict on it at once. */
#ifndef KILN_PREDICTOR_H
#define KILN_PREDICTOR_H

#include <stddef.h>

#include "model/spec.h"

typedef struct kmodel kmodel;

/* Validates and compiles `spec`. Consumes `spec` (on success and on failure): the model owns
 * it and frees it in kmodel_free. Returns K_OK and *out, or an error in e. */
kstatus kmodel_new(kspec *spec, kmodel **out, kerr *e);
void kmodel_free(kmodel *m);

/* The spec the model was built from; owned by the model. */
const kspec *kmodel_spec(const kmodel *m);

/* Input width: values per row (the spec's features, in schema order). */
int32_t kmodel_n_features(const kmodel *m);
/* Output width: probabilities per row for classifiers (class order), values for regressors. */
int32_t kmodel_n_values(const kmodel *m);
/* Raw score width (margins). */
int32_t kmodel_n_margins(const kmodel *m);

/* Scores n rows. `rows` holds n * n_features doubles, row-major, NaN for a missing value.
 * Writes n * n_values results to `values` and, when `margins` is not NULL, n * n_margins raw
 * scores (base score included, link not applied). Returns K_OK or K_NOMEM. */
kstatus kmodel_predict(const kmodel *m, const double *rows, size_t n, double *values,
                       double *margins);

/* Index of the predicted class for one row of probabilities (first maximum), or -1 for
 * regressors. */
int32_t kmodel_predicted_class(const kmodel *m, const double *values);

#endif
