/* test_trees.c — every compiled plan of a tree ensemble (perfect and compact layouts, scalar and
 * SIMD kernels, the reference walk) must give exactly the scores of the straightforward
 * evaluator written here from the rules in spec.h and trees.h: random ensembles in float32 and
 * double precision, both accumulation modes, several outputs, vector leaves, averaging, NaN
 * routing, categorical and zero-as-missing splits, and inputs sitting exactly on thresholds and
 * on float32 rounding midpoints. Differences are compared bit for bit; the max |diff| is
 * printed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/predictor.h"
#include "model/trees.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int rnd_int(int n)
{
    return (int)(rnd() % (uint64_t)n);
}

static double rnd_unit(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

/* ---- random ensembles ------------------------------------------------------------------------ */

typedef struct {
    int n_in, n_out, n_trees, max_depth;
    int f32_inputs, f32_acc, vec, mean, no_base;
    int complete;   /* grow every branch to max_depth */
    double p_split; /* otherwise split with this probability above max_depth */
    double p_cat, p_zero_missing, p_nan_as_zero, p_nan_threshold;
} gen_opts;

#define POOL 8

typedef struct {
    ktrees t;
    ktree_node *nodes;
    int32_t *start, *out;
    double *leafv;
    uint32_t *cat;
    double *base;
    double *pool; /* n_in * POOL thresholds, for building rows that hit them */
    int32_t cap;
    int no_base;
} ensemble;

static double make_threshold(const gen_opts *g)
{
    double v = (rnd_unit() - 0.5) * 8.0;
    switch (rnd_int(6)) {
    case 0:
        return (double)(float)v; /* XGBoost: float32 thresholds */
    case 1:
        return kspec_le_to_lt(v, g->f32_inputs); /* sklearn / LightGBM "<=" */
    case 2:
        return (double)(int)v; /* integers: exact hits are common */
    case 3:
        return rnd_int(4) ? 0.0 : -0.0;
    default:
        return v; /* arbitrary doubles */
    }
}

static int32_t add_node(ensemble *en)
{
    assert_true(en->t.n_nodes < en->cap);
    en->nodes[en->t.n_nodes] = (ktree_node){0};
    return en->t.n_nodes++;
}

static int32_t grow(ensemble *en, const gen_opts *g, int32_t root, int depth)
{
    int32_t i = add_node(en);
    ktree_node *n = &en->nodes[i];
    int split = depth < g->max_depth && (g->complete || rnd_unit() < g->p_split) &&
                en->t.n_nodes + 2 * g->max_depth + 4 < en->cap;
    if (!split) {
        n->flags = KNODE_LEAF;
        n->value = (rnd_unit() - 0.5) * (rnd_int(4) ? 1.0 : 1e-3);
        n->leaf_index = g->vec ? rnd_int(en->t.n_leaf_vectors) : 0;
        return i - root;
    }
    n->feature = rnd_int(g->n_in);
    n->threshold = en->pool[n->feature * POOL + rnd_int(POOL)];
    if (rnd_unit() < g->p_nan_threshold) n->threshold = NAN;
    if (rnd_int(2)) n->flags |= KNODE_DEFAULT_LEFT;
    if (rnd_unit() < g->p_nan_as_zero) n->flags |= KNODE_NAN_AS_ZERO;
    if (rnd_unit() < g->p_zero_missing) n->flags |= KNODE_ZERO_MISSING;
    if (rnd_unit() < g->p_cat) {
        n->flags |= KNODE_CATEGORICAL;
        if (rnd_int(2)) n->flags |= KNODE_CAT_SET_RIGHT;
        if (rnd_int(2)) n->flags |= KNODE_CAT_INVALID_DEFAULT;
        n->cat_len = 1 + (uint32_t)rnd_int(2);
        n->cat_start = (uint32_t)rnd_int(en->t.n_cat_words - 1);
    }
    int32_t l = grow(en, g, root, depth + 1);
    int32_t r = grow(en, g, root, depth + 1);
    en->nodes[i].left = l;
    en->nodes[i].right = r;
    return i - root;
}

static ensemble *make_ensemble(const gen_opts *g)
{
    ensemble *en = calloc(1, sizeof *en);
    int depth_cap = g->max_depth < 16 ? g->max_depth : 16;
    en->cap = g->n_trees * ((2 << depth_cap) + 4) + 16;
    if (g->max_depth > 16) en->cap = g->n_trees * 20000;
    en->nodes = calloc((size_t)en->cap, sizeof *en->nodes);
    en->start = calloc((size_t)g->n_trees + 1, sizeof *en->start);
    en->out = calloc((size_t)g->n_trees, sizeof *en->out);
    en->pool = calloc((size_t)g->n_in * POOL, sizeof *en->pool);
    en->cat = calloc(64, sizeof *en->cat);
    en->base = calloc((size_t)g->n_out, sizeof *en->base);
    for (int i = 0; i < 64; i++)
        en->cat[i] = (uint32_t)rnd();
    for (int i = 0; i < g->n_in * POOL; i++)
        en->pool[i] = make_threshold(g);
    for (int o = 0; o < g->n_out; o++)
        en->base[o] = (rnd_unit() - 0.5) * 2;
    en->no_base = g->no_base;
    ktrees *t = &en->t;
    t->n_in = g->n_in;
    t->n_out = g->n_out;
    t->n_trees = g->n_trees;
    t->leaf_dim = g->vec ? g->n_out : 1;
    t->n_cat_words = 64;
    t->cat_words = en->cat;
    if (g->vec) {
        t->n_leaf_vectors = 50;
        en->leafv = calloc((size_t)t->n_leaf_vectors * (size_t)g->n_out, sizeof *en->leafv);
        for (int i = 0; i < t->n_leaf_vectors * g->n_out; i++)
            en->leafv[i] = rnd_unit() - 0.3;
        t->leaf_values = en->leafv;
    }
    for (int k = 0; k < g->n_trees; k++) {
        en->start[k] = t->n_nodes;
        en->out[k] = g->vec ? 0 : k % g->n_out;
        grow(en, g, t->n_nodes, 0);
    }
    en->start[g->n_trees] = t->n_nodes;
    t->tree_start = en->start;
    t->tree_output = en->out;
    t->nodes = en->nodes;
    t->aggregate = g->mean ? KAGG_MEAN : KAGG_SUM;
    t->f32_inputs = g->f32_inputs;
    t->f32_accumulate = g->f32_acc;
    return en;
}

static void free_ensemble(ensemble *en)
{
    free(en->nodes);
    free(en->start);
    free(en->out);
    free(en->pool);
    free(en->cat);
    free(en->base);
    free(en->leafv);
    free(en);
}

/* A value near one of the ensemble's thresholds, or a special value. */
static double make_input(const ensemble *en, int feature)
{
    double t = en->pool[feature * POOL + rnd_int(POOL)];
    float tf = (float)t;
    switch (rnd_int(16)) {
    case 0:
        return t;
    case 1:
        return nextafter(t, INFINITY);
    case 2:
        return nextafter(t, -INFINITY);
    case 3:
        return (double)nextafterf(tf, INFINITY);
    case 4:
        return (double)nextafterf(tf, -INFINITY);
    case 5: { /* the float32 rounding midpoint below tf, and its double neighbours */
        double m = 0.5 * ((double)nextafterf(tf, -INFINITY) + (double)tf);
        int w = rnd_int(3);
        return w == 0 ? m : nextafter(m, w == 1 ? INFINITY : -INFINITY);
    }
    case 6:
        return NAN;
    case 7:
        return rnd_int(2) ? 0.0 : -0.0;
    case 8:
        return rnd_int(2) ? INFINITY : -INFINITY;
    case 9:
        return (double)rnd_int(70) - 2; /* category codes, some invalid */
    case 10:
        return rnd_int(2) ? 1e-36 : -1e-40;
    case 11:
        return rnd_int(2) ? 1e300 : -3.5e38;
    case 12:
        return (double)tf;
    default:
        return (rnd_unit() - 0.5) * 10;
    }
}

/* ---- the straightforward evaluator ----------------------------------------------------------- */

static int eval_goes_left(const ktrees *t, const ktree_node *n, double x)
{
    int dflt = (n->flags & KNODE_DEFAULT_LEFT) ? 1 : 0;
    if (t->f32_inputs) x = (double)(float)x; /* float32 models see float32 values everywhere */
    if (x != x) {
        if (!(n->flags & KNODE_NAN_AS_ZERO)) return dflt;
        x = 0.0;
    }
    double band = (double)1e-35f; /* LightGBM's kZeroThreshold */
    if ((n->flags & KNODE_ZERO_MISSING) && x >= -band && x <= band) return dflt;
    if (n->flags & KNODE_CATEGORICAL) {
        int in = 0;
        double lowest = (n->flags & KNODE_CAT_TRUNCATE) ? -1.0 : 0.0; /* (int)-0.5 == 0 */
        if ((x > lowest || x == 0) && x < 32.0 * n->cat_len) {
            uint32_t code = (uint32_t)x;
            in = (int)((t->cat_words[n->cat_start + code / 32] >> (code % 32)) & 1u);
        } else if (n->flags & KNODE_CAT_INVALID_DEFAULT) {
            return dflt;
        }
        return (n->flags & KNODE_CAT_SET_RIGHT) ? !in : in;
    }
    if (t->f32_inputs) {
        float xf = (float)x;
        return (double)xf < n->threshold;
    }
    return x < n->threshold;
}

static const ktree_node *eval_leaf(const ktrees *t, int tree, const double *row)
{
    const ktree_node *nodes = t->nodes + t->tree_start[tree];
    int32_t i = 0;
    while (!(nodes[i].flags & KNODE_LEAF))
        i = eval_goes_left(t, &nodes[i], row[nodes[i].feature]) ? nodes[i].left : nodes[i].right;
    return &nodes[i];
}

/* One output's score, trees in order, in the precision trees.h states. */
static double eval_score(const ktrees *t, const double *base, const double *row, int o)
{
    double b = base ? base[o] : 0.0;
    int count = 0;
    float sf = (t->f32_accumulate && t->aggregate == KAGG_SUM) ? (float)b : 0.0f;
    double sd = 0.0;
    for (int i = 0; i < t->n_trees; i++) {
        const ktree_node *leaf = eval_leaf(t, i, row);
        double v;
        if (t->leaf_dim > 1)
            v = t->leaf_values[leaf->leaf_index * t->leaf_dim + o];
        else if (t->tree_output[i] == o)
            v = leaf->value;
        else
            continue;
        count++;
        if (t->f32_accumulate)
            sf = sf + (float)v;
        else
            sd = sd + v;
    }
    double s = t->f32_accumulate ? (double)sf : sd;
    if (t->f32_accumulate && t->aggregate == KAGG_SUM) return s;
    if (t->aggregate == KAGG_MEAN && count) s = s / count;
    return b + s;
}

/* ---- checking every plan --------------------------------------------------------------------- */

static const unsigned plan_opts[] = {0, TREES__NO_SIMD, TREES__NO_PERFECT,
                                     TREES__NO_PERFECT | TREES__NO_SIMD, TREES__REFERENCE};

/* Scores `n_rows` random rows (stride n_in + pad) with every plan, in calls of several sizes
 * (single rows, partial and full blocks), and compares with the evaluator bit for bit.
 */
static void check_ensemble(const ensemble *en, int n_rows, const char *name)
{
    const ktrees *t = &en->t;
    int k = t->n_out, pad = rnd_int(3);
    size_t stride = (size_t)t->n_in + (size_t)pad;
    double *x = malloc((size_t)n_rows * stride * sizeof *x);
    double *want = malloc((size_t)n_rows * (size_t)k * sizeof *want);
    double *got = malloc((size_t)n_rows * (size_t)k * sizeof *got);
    for (int r = 0; r < n_rows; r++)
        for (size_t j = 0; j < stride; j++)
            x[(size_t)r * stride + j] = j < (size_t)t->n_in ? make_input(en, (int)j) : NAN;
    const double *base = en->no_base ? NULL : en->base;
    for (int r = 0; r < n_rows; r++)
        for (int o = 0; o < k; o++)
            want[r * k + o] = eval_score(t, base, x + (size_t)r * stride, o);
    for (size_t p = 0; p < sizeof plan_opts / sizeof plan_opts[0]; p++) {
        trees_compiled *c = NULL;
        kerr e = {0};
        assert_int_equal(trees__compile_opts(t, base, plan_opts[p], &c, &e), K_OK);
        memset(got, 0xff, (size_t)n_rows * (size_t)k * sizeof *got);
        static const int chunks[] = {1, 3, 16, 17, 40, 100000};
        int r = 0, ci = 0;
        while (r < n_rows) {
            int m = chunks[ci++ % 6];
            if (m > n_rows - r) m = n_rows - r;
            trees_predict(c, x + (size_t)r * stride, (size_t)m, stride, got + (size_t)r * k);
            r += m;
        }
        double max_diff = 0;
        long mismatches = 0;
        for (int i = 0; i < n_rows * k; i++) {
            if (memcmp(&want[i], &got[i], sizeof got[i])) {
                double d = fabs(want[i] - got[i]);
                if (!(d <= max_diff)) max_diff = d;
                if (mismatches++ < 3)
                    printf("  %s [%s] row %d output %d: want %a got %a\n", name, trees__describe(c),
                           i / k, i % k, want[i], got[i]);
            }
        }
        printf("%-28s %-26s rows=%d trees=%d nodes=%d max_diff=%g mismatches=%ld\n", name,
               trees__describe(c), n_rows, t->n_trees, t->n_nodes, max_diff, mismatches);
        assert_int_equal(mismatches, 0);
        trees_free(c);
    }
    free(x);
    free(want);
    free(got);
}

static void run_case(const gen_opts *g, int n_rows, const char *name)
{
    ensemble *en = make_ensemble(g);
    check_ensemble(en, n_rows, name);
    free_ensemble(en);
}

static void test_xgboost_like(void **state)
{
    /* binary:logistic, depth 6: complete and ragged trees */
    gen_opts g = {.n_in = 30,
                  .n_out = 1,
                  .n_trees = 100,
                  .max_depth = 6,
                  .f32_inputs = 1,
                  .f32_acc = 1,
                  .complete = 1};
    run_case(&g, 2000, "xgb binary complete d6");
    g.complete = 0;
    g.p_split = 0.85;
    run_case(&g, 2000, "xgb binary ragged d6");
    g.max_depth = 8;
    g.n_trees = 37;
    run_case(&g, 1000, "xgb binary ragged d8");
    /* multi:softprob, 4 classes: trees cycle through outputs */
    gen_opts m = {.n_in = 12,
                  .n_out = 4,
                  .n_trees = 60,
                  .max_depth = 4,
                  .f32_inputs = 1,
                  .f32_acc = 1,
                  .complete = 0,
                  .p_split = 0.9};
    run_case(&m, 1000, "xgb multiclass d4");
    m.p_nan_threshold = 0.05;
    run_case(&m, 500, "xgb NaN thresholds");
}

static void test_lightgbm_like(void **state)
{
    /* double comparisons, NaN as zero on some nodes, deep leaf-wise trees */
    gen_opts g = {.n_in = 20,
                  .n_out = 1,
                  .n_trees = 50,
                  .max_depth = 14,
                  .p_split = 0.72,
                  .p_nan_as_zero = 0.4};
    run_case(&g, 1500, "lgbm deep nan-as-zero");
    g.max_depth = 5;
    g.complete = 1;
    run_case(&g, 1500, "lgbm complete d5");
    g.n_out = 3;
    g.n_trees = 30;
    g.complete = 0;
    g.p_split = 0.8;
    run_case(&g, 700, "lgbm multiclass");
}

static void test_forest_like(void **state)
{
    /* scikit-learn forests: float32 inputs, double sums, averaging; vector leaves */
    gen_opts g = {.n_in = 10,
                  .n_out = 3,
                  .n_trees = 25,
                  .max_depth = 18,
                  .f32_inputs = 1,
                  .vec = 1,
                  .mean = 1,
                  .p_split = 0.7};
    run_case(&g, 800, "rf vector leaves mean");
    g.max_depth = 4;
    g.complete = 1;
    run_case(&g, 800, "rf vector shallow");
    gen_opts r = {.n_in = 8,
                  .n_out = 1,
                  .n_trees = 40,
                  .max_depth = 9,
                  .f32_inputs = 1,
                  .mean = 1,
                  .p_split = 0.8,
                  .no_base = 1};
    run_case(&r, 800, "rf regressor mean");
    gen_opts gb = {
        .n_in = 8, .n_out = 1, .n_trees = 100, .max_depth = 3, .f32_inputs = 1, .complete = 1};
    run_case(&gb, 800, "sklearn gbm d3");
}

static void test_f32_accumulate_variants(void **state)
{
    gen_opts g = {.n_in = 6,
                  .n_out = 3,
                  .n_trees = 30,
                  .max_depth = 5,
                  .f32_inputs = 1,
                  .f32_acc = 1,
                  .vec = 1,
                  .p_split = 0.8};
    run_case(&g, 600, "f32 acc vector leaves");
    g.mean = 1;
    run_case(&g, 600, "f32 acc vector mean");
    g.vec = 0;
    g.n_out = 1;
    run_case(&g, 600, "f32 acc mean");
    g.f32_inputs = 0;
    g.mean = 0;
    run_case(&g, 600, "f64 inputs f32 acc");
}

static void test_fallback_flags(void **state)
{
    gen_opts g = {.n_in = 10,
                  .n_out = 2,
                  .n_trees = 40,
                  .max_depth = 6,
                  .f32_inputs = 0,
                  .p_split = 0.85,
                  .p_cat = 0.3,
                  .p_zero_missing = 0.2,
                  .p_nan_as_zero = 0.3};
    run_case(&g, 800, "categorical + zero-missing");
    g.f32_inputs = 1;
    g.f32_acc = 1;
    g.p_zero_missing = 0;
    run_case(&g, 800, "xgb categorical");
    g.p_cat = 0;
    g.p_zero_missing = 0.5;
    run_case(&g, 800, "zero-missing only");
}

static void test_degenerate(void **state)
{
    /* single-leaf trees, one tree, a single feature, few rows */
    gen_opts g = {
        .n_in = 1, .n_out = 1, .n_trees = 5, .max_depth = 0, .f32_inputs = 1, .f32_acc = 1};
    run_case(&g, 50, "leaves only");
    gen_opts h = {.n_in = 1, .n_out = 2, .n_trees = 1, .max_depth = 3, .p_split = 0.9};
    run_case(&h, 33, "one tree");
    gen_opts d = {.n_in = 3, .n_out = 1, .n_trees = 3, .max_depth = 40, .p_split = 0.55};
    run_case(&d, 300, "deep chains");
}

/* The spec allows a node to be reached from two parents (children only have to follow their
 * parent); such ensembles take the reference walk and still score right. */
static void test_shared_nodes(void **state)
{
    ktree_node nodes[6] = {
        {.flags = KNODE_DEFAULT_LEFT, .feature = 0, .threshold = 0.5, .left = 1, .right = 2},
        {.flags = 0, .feature = 1, .threshold = -1.0, .left = 3, .right = 2},
        {.flags = 0, .feature = 0, .threshold = 2.0, .left = 3, .right = 4},
        {.flags = KNODE_LEAF, .value = 1.5},
        {.flags = KNODE_LEAF, .value = -2.25},
        {.flags = KNODE_LEAF, .value = 100}, /* unreachable */
    };
    int32_t start[] = {0, 6}, out[] = {0};
    ktrees t = {.n_in = 2,
                .n_out = 1,
                .n_trees = 1,
                .tree_start = start,
                .tree_output = out,
                .nodes = nodes,
                .n_nodes = 6,
                .leaf_dim = 1};
    double x[] = {0, 0, 0, -2, 1, 0, 3, 0, NAN, NAN, NAN, -5};
    for (size_t p = 0; p < sizeof plan_opts / sizeof plan_opts[0]; p++) {
        trees_compiled *c = NULL;
        assert_int_equal(trees__compile_opts(&t, NULL, plan_opts[p], &c, NULL), K_OK);
        assert_string_equal(trees__describe(c), "reference walk");
        double got[6];
        trees_predict(c, x, 6, 2, got);
        for (int r = 0; r < 6; r++)
            assert_true(got[r] == eval_score(&t, NULL, x + 2 * r, 0));
        trees_free(c);
    }
}

/* Wide rows: expanded-row buffers move to the heap for blocks, and single rows wider than the
 * stack buffer take the reference walk. */
static void test_wide_rows(void **state)
{
    gen_opts g = {.n_in = 200,
                  .n_out = 1,
                  .n_trees = 100,
                  .max_depth = 6,
                  .f32_inputs = 1,
                  .f32_acc = 1,
                  .complete = 1};
    run_case(&g, 100, "200 features");
    g.n_in = 1300;
    g.n_trees = 120;
    run_case(&g, 60, "1300 features");
    g.f32_inputs = 0;
    g.f32_acc = 0;
    g.complete = 0;
    g.p_split = 0.8;
    g.max_depth = 12;
    g.n_trees = 40;
    run_case(&g, 60, "1300 features compact");
}

/* Stumps on float32-edge thresholds (each with NaN going left and going right, so the
 * NaN-only split of trees_plan.h appears), probed at every rounding midpoint around them. */
static void test_float32_edges(void **state)
{
    static const double edges[] = {0.0,           -0.0,         0x1p-149, -0x1p-149, 0x1p-126,
                                   FLT_MAX,       -FLT_MAX,     INFINITY, -INFINITY, 1.0,
                                   0.1,           (double)0.1f, 3.0e38,   -1e-50,    16777217.0,
                                   0.5 + 0x1p-30, NAN,          -DBL_MAX};
    enum { E = sizeof edges / sizeof edges[0], N = 2 * E };
    ktree_node nodes[3 * N];
    int32_t start[N + 1], out[N];
    for (int i = 0; i < N; i++) {
        nodes[3 * i] = (ktree_node){.flags = i >= E ? KNODE_DEFAULT_LEFT : 0,
                                    .feature = i % E,
                                    .threshold = edges[i % E],
                                    .left = 1,
                                    .right = 2};
        nodes[3 * i + 1] = (ktree_node){.flags = KNODE_LEAF, .value = 1.0 / (1 << (i % 20))};
        nodes[3 * i + 2] = (ktree_node){.flags = KNODE_LEAF, .value = -3.0 * i};
        start[i] = 3 * i;
        out[i] = 0;
    }
    start[N] = 3 * N;
    ktrees t = {.n_in = E,
                .n_out = 1,
                .n_trees = N,
                .tree_start = start,
                .tree_output = out,
                .nodes = nodes,
                .n_nodes = 3 * N,
                .leaf_dim = 1,
                .f32_inputs = 1};
    enum { ROWS = 64 };
    double x[ROWS * E];
    for (int j = 0; j < E; j++) {
        double e = edges[j];
        float f = (float)e, lo = nextafterf(f, -INFINITY), hi = nextafterf(f, INFINITY);
        double cand[12] = {e,
                           nextafter(e, INFINITY),
                           nextafter(e, -INFINITY),
                           (double)lo,
                           (double)hi,
                           0.5 * ((double)lo + (double)f),
                           0.5 * ((double)f + (double)hi),
                           0,
                           NAN,
                           1e300,
                           -INFINITY,
                           0x1p128};
        for (int r = 0; r < ROWS; r++) {
            double v = cand[(r + j) % 12];
            if (r >= 12 && r < 36) v = nextafter(v, r < 24 ? INFINITY : -INFINITY);
            x[r * E + j] = v;
        }
    }
    for (int acc = 0; acc < 2; acc++) {
        t.f32_accumulate = acc;
        for (size_t p = 0; p < sizeof plan_opts / sizeof plan_opts[0]; p++) {
            trees_compiled *c = NULL;
            assert_int_equal(trees__compile_opts(&t, NULL, plan_opts[p], &c, NULL), K_OK);
            double got[ROWS];
            trees_predict(c, x, ROWS, E, got);
            trees_predict(c, x + 3 * E, 1, E, got + 3); /* the single-row kernel too */
            long bad = 0;
            for (int r = 0; r < ROWS; r++) {
                double want = eval_score(&t, NULL, x + r * E, 0);
                if (memcmp(&want, &got[r], sizeof want)) bad++;
            }
            printf("float32 edges %-26s mismatches=%ld\n", trees__describe(c), bad);
            assert_int_equal(bad, 0);
            trees_free(c);
        }
    }
}

/* Through kmodel_predict (chunking, margins) with a trees estimator. */
static void test_through_kmodel(void **state)
{
    gen_opts g = {.n_in = 7,
                  .n_out = 1,
                  .n_trees = 50,
                  .max_depth = 6,
                  .f32_inputs = 1,
                  .f32_acc = 1,
                  .complete = 0,
                  .p_split = 0.9};
    ensemble *en = make_ensemble(&g);
    kspec *s = kspec_new(1 << 24);
    kfeature *f = arena_array(s->mem, 7, sizeof *f);
    static const char *names[] = {"a", "b", "c", "d", "e", "f", "g"};
    for (int i = 0; i < 7; i++)
        f[i] = (kfeature){names[i], KFEAT_NUMERIC, NAN, NAN, 0, NULL};
    s->features = f;
    s->n_features = 7;
    s->kind = KEST_TREES;
    s->trees = en->t;
    s->task = KTASK_REGRESSION;
    s->n_outputs = 1;
    s->base_score = en->base;
    s->link = KLINK_IDENTITY;
    kmodel *m = NULL;
    kerr e = {0};
    assert_int_equal(kmodel_new(s, &m, &e), K_OK);
    enum { ROWS = 700 };
    double *x = malloc(ROWS * 7 * sizeof *x), v[ROWS], mg[ROWS];
    for (int i = 0; i < ROWS * 7; i++)
        x[i] = make_input(en, i % 7);
    assert_int_equal(kmodel_predict(m, x, ROWS, v, mg), K_OK);
    long bad = 0;
    for (int r = 0; r < ROWS; r++) {
        double want = eval_score(&en->t, en->base, x + r * 7, 0);
        if (memcmp(&want, &mg[r], sizeof want) || memcmp(&want, &v[r], sizeof want)) bad++;
        double one;
        assert_int_equal(kmodel_predict(m, x + r * 7, 1, &one, NULL), K_OK);
        if (memcmp(&want, &one, sizeof want)) bad++;
    }
    printf("kmodel_predict trees: mismatches=%ld\n", bad);
    assert_int_equal(bad, 0);
    kmodel_free(m);
    free(x);
    free_ensemble(en);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_xgboost_like),   cmocka_unit_test(test_lightgbm_like),
        cmocka_unit_test(test_forest_like),    cmocka_unit_test(test_f32_accumulate_variants),
        cmocka_unit_test(test_fallback_flags), cmocka_unit_test(test_degenerate),
        cmocka_unit_test(test_shared_nodes),   cmocka_unit_test(test_wide_rows),
        cmocka_unit_test(test_float32_edges),  cmocka_unit_test(test_through_kmodel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
