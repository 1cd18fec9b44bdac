/* yaml.c — one YAML document to a json-c tree, over libyaml's event parser. libyaml checks the
 * syntax; this file resolves scalars (YAML 1.2 core schema), refuses what configuration files
 * have no use for (anchors, aliases, custom tags, several documents) and bounds everything.
 * See yaml.h for the rules. */
#include "data/yaml.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "base/fs.h"

/* One parse: libyaml's parser plus our counters. Lives on yaml_parse's stack. */
typedef struct {
    yaml_parser_t parser;
    const char *text;
    size_t len;
    size_t nodes;
    kerr *e;
} yreader;

/* The tag on a node, as far as we care. */
typedef enum {
    TAG_NONE,
    TAG_BANG,
    TAG_STR,
    TAG_INT,
    TAG_FLOAT,
    TAG_BOOL,
    TAG_NULL,
    TAG_MAP,
    TAG_SEQ,
    TAG_OTHER
} ytag;

/* What a scalar's text resolves to. */
typedef enum { RES_STR, RES_NULL, RES_BOOL, RES_INT, RES_FLOAT, RES_RANGE } rkind;

typedef struct {
    int b;
    int64_t i;
    double d;
} rval;

static kstatus fail(yreader *r, yaml_mark_t m, kstatus code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static kstatus fail(yreader *r, yaml_mark_t m, kstatus code, const char *fmt, ...)
{
    char what[KERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return kerr_set(r->e, code, "line %zu, column %zu: %s", m.line + 1, m.column + 1, what);
}

/* Copies at most 40 bytes of s into out for a one-line message: control bytes become '?'. */
static const char *printable(const char *s, char out[48])
{
    size_t n = 0;
    for (; s[n] && n < 40; n++)
        out[n] = (unsigned char)s[n] < 0x20 || s[n] == 0x7f ? '?' : s[n];
    if (s[n]) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = 0;
    return out;
}

/* libyaml reports reader errors (bad UTF-8, control characters) by byte offset only. */
static yaml_mark_t mark_at(const yreader *r, size_t offset)
{
    yaml_mark_t m = {.index = offset};
    for (size_t i = 0; i < offset && i < r->len; i++) {
        if (r->text[i] == '\n') {
            m.line++;
            m.column = 0;
        } else {
            m.column++;
        }
    }
    return m;
}

static kstatus parser_error(yreader *r)
{
    const yaml_parser_t *p = &r->parser;
    if (p->error == YAML_MEMORY_ERROR) return kerr_set(r->e, K_NOMEM, "out of memory reading YAML");
    const char *problem = p->problem ? p->problem : "malformed YAML";
    if (p->error == YAML_READER_ERROR) {
        yaml_mark_t m = mark_at(r, p->problem_offset);
        if (p->problem_value != -1)
            return fail(r, m, K_FORMAT, "%s (#%X)", problem, (unsigned)p->problem_value);
        return fail(r, m, K_FORMAT, "%s", problem);
    }
    if (p->context)
        return fail(r, p->problem_mark, K_FORMAT, "%s (%s at line %zu, column %zu)", problem,
                    p->context, p->context_mark.line + 1, p->context_mark.column + 1);
    return fail(r, p->problem_mark, K_FORMAT, "%s", problem);
}

/* Reads the next event; on success the caller owns *ev and deletes it. */
static kstatus next(yreader *r, yaml_event_t *ev)
{
    if (!yaml_parser_parse(&r->parser, ev)) return parser_error(r);
    return K_OK;
}

static ytag tag_of(const yaml_char_t *tag)
{
    static const struct {
        const char *name;
        ytag tag;
    } known[] = {{YAML_STR_TAG, TAG_STR},     {YAML_INT_TAG, TAG_INT},
                 {YAML_FLOAT_TAG, TAG_FLOAT}, {YAML_BOOL_TAG, TAG_BOOL},
                 {YAML_NULL_TAG, TAG_NULL},   {YAML_MAP_TAG, TAG_MAP},
                 {YAML_SEQ_TAG, TAG_SEQ},     {"!", TAG_BANG}};
    if (!tag) return TAG_NONE;
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp((const char *)tag, known[i].name) == 0) return known[i].tag;
    return TAG_OTHER;
}

/* Returns 1 when the tag may sit on a node of this event type. */
static int tag_fits(ytag t, yaml_event_type_t type)
{
    if (t == TAG_NONE || t == TAG_BANG) return 1;
    if (type == YAML_MAPPING_START_EVENT) return t == TAG_MAP;
    if (type == YAML_SEQUENCE_START_EVENT) return t == TAG_SEQ;
    return t != TAG_MAP && t != TAG_SEQ && t != TAG_OTHER;
}

static kstatus check_scalar(yreader *r, const yaml_event_t *ev)
{
    size_t n = ev->data.scalar.length;
    if (n > YAML_MAX_SCALAR)
        return fail(r, ev->start_mark, K_LIMIT, "scalar of %zu bytes is more than the limit of %zu",
                    n, YAML_MAX_SCALAR);
    if (memchr(ev->data.scalar.value, 0, n))
        return fail(r, ev->start_mark, K_FORMAT, "NUL character in a scalar");
    return K_OK;
}

/* Checks what every node must satisfy: no alias or anchor, a known tag, the limits. `depth`
 * counts the collections around the node. */
static kstatus check_node(yreader *r, const yaml_event_t *ev, int depth)
{
    const yaml_char_t *anchor = NULL, *tag = NULL;
    if (ev->type == YAML_ALIAS_EVENT)
        return fail(r, ev->start_mark, K_FORMAT, "aliases (*name) are not supported");
    if (ev->type == YAML_SCALAR_EVENT) {
        anchor = ev->data.scalar.anchor, tag = ev->data.scalar.tag;
    } else if (ev->type == YAML_SEQUENCE_START_EVENT) {
        anchor = ev->data.sequence_start.anchor, tag = ev->data.sequence_start.tag;
    } else if (ev->type == YAML_MAPPING_START_EVENT) {
        anchor = ev->data.mapping_start.anchor, tag = ev->data.mapping_start.tag;
    } else {
        return fail(r, ev->start_mark, K_FORMAT, "expected a value");
    }
    if (++r->nodes > YAML_MAX_NODES)
        return fail(r, ev->start_mark, K_LIMIT, "more than %d nodes", YAML_MAX_NODES);
    if (anchor) return fail(r, ev->start_mark, K_FORMAT, "anchors (&name) are not supported");
    if (!tag_fits(tag_of(tag), ev->type)) {
        static const char std[] = "tag:yaml.org,2002:"; /* shown as "!!" as it was written */
        const char *name = (const char *)tag;
        int is_std = strncmp(name, std, sizeof std - 1) == 0;
        char shown[48];
        return fail(r, ev->start_mark, K_FORMAT, "tag %s%s is not supported here",
                    is_std ? "!!" : "", printable(name + (is_std ? sizeof std - 1 : 0), shown));
    }
    if (ev->type == YAML_SCALAR_EVENT) return check_scalar(r, ev);
    if (depth >= YAML_MAX_DEPTH)
        return fail(r, ev->start_mark, K_LIMIT, "nesting deeper than %d levels", YAML_MAX_DEPTH);
    return K_OK;
}

static int one_of(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && memcmp(s, *words, n) == 0) return 1;
    return 0;
}

static int digit_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return 99;
}

/* s[0..n) as digits in `base`: RES_INT, RES_RANGE past int64, RES_STR if not all digits. */
static rkind digits(const char *s, size_t n, int base, int neg, rval *v)
{
    uint64_t lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, acc = 0;
    int over = 0;
    if (n == 0) return RES_STR;
    for (size_t i = 0; i < n; i++) {
        int d = digit_value(s[i]);
        if (d >= base) return RES_STR;
        if (acc > (lim - (uint64_t)d) / (uint64_t)base)
            over = 1; /* keep scanning: "99...9x" is a string, not an error */
        else
            acc = acc * (uint64_t)base + (uint64_t)d;
    }
    if (over) return RES_RANGE;
    if (!neg)
        v->i = (int64_t)acc;
    else
        v->i = acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc;
    return RES_INT;
}

static rkind resolve_int(const char *s, size_t n, rval *v)
{
    if (n > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'x'))
        return digits(s + 2, n - 2, s[1] == 'o' ? 8 : 16, 0, v);
    size_t sign = n > 0 && (s[0] == '-' || s[0] == '+');
    return digits(s + sign, n - sign, 10, sign && s[0] == '-', v);
}

static size_t span_digits(const char *s, size_t i, size_t n)
{
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++;
    return i;
}

/* The core schema's [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int float_syntax(const char *s, size_t n)
{
    size_t i = n > 0 && (s[0] == '-' || s[0] == '+');
    size_t start = i;
    i = span_digits(s, i, n);
    size_t whole = i - start, frac = 0;
    if (i < n && s[i] == '.') {
        start = ++i;
        i = span_digits(s, i, n);
        frac = i - start;
    }
    if (whole == 0 && frac == 0) return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+')) i++;
        start = i;
        i = span_digits(s, i, n);
        if (i == start) return 0;
    }
    return i == n;
}

/* s is NUL-terminated at n (libyaml terminates scalars) and holds no other NUL. */
static rkind resolve_float(const char *s, size_t n, rval *v)
{
    static const char *const infs[] = {".inf", ".Inf", ".INF", NULL};
    static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
    size_t sign = n > 0 && (s[0] == '-' || s[0] == '+');
    if (one_of(s + sign, n - sign, infs)) {
        v->d = s[0] == '-' ? -INFINITY : INFINITY;
        return RES_FLOAT;
    }
    if (one_of(s, n, nans)) {
        v->d = NAN;
        return RES_FLOAT;
    }
    if (!float_syntax(s, n)) return RES_STR;
    /* Library code never calls setlocale, so strtod reads '.' as the decimal point. */
    char *end = NULL;
    double d = strtod(s, &end);
    if (end != s + n) return RES_STR;
    if (isinf(d)) return RES_RANGE;
    v->d = d;
    return RES_FLOAT;
}

/* Resolves a plain scalar with the YAML 1.2 core schema. */
static rkind resolve(const char *s, size_t n, rval *v)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
    static const char *const trues[] = {"true", "True", "TRUE", NULL};
    static const char *const falses[] = {"false", "False", "FALSE", NULL};
    if (one_of(s, n, nulls)) return RES_NULL;
    if (one_of(s, n, trues) || one_of(s, n, falses)) {
        v->b = one_of(s, n, trues);
        return RES_BOOL;
    }
    rkind k = resolve_int(s, n, v);
    return k != RES_STR ? k : resolve_float(s, n, v);
}

/* Returns 1 when a value resolved as k may carry tag t; an int tagged !!float becomes a
 * double. */
static int kind_fits(ytag t, rkind k, rval *v)
{
    if (t == TAG_NONE) return 1;
    if (t == TAG_FLOAT && k == RES_INT) {
        v->d = (double)v->i;
        return 1;
    }
    return (t == TAG_NULL && k == RES_NULL) || (t == TAG_BOOL && k == RES_BOOL) ||
           (t == TAG_INT && k == RES_INT) || (t == TAG_FLOAT && k == RES_FLOAT);
}

static struct json_object *make(ytag t, rkind k, const rval *v)
{
    if (k == RES_BOOL) return json_object_new_boolean(v->b);
    if (k == RES_INT && t != TAG_FLOAT) return json_object_new_int64(v->i);
    return json_object_new_double(v->d);
}

static kstatus scalar(yreader *r, const yaml_event_t *ev, struct json_object **out)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    ytag t = tag_of(ev->data.scalar.tag);
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    /* quoted and block scalars are strings unless a tag says otherwise */
    int resolvable = t != TAG_STR && t != TAG_BANG && (plain || t != TAG_NONE);
    rval v = {0};
    rkind k = resolvable ? resolve(s, n, &v) : RES_STR;
    if (k == RES_RANGE) return fail(r, ev->start_mark, K_RANGE, "number out of range: %.40s", s);
    if (resolvable && !kind_fits(t, k, &v))
        return fail(r, ev->start_mark, K_FORMAT, "value does not match its tag");
    if (k == RES_NULL) {
        *out = NULL;
        return K_OK;
    }
    *out = k == RES_STR ? json_object_new_string_len(s, (int)n) : make(t, k, &v);
    return *out ? K_OK : kerr_set(r->e, K_NOMEM, "out of memory reading YAML");
}

static kstatus value(yreader *r, yaml_event_t *ev, int depth, struct json_object **out);

static kstatus sequence(yreader *r, int depth, struct json_object **out)
{
    struct json_object *arr = json_object_new_array();
    if (!arr) return kerr_set(r->e, K_NOMEM, "out of memory reading YAML");
    for (;;) {
        yaml_event_t ev;
        kstatus st = next(r, &ev);
        if (!st && ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        struct json_object *v = NULL;
        if (!st) st = value(r, &ev, depth, &v);
        if (!st && json_object_array_add(arr, v) != 0) {
            json_object_put(v);
            st = kerr_set(r->e, K_NOMEM, "out of memory reading YAML");
        }
        if (st) {
            json_object_put(arr);
            return st;
        }
    }
    *out = arr;
    return K_OK;
}

/* Reads one key and its value into obj. Consumes kev (the key's event). */
static kstatus member(yreader *r, struct json_object *obj, yaml_event_t *kev, int depth)
{
    kstatus st = check_node(r, kev, depth);
    ytag t = TAG_NONE;
    if (!st && kev->type != YAML_SCALAR_EVENT)
        st = fail(r, kev->start_mark, K_FORMAT, "mapping keys must be scalars");
    if (!st && (t = tag_of(kev->data.scalar.tag)) != TAG_NONE && t != TAG_BANG && t != TAG_STR)
        st = fail(r, kev->start_mark, K_FORMAT, "mapping keys may only be tagged !!str");
    const char *key = st ? NULL : (const char *)kev->data.scalar.value;
    char shown[48];
    if (!st && json_object_object_get_ex(obj, key, NULL))
        st = fail(r, kev->start_mark, K_FORMAT, "duplicate key \"%s\"", printable(key, shown));
    yaml_event_t vev;
    struct json_object *v = NULL;
    if (!st) st = next(r, &vev);
    if (!st) st = value(r, &vev, depth, &v);
    if (!st && json_object_object_add_ex(obj, key, v, JSON_C_OBJECT_ADD_KEY_IS_NEW) != 0) {
        json_object_put(v);
        st = kerr_set(r->e, K_NOMEM, "out of memory reading YAML");
    }
    yaml_event_delete(kev);
    return st;
}

static kstatus mapping(yreader *r, int depth, struct json_object **out)
{
    struct json_object *obj = json_object_new_object();
    if (!obj) return kerr_set(r->e, K_NOMEM, "out of memory reading YAML");
    for (;;) {
        yaml_event_t ev;
        kstatus st = next(r, &ev);
        if (!st && ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (!st) st = member(r, obj, &ev, depth);
        if (st) {
            json_object_put(obj);
            return st;
        }
    }
    *out = obj;
    return K_OK;
}

/* Converts the node that starts with *ev (consumed) into *out; `depth` counts the collections
 * around it. */
static kstatus value(yreader *r, yaml_event_t *ev, int depth, struct json_object **out)
{
    kstatus st = check_node(r, ev, depth);
    if (!st && ev->type == YAML_SCALAR_EVENT) st = scalar(r, ev, out);
    if (!st && ev->type == YAML_SEQUENCE_START_EVENT) st = sequence(r, depth + 1, out);
    if (!st && ev->type == YAML_MAPPING_START_EVENT) st = mapping(r, depth + 1, out);
    yaml_event_delete(ev);
    return st;
}

/* Reads one event, which must be of `type`. */
static kstatus expect(yreader *r, yaml_event_type_t type, yaml_event_t *ev)
{
    kstatus st = next(r, ev);
    if (!st && ev->type != type) {
        st = fail(r, ev->start_mark, K_FORMAT,
                  ev->type == YAML_DOCUMENT_START_EVENT ? "more than one document"
                                                        : "unexpected YAML structure");
        yaml_event_delete(ev);
    }
    return st;
}

/* Reads the stream after its start: nothing, or one document. */
static kstatus stream(yreader *r, struct json_object **root)
{
    yaml_event_t ev;
    kstatus st = next(r, &ev);
    if (st) return st;
    yaml_event_type_t type = ev.type;
    yaml_event_delete(&ev);
    if (type == YAML_STREAM_END_EVENT) return K_OK;
    if (!(st = next(r, &ev)) && !(st = value(r, &ev, 0, root)) &&
        !(st = expect(r, YAML_DOCUMENT_END_EVENT, &ev))) {
        yaml_event_delete(&ev);
        if (!(st = expect(r, YAML_STREAM_END_EVENT, &ev))) yaml_event_delete(&ev);
    }
    if (st) {
        json_object_put(*root);
        *root = NULL;
    }
    return st;
}

kstatus yaml_parse(const char *text, size_t len, struct json_object **out, kerr *e)
{
    if (len > YAML_MAX_INPUT)
        return kerr_set(e, K_LIMIT, "YAML input of %zu bytes is more than the limit of %zu", len,
                        YAML_MAX_INPUT);
    yreader r = {.text = text, .len = len, .e = e};
    if (!yaml_parser_initialize(&r.parser)) return kerr_set(e, K_NOMEM, "out of memory");
    yaml_parser_set_input_string(&r.parser, (const unsigned char *)text, len);
    struct json_object *root = NULL;
    yaml_event_t ev;
    kstatus st = expect(&r, YAML_STREAM_START_EVENT, &ev);
    if (!st) {
        yaml_event_delete(&ev);
        st = stream(&r, &root);
    }
    yaml_parser_delete(&r.parser);
    if (!st && !root && !(root = json_object_new_object()))
        st = kerr_set(e, K_NOMEM, "out of memory reading YAML");
    if (!st) *out = root;
    return st;
}

kstatus yaml_load_file(const char *path, struct json_object **out, kerr *e)
{
    char *text = NULL;
    size_t len = 0;
    kstatus st = fs_read_all(path, YAML_MAX_INPUT, &text, &len, e);
    if (st) return st; /* fs_read_all's messages name the path */
    st = yaml_parse(text, len, out, e);
    free(text);
    if (st) kerr_prefix(e, "%s", path);
    return st;
}
