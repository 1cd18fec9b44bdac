/* trees.c — tree-ensemble evaluation: compiles a ktrees into the "perfect" or "compact" layout
 * (trees_plan.h), walks it with portable scalar kernels, hands full row blocks to the AVX-512
 * kernels of trees_simd.c when the CPU has them, and keeps the general node walk that
 * implements every flag of ktree_node as the exact fallback.
 *
 * The scalar kernels walk 16 (tree, row) pairs together — 16 rows through one tree for
 * batches, 16 trees over one row for single rows — so 16 independent chains of loads overlap,
 * and choose children without branches: next = 2i + 2 - (x < t) in the perfect layout,
 * child + 1 - (x < t) in the compact one.
 *
 * Exactness. Float32 ensembles (f32_inputs) decide "(double)(float)x < t". The scalar kernels
 * compare the raw double x with a double threshold t' chosen so that x < t' holds for exactly
 * the doubles whose float32 rounding is below t (f32_as_double_split), which saves rounding
 * every input and lets one kernel serve both precisions. Missing values are resolved before
 * the walk by expanded rows (trees_plan.h); KNODE_NAN_AS_ZERO only changes which way a node's
 * NaN goes. Zero-as-missing and categorical splits stay with the reference walk. */
#include "model/trees.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/trees_plan.h"
#include "model/trees_simd.h"

enum {
    LANES = TREES__LANES,
    /* Expanded rows on the stack: 16 KiB. A block of 16 wider rows goes to the heap; a single
     * row wider than this (over 1024 features read) takes the reference walk. */
    XBUF_DOUBLES = 2048,
    /* Rows expanded and scored together, trees outermost. */
    SUPER_ROWS = 256,
};

/* Split flags the fast layouts implement; any other (categorical, zero-as-missing, a flag
 * added later) sends the ensemble to the reference walk. The KNODE_CAT_* modifiers only mean
 * something together with KNODE_CATEGORICAL. */
#define FAST_FLAGS                                                                                 \
    (KNODE_DEFAULT_LEFT | KNODE_NAN_AS_ZERO | KNODE_CAT_SET_RIGHT | KNODE_CAT_INVALID_DEFAULT |    \
     KNODE_CAT_TRUNCATE)

/* Deepest ensemble the perfect layout takes, and how much padding it may add. */
#define PERFECT_MAX_DEPTH 10
#define PERFECT_MAX_GROWTH 4

/* ---- float32 thresholds as double thresholds ------------------------------------------------- */

/* The smallest float32 >= t: for float32 inputs f, f < t iff f < f32_ceil(t). */
static float f32_ceil(double t)
{
    float f = (float)t;
    if ((double)f < t) f = nextafterf(f, INFINITY);
    return f;
}

/* Returns the double t' such that for every double x that is not NaN,
 *   x < t'  iff  (float)x < t32,
 * with (float) rounding to nearest, ties to even. The doubles that round below t32 are those
 * below the midpoint m of t32 and its float32 predecessor p, plus m itself when the tie goes
 * to p (p's last significand bit is 0). The infinities act as the float32 values +-2^128 here,
 * which is where rounding overflows to them. */
static double f32_as_double_split(float t32)
{
    if (isnan(t32)) return NAN;
    if (t32 == -INFINITY) return -INFINITY;
    float p = nextafterf(t32, -INFINITY);
    double pd = isinf(p) ? -0x1p128 : (double)p;
    double td = isinf(t32) ? 0x1p128 : (double)t32;
    double m = 0.5 * (pd + td); /* exact: 25 significant bits at most */
    uint32_t bits;
    memcpy(&bits, &p, sizeof bits);
    int p_even = isinf(p) || !(bits & 1u);
    return p_even ? nextafter(m, INFINITY) : m;
}

/* ---- accumulation (shared by every plan; see trees.h for the rules) -------------------------- */

/* Float32 accumulators live in the double score array: a float32 value converts to double and
 * back exactly, so "(float)acc + (float)v" is the float32 sum XGBoost computes. */
static inline void acc_init(const trees_compiled *c, double *acc)
{
    int from_base = c->f32acc && !c->mean;
    for (int32_t o = 0; o < c->n_out; o++)
        acc[o] = from_base ? (double)(float)c->base[o] : 0.0;
}

static inline void acc_add(const trees_compiled *c, int32_t tree, double payload, double *acc)
{
    if (c->vec) {
        const double *v = c->t->leaf_values + (size_t)payload * (size_t)c->n_out;
        if (c->f32acc)
            for (int32_t o = 0; o < c->n_out; o++)
                acc[o] = (float)acc[o] + (float)v[o];
        else
            for (int32_t o = 0; o < c->n_out; o++)
                acc[o] += v[o];
        return;
    }
    int32_t o = c->tree_out[tree];
    if (c->f32acc)
        acc[o] = (float)acc[o] + (float)payload;
    else
        acc[o] += payload;
}

static inline void acc_finish(const trees_compiled *c, double *acc)
{
    if (c->f32acc && !c->mean) return;
    for (int32_t o = 0; o < c->n_out; o++) {
        double v = acc[o];
        if (c->mean && c->per_out[o]) v /= c->per_out[o];
        acc[o] = c->base[o] + v;
    }
}

/* ---- reference walk -------------------------------------------------------------------------- */

static int category_in_set(const ktrees *t, const ktree_node *n, double x, int *invalid)
{
    double lowest = (n->flags & KNODE_CAT_TRUNCATE) ? -1.0 : 0.0;
    *invalid = !(x > lowest || x == 0.0) || x >= 32.0 * (double)n->cat_len;
    if (*invalid) return 0;
    uint32_t c = (uint32_t)x;
    return (t->cat_words[n->cat_start + c / 32] >> (c % 32)) & 1u;
}

/* Returns 1 when the row goes left at node n. */
static int goes_left(const ktrees *t, const ktree_node *n, double x)
{
    uint32_t f = n->flags;
    int dflt = (f & KNODE_DEFAULT_LEFT) != 0;
    if (t->f32_inputs) x = (double)(float)x; /* XGBoost sees float32, for categories too */
    if (isnan(x)) {
        if (!(f & KNODE_NAN_AS_ZERO)) return dflt;
        x = 0.0;
    }
    if ((f & KNODE_ZERO_MISSING) && fabs(x) <= KSPEC_ZERO_BAND) return dflt;
    if (f & KNODE_CATEGORICAL) {
        int invalid;
        int in = category_in_set(t, n, x, &invalid);
        if (invalid && (f & KNODE_CAT_INVALID_DEFAULT)) return dflt;
        return (f & KNODE_CAT_SET_RIGHT) ? !in : in;
    }
    return x < n->threshold;
}

static const ktree_node *find_leaf(const ktrees *t, int32_t tree, const double *row)
{
    const ktree_node *base = t->nodes + t->tree_start[tree];
    const ktree_node *n = base;
    while (!(n->flags & KNODE_LEAF))
        n = base + (goes_left(t, n, row[n->feature]) ? n->left : n->right);
    return n;
}

static void reference_row(const trees_compiled *c, const double *row, double *sc)
{
    const ktrees *t = c->t;
    acc_init(c, sc);
    for (int32_t i = 0; i < t->n_trees; i++) {
        const ktree_node *leaf = find_leaf(t, i, row);
        acc_add(c, i, c->vec ? (double)leaf->leaf_index : leaf->value, sc);
    }
    acc_finish(c, sc);
}

/* ---- scalar kernels -------------------------------------------------------------------------- */

/* Writes the expanded rows (trees_plan.h) of `rows` input rows, row_len doubles each. */
static void expand_rows(const trees_compiled *c, const double *x, size_t stride, int rows,
                        double *xe)
{
    size_t rl = (size_t)c->n_used << c->xshift;
    for (int r = 0; r < rows; r++) {
        const double *row = x + (size_t)r * stride;
        double *o = xe + (size_t)r * rl;
        if (c->xshift == 1) {
            for (int32_t u = 0; u < c->n_used; u++) {
                double v = row[c->used[u]];
                int nan = v != v;
                o[2 * u] = nan ? -INFINITY : v;
                o[2 * u + 1] = nan ? INFINITY : v;
            }
        } else {
            for (int32_t u = 0; u < c->n_used; u++) {
                double v = row[c->used[u]];
                int nan = v != v;
                o[4 * u] = nan ? -INFINITY : v;
                o[4 * u + 1] = nan ? INFINITY : v;
                o[4 * u + 2] = nan;
                o[4 * u + 3] = 0;
            }
        }
    }
}

/* Perfect layout, 16 rows through tree t: row l's expanded values at xe + l * rl. Writes each
 * row's leaf number. The lane loop is the inner one so its 16 chains run side by side. */
static void perfect_rows(const trees_compiled *c, int32_t t, const double *xe, size_t rl,
                         uint32_t *leaf)
{
    const uint32_t *word = c->pword + (size_t)t * c->n_int;
    const double *thr = c->pthr + (size_t)t * c->n_int;
    uint32_t idx[LANES] = {0};
    for (int32_t d = 0; d < c->depth; d++) {
#pragma GCC unroll 16
        for (int l = 0; l < LANES; l++) {
            uint32_t i = idx[l];
            idx[l] = 2 * i + 2 - (uint32_t)(xe[(size_t)l * rl + word[i]] < thr[i]);
        }
    }
    for (int l = 0; l < LANES; l++)
        leaf[l] = idx[l] - c->n_int;
}

/* Perfect layout, trees t .. t+15 (tr[l]) over one expanded row. */
static void perfect_trees(const trees_compiled *c, const int32_t *tr, const double *xe,
                          uint32_t *leaf)
{
    const uint32_t *word[LANES];
    const double *thr[LANES];
    uint32_t idx[LANES] = {0};
    for (int l = 0; l < LANES; l++) {
        word[l] = c->pword + (size_t)tr[l] * c->n_int;
        thr[l] = c->pthr + (size_t)tr[l] * c->n_int;
    }
    for (int32_t d = 0; d < c->depth; d++) {
#pragma GCC unroll 16
        for (int l = 0; l < LANES; l++) {
            uint32_t i = idx[l];
            idx[l] = 2 * i + 2 - (uint32_t)(xe[word[l][i]] < thr[l][i]);
        }
    }
    for (int l = 0; l < LANES; l++)
        leaf[l] = idx[l] - c->n_int;
}

/* Compact layout: 16 walks from nodes cur[l] (row l at xe + l * rl; rl = 0 for one row) until
 * every walk sits on a leaf; cur[] ends holding the leaves' node indices. A walk that reached
 * its leaf stays there (a select, not a branch) while the others go on. */
static void compact_walk(const trees_compiled *c, const double *xe, size_t rl, uint32_t *cur)
{
    const trees__cnode *nodes = c->cnodes;
    uint32_t active;
    do {
        active = 0;
#pragma GCC unroll 16
        for (int l = 0; l < LANES; l++) {
            const trees__cnode *p = nodes + cur[l];
            uint32_t w = p->word;
            uint32_t next = (uint32_t)(p->child + 1) -
                            (uint32_t)(xe[(size_t)l * rl + (w & TREES__SLOT_MASK)] < p->thr);
            active |= ~w;
            cur[l] = (w & TREES__LEAF) ? cur[l] : next;
        }
    } while (active & TREES__LEAF);
}

/* Scores nb blocks of 16 rows already expanded into xe (block j at xe + j * 16 * rl). Trees
 * are the outer loop: a tree is walked by every block while it is in cache (deep forests are
 * far larger than L2), and each row still receives its trees in order. */
static void predict_blocks_expanded(const trees_compiled *c, const double *xe, size_t nb,
                                    double *sc)
{
    size_t k = (size_t)c->n_out, rl = (size_t)c->n_used << c->xshift, rows = nb * LANES;
    uint32_t leaf[LANES];
    for (size_t r = 0; r < rows; r++) acc_init(c, sc + r * k);
    for (int32_t t = 0; t < c->n_trees; t++) {
        for (size_t j = 0; j < nb; j++) {
            const double *xj = xe + j * LANES * rl;
            double *sj = sc + j * LANES * k;
            if (c->plan == TREES__PLAN_PERFECT) {
                perfect_rows(c, t, xj, rl, leaf);
                const double *pl = c->pleaf + (size_t)t * c->n_leaf;
                for (int l = 0; l < LANES; l++) acc_add(c, t, pl[leaf[l]], sj + (size_t)l * k);
            } else {
                for (int l = 0; l < LANES; l++) leaf[l] = (uint32_t)c->croot[t];
                compact_walk(c, xj, rl, leaf);
                for (int l = 0; l < LANES; l++)
                    acc_add(c, t, c->cnodes[leaf[l]].thr, sj + (size_t)l * k);
            }
        }
    }
    for (size_t r = 0; r < rows; r++) acc_finish(c, sc + r * k);
}

/* Scores one expanded row: 16 trees walk it at once; leaves are added in tree order. */
static void predict_one(const trees_compiled *c, const double *xe, double *sc)
{
    int32_t tr[LANES];
    uint32_t leaf[LANES];
    acc_init(c, sc);
    for (int32_t t0 = 0; t0 < c->n_trees; t0 += LANES) {
        int m = c->n_trees - t0 < LANES ? (int)(c->n_trees - t0) : LANES;
        for (int l = 0; l < LANES; l++)
            tr[l] = t0 + (l < m ? l : m - 1);
        if (c->plan == TREES__PLAN_PERFECT) {
            perfect_trees(c, tr, xe, leaf);
            for (int l = 0; l < m; l++)
                acc_add(c, t0 + l, c->pleaf[(size_t)(t0 + l) * c->n_leaf + leaf[l]], sc);
        } else {
            for (int l = 0; l < LANES; l++)
                leaf[l] = (uint32_t)c->croot[tr[l]];
            compact_walk(c, xe, 0, leaf);
            for (int l = 0; l < m; l++)
                acc_add(c, t0 + l, c->cnodes[leaf[l]].thr, sc);
        }
    }
    acc_finish(c, sc);
}

/* Full blocks of 16 rows; returns the rows done. Up to SUPER_ROWS rows are expanded at once
 * (on the stack when they fit, else on the heap; returns 0 if that fails: the caller goes row
 * by row). Kept out of line so its buffer and the SIMD kernel's are never on the stack
 * together. */
static __attribute__((noinline)) size_t predict_blocks(const trees_compiled *c, const double *x,
                                                       size_t n, size_t stride, double *scores)
{
    double stack[XBUF_DOUBLES];
    size_t k = (size_t)c->n_out, rl = (size_t)c->n_used << c->xshift, r = 0;
    size_t super = n / LANES * LANES < SUPER_ROWS ? n / LANES * LANES : SUPER_ROWS;
    double *xe = super * rl <= XBUF_DOUBLES ? stack : malloc(super * rl * sizeof *xe);
    if (!xe) return 0;
    while (r + LANES <= n) {
        size_t m = (n - r) / LANES * LANES;
        m = m < super ? m : super;
        expand_rows(c, x + r * stride, stride, (int)m, xe);
        predict_blocks_expanded(c, xe, m / LANES, scores + r * k);
        r += m;
    }
    if (xe != stack) free(xe);
    return r;
}

/* Rows one at a time (never allocates: rows too wide for the stack take the reference walk). */
static __attribute__((noinline)) void predict_rows(const trees_compiled *c, const double *x,
                                                   size_t n, size_t stride, double *scores)
{
    double stack[XBUF_DOUBLES];
    size_t k = (size_t)c->n_out, rl = (size_t)c->n_used << c->xshift;
    for (size_t r = 0; r < n; r++) {
        if (rl > XBUF_DOUBLES) {
            reference_row(c, x + r * stride, scores + r * k);
            continue;
        }
        expand_rows(c, x + r * stride, stride, 1, stack);
        predict_one(c, stack, scores + r * k);
    }
}

void trees_predict(const trees_compiled *c, const double *x, size_t n, size_t stride,
                   double *scores)
{
    size_t k = (size_t)c->n_out, r = 0;
    if (c->plan == TREES__PLAN_REFERENCE) {
        for (; r < n; r++)
            reference_row(c, x + r * stride, scores + r * k);
        return;
    }
    if (c->simd && n >= LANES) r = c->simd(c, x, n, stride, scores);
    if (n - r >= LANES) r += predict_blocks(c, x + r * stride, n - r, stride, scores + r * k);
    predict_rows(c, x + r * stride, n - r, stride, scores + r * k);
}

/* ---- compilation ----------------------------------------------------------------------------- */

static void *plan_array(trees_compiled *c, size_t n, size_t size)
{
    if (n && size > ((size_t)-1) / 4 / n) return NULL;
    void *p = calloc(n ? n : 1, size);
    if (p) c->bytes += (n ? n : 1) * size;
    return p;
}

/* Shape of tree k: returns 0 when a reachable node has two parents (the spec allows a DAG;
 * the fast layouts want a tree), else 1 with its depth and reachable node count. Reachable
 * internal nodes with flags outside FAST_FLAGS clear *fast. `seen` and `dep` are
 * scratch of the tree's size. */
static int tree_shape(const ktrees *t, int32_t k, unsigned char *seen, int32_t *dep, int32_t *depth,
                      int32_t *count, int *fast)
{
    const ktree_node *nd = t->nodes + t->tree_start[k];
    int32_t size = t->tree_start[k + 1] - t->tree_start[k];
    memset(seen, 0, (size_t)size);
    seen[0] = 1;
    dep[0] = 0;
    *depth = 0;
    *count = 0;
    for (int32_t i = 0; i < size; i++) {
        if (!seen[i]) continue;
        ++*count;
        if (dep[i] > *depth) *depth = dep[i];
        if (nd[i].flags & KNODE_LEAF) continue;
        if (nd[i].flags & ~FAST_FLAGS) *fast = 0;
        int32_t l = nd[i].left, r = nd[i].right;
        if (l == r || seen[l] || seen[r]) return 0;
        seen[l] = seen[r] = 1;
        dep[l] = dep[r] = dep[i] + 1;
    }
    return 1;
}

/* How a split reads its expanded row (trees_plan.h). */
typedef struct {
    uint32_t word; /* slot */
    double thr;    /* double threshold for the scalar kernels */
    float thr32;   /* float32 threshold for float32-input kernels */
    int swap;      /* children swapped (the NaN-only split) */
} split;

static int nan_goes_left(const ktree_node *n)
{
    if (n->flags & KNODE_NAN_AS_ZERO) return 0.0 < n->threshold; /* where 0 goes */
    return (n->flags & KNODE_DEFAULT_LEFT) != 0;
}

static split make_split(const trees_compiled *c, const ktree_node *n, const int32_t *dense)
{
    split s;
    uint32_t u = (uint32_t)dense[n->feature] << c->xshift;
    s.thr32 = c->f32 ? f32_ceil(n->threshold) : (float)n->threshold;
    s.thr = c->f32 ? f32_as_double_split(s.thr32) : n->threshold;
    s.swap = 0;
    if (!nan_goes_left(n)) {
        s.word = u | 1u;
    } else if (s.thr > -INFINITY) {
        s.word = u;
    } else { /* goes left only for NaN: "isnan < 0.5" picks the (swapped) right child */
        s.word = u | 2u;
        s.thr = 0.5;
        s.thr32 = 0.5f;
        s.swap = 1;
    }
    return s;
}

/* Left-going splits whose threshold is -inf or NaN need the third slot. */
static int needs_nan_slot(const trees_compiled *c, const ktree_node *n)
{
    if ((n->flags & KNODE_LEAF) || !nan_goes_left(n)) return 0;
    double thr = c->f32 ? f32_as_double_split(f32_ceil(n->threshold)) : n->threshold;
    return !(thr > -INFINITY);
}

static double leaf_payload(const trees_compiled *c, const ktree_node *n)
{
    return c->vec ? (double)n->leaf_index : n->value;
}

/* Writes node i of tree `tree` and its subtree at `slot` (level `level`) of the perfect layout.
 * A leaf above the last level fills every leaf slot below it; the internal slots under it stay
 * zero (slot 0, threshold 0): whichever way they send a row, it reaches the same value. */
static void perfect_fill(trees_compiled *c, const ktree_node *nd, int32_t i, uint32_t slot,
                         int32_t level, int32_t tree, const int32_t *dense)
{
    const ktree_node *n = &nd[i];
    if (n->flags & KNODE_LEAF) {
        uint32_t span = 1u << (c->depth - level);
        uint32_t first = ((slot + 1) << (c->depth - level)) - 1 - c->n_int;
        double *pl = c->pleaf + (size_t)tree * c->n_leaf;
        for (uint32_t j = 0; j < span; j++)
            pl[first + j] = leaf_payload(c, n);
        return;
    }
    split s = make_split(c, n, dense);
    size_t at = (size_t)tree * c->n_int + slot;
    c->pword[at] = s.word;
    c->pthr[at] = s.thr;
    c->pthr32[at] = s.thr32;
    perfect_fill(c, nd, s.swap ? n->right : n->left, 2 * slot + 1, level + 1, tree, dense);
    perfect_fill(c, nd, s.swap ? n->left : n->right, 2 * slot + 2, level + 1, tree, dense);
}

static kstatus build_perfect(trees_compiled *c, const int32_t *dense)
{
    const ktrees *t = c->t;
    size_t nt = (size_t)c->n_trees;
    c->n_int = (1u << c->depth) - 1;
    c->n_leaf = 1u << c->depth;
    /* SIMD kernels load up to 64 entries from the start of a level or leaf row: pad. */
    size_t n_int = nt * c->n_int + 64, n_leaf = nt * c->n_leaf + 64;
    c->pword = plan_array(c, n_int, sizeof *c->pword);
    c->pthr = plan_array(c, n_int, sizeof *c->pthr);
    c->pthr32 = plan_array(c, n_int, sizeof *c->pthr32);
    c->pleaf = plan_array(c, n_leaf, sizeof *c->pleaf);
    if (c->f32acc && !c->vec) c->pleaf32 = plan_array(c, n_leaf, sizeof *c->pleaf32);
    if (!c->pword || !c->pthr || !c->pthr32 || !c->pleaf || (c->f32acc && !c->vec && !c->pleaf32))
        return K_NOMEM;
    for (int32_t k = 0; k < c->n_trees; k++)
        perfect_fill(c, t->nodes + t->tree_start[k], 0, 0, 0, k, dense);
    if (c->pleaf32)
        for (size_t i = 0; i < nt * c->n_leaf; i++)
            c->pleaf32[i] = (float)c->pleaf[i];
    return K_OK;
}

/* Depth-first placement: each internal node's children get the next two slots, so a path
 * from the root runs forward through memory. `stack` is scratch of 2 * (largest tree + 1). */
static kstatus build_compact(trees_compiled *c, int32_t n_reach, int32_t *stack,
                             const int32_t *dense)
{
    const ktrees *t = c->t;
    c->croot = plan_array(c, (size_t)c->n_trees, sizeof *c->croot);
    c->cnodes = plan_array(c, (size_t)n_reach, sizeof *c->cnodes);
    if (!c->croot || !c->cnodes) return K_NOMEM;
    int32_t next = 0;
    for (int32_t k = 0; k < c->n_trees; k++) {
        const ktree_node *nd = t->nodes + t->tree_start[k];
        int32_t sp = 0;
        c->croot[k] = next;
        stack[sp++] = 0;      /* spec node */
        stack[sp++] = next++; /* its slot */
        while (sp) {
            int32_t at = stack[--sp], i = stack[--sp];
            const ktree_node *n = &nd[i];
            trees__cnode *o = &c->cnodes[at];
            if (n->flags & KNODE_LEAF) {
                *o = (trees__cnode){leaf_payload(c, n), TREES__LEAF, at};
                continue;
            }
            split s = make_split(c, n, dense);
            *o = (trees__cnode){s.thr, s.word, next};
            stack[sp++] = s.swap ? n->left : n->right;
            stack[sp++] = next + 1;
            stack[sp++] = s.swap ? n->right : n->left;
            stack[sp++] = next;
            next += 2;
        }
    }
    c->n_cnodes = next;
    return K_OK;
}

/* Lists the features reachable splits read (dense[f] = position in used, or -1) and picks
 * 2 or 4 expanded slots per feature. */
static kstatus map_features(trees_compiled *c, const unsigned char *reach_all, int32_t *dense)
{
    const ktrees *t = c->t;
    int nan_slot = 0;
    for (int32_t f = 0; f < c->n_in; f++)
        dense[f] = -1;
    for (int32_t i = 0; i < t->n_nodes; i++) {
        const ktree_node *n = &t->nodes[i];
        if (!reach_all[i] || (n->flags & KNODE_LEAF)) continue;
        if (dense[n->feature] < 0) dense[n->feature] = c->n_used++;
        nan_slot |= needs_nan_slot(c, n);
    }
    if (c->n_used == 0) dense[0] = c->n_used++; /* leaves only: padding nodes read slot 0 */
    c->xshift = nan_slot ? 2 : 1;
    c->used = plan_array(c, (size_t)c->n_used, sizeof *c->used);
    if (!c->used) return K_NOMEM;
    for (int32_t f = 0; f < c->n_in; f++)
        if (dense[f] >= 0) c->used[dense[f]] = f;
    return K_OK;
}

/* Chooses and builds a fast layout; leaves c->plan at REFERENCE when none applies. */
static kstatus build_fast(trees_compiled *c, unsigned opts)
{
    const ktrees *t = c->t;
    if ((opts & TREES__REFERENCE) || c->n_in <= 0 || c->n_trees == 0) return K_OK;
    int32_t max_size = 1;
    for (int32_t k = 0; k < c->n_trees; k++) {
        int32_t size = t->tree_start[k + 1] - t->tree_start[k];
        if (size > max_size) max_size = size;
    }
    unsigned char *reach = calloc((size_t)t->n_nodes + 1, 1);
    int32_t *dep = malloc(2 * ((size_t)max_size + 1) * sizeof *dep);
    int32_t *dense = malloc((size_t)c->n_in * sizeof *dense);
    kstatus st = K_OK;
    if (!reach || !dep || !dense) {
        st = K_NOMEM;
        goto done;
    }
    int fast = 1;
    int32_t depth = 0;
    int64_t n_reach = 0;
    for (int32_t k = 0; k < c->n_trees && fast; k++) {
        int32_t dk, nk;
        if (!tree_shape(t, k, reach + t->tree_start[k], dep, &dk, &nk, &fast)) fast = 0;
        if (dk > depth) depth = dk;
        n_reach += nk;
    }
    if (!fast) goto done;
    if ((st = map_features(c, reach, dense))) goto done;
    int64_t padded = depth <= PERFECT_MAX_DEPTH ? (int64_t)c->n_trees * ((2 << depth) - 1) : 0;
    if (!(opts & TREES__NO_PERFECT) && depth <= PERFECT_MAX_DEPTH &&
        padded <= PERFECT_MAX_GROWTH * n_reach + 4096 && padded < INT32_MAX) {
        c->plan = TREES__PLAN_PERFECT;
        c->depth = depth;
        st = build_perfect(c, dense);
    } else {
        c->plan = TREES__PLAN_COMPACT;
        st = build_compact(c, (int32_t)n_reach, dep, dense);
    }
done:
    free(reach);
    free(dep);
    free(dense);
    return st;
}

kstatus trees__compile_opts(const ktrees *t, const double *base_score, unsigned opts,
                            trees_compiled **out, kerr *e)
{
    trees_compiled *c = calloc(1, sizeof *c);
    if (!c) return kerr_set(e, K_NOMEM, "out of memory");
    c->bytes = sizeof *c;
    c->t = t;
    c->f32 = t->f32_inputs != 0;
    c->f32acc = t->f32_accumulate != 0;
    c->vec = t->leaf_dim > 1;
    c->mean = t->aggregate == KAGG_MEAN;
    c->n_in = t->n_in;
    c->n_out = t->n_out;
    c->n_trees = t->n_trees;
    c->base = plan_array(c, (size_t)t->n_out, sizeof *c->base);
    c->per_out = plan_array(c, (size_t)t->n_out, sizeof *c->per_out);
    c->tree_out = plan_array(c, (size_t)t->n_trees, sizeof *c->tree_out);
    if (!c->base || !c->per_out || !c->tree_out) {
        trees_free(c);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    if (base_score) memcpy(c->base, base_score, (size_t)t->n_out * sizeof *c->base);
    for (int32_t k = 0; k < t->n_trees; k++) {
        c->tree_out[k] = t->tree_output[k];
        if (c->vec)
            for (int32_t o = 0; o < t->n_out; o++)
                c->per_out[o]++;
        else
            c->per_out[t->tree_output[k]]++;
    }
    if (build_fast(c, opts)) {
        trees_free(c);
        return kerr_set(e, K_NOMEM, "out of memory compiling the tree ensemble");
    }
    if (c->plan != TREES__PLAN_REFERENCE && !(opts & TREES__NO_SIMD))
        c->simd = trees__simd_kernel(c);
    if (c->plan == TREES__PLAN_PERFECT)
        snprintf(c->desc, sizeof c->desc, "perfect depth %d, %s", (int)c->depth,
                 c->simd ? "avx512" : "scalar");
    else if (c->plan == TREES__PLAN_COMPACT)
        snprintf(c->desc, sizeof c->desc, "compact, %s", c->simd ? "avx512" : "scalar");
    else
        snprintf(c->desc, sizeof c->desc, "reference walk");
    *out = c;
    return K_OK;
}

kstatus trees_compile(const ktrees *t, const double *base_score, trees_compiled **out, kerr *e)
{
    return trees__compile_opts(t, base_score, 0, out, e);
}

void trees_free(trees_compiled *c)
{
    if (!c) return;
    free(c->base);
    free(c->per_out);
    free(c->tree_out);
    free(c->used);
    free(c->pword);
    free(c->pthr);
    free(c->pthr32);
    free(c->pleaf);
    free(c->pleaf32);
    free(c->croot);
    free(c->cnodes);
    free(c);
}

const char *trees__describe(const trees_compiled *c)
{
    return c->desc;
}

size_t trees__bytes(const trees_compiled *c)
{
    return c->bytes;
}
