/* trees_plan.h — the layout of a compiled tree ensemble, shared by trees.c (compiler, scalar
 * kernels, reference walk) and trees_simd.c (AVX-512 kernels). Private to those two files:
 * everything else sees only the opaque trees_compiled of trees.h.
 *
 * Expanded rows. Kernels never test for NaN while walking. Before a walk, each input value
 * the ensemble reads is written into an expanded row as 2 (or 4) slots:
 *   slot (u << xshift) | 0: the value, NaN replaced by -inf  (read by splits whose NaN goes left)
 *   slot (u << xshift) | 1: the value, NaN replaced by +inf  (read by splits whose NaN goes right)
 *   slot (u << xshift) | 2: 1 when the value is NaN, else 0  (only when xshift == 2)
 * where u is the feature's position in `used`. A split whose NaN goes right compares
 * "+inf < t", which is false for every threshold; one whose NaN goes left compares
 * "-inf < t", true for every threshold above -inf. The rare left-going split with threshold
 * -inf or NaN sends exactly the NaNs left: it reads slot 2 with threshold 0.5 and its children
 * swapped. So every split is one comparison, "slot value < thr", exact for all inputs.
 *
 * Thresholds: pthr / cnodes are doubles such that for every double input x (not NaN)
 * "x < thr" is exactly the spec's decision (for float32 ensembles trees.c derives them from
 * the float32 threshold, see f32_as_double_split); pthr32 holds the float32 threshold for
 * kernels that round inputs to float32 first (float32 ensembles only). */
#ifndef KILN_TREES_PLAN_H
#define KILN_TREES_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "model/trees.h"

#define TREES__SLOT_MASK 0x3fffffffu
#define TREES__LEAF 0x40000000u /* compact nodes: this node is a leaf */

/* Rows (or trees) walked together. */
#define TREES__LANES 16

typedef enum { TREES__PLAN_REFERENCE = 0, TREES__PLAN_PERFECT, TREES__PLAN_COMPACT } trees__plan;

/* Compact node. A leaf holds its payload in thr (leaf value, or leaf vector index when vec)
 * and word = TREES__LEAF (slot 0). */
typedef struct {
    double thr;
    uint32_t word; /* expanded-row slot, | TREES__LEAF for leaves */
    int32_t child; /* absolute index of the left child; the right child is child + 1 */
} trees__cnode;

/* Processes some leading rows of a trees_predict call; returns how many it did. */
typedef size_t (*trees__kernel)(const trees_compiled *c, const double *x, size_t n, size_t stride,
                                double *scores);

struct trees_compiled {
    const ktrees *t;
    trees__plan plan;
    int f32;    /* t->f32_inputs */
    int f32acc; /* t->f32_accumulate */
    int vec;    /* t->leaf_dim > 1: leaf payloads are leaf_values indices */
    int mean;   /* KAGG_MEAN */
    int32_t n_in, n_out, n_trees;
    double *base;      /* n_out */
    int32_t *per_out;  /* trees adding to each output */
    int32_t *tree_out; /* n_trees */

    /* expanded rows: the features the trees read, and 2 or 4 slots per feature */
    int32_t n_used;
    int32_t *used;
    int32_t xshift;

    /* perfect: tree t's internal nodes at t * n_int (level order, children 2i+1, 2i+2), its
     * leaves at t * n_leaf */
    int32_t depth;
    uint32_t n_int, n_leaf; /* 2^depth - 1, 2^depth */
    uint32_t *pword;
    double *pthr;
    float *pthr32;
    double *pleaf;  /* leaf value, or leaf vector index when vec */
    float *pleaf32; /* (float)pleaf when f32acc and !vec, else NULL */

    /* compact: tree t's root at croot[t] */
    int32_t *croot;
    trees__cnode *cnodes;
    int32_t n_cnodes;

    trees__kernel simd; /* NULL: scalar kernels only */
    char desc[80];
    size_t bytes;
};

#endif
