/* spec.h — the model specification: a plain, fully explicit description of a model.
 *
 * Importers (XGBoost, LightGBM, scikit-learn) build a kspec; the package writer stores it; the
 * package loader rebuilds it; the predictor compiles it into a fast, opaque kmodel. Every
 * semantic detail of the source library (comparison operator and precision, missing-value
 * routing, category routing, summation precision, base score, output link) is normalised here,
 * so the predictor has exactly one meaning to implement.
 *
 * Ownership: a kspec and everything it points to live in one arena (kspec.mem); free the whole
 * model with kspec_free. Importers allocate every array from that arena.
 *
 * Data flow of one prediction:
 *   input row (n_features doubles, schema order, NaN = missing)
 *     -> preprocessing steps, in order (width may change: one-hot, column selection)
 *     -> estimator: n_outputs raw scores (margins)
 *     -> + base_score[k]            (margin space)
 *     -> link                       (probabilities for classifiers, values for regressors)
 */
#ifndef KILN_SPEC_H
#define KILN_SPEC_H

#include <stdint.h>

#include "base/arena.h"
#include "base/status.h"

/* ---- feature schema ------------------------------------------------------------------------ */

typedef enum { KFEAT_NUMERIC = 0, KFEAT_CATEGORICAL = 1 } kfeat_type;

typedef struct {
    const char *name;   /* unique, non-empty */
    kfeat_type type;
    double min, max;    /* training range when known, NAN otherwise */
    /* Categorical features: values are category codes (doubles holding integers) unless
     * `categories` names them; n_categories = 0 when unknown. */
    int32_t n_categories;
    const char **categories; /* optional names of codes 0..n_categories-1 (may be NULL) */
} kfeature;

/* ---- preprocessing --------------------------------------------------------------------------- */

typedef enum {
    /* out[j] = in[index[j]] for j < n_out: reorders, drops or duplicates columns. */
    KSTEP_SELECT = 0,
    /* in place, width unchanged: if in[j] is missing (NaN) and fill[j] is not NaN, in[j] = fill[j] */
    KSTEP_IMPUTE = 1,
    /* in place, width unchanged: in[j] = (in[j] - offset[j]) / scale[j] (scikit-learn's scaler
     * divides; scale 1 and offset 0 leave a column alone) */
    KSTEP_SCALE = 2,
    /* width grows: each input column j with n_cats[j] > 0 becomes n_cats[j] indicator columns
     * (1 where in[j] == cat_values[cat_start[j] + c]); other columns pass through. An input value
     * matching no category gives all zeros (handle_unknown='ignore'); NaN also gives all zeros
     * unless NaN is itself one of the categories. */
    KSTEP_ONEHOT = 3,
} kstep_kind;

typedef struct {
    kstep_kind kind;
    int32_t n_in, n_out;
    const int32_t *index;      /* SELECT: n_out source indices */
    const double *fill;        /* IMPUTE: n_in values (NaN = leave column alone) */
    const double *offset;      /* SCALE: n_in */
    const double *scale;       /* SCALE: n_in */
    const int32_t *n_cats;     /* ONEHOT: n_in counts (0 = pass through) */
    const int32_t *cat_start;  /* ONEHOT: n_in offsets into cat_values */
    const double *cat_values;  /* ONEHOT: all category values, concatenated */
    int32_t n_cat_values;
} kstep;

/* ---- estimators ------------------------------------------------------------------------------ */

typedef enum { KEST_LINEAR = 0, KEST_TREES = 1, KEST_MLP = 2 } kest_kind;

/* scores[k] = intercept[k] + sum_j coef[k * n_in + j] * x[j] */
typedef struct {
    int32_t n_in, n_out;
    const double *coef;      /* n_out x n_in, row-major */
    const double *intercept; /* n_out */
} klinear;

/* Tree node flags. */
enum {
    KNODE_LEAF = 1u << 0,
    KNODE_DEFAULT_LEFT = 1u << 1,   /* a missing value (NaN) goes left, else right */
    KNODE_CATEGORICAL = 1u << 2,    /* split on category membership, not a threshold */
    KNODE_CAT_SET_RIGHT = 1u << 3,  /* categorical: categories in the set go right (XGBoost);
                                       without it they go left (LightGBM, scikit-learn) */
    KNODE_CAT_INVALID_DEFAULT = 1u << 4, /* categorical: a negative, non-finite or too-large
                                            category follows the default direction instead of the
                                            "not in set" direction */
    KNODE_NAN_AS_ZERO = 1u << 5,    /* LightGBM missing type None/Zero: NaN is first replaced by 0 */
    KNODE_ZERO_MISSING = 1u << 6,   /* LightGBM missing type Zero: |x| <= KSPEC_ZERO_BAND takes
                                       the default direction */
    KNODE_CAT_TRUNCATE = 1u << 7,   /* categorical: the category is x truncated toward zero, so
                                       values in (-1, 0) are category 0 (LightGBM's C cast);
                                       without it any x < 0 is invalid (XGBoost) */
};

/* LightGBM's kZeroThreshold: the float literal 1e-35f widened to double. */
#define KSPEC_ZERO_BAND ((double)1e-35f)

/* One node. Decision for a numeric split, after the ensemble's input rounding (see
 * ktrees.f32_inputs): go left iff x < threshold (strictly). Importers whose library uses
 * `x <= t` convert with kspec_le_to_lt. Missing (NaN) inputs take the default direction unless
 * KNODE_NAN_AS_ZERO. Categorical splits: category c = (int)x (see KNODE_CAT_TRUNCATE for
 * negative x); c is in the set iff bit c of
 * cat_words[cat_start .. cat_start + cat_len) is set (bit c%32 of word c/32). */
typedef struct {
    uint32_t flags;
    int32_t feature;    /* column of the estimator's input; unused for leaves */
    double threshold;   /* numeric split threshold (go left iff x < threshold) */
    int32_t left, right; /* child node indices, relative to the tree's first node */
    uint32_t cat_start, cat_len; /* categorical: word range in ktrees.cat_words */
    /* Leaves: with leaf_dim == 1 the leaf's value; with leaf_dim > 1, `value` is unused and the
     * leaf's vector is leaf_values[leaf_index * leaf_dim ...]. */
    double value;
    int32_t leaf_index;
} ktree_node;

typedef enum {
    KAGG_SUM = 0,  /* boosting: scores[k] = sum of the trees of output k */
    KAGG_MEAN = 1, /* forests: scores[k] = (sum of the trees of output k) / trees of output k */
} kagg;

typedef struct {
    int32_t n_in;          /* estimator input width */
    int32_t n_out;         /* number of raw scores */
    int32_t n_trees;
    const int32_t *tree_start;  /* n_trees + 1 offsets into nodes; tree t is nodes[tree_start[t]..] */
    const int32_t *tree_output; /* n_trees: which score a scalar-leaf tree adds to */
    const ktree_node *nodes;
    int32_t n_nodes;
    int32_t leaf_dim;      /* 1: scalar leaves; n_out: each leaf adds a vector to all scores */
    const double *leaf_values; /* leaf_dim > 1: n_leaf_vectors * leaf_dim values */
    int32_t n_leaf_vectors;
    const uint32_t *cat_words;
    int32_t n_cat_words;
    kagg aggregate;
    /* 1: inputs are rounded to float32 before comparison and thresholds are float32 values
     * (XGBoost, scikit-learn trees); 0: comparisons in double (LightGBM, HistGradientBoosting). */
    int32_t f32_inputs;
    /* 1: accumulate scores in float32, trees in order, like XGBoost: with KAGG_SUM the sum
     * starts from (float)base_score; with KAGG_MEAN it starts from 0 and the score is
     * base_score + sum / trees. Vector leaves add their whole vector (each value as float32).
     * 0: accumulate in double from 0, then base_score + sum (or + sum / trees). */
    int32_t f32_accumulate;
} ktrees;

typedef enum {
    KACT_IDENTITY = 0,
    KACT_RELU = 1,
    KACT_TANH = 2,
    KACT_LOGISTIC = 3,
} kactivation;

/* Dense layer: y[o] = act(bias[o] + sum_i x[i] * weight[i * n_out + o])
 * (weights n_in x n_out, row-major, as scikit-learn's coefs_). */
typedef struct {
    int32_t n_in, n_out;
    const double *weight;
    const double *bias;
    kactivation act; /* the last layer's activation is KACT_IDENTITY: its output is the raw score
                        and the output link (softmax, sigmoid) is applied by kspec.link */
} klayer;

typedef struct {
    int32_t n_layers;
    const klayer *layers;
} kmlp;

/* ---- output ---------------------------------------------------------------------------------- */

typedef enum { KTASK_REGRESSION = 0, KTASK_CLASSIFICATION = 1 } ktask;

typedef enum {
    KLINK_IDENTITY = 0,
    KLINK_SIGMOID = 1,   /* p = 1 / (1 + exp(-link_param * s)), element-wise (link_param
                            defaults to 1) */
    KLINK_SOFTMAX = 2,   /* over the n_outputs scores */
    KLINK_EXP = 3,       /* exp(s): poisson, gamma, tweedie */
    KLINK_OVR = 4,       /* sigmoid each score, then divide by their sum (sklearn ovr) */
    KLINK_SQUARE = 5,    /* sign(s) * s * s (LightGBM regression with sqrt) */
    KLINK_LOG1PEXP = 6,  /* log(1 + exp(s)) (LightGBM cross_entropy_lambda) */
} klink;

/* A string key/value pair of provenance metadata. */
typedef struct {
    const char *key, *value;
} kmeta;

typedef struct kspec {
    arena *mem; /* owns everything below */

    int32_t n_features;
    kfeature *features;

    int32_t n_steps;
    kstep *steps;

    kest_kind kind;
    klinear linear;
    ktrees trees;
    kmlp mlp;

    ktask task;
    int32_t n_outputs;          /* raw scores produced by the estimator */
    const double *base_score;   /* n_outputs, margin space (may be NULL: all zero) */
    klink link;
    double link_param;
    /* Classification: n_classes labels, in class order. Binary classifiers have n_outputs == 1
     * and n_classes == 2: the link gives p(class 1), and p(class 0) = 1 - p. Otherwise
     * n_outputs == n_classes. */
    int32_t n_classes;
    const char **class_labels;

    int32_t n_meta;
    kmeta *meta;
} kspec;

/* Returns a new empty spec with its own arena (limit `mem_limit` bytes), or NULL. */
kspec *kspec_new(size_t mem_limit);
void kspec_free(kspec *s);

/* Adds (or replaces) a metadata entry; strings are copied. */
kstatus kspec_set_meta(kspec *s, const char *key, const char *value);
/* Returns the value of a metadata key or NULL. */
const char *kspec_get_meta(const kspec *s, const char *key);

/* Width of the estimator input: n_features after every preprocessing step. */
int32_t kspec_estimator_inputs(const kspec *s);

/* Number of values a prediction produces: n_classes for classifiers, n_outputs otherwise. */
int32_t kspec_n_values(const kspec *s);

/* Converts a `x <= t` threshold into the equivalent `x < t'` threshold. With f32 set, x is a
 * float32 and t is compared as the library does, in double precision against the float32 input
 * (scikit-learn trees), so t' is the next float32 above the largest float32 <= t. Otherwise
 * t' = nextafter(t, +inf) in double (LightGBM, HistGradientBoosting). */
double kspec_le_to_lt(double t, int f32);

/* Checks every invariant the predictor relies on: sizes, child indices inside their tree and
 * acyclic (children always after their parent), feature indices inside the estimator input,
 * category ranges inside cat_words, layer widths chaining, labels present. Returns K_OK or
 * K_FORMAT with a message naming the first problem. Loaders and importers call it before
 * handing a spec out, so hostile files never reach the predictor. */
kstatus kspec_validate(const kspec *s, kerr *e);

#endif
