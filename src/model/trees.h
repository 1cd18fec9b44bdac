/* trees.h — tree-ensemble evaluation (internal to src/model).
 *
 * trees_compile turns a ktrees description into an evaluation plan: a compact node layout for
 * ensembles made only of numeric splits, and the general node walk otherwise. */
#ifndef KILN_TREES_H
#define KILN_TREES_H

#include <stddef.h>

#include "model/spec.h"

typedef struct trees_compiled trees_compiled;

/* Compiles `t`; `base_score` (t->n_out values, may be NULL) seeds every row's scores. The
 * compiled form borrows nothing from `t` after it returns... except leaf vectors and category
 * words, which stay owned by the spec (the spec outlives it inside kmodel). */
kstatus trees_compile(const ktrees *t, const double *base_score, trees_compiled **out, kerr *e);
void trees_free(trees_compiled *c);

/* Writes n * n_out scores (base score included) for n rows of `stride` doubles each. */
void trees_predict(const trees_compiled *c, const double *x, size_t n, size_t stride,
                   double *scores);

#endif
