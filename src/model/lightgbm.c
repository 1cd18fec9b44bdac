/* lightgbm.c — importer for LightGBM text models (Booster.save_model, format versions v2-v4).
 *
 * A model file is a header of key=value lines, one "Tree=N" block of key=value arrays per tree,
 * the line "end of trees", then sections prediction does not need (feature importances,
 * parameters, pandas_categorical). How LightGBM predicts, and how each rule maps onto the spec:
 *   - numeric split: left iff x <= threshold, compared in double     -> x < nextafter(t, +inf)
 *   - missing type None: NaN is compared as 0                         -> KNODE_NAN_AS_ZERO
 *   - missing type Zero: NaN and |x| <= kZeroThreshold take the default direction
 *                                                  -> KNODE_NAN_AS_ZERO | KNODE_ZERO_MISSING
 *   - missing type NaN: NaN takes the default direction                -> default flag only
 *   - categorical split: (int)x in the node's bitset goes left; NaN and negative values go
 *     right whatever the node's missing type and default bit (LightGBM ignores both there)
 *   - Booster.predict reads every input with |x| <= kZeroThreshold as exactly 0, so a numeric
 *     threshold inside that band is moved to the band's edge (split_threshold)
 *   - leaf values already include the learning rate and the boost_from_average start score;
 *     scores are summed in double, trees in file order; average_output (random forest) divides
 *     by the number of iterations; the objective's ConvertOutput becomes the link.
 * The input is untrusted and not NUL-terminated: every count is checked against the text it
 * describes and against hard limits before anything is allocated for it, indices are range
 * checked, and each tree is renumbered by a walk that refuses cycles and shared nodes, so the
 * spec handed out always passes kspec_validate. */
#include "model/import.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/num.h"

#define MAX_FEATURES (1 << 20) /* kspec_validate's bound */
#define MAX_OUTPUTS (1 << 16)
#define MAX_LEAVES 131072   /* LightGBM's own bound on num_leaves */
#define MAX_CODES (1 << 20) /* largest category code count recorded in the schema */
#define SCRATCH_LIMIT ((size_t)1 << 30)

/* LightGBM's kZeroThreshold: the float literal 1e-35f widened to double (not 1e-35). */
#define ZERO_BAND ((double)1e-35f)

/* A slice of the input. p == NULL means "absent"; an empty value has p set and n == 0. */
typedef struct {
    const char *p;
    size_t n;
} span;

/* ---- errors ---------------------------------------------------------------------------------- */

/* Records "LightGBM model: [tree T: ]<message>". tree < 0 for the header. */
static kstatus __attribute__((format(printf, 4, 5)))
fail(kerr *e, kstatus code, int32_t tree, const char *fmt, ...)
{
    char msg[KERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (tree >= 0) return kerr_set(e, code, "LightGBM model: tree %d: %s", tree, msg);
    return kerr_set(e, code, "LightGBM model: %s", msg);
}

/* A short printable copy of input text for a message: at most 40 bytes, anything but
 * printable ASCII shown as '?', so hostile bytes cannot break the one-line message. */
typedef struct {
    char text[48];
} quoted;

static quoted quote(const char *p, size_t n)
{
    quoted q;
    size_t k = n > 40 ? 40 : n;
    for (size_t i = 0; i < k; i++)
        q.text[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
    snprintf(q.text + k, sizeof q.text - k, "%s", n > k ? "..." : "");
    return q;
}

#define Q(s) (quote((s).p, (s).n).text)

/* ---- text ------------------------------------------------------------------------------------ */

static int span_eq(span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.p && s.n == n && memcmp(s.p, lit, n) == 0;
}

static int span_starts(span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.p && s.n >= n && memcmp(s.p, lit, n) == 0;
}

typedef struct {
    const char *p, *end;
} lines;

/* Next line without its line ending ("\n" or "\r\n"); 0 at the end of the input. */
static int line_next(lines *r, span *out)
{
    if (r->p >= r->end) return 0;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    const char *stop = nl ? nl : r->end;
    out->p = r->p;
    out->n = (size_t)(stop - r->p);
    if (out->n && out->p[out->n - 1] == '\r') out->n--;
    r->p = nl ? nl + 1 : r->end;
    return 1;
}

/* Splits "key=value" at the first '='; a line without '=' is a key with an absent value. */
static void split_kv(span line, span *key, span *val)
{
    const char *eq = memchr(line.p, '=', line.n);
    *key = (span){line.p, eq ? (size_t)(eq - line.p) : line.n};
    *val = eq ? (span){eq + 1, line.n - key->n - 1} : (span){NULL, 0};
}

/* Next token of `rest` separated by `sep` (runs of separators count as one). */
static int token_next(span *rest, char sep, span *tok)
{
    size_t i = 0;
    while (i < rest->n && rest->p[i] == sep)
        i++;
    if (i == rest->n) return 0;
    size_t j = i;
    while (j < rest->n && rest->p[j] != sep)
        j++;
    *tok = (span){rest->p + i, j - i};
    *rest = (span){rest->p + j, rest->n - j};
    return 1;
}

static size_t token_count(span s, char sep)
{
    size_t n = 0;
    span tok;
    while (token_next(&s, sep, &tok))
        n++;
    return n;
}

/* Parses a whole token as a decimal integer of at most 18 digits (so it cannot overflow). */
static int parse_int(span t, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < t.n && (t.p[i] == '-' || t.p[i] == '+')) neg = t.p[i++] == '-';
    if (i == t.n || t.n - i > 18) return 0;
    int64_t v = 0;
    for (; i < t.n; i++) {
        if (t.p[i] < '0' || t.p[i] > '9') return 0;
        v = v * 10 + (t.p[i] - '0');
    }
    *out = neg ? -v : v;
    return 1;
}

/* A header or tree scalar that must be an integer in [lo, hi]; `over` is the status for a
 * value above hi (K_LIMIT where hi is one of our size limits). */
static kstatus scalar_int(span v, const char *key, int64_t lo, int64_t hi, kstatus over,
                          int32_t tree, int64_t *out, kerr *e)
{
    if (!v.p) return fail(e, K_FORMAT, tree, "'%s' is missing", key);
    if (!parse_int(v, out)) return fail(e, K_FORMAT, tree, "%s '%s' is not an integer", key, Q(v));
    if (*out < lo || *out > hi)
        return fail(e, *out > hi ? over : K_FORMAT, tree, "%s %lld is outside [%lld, %lld]", key,
                    (long long)*out, (long long)lo, (long long)hi);
    return K_OK;
}

/* ---- arrays ---------------------------------------------------------------------------------- */

/* Where one tree's arrays are allocated (scratch, freed after the tree) and how errors name it. */
typedef struct {
    arena *mem;
    int32_t tree;
    kerr *e;
} tree_ctx;

typedef enum { ARR_I32, ARR_U32, ARR_F64 } arr_kind;

/* Parses exactly n space-separated numbers of `key` into a new array; integers must lie in
 * [lo, hi]. The count is checked before allocating, so a num_leaves claiming a huge count over
 * a short line costs nothing. */
static kstatus read_array(const tree_ctx *c, span s, const char *key, int32_t n, arr_kind kind,
                          int64_t lo, int64_t hi, void **out)
{
    kerr *e = c->e;
    int32_t tree = c->tree;
    if (!s.p) return fail(e, K_FORMAT, tree, "'%s' is missing", key);
    size_t have = token_count(s, ' ');
    if (have != (size_t)n)
        return fail(e, K_FORMAT, tree, "%s has %zu values, expected %d", key, have, n);
    size_t width = kind == ARR_F64 ? sizeof(double) : sizeof(int32_t);
    void *arr = arena_array(c->mem, (size_t)n, width);
    if (!arr) return fail(e, K_NOMEM, tree, "out of memory reading %s", key);
    span tok;
    for (int32_t i = 0; token_next(&s, ' ', &tok); i++) {
        if (kind == ARR_F64) {
            if (!num_parse_double(tok.p, tok.n, (double *)arr + i))
                return fail(e, K_FORMAT, tree, "%s value '%s' is not a number", key, Q(tok));
            continue;
        }
        int64_t v;
        if (!parse_int(tok, &v))
            return fail(e, K_FORMAT, tree, "%s value '%s' is not an integer", key, Q(tok));
        if (v < lo || v > hi)
            return fail(e, K_FORMAT, tree, "%s value %lld is out of range [%lld, %lld]", key,
                        (long long)v, (long long)lo, (long long)hi);
        if (kind == ARR_U32)
            ((uint32_t *)arr)[i] = (uint32_t)v;
        else
            ((int32_t *)arr)[i] = (int32_t)v;
    }
    *out = arr;
    return K_OK;
}

static kstatus read_i32(const tree_ctx *c, span s, const char *key, int32_t n, int64_t lo,
                        int64_t hi, int32_t **out)
{
    void *arr = NULL;
    kstatus st = read_array(c, s, key, n, ARR_I32, lo, hi, &arr);
    *out = arr;
    return st;
}

static kstatus read_u32(const tree_ctx *c, span s, const char *key, int32_t n, uint32_t **out)
{
    void *arr = NULL;
    kstatus st = read_array(c, s, key, n, ARR_U32, 0, UINT32_MAX, &arr);
    *out = arr;
    return st;
}

static kstatus read_f64(const tree_ctx *c, span s, const char *key, int32_t n, double **out)
{
    void *arr = NULL;
    kstatus st = read_array(c, s, key, n, ARR_F64, 0, 0, &arr);
    *out = arr;
    return st;
}

/* ---- header ---------------------------------------------------------------------------------- */

typedef struct {
    span version, num_class, per_iter, label_index, max_feature, objective, names, infos, sizes,
        average;
} header;

static span *header_field(header *h, span key)
{
    if (span_eq(key, "version")) return &h->version;
    if (span_eq(key, "num_class")) return &h->num_class;
    if (span_eq(key, "num_tree_per_iteration")) return &h->per_iter;
    if (span_eq(key, "label_index")) return &h->label_index;
    if (span_eq(key, "max_feature_idx")) return &h->max_feature;
    if (span_eq(key, "objective")) return &h->objective;
    if (span_eq(key, "feature_names")) return &h->names;
    if (span_eq(key, "feature_infos")) return &h->infos;
    if (span_eq(key, "tree_sizes")) return &h->sizes;
    if (span_eq(key, "average_output")) return &h->average;
    return NULL; /* monotone_constraints and anything newer: not needed to predict */
}

/* A line that starts a tree or ends the tree list. */
static int is_section_start(span line)
{
    return span_starts(line, "Tree=") || span_eq(line, "end of trees");
}

/* Reads the header; leaves `r` at the first "Tree=" (or "end of trees") line. */
static kstatus read_header(lines *r, header *h, kerr *e)
{
    span line;
    do {
        if (!line_next(r, &line)) return fail(e, K_FORMAT, -1, "empty file");
    } while (line.n == 0);
    if (!span_eq(line, "tree"))
        return fail(e, K_FORMAT, -1,
                    "first line is '%s', expected 'tree' (not a LightGBM text model?)", Q(line));
    for (;;) {
        const char *at = r->p;
        if (!line_next(r, &line))
            return fail(e, K_FORMAT, -1, "truncated: no trees after the header");
        if (line.n == 0) continue;
        if (is_section_start(line)) {
            r->p = at;
            return K_OK;
        }
        span key, val;
        split_kv(line, &key, &val);
        span *field = header_field(h, key);
        if (!field) continue;
        if (field->p) return fail(e, K_FORMAT, -1, "header key '%s' appears twice", Q(key));
        /* average_output is a bare flag line; give it a non-NULL empty value */
        *field = val.p ? val : (span){line.p, 0};
    }
}

/* ---- objective: task and link --------------------------------------------------------------- */

typedef struct {
    ktask task;
    klink link;
    double link_param;
    int multiclass; /* one score per class: num_class trees per iteration */
    int raw;        /* custom objective: raw scores, as many as trees per iteration */
} objective;

/* The options after the objective's name: "sqrt", "sigmoid:X", "num_class:K". */
typedef struct {
    int sqrt;
    double sigmoid;    /* NAN when absent */
    int64_t num_class; /* -1 when absent */
} objective_opts;

static kstatus objective_options(span rest, objective_opts *o, kerr *e)
{
    *o = (objective_opts){0, NAN, -1};
    span tok;
    while (token_next(&rest, ' ', &tok)) {
        if (span_eq(tok, "sqrt")) {
            o->sqrt = 1;
        } else if (span_starts(tok, "sigmoid:")) {
            span v = {tok.p + 8, tok.n - 8};
            if (!num_parse_double(v.p, v.n, &o->sigmoid) || !(o->sigmoid > 0) || isinf(o->sigmoid))
                return fail(e, K_FORMAT, -1,
                            "objective option '%s': sigmoid must be a positive number", Q(tok));
        } else if (span_starts(tok, "num_class:")) {
            span v = {tok.p + 10, tok.n - 10};
            if (!parse_int(v, &o->num_class) || o->num_class < 1 || o->num_class > MAX_OUTPUTS)
                return fail(e, K_FORMAT, -1, "objective option '%s' is not a valid class count",
                            Q(tok));
        }
    }
    return K_OK;
}

/* Objectives whose ConvertOutput is RegressionL2loss's: sign(s)*s^2 with "sqrt", else s. */
static int l2_family(span name)
{
    return span_eq(name, "regression") || span_eq(name, "regression_l1") ||
           span_eq(name, "quantile") || span_eq(name, "mape") || span_eq(name, "fair");
}

/* Maps the objective line (its ConvertOutput) onto task and link. No objective, "custom" and
 * "none" (custom objectives) predict raw scores. */
static kstatus parse_objective(span text, int32_t num_class, objective *o, kerr *e)
{
    *o = (objective){KTASK_REGRESSION, KLINK_IDENTITY, 1.0, 0, 0};
    span rest = text, name;
    if (!text.p || !token_next(&rest, ' ', &name) || span_eq(name, "custom") ||
        span_eq(name, "none")) {
        o->raw = 1;
        return K_OK;
    }
    objective_opts opt;
    kstatus st = objective_options(rest, &opt, e);
    if (st) return st;
    int needs_sigmoid = span_eq(name, "binary") || span_eq(name, "multiclassova");
    if (needs_sigmoid && isnan(opt.sigmoid))
        return fail(e, K_FORMAT, -1, "objective '%s' has no sigmoid:X option", Q(name));
    if (span_eq(name, "multiclass") || span_eq(name, "multiclassova")) {
        if (opt.num_class < 0)
            return fail(e, K_FORMAT, -1, "objective '%s' has no num_class:K option", Q(name));
        if (opt.num_class != num_class)
            return fail(e, K_FORMAT, -1, "objective num_class:%lld does not match num_class=%d",
                        (long long)opt.num_class, num_class);
        if (num_class < 2)
            return fail(e, K_UNSUPPORTED, -1, "multiclass model with %d class", num_class);
        *o = (objective){KTASK_CLASSIFICATION, KLINK_SOFTMAX, 1.0, 1, 0};
        if (span_eq(name, "multiclassova")) { /* independent sigmoids, not normalised */
            o->link = KLINK_SIGMOID;
            o->link_param = opt.sigmoid;
        }
    } else if (span_eq(name, "binary")) {
        *o = (objective){KTASK_CLASSIFICATION, KLINK_SIGMOID, opt.sigmoid, 0, 0};
    } else if (l2_family(name)) {
        o->link = opt.sqrt ? KLINK_SQUARE : KLINK_IDENTITY;
    } else if (span_eq(name, "poisson") || span_eq(name, "gamma") || span_eq(name, "tweedie")) {
        o->link = KLINK_EXP;
    } else if (span_eq(name, "cross_entropy")) {
        o->link = KLINK_SIGMOID;
    } else if (span_eq(name, "cross_entropy_lambda")) {
        o->link = KLINK_LOG1PEXP;
    } else if (!span_eq(name, "huber") && !span_eq(name, "lambdarank") &&
               !span_eq(name, "rank_xendcg")) {
        /* huber ignores "sqrt" (LightGBM disables it); ranking objectives output raw scores */
        return fail(e, K_UNSUPPORTED, -1, "unsupported objective '%s'", Q(name));
    }
    return K_OK;
}

/* ---- features -------------------------------------------------------------------------------- */

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses duplicate names (columns are matched by name). Sorting a copy keeps it O(n log n). */
static kstatus check_unique(const kfeature *f, int32_t n, kerr *e)
{
    const char **names = malloc((size_t)n * sizeof *names);
    if (!names) return fail(e, K_NOMEM, -1, "out of memory");
    for (int32_t i = 0; i < n; i++)
        names[i] = f[i].name;
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    kstatus st = K_OK;
    for (int32_t i = 1; i < n && !st; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            st = fail(e, K_FORMAT, -1, "feature name '%s' appears twice",
                      quote(names[i], strlen(names[i])).text);
    free(names);
    return st;
}

/* One feature_infos entry: "none" (unused feature), "[min:max]" (numeric) or "c1:c2:..."
 * (the categories seen in training). */
static kstatus parse_info(span tok, int32_t j, kfeature *f, kerr *e)
{
    f->type = KFEAT_NUMERIC;
    f->min = f->max = NAN;
    if (span_eq(tok, "none")) return K_OK;
    if (tok.p[0] == '[') {
        const char *colon = memchr(tok.p, ':', tok.n);
        int ok = tok.n >= 5 && tok.p[tok.n - 1] == ']' && colon &&
                 num_parse_double(tok.p + 1, (size_t)(colon - tok.p - 1), &f->min) &&
                 num_parse_double(colon + 1, (size_t)(tok.p + tok.n - 1 - colon - 1), &f->max);
        return ok ? K_OK
                  : fail(e, K_FORMAT, -1, "feature_infos entry %d '%s' is not [min:max]", j,
                         Q(tok));
    }
    f->type = KFEAT_CATEGORICAL;
    span rest = tok, code;
    int64_t lo = INT64_MAX, hi = INT64_MIN, v;
    size_t good = 0;
    while (token_next(&rest, ':', &code) && parse_int(code, &v) && v >= INT32_MIN &&
           v <= INT32_MAX) {
        good++;
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    if (good == 0 || good != token_count(tok, ':'))
        return fail(e, K_FORMAT, -1, "feature_infos entry %d '%s' is not a category list", j,
                    Q(tok));
    f->min = (double)lo;
    f->max = (double)hi;
    f->n_categories = hi >= 0 && hi < MAX_CODES ? (int32_t)hi + 1 : 0;
    return K_OK;
}

static kstatus read_features(kspec *s, const header *h, int32_t n, kerr *e)
{
    if (!h->names.p) return fail(e, K_FORMAT, -1, "'feature_names' is missing");
    if (!h->infos.p) return fail(e, K_FORMAT, -1, "'feature_infos' is missing");
    size_t nn = token_count(h->names, ' '), ni = token_count(h->infos, ' ');
    if (nn != (size_t)n || ni != (size_t)n)
        return fail(e, K_FORMAT, -1,
                    "%zu feature names and %zu feature infos for max_feature_idx=%d", nn, ni,
                    n - 1);
    kfeature *f = arena_array(s->mem, (size_t)n, sizeof *f);
    if (!f) return fail(e, K_NOMEM, -1, "out of memory");
    span names = h->names, infos = h->infos, name, info;
    for (int32_t j = 0; token_next(&names, ' ', &name) && token_next(&infos, ' ', &info); j++) {
        for (size_t i = 0; i < name.n; i++)
            if ((unsigned char)name.p[i] < 0x20 || name.p[i] == 0x7f)
                return fail(e, K_FORMAT, -1, "feature name %d contains a control character", j);
        if (!(f[j].name = arena_strndup(s->mem, name.p, name.n)))
            return fail(e, K_NOMEM, -1, "out of memory");
        kstatus st = parse_info(info, j, &f[j], e);
        if (st) return st;
    }
    s->features = f;
    s->n_features = n;
    return check_unique(f, n, e);
}

/* ---- one tree -------------------------------------------------------------------------------- */

/* The keys of a Tree= block that prediction needs; the rest (split_gain, counts, weights,
 * internal values, shrinkage) is training bookkeeping. */
typedef struct {
    span num_leaves, num_cat, split_feature, threshold, decision_type, left_child, right_child,
        leaf_value, cat_boundaries, cat_threshold, is_linear;
} tree_text;

static span *tree_field(tree_text *t, span key)
{
    if (span_eq(key, "num_leaves")) return &t->num_leaves;
    if (span_eq(key, "num_cat")) return &t->num_cat;
    if (span_eq(key, "split_feature")) return &t->split_feature;
    if (span_eq(key, "threshold")) return &t->threshold;
    if (span_eq(key, "decision_type")) return &t->decision_type;
    if (span_eq(key, "left_child")) return &t->left_child;
    if (span_eq(key, "right_child")) return &t->right_child;
    if (span_eq(key, "leaf_value")) return &t->leaf_value;
    if (span_eq(key, "cat_boundaries")) return &t->cat_boundaries;
    if (span_eq(key, "cat_threshold")) return &t->cat_threshold;
    if (span_eq(key, "is_linear")) return &t->is_linear;
    return NULL;
}

/* Reads the key=value lines of one block, up to the blank line that ends it (or the next
 * tree, or "end of trees"). */
static kstatus read_tree_text(lines *r, int32_t tree, tree_text *t, kerr *e)
{
    memset(t, 0, sizeof *t);
    span line;
    for (;;) {
        const char *at = r->p;
        if (!line_next(r, &line))
            return fail(e, K_FORMAT, tree, "truncated: the file ends inside the tree");
        if (line.n == 0) return K_OK;
        if (is_section_start(line)) {
            r->p = at;
            return K_OK;
        }
        span key, val;
        split_kv(line, &key, &val);
        if (!val.p) return fail(e, K_FORMAT, tree, "line '%s' is not key=value", Q(line));
        span *field = tree_field(t, key);
        if (!field) continue;
        if (field->p) return fail(e, K_FORMAT, tree, "key '%s' appears twice", Q(key));
        *field = val;
    }
}

/* A tree's arrays, parsed and range-checked. Internal node i has children left[i], right[i]:
 * a value >= 0 is another internal node, a negative value v is leaf ~v. */
typedef struct {
    int32_t leaves, n_cat;
    int32_t *feature, *dtype, *left, *right, *cat_bounds;
    double *threshold, *leaf_value;
    uint32_t *cat_words;
} tree_arrays;

enum { DT_CATEGORICAL = 1, DT_DEFAULT_LEFT = 2 };
enum { MISSING_NONE = 0, MISSING_ZERO = 1, MISSING_NAN = 2 };

static kstatus read_categories(const tree_ctx *c, const tree_text *tt, tree_arrays *a)
{
    kstatus st = read_i32(c, tt->cat_boundaries, "cat_boundaries", a->n_cat + 1, 0, INT32_MAX,
                          &a->cat_bounds);
    if (st) return st;
    if (a->cat_bounds[0] != 0)
        return fail(c->e, K_FORMAT, c->tree, "cat_boundaries must start at 0");
    for (int32_t i = 0; i < a->n_cat; i++)
        if (a->cat_bounds[i + 1] < a->cat_bounds[i])
            return fail(c->e, K_FORMAT, c->tree, "cat_boundaries decrease at %d", i + 1);
    return read_u32(c, tt->cat_threshold, "cat_threshold", a->cat_bounds[a->n_cat], &a->cat_words);
}

static kstatus read_tree_arrays(const tree_ctx *c, const tree_text *tt, int32_t n_features,
                                tree_arrays *a)
{
    int64_t leaves, n_cat, linear = 0;
    kstatus st =
        scalar_int(tt->num_leaves, "num_leaves", 1, MAX_LEAVES, K_LIMIT, c->tree, &leaves, c->e);
    if (!st)
        st = scalar_int(tt->num_cat, "num_cat", 0, leaves - 1, K_FORMAT, c->tree, &n_cat, c->e);
    if (!st && tt->is_linear.p)
        st = scalar_int(tt->is_linear, "is_linear", 0, 1, K_FORMAT, c->tree, &linear, c->e);
    if (st) return st;
    if (linear)
        return fail(c->e, K_UNSUPPORTED, c->tree, "linear trees (linear_tree) are not supported");
    a->leaves = (int32_t)leaves;
    a->n_cat = (int32_t)n_cat;
    int32_t n = a->leaves - 1, lo = -a->leaves; /* n internal nodes; leaf j is written ~j */
    st = read_f64(c, tt->leaf_value, "leaf_value", a->leaves, &a->leaf_value);
    if (st || n == 0) return st; /* a single leaf: LightGBM reads nothing else */
    st = read_i32(c, tt->split_feature, "split_feature", n, 0, n_features - 1, &a->feature);
    if (!st) st = read_f64(c, tt->threshold, "threshold", n, &a->threshold);
    if (!st) st = read_i32(c, tt->left_child, "left_child", n, lo, n - 1, &a->left);
    if (!st) st = read_i32(c, tt->right_child, "right_child", n, lo, n - 1, &a->right);
    if (st) return st;
    if (tt->decision_type.p) /* absent means 0: numeric, missing None, default right */
        st = read_i32(c, tt->decision_type, "decision_type", n, INT8_MIN, INT8_MAX, &a->dtype);
    else if (!(a->dtype = arena_array(c->mem, (size_t)n, sizeof *a->dtype)))
        st = fail(c->e, K_NOMEM, c->tree, "out of memory");
    if (!st && a->n_cat > 0) st = read_categories(c, tt, a);
    return st;
}

/* Preorder numbering of the reached nodes: order[k] is the k-th node (internal i as i, leaf j
 * as ~j); inner_at / leaf_at give each node's new index. */
typedef struct {
    int32_t *order, *inner_at, *leaf_at, *stack;
    int32_t count, depth;
} walk;

enum { UNSEEN = -1, QUEUED = -2 };

static kstatus walk_push(walk *w, int32_t child, int32_t tree, kerr *e)
{
    int32_t *slot = child >= 0 ? &w->inner_at[child] : &w->leaf_at[~child];
    if (*slot != UNSEEN)
        return fail(e, K_FORMAT, tree, "%s %d is reached twice (cycle or shared subtree)",
                    child >= 0 ? "node" : "leaf", child >= 0 ? child : ~child);
    *slot = QUEUED;
    w->stack[w->depth++] = child;
    return K_OK;
}

/* Walks from the root (internal node 0), left subtree first. Every node is pushed at most
 * once, so the walk takes at most 2 * leaves - 1 steps whatever the children say. */
static kstatus walk_tree(const tree_arrays *a, arena *mem, walk *w, int32_t tree, kerr *e)
{
    size_t total = 2 * (size_t)a->leaves - 1;
    w->order = arena_array(mem, total, sizeof(int32_t));
    w->stack = arena_array(mem, total, sizeof(int32_t));
    w->inner_at = arena_array(mem, (size_t)a->leaves - 1, sizeof(int32_t));
    w->leaf_at = arena_array(mem, (size_t)a->leaves, sizeof(int32_t));
    if (!w->order || !w->stack || !w->inner_at || !w->leaf_at)
        return fail(e, K_NOMEM, tree, "out of memory");
    for (int32_t i = 0; i < a->leaves - 1; i++)
        w->inner_at[i] = UNSEEN;
    for (int32_t i = 0; i < a->leaves; i++)
        w->leaf_at[i] = UNSEEN;
    w->count = w->depth = 0;
    kstatus st = walk_push(w, 0, tree, e);
    while (!st && w->depth > 0) {
        int32_t node = w->stack[--w->depth], at = w->count++;
        w->order[at] = node;
        if (node < 0) {
            w->leaf_at[~node] = at;
            continue;
        }
        w->inner_at[node] = at;
        st = walk_push(w, a->right[node], tree, e); /* pushed first, popped after the left */
        if (!st) st = walk_push(w, a->left[node], tree, e);
    }
    return st;
}

/* The strict threshold for LightGBM's `x <= t`. Booster.predict reads |x| <= kZeroThreshold as
 * 0, so for t inside (-band, band) every value of the band sits on 0's side: t in [-band, 0)
 * sends only x < -band left, t in [0, band) sends every x <= band left. */
static double split_threshold(double t)
{
    if (t >= -ZERO_BAND && t < 0) return -ZERO_BAND;
    if (t >= 0 && t < ZERO_BAND) return nextafter(ZERO_BAND, INFINITY);
    return kspec_le_to_lt(t, 0);
}

/* The spec node for internal node i (children filled in by the caller). */
static kstatus split_node(const tree_arrays *a, int32_t i, uint32_t word_base, ktree_node *n,
                          int32_t tree, kerr *e)
{
    int32_t dt = a->dtype[i], missing = (dt >> 2) & 3;
    if (dt < 0 || dt > 15 || missing > MISSING_NAN)
        return fail(e, K_FORMAT, tree, "node %d: bad decision_type %d", i, dt);
    n->feature = a->feature[i];
    if (dt & DT_CATEGORICAL) {
        double t = a->threshold[i]; /* index of the node's category set */
        if (!(t >= 0 && t < a->n_cat && t == floor(t)))
            return fail(e, K_FORMAT, tree, "node %d: category set index %g is not below num_cat=%d",
                        i, t, a->n_cat);
        int32_t c = (int32_t)t;
        /* No default flag: NaN goes right, and invalid (negative, too large) categories take
         * the "not in set" direction, which is right too. */
        n->flags = KNODE_CATEGORICAL | KNODE_CAT_TRUNCATE;
        n->cat_start = word_base + (uint32_t)a->cat_bounds[c];
        n->cat_len = (uint32_t)(a->cat_bounds[c + 1] - a->cat_bounds[c]);
        return K_OK;
    }
    n->flags = (dt & DT_DEFAULT_LEFT) ? KNODE_DEFAULT_LEFT : 0;
    if (missing == MISSING_NONE) n->flags |= KNODE_NAN_AS_ZERO;
    if (missing == MISSING_ZERO) n->flags |= KNODE_NAN_AS_ZERO | KNODE_ZERO_MISSING;
    n->threshold = split_threshold(a->threshold[i]);
    return K_OK;
}

/* ---- the ensemble ---------------------------------------------------------------------------- */

/* Trees are appended to growable buffers (bounded by the input size) and copied into the spec's
 * arena at the end, since the total node count is known only then. */
typedef struct {
    int32_t n_features;
    buf nodes;  /* ktree_node */
    buf words;  /* uint32_t category words */
    buf starts; /* int32_t first node of each tree */
    int32_t n_trees;
} builder;

static int32_t node_count(const builder *b)
{
    return (int32_t)(b->nodes.len / sizeof(ktree_node));
}

static kstatus append_node(builder *b, const ktree_node *n, int32_t tree, kerr *e)
{
    if (node_count(b) == INT32_MAX || buf_append(&b->nodes, n, sizeof *n))
        return fail(e, K_LIMIT, tree, "model too large");
    return K_OK;
}

static kstatus emit_nodes(builder *b, const tree_arrays *a, const walk *w, int32_t tree, kerr *e)
{
    size_t n_words = a->n_cat ? (size_t)a->cat_bounds[a->n_cat] : 0;
    uint32_t word_base = (uint32_t)(b->words.len / sizeof(uint32_t));
    if (word_base + n_words > INT32_MAX ||
        (n_words && buf_append(&b->words, a->cat_words, n_words * sizeof(uint32_t))))
        return fail(e, K_LIMIT, tree, "model too large");
    for (int32_t k = 0; k < w->count; k++) {
        int32_t ref = w->order[k];
        ktree_node n = {0};
        if (ref < 0) {
            n.flags = KNODE_LEAF;
            n.value = a->leaf_value[~ref];
        } else {
            kstatus st = split_node(a, ref, word_base, &n, tree, e);
            if (st) return st;
            int32_t l = a->left[ref], r = a->right[ref];
            n.left = l >= 0 ? w->inner_at[l] : w->leaf_at[~l];
            n.right = r >= 0 ? w->inner_at[r] : w->leaf_at[~r];
        }
        kstatus st = append_node(b, &n, tree, e);
        if (st) return st;
    }
    return K_OK;
}

static kstatus add_tree(builder *b, const tree_text *tt, int32_t tree, kerr *e)
{
    arena *mem = arena_new(SCRATCH_LIMIT);
    if (!mem) return fail(e, K_NOMEM, tree, "out of memory");
    tree_arrays a = {0};
    tree_ctx c = {mem, tree, e};
    int32_t start = node_count(b);
    kstatus st = read_tree_arrays(&c, tt, b->n_features, &a);
    if (!st && a.leaves == 1) {
        ktree_node leaf = {.flags = KNODE_LEAF, .value = a.leaf_value[0]};
        st = append_node(b, &leaf, tree, e);
    } else if (!st) {
        walk w = {0};
        st = walk_tree(&a, mem, &w, tree, e);
        if (!st) st = emit_nodes(b, &a, &w, tree, e);
    }
    arena_free(mem);
    if (!st && buf_append(&b->starts, &start, sizeof start))
        st = fail(e, K_LIMIT, tree, "model too large");
    if (!st) b->n_trees++;
    return st;
}

/* Reads every Tree= block up to "end of trees". */
static kstatus read_trees(lines *r, builder *b, kerr *e)
{
    span line;
    for (;;) {
        if (!line_next(r, &line))
            return fail(e, K_FORMAT, -1, "truncated: 'end of trees' missing after %d trees",
                        b->n_trees);
        if (line.n == 0) continue;
        if (span_eq(line, "end of trees")) return K_OK;
        int64_t index;
        if (!span_starts(line, "Tree=") || !parse_int((span){line.p + 5, line.n - 5}, &index) ||
            index != b->n_trees)
            return fail(e, K_FORMAT, -1, "expected 'Tree=%d' or 'end of trees', found '%s'",
                        b->n_trees, Q(line));
        tree_text tt;
        kstatus st = read_tree_text(r, b->n_trees, &tt, e);
        if (!st) st = add_tree(b, &tt, b->n_trees, e);
        if (st) return st;
    }
}

/* ---- the spec -------------------------------------------------------------------------------- */

typedef struct {
    int32_t n_features, num_class, per_iter;
    objective obj;
} shape;

static kstatus read_shape(const header *h, shape *m, kerr *e)
{
    if (!h->version.p) return fail(e, K_FORMAT, -1, "'version' is missing");
    if (!span_eq(h->version, "v2") && !span_eq(h->version, "v3") && !span_eq(h->version, "v4"))
        return fail(e, K_VERSION, -1, "unsupported model version '%s' (expected v2, v3 or v4)",
                    Q(h->version));
    int64_t num_class, per_iter, label, max_feature;
    kstatus st = scalar_int(h->num_class, "num_class", 1, MAX_OUTPUTS, K_LIMIT, -1, &num_class, e);
    per_iter = num_class; /* LightGBM's default when the key is absent */
    if (!st && h->per_iter.p)
        st = scalar_int(h->per_iter, "num_tree_per_iteration", 1, MAX_OUTPUTS, K_LIMIT, -1,
                        &per_iter, e);
    if (!st) st = scalar_int(h->label_index, "label_index", -1, INT32_MAX, K_FORMAT, -1, &label, e);
    if (!st)
        st = scalar_int(h->max_feature, "max_feature_idx", 0, MAX_FEATURES - 1, K_LIMIT, -1,
                        &max_feature, e);
    if (!st) st = parse_objective(h->objective, (int32_t)num_class, &m->obj, e);
    if (st) return st;
    m->n_features = (int32_t)max_feature + 1;
    m->num_class = (int32_t)num_class;
    m->per_iter = (int32_t)per_iter;
    /* LightGBM's ConvertOutput reads num_class scores for multiclass objectives and one score
     * for the others, so any other tree layout would be misread; raw scores take any width. */
    int fits =
        m->obj.multiclass ? m->per_iter == m->num_class : m->per_iter == 1 && m->num_class == 1;
    if (!m->obj.raw && !fits)
        return fail(e, K_FORMAT, -1,
                    "num_class=%d and num_tree_per_iteration=%d do not fit objective '%s'",
                    m->num_class, m->per_iter, Q(h->objective));
    return K_OK;
}

static kstatus set_labels(kspec *s, int32_t n, kerr *e)
{
    const char **labels = arena_array(s->mem, (size_t)n, sizeof *labels);
    if (!labels) return fail(e, K_NOMEM, -1, "out of memory");
    for (int32_t i = 0; i < n; i++) {
        char text[16];
        snprintf(text, sizeof text, "%d", i);
        if (!(labels[i] = arena_strdup(s->mem, text))) return fail(e, K_NOMEM, -1, "out of memory");
    }
    s->class_labels = labels;
    s->n_classes = n;
    return K_OK;
}

/* Moves the builder's trees into the spec's arena. */
static kstatus set_trees(kspec *s, const builder *b, const shape *m, int average, kerr *e)
{
    ktrees *t = &s->trees;
    int32_t n = b->n_trees, n_nodes = node_count(b);
    int32_t *start = arena_array(s->mem, (size_t)n + 1, sizeof *start);
    int32_t *output = arena_array(s->mem, (size_t)n, sizeof *output);
    ktree_node *nodes = arena_array(s->mem, (size_t)n_nodes, sizeof *nodes);
    uint32_t *words = arena_array(s->mem, b->words.len / sizeof *words, sizeof *words);
    if (!start || !output || !nodes || !words) return fail(e, K_NOMEM, -1, "out of memory");
    memcpy(start, b->starts.data, (size_t)n * sizeof *start);
    start[n] = n_nodes;
    for (int32_t i = 0; i < n; i++)
        output[i] = i % m->per_iter; /* iteration-major order */
    memcpy(nodes, b->nodes.data, (size_t)n_nodes * sizeof *nodes);
    if (b->words.len) memcpy(words, b->words.data, b->words.len);
    *t = (ktrees){.n_in = m->n_features,
                  .n_out = m->per_iter,
                  .n_trees = n,
                  .tree_start = start,
                  .tree_output = output,
                  .nodes = nodes,
                  .n_nodes = n_nodes,
                  .leaf_dim = 1,
                  .cat_words = words,
                  .n_cat_words = (int32_t)(b->words.len / sizeof *words),
                  .aggregate = average ? KAGG_MEAN : KAGG_SUM,
                  .f32_inputs = 0,
                  .f32_accumulate = 0};
    s->kind = KEST_TREES;
    return K_OK;
}

static kstatus set_output(kspec *s, const header *h, const shape *m, kerr *e)
{
    s->task = m->obj.task;
    s->n_outputs = m->per_iter;
    s->link = m->obj.link;
    s->link_param = m->obj.link_param;
    s->base_score = NULL; /* boost_from_average is already folded into the first trees */
    if (s->task == KTASK_CLASSIFICATION) {
        kstatus st = set_labels(s, m->obj.multiclass ? m->num_class : 2, e);
        if (st) return st;
    }
    char *version = arena_strndup(s->mem, h->version.p, h->version.n);
    const char *obj =
        h->objective.p ? arena_strndup(s->mem, h->objective.p, h->objective.n) : "custom";
    if (!version || !obj || kspec_set_meta(s, "source_framework", "lightgbm") ||
        kspec_set_meta(s, "source_version", version) || kspec_set_meta(s, "objective", obj))
        return fail(e, K_NOMEM, -1, "out of memory");
    return K_OK;
}

static kstatus import_model(kspec *s, builder *b, const char *data, size_t len, kerr *e)
{
    lines r = {data, data + len};
    header h = {0};
    shape m = {0};
    kstatus st = read_header(&r, &h, e);
    if (!st) st = read_shape(&h, &m, e);
    if (!st) st = read_features(s, &h, m.n_features, e);
    if (st) return st;
    b->n_features = m.n_features;
    if ((st = read_trees(&r, b, e))) return st;
    if (b->n_trees == 0) return fail(e, K_FORMAT, -1, "model has no trees");
    if (b->n_trees % m.per_iter)
        return fail(e, K_FORMAT, -1, "%d trees is not a whole number of iterations of %d trees",
                    b->n_trees, m.per_iter);
    if (h.sizes.p && token_count(h.sizes, ' ') != (size_t)b->n_trees)
        return fail(e, K_FORMAT, -1, "tree_sizes lists %zu trees, the file holds %d",
                    token_count(h.sizes, ' '), b->n_trees);
    st = set_trees(s, b, &m, h.average.p != NULL, e);
    return st ? st : set_output(s, &h, &m, e);
}

/* Everything allocated is proportional to the text that describes it; the cap only stops a
 * runaway. */
static size_t limit_for(size_t len)
{
    size_t extra = (size_t)64 << 20;
    return len > (SIZE_MAX - extra) / 64 ? SIZE_MAX : 64 * len + extra;
}

kstatus lightgbm_import(const char *data, size_t len, kspec **out, kerr *e)
{
    *out = NULL;
    kspec *s = kspec_new(limit_for(len));
    if (!s) return kerr_set(e, K_NOMEM, "out of memory");
    builder b = {0};
    buf_init(&b.nodes, limit_for(len));
    buf_init(&b.words, limit_for(len));
    buf_init(&b.starts, limit_for(len));
    kstatus st = import_model(s, &b, data, len, e);
    buf_free(&b.nodes);
    buf_free(&b.words);
    buf_free(&b.starts);
    if (!st) st = kspec_validate(s, e);
    if (st) {
        kspec_free(s);
        return st;
    }
    *out = s;
    return K_OK;
}
