/* test_jsonpull.c — the JSON pull parser on its own: documents walked value by value into a
 * canonical text (so structure, decoding and numbers are all checked), the NaN / Infinity
 * tokens, float32 conversion, array counting, and the inputs it must refuse (truncation,
 * trailing data, deep nesting, bad escapes, oversized strings) with one-line messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/jsonpull.h"

typedef struct {
    char text[4096];
    size_t len;
} out_text;

static void put(out_text *o, const char *s)
{
    size_t n = strlen(s);
    assert_true(o->len + n < sizeof o->text);
    memcpy(o->text + o->len, s, n + 1);
    o->len += n;
}

/* Walks one value, writing it compactly: strings in <>, numbers as %.17g (integers as %lld). */
static kstatus walk(jsonpull *r, arena *a, out_text *o, int depth)
{
    if (depth > 100) return jsonpull_fail(r, "walk too deep");
    int c = jsonpull_peek(r), first = 1, more;
    kstatus st;
    char buf[96];
    if (c == '{') {
        char key[JSONPULL_KEY_MAX];
        put(o, "{");
        st = jsonpull_expect(r, '{', "expected an object");
        while (!st && !(st = jsonpull_member(r, &first, key, &more)) && more) {
            if (o->text[o->len - 1] != '{') put(o, ",");
            snprintf(buf, sizeof buf, "%s:", key);
            put(o, buf);
            st = walk(r, a, o, depth + 1);
        }
        if (!st) put(o, "}");
        return st;
    }
    if (c == '[') {
        int64_t count = -1, seen = 0;
        put(o, "[");
        st = jsonpull_array_begin(r, &count);
        while (!st && !(st = jsonpull_element(r, &first, &more)) && more) {
            if (seen++) put(o, ",");
            st = walk(r, a, o, depth + 1);
        }
        if (!st) {
            assert_int_equal(count, seen);
            put(o, "]");
        }
        return st;
    }
    if (c == '"') {
        const char *s = NULL;
        st = jsonpull_string(r, a, &s, 1000);
        if (!st) {
            put(o, "<");
            put(o, s);
            put(o, ">");
        }
        return st;
    }
    if (c == 't' || c == 'f' || c == 'n') {
        const char *word = c == 't' ? "true" : c == 'f' ? "false" : "null";
        st = jsonpull_literal(r, word);
        if (!st) put(o, word);
        return st;
    }
    jsonpull_num v = {0};
    st = jsonpull_number(r, &v);
    if (st) return st;
    if (v.is_int)
        snprintf(buf, sizeof buf, "%lld", (long long)v.i);
    else
        snprintf(buf, sizeof buf, "%.17g", v.d);
    put(o, buf);
    return K_OK;
}

/* Parses a whole document; returns its status, the canonical text in o and the error in e. */
static kstatus parse(const char *json, size_t len, out_text *o, kerr *e)
{
    arena *a = arena_new(1 << 20);
    assert_non_null(a);
    jsonpull r;
    jsonpull_init(&r, json, len, "test: ", e);
    o->len = 0;
    o->text[0] = 0;
    kstatus st = walk(&r, a, o, 0);
    if (!st) st = jsonpull_finish(&r);
    arena_free(a);
    return st;
}

static void expect_text(const char *json, const char *want)
{
    out_text o;
    kerr e = {0};
    kstatus st = parse(json, strlen(json), &o, &e);
    if (st) fprintf(stderr, "unexpected error: %s\n", e.msg);
    assert_int_equal(st, K_OK);
    assert_string_equal(o.text, want);
}

static void expect_error(const char *json, size_t len, kstatus code, const char *needle)
{
    out_text o;
    kerr e = {0};
    kstatus st = parse(json, len, &o, &e);
    if (st != code || !strstr(e.msg, needle))
        fprintf(stderr, "got status %d, message: %s (wanted \"%s\")\n", st, e.msg, needle);
    assert_int_equal(st, code);
    assert_non_null(strstr(e.msg, needle));
    assert_true(strncmp(e.msg, "test: ", 6) == 0);
    assert_null(strchr(e.msg, '\n'));
}

static void test_documents(void **state)
{
    (void)state;
    expect_text("{}", "{}");
    expect_text("[]", "[]");
    expect_text(" \t\r\n[ ] \n", "[]");
    expect_text("{\"a\":[1,[2,[3,{}]],{\"b\":{\"c\":[]}}],\"d\":null,\"e\":true,\"f\":false}",
                "{a:[1,[2,[3,{}]],{b:{c:[]}}],d:null,e:true,f:false}");
    expect_text("[\"x,]\",\"[{\",[\"]\"]]", "[<x,]>,<[{>,[<]>]]");
    expect_text("-12", "-12");
    expect_text("\"top\"", "<top>");
    /* keys too long to be looked up come back empty */
    expect_text("{\""
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                "\":1}",
                "{:1}");
}

static void test_numbers(void **state)
{
    (void)state;
    expect_text("[0,-0,1.5,-2.5e3,1E-2,9223372036854775807]",
                "[0,0,1.5,-2500,0.01,9223372036854775807]");
    expect_text("[NaN,-NaN,Infinity,-Infinity]", "[nan,nan,inf,-inf]");

    /* float32 comes from the text, not from rounding the double */
    const char *text = "1.0000000149011612E-1 99999999999999999999";
    jsonpull r;
    jsonpull_num v = {0};
    kerr e = {0};
    jsonpull_init(&r, text, strlen(text), NULL, &e);
    assert_int_equal(jsonpull_number(&r, &v), K_OK);
    assert_true(v.f == strtof("1.0000000149011612E-1", NULL));
    assert_false(v.is_int);
    assert_int_equal(jsonpull_number(&r, &v), K_OK);
    assert_true(v.is_int);
    assert_true(v.i == INT64_MAX); /* saturated */

    jsonpull_init(&r, "-Infinity", 9, NULL, &e);
    assert_int_equal(jsonpull_number(&r, &v), K_OK);
    assert_true(isinf(v.d) && v.d < 0 && isinf(v.f) && !v.is_int);
    jsonpull_init(&r, "NaN", 3, NULL, &e);
    assert_int_equal(jsonpull_number(&r, &v), K_OK);
    assert_true(isnan(v.d) && isnan(v.f));
}

static void test_strings(void **state)
{
    (void)state;
    expect_text("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"]", "[<a\"b\\c/d\b\f\n\r\t>]");
    expect_text("[\"\\u0041\\u00e9\\u20AC\"]", "[<A\xC3\xA9\xE2\x82\xAC>]");
    expect_text("[\"\\uD83D\\uDE00\"]", "[<\xF0\x9F\x98\x80>]"); /* a surrogate pair */
    expect_text("[\"caf\xC3\xA9\"]", "[<caf\xC3\xA9>]");
    expect_text("{\"k\\u0065y\":1}", "{key:1}");
}

static void test_array_count(void **state)
{
    (void)state;
    const char *text = "[1, \"a,b\", [2,3], {\"x\":[4,5]}] trailing";
    jsonpull r;
    kerr e = {0};
    int64_t n = -1;
    jsonpull_init(&r, text, strlen(text), NULL, &e);
    assert_int_equal(jsonpull_array_begin(&r, &n), K_OK);
    assert_int_equal(n, 4);
    jsonpull_init(&r, "[ ]", 3, NULL, &e);
    assert_int_equal(jsonpull_array_begin(&r, &n), K_OK);
    assert_int_equal(n, 0);
    /* the scan does not check brackets match: the caller's index bound catches this */
    int first = 1, more = 0;
    jsonpull_init(&r, "[}1]", 4, NULL, &e);
    assert_int_equal(jsonpull_array_begin(&r, &n), K_OK);
    assert_int_equal(n, 0);
    assert_int_equal(jsonpull_element(&r, &first, &more), K_OK);
    assert_int_equal(more, 1);
    assert_int_equal(jsonpull_skip(&r), K_FORMAT);
    jsonpull_init(&r, "[1,2", 4, NULL, &e);
    assert_int_equal(jsonpull_array_begin(&r, &n), K_FORMAT);
    assert_non_null(strstr(e.msg, "unexpected end of input"));
}

static void test_skip(void **state)
{
    (void)state;
    const char *text = " {\"a\":[1,{\"b\":\"\\u0041\"}],\"c\":-Infinity} 7";
    jsonpull r;
    jsonpull_num v = {0};
    kerr e = {0};
    jsonpull_init(&r, text, strlen(text), NULL, &e);
    assert_int_equal(jsonpull_skip(&r), K_OK);
    assert_int_equal(jsonpull_number(&r, &v), K_OK);
    assert_int_equal(v.i, 7);
    assert_int_equal(jsonpull_finish(&r), K_OK);
    assert_int_equal(jsonpull_offset(&r), strlen(text));

    /* a BOM is skipped only when asked */
    jsonpull_init(&r, "\xEF\xBB\xBF[]", 5, NULL, &e);
    assert_int_equal(jsonpull_skip(&r), K_FORMAT);
    jsonpull_init(&r, "\xEF\xBB\xBF[]", 5, NULL, &e);
    jsonpull_skip_bom(&r);
    assert_int_equal(jsonpull_skip(&r), K_OK);

    /* nesting: JSONPULL_MAX_DEPTH levels below the top are fine, one more is refused */
    char deep[2 * (JSONPULL_MAX_DEPTH + 2) + 1];
    for (int depth = JSONPULL_MAX_DEPTH + 1; depth <= JSONPULL_MAX_DEPTH + 2; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        jsonpull_init(&r, deep, 2 * (size_t)depth, NULL, &e);
        kstatus st = jsonpull_skip(&r);
        assert_int_equal(st, depth <= JSONPULL_MAX_DEPTH + 1 ? K_OK : K_FORMAT);
        if (st) assert_non_null(strstr(e.msg, "nesting too deep"));
    }
}

static void test_refusals(void **state)
{
    (void)state;
    const char *valid = "{\"a\":[1,2.5,\"x\\u00e9\",true,null,{\"b\":-Infinity}]}";
    /* every proper prefix is truncated */
    for (size_t n = 0; n < strlen(valid); n++) {
        out_text o;
        kerr e = {0};
        assert_int_equal(parse(valid, n, &o, &e), K_FORMAT);
        assert_true(e.msg[0] != 0);
    }
    expect_error("{\"a\":1", 6, K_FORMAT, "unexpected end of input at byte 6");
    expect_error("[\"abc", 5, K_FORMAT, "unexpected end of input at byte 5");
    expect_error("{} x", 4, K_FORMAT, "invalid JSON at byte 3: unexpected data after");
    expect_error("[1] [2]", 7, K_FORMAT, "unexpected data after");
    expect_error("[1 2]", 5, K_FORMAT, "expected ',' or ']'");
    expect_error("{\"a\" 1}", 7, K_FORMAT, "expected ':'");
    expect_error("{\"a\":1 \"b\":2}", 13, K_FORMAT, "expected ',' or '}'");
    expect_error("{1:2}", 5, K_FORMAT, "expected a string key");
    expect_error("[tru]", 5, K_FORMAT, "expected a value");
    expect_error("[1.2.3]", 7, K_FORMAT, "malformed number");
    expect_error("[\"\\x\"]", 6, K_FORMAT, "bad escape in string");
    expect_error("[\"\\u12G4\"]", 10, K_FORMAT, "bad \\u escape");
    expect_error("[\"\\u12\"]", 8, K_FORMAT, "bad \\u escape");
    expect_error("[\"\\uD800\"]", 10, K_FORMAT, "unpaired surrogate");
    expect_error("[\"\\uDC00\\uD800\"]", 16, K_FORMAT, "unpaired surrogate");
    expect_error("[\"\\u0000\"]", 10, K_FORMAT, "NUL character");
    expect_error("[\"a\nb\"]", 7, K_FORMAT, "control character");
    expect_error("[\"\xC3\x28\"]", 6, K_FORMAT, "not UTF-8");
    expect_error("[\"\xC0\xAF\"]", 6, K_FORMAT, "not UTF-8"); /* overlong */

    char num[JSONPULL_NUM_MAX + 4] = "[";
    memset(num + 1, '1', JSONPULL_NUM_MAX + 1);
    num[JSONPULL_NUM_MAX + 2] = ']';
    expect_error(num, JSONPULL_NUM_MAX + 3, K_FORMAT, "number too long");

    /* a string kept is bounded by the caller's limit */
    arena *a = arena_new(1 << 16);
    assert_non_null(a);
    jsonpull r;
    kerr e = {0};
    const char *s = NULL;
    jsonpull_init(&r, "\"abcdef\"", 8, "p: ", &e);
    assert_int_equal(jsonpull_string(&r, a, &s, 5), K_LIMIT);
    assert_string_equal(e.msg, "p: string of 6 bytes at byte 0 is too long");
    jsonpull_init(&r, "\"abcdef\"", 8, "p: ", &e);
    assert_int_equal(jsonpull_string(&r, a, &s, 6), K_OK);
    assert_string_equal(s, "abcdef");
    arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_documents), cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_strings),   cmocka_unit_test(test_array_count),
        cmocka_unit_test(test_skip),      cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
