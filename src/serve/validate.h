/* validate.h — the input policy a served model applies to every row before scoring: what to do
 * with values outside the training range the package records (flag: only count them in
 * kiln_feature_out_of_range_total, the default; clip to the range; reject the request), with
 * missing values (allow, the default; reject) and with unseen categories (flag; reject).
 * A default rule, overridden per feature name, from kiln.yaml:
 *
 *   validation:
 *     range: flag           # flag | clip | reject
 *     missing: allow        # allow | reject
 *     categories: flag      # flag | reject
 *     features:
 *       age: {range: reject, missing: reject}
 *
 * A rejected request is K_RANGE (422) with a message naming the row, the feature, the value
 * and the limit. Shape, type and finiteness are checked earlier, by the request parsers. */
#ifndef KILN_VALIDATE_H
#define KILN_VALIDATE_H

#include <stddef.h>

#include "base/arena.h"
#include "base/status.h"
#include "model/spec.h"

struct json_object;
typedef struct kvalidate kvalidate;

/* Parses the `validation:` mapping; errors name the key ("validation.features.age.range:
 * expected flag, clip or reject"). Caller frees with kvalidate_free. */
kstatus kvalidate_new(const struct json_object *section, kvalidate **out, kerr *e);
void kvalidate_free(kvalidate *v);

/* Applies the policy to n rows of model `s`. *out is rows itself, or (when a value was clipped)
 * a clipped copy in `mem`. K_RANGE on a rejected value, K_LIMIT when mem is exhausted. */
kstatus kvalidate_rows(const kvalidate *v, const kspec *s, const double *rows, size_t n, arena *mem,
                       const double **out, kerr *e);

#endif
