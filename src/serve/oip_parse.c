/* oip_parse.c — reads an Open Inference Protocol v2 infer request (JSON, optionally followed by
 * binary tensor data) into an oip_request, with a pull parser: memory is what the request keeps
 * (one double per value), never a DOM.
 *
 * Every value is checked against its tensor's datatype here, so oip.c only ever sees doubles a
 * model can take: NaN (JSON NaN token, null or a binary NaN) means missing; infinities, strings,
 * fractions in integer tensors and numbers outside their type's range are refused. */
#include "serve/oip.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/jsonpull.h"

typedef struct {
    jsonpull r; /* over the JSON header */
    const char *json;
    size_t json_len;
    const unsigned char *bin; /* binary tensor data after the header */
    size_t bin_len, bin_used;
    const oip_bounds *b;
    arena *a;
    kerr *e;
} pctx;

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
#define OIP_DTYPE_ROW(n, s) {#n, s},
    OIP_DTYPE_MAP(OIP_DTYPE_ROW)
#undef OIP_DTYPE_ROW
};

const char *oip__dtype_name(oip_dtype t)
{
    return t < OIP__DTYPES ? dtypes[t].name : "?";
}

static int dtype_parse(const char *s)
{
    for (int t = 0; t < OIP__DTYPES; t++)
        if (strcmp(s, dtypes[t].name) == 0) return t;
    return -1;
}

static int is_float(oip_dtype t)
{
    return t == OIP_FP32 || t == OIP_FP64;
}

/* Reads a string of at most `max` bytes; a longer one is a bad request, not a 413. */
static kstatus read_string(pctx *c, jsonpull *r, const char **out, size_t max, const char *what)
{
    if (jsonpull_peek(r) != '"') return kerr_set(c->e, K_FORMAT, "%s must be a string", what);
    kstatus st = jsonpull_string(r, c->a, out, max);
    if (st == K_LIMIT) return kerr_set(c->e, K_FORMAT, "%s is longer than %zu bytes", what, max);
    return st;
}

static kstatus read_bool(pctx *c, int *out, const char *what)
{
    int ch = jsonpull_peek(&c->r);
    if (ch != 't' && ch != 'f') return kerr_set(c->e, K_FORMAT, "%s must be true or false", what);
    *out = ch == 't';
    return jsonpull_literal(&c->r, ch == 't' ? "true" : "false");
}

/* A non-negative integer (a shape dimension, a byte size). */
static kstatus read_size(pctx *c, int64_t *out, const char *what)
{
    int ch = jsonpull_peek(&c->r);
    if (ch != '-' && (ch < '0' || ch > '9'))
        return kerr_set(c->e, K_FORMAT, "%s must be a non-negative integer", what);
    jsonpull_num v;
    kstatus st = jsonpull_number(&c->r, &v);
    if (st) return st;
    if (!v.is_int || v.i < 0 || v.d > 4e18)
        return kerr_set(c->e, K_FORMAT, "%s must be a non-negative integer", what);
    *out = v.i;
    return K_OK;
}

/* ---- values ---------------------------------------------------------------------------------- */

/* Inclusive range of each integer type, as doubles (64-bit bounds are exact powers of two, the
 * upper ones exclusive: checked with < below). */
static void int_range(oip_dtype t, double *lo, double *hi)
{
    switch (t) {
    case OIP_UINT8:
        *lo = 0, *hi = 255;
        break;
    case OIP_UINT16:
        *lo = 0, *hi = 65535;
        break;
    case OIP_UINT32:
        *lo = 0, *hi = 4294967295.0;
        break;
    case OIP_UINT64:
        *lo = 0, *hi = 18446744073709551616.0;
        break;
    case OIP_INT8:
        *lo = -128, *hi = 127;
        break;
    case OIP_INT16:
        *lo = -32768, *hi = 32767;
        break;
    case OIP_INT32:
        *lo = -2147483648.0, *hi = 2147483647.0;
        break;
    default:
        *lo = -9223372036854775808.0, *hi = 9223372036854775808.0;
        break;
    }
}

static kstatus bad_value(pctx *c, const oip_tensor *t, size_t i, const char *why)
{
    return kerr_set(c->e, K_FORMAT, "input '%s': value %zu %s (datatype %s)", t->name, i, why,
                    oip__dtype_name(t->dtype));
}

/* Checks a JSON number against the tensor's datatype; NaN is a missing value in float tensors. */
static kstatus number_value(pctx *c, const oip_tensor *t, size_t i, const jsonpull_num *v,
                            double *out)
{
    if (t->dtype == OIP_BOOL) return bad_value(c, t, i, "is a number, not true or false");
    if (isinf(v->d)) return bad_value(c, t, i, "is infinite");
    if (t->dtype == OIP_FP64) {
        *out = v->d;
        return K_OK;
    }
    if (t->dtype == OIP_FP32) {
        if (isinf(v->f)) return bad_value(c, t, i, "is outside the FP32 range");
        *out = v->f;
        return K_OK;
    }
    double lo, hi;
    int_range(t->dtype, &lo, &hi);
    int wide = t->dtype == OIP_INT64 || t->dtype == OIP_UINT64;
    if (isnan(v->d) || v->d != floor(v->d)) return bad_value(c, t, i, "is not an integer");
    if (v->d < lo || v->d > hi || (wide && v->d == hi))
        return bad_value(c, t, i, "is out of range");
    *out = v->d;
    return K_OK;
}

static kstatus scalar_value(pctx *c, jsonpull *r, const oip_tensor *t, size_t i, double *out)
{
    int ch = jsonpull_peek(r);
    if (ch == 't' || ch == 'f') {
        if (t->dtype != OIP_BOOL) return bad_value(c, t, i, "is a boolean");
        *out = ch == 't';
        return jsonpull_literal(r, ch == 't' ? "true" : "false");
    }
    if (ch == 'n') {
        if (!is_float(t->dtype)) return bad_value(c, t, i, "is null");
        *out = NAN;
        return jsonpull_literal(r, "null");
    }
    if (ch == '"') return bad_value(c, t, i, "is a string; send numbers");
    if (ch == '{') return bad_value(c, t, i, "is an object");
    if (t->dtype == OIP_FP64) { /* the common case: one parse, no float or integer forms */
        kstatus st = jsonpull_double(r, out);
        return !st && isinf(*out) ? bad_value(c, t, i, "is infinite") : st;
    }
    jsonpull_num v;
    kstatus st = jsonpull_number(r, &v);
    return st ? st : number_value(c, t, i, &v, out);
}

/* Flattens nested arrays (row-major, as the protocol allows) into t->values. */
static kstatus data_value(pctx *c, jsonpull *r, oip_tensor *t, size_t *n, int depth)
{
    if (jsonpull_peek(r) != '[') {
        if (*n >= t->count)
            return kerr_set(c->e, K_FORMAT, "input '%s' has more values than its shape allows",
                            t->name);
        kstatus st = scalar_value(c, r, t, *n, &t->values[*n]);
        if (!st) (*n)++;
        return st;
    }
    if (depth > OIP_MAX_RANK)
        return kerr_set(c->e, K_FORMAT, "input '%s': data nested too deep", t->name);
    kstatus st = jsonpull_expect(r, '[', "expected an array");
    for (int first = 1, more; !st && !(st = jsonpull_element(r, &first, &more)) && more;)
        st = data_value(c, r, t, n, depth + 1);
    return st;
}

static kstatus json_data(pctx *c, jsonpull *r, oip_tensor *t)
{
    if (jsonpull_peek(r) != '[')
        return kerr_set(c->e, K_FORMAT, "input '%s': data must be an array", t->name);
    size_t n = 0;
    kstatus st = data_value(c, r, t, &n, 0);
    if (!st && n != t->count)
        return kerr_set(c->e, K_FORMAT, "input '%s' has %zu values; its shape needs %zu", t->name,
                        n, t->count);
    return st;
}

/* ---- binary tensor data ---------------------------------------------------------------------- */

static uint64_t load_le(const unsigned char *p, size_t size)
{
    uint64_t v = 0;
    for (size_t k = size; k-- > 0;)
        v = v << 8 | p[k];
    return v;
}

static kstatus binary_value(pctx *c, const oip_tensor *t, size_t i, uint64_t u, double *out)
{
    switch (t->dtype) {
    case OIP_BOOL:
        if (u > 1) return bad_value(c, t, i, "is neither 0 nor 1");
        *out = (double)u;
        return K_OK;
    case OIP_UINT8:
    case OIP_UINT16:
    case OIP_UINT32:
    case OIP_UINT64:
        *out = (double)u;
        return K_OK;
    case OIP_INT8:
        *out = (int8_t)u;
        return K_OK;
    case OIP_INT16:
        *out = (int16_t)u;
        return K_OK;
    case OIP_INT32:
        *out = (int32_t)u;
        return K_OK;
    case OIP_INT64:
        *out = (double)(int64_t)u;
        return K_OK;
    case OIP_FP32: {
        uint32_t u32 = (uint32_t)u;
        float f;
        memcpy(&f, &u32, sizeof f);
        *out = f;
        break;
    }
    default:
        memcpy(out, &u, sizeof *out);
        break;
    }
    return isinf(*out) ? bad_value(c, t, i, "is infinite") : K_OK;
}

/* Takes the tensor's bytes from the binary part, in input order. */
static kstatus binary_data(pctx *c, oip_tensor *t, int64_t size)
{
    size_t elem = dtypes[t->dtype].size, left = c->bin_len - c->bin_used;
    if ((uint64_t)size != (uint64_t)t->count * elem)
        return kerr_set(c->e, K_FORMAT,
                        "input '%s': binary_data_size %lld does not match its shape (%zu values "
                        "of %zu bytes)",
                        t->name, (long long)size, t->count, elem);
    if ((uint64_t)size > left)
        return kerr_set(c->e, K_FORMAT,
                        "input '%s': binary_data_size %lld but only %zu bytes of binary data are "
                        "left",
                        t->name, (long long)size, left);
    const unsigned char *p = c->bin + c->bin_used;
    for (size_t i = 0; i < t->count; i++) {
        kstatus st = binary_value(c, t, i, load_le(p + i * elem, elem), &t->values[i]);
        if (st) return st;
    }
    c->bin_used += (size_t)size;
    return K_OK;
}

/* ---- one input tensor ------------------------------------------------------------------------ */

static kstatus parse_shape(pctx *c, oip_tensor *t)
{
    if (jsonpull_peek(&c->r) != '[')
        return kerr_set(c->e, K_FORMAT, "input shape must be an array of integers");
    kstatus st = jsonpull_expect(&c->r, '[', "expected an array");
    t->rank = 0;
    for (int first = 1, more; !st && !(st = jsonpull_element(&c->r, &first, &more)) && more;) {
        if (t->rank == OIP_MAX_RANK)
            return kerr_set(c->e, K_FORMAT, "input shape has more than %d dimensions",
                            OIP_MAX_RANK);
        st = read_size(c, &t->shape[t->rank++], "a shape dimension");
    }
    if (!st && t->rank == 0) return kerr_set(c->e, K_FORMAT, "input shape is empty");
    return st;
}

/* Product of the shape, bounded: a tensor larger than the server takes is a 413. */
static kstatus shape_count(pctx *c, oip_tensor *t)
{
    size_t n = 1;
    for (int d = 0; d < t->rank; d++) {
        uint64_t dim = (uint64_t)t->shape[d];
        if (dim && n > c->b->max_values / dim)
            n = c->b->max_values + 1;
        else
            n *= (size_t)dim;
    }
    if (n > c->b->max_values)
        return kerr_set(c->e, K_LIMIT,
                        "input '%s' is too large: the server takes at most %zu rows per request",
                        t->name ? t->name : "", c->b->max_rows);
    t->count = n;
    return K_OK;
}

static kstatus parse_in_params(pctx *c, int64_t *bin_size)
{
    if (jsonpull_peek(&c->r) != '{')
        return kerr_set(c->e, K_FORMAT, "input parameters must be an object");
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&c->r, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&c->r, &first, key, &more)) && more;)
        st = strcmp(key, "binary_data_size") == 0 ? read_size(c, bin_size, "binary_data_size")
                                                  : jsonpull_skip(&c->r);
    return st;
}

static kstatus parse_dtype(pctx *c, oip_tensor *t)
{
    const char *s = NULL;
    kstatus st = read_string(c, &c->r, &s, 32, "input datatype");
    if (st) return st;
    int d = dtype_parse(s);
    if (d < 0)
        return kerr_set(c->e, K_FORMAT,
                        "datatype '%s' is not supported: use FP64, FP32, INT8-64, UINT8-64 or BOOL",
                        s);
    t->dtype = (oip_dtype)d;
    return K_OK;
}

/* What one input object said, before its data is decoded. */
typedef struct {
    int has_shape, has_dtype, has_data, data_read;
    size_t data_at, data_end; /* JSON data seen before shape or datatype: read afterwards */
    int64_t bin_size;         /* -1: none */
} in_fields;

/* Sizes the tensor from its shape and allocates its values. JSON data is bounded by the request
 * first (a value takes at least two bytes), so a short request cannot claim a huge tensor. */
static kstatus alloc_values(pctx *c, oip_tensor *t, int json)
{
    kstatus st = shape_count(c, t);
    if (st) return st;
    if (json && t->count > c->json_len / 2 + 1)
        return kerr_set(c->e, K_FORMAT,
                        "input '%s': its shape needs %zu values, more than the "
                        "request holds",
                        t->name, t->count);
    t->values = arena_array(c->a, t->count ? t->count : 1, sizeof *t->values);
    if (!t->values)
        return kerr_set(c->e, K_LIMIT, "input '%s' needs more memory than a request may use",
                        t->name ? t->name : "");
    return K_OK;
}

/* The "data" member: decoded now when shape and datatype are known (the usual order), else its
 * place is kept and it is decoded once the object is read. */
static kstatus input_data(pctx *c, oip_tensor *t, in_fields *f)
{
    if (f->has_data) return kerr_set(c->e, K_FORMAT, "input has \"data\" twice");
    f->has_data = 1;
    if (!f->has_shape || !f->has_dtype || !t->name) {
        jsonpull_peek(&c->r);
        f->data_at = jsonpull_offset(&c->r);
        kstatus st = jsonpull_skip(&c->r);
        f->data_end = jsonpull_offset(&c->r);
        return st;
    }
    kstatus st = alloc_values(c, t, 1);
    if (!st) st = json_data(c, &c->r, t);
    f->data_read = !st;
    return st;
}

static kstatus input_member(pctx *c, const char *key, oip_tensor *t, in_fields *f)
{
    if (strcmp(key, "name") == 0)
        return read_string(c, &c->r, &t->name, OIP_NAME_MAX, "input name");
    if (strcmp(key, "shape") == 0) {
        f->has_shape = 1;
        return parse_shape(c, t);
    }
    if (strcmp(key, "datatype") == 0) {
        f->has_dtype = 1;
        return parse_dtype(c, t);
    }
    if (strcmp(key, "data") == 0) return input_data(c, t, f);
    if (strcmp(key, "parameters") == 0) return parse_in_params(c, &f->bin_size);
    return jsonpull_skip(&c->r);
}

/* Checks what the object held and decodes data not yet read. */
static kstatus input_finish(pctx *c, oip_tensor *t, in_fields *f)
{
    if (!t->name) return kerr_set(c->e, K_FORMAT, "an input has no \"name\"");
    if (!f->has_shape) return kerr_set(c->e, K_FORMAT, "input '%s' has no \"shape\"", t->name);
    if (!f->has_dtype) return kerr_set(c->e, K_FORMAT, "input '%s' has no \"datatype\"", t->name);
    if (f->has_data == (f->bin_size >= 0))
        return kerr_set(c->e, K_FORMAT,
                        f->has_data ? "input '%s' has both \"data\" and binary_data_size"
                                    : "input '%s' has no \"data\"",
                        t->name);
    if (f->data_read) return K_OK;
    kstatus st = alloc_values(c, t, f->bin_size < 0);
    if (st) return st;
    if (f->bin_size >= 0) return binary_data(c, t, f->bin_size);
    jsonpull r;
    jsonpull_init(&r, c->json + f->data_at, f->data_end - f->data_at, "request data: ", c->e);
    return json_data(c, &r, t);
}

static kstatus parse_input(pctx *c, oip_tensor *t)
{
    if (jsonpull_peek(&c->r) != '{')
        return kerr_set(c->e, K_FORMAT, "each input must be an object");
    in_fields f = {.bin_size = -1};
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&c->r, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&c->r, &first, key, &more)) && more;)
        st = input_member(c, key, t, &f);
    return st ? st : input_finish(c, t, &f);
}

/* ---- the request ----------------------------------------------------------------------------- */

/* Makes room for one more input: the array grows by doubling (no look-ahead scan of the body to
 * count them, which would read every value twice). */
static kstatus grow_inputs(pctx *c, oip_request *q, int *cap)
{
    if (q->n_inputs < *cap) return K_OK;
    if (q->n_inputs == c->b->max_inputs)
        return kerr_set(c->e, K_FORMAT,
                        "more than %d input tensors: send one tensor [N, %d] or one tensor per "
                        "feature",
                        c->b->max_inputs, c->b->max_inputs);
    int n = *cap ? *cap * 2 : 4;
    if (n > c->b->max_inputs) n = c->b->max_inputs;
    oip_tensor *t = arena_array(c->a, (size_t)n, sizeof *t);
    if (!t) return kerr_set(c->e, K_LIMIT, "request needs more memory than allowed");
    if (q->n_inputs) memcpy(t, q->inputs, (size_t)q->n_inputs * sizeof *t);
    q->inputs = t;
    *cap = n;
    return K_OK;
}

static kstatus parse_inputs(pctx *c, oip_request *q)
{
    if (q->inputs) return kerr_set(c->e, K_FORMAT, "request has \"inputs\" twice");
    if (jsonpull_peek(&c->r) != '[') return kerr_set(c->e, K_FORMAT, "inputs must be an array");
    kstatus st = jsonpull_expect(&c->r, '[', "expected an array");
    int cap = 0;
    for (int first = 1, more; !st && !(st = jsonpull_element(&c->r, &first, &more)) && more;) {
        st = grow_inputs(c, q, &cap);
        if (!st) st = parse_input(c, &q->inputs[q->n_inputs++]);
    }
    if (!st && q->n_inputs == 0) return kerr_set(c->e, K_FORMAT, "inputs is empty");
    return st;
}

static kstatus parse_out_params(pctx *c, oip_output_req *o)
{
    if (jsonpull_peek(&c->r) != '{')
        return kerr_set(c->e, K_FORMAT, "output parameters must be an object");
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&c->r, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&c->r, &first, key, &more)) && more;)
        st = strcmp(key, "binary_data") == 0 ? read_bool(c, &o->binary, "binary_data")
                                             : jsonpull_skip(&c->r);
    return st;
}

static kstatus parse_output(pctx *c, oip_output_req *o)
{
    if (jsonpull_peek(&c->r) != '{')
        return kerr_set(c->e, K_FORMAT, "each requested output must be an object");
    o->binary = -1;
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&c->r, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&c->r, &first, key, &more)) && more;) {
        if (strcmp(key, "name") == 0)
            st = read_string(c, &c->r, &o->name, OIP_NAME_MAX, "output name");
        else if (strcmp(key, "parameters") == 0)
            st = parse_out_params(c, o);
        else
            st = jsonpull_skip(&c->r);
    }
    if (!st && !o->name) return kerr_set(c->e, K_FORMAT, "a requested output has no \"name\"");
    return st;
}

static kstatus parse_outputs(pctx *c, oip_request *q)
{
    if (q->has_outputs) return kerr_set(c->e, K_FORMAT, "request has \"outputs\" twice");
    if (jsonpull_peek(&c->r) != '[') return kerr_set(c->e, K_FORMAT, "outputs must be an array");
    q->has_outputs = 1;
    kstatus st = jsonpull_expect(&c->r, '[', "expected an array");
    for (int first = 1, more; !st && !(st = jsonpull_element(&c->r, &first, &more)) && more;) {
        if (q->n_outputs == OIP_MAX_OUTPUTS)
            return kerr_set(c->e, K_FORMAT, "more than %d requested outputs", OIP_MAX_OUTPUTS);
        st = parse_output(c, &q->outputs[q->n_outputs++]);
    }
    return st;
}

static kstatus parse_params(pctx *c, oip_request *q)
{
    if (jsonpull_peek(&c->r) != '{')
        return kerr_set(c->e, K_FORMAT, "parameters must be an object");
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&c->r, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&c->r, &first, key, &more)) && more;)
        st = strcmp(key, "binary_data_output") == 0
                 ? read_bool(c, &q->binary_output, "binary_data_output")
                 : jsonpull_skip(&c->r);
    return st;
}

static kstatus request_member(pctx *c, const char *key, oip_request *q)
{
    if (strcmp(key, "id") == 0) return read_string(c, &c->r, &q->id, OIP_ID_MAX, "id");
    if (strcmp(key, "inputs") == 0) return parse_inputs(c, q);
    if (strcmp(key, "outputs") == 0) return parse_outputs(c, q);
    if (strcmp(key, "parameters") == 0) return parse_params(c, q);
    return jsonpull_skip(&c->r);
}

kstatus oip__parse(const char *body, size_t json_len, size_t body_len, const oip_bounds *b,
                   arena *a, oip_request *out, kerr *e)
{
    *out = (oip_request){0};
    pctx c = {.json = body,
              .json_len = json_len,
              .bin = (const unsigned char *)body + json_len,
              .bin_len = body_len - json_len,
              .b = b,
              .a = a,
              .e = e};
    jsonpull_init(&c.r, body, json_len, "request: ", e);
    jsonpull_set_max_depth(&c.r, b->max_depth);
    if (jsonpull_peek(&c.r) != '{')
        return kerr_set(e, K_FORMAT, "the request must be a JSON object with \"inputs\"");
    char key[JSONPULL_KEY_MAX];
    kstatus st = jsonpull_expect(&c.r, '{', "expected an object");
    for (int first = 1, more; !st && !(st = jsonpull_member(&c.r, &first, key, &more)) && more;)
        st = request_member(&c, key, out);
    if (!st) st = jsonpull_finish(&c.r);
    if (st) return st;
    if (!out->inputs) return kerr_set(e, K_FORMAT, "the request has no \"inputs\"");
    if (c.bin_used != c.bin_len)
        return kerr_set(e, K_FORMAT,
                        "%zu bytes of binary data follow the JSON header but the inputs' "
                        "binary_data_size add up to %zu",
                        c.bin_len, c.bin_used);
    return K_OK;
}
