/* trees.c — tree-ensemble evaluation: the general node walk that implements every flag of
 * ktree_node exactly. */
#include "model/trees.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct trees_compiled {
    const ktrees *t;
    double *base;      /* n_out */
    int32_t *per_out;  /* trees per output (for KAGG_MEAN) */
};

kstatus trees_compile(const ktrees *t, const double *base_score, trees_compiled **out, kerr *e)
{
    trees_compiled *c = calloc(1, sizeof *c);
    if (!c) return kerr_set(e, K_NOMEM, "out of memory");
    c->t = t;
    c->base = calloc((size_t)t->n_out, sizeof *c->base);
    c->per_out = calloc((size_t)t->n_out, sizeof *c->per_out);
    if (!c->base || !c->per_out) {
        trees_free(c);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    if (base_score) memcpy(c->base, base_score, (size_t)t->n_out * sizeof *c->base);
    for (int32_t k = 0; k < t->n_trees; k++) {
        if (t->leaf_dim > 1)
            for (int32_t o = 0; o < t->n_out; o++) c->per_out[o]++;
        else
            c->per_out[t->tree_output[k]]++;
    }
    *out = c;
    return K_OK;
}

void trees_free(trees_compiled *c)
{
    if (!c) return;
    free(c->base);
    free(c->per_out);
    free(c);
}

static int category_in_set(const ktrees *t, const ktree_node *n, double x, int *invalid)
{
    *invalid = !(x >= 0) || x >= 32.0 * (double)n->cat_len;
    if (*invalid) return 0;
    uint32_t c = (uint32_t)x;
    return (t->cat_words[n->cat_start + c / 32] >> (c % 32)) & 1u;
}

/* Returns 1 when the row goes left at node n. */
static int goes_left(const ktrees *t, const ktree_node *n, double x)
{
    uint32_t f = n->flags;
    int dflt = (f & KNODE_DEFAULT_LEFT) != 0;
    if (isnan(x)) {
        if (!(f & KNODE_NAN_AS_ZERO)) return dflt;
        x = 0.0;
    }
    if ((f & KNODE_ZERO_MISSING) && fabs(x) <= 1e-35) return dflt;
    if (f & KNODE_CATEGORICAL) {
        int invalid;
        int in = category_in_set(t, n, x, &invalid);
        if (invalid && (f & KNODE_CAT_INVALID_DEFAULT)) return dflt;
        return (f & KNODE_CAT_SET_RIGHT) ? !in : in;
    }
    if (t->f32_inputs) return (double)(float)x < n->threshold;
    return x < n->threshold;
}

static const ktree_node *find_leaf(const ktrees *t, int32_t tree, const double *row)
{
    const ktree_node *base = t->nodes + t->tree_start[tree];
    const ktree_node *n = base;
    while (!(n->flags & KNODE_LEAF)) n = base + (goes_left(t, n, row[n->feature]) ? n->left : n->right);
    return n;
}

/* `sum` is scratch of n_out doubles. */
static void predict_row(const trees_compiled *c, const double *row, double *sc, double *sum)
{
    const ktrees *t = c->t;
    int32_t k = t->n_out;
    if (t->f32_accumulate) {
        float *acc = (float *)sum;
        for (int32_t o = 0; o < k; o++) acc[o] = (float)c->base[o];
        for (int32_t i = 0; i < t->n_trees; i++)
            acc[t->tree_output[i]] += (float)find_leaf(t, i, row)->value;
        for (int32_t o = 0; o < k; o++) sc[o] = acc[o];
        return;
    }
    memset(sum, 0, (size_t)k * sizeof *sum);
    for (int32_t i = 0; i < t->n_trees; i++) {
        const ktree_node *leaf = find_leaf(t, i, row);
        if (t->leaf_dim > 1) {
            const double *v = t->leaf_values + (size_t)leaf->leaf_index * (size_t)t->leaf_dim;
            for (int32_t o = 0; o < k; o++) sum[o] += v[o];
        } else {
            sum[t->tree_output[i]] += leaf->value;
        }
    }
    for (int32_t o = 0; o < k; o++) {
        double v = sum[o];
        if (t->aggregate == KAGG_MEAN && c->per_out[o]) v /= c->per_out[o];
        sc[o] = c->base[o] + v;
    }
}

void trees_predict(const trees_compiled *c, const double *x, size_t n, size_t stride,
                   double *scores)
{
    size_t k = (size_t)c->t->n_out;
    double stack[64];
    double *sum = k <= 64 ? stack : malloc(k * sizeof *sum);
    if (!sum) { /* cannot happen for validated models of sane size; leave NaN scores */
        for (size_t i = 0; i < n * k; i++) scores[i] = NAN;
        return;
    }
    for (size_t r = 0; r < n; r++) predict_row(c, x + r * stride, scores + r * k, sum);
    if (sum != stack) free(sum);
}
