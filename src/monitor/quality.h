/* quality.h — data quality of what a model version is asked to score: per feature, how many
 * values were missing (NaN/null), outside the training range the model package records, or an
 * unseen category (a code outside 0..n_categories-1 of a categorical feature). Counts only;
 * rates are these over kiln_predicted_rows_total. Recording is a few atomic adds per request. */
#ifndef KILN_QUALITY_H
#define KILN_QUALITY_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "model/spec.h"

typedef struct kquality kquality;

/* Counters for the features of `s` (which must outlive the kquality). NULL when out of memory. */
kquality *kquality_new(const kspec *s);
void kquality_free(kquality *q);

/* Counts n rows (row-major, n_features values each) of model input. */
void kquality_observe(kquality *q, const double *rows, size_t n);

/* Appends the samples of one family for one version: which = 0 missing, 1 out of range,
 * 2 unseen category. Labels: model, version, feature. */
void kquality_write(const kquality *q, int which, const char *model, int64_t version, buf *out);

/* The family name and help text of `which`. */
const char *kquality_family(int which, const char **help);

#endif
