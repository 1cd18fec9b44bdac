/* trees.h — tree-ensemble evaluation (internal to src/model).
 *
 * trees_compile turns a ktrees description into an evaluation plan:
 *   - "perfect": every tree padded to one complete binary tree of the ensemble's depth (when
 *     the trees are shallow and the padding stays small), children implicit (2i+1, 2i+2), so a
 *     walk is a fixed number of branch-free steps;
 *   - "compact": 16-byte nodes with sibling children side by side (right = left + 1), for deep
 *     or ragged trees, walked branch-free until every row of a block sits on a leaf;
 *   - "reference": the general node walk over the spec's own nodes, which implements every
 *     flag (categorical splits, zero-as-missing) and is the exact fallback.
 * The fast layouts walk 16 rows (or, for one row, 16 trees) at once so their memory latencies
 * overlap, resolve missing values before the walk so every split is one comparison, and hand
 * row blocks to an AVX-512 kernel when the CPU has it (checked at run time). Every plan gives
 * bit-identical scores: comparisons follow ktrees.f32_inputs exactly (float32 thresholds are
 * re-expressed as equivalent double thresholds, see trees.c) and scores are accumulated in the
 * spec's precision, trees in order.
 *
 * Accumulation (ktrees.f32_accumulate, aggregate), per output k:
 *   f32_accumulate, KAGG_SUM:  s = (float)base[k]; s += (float)leaf, trees in order (float32)
 *   f32_accumulate, KAGG_MEAN: s = 0.0f; s += (float)leaf (float32); score = base[k] + s / n_k
 *   double, KAGG_SUM:          s = 0.0; s += leaf;                    score = base[k] + s
 *   double, KAGG_MEAN:         s = 0.0; s += leaf;                    score = base[k] + s / n_k
 * where n_k is the number of trees adding to output k; vector leaves (leaf_dim > 1) add
 * leaf_values[leaf_index * leaf_dim + k] to every output k. */
#ifndef KILN_TREES_H
#define KILN_TREES_H

#include <stddef.h>

#include "model/spec.h"

typedef struct trees_compiled trees_compiled;

/* Compiles `t`; `base_score` (t->n_out values, may be NULL) seeds every row's scores. The
 * compiled form copies what its walks read; the reference walk, leaf vectors and category
 * words stay owned by the spec (the spec outlives it inside kmodel). Caller frees with
 * trees_free. Returns K_OK, or K_NOMEM. */
kstatus trees_compile(const ktrees *t, const double *base_score, trees_compiled **out, kerr *e);
void trees_free(trees_compiled *c);

/* Writes n * n_out scores (base score included) for n rows of `stride` doubles each.
 * Thread-safe on a shared plan; never allocates. */
void trees_predict(const trees_compiled *c, const double *x, size_t n, size_t stride,
                   double *scores);

/* ---- internal: tests and benchmarks ---------------------------------------------------------- */

enum {
    TREES__NO_SIMD = 1u << 0,    /* scalar kernels only */
    TREES__NO_PERFECT = 1u << 1, /* never the perfect layout (compact instead) */
    TREES__REFERENCE = 1u << 2,  /* the reference walk only */
};

/* trees_compile with TREES__* options. */
kstatus trees__compile_opts(const ktrees *t, const double *base_score, unsigned opts,
                            trees_compiled **out, kerr *e);

/* A static description of the plan ("perfect depth 6, avx512"); never NULL. */
const char *trees__describe(const trees_compiled *c);

/* Bytes of memory the plan owns (not counting the spec). */
size_t trees__bytes(const trees_compiled *c);

#endif
