/* pkg_json.c — kspec <-> manifest JSON (see docs/model-format.md for the manifest schema).
 *
 * Enumerations are written as names, never numbers, so a manifest reads well and a future
 * reordering of an enum cannot silently change a stored model's meaning. */
#include "model/pkg_json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define MAX_COUNT (1 << 28) /* any array length beyond this is hostile */

static const char *const step_names[] = {"select", "impute", "scale", "onehot"};
static const char *const est_names[] = {"linear", "trees", "mlp"};
static const char *const act_names[] = {"identity", "relu", "tanh", "logistic"};
static const char *const task_names[] = {"regression", "classification"};
static const char *const link_names[] = {"identity", "sigmoid", "softmax", "exp",
                                         "ovr",      "square",  "log1pexp"};
static const char *const agg_names[] = {"sum", "mean"};

#define N_OF(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- writing --------------------------------------------------------------------------------- */

static void put(json_object *o, const char *k, json_object *v)
{
    json_object_object_add(o, k, v);
}

static void put_int(json_object *o, const char *k, int64_t v)
{
    put(o, k, json_object_new_int64(v));
}

static void put_str(json_object *o, const char *k, const char *v)
{
    put(o, k, json_object_new_string(v));
}

/* Finite doubles as numbers, NaN/Inf as null (JSON has no NaN). */
static void put_num(json_object *o, const char *k, double v)
{
    put(o, k, isfinite(v) ? json_object_new_double(v) : json_object_new_null());
}

static json_object *strings(const char *const *v, int32_t n)
{
    json_object *a = json_object_new_array();
    for (int32_t i = 0; i < n; i++) json_object_array_add(a, json_object_new_string(v[i]));
    return a;
}

static json_object *write_features(const kspec *s)
{
    json_object *a = json_object_new_array();
    for (int32_t i = 0; i < s->n_features; i++) {
        const kfeature *f = &s->features[i];
        json_object *o = json_object_new_object();
        put_str(o, "name", f->name);
        put_str(o, "type", f->type == KFEAT_CATEGORICAL ? "categorical" : "numeric");
        put_num(o, "min", f->min);
        put_num(o, "max", f->max);
        put_int(o, "n_categories", f->n_categories);
        if (f->categories) put(o, "categories", strings(f->categories, f->n_categories));
        json_object_array_add(a, o);
    }
    return a;
}

static json_object *write_step(pkg_writer *w, const kstep *st, int32_t i)
{
    json_object *o = json_object_new_object();
    char name[32];
    put_str(o, "kind", step_names[st->kind]);
    put_int(o, "n_in", st->n_in);
    put_int(o, "n_out", st->n_out);
#define SEC(field) (snprintf(name, sizeof name, "step%d.%s", i, field), name)
    switch (st->kind) {
    case KSTEP_SELECT: put(o, "index", pkgw_i32(w, SEC("index"), st->index, st->n_out)); break;
    case KSTEP_IMPUTE: put(o, "fill", pkgw_f64(w, SEC("fill"), st->fill, st->n_in)); break;
    case KSTEP_SCALE:
        put(o, "offset", pkgw_f64(w, SEC("offset"), st->offset, st->n_in));
        put(o, "scale", pkgw_f64(w, SEC("scale"), st->scale, st->n_in));
        break;
    case KSTEP_ONEHOT:
        put(o, "n_cats", pkgw_i32(w, SEC("n_cats"), st->n_cats, st->n_in));
        put(o, "cat_start", pkgw_i32(w, SEC("cat_start"), st->cat_start, st->n_in));
        put_int(o, "n_cat_values", st->n_cat_values);
        put(o, "cat_values", pkgw_f64(w, SEC("cat_values"), st->cat_values, st->n_cat_values));
        break;
    }
#undef SEC
    return o;
}

/* Tree nodes are stored as one section per field (structure of arrays). */
static void write_nodes(pkg_writer *w, const ktrees *t, json_object *o)
{
    size_t n = (size_t)t->n_nodes;
    uint32_t *flags = pkgw_scratch(w, n, 4), *cs = pkgw_scratch(w, n, 4),
             *cl = pkgw_scratch(w, n, 4);
    int32_t *feat = pkgw_scratch(w, n, 4), *left = pkgw_scratch(w, n, 4),
            *right = pkgw_scratch(w, n, 4), *li = pkgw_scratch(w, n, 4);
    double *thr = pkgw_scratch(w, n, 8), *val = pkgw_scratch(w, n, 8);
    if (!flags || !cs || !cl || !feat || !left || !right || !li || !thr || !val) return;
    for (size_t i = 0; i < n; i++) {
        const ktree_node *nd = &t->nodes[i];
        flags[i] = nd->flags;
        feat[i] = nd->feature;
        thr[i] = nd->threshold;
        left[i] = nd->left;
        right[i] = nd->right;
        cs[i] = nd->cat_start;
        cl[i] = nd->cat_len;
        val[i] = nd->value;
        li[i] = nd->leaf_index;
    }
    put(o, "node_flags", pkgw_u32(w, "node.flags", flags, n));
    put(o, "node_feature", pkgw_i32(w, "node.feature", feat, n));
    put(o, "node_threshold", pkgw_f64(w, "node.threshold", thr, n));
    put(o, "node_left", pkgw_i32(w, "node.left", left, n));
    put(o, "node_right", pkgw_i32(w, "node.right", right, n));
    put(o, "node_cat_start", pkgw_u32(w, "node.cat_start", cs, n));
    put(o, "node_cat_len", pkgw_u32(w, "node.cat_len", cl, n));
    put(o, "node_value", pkgw_f64(w, "node.value", val, n));
    put(o, "node_leaf_index", pkgw_i32(w, "node.leaf_index", li, n));
}

static void write_trees(pkg_writer *w, const ktrees *t, json_object *o)
{
    put_int(o, "n_in", t->n_in);
    put_int(o, "n_out", t->n_out);
    put_int(o, "n_trees", t->n_trees);
    put_int(o, "n_nodes", t->n_nodes);
    put_int(o, "leaf_dim", t->leaf_dim);
    put_int(o, "n_leaf_vectors", t->n_leaf_vectors);
    put_int(o, "n_cat_words", t->n_cat_words);
    put_str(o, "aggregate", agg_names[t->aggregate]);
    put(o, "f32_inputs", json_object_new_boolean(t->f32_inputs));
    put(o, "f32_accumulate", json_object_new_boolean(t->f32_accumulate));
    put(o, "tree_start", pkgw_i32(w, "tree.start", t->tree_start, (size_t)t->n_trees + 1));
    put(o, "tree_output", pkgw_i32(w, "tree.output", t->tree_output, (size_t)t->n_trees));
    write_nodes(w, t, o);
    if (t->leaf_dim > 1)
        put(o, "leaf_values", pkgw_f64(w, "leaf.values", t->leaf_values,
                                       (size_t)t->n_leaf_vectors * (size_t)t->leaf_dim));
    if (t->n_cat_words)
        put(o, "cat_words", pkgw_u32(w, "cat.words", t->cat_words, (size_t)t->n_cat_words));
}

static json_object *write_estimator(pkg_writer *w, const kspec *s)
{
    json_object *o = json_object_new_object();
    put_str(o, "kind", est_names[s->kind]);
    if (s->kind == KEST_LINEAR) {
        const klinear *l = &s->linear;
        put_int(o, "n_in", l->n_in);
        put_int(o, "n_out", l->n_out);
        put(o, "coef", pkgw_f64(w, "linear.coef", l->coef, (size_t)l->n_in * (size_t)l->n_out));
        put(o, "intercept", pkgw_f64(w, "linear.intercept", l->intercept, (size_t)l->n_out));
    } else if (s->kind == KEST_TREES) {
        write_trees(w, &s->trees, o);
    } else {
        json_object *layers = json_object_new_array();
        for (int32_t i = 0; i < s->mlp.n_layers; i++) {
            const klayer *l = &s->mlp.layers[i];
            json_object *lo = json_object_new_object();
            char name[32];
            put_int(lo, "n_in", l->n_in);
            put_int(lo, "n_out", l->n_out);
            put_str(lo, "activation", act_names[l->act]);
            snprintf(name, sizeof name, "layer%d.weight", i);
            put(lo, "weight", pkgw_f64(w, name, l->weight, (size_t)l->n_in * (size_t)l->n_out));
            snprintf(name, sizeof name, "layer%d.bias", i);
            put(lo, "bias", pkgw_f64(w, name, l->bias, (size_t)l->n_out));
            json_object_array_add(layers, lo);
        }
        put(o, "layers", layers);
    }
    return o;
}

static json_object *write_output(pkg_writer *w, const kspec *s)
{
    json_object *o = json_object_new_object();
    put_str(o, "task", task_names[s->task]);
    put_int(o, "n_outputs", s->n_outputs);
    put_str(o, "link", link_names[s->link]);
    put_num(o, "link_param", s->link_param);
    if (s->base_score)
        put(o, "base_score", pkgw_f64(w, "base_score", s->base_score, (size_t)s->n_outputs));
    if (s->task == KTASK_CLASSIFICATION) put(o, "classes", strings(s->class_labels, s->n_classes));
    return o;
}

json_object *pkgj_manifest(pkg_writer *w, const kspec *s)
{
    json_object *m = json_object_new_object();
    put_str(m, "format", "kiln-model");
    put_int(m, "format_version", 1);
    put_str(m, "missing_value", "NaN");
    put(m, "features", write_features(s));
    json_object *steps = json_object_new_array();
    for (int32_t i = 0; i < s->n_steps; i++)
        json_object_array_add(steps, write_step(w, &s->steps[i], i));
    put(m, "steps", steps);
    put(m, "estimator", write_estimator(w, s));
    put(m, "output", write_output(w, s));
    json_object *meta = json_object_new_object();
    for (int32_t i = 0; i < s->n_meta; i++) put_str(meta, s->meta[i].key, s->meta[i].value);
    put(m, "meta", meta);
    return m;
}

/* ---- reading --------------------------------------------------------------------------------- */

typedef struct {
    pkg_reader *r;
    kspec *s;
    kerr *e;
    const char *where; /* manifest path for messages */
} rd;

static json_object *field(rd *d, json_object *o, const char *k, json_type type)
{
    json_object *v = NULL;
    if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, k, &v) ||
        !json_object_is_type(v, type)) {
        kerr_set(d->e, K_FORMAT, "manifest: %s.%s is missing or has the wrong type", d->where, k);
        return NULL;
    }
    return v;
}

static int get_int(rd *d, json_object *o, const char *k, int32_t lo, int32_t hi, int32_t *out)
{
    json_object *v = field(d, o, k, json_type_int);
    if (!v) return 0;
    int64_t x = json_object_get_int64(v);
    if (x < lo || x > hi) {
        kerr_set(d->e, K_FORMAT, "manifest: %s.%s = %lld is out of range", d->where, k,
                 (long long)x);
        return 0;
    }
    *out = (int32_t)x;
    return 1;
}

/* A number, or null for NaN. */
static double get_num(json_object *o, const char *k)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, k, &v) ||
        !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
        return NAN;
    return json_object_get_double(v);
}

static int get_enum(rd *d, json_object *o, const char *k, const char *const *names, int n,
                    int *out)
{
    json_object *v = field(d, o, k, json_type_string);
    if (!v) return 0;
    const char *str = json_object_get_string(v);
    for (int i = 0; i < n; i++) {
        if (strcmp(str, names[i]) == 0) {
            *out = i;
            return 1;
        }
    }
    kerr_set(d->e, K_FORMAT, "manifest: %s.%s has unknown value '%s'", d->where, k, str);
    return 0;
}

static int get_bool(rd *d, json_object *o, const char *k, int32_t *out)
{
    json_object *v = field(d, o, k, json_type_boolean);
    if (v) *out = json_object_get_boolean(v);
    return v != NULL;
}

static const char *dup_str(rd *d, json_object *v)
{
    if (!json_object_is_type(v, json_type_string)) {
        kerr_set(d->e, K_FORMAT, "manifest: %s: expected a string", d->where);
        return NULL;
    }
    const char *p = arena_strdup(d->s->mem, json_object_get_string(v));
    if (!p) kerr_set(d->e, K_LIMIT, "manifest: string too large");
    return p;
}

static const char **read_strings(rd *d, json_object *a, int32_t n)
{
    if (!json_object_is_type(a, json_type_array) || json_object_array_length(a) != (size_t)n) {
        kerr_set(d->e, K_FORMAT, "manifest: %s: expected %d strings", d->where, n);
        return NULL;
    }
    const char **out = arena_array(d->s->mem, (size_t)n ? (size_t)n : 1, sizeof *out);
    if (!out) return NULL;
    for (int32_t i = 0; i < n; i++)
        if (!(out[i] = dup_str(d, json_object_array_get_idx(a, (size_t)i)))) return NULL;
    return out;
}

/* Reads section `k` of object `o` with exactly n elements. */
#define SEC_F64(d, o, k, n, out) (pkgr_f64((d)->r, field(d, o, k, json_type_string), n, out) == K_OK)
#define SEC_I32(d, o, k, n, out) (pkgr_i32((d)->r, field(d, o, k, json_type_string), n, out) == K_OK)
#define SEC_U32(d, o, k, n, out) (pkgr_u32((d)->r, field(d, o, k, json_type_string), n, out) == K_OK)

static int read_feature(rd *d, json_object *o, kfeature *f)
{
    int type;
    json_object *name = field(d, o, "name", json_type_string);
    if (!name || !(f->name = dup_str(d, name))) return 0;
    if (!get_enum(d, o, "type", (const char *const[]){"numeric", "categorical"}, 2, &type))
        return 0;
    f->type = (kfeat_type)type;
    f->min = get_num(o, "min");
    f->max = get_num(o, "max");
    if (!get_int(d, o, "n_categories", 0, MAX_COUNT, &f->n_categories)) return 0;
    json_object *cats;
    if (json_object_object_get_ex(o, "categories", &cats))
        return (f->categories = read_strings(d, cats, f->n_categories)) != NULL;
    return 1;
}

static int read_features(rd *d, json_object *m)
{
    d->where = "features";
    json_object *a = field(d, m, "features", json_type_array);
    if (!a) return 0;
    size_t n = json_object_array_length(a);
    if (n == 0 || n > (1 << 20)) return kerr_set(d->e, K_FORMAT, "manifest: bad feature count"), 0;
    d->s->n_features = (int32_t)n;
    d->s->features = arena_array(d->s->mem, n, sizeof(kfeature));
    if (!d->s->features) return kerr_set(d->e, K_LIMIT, "too many features"), 0;
    for (size_t i = 0; i < n; i++)
        if (!read_feature(d, json_object_array_get_idx(a, i), &d->s->features[i])) return 0;
    return 1;
}

static int read_step(rd *d, json_object *o, kstep *st)
{
    int kind;
    if (!get_enum(d, o, "kind", step_names, N_OF(step_names), &kind) ||
        !get_int(d, o, "n_in", 0, MAX_COUNT, &st->n_in) ||
        !get_int(d, o, "n_out", 0, MAX_COUNT, &st->n_out))
        return 0;
    st->kind = (kstep_kind)kind;
    size_t n_in = (size_t)st->n_in;
    switch (st->kind) {
    case KSTEP_SELECT: return SEC_I32(d, o, "index", (size_t)st->n_out, &st->index);
    case KSTEP_IMPUTE: return SEC_F64(d, o, "fill", n_in, &st->fill);
    case KSTEP_SCALE:
        return SEC_F64(d, o, "offset", n_in, &st->offset) &&
               SEC_F64(d, o, "scale", n_in, &st->scale);
    case KSTEP_ONEHOT:
        return get_int(d, o, "n_cat_values", 0, MAX_COUNT, &st->n_cat_values) &&
               SEC_I32(d, o, "n_cats", n_in, &st->n_cats) &&
               SEC_I32(d, o, "cat_start", n_in, &st->cat_start) &&
               SEC_F64(d, o, "cat_values", (size_t)st->n_cat_values, &st->cat_values);
    }
    return 0;
}

static int read_steps(rd *d, json_object *m)
{
    d->where = "steps";
    json_object *a = field(d, m, "steps", json_type_array);
    if (!a) return 0;
    size_t n = json_object_array_length(a);
    if (n > 1024) return kerr_set(d->e, K_FORMAT, "manifest: too many steps"), 0;
    d->s->n_steps = (int32_t)n;
    d->s->steps = arena_array(d->s->mem, n ? n : 1, sizeof(kstep));
    if (!d->s->steps) return 0;
    for (size_t i = 0; i < n; i++)
        if (!read_step(d, json_object_array_get_idx(a, i), &d->s->steps[i])) return 0;
    return 1;
}

/* Node fields are read straight from the file into the node array: copying each field's
 * section first would double the memory a loaded ensemble takes. */
static int read_nodes(rd *d, json_object *o, ktrees *t)
{
    size_t n = (size_t)t->n_nodes;
    const unsigned char *flags, *feat, *thr, *left, *right, *cs, *cl, *val, *li;
#define RAW(key, f64, out) (pkgr_raw(d->r, field(d, o, key, json_type_string), f64, n, out) == K_OK)
#define RAW_U32(key, out) (pkgr_raw_u32(d->r, field(d, o, key, json_type_string), n, out) == K_OK)
    if (!RAW_U32("node_flags", &flags) || !RAW("node_feature", 0, &feat) ||
        !RAW("node_threshold", 1, &thr) || !RAW("node_left", 0, &left) ||
        !RAW("node_right", 0, &right) || !RAW_U32("node_cat_start", &cs) ||
        !RAW_U32("node_cat_len", &cl) || !RAW("node_value", 1, &val) ||
        !RAW("node_leaf_index", 0, &li))
        return 0;
#undef RAW
#undef RAW_U32
    ktree_node *nodes = arena_array(d->s->mem, n ? n : 1, sizeof *nodes);
    if (!nodes) return kerr_set(d->e, K_LIMIT, "too many tree nodes"), 0;
    for (size_t i = 0; i < n; i++) {
        ktree_node *nd = &nodes[i];
        memcpy(&nd->flags, flags + 4 * i, 4);
        memcpy(&nd->feature, feat + 4 * i, 4);
        memcpy(&nd->threshold, thr + 8 * i, 8);
        memcpy(&nd->left, left + 4 * i, 4);
        memcpy(&nd->right, right + 4 * i, 4);
        memcpy(&nd->cat_start, cs + 4 * i, 4);
        memcpy(&nd->cat_len, cl + 4 * i, 4);
        memcpy(&nd->value, val + 8 * i, 8);
        memcpy(&nd->leaf_index, li + 4 * i, 4);
    }
    t->nodes = nodes;
    return 1;
}

static int read_trees(rd *d, json_object *o, ktrees *t)
{
    int agg;
    if (!get_int(d, o, "n_in", 1, MAX_COUNT, &t->n_in) ||
        !get_int(d, o, "n_out", 1, 1 << 16, &t->n_out) ||
        !get_int(d, o, "n_trees", 0, MAX_COUNT, &t->n_trees) ||
        !get_int(d, o, "n_nodes", 0, MAX_COUNT, &t->n_nodes) ||
        !get_int(d, o, "leaf_dim", 1, 1 << 16, &t->leaf_dim) ||
        !get_int(d, o, "n_leaf_vectors", 0, MAX_COUNT, &t->n_leaf_vectors) ||
        !get_int(d, o, "n_cat_words", 0, MAX_COUNT, &t->n_cat_words) ||
        !get_enum(d, o, "aggregate", agg_names, N_OF(agg_names), &agg) ||
        !get_bool(d, o, "f32_inputs", &t->f32_inputs) ||
        !get_bool(d, o, "f32_accumulate", &t->f32_accumulate) ||
        !SEC_I32(d, o, "tree_start", (size_t)t->n_trees + 1, &t->tree_start) ||
        !SEC_I32(d, o, "tree_output", (size_t)t->n_trees, &t->tree_output) || !read_nodes(d, o, t))
        return 0;
    t->aggregate = (kagg)agg;
    if (t->leaf_dim > 1 &&
        !SEC_F64(d, o, "leaf_values", (size_t)t->n_leaf_vectors * (size_t)t->leaf_dim,
                 &t->leaf_values))
        return 0;
    if (t->n_cat_words && !SEC_U32(d, o, "cat_words", (size_t)t->n_cat_words, &t->cat_words))
        return 0;
    return 1;
}

static int read_layer(rd *d, json_object *o, klayer *l)
{
    int act;
    if (!get_int(d, o, "n_in", 1, 1 << 20, &l->n_in) ||
        !get_int(d, o, "n_out", 1, 1 << 20, &l->n_out) ||
        !get_enum(d, o, "activation", act_names, N_OF(act_names), &act))
        return 0;
    l->act = (kactivation)act;
    return SEC_F64(d, o, "weight", (size_t)l->n_in * (size_t)l->n_out, &l->weight) &&
           SEC_F64(d, o, "bias", (size_t)l->n_out, &l->bias);
}

static int read_mlp(rd *d, json_object *o, kmlp *mlp)
{
    json_object *a = field(d, o, "layers", json_type_array);
    if (!a) return 0;
    size_t n = json_object_array_length(a);
    if (n == 0 || n > 256) return kerr_set(d->e, K_FORMAT, "manifest: bad layer count"), 0;
    klayer *layers = arena_array(d->s->mem, n, sizeof *layers);
    if (!layers) return 0;
    for (size_t i = 0; i < n; i++)
        if (!read_layer(d, json_object_array_get_idx(a, i), &layers[i])) return 0;
    mlp->n_layers = (int32_t)n;
    mlp->layers = layers;
    return 1;
}

static int read_estimator(rd *d, json_object *m)
{
    d->where = "estimator";
    json_object *o = field(d, m, "estimator", json_type_object);
    int kind;
    if (!o || !get_enum(d, o, "kind", est_names, N_OF(est_names), &kind)) return 0;
    kspec *s = d->s;
    s->kind = (kest_kind)kind;
    if (s->kind == KEST_TREES) return read_trees(d, o, &s->trees);
    if (s->kind == KEST_MLP) return read_mlp(d, o, &s->mlp);
    klinear *l = &s->linear;
    return get_int(d, o, "n_in", 1, MAX_COUNT, &l->n_in) &&
           get_int(d, o, "n_out", 1, 1 << 16, &l->n_out) &&
           SEC_F64(d, o, "coef", (size_t)l->n_in * (size_t)l->n_out, &l->coef) &&
           SEC_F64(d, o, "intercept", (size_t)l->n_out, &l->intercept);
}

static int read_output(rd *d, json_object *m)
{
    d->where = "output";
    kspec *s = d->s;
    json_object *o = field(d, m, "output", json_type_object), *v;
    int task, link;
    if (!o || !get_enum(d, o, "task", task_names, N_OF(task_names), &task) ||
        !get_enum(d, o, "link", link_names, N_OF(link_names), &link) ||
        !get_int(d, o, "n_outputs", 1, 1 << 16, &s->n_outputs))
        return 0;
    s->task = (ktask)task;
    s->link = (klink)link;
    s->link_param = get_num(o, "link_param");
    if (json_object_object_get_ex(o, "base_score", &v) &&
        pkgr_f64(d->r, v, (size_t)s->n_outputs, &s->base_score) != K_OK)
        return 0;
    if (s->task != KTASK_CLASSIFICATION) return 1;
    json_object *classes = field(d, o, "classes", json_type_array);
    if (!classes) return 0;
    size_t n = json_object_array_length(classes);
    if (n < 2 || n > (1 << 16)) return kerr_set(d->e, K_FORMAT, "manifest: bad class count"), 0;
    s->n_classes = (int32_t)n;
    return (s->class_labels = read_strings(d, classes, s->n_classes)) != NULL;
}

static int read_meta(rd *d, json_object *m)
{
    d->where = "meta";
    json_object *o = field(d, m, "meta", json_type_object);
    if (!o) return 0;
    json_object_object_foreach(o, key, val)
    {
        if (!json_object_is_type(val, json_type_string))
            return kerr_set(d->e, K_FORMAT, "manifest: meta.%s is not a string", key), 0;
        if (kspec_set_meta(d->s, key, json_object_get_string(val)))
            return kerr_set(d->e, K_LIMIT, "manifest: metadata too large"), 0;
    }
    return 1;
}

kstatus pkgj_read_manifest(pkg_reader *r, json_object *m, kspec *s, kerr *e)
{
    rd d = {.r = r, .s = s, .e = e, .where = "manifest"};
    e->code = K_OK;
    json_object *fmt = field(&d, m, "format", json_type_string);
    if (!fmt || strcmp(json_object_get_string(fmt), "kiln-model") != 0)
        return kerr_set(e, K_FORMAT, "manifest: not a kiln-model manifest");
    int ok = read_features(&d, m) && read_steps(&d, m) && read_estimator(&d, m) &&
             read_output(&d, m) && read_meta(&d, m);
    if (ok) return K_OK;
    return e->code ? e->code : kerr_set(e, K_FORMAT, "manifest is malformed");
}
