/* test_yaml.c — the YAML reader: the seed's model_config.yaml to the JSON it means, core-schema
 * scalar resolution and tags, flow and nested collections, empty documents, and every input it
 * must refuse (malformed text with the right line, duplicate keys, anchors and aliases, depth
 * and node bombs, several documents, oversized input and scalars) with one-line messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/yaml.h"

static const char seed_config[] = "model:\n"
                                  "  version: \"1.2.3\"\n"
                                  "  framework: \"scikit-learn\"\n"
                                  "  framework_version: \"1.3.0\"\n"
                                  "  \n"
                                  "data:\n"
                                  "  training_set: \"s3://bucket/data/v1.2/train.parquet\"\n"
                                  "  validation_set: \"s3://bucket/data/v1.2/val.parquet\"\n"
                                  "  \n"
                                  "parameters:\n"
                                  "  learning_rate: 0.001\n"
                                  "  batch_size: 32\n"
                                  "  epochs: 100\n";

static struct json_object *parse_ok(const char *text)
{
    struct json_object *o = NULL;
    kerr e = {0};
    kstatus st = yaml_parse(text, strlen(text), &o, &e);
    if (st) print_error("unexpected error for <<%s>>: %s\n", text, e.msg);
    assert_int_equal(st, K_OK);
    return o;
}

/* Parses `text` and compares its compact JSON serialisation with `want`. */
static void check_json(const char *text, const char *want)
{
    struct json_object *o = parse_ok(text);
    const char *got =
        json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (strcmp(got, want) != 0) print_error("for <<%s>>\n got %s\nwant %s\n", text, got, want);
    assert_string_equal(got, want);
    json_object_put(o);
}

/* Parses text[0..len), which must fail with `code` and a one-line message containing
 * `needle`. */
static void check_fail_len(const char *text, size_t len, kstatus code, const char *needle)
{
    struct json_object *o = (struct json_object *)&o; /* must be left untouched */
    kerr e = {0};
    kstatus st = yaml_parse(text, len, &o, &e);
    if (st != code || !strstr(e.msg, needle))
        print_error("for <<%.200s>>: got %s \"%s\", want \"%s\"\n", text, kstatus_str(st), e.msg,
                    needle);
    assert_int_equal(st, code);
    assert_non_null(strstr(e.msg, needle));
    assert_null(strchr(e.msg, '\n'));
    assert_ptr_equal(o, (struct json_object *)&o);
}

static void check_fail(const char *text, kstatus code, const char *needle)
{
    check_fail_len(text, strlen(text), code, needle);
}

/* The value of key "v" in the document "v: <scalar>". */
static struct json_object *scalar_of(const char *scalar, struct json_object **doc)
{
    char text[256];
    snprintf(text, sizeof text, "v: %s\n", scalar);
    *doc = parse_ok(text);
    struct json_object *v = NULL;
    assert_true(json_object_object_get_ex(*doc, "v", &v));
    return v;
}

static void want_null(const char *scalar)
{
    struct json_object *doc, *v = scalar_of(scalar, &doc);
    assert_null(v);
    json_object_put(doc);
}

static void want_bool(const char *scalar, int want)
{
    struct json_object *doc, *v = scalar_of(scalar, &doc);
    assert_true(json_object_is_type(v, json_type_boolean));
    assert_int_equal(json_object_get_boolean(v), want);
    json_object_put(doc);
}

static void want_int(const char *scalar, int64_t want)
{
    struct json_object *doc, *v = scalar_of(scalar, &doc);
    if (!json_object_is_type(v, json_type_int)) print_error("%s is not an int\n", scalar);
    assert_true(json_object_is_type(v, json_type_int));
    assert_true(json_object_get_int64(v) == want);
    json_object_put(doc);
}

/* NaN compares by isnan; everything else exactly (the text is the shortest round trip). */
static void want_double(const char *scalar, double want)
{
    struct json_object *doc, *v = scalar_of(scalar, &doc);
    if (!json_object_is_type(v, json_type_double)) print_error("%s is not a double\n", scalar);
    assert_true(json_object_is_type(v, json_type_double));
    double got = json_object_get_double(v);
    assert_true(isnan(want) ? isnan(got) : got == want);
    json_object_put(doc);
}

static void want_string(const char *scalar, const char *want)
{
    struct json_object *doc, *v = scalar_of(scalar, &doc);
    if (!json_object_is_type(v, json_type_string)) print_error("%s is not a string\n", scalar);
    assert_true(json_object_is_type(v, json_type_string));
    assert_string_equal(json_object_get_string(v), want);
    json_object_put(doc);
}

static void test_seed_config(void **state)
{
    (void)state;
    check_json(seed_config,
               "{\"model\":{\"version\":\"1.2.3\",\"framework\":\"scikit-learn\","
               "\"framework_version\":\"1.3.0\"},"
               "\"data\":{\"training_set\":\"s3://bucket/data/v1.2/train.parquet\","
               "\"validation_set\":\"s3://bucket/data/v1.2/val.parquet\"},"
               "\"parameters\":{\"learning_rate\":0.001,\"batch_size\":32,\"epochs\":100}}");
    struct json_object *o = parse_ok(seed_config), *p = NULL, *lr = NULL, *bs = NULL;
    assert_true(json_object_object_get_ex(o, "parameters", &p));
    assert_true(json_object_object_get_ex(p, "learning_rate", &lr));
    assert_true(json_object_object_get_ex(p, "batch_size", &bs));
    assert_true(json_object_is_type(lr, json_type_double));
    assert_true(json_object_get_double(lr) == 0.001);
    assert_true(json_object_is_type(bs, json_type_int));
    json_object_put(o);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/kiln_test_yaml_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, seed_config, strlen(seed_config)), (ssize_t)strlen(seed_config));
    close(fd);
    struct json_object *o = NULL;
    kerr e = {0};
    assert_int_equal(yaml_load_file(path, &o, &e), K_OK);
    assert_true(json_object_is_type(o, json_type_object));
    assert_int_equal(json_object_object_length(o), 3);
    json_object_put(o);

    fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "a: 1\nb: [\n", 10), 10);
    close(fd);
    o = NULL;
    assert_int_equal(yaml_load_file(path, &o, &e), K_FORMAT);
    assert_null(o);
    assert_true(strncmp(e.msg, path, strlen(path)) == 0);
    assert_non_null(strstr(e.msg, ": line 3, column 1: "));
    unlink(path);

    assert_int_equal(yaml_load_file(path, &o, &e), K_IO);
    assert_null(o);
}

static void test_nulls_and_bools(void **state)
{
    (void)state;
    const char *nulls[] = {"~", "null", "Null", "NULL", "", "!!null ''", "!!null ~"};
    for (size_t i = 0; i < sizeof nulls / sizeof nulls[0]; i++)
        want_null(nulls[i]);
    want_bool("true", 1);
    want_bool("True", 1);
    want_bool("TRUE", 1);
    want_bool("false", 0);
    want_bool("False", 0);
    want_bool("FALSE", 0);
    want_bool("!!bool 'true'", 1);
    /* YAML 1.1 spellings and odd casings stay strings under the 1.2 core schema */
    const char *strings[] = {"nUll", "yes", "no", "on", "off", "y", "tRue", "nil"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        want_string(strings[i], strings[i]);
}

static void test_ints(void **state)
{
    (void)state;
    want_int("0", 0);
    want_int("-0", 0);
    want_int("+12", 12);
    want_int("-17", -17);
    want_int("0123", 123); /* decimal in 1.2, not octal */
    want_int("0o17", 15);
    want_int("0x1F", 31);
    want_int("0xff", 255);
    want_int("9223372036854775807", INT64_MAX);
    want_int("-9223372036854775808", INT64_MIN);
    want_int("0x7fffffffffffffff", INT64_MAX);
    want_int("!!int '12'", 12);
    const char *strings[] = {"1_000",
                             "0b101",
                             "0x",
                             "0o",
                             "0o8",
                             "0xg",
                             "-0x1",
                             "+0o7",
                             "12abc",
                             "1 2",
                             "99999999999999999999x",
                             "--1",
                             "+"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        want_string(strings[i], strings[i]);
    check_fail("v: 9223372036854775808", K_RANGE, "line 1, column 4: number out of range");
    check_fail("v: -9223372036854775809", K_RANGE, "number out of range");
    check_fail("v: 0x8000000000000000", K_RANGE, "number out of range");
    check_fail("v: 0o1000000000000000000000", K_RANGE, "number out of range");
}

static void test_floats(void **state)
{
    (void)state;
    want_double("0.001", 0.001);
    want_double("1.5", 1.5);
    want_double("-.5", -0.5);
    want_double("+.5e3", 500.0);
    want_double("5.", 5.0);
    want_double("1e3", 1000.0);
    want_double("6.02E+23", 6.02e23);
    want_double("1e-400", 0.0); /* underflow rounds to zero */
    want_double(".inf", INFINITY);
    want_double(".Inf", INFINITY);
    want_double("+.INF", INFINITY);
    want_double("-.inf", -INFINITY);
    want_double(".nan", NAN);
    want_double(".NaN", NAN);
    want_double(".NAN", NAN);
    want_double("!!float 1", 1.0);
    want_double("!!float '2.5'", 2.5);
    const char *strings[] = {".",     "1.2.3", "1e",  "e3",    "1e+",  ".e1", ".infinity",
                             "-.nan", "inf",   "nan", "0x1p3", "1.5f", "1,5"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        want_string(strings[i], strings[i]);
    check_fail("v: 1e999", K_RANGE, "number out of range");
    check_fail("v: -1e999", K_RANGE, "number out of range");
}

static void test_strings_and_tags(void **state)
{
    (void)state;
    want_string("'12'", "12");
    want_string("\"true\"", "true");
    want_string("'~'", "~");
    want_string("''", "");
    want_string("\"a\\tb\\u00e9\"", "a\tb\xc3\xa9");
    want_string("!!str 12", "12");
    want_string("! 12", "12");
    want_string("!<tag:yaml.org,2002:str> null", "null");
    want_string("s3://bucket/x", "s3://bucket/x");
    want_string("a b  c", "a b  c");
    check_json("v: |\n  12\n  x\nw: >\n  a\n  b\n", "{\"v\":\"12\\nx\\n\",\"w\":\"a b\\n\"}");
    check_json("1: a\nnull: b\ntrue: c\n'': d\n",
               "{\"1\":\"a\",\"null\":\"b\",\"true\":\"c\",\"\":\"d\"}");
    check_json("!!map {a: !!seq [1]}", "{\"a\":[1]}");
    check_fail("v: !!bool yes", K_FORMAT, "line 1, column 4: value does not match its tag");
    check_fail("v: !!int 1.5", K_FORMAT, "value does not match its tag");
    check_fail("v: !!null 0", K_FORMAT, "value does not match its tag");
    check_fail("v: !foo x", K_FORMAT, "tag !foo is not supported here");
    check_fail("v: !!binary aGk=", K_FORMAT, "tag !!binary is not supported here");
    check_fail("v: !!map [1]", K_FORMAT, "tag !!map is not supported here");
    check_fail("v: !!str {a: 1}", K_FORMAT, "tag !!str is not supported here");
    check_fail("%TAG !e! tag:example.com,2000:\n---\nv: !e!x 1\n", K_FORMAT,
               "line 3, column 4: tag tag:example.com,2000:x is not supported");
    check_fail("!!int 1: a", K_FORMAT, "mapping keys may only be tagged !!str");
    check_fail("v: \"a\\0b\"", K_FORMAT, "line 1, column 4: NUL character in a scalar");
}

static void test_flow_and_nesting(void **state)
{
    (void)state;
    check_json("{a: [1, 2, {b: c}], d: {}, e: [], f: \"x, y\"}",
               "{\"a\":[1,2,{\"b\":\"c\"}],\"d\":{},\"e\":[],\"f\":\"x, y\"}");
    check_json("- - 1\n  - 2\n- - - x\n- []\n- {k: [~, true]}\n",
               "[[1,2],[[\"x\"]],[],{\"k\":[null,true]}]");
    check_json("a:\n- 1\n- b: [2, [3]]\n  c:\n    - d\n",
               "{\"a\":[1,{\"b\":[2,[3]],\"c\":[\"d\"]}]}");
    check_json("a:\nb: \n", "{\"a\":null,\"b\":null}");
    check_json("[a, b]", "[\"a\",\"b\"]");
    check_json("hello", "\"hello\"");
    check_json("42", "42");
}

static void test_empty_documents(void **state)
{
    (void)state;
    const char *empty[] = {"",  "\n\n",   "# only a comment\n", "---\n", "---\n...\n",
                           "~", "null\n", "%YAML 1.2\n---\n"};
    for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++)
        check_json(empty[i], "{}");
    check_json("\xEF\xBB\xBF"
               "a: 1\n",
               "{\"a\":1}");
    check_json("---\na: 1\n...\n", "{\"a\":1}");
}

static void test_malformed(void **state)
{
    (void)state;
    check_fail("a: 1\n  b: 2\n", K_FORMAT, "line 2, column 4: mapping values are not allowed");
    check_fail("a: 1\nb:\n\t- 1\n", K_FORMAT,
               "line 3, column 1: found character that cannot start");
    check_fail("a: 1\nb: [1, 2\nc: 3\n", K_FORMAT,
               "(while parsing a flow sequence at line 2, column 4)");
    check_fail("a: 1\nb: \"open\n", K_FORMAT, "while scanning a quoted scalar at line 2, column 4");
    check_fail("a: 1\nb: 2\n- c\n", K_FORMAT, "line 3, column 1: ");
    check_fail("a: 1\nb: \xff\n", K_FORMAT, "line 2, column 4: invalid leading UTF-8 octet (#FF)");
    check_fail("a: 1\nb: \xc3", K_FORMAT, "line 2, column 4: incomplete UTF-8 octet sequence");
    check_fail("a: 1\nb: x\x01y\n", K_FORMAT,
               "line 2, column 5: control characters are not allowed");
    check_fail_len("a: 1\0", 5, K_FORMAT, "line 1, column 5: control characters are not allowed");
    check_fail("? [a]\n: b\n", K_FORMAT, "line 1, column 3: mapping keys must be scalars");
    check_fail("{[a]: b}", K_FORMAT, "mapping keys must be scalars");
}

static void test_duplicate_keys(void **state)
{
    (void)state;
    check_fail("a: 1\nb: 2\na: 3\n", K_FORMAT, "line 3, column 1: duplicate key \"a\"");
    check_fail("x:\n  k: 1\n  k: 1\n", K_FORMAT, "line 3, column 3: duplicate key \"k\"");
    check_fail("{a: 1, 'a': 2}", K_FORMAT, "duplicate key \"a\"");
    check_fail("\"a\\nb\": 1\n\"a\\nb\": 2\n", K_FORMAT, "duplicate key \"a?b\"");
    check_fail("0123456789012345678901234567890123456789XYZ: 1\n"
               "0123456789012345678901234567890123456789XYZ: 2\n",
               K_FORMAT, "duplicate key \"0123456789012345678901234567890123456789...\"");
    check_json("a: 1\nx: {a: 2}\n", "{\"a\":1,\"x\":{\"a\":2}}"); /* same key, other mapping */
}

static void test_anchors_and_aliases(void **state)
{
    (void)state;
    check_fail("a: &x 1\nb: *x\n", K_FORMAT, "line 1, column 4: anchors (&name) are not supported");
    check_fail("b: *x\n", K_FORMAT, "line 1, column 4: aliases (*name) are not supported");
    check_fail("a: &x [1]\n", K_FORMAT, "anchors (&name) are not supported");
    check_fail("&k a: 1\n", K_FORMAT, "anchors (&name) are not supported");
    check_fail("*k : 1\n", K_FORMAT, "aliases (*name) are not supported");
    check_fail("a: &a [\"lol\",\"lol\",\"lol\",\"lol\"]\n"
               "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
               "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
               "d: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
               K_FORMAT, "line 1, column 4: anchors");
}

/* Returns a malloc'd string: n copies of `open`, then `mid`, then n copies of `close`. */
static char *nest(int n, const char *open, const char *mid, const char *close)
{
    size_t lo = strlen(open), lm = strlen(mid), lc = strlen(close);
    char *s = malloc((size_t)n * (lo + lc) + lm + 1), *p = s;
    assert_non_null(s);
    for (int i = 0; i < n; i++, p += lo)
        memcpy(p, open, lo);
    memcpy(p, mid, lm);
    p += lm;
    for (int i = 0; i < n; i++, p += lc)
        memcpy(p, close, lc);
    *p = 0;
    return s;
}

static void test_depth(void **state)
{
    (void)state;
    char *ok = nest(YAML_MAX_DEPTH, "[", "1", "]"), *bomb = nest(YAML_MAX_DEPTH + 1, "[", "1", "]");
    struct json_object *o = parse_ok(ok);
    json_object_put(o);
    check_fail(bomb, K_LIMIT, "line 1, column 65: nesting deeper than 64 levels");
    free(ok);
    free(bomb);
    char *flow = nest(100000, "{a: ", "1", "}");
    check_fail(flow, K_LIMIT, "nesting deeper than 64 levels");
    free(flow);
    /* block style: each level one more space of indentation */
    size_t cap = 200000, at = 0;
    char *block = malloc(cap);
    assert_non_null(block);
    for (int d = 0; d < YAML_MAX_DEPTH + 1; d++) {
        at += (size_t)snprintf(block + at, cap - at, "%*sk:\n", d, "");
        assert_true(at < cap);
    }
    check_fail(block, K_LIMIT, "line 65, column 65: nesting deeper than 64 levels");
    free(block);
}

/* "[1,1,...,1]" with n scalars: n + 1 nodes. */
static char *flat(int n)
{
    char *s = malloc(2 * (size_t)n + 2);
    assert_non_null(s);
    s[0] = '[';
    for (int i = 0; i < n; i++)
        memcpy(s + 1 + 2 * i, i + 1 < n ? "1," : "1]", 2);
    s[2 * n + 1] = 0;
    return s;
}

static void test_node_limit(void **state)
{
    (void)state;
    char *ok = flat(YAML_MAX_NODES - 1), *bomb = flat(YAML_MAX_NODES);
    struct json_object *o = parse_ok(ok);
    assert_int_equal(json_object_array_length(o), YAML_MAX_NODES - 1);
    json_object_put(o);
    check_fail(bomb, K_LIMIT, "more than 100000 nodes");
    free(ok);
    free(bomb);
    /* keys count too: 50000 members is 100001 nodes with the mapping */
    size_t cap = 50000 * 16, at = 0;
    char *map = malloc(cap);
    assert_non_null(map);
    for (int i = 0; i < 50000; i++)
        at += (size_t)snprintf(map + at, cap - at, "k%d: 1\n", i);
    check_fail(map, K_LIMIT, "more than 100000 nodes");
    free(map);
}

static void test_documents(void **state)
{
    (void)state;
    check_fail("a: 1\n---\nb: 2\n", K_FORMAT, "line 2, column 1: more than one document");
    check_fail("---\na: 1\n...\n---\n", K_FORMAT, "line 4, column 1: more than one document");
    check_fail("a: 1\n...\nb: 2\n", K_FORMAT, "line 3, column 1: "); /* libyaml wants "---" */
}

static void test_size_limits(void **state)
{
    (void)state;
    size_t n = YAML_MAX_INPUT + 1;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, '#', n); /* a comment: valid YAML, refused only for its size */
    big[n] = 0;
    check_fail_len(big, n, K_LIMIT, "YAML input of 1048577 bytes is more than the limit");
    struct json_object *o = NULL;
    kerr e = {0};
    assert_int_equal(yaml_parse(big, n - 1, &o, &e), K_OK); /* exactly the limit */
    json_object_put(o);
    /* one scalar just over 64 KiB, then exactly at it */
    memcpy(big, "v: ", 3);
    memset(big + 3, 'x', YAML_MAX_SCALAR + 1);
    big[3 + YAML_MAX_SCALAR + 1] = 0;
    check_fail(big, K_LIMIT, "line 1, column 4: scalar of 65537 bytes is more than the limit");
    big[3 + YAML_MAX_SCALAR] = 0;
    o = parse_ok(big);
    json_object_put(o);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seed_config),
        cmocka_unit_test(test_load_file),
        cmocka_unit_test(test_nulls_and_bools),
        cmocka_unit_test(test_ints),
        cmocka_unit_test(test_floats),
        cmocka_unit_test(test_strings_and_tags),
        cmocka_unit_test(test_flow_and_nesting),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_anchors_and_aliases),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_node_limit),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_size_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
