/* sklearn.c — scikit-learn models: reading the exporter's JSON, and running the exporter.
 *
 * Kiln's C code never unpickles anything. sklearn_export runs python/kiln_sklearn_export.py
 * (embedded in the binary) under an external Python, which loads the pickle and writes a JSON
 * rendering of a kspec; sklearn_import turns such a document — from the exporter or from anyone
 * — into a validated kspec. The document is described in docs/sklearn.md. Every size is bounded
 * and every index checked, so a hostile document gets a one-line error, never a crash. */
#include "model/import.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"

/* generated from python/kiln_sklearn_export.py by cmake/embed.cmake */
extern const char *const kiln_sklearn_exporter_py;
extern const size_t kiln_sklearn_exporter_py_len;
extern char **environ;

#define SKL_VERSION 1
#define SKL_JSON_MAX ((size_t)512 << 20) /* json-c needs several times this in memory */
#define SKL_JSON_DEPTH 16                /* the document nests 6 deep */
#define SKL_MAX_WIDTH (1 << 24)          /* columns of any row, as kspec_validate allows */
#define SKL_MAX_FEATURES (1 << 20)
#define SKL_MAX_STEPS 4096
#define SKL_MAX_OUTPUTS (1 << 16)
#define SKL_MAX_TREES (1 << 24)
#define SKL_MAX_NODES (1 << 28)          /* in all trees together */
#define SKL_MAX_SET_WORDS 4096           /* one categorical split: categories < 131072 */
#define SKL_MAX_LAYERS 256
#define SKL_MAX_DENSE ((int64_t)1 << 28) /* weights of one dense block */
#define SKL_MAX_STRING 4096
#define SKL_MAX_META 256
#define SKL_PACK_MIN_CHARS 4             /* "f64:", "i32:" */
#define SKL_SPEC_MEM_BASE ((size_t)16 << 20)
#define SKL_EXPORT_TIMEOUT_S 900
#define SKL_STDERR_TAIL 4096

/* ---- errors and JSON access ------------------------------------------------------------------ */

typedef struct {
    kspec *s;
    kerr *e;
} parser;

__attribute__((format(printf, 2, 3))) static kstatus bad(parser *p, const char *fmt, ...)
{
    char msg[KERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    kerr_set(p->e, K_FORMAT, "scikit-learn export: %s", msg);
    return K_FORMAT;
}

static kstatus nomem(parser *p)
{
    kerr_set(p->e, K_NOMEM, "scikit-learn export: out of memory (model too large)");
    return K_NOMEM;
}

static const char *type_name(json_type t)
{
    switch (t) {
    case json_type_null: return "null";
    case json_type_boolean: return "a boolean";
    case json_type_double:
    case json_type_int: return "a number";
    case json_type_object: return "an object";
    case json_type_array: return "an array";
    case json_type_string: return "a string";
    }
    return "?";
}

/* Finds obj[key] of type t. */
static kstatus member(parser *p, json_object *obj, const char *where, const char *key, json_type t,
                      json_object **out)
{
    json_object *v = NULL;
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v))
        return bad(p, "%s: missing \"%s\"", where, key);
    if (json_object_get_type(v) != t)
        return bad(p, "%s.%s: expected %s, found %s", where, key, type_name(t),
                   type_name(json_object_get_type(v)));
    *out = v;
    return K_OK;
}

/* Integer in [lo, hi]; 0 when v is something else. */
static int int_value(json_object *v, int64_t lo, int64_t hi, int64_t *out)
{
    *out = 0;
    if (json_object_get_type(v) != json_type_int) return 0;
    int64_t x = json_object_get_int64(v);
    if (x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

/* A number: finite JSON numbers, or the strings "nan", "inf", "-inf" (JSON has no NaN). */
static int num_value(json_object *v, double *out)
{
    *out = 0;
    json_type t = json_object_get_type(v);
    if (t == json_type_int || t == json_type_double) {
        double x = json_object_get_double(v);
        if (!isfinite(x)) return 0; /* an overflowing literal like 1e999 */
        *out = x;
        return 1;
    }
    if (t != json_type_string) return 0;
    const char *s = json_object_get_string(v);
    if (strcmp(s, "nan") == 0) *out = NAN;
    else if (strcmp(s, "inf") == 0) *out = INFINITY;
    else if (strcmp(s, "-inf") == 0) *out = -INFINITY;
    else return 0;
    return 1;
}

static kstatus get_int(parser *p, json_object *obj, const char *where, const char *key, int64_t lo,
                       int64_t hi, int64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v)) return bad(p, "%s: missing \"%s\"", where, key);
    if (!int_value(v, lo, hi, out))
        return bad(p, "%s.%s: expected an integer in [%lld, %lld]", where, key, (long long)lo,
                   (long long)hi);
    return K_OK;
}

static kstatus get_i32(parser *p, json_object *obj, const char *where, const char *key, int64_t lo,
                       int64_t hi, int32_t *out)
{
    int64_t v;
    kstatus st = get_int(p, obj, where, key, lo, hi, &v);
    if (!st) *out = (int32_t)v;
    return st;
}

static kstatus get_num(parser *p, json_object *obj, const char *where, const char *key, int finite,
                       double *out)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v)) return bad(p, "%s: missing \"%s\"", where, key);
    if (!num_value(v, out) || (finite && !isfinite(*out)))
        return bad(p, "%s.%s: expected a %snumber", where, key, finite ? "finite " : "");
    return K_OK;
}

static kstatus get_bool(parser *p, json_object *obj, const char *where, const char *key, int *out)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, key, &v)) return bad(p, "%s: missing \"%s\"", where, key);
    if (json_object_get_type(v) != json_type_boolean)
        return bad(p, "%s.%s: expected true or false", where, key);
    *out = json_object_get_boolean(v);
    return K_OK;
}

/* Copies a JSON string into the spec's arena. Names end up in CSV headers and terminal output,
 * so control characters and embedded NULs are refused. */
static kstatus copy_string(parser *p, json_object *v, const char *what, int empty_ok,
                           const char **out)
{
    if (json_object_get_type(v) != json_type_string)
        return bad(p, "%s: expected a string", what);
    const char *s = json_object_get_string(v);
    size_t len = (size_t)json_object_get_string_len(v);
    if (len > SKL_MAX_STRING || (!empty_ok && len == 0))
        return bad(p, "%s: string length %zu outside [%d, %d]", what, len, empty_ok ? 0 : 1,
                   SKL_MAX_STRING);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return bad(p, "%s: control character in string", what);
    char *c = arena_strndup(p->s->mem, s, len);
    if (!c) return nomem(p);
    *out = c;
    return K_OK;
}

static kstatus get_string(parser *p, json_object *obj, const char *where, const char *key,
                          const char **out)
{
    json_object *v;
    char what[160];
    kstatus st = member(p, obj, where, key, json_type_string, &v);
    if (st) return st;
    snprintf(what, sizeof what, "%s.%s", where, key);
    return copy_string(p, v, what, 0, out);
}

/* Index of `s` in the NULL-terminated `names`, or -1. */
static int pick(const char *s, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (strcmp(s, names[i]) == 0) return i;
    return -1;
}

static kstatus get_choice(parser *p, json_object *obj, const char *where, const char *key,
                          const char *const *names, int *out)
{
    json_object *v;
    kstatus st = member(p, obj, where, key, json_type_string, &v);
    if (st) return st;
    *out = pick(json_object_get_string(v), names);
    if (*out < 0) return bad(p, "%s.%s: unknown value \"%.64s\"", where, key, json_object_get_string(v));
    return K_OK;
}

/* obj[key] as an array of exactly n elements. */
static kstatus get_array_n(parser *p, json_object *obj, const char *where, const char *key,
                           size_t n, json_object **out)
{
    kstatus st = member(p, obj, where, key, json_type_array, out);
    if (st) return st;
    size_t len = json_object_array_length(*out);
    if (len != n) return bad(p, "%s.%s: %zu elements, expected %zu", where, key, len, n);
    return K_OK;
}

/* ---- numeric arrays, plain or packed ---------------------------------------------------------
 *
 * A numeric array is either a JSON array or a packed string "f64:<base64>" / "i32:<base64>"
 * holding the elements' little-endian bytes (standard padded base64). nums hides which: a packed
 * string is decoded once into a malloc'd buffer, which nums_free releases. */

typedef enum { NUMS_JSON, NUMS_I32, NUMS_F64 } nums_kind;

typedef struct {
    nums_kind kind;
    json_object *arr;   /* NUMS_JSON */
    unsigned char *buf; /* NUMS_I32, NUMS_F64: len elements, little-endian */
    size_t len;
} nums;

static void nums_free(nums *a)
{
    free(a->buf);
    *a = (nums){NUMS_JSON, NULL, NULL, 0};
}

static size_t nums_len(const nums *a) { return a->len; }

static int32_t nums_i32_at(const nums *a, size_t i)
{
    const unsigned char *b = a->buf + i * 4;
    return (int32_t)((uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24);
}

static double nums_f64_at(const nums *a, size_t i)
{
    const unsigned char *b = a->buf + i * 8;
    uint64_t u = 0;
    for (int k = 7; k >= 0; k--) u = u << 8 | b[k];
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Element i as an integer in [lo, hi]; 0 when it is something else. A packed f64 element counts
 * when it is integral and in range. */
static int nums_int(const nums *a, size_t i, int64_t lo, int64_t hi, int64_t *out)
{
    *out = 0;
    if (i >= a->len) return 0;
    if (a->kind == NUMS_JSON) return int_value(json_object_array_get_idx(a->arr, i), lo, hi, out);
    int64_t x;
    if (a->kind == NUMS_I32) {
        x = nums_i32_at(a, i);
    } else {
        double d = nums_f64_at(a, i);
        /* the bounds keep the cast defined; every lo/hi used here is far inside them */
        if (!(d >= -9007199254740992.0 && d <= 9007199254740992.0) || d != floor(d)) return 0;
        x = (int64_t)d;
    }
    if (x < lo || x > hi) return 0;
    *out = x;
    return 1;
}

/* Element i as a number, as num_value reads it (packed f64 may hold NaN and infinities). */
static int nums_num(const nums *a, size_t i, double *out)
{
    *out = 0;
    if (i >= a->len) return 0;
    if (a->kind == NUMS_JSON) return num_value(json_object_array_get_idx(a->arr, i), out);
    *out = a->kind == NUMS_I32 ? (double)nums_i32_at(a, i) : nums_f64_at(a, i);
    return 1;
}

/* v as a numeric array, named `what` in errors. At most max_len elements are accepted, checked
 * before anything is allocated. */
static kstatus nums_of(parser *p, json_object *v, const char *what, size_t max_len, nums *out)
{
    *out = (nums){NUMS_JSON, NULL, NULL, 0};
    json_type t = json_object_get_type(v);
    if (t == json_type_array) {
        out->arr = v;
        out->len = json_object_array_length(v);
        if (out->len > max_len)
            return bad(p, "%s: %zu elements, at most %zu", what, out->len, max_len);
        return K_OK;
    }
    if (t != json_type_string)
        return bad(p, "%s: expected an array or a packed string, found %s", what, type_name(t));
    const char *s = json_object_get_string(v);
    size_t n = (size_t)json_object_get_string_len(v), size;
    if (n >= SKL_PACK_MIN_CHARS && memcmp(s, "f64:", 4) == 0) {
        out->kind = NUMS_F64;
        size = 8;
    } else if (n >= SKL_PACK_MIN_CHARS && memcmp(s, "i32:", 4) == 0) {
        out->kind = NUMS_I32;
        size = 4;
    } else {
        return bad(p, "%s: expected an array, or a packed string starting \"f64:\" or \"i32:\"", what);
    }
    s += 4;
    n -= 4;
    size_t cap = n / 4 * 3; /* padded base64 decodes to at most this */
    if (n % 4) return bad(p, "%s: packed data is not padded base64", what);
    if (cap / size > max_len + 1)
        return bad(p, "%s: more than %zu packed elements", what, max_len);
    out->buf = malloc(cap ? cap : 1);
    if (!out->buf) return nomem(p);
    size_t got = 0;
    const char *end = NULL;
    if (sodium_base642bin(out->buf, cap, s, n, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
        end != s + n) {
        nums_free(out);
        return bad(p, "%s: packed data is not valid base64", what);
    }
    if (got % size) {
        nums_free(out);
        return bad(p, "%s: %zu packed bytes, not a multiple of %zu", what, got, size);
    }
    out->len = got / size;
    if (out->len > max_len) {
        size_t len = out->len;
        nums_free(out);
        return bad(p, "%s: %zu elements, at most %zu", what, len, max_len);
    }
    return K_OK;
}

/* obj[key] as a numeric array of exactly n elements. */
static kstatus get_nums_n(parser *p, json_object *obj, const char *where, const char *key,
                          size_t n, nums *out)
{
    json_object *v;
    char what[160];
    *out = (nums){NUMS_JSON, NULL, NULL, 0};
    if (!json_object_object_get_ex(obj, key, &v)) return bad(p, "%s: missing \"%s\"", where, key);
    snprintf(what, sizeof what, "%s.%s", where, key);
    kstatus st = nums_of(p, v, what, n, out);
    if (!st && out->len != n) {
        size_t len = out->len;
        nums_free(out);
        return bad(p, "%s: %zu elements, expected %zu", what, len, n);
    }
    return st;
}

/* obj[key] as an array of n numbers, copied into the arena. */
static kstatus get_doubles(parser *p, json_object *obj, const char *where, const char *key,
                           size_t n, int finite, double **out)
{
    nums arr;
    kstatus st = get_nums_n(p, obj, where, key, n, &arr);
    if (st) return st;
    double *d = arena_array(p->s->mem, n ? n : 1, sizeof *d);
    if (!d) st = nomem(p);
    for (size_t i = 0; i < n && !st; i++)
        if (!nums_num(&arr, i, &d[i]) || (finite && !isfinite(d[i])))
            st = bad(p, "%s.%s[%zu]: expected a %snumber", where, key, i, finite ? "finite " : "");
    nums_free(&arr);
    if (!st) *out = d;
    return st;
}

/* obj[key] as an array of n integers in [lo, hi], copied into the arena. */
static kstatus get_int32s(parser *p, json_object *obj, const char *where, const char *key,
                          size_t n, int64_t lo, int64_t hi, int32_t **out)
{
    nums arr;
    kstatus st = get_nums_n(p, obj, where, key, n, &arr);
    if (st) return st;
    int32_t *d = arena_array(p->s->mem, n ? n : 1, sizeof *d);
    if (!d) st = nomem(p);
    for (size_t i = 0; i < n && !st; i++) {
        int64_t v;
        if (!nums_int(&arr, i, lo, hi, &v))
            st = bad(p, "%s.%s[%zu]: expected an integer in [%lld, %lld]", where, key, i,
                     (long long)lo, (long long)hi);
        d[i] = (int32_t)v;
    }
    nums_free(&arr);
    if (!st) *out = d;
    return st;
}

/* ---- features -------------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Fails when two of the n strings are equal (sorting a copy keeps this O(n log n)). */
static kstatus check_unique(parser *p, const char **names, size_t stride, size_t n,
                            const char *what)
{
    const char **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted) return nomem(p);
    for (size_t i = 0; i < n; i++) sorted[i] = *(const char **)((const char *)names + i * stride);
    qsort(sorted, n, sizeof *sorted, cmp_str);
    kstatus st = K_OK;
    for (size_t i = 1; i < n && !st; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            st = bad(p, "%s \"%.64s\" appears twice", what, sorted[i]);
    free(sorted);
    return st;
}

static kstatus read_feature(parser *p, json_object *f, int32_t i, kfeature *out)
{
    static const char *const types[] = {"numeric", "categorical", NULL};
    char where[64];
    snprintf(where, sizeof where, "features[%d]", i);
    if (json_object_get_type(f) != json_type_object) return bad(p, "%s: expected an object", where);
    int type;
    kstatus st = get_string(p, f, where, "name", &out->name);
    if (!st) st = get_choice(p, f, where, "type", types, &type);
    if (!st) st = get_num(p, f, where, "min", 0, &out->min);
    if (!st) st = get_num(p, f, where, "max", 0, &out->max);
    if (st) return st;
    out->type = type == 1 ? KFEAT_CATEGORICAL : KFEAT_NUMERIC;
    if (json_object_object_get_ex(f, "n_categories", NULL))
        st = get_i32(p, f, where, "n_categories", 0, SKL_MAX_WIDTH, &out->n_categories);
    return st;
}

static kstatus read_features(parser *p, json_object *root)
{
    json_object *arr;
    kstatus st = member(p, root, "document", "features", json_type_array, &arr);
    if (st) return st;
    size_t n = json_object_array_length(arr);
    if (n == 0 || n > SKL_MAX_FEATURES)
        return bad(p, "features: %zu entries, expected 1 to %d", n, SKL_MAX_FEATURES);
    kfeature *f = arena_array(p->s->mem, n, sizeof *f);
    if (!f) return nomem(p);
    for (size_t i = 0; i < n; i++) {
        st = read_feature(p, json_object_array_get_idx(arr, i), (int32_t)i, &f[i]);
        if (st) return st;
    }
    p->s->features = f;
    p->s->n_features = (int32_t)n;
    return check_unique(p, &f[0].name, sizeof *f, n, "feature name");
}

/* ---- preprocessing steps --------------------------------------------------------------------- */

static kstatus read_select(parser *p, json_object *o, const char *where, kstep *st)
{
    int32_t *index = NULL;
    kstatus r = get_int32s(p, o, where, "index", (size_t)st->n_out, 0, st->n_in - 1, &index);
    st->index = index;
    return r;
}

static kstatus read_impute(parser *p, json_object *o, const char *where, kstep *st)
{
    double *fill;
    if (st->n_out != st->n_in) return bad(p, "%s: an imputer keeps the width", where);
    kstatus r = get_doubles(p, o, where, "fill", (size_t)st->n_in, 0, &fill);
    st->fill = fill;
    return r;
}

static kstatus read_scale(parser *p, json_object *o, const char *where, kstep *st)
{
    double *off, *sc;
    if (st->n_out != st->n_in) return bad(p, "%s: a scaler keeps the width", where);
    kstatus r = get_doubles(p, o, where, "offset", (size_t)st->n_in, 1, &off);
    if (!r) r = get_doubles(p, o, where, "scale", (size_t)st->n_in, 1, &sc);
    if (r) return r;
    for (int32_t j = 0; j < st->n_in; j++)
        if (sc[j] == 0) return bad(p, "%s.scale[%d]: zero", where, j);
    st->offset = off;
    st->scale = sc;
    return K_OK;
}

/* Sizes of a one-hot step: total category values and output width, both bounded. */
static kstatus count_categories(parser *p, json_object *cats, const char *where, int32_t n_in,
                                int64_t *n_values, int64_t *width)
{
    *n_values = *width = 0;
    for (int32_t j = 0; j < n_in; j++) {
        char what[96];
        nums c;
        snprintf(what, sizeof what, "%s.categories[%d]", where, j);
        kstatus r = nums_of(p, json_object_array_get_idx(cats, (size_t)j), what, SKL_MAX_WIDTH, &c);
        if (r) return r;
        int64_t n = (int64_t)nums_len(&c);
        nums_free(&c);
        *n_values += n;
        *width += n ? n : 1;
        if (*n_values > SKL_MAX_WIDTH || *width > SKL_MAX_WIDTH)
            return bad(p, "%s: more than %d one-hot columns", where, SKL_MAX_WIDTH);
    }
    return K_OK;
}

static kstatus read_onehot(parser *p, json_object *o, const char *where, kstep *st)
{
    json_object *cats;
    int64_t n_values, width;
    kstatus r = get_array_n(p, o, where, "categories", (size_t)st->n_in, &cats);
    if (!r) r = count_categories(p, cats, where, st->n_in, &n_values, &width);
    if (r) return r;
    if (width != st->n_out)
        return bad(p, "%s: one-hot width %lld, declared %d", where, (long long)width, st->n_out);
    int32_t *n_cats = arena_array(p->s->mem, (size_t)st->n_in, sizeof *n_cats);
    int32_t *start = arena_array(p->s->mem, (size_t)st->n_in, sizeof *start);
    double *values = arena_array(p->s->mem, n_values ? (size_t)n_values : 1, sizeof *values);
    if (!n_cats || !start || !values) return nomem(p);
    int32_t at = 0;
    for (int32_t j = 0; j < st->n_in && !r; j++) {
        char what[96];
        nums c;
        snprintf(what, sizeof what, "%s.categories[%d]", where, j);
        r = nums_of(p, json_object_array_get_idx(cats, (size_t)j), what, SKL_MAX_WIDTH, &c);
        if (r) return r;
        n_cats[j] = (int32_t)nums_len(&c);
        start[j] = at;
        for (int32_t k = 0; k < n_cats[j] && !r; k++, at++)
            if (!nums_num(&c, (size_t)k, &values[at]) || isinf(values[at]))
                r = bad(p, "%s.categories[%d][%d]: expected a number or \"nan\"", where, j, k);
        nums_free(&c);
    }
    if (r) return r;
    st->n_cats = n_cats;
    st->cat_start = start;
    st->cat_values = values;
    st->n_cat_values = (int32_t)n_values;
    return K_OK;
}

static kstatus read_step(parser *p, json_object *o, int32_t i, int32_t width, kstep *st)
{
    static const char *const kinds[] = {"select", "impute", "scale", "onehot", NULL};
    char where[32];
    snprintf(where, sizeof where, "steps[%d]", i);
    if (json_object_get_type(o) != json_type_object) return bad(p, "%s: expected an object", where);
    int kind;
    kstatus r = get_choice(p, o, where, "kind", kinds, &kind);
    if (!r) r = get_i32(p, o, where, "n_in", 1, SKL_MAX_WIDTH, &st->n_in);
    if (!r) r = get_i32(p, o, where, "n_out", 1, SKL_MAX_WIDTH, &st->n_out);
    if (r) return r;
    if (st->n_in != width)
        return bad(p, "%s: input width %d, but the row is %d wide here", where, st->n_in, width);
    switch (kind) {
    case 0: st->kind = KSTEP_SELECT; return read_select(p, o, where, st);
    case 1: st->kind = KSTEP_IMPUTE; return read_impute(p, o, where, st);
    case 2: st->kind = KSTEP_SCALE; return read_scale(p, o, where, st);
    default: st->kind = KSTEP_ONEHOT; return read_onehot(p, o, where, st);
    }
}

static kstatus read_steps(parser *p, json_object *root)
{
    json_object *arr;
    kstatus r = member(p, root, "document", "steps", json_type_array, &arr);
    if (r) return r;
    size_t n = json_object_array_length(arr);
    if (n > SKL_MAX_STEPS) return bad(p, "steps: %zu entries, at most %d", n, SKL_MAX_STEPS);
    kstep *steps = arena_array(p->s->mem, n ? n : 1, sizeof *steps);
    if (!steps) return nomem(p);
    int32_t width = p->s->n_features;
    for (size_t i = 0; i < n; i++) {
        r = read_step(p, json_object_array_get_idx(arr, i), (int32_t)i, width, &steps[i]);
        if (r) return r;
        width = steps[i].n_out;
    }
    p->s->steps = steps;
    p->s->n_steps = (int32_t)n;
    return K_OK;
}

/* ---- linear models and MLPs ------------------------------------------------------------------ */

static kstatus read_linear(parser *p, json_object *o)
{
    klinear *l = &p->s->linear;
    double *coef = NULL, *icpt = NULL;
    kstatus r = get_i32(p, o, "estimator", "n_in", 1, SKL_MAX_WIDTH, &l->n_in);
    if (!r) r = get_i32(p, o, "estimator", "n_out", 1, SKL_MAX_OUTPUTS, &l->n_out);
    if (r) return r;
    if ((int64_t)l->n_in * l->n_out > SKL_MAX_DENSE)
        return bad(p, "estimator: %d x %d coefficients is too many", l->n_out, l->n_in);
    r = get_doubles(p, o, "estimator", "coef", (size_t)l->n_in * (size_t)l->n_out, 1, &coef);
    if (!r) r = get_doubles(p, o, "estimator", "intercept", (size_t)l->n_out, 1, &icpt);
    l->coef = coef;
    l->intercept = icpt;
    p->s->kind = KEST_LINEAR;
    return r;
}

static kstatus read_layer(parser *p, json_object *o, int32_t i, klayer *l)
{
    static const char *const acts[] = {"identity", "relu", "tanh", "logistic", NULL};
    char where[48];
    snprintf(where, sizeof where, "estimator.layers[%d]", i);
    if (json_object_get_type(o) != json_type_object) return bad(p, "%s: expected an object", where);
    int act = 0;
    double *w = NULL, *b = NULL;
    kstatus r = get_i32(p, o, where, "n_in", 1, SKL_MAX_WIDTH, &l->n_in);
    if (!r) r = get_i32(p, o, where, "n_out", 1, 1 << 20, &l->n_out);
    if (!r) r = get_choice(p, o, where, "activation", acts, &act);
    if (r) return r;
    if ((int64_t)l->n_in * l->n_out > SKL_MAX_DENSE)
        return bad(p, "%s: %d x %d weights is too many", where, l->n_in, l->n_out);
    r = get_doubles(p, o, where, "weight", (size_t)l->n_in * (size_t)l->n_out, 1, &w);
    if (!r) r = get_doubles(p, o, where, "bias", (size_t)l->n_out, 1, &b);
    l->weight = w;
    l->bias = b;
    l->act = (kactivation)act; /* same order as the names above */
    return r;
}

static kstatus read_mlp(parser *p, json_object *o)
{
    json_object *arr;
    kstatus r = member(p, o, "estimator", "layers", json_type_array, &arr);
    if (r) return r;
    size_t n = json_object_array_length(arr);
    if (n == 0 || n > SKL_MAX_LAYERS)
        return bad(p, "estimator.layers: %zu layers, expected 1 to %d", n, SKL_MAX_LAYERS);
    klayer *layers = arena_array(p->s->mem, n, sizeof *layers);
    if (!layers) return nomem(p);
    for (size_t i = 0; i < n; i++) {
        r = read_layer(p, json_object_array_get_idx(arr, i), (int32_t)i, &layers[i]);
        if (r) return r;
    }
    p->s->mlp.layers = layers;
    p->s->mlp.n_layers = (int32_t)n;
    p->s->kind = KEST_MLP;
    return K_OK;
}

/* ---- tree ensembles -------------------------------------------------------------------------- */

/* How one ensemble's nodes are to be read: fixed per ensemble in the document. */
typedef struct {
    int32_t n_in, n_out, leaf_dim;
    int f32, le;            /* thresholds are `x <= t` (converted) rather than `x < t` */
    uint32_t cat_flags;     /* flags every categorical split gets */
} tree_rules;

/* What pass one learns about a tree, so pass two can fill arrays allocated once. */
typedef struct {
    int64_t nodes, leaves, words;
} tree_sizes;

static kstatus tree_object(parser *p, json_object *trees, int32_t k, char *where, size_t cap,
                           json_object **out)
{
    snprintf(where, cap, "estimator.trees[%d]", k);
    *out = json_object_array_get_idx(trees, (size_t)k);
    if (json_object_get_type(*out) != json_type_object) return bad(p, "%s: expected an object", where);
    return K_OK;
}

/* Pass one: node, leaf and category-word counts of one tree. The value array is measured here
 * too, so a document claiming wide leaves cannot make us allocate more than it holds. */
static kstatus measure_tree(parser *p, json_object *t, const char *where, int32_t leaf_dim,
                            tree_sizes *sz)
{
    json_object *v, *sets;
    nums left, value;
    char what[96];
    if (!json_object_object_get_ex(t, "left", &v)) return bad(p, "%s: missing \"left\"", where);
    snprintf(what, sizeof what, "%s.left", where);
    kstatus r = nums_of(p, v, what, (size_t)(SKL_MAX_NODES - sz->nodes), &left);
    if (r) return r;
    size_t n = nums_len(&left);
    if (n == 0) r = bad(p, "%s: %zu nodes (at least 1, at most %d in all trees)", where, n, SKL_MAX_NODES);
    if (!r) r = get_nums_n(p, t, where, "value", n * (size_t)leaf_dim, &value);
    if (!r) nums_free(&value); /* only its length matters here */
    if (!r) sz->nodes += (int64_t)n;
    for (size_t i = 0; i < n && !r; i++) {
        int64_t x;
        if (nums_int(&left, i, -1, -1, &x)) sz->leaves++;
    }
    nums_free(&left);
    if (r) return r;
    if (!json_object_object_get_ex(t, "cat_sets", &sets)) return K_OK;
    if (json_object_get_type(sets) != json_type_array) return bad(p, "%s.cat_sets: expected an array", where);
    size_t n_sets = json_object_array_length(sets);
    for (size_t s = 0; s < n_sets; s++) {
        nums set;
        snprintf(what, sizeof what, "%s.cat_sets[%zu]", where, s);
        if (nums_of(p, json_object_array_get_idx(sets, s), what, SKL_MAX_SET_WORDS, &set) ||
            nums_len(&set) == 0) {
            nums_free(&set);
            return bad(p, "%s.cat_sets[%zu]: expected an array of 1 to %d words", where, s,
                       SKL_MAX_SET_WORDS);
        }
        sz->words += (int64_t)nums_len(&set);
        nums_free(&set);
        if (sz->words > SKL_MAX_NODES) return bad(p, "%s: too many category words", where);
    }
    return K_OK;
}

/* Copies a tree's category sets into cat_words at *word_at; set_start[s] / set_len[s] give
 * where set s went. */
static kstatus read_cat_sets(parser *p, json_object *t, const char *where, uint32_t *cat_words,
                             int32_t *word_at, uint32_t **set_start, uint32_t **set_len,
                             size_t *n_sets)
{
    json_object *sets;
    *n_sets = 0;
    if (!json_object_object_get_ex(t, "cat_sets", &sets)) return K_OK;
    *n_sets = json_object_array_length(sets);
    *set_start = arena_array(p->s->mem, *n_sets ? *n_sets : 1, sizeof **set_start);
    *set_len = arena_array(p->s->mem, *n_sets ? *n_sets : 1, sizeof **set_len);
    if (!*set_start || !*set_len) return nomem(p);
    kstatus r = K_OK;
    for (size_t s = 0; s < *n_sets && !r; s++) {
        char what[96];
        nums set;
        snprintf(what, sizeof what, "%s.cat_sets[%zu]", where, s);
        r = nums_of(p, json_object_array_get_idx(sets, s), what, SKL_MAX_SET_WORDS, &set);
        if (r) return r;
        size_t w = nums_len(&set);
        (*set_start)[s] = (uint32_t)*word_at;
        (*set_len)[s] = (uint32_t)w;
        for (size_t i = 0; i < w && !r; i++) {
            int64_t v;
            if (!nums_int(&set, i, 0, UINT32_MAX, &v))
                r = bad(p, "%s.cat_sets[%zu][%zu]: expected a 32-bit unsigned word", where, s, i);
            else
                cat_words[(*word_at)++] = (uint32_t)v;
        }
        nums_free(&set);
    }
    return r;
}

/* The per-node arrays of one tree, each checked to have n entries. */
typedef struct {
    nums left, right, feature, threshold, value, default_left, cat_set;
    int has_default_left, has_cat_set;
} tree_arrays;

static void tree_arrays_free(tree_arrays *a)
{
    nums_free(&a->left);
    nums_free(&a->right);
    nums_free(&a->feature);
    nums_free(&a->threshold);
    nums_free(&a->value);
    nums_free(&a->default_left);
    nums_free(&a->cat_set);
}

static kstatus optional_nums(parser *p, json_object *t, const char *where, const char *key,
                             size_t n, nums *out, int *has)
{
    *out = (nums){NUMS_JSON, NULL, NULL, 0};
    *has = json_object_object_get_ex(t, key, NULL);
    if (!*has) return K_OK;
    return get_nums_n(p, t, where, key, n, out);
}

/* The tree's arrays, all as long as "left" (pass one measured it): *n nodes. On failure too, a
 * is left for tree_arrays_free. */
static kstatus tree_arrays_of(parser *p, json_object *t, const char *where, int32_t leaf_dim,
                              tree_arrays *a, size_t *n_out)
{
    json_object *v;
    char what[96];
    *a = (tree_arrays){0};
    *n_out = 0;
    if (!json_object_object_get_ex(t, "left", &v)) return bad(p, "%s: missing \"left\"", where);
    snprintf(what, sizeof what, "%s.left", where);
    kstatus r = nums_of(p, v, what, SKL_MAX_NODES, &a->left);
    if (r) return r;
    size_t n = *n_out = nums_len(&a->left);
    if (!r) r = get_nums_n(p, t, where, "right", n, &a->right);
    if (!r) r = get_nums_n(p, t, where, "feature", n, &a->feature);
    if (!r) r = get_nums_n(p, t, where, "threshold", n, &a->threshold);
    if (!r) r = get_nums_n(p, t, where, "value", n * (size_t)leaf_dim, &a->value);
    if (!r) r = optional_nums(p, t, where, "default_left", n, &a->default_left, &a->has_default_left);
    if (!r) r = optional_nums(p, t, where, "cat_set", n, &a->cat_set, &a->has_cat_set);
    return r;
}

/* Reads a leaf: its scalar value, or its vector into leaf_values at *leaf_at. */
static kstatus read_leaf(parser *p, const tree_arrays *a, const char *where, size_t i,
                         const tree_rules *rules, double *leaf_values, int32_t *leaf_at,
                         ktree_node *node)
{
    size_t d = (size_t)rules->leaf_dim;
    node->flags = KNODE_LEAF;
    for (size_t c = 0; c < d; c++) {
        double v;
        if (!nums_num(&a->value, i * d + c, &v) || !isfinite(v))
            return bad(p, "%s.value[%zu]: expected a finite number", where, i * d + c);
        if (d == 1) node->value = v;
        else leaf_values[(size_t)*leaf_at * d + c] = v;
    }
    if (d > 1) node->leaf_index = (*leaf_at)++;
    return K_OK;
}

/* Reads an internal node's feature, missing direction, and threshold or category set. */
static kstatus read_split(parser *p, const tree_arrays *a, const char *where, size_t i,
                          const tree_rules *rules, const uint32_t *set_start,
                          const uint32_t *set_len, size_t n_sets, ktree_node *node)
{
    int64_t f, dflt = 0, set = -1;
    double t;
    if (!nums_int(&a->feature, i, 0, rules->n_in - 1, &f))
        return bad(p, "%s.feature[%zu]: expected an integer in [0, %d]", where, i, rules->n_in - 1);
    if (a->has_default_left && !nums_int(&a->default_left, i, 0, 1, &dflt))
        return bad(p, "%s.default_left[%zu]: expected 0 or 1", where, i);
    if (a->has_cat_set && !nums_int(&a->cat_set, i, -1, (int64_t)n_sets - 1, &set))
        return bad(p, "%s.cat_set[%zu]: expected -1 or a category set index below %zu", where, i,
                   n_sets);
    node->feature = (int32_t)f;
    node->flags = dflt ? KNODE_DEFAULT_LEFT : 0;
    if (set >= 0) {
        node->flags |= KNODE_CATEGORICAL | rules->cat_flags;
        node->cat_start = set_start[set];
        node->cat_len = set_len[set];
        return K_OK;
    }
    if (!nums_num(&a->threshold, i, &t) || isnan(t))
        return bad(p, "%s.threshold[%zu]: expected a number", where, i);
    node->threshold = rules->le ? kspec_le_to_lt(t, rules->f32) : t;
    return K_OK;
}

typedef struct {
    ktree_node *nodes;
    double *leaf_values;
    uint32_t *cat_words;
    int32_t node_at, leaf_at, word_at;
} tree_fill;

/* Pass two: one tree's nodes into fill->nodes at fill->node_at. */
static kstatus read_tree(parser *p, json_object *t, const char *where, const tree_rules *rules,
                         tree_fill *fill, int32_t *output)
{
    uint32_t *set_start = NULL, *set_len = NULL;
    size_t n_sets = 0, n = 0;
    tree_arrays a = {0};
    kstatus r = get_i32(p, t, where, "output", 0, rules->n_out - 1, output);
    if (!r) r = tree_arrays_of(p, t, where, rules->leaf_dim, &a, &n);
    if (!r) r = read_cat_sets(p, t, where, fill->cat_words, &fill->word_at, &set_start, &set_len, &n_sets);
    for (size_t i = 0; i < n && !r; i++) {
        ktree_node *node = &fill->nodes[fill->node_at + (int32_t)i];
        int64_t l, rt;
        if (!nums_int(&a.left, i, -1, (int64_t)n - 1, &l) ||
            !nums_int(&a.right, i, -1, (int64_t)n - 1, &rt) || (l < 0) != (rt < 0)) {
            r = bad(p, "%s node %zu: children must both be -1 (a leaf) or node indices below %zu",
                    where, i, n);
            break;
        }
        node->left = (int32_t)l;
        node->right = (int32_t)rt;
        if (l < 0)
            r = read_leaf(p, &a, where, i, rules, fill->leaf_values, &fill->leaf_at, node);
        else
            r = read_split(p, &a, where, i, rules, set_start, set_len, n_sets, node);
    }
    tree_arrays_free(&a);
    fill->node_at += (int32_t)n;
    return r;
}

static kstatus read_tree_rules(parser *p, json_object *o, tree_rules *rules, int *mean,
                               int *f32_acc)
{
    static const char *const aggs[] = {"sum", "mean", NULL};
    static const char *const decisions[] = {"lt", "le", NULL};
    static const char *const sides[] = {"left", "right", NULL};
    static const char *const invalid[] = {"not_in_set", "default", NULL};
    int side = 0, inv = 1;
    kstatus r = get_i32(p, o, "estimator", "n_in", 1, SKL_MAX_WIDTH, &rules->n_in);
    if (!r) r = get_i32(p, o, "estimator", "n_out", 1, SKL_MAX_OUTPUTS, &rules->n_out);
    if (!r) r = get_i32(p, o, "estimator", "leaf_dim", 1, SKL_MAX_OUTPUTS, &rules->leaf_dim);
    if (!r) r = get_choice(p, o, "estimator", "aggregate", aggs, mean);
    if (!r) r = get_bool(p, o, "estimator", "f32_inputs", &rules->f32);
    if (!r) r = get_bool(p, o, "estimator", "f32_accumulate", f32_acc);
    if (!r) r = get_choice(p, o, "estimator", "decision", decisions, &rules->le);
    if (!r && json_object_object_get_ex(o, "categories_in_set", NULL))
        r = get_choice(p, o, "estimator", "categories_in_set", sides, &side);
    if (!r && json_object_object_get_ex(o, "invalid_category", NULL))
        r = get_choice(p, o, "estimator", "invalid_category", invalid, &inv);
    if (r) return r;
    if (rules->leaf_dim != 1 && rules->leaf_dim != rules->n_out)
        return bad(p, "estimator.leaf_dim: %d, must be 1 or n_out (%d)", rules->leaf_dim, rules->n_out);
    if (rules->leaf_dim > 1 && *f32_acc)
        return bad(p, "estimator: float32 accumulation needs scalar leaves");
    rules->cat_flags = (side ? KNODE_CAT_SET_RIGHT : 0) | (inv ? KNODE_CAT_INVALID_DEFAULT : 0);
    return K_OK;
}

/* Allocates the ensemble's arrays from the sizes pass one found. */
static kstatus alloc_trees(parser *p, size_t n_trees, const tree_sizes *sz, int32_t leaf_dim,
                           tree_fill *fill, int32_t **start, int32_t **output)
{
    arena *m = p->s->mem;
    fill->nodes = arena_array(m, (size_t)sz->nodes, sizeof *fill->nodes);
    fill->cat_words = arena_array(m, sz->words ? (size_t)sz->words : 1, sizeof *fill->cat_words);
    fill->leaf_values = leaf_dim > 1 ? arena_array(m, (size_t)sz->leaves, (size_t)leaf_dim * sizeof(double)) : NULL;
    *start = arena_array(m, n_trees + 1, sizeof **start);
    *output = arena_array(m, n_trees ? n_trees : 1, sizeof **output);
    if (!fill->nodes || !fill->cat_words || !*start || !*output ||
        (leaf_dim > 1 && sz->leaves && !fill->leaf_values))
        return nomem(p);
    return K_OK;
}

static kstatus read_trees(parser *p, json_object *o)
{
    ktrees *t = &p->s->trees;
    tree_rules rules;
    int mean = 0, f32_acc = 0;
    json_object *trees = NULL, *tree = NULL;
    char where[48];
    kstatus r = read_tree_rules(p, o, &rules, &mean, &f32_acc);
    if (!r) r = member(p, o, "estimator", "trees", json_type_array, &trees);
    if (r) return r;
    size_t n = json_object_array_length(trees);
    if (n == 0 || n > SKL_MAX_TREES) return bad(p, "estimator.trees: %zu trees, expected 1 to %d", n, SKL_MAX_TREES);
    tree_sizes sz = {0, 0, 0};
    for (size_t k = 0; k < n && !r; k++) {
        r = tree_object(p, trees, (int32_t)k, where, sizeof where, &tree);
        if (!r) r = measure_tree(p, tree, where, rules.leaf_dim, &sz);
    }
    tree_fill fill = {0};
    int32_t *start = NULL, *output = NULL;
    if (!r) r = alloc_trees(p, n, &sz, rules.leaf_dim, &fill, &start, &output);
    for (size_t k = 0; k < n && !r; k++) {
        start[k] = fill.node_at;
        tree_object(p, trees, (int32_t)k, where, sizeof where, &tree);
        r = read_tree(p, tree, where, &rules, &fill, &output[k]);
    }
    if (r) return r;
    start[n] = fill.node_at;
    *t = (ktrees){.n_in = rules.n_in, .n_out = rules.n_out, .n_trees = (int32_t)n,
                  .tree_start = start, .tree_output = output, .nodes = fill.nodes,
                  .n_nodes = fill.node_at, .leaf_dim = rules.leaf_dim,
                  .leaf_values = fill.leaf_values, .n_leaf_vectors = fill.leaf_at,
                  .cat_words = fill.cat_words, .n_cat_words = fill.word_at,
                  .aggregate = mean ? KAGG_MEAN : KAGG_SUM, .f32_inputs = rules.f32,
                  .f32_accumulate = f32_acc};
    p->s->kind = KEST_TREES;
    return K_OK;
}

static kstatus read_estimator(parser *p, json_object *root)
{
    static const char *const kinds[] = {"linear", "trees", "mlp", NULL};
    json_object *o;
    int kind;
    kstatus r = member(p, root, "document", "estimator", json_type_object, &o);
    if (!r) r = get_choice(p, o, "estimator", "kind", kinds, &kind);
    if (r) return r;
    if (kind == 0) return read_linear(p, o);
    if (kind == 1) return read_trees(p, o);
    return read_mlp(p, o);
}

/* ---- output and metadata --------------------------------------------------------------------- */

static kstatus read_classes(parser *p, json_object *o)
{
    json_object *arr;
    kstatus r = member(p, o, "output", "classes", json_type_array, &arr);
    if (r) return r;
    size_t n = json_object_array_length(arr);
    if (n < 2 || n > SKL_MAX_OUTPUTS) return bad(p, "output.classes: %zu classes, expected 2 to %d", n, SKL_MAX_OUTPUTS);
    const char **labels = arena_array(p->s->mem, n, sizeof *labels);
    if (!labels) return nomem(p);
    for (size_t i = 0; i < n; i++) {
        char what[48];
        snprintf(what, sizeof what, "output.classes[%zu]", i);
        r = copy_string(p, json_object_array_get_idx(arr, i), what, 1, &labels[i]);
        if (r) return r;
    }
    p->s->class_labels = labels;
    p->s->n_classes = (int32_t)n;
    return check_unique(p, labels, sizeof *labels, n, "class label");
}

static kstatus read_output(parser *p, json_object *root)
{
    static const char *const tasks[] = {"regression", "classification", NULL};
    static const char *const links[] = {"identity", "sigmoid", "softmax", "exp", "ovr",
                                        "square", "log1pexp", NULL}; /* klink order */
    kspec *s = p->s;
    json_object *o;
    int task, link;
    kstatus r = member(p, root, "document", "output", json_type_object, &o);
    if (!r) r = get_choice(p, o, "output", "task", tasks, &task);
    if (!r) r = get_i32(p, o, "output", "n_outputs", 1, SKL_MAX_OUTPUTS, &s->n_outputs);
    if (!r) r = get_choice(p, o, "output", "link", links, &link);
    if (!r && json_object_object_get_ex(o, "link_param", NULL))
        r = get_num(p, o, "output", "link_param", 1, &s->link_param);
    if (!r && json_object_object_get_ex(o, "base_score", NULL)) {
        double *base;
        r = get_doubles(p, o, "output", "base_score", (size_t)s->n_outputs, 1, &base);
        s->base_score = base;
    }
    if (r) return r;
    s->task = task ? KTASK_CLASSIFICATION : KTASK_REGRESSION;
    s->link = (klink)link;
    return task ? read_classes(p, o) : K_OK;
}

static kstatus read_meta(parser *p, json_object *root)
{
    json_object *o;
    kstatus r = member(p, root, "document", "meta", json_type_object, &o);
    if (r) return r;
    if (json_object_object_length(o) > SKL_MAX_META) return bad(p, "meta: more than %d entries", SKL_MAX_META);
    json_object_object_foreach(o, key, val)
    {
        const char *v;
        char what[64];
        snprintf(what, sizeof what, "meta.%.40s", key);
        if (strlen(key) == 0 || strlen(key) > 128) return bad(p, "meta: key length outside [1, 128]");
        r = copy_string(p, val, what, 1, &v);
        if (r) return r;
        if (kspec_set_meta(p->s, key, v)) return nomem(p);
    }
    /* This importer knows where the model comes from, whatever the document says. */
    return kspec_set_meta(p->s, "source_framework", "scikit-learn") ? nomem(p) : K_OK;
}

/* ---- the document ---------------------------------------------------------------------------- */

static kstatus parse_json(const char *data, size_t len, json_object **out, kerr *e)
{
    if (len > SKL_JSON_MAX)
        return kerr_set(e, K_LIMIT, "scikit-learn export: %zu bytes, more than the limit of %zu",
                        len, SKL_JSON_MAX);
    json_tokener *tok = json_tokener_new_ex(SKL_JSON_DEPTH);
    if (!tok) return kerr_set(e, K_NOMEM, "out of memory");
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
    json_object *root = json_tokener_parse_ex(tok, data, (int)len);
    enum json_tokener_error err = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (!root || err != json_tokener_success) {
        json_object_put(root);
        const char *why = err == json_tokener_continue ? "truncated document" : json_tokener_error_desc(err);
        return kerr_set(e, K_FORMAT, "scikit-learn export: invalid JSON near byte %zu: %s", end, why);
    }
    for (; end < len; end++)
        if (!strchr(" \t\r\n", data[end]) || data[end] == 0) {
            json_object_put(root);
            return kerr_set(e, K_FORMAT, "scikit-learn export: text after the JSON document");
        }
    *out = root;
    return K_OK;
}

/* Input and output widths of the estimator just read. */
static void estimator_widths(const kspec *s, int32_t *n_in, int32_t *n_out)
{
    if (s->kind == KEST_LINEAR) {
        *n_in = s->linear.n_in;
        *n_out = s->linear.n_out;
    } else if (s->kind == KEST_TREES) {
        *n_in = s->trees.n_in;
        *n_out = s->trees.n_out;
    } else {
        *n_in = s->mlp.layers[0].n_in;
        *n_out = s->mlp.layers[s->mlp.n_layers - 1].n_out;
    }
}

/* kspec_validate checks these too; here the message names the fields of the document. */
static kstatus check_widths(parser *p)
{
    int32_t n_in, n_out, width = kspec_estimator_inputs(p->s);
    estimator_widths(p->s, &n_in, &n_out);
    if (n_in != width)
        return bad(p, "estimator.n_in is %d, but preprocessing gives %d columns", n_in, width);
    if (n_out != p->s->n_outputs)
        return bad(p, "output.n_outputs is %d, but the estimator gives %d scores", p->s->n_outputs, n_out);
    return K_OK;
}

static kstatus read_document(parser *p, json_object *root)
{
    int64_t version;
    if (json_object_get_type(root) != json_type_object) return bad(p, "the document is not a JSON object");
    json_object *v;
    if (!json_object_object_get_ex(root, "kiln_sklearn_export", &v))
        return bad(p, "not a Kiln scikit-learn export (no \"kiln_sklearn_export\" key)");
    if (!int_value(v, 1, INT32_MAX, &version)) return bad(p, "kiln_sklearn_export: expected a version number");
    if (version != SKL_VERSION)
        return kerr_set(p->e, K_VERSION, "scikit-learn export version %lld is not supported (this Kiln reads version %d)",
                        (long long)version, SKL_VERSION);
    kstatus r = read_features(p, root);
    if (!r) r = read_steps(p, root);
    if (!r) r = read_estimator(p, root);
    if (!r) r = read_output(p, root);
    if (!r) r = check_widths(p);
    if (!r) r = read_meta(p, root);
    return r;
}

kstatus sklearn_import(const char *data, size_t len, kspec **out, kerr *e)
{
    json_object *root = NULL;
    kstatus r = parse_json(data, len, &root, e);
    if (r) return r;
    /* Everything the spec holds is proportional to the document: bound the arena by it. */
    kspec *s = kspec_new(SKL_SPEC_MEM_BASE + 8 * len);
    if (!s) {
        json_object_put(root);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    parser p = {s, e};
    r = read_document(&p, root);
    json_object_put(root);
    if (!r) r = kspec_validate(s, e);
    if (r) {
        kspec_free(s);
        return r;
    }
    *out = s;
    return K_OK;
}

/* ---- running the exporter -------------------------------------------------------------------- */

typedef struct {
    pid_t pid;
    int in_fd, err_fd;   /* the child's stdin (a socket, see below) and stderr; -1 once closed */
    size_t sent;         /* bytes of the script written so far */
    char tail[SKL_STDERR_TAIL]; /* the end of the child's stderr: its message is the last line */
    size_t tail_len;
} exporter;

static void close_fd(int *fd)
{
    if (*fd >= 0) close(*fd);
    *fd = -1;
}

/* Starts `python - SRC OUT` with stdin, stderr connected to us and stdout discarded. Stdin is a
 * socket rather than a pipe so that writing to a child that died early fails with EPIPE
 * (MSG_NOSIGNAL) instead of raising SIGPIPE in the whole process. */
static kstatus spawn_exporter(exporter *x, const char *python, const char *src, const char *out,
                              kerr *e)
{
    int sv[2], ep[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return kerr_set(e, K_IO, "cannot create a socket for the exporter: %s", strerror(errno));
    if (pipe2(ep, O_CLOEXEC) != 0) {
        close(sv[0]);
        close(sv[1]);
        return kerr_set(e, K_IO, "cannot create a pipe for the exporter: %s", strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, sv[1], 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, ep[1], 2);
    char *argv[] = {(char *)python, "-", (char *)src, (char *)out, NULL};
    int rc = posix_spawnp(&x->pid, python, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(sv[1]);
    close(ep[1]);
    x->in_fd = sv[0];
    x->err_fd = ep[0];
    if (rc == 0) return K_OK;
    close_fd(&x->in_fd);
    close_fd(&x->err_fd);
    return kerr_set(e, rc == ENOENT ? K_NOTFOUND : K_IO,
                    "cannot run the scikit-learn exporter with %s: %s (KILN_PYTHON names a Python "
                    "3 with scikit-learn)", python, strerror(rc));
}

/* Writes what the socket takes of the rest of the script; closes stdin when done or when the
 * child is gone (its stderr will say why). */
static void feed_script(exporter *x, short revents)
{
    if (!(revents & POLLOUT)) {
        close_fd(&x->in_fd);
        return;
    }
    ssize_t n = send(x->in_fd, kiln_sklearn_exporter_py + x->sent,
                     kiln_sklearn_exporter_py_len - x->sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) x->sent += (size_t)n;
    if (x->sent == kiln_sklearn_exporter_py_len ||
        (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        close_fd(&x->in_fd);
}

/* Keeps the last SKL_STDERR_TAIL bytes the child wrote to stderr. */
static void drain_stderr(exporter *x)
{
    char chunk[4096];
    ssize_t n = read(x->err_fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
        close_fd(&x->err_fd);
        return;
    }
    size_t k = (size_t)n, cap = sizeof x->tail;
    if (x->tail_len + k > cap) {
        size_t drop = x->tail_len + k - cap;
        drop = drop > x->tail_len ? x->tail_len : drop;
        memmove(x->tail, x->tail + drop, x->tail_len - drop);
        x->tail_len -= drop;
    }
    if (k > cap - x->tail_len) k = cap - x->tail_len; /* chunk is never larger than the tail */
    memcpy(x->tail + x->tail_len, chunk, k);
    x->tail_len += k;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Feeds the script and collects stderr until the child closes stderr (it exits) or the time
 * limit passes. Returns 0, or -1 on timeout. */
static int communicate(exporter *x)
{
    double deadline = now_s() + SKL_EXPORT_TIMEOUT_S;
    while (x->err_fd >= 0) {
        struct pollfd fds[2] = {{.fd = x->err_fd, .events = POLLIN}, {.fd = x->in_fd, .events = POLLOUT}};
        int left_ms = (int)((deadline - now_s()) * 1000);
        if (left_ms <= 0) return -1;
        int r = poll(fds, x->in_fd >= 0 ? 2 : 1, left_ms);
        if (r < 0 && errno != EINTR) return -1;
        if (r <= 0) continue;
        if (x->in_fd >= 0 && fds[1].revents) feed_script(x, fds[1].revents);
        if (fds[0].revents) drain_stderr(x);
    }
    return 0;
}

/* The last non-empty line of the child's stderr, control characters blanked. */
static void last_line(const exporter *x, char *out, size_t cap)
{
    size_t end = x->tail_len;
    while (end > 0 && (x->tail[end - 1] == '\n' || x->tail[end - 1] == '\r' || x->tail[end - 1] == ' '))
        end--;
    size_t start = end;
    while (start > 0 && x->tail[start - 1] != '\n') start--;
    size_t n = end - start < cap - 1 ? end - start : cap - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)x->tail[start + i];
        out[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    out[n] = 0;
}

static kstatus wait_exporter(exporter *x, int timed_out, kerr *e)
{
    int status = 0;
    if (timed_out) kill(x->pid, SIGKILL);
    close_fd(&x->in_fd);
    close_fd(&x->err_fd);
    while (waitpid(x->pid, &status, 0) < 0)
        if (errno != EINTR) return kerr_set(e, K_IO, "lost the scikit-learn exporter: %s", strerror(errno));
    if (timed_out)
        return kerr_set(e, K_IO, "the scikit-learn exporter ran for more than %d s and was stopped",
                        SKL_EXPORT_TIMEOUT_S);
    char msg[300];
    last_line(x, msg, sizeof msg);
    if (WIFSIGNALED(status))
        return kerr_set(e, K_IO, "the scikit-learn exporter was killed by signal %d", WTERMSIG(status));
    int code = WEXITSTATUS(status);
    if (code == 0) return K_OK;
    if (code == 3) return kerr_set(e, K_UNSUPPORTED, "%s", msg[0] ? msg : "unsupported estimator");
    if (msg[0]) return kerr_set(e, K_FORMAT, "scikit-learn exporter: %s", msg);
    return kerr_set(e, K_FORMAT, "scikit-learn exporter failed with exit status %d", code);
}

static kstatus make_temp_dir(char *dir, size_t cap, kerr *e)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp) tmp = "/tmp";
    int n = snprintf(dir, cap, "%s/kiln-sklearn-XXXXXX", tmp);
    if (n < 0 || (size_t)n >= cap) return kerr_set(e, K_LIMIT, "TMPDIR is too long");
    if (!mkdtemp(dir))
        return kerr_set(e, K_IO, "cannot create a temporary directory in %s: %s", tmp, strerror(errno));
    return K_OK;
}

/* Removes the private directory and whatever the exporter left in it. */
static void remove_temp_dir(const char *dir, const char *out)
{
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    unlink(out);
    unlink(tmp);
    rmdir(dir);
}

static kstatus run_exporter(const char *python, const char *src, const char *out, kerr *e)
{
    exporter x = {.in_fd = -1, .err_fd = -1};
    kstatus r = spawn_exporter(&x, python, src, out, e);
    if (r) return r;
    int timed_out = communicate(&x) != 0;
    return wait_exporter(&x, timed_out, e);
}

kstatus sklearn_export(const char *path, char **json, size_t *len, kerr *e)
{
    const char *python = getenv("KILN_PYTHON");
    if (!python || !*python) python = "/usr/bin/python3";
    /* The output goes to a fresh private directory (mode 0700), so no one can plant a file or
     * link where the exporter writes or where we read. */
    char dir[PATH_MAX], out[PATH_MAX + 16];
    kstatus r = make_temp_dir(dir, sizeof dir, e);
    if (r) return r;
    snprintf(out, sizeof out, "%s/export.json", dir);
    r = run_exporter(python, path, out, e);
    if (!r) {
        r = fs_read_all(out, SKL_JSON_MAX, json, len, e);
        if (r) kerr_prefix(e, "reading the scikit-learn exporter's output");
    }
    remove_temp_dir(dir, out);
    return r;
}
