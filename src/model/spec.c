/* spec.c — model spec allocation, metadata, and the validator that guards the predictor. */
#include "model/spec.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

kspec *kspec_new(size_t mem_limit)
{
    arena *a = arena_new(mem_limit);
    if (!a) return NULL;
    kspec *s = arena_alloc(a, sizeof *s);
    if (!s) {
        arena_free(a);
        return NULL;
    }
    s->mem = a;
    s->link_param = 1.0;
    return s;
}

void kspec_free(kspec *s)
{
    if (s) arena_free(s->mem);
}

const char *kspec_get_meta(const kspec *s, const char *key)
{
    for (int32_t i = 0; i < s->n_meta; i++)
        if (strcmp(s->meta[i].key, key) == 0) return s->meta[i].value;
    return NULL;
}

kstatus kspec_set_meta(kspec *s, const char *key, const char *value)
{
    char *v = arena_strdup(s->mem, value);
    if (!v) return K_NOMEM;
    for (int32_t i = 0; i < s->n_meta; i++) {
        if (strcmp(s->meta[i].key, key) == 0) {
            s->meta[i].value = v;
            return K_OK;
        }
    }
    kmeta *m = arena_array(s->mem, (size_t)s->n_meta + 1, sizeof *m);
    char *k = arena_strdup(s->mem, key);
    if (!m || !k) return K_NOMEM;
    if (s->n_meta) memcpy(m, s->meta, (size_t)s->n_meta * sizeof *m);
    m[s->n_meta].key = k;
    m[s->n_meta].value = v;
    s->meta = m;
    s->n_meta++;
    return K_OK;
}

int32_t kspec_estimator_inputs(const kspec *s)
{
    return s->n_steps ? s->steps[s->n_steps - 1].n_out : s->n_features;
}

int32_t kspec_n_values(const kspec *s)
{
    return s->task == KTASK_CLASSIFICATION ? s->n_classes : s->n_outputs;
}

double kspec_le_to_lt(double t, int f32)
{
    if (isnan(t)) return t;
    if (!f32) return nextafter(t, INFINITY);
    float f = (float)t;
    if ((double)f > t) f = nextafterf(f, -INFINITY); /* largest float32 <= t */
    return (double)nextafterf(f, INFINITY);
}

/* ---- validation ------------------------------------------------------------------------------ */

static kstatus check_steps(const kspec *s, kerr *e)
{
    int32_t width = s->n_features;
    for (int32_t i = 0; i < s->n_steps; i++) {
        const kstep *st = &s->steps[i];
        if (st->n_in != width || st->n_out < 0 || st->n_out > (1 << 24))
            return kerr_set(e, K_FORMAT, "preprocessing step %d: input width %d, expected %d", i,
                            st->n_in, width);
        switch (st->kind) {
        case KSTEP_SELECT:
            if (!st->index) return kerr_set(e, K_FORMAT, "step %d: select has no index", i);
            for (int32_t j = 0; j < st->n_out; j++)
                if (st->index[j] < 0 || st->index[j] >= st->n_in)
                    return kerr_set(e, K_FORMAT, "step %d: select index %d out of range", i,
                                    st->index[j]);
            break;
        case KSTEP_IMPUTE:
            if (!st->fill || st->n_out != st->n_in)
                return kerr_set(e, K_FORMAT, "step %d: bad imputer", i);
            break;
        case KSTEP_SCALE:
            if (!st->offset || !st->scale || st->n_out != st->n_in)
                return kerr_set(e, K_FORMAT, "step %d: bad scaler", i);
            break;
        case KSTEP_ONEHOT: {
            if (!st->n_cats || !st->cat_start)
                return kerr_set(e, K_FORMAT, "step %d: bad one-hot encoder", i);
            int64_t out = 0;
            for (int32_t j = 0; j < st->n_in; j++) {
                int32_t n = st->n_cats[j], at = st->cat_start[j];
                if (n < 0 || (n > 0 && (at < 0 || at > st->n_cat_values - n || !st->cat_values)))
                    return kerr_set(e, K_FORMAT, "step %d: category range out of bounds", i);
                out += n ? n : 1;
            }
            if (out != st->n_out)
                return kerr_set(e, K_FORMAT, "step %d: one-hot width %lld, declared %d", i,
                                (long long)out, st->n_out);
            break;
        }
        default:
            return kerr_set(e, K_FORMAT, "step %d: unknown kind %d", i, (int)st->kind);
        }
        width = st->n_out;
    }
    return K_OK;
}

static kstatus check_linear(const kspec *s, int32_t n_in, kerr *e)
{
    const klinear *l = &s->linear;
    if (l->n_in != n_in || l->n_out != s->n_outputs || !l->coef || !l->intercept)
        return kerr_set(e, K_FORMAT, "linear model is %dx%d, expected %dx%d", l->n_out, l->n_in,
                        s->n_outputs, n_in);
    return K_OK;
}

static kstatus check_node(const ktrees *t, int32_t tree, int32_t i, int32_t size, kerr *e)
{
    const ktree_node *n = &t->nodes[t->tree_start[tree] + i];
    if (n->flags & KNODE_LEAF) {
        if (t->leaf_dim > 1 && (n->leaf_index < 0 || n->leaf_index >= t->n_leaf_vectors))
            return kerr_set(e, K_FORMAT, "tree %d node %d: leaf index out of range", tree, i);
        return K_OK;
    }
    if (n->left <= i || n->right <= i || n->left >= size || n->right >= size)
        return kerr_set(e, K_FORMAT, "tree %d node %d: child index out of range (children must "
                                     "follow their parent)", tree, i);
    if (n->feature < 0 || n->feature >= t->n_in)
        return kerr_set(e, K_FORMAT, "tree %d node %d: feature %d out of range", tree, i,
                        n->feature);
    if ((n->flags & KNODE_CATEGORICAL) &&
        (n->cat_len > (uint32_t)t->n_cat_words ||
         n->cat_start > (uint32_t)t->n_cat_words - n->cat_len))
        return kerr_set(e, K_FORMAT, "tree %d node %d: category set out of range", tree, i);
    return K_OK;
}

static kstatus check_trees(const kspec *s, int32_t n_in, kerr *e)
{
    const ktrees *t = &s->trees;
    if (t->n_in != n_in || t->n_out != s->n_outputs || t->n_trees < 0 || !t->tree_start ||
        !t->tree_output || (t->n_nodes > 0 && !t->nodes))
        return kerr_set(e, K_FORMAT, "tree ensemble header is inconsistent");
    if (t->leaf_dim != 1 && t->leaf_dim != t->n_out)
        return kerr_set(e, K_FORMAT, "leaf width %d must be 1 or %d", t->leaf_dim, t->n_out);
    if (t->leaf_dim > 1 && (!t->leaf_values || t->n_leaf_vectors < 0))
        return kerr_set(e, K_FORMAT, "vector leaves without values");
    if (t->tree_start[0] != 0 || t->tree_start[t->n_trees] != t->n_nodes)
        return kerr_set(e, K_FORMAT, "tree offsets do not cover the node array");
    /* offsets must rise strictly inside [0, n_nodes] before any node is looked at */
    for (int32_t k = 0; k < t->n_trees; k++)
        if (t->tree_start[k + 1] <= t->tree_start[k] || t->tree_start[k + 1] > t->n_nodes)
            return kerr_set(e, K_FORMAT, "tree %d: offsets are not increasing or lie outside "
                                         "the node array", k);
    for (int32_t k = 0; k < t->n_trees; k++) {
        int32_t size = t->tree_start[k + 1] - t->tree_start[k];
        if (t->tree_output[k] < 0 || t->tree_output[k] >= t->n_out)
            return kerr_set(e, K_FORMAT, "tree %d: output %d out of range", k, t->tree_output[k]);
        for (int32_t i = 0; i < size; i++) {
            kstatus st = check_node(t, k, i, size, e);
            if (st) return st;
        }
    }
    return K_OK;
}

static kstatus check_mlp(const kspec *s, int32_t n_in, kerr *e)
{
    const kmlp *m = &s->mlp;
    if (m->n_layers <= 0 || !m->layers) return kerr_set(e, K_FORMAT, "MLP has no layers");
    int32_t width = n_in;
    for (int32_t i = 0; i < m->n_layers; i++) {
        const klayer *l = &m->layers[i];
        if (l->n_in != width || l->n_out <= 0 || l->n_out > (1 << 20) || !l->weight || !l->bias ||
            (unsigned)l->act > KACT_LOGISTIC)
            return kerr_set(e, K_FORMAT, "MLP layer %d is inconsistent", i);
        width = l->n_out;
    }
    if (width != s->n_outputs)
        return kerr_set(e, K_FORMAT, "MLP output width %d, expected %d", width, s->n_outputs);
    return K_OK;
}

static kstatus check_output(const kspec *s, kerr *e)
{
    if ((unsigned)s->link > KLINK_LOG1PEXP) return kerr_set(e, K_FORMAT, "unknown link");
    if (s->task == KTASK_CLASSIFICATION) {
        int ok = s->n_classes >= 2 && s->class_labels &&
                 (s->n_outputs == s->n_classes || (s->n_classes == 2 && s->n_outputs == 1));
        if (!ok)
            return kerr_set(e, K_FORMAT, "classifier with %d classes and %d outputs",
                            s->n_classes, s->n_outputs);
        for (int32_t i = 0; i < s->n_classes; i++)
            if (!s->class_labels[i]) return kerr_set(e, K_FORMAT, "class %d has no label", i);
    } else if (s->task != KTASK_REGRESSION) {
        return kerr_set(e, K_FORMAT, "unknown task");
    }
    return K_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Feature names are how CSV columns and JSON objects find their feature: they must be unique. */
static kstatus check_feature_names(const kspec *s, kerr *e)
{
    for (int32_t i = 0; i < s->n_features; i++)
        if (!s->features[i].name || !s->features[i].name[0])
            return kerr_set(e, K_FORMAT, "feature %d has no name", i);
    const char **names = malloc((size_t)s->n_features * sizeof *names);
    if (!names) return kerr_set(e, K_NOMEM, "out of memory");
    for (int32_t i = 0; i < s->n_features; i++) names[i] = s->features[i].name;
    qsort(names, (size_t)s->n_features, sizeof *names, cmp_name);
    kstatus st = K_OK;
    for (int32_t i = 1; i < s->n_features && !st; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st = kerr_set(e, K_FORMAT, "feature name '%.200s' appears twice", names[i]);
    free(names);
    return st;
}

kstatus kspec_validate(const kspec *s, kerr *e)
{
    if (s->n_features <= 0 || s->n_features > (1 << 20) || !s->features)
        return kerr_set(e, K_FORMAT, "model has %d features", s->n_features);
    kstatus st = check_feature_names(s, e);
    if (st) return st;
    if (s->n_outputs <= 0 || s->n_outputs > (1 << 16))
        return kerr_set(e, K_FORMAT, "model has %d outputs", s->n_outputs);
    st = check_steps(s, e);
    if (st) return st;
    int32_t n_in = kspec_estimator_inputs(s);
    switch (s->kind) {
    case KEST_LINEAR: st = check_linear(s, n_in, e); break;
    case KEST_TREES: st = check_trees(s, n_in, e); break;
    case KEST_MLP: st = check_mlp(s, n_in, e); break;
    default: st = kerr_set(e, K_FORMAT, "unknown estimator kind %d", (int)s->kind);
    }
    return st ? st : check_output(s, e);
}
