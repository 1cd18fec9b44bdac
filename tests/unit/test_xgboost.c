/* test_xgboost.c — the XGBoost importer on small hand-written models whose predictions can be
 * worked out by hand (float32 thresholds, missing values, categorical sets, node renumbering,
 * dart weights, base scores, gblinear), and on hostile documents: every prefix of a valid model,
 * byte flips, deep nesting, absurd sizes, cycles and bad indices must be refused cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/import.h"
#include "model/predictor.h"

/* A model with one tree per "%s" slot: the learner fields come from the caller. */
#define MODEL_HEAD "{\"version\":[1,7,4],\"learner\":{"
#define TREE_PARAM(n) "\"tree_param\":{\"num_nodes\":\"" #n "\",\"size_leaf_vector\":\"0\"}"

/* Stump on feature 0 at 0.1 (a float32 threshold): left leaf -1, right leaf 2; NaN goes right. */
#define STUMP STUMP_ID(0)
#define STUMP_ID(id)                                                                               \
    "{" TREE_PARAM(                                                                                \
        3) ",\"id\":" #id ",\"left_children\":[1,-1,-1],\"right_children\":[2,-1,-1],"             \
           "\"split_indices\":[0,0,0],\"split_conditions\":[1.0000000149011612E-1,-1E0,2E0],"      \
           "\"default_left\":[0,0,0],\"split_type\":[0,0,0],\"categories\":[],"                    \
           "\"categories_nodes\":[],\"categories_segments\":[],\"categories_sizes\":[]}"

static const char *binary_model = MODEL_HEAD
    "\"feature_names\":[\"a\",\"b\"],\"feature_types\":[\"float\",\"float\"],"
    "\"gradient_booster\":{\"model\":{\"gbtree_model_param\":{\"num_trees\":\"1\","
    "\"num_parallel_tree\":\"1\"},\"tree_info\":[0],\"trees\":[" STUMP "]},\"name\":\"gbtree\"},"
    "\"learner_model_param\":{\"base_score\":\"5E-1\",\"num_class\":\"0\",\"num_feature\":\"2\","
    "\"num_target\":\"1\"},\"objective\":{\"name\":\"binary:logistic\"}}}";

static kspec *import_ok(const char *json)
{
    kspec *s = NULL;
    kerr e = {0};
    kstatus st = xgboost_import(json, strlen(json), &s, &e);
    if (st) fprintf(stderr, "unexpected error: %s\n", e.msg);
    assert_int_equal(st, K_OK);
    assert_non_null(s);
    return s;
}

/* Imports, compiles and scores n rows of the model's width; returns the margins in `margins`. */
static void score(const char *json, const double *rows, size_t n, double *values, double *margins)
{
    kmodel *m = NULL;
    kerr e = {0};
    assert_int_equal(kmodel_new(import_ok(json), &m, &e), K_OK);
    assert_int_equal(kmodel_predict(m, rows, n, values, margins), K_OK);
    kmodel_free(m);
}

static kstatus import_err(const char *json, size_t len, kerr *e)
{
    kspec *s = NULL;
    kstatus st = xgboost_import(json, len, &s, e);
    if (st == K_OK)
        kspec_free(s);
    else
        assert_null(s);
    return st;
}

static void expect_error(const char *json, kstatus code, const char *needle)
{
    kerr e = {0};
    kstatus st = import_err(json, strlen(json), &e);
    if (st != code || !strstr(e.msg, needle))
        fprintf(stderr, "got status %d, message: %s (wanted \"%s\")\n", st, e.msg, needle);
    assert_int_equal(st, code);
    assert_non_null(strstr(e.msg, needle));
    assert_null(strchr(e.msg, '\n'));
}

/* Replaces the first occurrence of `from` in `json` with `to` (caller frees). */
static char *edit(const char *json, const char *from, const char *to)
{
    const char *at = strstr(json, from);
    assert_non_null(at);
    size_t head = (size_t)(at - json), len = strlen(json) - strlen(from) + strlen(to);
    char *out = malloc(len + 1);
    assert_non_null(out);
    snprintf(out, len + 1, "%.*s%s%s", (int)head, json, to, at + strlen(from));
    return out;
}

static void test_binary_stump(void **state)
{
    (void)state;
    kspec *s = import_ok(binary_model);
    assert_int_equal(s->task, KTASK_CLASSIFICATION);
    assert_int_equal(s->n_classes, 2);
    assert_string_equal(s->features[1].name, "b");
    assert_string_equal(kspec_get_meta(s, "source_version"), "1.7.4");
    assert_string_equal(kspec_get_meta(s, "objective"), "binary:logistic");
    assert_int_equal(s->trees.f32_inputs, 1);
    assert_int_equal(s->trees.f32_accumulate, 1);
    kspec_free(s);
    /* 0.1 as a double is below the float32 0.1f, but rounds to it: XGBoost sends it right */
    double rows[] = {0.0, 0, 0.1, 0, (double)0.1f, 0, NAN, 0, 0.09999999, 0};
    double values[10], margins[5];
    score(binary_model, rows, 5, values, margins);
    const double want[] = {-1, 2, 2, 2, -1};
    for (int i = 0; i < 5; i++) {
        assert_true(margins[i] == want[i]);
        assert_true(fabs(values[2 * i + 1] - 1 / (1 + exp(-want[i]))) < 1e-12);
    }
}

static void test_every_prefix_is_refused(void **state)
{
    (void)state;
    size_t len = strlen(binary_model);
    for (size_t n = 0; n < len; n++) {
        kerr e = {0};
        assert_int_not_equal(import_err(binary_model, n, &e), K_OK);
        assert_true(e.msg[0] != 0);
    }
}

/* Flipping bytes must never crash or leak; whatever still imports must also score. */
static void test_byte_flips(void **state)
{
    (void)state;
    size_t len = strlen(binary_model);
    char *copy = malloc(len);
    assert_non_null(copy);
    uint32_t seed = 12345;
    static const char noise[] = "{}[]\",:-0123456789eENaI \\tfn";
    for (int round = 0; round < 3000; round++) {
        memcpy(copy, binary_model, len);
        for (int k = 0; k < 1 + round % 3; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t at = (seed >> 8) % len;
            seed = seed * 1103515245u + 12345u;
            copy[at] = noise[(seed >> 8) % (sizeof noise - 1)];
        }
        kspec *s = NULL;
        kerr e = {0};
        if (xgboost_import(copy, len, &s, &e) == K_OK) {
            kmodel *m = NULL;
            assert_int_equal(kmodel_new(s, &m, &e), K_OK);
            double rows[4] = {NAN, 1e30, -1, 0.5}, values[4];
            kmodel_predict(m, rows, 2, values, NULL);
            kmodel_free(m);
        }
    }
    free(copy);
}

/* Children stored before their parents (as after XGBoost prunes and reuses node slots) are
 * renumbered; the predictions follow the original structure. */
static void test_renumbering(void **state)
{
    (void)state;
    /* root 0 splits b < 5 into 3 / 4; node 3 splits a < 1 into leaves 1 / 2 */
    char *json =
        edit(binary_model, STUMP,
             "{" TREE_PARAM(5) ",\"left_children\":[3,-1,-1,1,-1],"
                               "\"right_children\":[4,-1,-1,2,-1],\"split_indices\":[1,0,0,0,0],"
                               "\"split_conditions\":[5E0,1E1,2E1,1E0,3E1],"
                               "\"default_left\":[1,0,0,1,0]}");
    double rows[] = {0, 0, 2, 0, 0, 9, NAN, NAN}, values[8], margins[4];
    score(json, rows, 4, values, margins);
    assert_true(margins[0] == 10 && margins[1] == 20 && margins[2] == 30 && margins[3] == 10);
    free(json);
}

/* Categories in the node's set go right; NaN follows default_left; negative, fractional-below-
 * zero, too large and unlisted codes go left. */
static void test_categorical(void **state)
{
    (void)state;
    char *a = edit(binary_model, "\"float\",\"float\"", "\"c\",\"float\"");
    char *json =
        edit(a, STUMP,
             "{" TREE_PARAM(3) ",\"left_children\":[1,-1,-1],"
                               "\"right_children\":[2,-1,-1],\"split_indices\":[0,0,0],"
                               "\"split_conditions\":[NaN,-1E0,2E0],\"default_left\":[0,0,0],"
                               "\"split_type\":[1,0,0],\"categories\":[1,3,40,16777215],"
                               "\"categories_nodes\":[0],\"categories_segments\":[0],"
                               "\"categories_sizes\":[4]}");
    double rows[] = {1,  0, 3,    0, 40, 0, 3.7, 0, 0,        0, 2,   0,
                     -1, 0, -0.5, 0, 41, 0, 1e9, 0, 16777215, 0, NAN, 0};
    const double want[] = {2, 2, 2, 2, -1, -1, -1, -1, -1, -1, -1, 2};
    double values[24], margins[12];
    score(json, rows, 12, values, margins);
    for (int i = 0; i < 12; i++)
        assert_true(margins[i] == want[i]);
    kspec *s = import_ok(json);
    assert_int_equal(s->features[0].type, KFEAT_CATEGORICAL);
    kspec_free(s);
    free(a);
    free(json);
}

/* Three classes, two rounds, dart weights, and a per-class base score list (XGBoost 3.1). */
static void test_multiclass_dart(void **state)
{
    (void)state;
#define LEAF_TREE                                                                                  \
    "{" TREE_PARAM(1) ",\"left_children\":[-1],\"right_children\":[-1],"                           \
                      "\"split_indices\":[0],\"split_conditions\":[%s],\"default_left\":[0]}"
    char trees[1024] = "", one[256];
    const char *leaves[] = {"1E0", "2E0", "3E0", "1E-1", "2E-1", "3E-1"};
    for (int i = 0; i < 6; i++) {
        snprintf(one, sizeof one, LEAF_TREE, leaves[i]);
        size_t used = strlen(trees);
        snprintf(trees + used, sizeof trees - used, "%s%s", i ? "," : "", one);
    }
    char json[4096];
    snprintf(json, sizeof json,
             MODEL_HEAD
             "\"gradient_booster\":{\"gbtree\":{\"model\":{\"gbtree_model_param\":"
             "{\"num_trees\":\"6\"},\"tree_info\":[0,1,2,0,1,2],\"trees\":[%s]},"
             "\"name\":\"gbtree\"},\"name\":\"dart\",\"weight_drop\":[1,0.5,1,2,2,2]},"
             "\"learner_model_param\":{\"base_score\":\"[1E0,2E0,3E0]\",\"num_class\":\"3\","
             "\"num_feature\":\"1\"},\"objective\":{\"name\":\"multi:softprob\"}}}",
             trees);
    double row[] = {0}, values[3], margins[3];
    score(json, row, 1, values, margins);
    assert_true(margins[0] == 1 + 1 + 0.2f);
    assert_true(margins[1] == 2 + 1 + 0.4f);
    assert_true(margins[2] == 3 + 3 + 0.6f);
    double sum = values[0] + values[1] + values[2];
    assert_true(fabs(sum - 1) < 1e-12 && values[2] > values[1]);
}

static void test_base_score_links(void **state)
{
    (void)state;
    double row[] = {5, 0}, values[2], margins[1];
    char *json = edit(binary_model, "5E-1", "[8E-1]"); /* logit(0.8f) in float32, plus leaf 2 */
    score(json, row, 1, values, margins);
    assert_true(margins[0] == (double)(-logf(1.0f / 0.8f - 1.0f) + 2.0f));
    free(json);
    char *p = edit(binary_model, "binary:logistic", "count:poisson");
    json = edit(p, "5E-1", "3E0");
    score(json, row, 1, values, margins);
    assert_true(margins[0] == (double)(logf(3.0f) + 2.0f));
    assert_true(fabs(values[0] - exp(margins[0])) < 1e-12);
    free(p);
    free(json);
    json = edit(binary_model, "binary:logistic", "binary:logitraw");
    score(json, row, 1, values, margins); /* identity: base 0.5 is a margin */
    assert_true(margins[0] == 2.5 && values[0] == 2.5);
    free(json);
}

/* gblinear skips missing values: they contribute nothing. */
static void test_gblinear(void **state)
{
    (void)state;
    const char *json =
        MODEL_HEAD "\"gradient_booster\":{\"model\":{\"weights\":[2E0,-1E0,5E-1]},"
                   "\"name\":\"gblinear\"},\"learner_model_param\":{\"base_score\":\"1E0\","
                   "\"num_feature\":\"2\"},\"objective\":{\"name\":\"reg:squarederror\"}}}";
    double rows[] = {1, 1, NAN, 3, 2, NAN}, values[3];
    score(json, rows, 3, values, NULL);
    assert_true(values[0] == 2 - 1 + 0.5 + 1);
    assert_true(values[1] == -3 + 0.5 + 1);
    assert_true(values[2] == 4 + 0.5 + 1);
}

/* Names with escapes decode to UTF-8; defaults are f0..; duplicates are refused. */
static void test_feature_names(void **state)
{
    (void)state;
    char *json =
        edit(binary_model, "[\"a\",\"b\"]", "[\"caf\\u00e9\",\"\\ud83d\\ude00 \\\"q\\\"\"]");
    kspec *s = import_ok(json);
    assert_string_equal(s->features[0].name, "caf\xc3\xa9");
    assert_string_equal(s->features[1].name, "\xf0\x9f\x98\x80 \"q\"");
    kspec_free(s);
    free(json);
    json = edit(binary_model, "[\"a\",\"b\"]", "[]");
    s = import_ok(json);
    assert_string_equal(s->features[0].name, "f0");
    assert_string_equal(s->features[1].name, "f1");
    kspec_free(s);
    free(json);
    json = edit(binary_model, "[\"a\",\"b\"]", "[\"a\",\"a\"]");
    expect_error(json, K_FORMAT, "appears twice");
    free(json);
}

static void test_refusals(void **state)
{
    (void)state;
    static const struct {
        const char *from, *to;
        kstatus code;
        const char *needle;
    } cases[] = {
        {"[1,-1,-1],\"right", "[7,-1,-1],\"right", K_FORMAT, "left child 7 out of range"},
        {"\"right_children\":[2,", "\"right_children\":[9,", K_FORMAT, "not left child + 1"},
        {"\"split_indices\":[0,", "\"split_indices\":[2,", K_FORMAT, "feature index 2"},
        {"\"num_nodes\":\"3\"", "\"num_nodes\":\"4\"", K_FORMAT, "num_nodes is 4"},
        {"\"num_nodes\":\"3\"", "\"num_nodes\":\"999999999\"", K_LIMIT, "exceeds the limit"},
        {"\"tree_info\":[0]", "\"tree_info\":[1]", K_FORMAT, "tree_info 1 out of range"},
        {"\"num_trees\":\"1\"", "\"num_trees\":\"2\"", K_FORMAT, "num_trees is 2"},
        {"[1,7,4]", "[4,0,0]", K_UNSUPPORTED, "version 4.0.0"},
        {"binary:logistic", "binary:hinge", K_UNSUPPORTED, "binary:hinge"},
        {"binary:logistic", "reg:something", K_UNSUPPORTED, "reg:something"},
        {"\"name\":\"gbtree\"", "\"name\":\"gbforest\"", K_UNSUPPORTED, "gbforest"},
        {"\"base_score\":\"5E-1\"", "\"base_score\":\"1.5\"", K_FORMAT, "must be in (0, 1)"},
        {"\"base_score\":\"5E-1\"", "\"base_score\":\"[5E-1,1]\"", K_FORMAT, "base_score"},
        {"\"num_feature\":\"2\"", "\"num_feature\":\"two\"", K_FORMAT, "not an integer"},
        {"\"num_feature\":\"2\"", "\"num_feature\":2", K_FORMAT, "expected a string"},
        {"\"float\",\"float\"", "\"float\",\"text\"", K_FORMAT, "unknown type"},
        {"\"split_type\":[0,0,0]", "\"split_type\":[2,0,0]", K_FORMAT, "split_type 2"},
        {"\"left_children\":[1,", "\"left_children\":[1.5,", K_FORMAT, "32-bit integers"},
        {"\"left_children\":[1,", "\"left_children\":[99999999999,", K_FORMAT, "32-bit"},
        {"\"size_leaf_vector\":\"0\"", "\"size_leaf_vector\":\"3\"", K_UNSUPPORTED,
         "vector leaves"},
        {"{\"version\"", "{iU\"version\"", K_UNSUPPORTED, "UBJSON"},
        {"\"id\":0", "\"id\":3", K_FORMAT, "id 3"},
        {"\"b\"]", "\"b\\x\"]", K_FORMAT, "bad escape"},
        {"\"b\"]", "\"\\ud800\"]", K_FORMAT, "surrogate"},
        {"\"b\"]", "\"\\u0000\"]", K_FORMAT, "NUL"},
        {"\"b\"]", "\"\xc3\x28\"]", K_FORMAT, "not UTF-8"},
        {"\"b\"]", "\"\xed\xa0\x80\"]", K_FORMAT, "not UTF-8"},
        {"\"b\"]", "\"\xc0\xaf\"]", K_FORMAT, "not UTF-8"},
        {"}}}", "}}} x", K_FORMAT, "after the JSON document"},
        {"\"learner\":{",
         "\"learner\":{\"junk\":"
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
         "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],",
         K_FORMAT, "nesting too deep"},
        {"\"categories_nodes\":[]", "\"categories_nodes\":[0]", K_FORMAT, "differ in length"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *json = edit(binary_model, cases[i].from, cases[i].to);
        expect_error(json, cases[i].code, cases[i].needle);
        free(json);
    }
    expect_error("", K_FORMAT, "not a JSON document");
    expect_error("[1,2,3]", K_FORMAT, "not a JSON document");
    expect_error("{}", K_FORMAT, "missing \"version\"");
    expect_error("{\"version\":[1,7,4]}", K_FORMAT, "missing learner.objective");
}

/* A tree whose child points back at its ancestor must be caught, not walked forever. */
static void test_cycle(void **state)
{
    (void)state;
    char *json =
        edit(binary_model, STUMP,
             "{" TREE_PARAM(3) ",\"left_children\":[1,0,-1],\"right_children\":[2,1,-1],"
                               "\"split_indices\":[0,0,0],\"split_conditions\":[0E0,0E0,0E0],"
                               "\"default_left\":[0,0,0]}");
    expect_error(json, K_FORMAT, "reached twice");
    free(json);
}

static void test_sklearn_attributes(void **state)
{
    (void)state;
    /* best_iteration 0 keeps only the first round for files saved by the scikit-learn wrapper */
    char *two = edit(binary_model, "[" STUMP "]", "[" STUMP_ID(1) "," STUMP "]");
    char *a = edit(two, "\"tree_info\":[0]", "\"tree_info\":[0,0]");
    char *b = edit(a, "\"num_trees\":\"1\"", "\"num_trees\":\"2\"");
    char *json = edit(b, "\"learner\":{",
                      "\"learner\":{\"attributes\":{\"best_iteration\":\"0\","
                      "\"scikit_learn\":\"{\\\"missing\\\": NaN}\"},");
    kspec *s = import_ok(json);
    assert_int_equal(s->trees.n_trees, 1);
    assert_string_equal(kspec_get_meta(s, "best_iteration"), "0");
    kspec_free(s);
    free(json);
    json = edit(b, "\"learner\":{", "\"learner\":{\"attributes\":{\"best_iteration\":\"0\"},");
    s = import_ok(json); /* a Booster's best_iteration does not limit Booster.predict */
    assert_int_equal(s->trees.n_trees, 2);
    kspec_free(s);
    free(json);
    json = edit(binary_model, "\"learner\":{",
                "\"learner\":{\"attributes\":{\"scikit_learn\":\"{\\\"missing\\\": 0.0}\"},");
    expect_error(json, K_UNSUPPORTED, "missing=0");
    free(json);
    free(two);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_stump),
        cmocka_unit_test(test_every_prefix_is_refused),
        cmocka_unit_test(test_byte_flips),
        cmocka_unit_test(test_renumbering),
        cmocka_unit_test(test_categorical),
        cmocka_unit_test(test_multiclass_dart),
        cmocka_unit_test(test_base_score_links),
        cmocka_unit_test(test_gblinear),
        cmocka_unit_test(test_feature_names),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_cycle),
        cmocka_unit_test(test_sklearn_attributes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
