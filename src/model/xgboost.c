/* xgboost.c — imports an XGBoost JSON model (Booster.save_model("m.json"), XGBoost 1.0 to 3.x)
 * into a kspec.
 *
 * The file is untrusted, so it is walked with the jsonpull pull parser following the model's
 * schema rather than through a JSON DOM: memory is proportional to the arrays we keep and
 * bounded by arena limits. jsonpull also reads XGBoost's literal NaN / Infinity tokens and
 * converts decimal text straight to float32, as XGBoost's own reader does. Every count is
 * bounded, every index is checked before use, and kspec_validate has the last word.
 *
 * XGBoost's prediction semantics (its predictor and objective sources, checked against
 * python3-xgboost 1.7.4), in the spec's normalised form:
 * - numeric split: left iff (float)x < split_condition (a float32); NaN follows default_left.
 *   The predictor goes to left_child + 1 for "right", so we insist right == left + 1.
 * - categorical split (split_type 1): categories listed for the node go RIGHT; NaN follows the
 *   default; a negative, too large (>= 2^24 - 1) or unlisted category goes left like any category
 *   outside the set (common::Decision), so KNODE_CAT_INVALID_DEFAULT stays clear.
 * - scores are float32 sums starting from the base margin, trees in id order; tree i adds to
 *   output tree_info[i]. Random forests (num_parallel_tree > 1) are just more trees per round;
 *   dart multiplies tree i by weight_drop[i].
 * - base_score is stored in output space; the margin is the objective's ProbToMargin computed in
 *   float32: logit for binary:logistic and reg:logistic, log for log-link objectives, identity
 *   otherwise (binary:logitraw and multiclass included; multiclass adds it to every class).
 * - the scikit-learn wrapper predicts with rounds 0..best_iteration, so files it saved
 *   (attribute "scikit_learn") keep only those rounds.
 */
#include "model/import.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "data/jsonpull.h"

#define SPEC_MEM_LIMIT ((size_t)1 << 30) /* the imported spec */
#define TMP_MEM_LIMIT ((size_t)1 << 30)  /* arrays parsed from the file */
#define MAX_TREES (1 << 20)
#define MAX_NODES (1 << 24)    /* all trees together */
#define MAX_ARRAY (1 << 26)    /* any one JSON array we keep */
#define MAX_FEATURES (1 << 20) /* kspec_validate's bound */
#define MAX_OUTPUTS (1 << 16)
#define MAX_CAT_WORDS (1 << 24) /* category bitset words, all nodes together */
#define CAT_INVALID 16777215    /* XGBoost treats category codes >= 2^24 - 1 as invalid */
#define MAX_STRING (1 << 16)    /* a name or parameter we keep */
#define MAX_ATTRIBUTE (1 << 24) /* the scikit-learn wrapper's attribute (JSON in a string) */

#define PREFIX "XGBoost model: "

/* ---- typed values ---------------------------------------------------------------------------- */

typedef struct {
    int32_t *v; /* NULL when the key was absent */
    int32_t n;
} ivec;

typedef struct {
    float *v;
    int32_t n;
} fvec;

typedef struct {
    const char **v;
    int32_t n;
} svec;

typedef struct {
    jsonpull r;
    kerr *e; /* the reader's too */
    arena *tmp;
    char what[96]; /* the array being read, for messages */
} xparser;

static kstatus too_large(kerr *e)
{
    return kerr_set(e, K_LIMIT, PREFIX "model too large for the memory limit");
}

/* Starts an array of at most `max` elements of `size` bytes and allocates its storage. */
static kstatus array_start(xparser *x, size_t size, int32_t max, void **out, int32_t *n)
{
    int64_t count = 0;
    kstatus st = jsonpull_array_begin(&x->r, &count);
    if (st) return st;
    if (count > max)
        return kerr_set(x->e, K_LIMIT, PREFIX "%s has %lld entries, more than the limit %d",
                        x->what, (long long)count, max);
    *out = arena_array(x->tmp, count ? (size_t)count : 1, size);
    if (!*out) return too_large(x->e);
    *n = (int32_t)count;
    return K_OK;
}

/* Reads one integer element (JSON booleans count as 0/1: default_left is written both ways). */
static kstatus int_element(xparser *x, int32_t *out)
{
    int c = jsonpull_peek(&x->r);
    if (c == 't' || c == 'f') {
        *out = c == 't';
        return jsonpull_literal(&x->r, c == 't' ? "true" : "false");
    }
    jsonpull_num v = {0};
    kstatus st = jsonpull_number(&x->r, &v);
    if (st) return st;
    if (!v.is_int || v.i < INT32_MIN || v.i > INT32_MAX)
        return kerr_set(x->e, K_FORMAT, PREFIX "%s: expected 32-bit integers, found %.17g", x->what,
                        v.d);
    *out = (int32_t)v.i;
    return K_OK;
}

static kstatus read_ints(xparser *x, ivec *out)
{
    int32_t cap = 0, i = 0;
    void *mem = NULL;
    kstatus st = array_start(x, sizeof *out->v, MAX_ARRAY, &mem, &cap);
    out->v = mem;
    for (int first = 1, more; !st && !(st = jsonpull_element(&x->r, &first, &more)) && more; i++)
        st = i < cap ? int_element(x, &out->v[i])
                     : jsonpull_fail(&x->r, "array longer than counted");
    out->n = i;
    return st;
}

static kstatus read_floats(xparser *x, fvec *out)
{
    int32_t cap = 0, i = 0;
    void *mem = NULL;
    kstatus st = array_start(x, sizeof *out->v, MAX_ARRAY, &mem, &cap);
    out->v = mem;
    for (int first = 1, more; !st && !(st = jsonpull_element(&x->r, &first, &more)) && more; i++) {
        jsonpull_num v = {0};
        if (i >= cap) return jsonpull_fail(&x->r, "array longer than counted");
        if (!(st = jsonpull_number(&x->r, &v))) out->v[i] = v.f;
    }
    out->n = i;
    return st;
}

static kstatus read_strings(xparser *x, svec *out)
{
    int32_t cap = 0, i = 0;
    void *mem = NULL;
    kstatus st = array_start(x, sizeof *out->v, MAX_ARRAY, &mem, &cap);
    out->v = mem;
    for (int first = 1, more; !st && !(st = jsonpull_element(&x->r, &first, &more)) && more; i++)
        st = i < cap ? jsonpull_string(&x->r, x->tmp, &out->v[i], MAX_STRING)
                     : jsonpull_fail(&x->r, "array longer than counted");
    out->n = i;
    return st;
}

/* Reads an object of string values, keeping those named in `keys` (NULL-terminated) into
 * `values` (parallel to keys); others are skipped. */
static kstatus read_params(xparser *x, const char *const *keys, const char **values)
{
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&x->r, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&x->r, &first, key, &more)) && more;) {
        int k = 0;
        while (keys[k] && strcmp(keys[k], key) != 0)
            k++;
        st =
            keys[k] ? jsonpull_string(&x->r, x->tmp, &values[k], MAX_STRING) : jsonpull_skip(&x->r);
    }
    return st;
}

/* ---- the model as written in the file -------------------------------------------------------- */

/* The string parameters we read, in the order of the key lists below. */
enum { LP_BASE_SCORE, LP_NUM_CLASS, LP_NUM_FEATURE, LP_NUM_TARGET, LP_COUNT };
enum { GP_NUM_TREES, GP_NUM_PARALLEL_TREE, GP_COUNT };
enum { TP_NUM_NODES, TP_SIZE_LEAF_VECTOR, TP_COUNT };

typedef struct {
    int32_t id;                      /* -1 when absent */
    const char *param[TP_COUNT + 1]; /* tree_param strings */
    ivec left, right, feature, split_type, default_left;
    ivec cats, cat_nodes, cat_segments, cat_sizes;
    fvec cond;
} xtree;

typedef struct {
    int has_version;
    int64_t version[3];
    const char *learner_param[LP_COUNT + 1];
    const char *objective;
    const char *best_iteration;
    const char *sklearn; /* the scikit-learn wrapper's attribute (its own JSON, as a string) */
    svec feature_names, feature_types;
    const char *booster, *inner_booster; /* gradient_booster.name; dart's gbtree.name */
    const char *gbtree_param[GP_COUNT + 1];
    xtree *trees;
    int32_t n_trees;
    int has_trees;
    ivec tree_info;
    fvec weight_drop; /* dart */
    fvec weights;     /* gblinear */
} xmodel;

static const char *const learner_keys[] = {"base_score", "num_class", "num_feature", "num_target",
                                           NULL};
static const char *const gbtree_keys[] = {"num_trees", "num_parallel_tree", NULL};
static const char *const tree_keys[] = {"num_nodes", "size_leaf_vector", NULL};

static kstatus parse_tree_member(xparser *x, xtree *t, int32_t k, const char *key)
{
    static const char *const int_keys[] = {
        "left_children",    "right_children",      "split_indices",
        "split_type",       "default_left",        "categories",
        "categories_nodes", "categories_segments", "categories_sizes"};
    ivec *ints[] = {&t->left, &t->right,     &t->feature,      &t->split_type, &t->default_left,
                    &t->cats, &t->cat_nodes, &t->cat_segments, &t->cat_sizes};
    snprintf(x->what, sizeof x->what, "tree %d %s", k, key);
    for (size_t i = 0; i < sizeof int_keys / sizeof *int_keys; i++)
        if (strcmp(key, int_keys[i]) == 0) return read_ints(x, ints[i]);
    if (strcmp(key, "split_conditions") == 0) return read_floats(x, &t->cond);
    if (strcmp(key, "tree_param") == 0) return read_params(x, tree_keys, t->param);
    if (strcmp(key, "id") == 0) {
        kstatus st = int_element(x, &t->id);
        if (!st && t->id < 0) return kerr_set(x->e, K_FORMAT, PREFIX "tree %d: negative id", k);
        return st;
    }
    return jsonpull_skip(&x->r);
}

static kstatus parse_tree(xparser *x, xtree *t, int32_t k)
{
    char key[JSONPULL_KEY_MAX];
    t->id = -1;
    kstatus st = jsonpull_expect(&x->r, '{', "expected a tree object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&x->r, &first, key, &more)) && more;)
        st = parse_tree_member(x, t, k, key);
    return st;
}

static kstatus parse_trees(xparser *x, xmodel *m)
{
    int32_t cap = 0, i = 0;
    snprintf(x->what, sizeof x->what, "trees");
    void *mem = NULL;
    kstatus st = array_start(x, sizeof *m->trees, MAX_TREES, &mem, &cap);
    m->trees = mem;
    for (int first = 1, more; !st && !(st = jsonpull_element(&x->r, &first, &more)) && more; i++)
        st = i < cap ? parse_tree(x, &m->trees[i], i)
                     : jsonpull_fail(&x->r, "array longer than counted");
    m->n_trees = i;
    m->has_trees = 1;
    return st;
}

/* gbtree's "model" (trees) or gblinear's (weights); the booster's name may come after it. */
static kstatus parse_model(xparser *x, xmodel *m)
{
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&x->r, '{', "expected the booster's model object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&x->r, &first, key, &more)) && more;) {
        snprintf(x->what, sizeof x->what, "%s", key);
        if (strcmp(key, "trees") == 0)
            st = parse_trees(x, m);
        else if (strcmp(key, "tree_info") == 0)
            st = read_ints(x, &m->tree_info);
        else if (strcmp(key, "gbtree_model_param") == 0)
            st = read_params(x, gbtree_keys, m->gbtree_param);
        else if (strcmp(key, "weights") == 0)
            st = read_floats(x, &m->weights);
        else
            st = jsonpull_skip(&x->r);
    }
    return st;
}

/* gradient_booster; dart nests a whole gbtree booster under "gbtree" (nested = 1). */
static kstatus parse_booster(xparser *x, xmodel *m, int nested)
{
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&x->r, '{', "expected the gradient_booster object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&x->r, &first, key, &more)) && more;) {
        if (strcmp(key, "name") == 0) {
            st = jsonpull_string(&x->r, x->tmp, nested ? &m->inner_booster : &m->booster,
                                 MAX_STRING);
        } else if (strcmp(key, "model") == 0) {
            st = parse_model(x, m);
        } else if (strcmp(key, "gbtree") == 0 && !nested) {
            st = parse_booster(x, m, 1);
        } else if (strcmp(key, "weight_drop") == 0 && !nested) {
            snprintf(x->what, sizeof x->what, "weight_drop");
            st = read_floats(x, &m->weight_drop);
        } else {
            st = jsonpull_skip(&x->r);
        }
    }
    return st;
}

static kstatus parse_attributes(xparser *x, xmodel *m)
{
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&x->r, '{', "expected the attributes object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&x->r, &first, key, &more)) && more;) {
        if (strcmp(key, "best_iteration") == 0)
            st = jsonpull_string(&x->r, x->tmp, &m->best_iteration, MAX_STRING);
        else if (strcmp(key, "scikit_learn") == 0)
            st = jsonpull_string(&x->r, x->tmp, &m->sklearn, MAX_ATTRIBUTE);
        else
            st = jsonpull_skip(&x->r);
    }
    return st;
}

static kstatus parse_objective(xparser *x, xmodel *m)
{
    static const char *const keys[] = {"name", NULL};
    const char *values[2] = {0};
    kstatus st = read_params(x, keys, values);
    m->objective = values[0];
    return st;
}

static kstatus parse_learner(xparser *x, xmodel *m)
{
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&x->r, '{', "expected the learner object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&x->r, &first, key, &more)) && more;) {
        snprintf(x->what, sizeof x->what, "learner.%s", key);
        if (strcmp(key, "gradient_booster") == 0)
            st = parse_booster(x, m, 0);
        else if (strcmp(key, "learner_model_param") == 0)
            st = read_params(x, learner_keys, m->learner_param);
        else if (strcmp(key, "objective") == 0)
            st = parse_objective(x, m);
        else if (strcmp(key, "attributes") == 0)
            st = parse_attributes(x, m);
        else if (strcmp(key, "feature_names") == 0)
            st = read_strings(x, &m->feature_names);
        else if (strcmp(key, "feature_types") == 0)
            st = read_strings(x, &m->feature_types);
        else
            st = jsonpull_skip(&x->r);
    }
    return st;
}

static kstatus parse_version(xparser *x, xmodel *m)
{
    ivec v = {0};
    snprintf(x->what, sizeof x->what, "version");
    kstatus st = read_ints(x, &v);
    if (st) return st;
    if (v.n != 3 || v.v[0] < 0 || v.v[1] < 0 || v.v[2] < 0)
        return kerr_set(x->e, K_FORMAT, PREFIX "version must be three non-negative integers");
    for (int i = 0; i < 3; i++)
        m->version[i] = v.v[i];
    m->has_version = 1;
    return K_OK;
}

static kstatus parse_document(xparser *x, xmodel *m)
{
    jsonpull *r = &x->r;
    jsonpull_skip_bom(r);
    if (jsonpull_peek(r) != '{')
        return kerr_set(x->e, K_FORMAT,
                        PREFIX "not a JSON document (expected '{'; save the "
                               "model with save_model(\"model.json\"))");
    /* UBJSON objects also open with '{', followed by a type marker rather than a quote */
    size_t left = 0;
    const char *rest = jsonpull_rest(r, &left);
    if (left > 1 && rest[1] && strchr("iUIlLdD$#", rest[1]))
        return kerr_set(x->e, K_UNSUPPORTED,
                        PREFIX "this looks like UBJSON (.ubj); save the "
                               "model as JSON with save_model(\"model.json\")");
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(r, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(r, &first, key, &more)) && more;) {
        if (strcmp(key, "learner") == 0)
            st = parse_learner(x, m);
        else if (strcmp(key, "version") == 0)
            st = parse_version(x, m);
        else
            st = jsonpull_skip(r);
    }
    if (!st) st = jsonpull_finish(r);
    return st;
}

/* ---- building the spec ----------------------------------------------------------------------- */

typedef enum { BASE_IDENTITY, BASE_LOGIT, BASE_LOG } base_link;

typedef struct {
    const char *name;
    ktask task;
    klink link;
    base_link base; /* the objective's ProbToMargin */
    int multiclass; /* outputs = num_class */
} objective;

static const objective objectives[] = {
    {"binary:logistic", KTASK_CLASSIFICATION, KLINK_SIGMOID, BASE_LOGIT, 0},
    {"multi:softprob", KTASK_CLASSIFICATION, KLINK_SOFTMAX, BASE_IDENTITY, 1},
    {"multi:softmax", KTASK_CLASSIFICATION, KLINK_SOFTMAX, BASE_IDENTITY, 1},
    /* predicts the raw margin; its base score is a margin too (ProbToMargin is the identity
     * since XGBoost 1.4, dmlc/xgboost#6517) */
    {"binary:logitraw", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
    {"reg:logistic", KTASK_REGRESSION, KLINK_SIGMOID, BASE_LOGIT, 0},
    {"reg:squarederror", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
    {"reg:linear", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
    {"reg:squaredlogerror", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
    {"reg:pseudohubererror", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
    {"reg:absoluteerror", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
    {"reg:quantileerror", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
    {"count:poisson", KTASK_REGRESSION, KLINK_EXP, BASE_LOG, 0},
    {"reg:gamma", KTASK_REGRESSION, KLINK_EXP, BASE_LOG, 0},
    {"reg:tweedie", KTASK_REGRESSION, KLINK_EXP, BASE_LOG, 0},
    {"survival:cox", KTASK_REGRESSION, KLINK_EXP, BASE_LOG, 0},
    {"survival:aft", KTASK_REGRESSION, KLINK_EXP, BASE_LOG, 0},
    {"rank:pairwise", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
    {"rank:ndcg", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
    {"rank:map", KTASK_REGRESSION, KLINK_IDENTITY, BASE_IDENTITY, 0},
};

typedef struct {
    kspec *s;
    arena *tmp;
    kerr *e;
    const xmodel *m;
    const objective *obj;
    int32_t n_features, n_outputs;
    /* tree building */
    ktree_node *nodes;
    int32_t n_nodes;
    buf cat_words;
    int32_t *order, *new_id; /* scratch: one tree's renumbering */
} xbuild;

static kstatus fail(xbuild *b, kstatus code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static kstatus fail(xbuild *b, kstatus code, const char *fmt, ...)
{
    char msg[KERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return kerr_set(b->e, code, PREFIX "%s", msg);
}

/* Parses an integer parameter string ("4"); `dflt` when absent (required when dflt < lo). */
static kstatus param_int(xbuild *b, const char *text, const char *name, int64_t lo, int64_t hi,
                         int64_t dflt, int64_t *out)
{
    if (!text) {
        if (dflt < lo) return fail(b, K_FORMAT, "missing %s", name);
        *out = dflt;
        return K_OK;
    }
    char *stop;
    errno = 0;
    long long v = strtoll(text, &stop, 10);
    if (stop == text || *stop || errno)
        return fail(b, K_FORMAT, "%s \"%.40s\" is not an integer", name, text);
    if (v < lo) return fail(b, K_FORMAT, "%s = %lld is below %lld", name, v, (long long)lo);
    if (v > hi) return fail(b, K_LIMIT, "%s = %lld exceeds the limit %lld", name, v, (long long)hi);
    *out = v;
    return K_OK;
}

static kstatus check_version(xbuild *b)
{
    const xmodel *m = b->m;
    if (!m->has_version) return fail(b, K_FORMAT, "missing \"version\" (not an XGBoost model?)");
    if (m->version[0] < 1 || m->version[0] > 3)
        return fail(b, K_UNSUPPORTED,
                    "XGBoost version %lld.%lld.%lld is not supported (1.x to 3.x)",
                    (long long)m->version[0], (long long)m->version[1], (long long)m->version[2]);
    char v[96];
    snprintf(v, sizeof v, "%lld.%lld.%lld", (long long)m->version[0], (long long)m->version[1],
             (long long)m->version[2]);
    if (kspec_set_meta(b->s, "source_framework", "xgboost") ||
        kspec_set_meta(b->s, "source_version", v))
        return too_large(b->e);
    return K_OK;
}

static kstatus choose_objective(xbuild *b)
{
    const char *name = b->m->objective;
    if (!name) return fail(b, K_FORMAT, "missing learner.objective.name");
    for (size_t i = 0; i < sizeof objectives / sizeof *objectives; i++)
        if (strcmp(objectives[i].name, name) == 0) b->obj = &objectives[i];
    if (strcmp(name, "binary:hinge") == 0)
        return fail(b, K_UNSUPPORTED,
                    "objective binary:hinge predicts hard 0/1 labels, which "
                    "Kiln cannot represent; use binary:logistic");
    if (!b->obj) return fail(b, K_UNSUPPORTED, "objective \"%.64s\" is not supported", name);
    return kspec_set_meta(b->s, "objective", name) ? too_large(b->e) : K_OK;
}

/* Output count: num_class for softmax objectives, else num_target (multi-target regression). */
static kstatus count_outputs(xbuild *b)
{
    const char *const *p = b->m->learner_param;
    int64_t n_class = 0, n_target = 1, n_feat = 0;
    kstatus st = param_int(b, p[LP_NUM_FEATURE], "num_feature", 1, MAX_FEATURES, -1, &n_feat);
    if (!st) st = param_int(b, p[LP_NUM_CLASS], "num_class", 0, MAX_OUTPUTS, 0, &n_class);
    if (!st) st = param_int(b, p[LP_NUM_TARGET], "num_target", 1, MAX_OUTPUTS, 1, &n_target);
    if (st) return st;
    b->n_features = (int32_t)n_feat;
    if (b->obj->multiclass) {
        if (n_class < 2 || n_target != 1)
            return fail(b, K_FORMAT,
                        "%s needs num_class >= 2 and one target (num_class %lld, "
                        "num_target %lld)",
                        b->obj->name, (long long)n_class, (long long)n_target);
        b->n_outputs = (int32_t)n_class;
        return K_OK;
    }
    if (n_class > 1)
        return fail(b, K_FORMAT, "num_class = %lld with objective %s", (long long)n_class,
                    b->obj->name);
    if (b->obj->task == KTASK_CLASSIFICATION && n_target != 1)
        return fail(b, K_UNSUPPORTED, "%s with %lld targets is not supported", b->obj->name,
                    (long long)n_target);
    b->n_outputs = (int32_t)n_target;
    return K_OK;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static kstatus check_unique_names(xbuild *b)
{
    int32_t n = b->n_features;
    const char **sorted = arena_array(b->tmp, (size_t)n, sizeof *sorted);
    if (!sorted) return too_large(b->e);
    for (int32_t i = 0; i < n; i++)
        sorted[i] = b->s->features[i].name;
    qsort(sorted, (size_t)n, sizeof *sorted, compare_names);
    for (int32_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            return fail(b, K_FORMAT, "feature name \"%.64s\" appears twice", sorted[i]);
    return K_OK;
}

static kstatus feature_type(xbuild *b, int32_t i, kfeat_type *type)
{
    static const char *const numeric[] = {"q", "float", "int", "i"};
    const svec *t = &b->m->feature_types;
    *type = KFEAT_NUMERIC;
    if (t->n == 0) return K_OK;
    if (strcmp(t->v[i], "c") == 0) {
        *type = KFEAT_CATEGORICAL;
        return K_OK;
    }
    for (size_t k = 0; k < sizeof numeric / sizeof *numeric; k++)
        if (strcmp(t->v[i], numeric[k]) == 0) return K_OK;
    return fail(b, K_FORMAT, "feature %d has unknown type \"%.32s\"", i, t->v[i]);
}

/* Feature schema: learner.feature_names / feature_types when present, else f0..f{n-1}. */
static kstatus build_features(xbuild *b)
{
    const svec *names = &b->m->feature_names, *types = &b->m->feature_types;
    int32_t n = b->n_features;
    if (names->n && names->n != n)
        return fail(b, K_FORMAT, "%d feature names for num_feature = %d", names->n, n);
    if (types->n && types->n != n)
        return fail(b, K_FORMAT, "%d feature types for num_feature = %d", types->n, n);
    kfeature *f = arena_array(b->s->mem, (size_t)n, sizeof *f);
    if (!f) return too_large(b->e);
    b->s->features = f;
    b->s->n_features = n;
    for (int32_t i = 0; i < n; i++) {
        char dflt[24];
        snprintf(dflt, sizeof dflt, "f%d", i);
        const char *name = arena_strdup(b->s->mem, names->n ? names->v[i] : dflt);
        if (!name) return too_large(b->e);
        if (!name[0]) return fail(b, K_FORMAT, "feature %d has an empty name", i);
        f[i] = (kfeature){name, KFEAT_NUMERIC, NAN, NAN, 0, NULL};
        kstatus st = feature_type(b, i, &f[i].type);
        if (st) return st;
    }
    return check_unique_names(b);
}

/* ---- trees ----------------------------------------------------------------------------------- */

/* Checks the arrays of tree k against num_nodes; returns the node count. */
static kstatus check_tree_arrays(xbuild *b, const xtree *t, int32_t k, int32_t *n_nodes)
{
    int64_t n = 0, leaf_vec = 0;
    char name[64];
    snprintf(name, sizeof name, "tree %d num_nodes", k);
    kstatus st = param_int(b, t->param[TP_NUM_NODES], name, 1, MAX_NODES, -1, &n);
    snprintf(name, sizeof name, "tree %d size_leaf_vector", k);
    if (!st) st = param_int(b, t->param[TP_SIZE_LEAF_VECTOR], name, 0, MAX_OUTPUTS, 0, &leaf_vec);
    if (st) return st;
    if (leaf_vec > 1)
        return fail(b, K_UNSUPPORTED,
                    "tree %d has vector leaves (multi_strategy="
                    "\"multi_output_tree\"), which are not supported",
                    k);
    const struct {
        const char *name;
        int32_t len;
        const void *v;
        int required;
    } arrays[] = {{"left_children", t->left.n, t->left.v, 1},
                  {"right_children", t->right.n, t->right.v, 1},
                  {"split_indices", t->feature.n, t->feature.v, 1},
                  {"split_conditions", t->cond.n, t->cond.v, 1},
                  {"default_left", t->default_left.n, t->default_left.v, 1},
                  {"split_type", t->split_type.n, t->split_type.v, 0}};
    for (size_t i = 0; i < sizeof arrays / sizeof *arrays; i++) {
        if (!arrays[i].v && !arrays[i].required) continue;
        if (!arrays[i].v) return fail(b, K_FORMAT, "tree %d: missing %s", k, arrays[i].name);
        if (arrays[i].len != n)
            return fail(b, K_FORMAT, "tree %d: %s has %d entries, num_nodes is %lld", k,
                        arrays[i].name, arrays[i].len, (long long)n);
    }
    *n_nodes = (int32_t)n;
    return K_OK;
}

/* Renumbers tree k breadth-first from the root so children follow their parents, as
 * kspec_validate requires. Every node is queued at most once, so a cycle or a node shared by
 * two parents is caught instead of looping. Fills b->order (new -> old) and b->new_id. */
static kstatus order_nodes(xbuild *b, const xtree *t, int32_t k, int32_t n, int32_t *count)
{
    for (int32_t i = 0; i < n; i++)
        b->new_id[i] = -1;
    b->order[0] = 0;
    b->new_id[0] = 0;
    int32_t queued = 1;
    for (int32_t q = 0; q < queued; q++) {
        int32_t old = b->order[q], left = t->left.v[old], right = t->right.v[old];
        if (left == -1) continue; /* a leaf */
        if (left < 0 || left >= n)
            return fail(b, K_FORMAT, "tree %d node %d: left child %d out of range [0, %d)", k, old,
                        left, n);
        /* XGBoost's predictor takes left + 1 as the right child, whatever right_children says */
        if (right != left + 1 || right >= n)
            return fail(b, K_FORMAT,
                        "tree %d node %d: right child %d is not left child + 1 "
                        "(or out of range)",
                        k, old, right);
        for (int32_t c = left; c <= right; c++) {
            if (b->new_id[c] != -1)
                return fail(b, K_FORMAT, "tree %d node %d: child %d is reached twice (cycle)", k,
                            old, c);
            b->new_id[c] = queued;
            b->order[queued++] = c;
        }
    }
    *count = queued;
    return K_OK;
}

/* XGBoost writes each categorical node's categories as consecutive segments of "categories";
 * insisting on that keeps the work linear in the file's size. */
static kstatus check_category_arrays(xbuild *b, const xtree *t, int32_t k, int32_t n)
{
    int32_t m = t->cat_nodes.n;
    int64_t next = 0;
    if (m && (!t->cat_segments.v || !t->cat_sizes.v || !t->cats.v))
        return fail(b, K_FORMAT, "tree %d: categories_nodes without its segments", k);
    if (t->cat_segments.n != m || t->cat_sizes.n != m)
        return fail(b, K_FORMAT,
                    "tree %d: categories_nodes, categories_segments and "
                    "categories_sizes differ in length",
                    k);
    for (int32_t j = 0; j < m; j++) {
        int32_t node = t->cat_nodes.v[j];
        int64_t seg = t->cat_segments.v[j], size = t->cat_sizes.v[j];
        if (node < 0 || node >= n || (j > 0 && node <= t->cat_nodes.v[j - 1]))
            return fail(b, K_FORMAT, "tree %d: categories_nodes must increase within [0, %d)", k,
                        n);
        if (seg < next || size < 0 || seg + size > t->cats.n)
            return fail(b, K_FORMAT, "tree %d node %d: category segment out of range", k, node);
        next = seg + size;
    }
    return K_OK;
}

static int compare_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Appends `words` zero words to the category bitsets. */
static kstatus add_zero_words(xbuild *b, uint32_t words)
{
    static const uint32_t zero[256];
    if (b->cat_words.len / sizeof(uint32_t) + words > MAX_CAT_WORDS)
        return fail(b, K_LIMIT, "category sets need more than %d words", MAX_CAT_WORDS);
    for (uint32_t done = 0; done < words;) {
        uint32_t chunk = words - done < 256 ? words - done : 256;
        if (buf_append(&b->cat_words, zero, chunk * sizeof(uint32_t))) return too_large(b->e);
        done += chunk;
    }
    return K_OK;
}

/* The category set of node `old` as bitset words appended to b->cat_words. Categories XGBoost
 * can never match (>= 2^24 - 1) are left out; a node without a set has an empty one, which
 * sends every category left, as XGBoost does. */
static kstatus add_category_set(xbuild *b, const xtree *t, int32_t k, int32_t old, ktree_node *nd)
{
    nd->cat_start = (uint32_t)(b->cat_words.len / sizeof(uint32_t));
    nd->cat_len = 0;
    const int32_t *hit = t->cat_nodes.n ? bsearch(&old, t->cat_nodes.v, (size_t)t->cat_nodes.n,
                                                  sizeof old, compare_i32)
                                        : NULL;
    if (!hit) return K_OK;
    size_t j = (size_t)(hit - t->cat_nodes.v);
    int32_t size = t->cat_sizes.v[j], max = -1;
    if (size == 0) return K_OK;
    const int32_t *cats = t->cats.v + t->cat_segments.v[j];
    for (int32_t i = 0; i < size; i++) {
        if (cats[i] < 0) return fail(b, K_FORMAT, "tree %d node %d: negative category", k, old);
        if (cats[i] < CAT_INVALID && cats[i] > max) max = cats[i];
    }
    if (max < 0) return K_OK;
    uint32_t words = (uint32_t)max / 32 + 1;
    size_t at = b->cat_words.len;
    kstatus st = add_zero_words(b, words);
    if (st) return st;
    uint32_t *bits = (uint32_t *)(void *)(b->cat_words.data + at);
    for (int32_t i = 0; i < size; i++)
        if (cats[i] < CAT_INVALID) bits[cats[i] / 32] |= 1u << (cats[i] % 32);
    nd->cat_len = words;
    return K_OK;
}

static kstatus emit_split(xbuild *b, const xtree *t, int32_t k, int32_t old, ktree_node *nd)
{
    int32_t f = t->feature.v[old];
    if (f < 0 || f >= b->n_features)
        return fail(b, K_FORMAT, "tree %d node %d: feature index %d out of range (num_feature %d)",
                    k, old, f, b->n_features);
    nd->feature = f;
    nd->left = b->new_id[t->left.v[old]];
    nd->right = b->new_id[t->right.v[old]];
    nd->flags = t->default_left.v[old] ? KNODE_DEFAULT_LEFT : 0;
    int32_t type = t->split_type.v ? t->split_type.v[old] : 0;
    if (type == 0) {
        nd->threshold = t->cond.v[old];
        return K_OK;
    }
    if (type != 1) return fail(b, K_FORMAT, "tree %d node %d: unknown split_type %d", k, old, type);
    nd->flags |= KNODE_CATEGORICAL | KNODE_CAT_SET_RIGHT;
    return add_category_set(b, t, k, old, nd);
}

/* Appends tree k (position k in prediction order) to b->nodes, leaves scaled by `weight`. */
static kstatus build_tree(xbuild *b, const xtree *t, int32_t k, double weight)
{
    int32_t n = 0, count = 0;
    kstatus st = check_tree_arrays(b, t, k, &n);
    if (!st && t->cat_nodes.v) st = check_category_arrays(b, t, k, n);
    if (!st) st = order_nodes(b, t, k, n, &count);
    if (st) return st;
    ktree_node *out = b->nodes + b->n_nodes;
    for (int32_t q = 0; q < count && !st; q++) {
        int32_t old = b->order[q];
        if (t->left.v[old] == -1)
            /* dart: XGBoost multiplies the float32 leaf by the float32 weight in float32; the
             * double product of two floats is exact, and rounds to the same float when summed */
            out[q] = (ktree_node){.flags = KNODE_LEAF, .value = (double)t->cond.v[old] * weight};
        else
            st = emit_split(b, t, k, old, &out[q]);
    }
    b->n_nodes += count;
    return st;
}

/* Trees in prediction order: XGBoost places each tree by its "id". */
static kstatus tree_order(xbuild *b, const xtree **by_id)
{
    const xmodel *m = b->m;
    for (int32_t i = 0; i < m->n_trees; i++) {
        int32_t id = m->trees[i].id < 0 ? i : m->trees[i].id;
        if (id >= m->n_trees || by_id[id])
            return fail(b, K_FORMAT, "tree %d: id %d is out of range or repeated", i, id);
        by_id[id] = &m->trees[i];
    }
    return K_OK;
}

/* How many trees prediction uses: all, or the rounds up to best_iteration for files saved by the
 * scikit-learn wrapper (its predict() passes iteration_range=(0, best_iteration + 1)). */
static kstatus trees_used(xbuild *b, int32_t *used)
{
    const xmodel *m = b->m;
    int64_t parallel = 1, best = 0;
    *used = m->n_trees;
    kstatus st = param_int(b, m->gbtree_param[GP_NUM_PARALLEL_TREE], "num_parallel_tree", 1,
                           MAX_TREES, 1, &parallel);
    if (st || !m->sklearn || !m->best_iteration) return st;
    st = param_int(b, m->best_iteration, "best_iteration", 0, INT32_MAX, 0, &best);
    if (st) return st;
    int64_t per_round = parallel * b->n_outputs; /* at most 2^36: no overflow below */
    if (best + 1 < ((int64_t)m->n_trees + per_round - 1) / per_round) {
        *used = (int32_t)((best + 1) * per_round);
        if (kspec_set_meta(b->s, "best_iteration", m->best_iteration)) return too_large(b->e);
    }
    return K_OK;
}

static kstatus check_tree_lists(xbuild *b)
{
    const xmodel *m = b->m;
    int64_t declared = 0;
    if (!m->has_trees) return fail(b, K_FORMAT, "missing gradient_booster.model.trees");
    if (m->n_trees > MAX_TREES) return fail(b, K_LIMIT, "more than %d trees", MAX_TREES);
    kstatus st = param_int(b, m->gbtree_param[GP_NUM_TREES], "num_trees", 0, MAX_TREES, m->n_trees,
                           &declared);
    if (st) return st;
    if (declared != m->n_trees)
        return fail(b, K_FORMAT, "num_trees is %lld but %d trees are stored", (long long)declared,
                    m->n_trees);
    if (!m->tree_info.v || m->tree_info.n != m->n_trees)
        return fail(b, K_FORMAT, "tree_info has %d entries for %d trees", m->tree_info.n,
                    m->n_trees);
    for (int32_t i = 0; i < m->n_trees; i++)
        if (m->tree_info.v[i] < 0 || m->tree_info.v[i] >= b->n_outputs)
            return fail(b, K_FORMAT, "tree %d: tree_info %d out of range (%d outputs)", i,
                        m->tree_info.v[i], b->n_outputs);
    int dart = m->booster && strcmp(m->booster, "dart") == 0;
    if (dart && m->weight_drop.n != m->n_trees)
        return fail(b, K_FORMAT, "dart weight_drop has %d entries for %d trees", m->weight_drop.n,
                    m->n_trees);
    return K_OK;
}

/* Allocates the node array (declared sizes bound the reachable ones) and renumbering scratch. */
static kstatus alloc_nodes(xbuild *b, const xtree *const *by_id, int32_t used)
{
    int64_t total = 0, largest = 1;
    for (int32_t k = 0; k < used; k++) {
        const xtree *t = by_id[k];
        int64_t n = t->left.v ? t->left.n : 0;
        total += n;
        largest = n > largest ? n : largest;
        if (total > MAX_NODES) return fail(b, K_LIMIT, "more than %d tree nodes", MAX_NODES);
    }
    b->nodes = arena_array(b->s->mem, (size_t)total + 1, sizeof *b->nodes);
    b->order = arena_array(b->tmp, (size_t)largest, sizeof *b->order);
    b->new_id = arena_array(b->tmp, (size_t)largest, sizeof *b->new_id);
    return b->nodes && b->order && b->new_id ? K_OK : too_large(b->e);
}

static kstatus build_trees(xbuild *b)
{
    const xmodel *m = b->m;
    kstatus st = check_tree_lists(b);
    const xtree **by_id = st ? NULL : arena_array(b->tmp, (size_t)m->n_trees + 1, sizeof *by_id);
    if (st || !by_id) return st ? st : too_large(b->e);
    int32_t used = 0;
    if ((st = tree_order(b, by_id)) || (st = trees_used(b, &used)) ||
        (st = alloc_nodes(b, by_id, used)))
        return st;
    ktrees *tr = &b->s->trees;
    int32_t *start = arena_array(b->s->mem, (size_t)used + 1, sizeof *start);
    int32_t *output = arena_array(b->s->mem, (size_t)used + 1, sizeof *output);
    if (!start || !output) return too_large(b->e);
    int dart = strcmp(m->booster, "dart") == 0;
    for (int32_t k = 0; k < used && !st; k++) {
        start[k] = b->n_nodes;
        output[k] = m->tree_info.v[k];
        st = build_tree(b, by_id[k], k, dart ? (double)m->weight_drop.v[k] : 1.0);
    }
    if (st) return st;
    start[used] = b->n_nodes;
    size_t n_words = b->cat_words.len / sizeof(uint32_t);
    uint32_t *words = arena_array(b->s->mem, n_words + 1, sizeof *words);
    if (!words) return too_large(b->e);
    if (n_words) memcpy(words, b->cat_words.data, n_words * sizeof *words);
    *tr = (ktrees){.n_in = b->n_features,
                   .n_out = b->n_outputs,
                   .n_trees = used,
                   .tree_start = start,
                   .tree_output = output,
                   .nodes = b->nodes,
                   .n_nodes = b->n_nodes,
                   .leaf_dim = 1,
                   .cat_words = words,
                   .n_cat_words = (int32_t)n_words,
                   .aggregate = KAGG_SUM,
                   .f32_inputs = 1,
                   .f32_accumulate = 1};
    b->s->kind = KEST_TREES;
    return K_OK;
}

/* ---- gblinear -------------------------------------------------------------------------------- */

/* XGBoost's linear booster skips missing values, i.e. they contribute 0: an imputer with fill 0
 * in front of the linear model says exactly that. */
static kstatus build_linear(xbuild *b)
{
    const fvec *w = &b->m->weights;
    int32_t nf = b->n_features, k = b->n_outputs;
    if (!w->v || (int64_t)w->n != ((int64_t)nf + 1) * k)
        return fail(b, K_FORMAT, "gblinear has %d weights, expected (num_feature + 1) x %d = %lld",
                    w->n, k, ((long long)nf + 1) * k);
    double *coef = arena_array(b->s->mem, (size_t)nf * (size_t)k, sizeof *coef);
    double *bias = arena_array(b->s->mem, (size_t)k, sizeof *bias);
    double *fill = arena_array(b->s->mem, (size_t)nf, sizeof *fill);
    kstep *step = arena_alloc(b->s->mem, sizeof *step);
    if (!coef || !bias || !fill || !step) return too_large(b->e);
    /* the file stores weight[feature * k + output], then the k biases */
    for (int32_t j = 0; j < nf; j++)
        for (int32_t o = 0; o < k; o++)
            coef[(size_t)o * nf + j] = w->v[(size_t)j * k + o];
    for (int32_t o = 0; o < k; o++)
        bias[o] = w->v[(size_t)nf * k + o];
    *step = (kstep){.kind = KSTEP_IMPUTE, .n_in = nf, .n_out = nf, .fill = fill};
    b->s->steps = step;
    b->s->n_steps = 1;
    b->s->kind = KEST_LINEAR;
    b->s->linear = (klinear){nf, k, coef, bias};
    return K_OK;
}

/* ---- output ---------------------------------------------------------------------------------- */

/* The objective's ProbToMargin, in float32 as XGBoost computes it. */
static kstatus margin_of(xbuild *b, float p, double *out)
{
    switch (b->obj->base) {
    case BASE_LOGIT:
        if (!(p > 0.0f && p < 1.0f))
            return fail(b, K_FORMAT, "base_score %g must be in (0, 1) for %s", (double)p,
                        b->obj->name);
        *out = -logf(1.0f / p - 1.0f);
        return K_OK;
    case BASE_LOG:
        if (!(p > 0.0f))
            return fail(b, K_FORMAT, "base_score %g must be > 0 for %s", (double)p, b->obj->name);
        *out = logf(p);
        return K_OK;
    case BASE_IDENTITY:
        break;
    }
    *out = p;
    return K_OK;
}

/* base_score: "5E-1" (XGBoost 1.x/2.x) or "[5E-1]" / "[a,b,c]" (3.1+: one per output). */
static kstatus build_base_score(xbuild *b)
{
    const char *text = b->m->learner_param[LP_BASE_SCORE], *p = text;
    int32_t k = b->n_outputs, n = 0;
    double *base = arena_array(b->s->mem, (size_t)k, sizeof *base);
    if (!base) return too_large(b->e);
    if (!text) return fail(b, K_FORMAT, "missing learner_model_param.base_score");
    while (*p == ' ')
        p++;
    int bracket = *p == '[';
    p += bracket;
    for (;;) {
        char *stop;
        float v = strtof(p, &stop);
        if (stop == p || n == k) break;
        kstatus st = margin_of(b, v, &base[n++]);
        if (st) return st;
        for (p = stop; *p == ' '; p++) {
        }
        if (*p != ',') break;
        p++;
    }
    if (bracket && *p == ']') p++;
    while (*p == ' ')
        p++;
    if (*p || n == 0 || (n != 1 && n != k))
        return fail(b, K_FORMAT, "base_score \"%.64s\" is not 1 or %d numbers", text, k);
    for (int32_t i = n; i < k; i++)
        base[i] = base[0];
    b->s->base_score = base;
    return K_OK;
}

static kstatus build_output(xbuild *b)
{
    kspec *s = b->s;
    s->task = b->obj->task;
    s->link = b->obj->link;
    s->n_outputs = b->n_outputs;
    if (s->task != KTASK_CLASSIFICATION) return K_OK;
    s->n_classes = b->n_outputs == 1 ? 2 : b->n_outputs;
    const char **labels = arena_array(s->mem, (size_t)s->n_classes, sizeof *labels);
    if (!labels) return too_large(b->e);
    for (int32_t i = 0; i < s->n_classes; i++) {
        char label[16];
        snprintf(label, sizeof label, "%d", i);
        if (!(labels[i] = arena_strdup(s->mem, label))) return too_large(b->e);
    }
    s->class_labels = labels;
    return K_OK;
}

/* Reads the "missing" value out of the scikit-learn wrapper's attribute (its parameters as
 * JSON); returns 0 when it is absent or unreadable. */
static int sklearn_missing(const char *attr, double *missing)
{
    kerr scratch;
    jsonpull r;
    jsonpull_init(&r, attr, strlen(attr), PREFIX, &scratch);
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&r, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&r, &first, key, &more)) && more;) {
        int c = jsonpull_peek(&r);
        if (strcmp(key, "missing") == 0 && c != 'n' && c != '"' && c != '{' && c != '[') {
            jsonpull_num v = {0};
            if (jsonpull_number(&r, &v)) return 0;
            *missing = v.d;
            return 1;
        }
        st = jsonpull_skip(&r);
    }
    return 0;
}

/* The scikit-learn wrapper turns its `missing` value into NaN before predicting; Kiln knows only
 * NaN (an empty field) as missing, so a model saved with another value is refused rather than
 * scored differently. */
static kstatus check_sklearn_missing(xbuild *b)
{
    double missing = NAN;
    if (!b->m->sklearn || !sklearn_missing(b->m->sklearn, &missing) || isnan(missing)) return K_OK;
    return fail(b, K_UNSUPPORTED,
                "model was saved with missing=%g, but Kiln treats only NaN (an "
                "empty field) as missing: set missing=np.nan and save it again",
                missing);
}

static kstatus build_spec(xbuild *b)
{
    const xmodel *m = b->m;
    kstatus st;
    if ((st = check_version(b)) || (st = choose_objective(b)) || (st = count_outputs(b)) ||
        (st = build_features(b)) || (st = check_sklearn_missing(b)))
        return st;
    if (!m->booster) return fail(b, K_FORMAT, "missing learner.gradient_booster.name");
    if (m->inner_booster && strcmp(m->inner_booster, "gbtree") != 0)
        return fail(b, K_UNSUPPORTED, "dart over \"%.32s\" is not supported", m->inner_booster);
    if (kspec_set_meta(b->s, "booster", m->booster)) return too_large(b->e);
    if (strcmp(m->booster, "gbtree") == 0 || strcmp(m->booster, "dart") == 0)
        st = build_trees(b);
    else if (strcmp(m->booster, "gblinear") == 0)
        st = build_linear(b);
    else
        st = fail(b, K_UNSUPPORTED, "booster \"%.32s\" is not supported", m->booster);
    if (!st) st = build_base_score(b);
    if (!st) st = build_output(b);
    if (!st && (st = kspec_validate(b->s, b->e))) kerr_prefix(b->e, "XGBoost model");
    return st;
}

kstatus xgboost_import(const char *data, size_t len, kspec **out, kerr *e)
{
    kerr local = {0};
    if (!e) e = &local;
    *out = NULL;
    xmodel m = {0};
    xparser x = {.e = e, .tmp = arena_new(TMP_MEM_LIMIT)};
    jsonpull_init(&x.r, data, len, PREFIX, e);
    xbuild b = {.s = kspec_new(SPEC_MEM_LIMIT), .tmp = x.tmp, .e = e, .m = &m};
    buf_init(&b.cat_words, (size_t)MAX_CAT_WORDS * sizeof(uint32_t) + 16);
    kstatus st = !x.tmp || !b.s ? kerr_set(e, K_NOMEM, "out of memory") : K_OK;
    if (!st) st = parse_document(&x, &m);
    if (!st) st = build_spec(&b);
    buf_free(&b.cat_words);
    arena_free(x.tmp);
    if (st) {
        kspec_free(b.s);
        return st;
    }
    *out = b.s;
    return K_OK;
}
