/* test_sklearn.c — the scikit-learn importer on hand-written export documents: predictions
 * checked against values worked out by hand (preprocessing, float32 tree thresholds, HGB-style
 * category and missing-value routing, MLP), rejection of hostile documents with a message, a
 * mutation loop that must never crash, and the exporter runner driven by fake interpreters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/import.h"
#include "model/predictor.h"

/* Logistic regression behind impute -> scale -> one-hot -> select (drops category 1). */
static const char *const linear_doc =
    "{\"kiln_sklearn_export\": 1,"
    " \"meta\": {\"source_version\": \"1.2.1\", \"estimator\": \"test.Linear\"},"
    " \"features\": [{\"name\": \"a\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"},"
    "   {\"name\": \"b\", \"type\": \"numeric\", \"min\": -1, \"max\": 1},"
    "   {\"name\": \"c\", \"type\": \"categorical\", \"min\": \"nan\", \"max\": \"nan\", \"n_categories\": 3}],"
    " \"steps\": ["
    "   {\"kind\": \"impute\", \"n_in\": 3, \"n_out\": 3, \"fill\": [1.0, \"nan\", \"nan\"]},"
    "   {\"kind\": \"scale\", \"n_in\": 3, \"n_out\": 3, \"offset\": [0.5, 0, 0], \"scale\": [2, 1, 1]},"
    "   {\"kind\": \"onehot\", \"n_in\": 3, \"n_out\": 5, \"categories\": [[], [], [0, 1, 2]]},"
    "   {\"kind\": \"select\", \"n_in\": 5, \"n_out\": 4, \"index\": [0, 1, 2, 4]}],"
    " \"estimator\": {\"kind\": \"linear\", \"n_in\": 4, \"n_out\": 1,"
    "   \"coef\": [1.5, -2, 0.25, -0.75], \"intercept\": [0.1]},"
    " \"output\": {\"task\": \"classification\", \"n_outputs\": 1, \"link\": \"sigmoid\","
    "   \"link_param\": 1.0, \"classes\": [\"no\", \"yes\"]}}";

/* A two-tree forest classifier as sklearn trees are exported: float32 inputs, `x <= t`,
 * probability-vector leaves averaged over the trees. */
static const char *const forest_doc =
    "{\"kiln_sklearn_export\": 1, \"meta\": {},"
    " \"features\": [{\"name\": \"x\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"},"
    "   {\"name\": \"y\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"}],"
    " \"steps\": [],"
    " \"estimator\": {\"kind\": \"trees\", \"n_in\": 2, \"n_out\": 2, \"leaf_dim\": 2,"
    "   \"aggregate\": \"mean\", \"f32_inputs\": true, \"f32_accumulate\": false, \"decision\": \"le\","
    "   \"trees\": ["
    "    {\"output\": 0, \"left\": [1, -1, -1], \"right\": [2, -1, -1], \"feature\": [0, -1, -1],"
    "     \"threshold\": [0.5, 0, 0], \"value\": [0, 0, 1, 0, 0.25, 0.75]},"
    "    {\"output\": 0, \"left\": [1, -1, -1], \"right\": [2, -1, -1], \"feature\": [1, -1, -1],"
    "     \"threshold\": [-1.0, 0, 0], \"value\": [0, 0, 0.5, 0.5, 0, 1]}]},"
    " \"output\": {\"task\": \"classification\", \"n_outputs\": 2, \"link\": \"identity\","
    "   \"classes\": [\"0\", \"1\"]}}";

/* One HistGradientBoosting-style tree: a categorical root (categories 0 and 2 go left; a
 * missing, negative or out-of-range category goes the missing way, left), then a numeric split
 * compared in double with missing values going right. Poisson-like: exp(base + leaf). */
static const char *const hist_doc =
    "{\"kiln_sklearn_export\": 1, \"meta\": {},"
    " \"features\": [{\"name\": \"num\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"},"
    "   {\"name\": \"cat\", \"type\": \"categorical\", \"min\": \"nan\", \"max\": \"nan\", \"n_categories\": 3}],"
    " \"steps\": [],"
    " \"estimator\": {\"kind\": \"trees\", \"n_in\": 2, \"n_out\": 1, \"leaf_dim\": 1,"
    "   \"aggregate\": \"sum\", \"f32_inputs\": false, \"f32_accumulate\": false, \"decision\": \"le\","
    "   \"categories_in_set\": \"left\", \"invalid_category\": \"default\","
    "   \"trees\": [{\"output\": 0, \"left\": [1, 3, -1, -1, -1], \"right\": [2, 4, -1, -1, -1],"
    "     \"feature\": [1, 0, -1, -1, -1], \"threshold\": [0, 1.0, 0, 0, 0],"
    "     \"default_left\": [1, 0, 0, 0, 0], \"value\": [0, 0, -1, 0.5, 2.0],"
    "     \"cat_set\": [0, -1, -1, -1, -1], \"cat_sets\": [[5]]}]},"
    " \"output\": {\"task\": \"regression\", \"n_outputs\": 1, \"link\": \"exp\", \"base_score\": [0.25]}}";

/* 2 -> 2 (relu) -> 3 (softmax). */
static const char *const mlp_doc =
    "{\"kiln_sklearn_export\": 1, \"meta\": {},"
    " \"features\": [{\"name\": \"p\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"},"
    "   {\"name\": \"q\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"}],"
    " \"steps\": [],"
    " \"estimator\": {\"kind\": \"mlp\", \"n_in\": 2, \"layers\": ["
    "   {\"n_in\": 2, \"n_out\": 2, \"activation\": \"relu\", \"weight\": [1, -1, 0.5, 2], \"bias\": [0, 0.5]},"
    "   {\"n_in\": 2, \"n_out\": 3, \"activation\": \"identity\", \"weight\": [1, 0, -1, 0, 1, 2],"
    "    \"bias\": [0.1, 0.2, 0.3]}]},"
    " \"output\": {\"task\": \"classification\", \"n_outputs\": 3, \"link\": \"softmax\","
    "   \"classes\": [\"r\", \"s\", \"t\"]}}";

/* The documents above with numeric arrays packed as the exporter writes long ones: "i32:" or
 * "f64:" and the little-endian elements in base64. Integral f64 stands in for integers (tree 1's
 * feature), i32 for doubles (its threshold); each must predict exactly as its plain twin. */
static const char *const linear_packed_doc =
    "{\"kiln_sklearn_export\": 1,"
    " \"meta\": {\"source_version\": \"1.2.1\", \"estimator\": \"test.Linear\"},"
    " \"features\": [{\"name\": \"a\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"},"
    "   {\"name\": \"b\", \"type\": \"numeric\", \"min\": -1, \"max\": 1},"
    "   {\"name\": \"c\", \"type\": \"categorical\", \"min\": \"nan\", \"max\": \"nan\", \"n_categories\": 3}],"
    " \"steps\": ["
    "   {\"kind\": \"impute\", \"n_in\": 3, \"n_out\": 3, \"fill\": [1.0, \"nan\", \"nan\"]},"
    "   {\"kind\": \"scale\", \"n_in\": 3, \"n_out\": 3, \"offset\": [0.5, 0, 0], \"scale\": \"i32:AgAAAAEAAAABAAAA\"},"
    "   {\"kind\": \"onehot\", \"n_in\": 3, \"n_out\": 5, \"categories\": [[], \"f64:\", \"f64:AAAAAAAAAAAAAAAAAADwPwAAAAAAAABA\"]},"
    "   {\"kind\": \"select\", \"n_in\": 5, \"n_out\": 4, \"index\": \"i32:AAAAAAEAAAACAAAABAAAAA==\"}],"
    " \"estimator\": {\"kind\": \"linear\", \"n_in\": 4, \"n_out\": 1,"
    "   \"coef\": \"f64:AAAAAAAA+D8AAAAAAAAAwAAAAAAAANA/AAAAAAAA6L8=\", \"intercept\": [0.1]},"
    " \"output\": {\"task\": \"classification\", \"n_outputs\": 1, \"link\": \"sigmoid\","
    "   \"link_param\": 1.0, \"classes\": [\"no\", \"yes\"]}}";

static const char *const forest_packed_doc =
    "{\"kiln_sklearn_export\": 1, \"meta\": {},"
    " \"features\": [{\"name\": \"x\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"},"
    "   {\"name\": \"y\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"}],"
    " \"steps\": [],"
    " \"estimator\": {\"kind\": \"trees\", \"n_in\": 2, \"n_out\": 2, \"leaf_dim\": 2,"
    "   \"aggregate\": \"mean\", \"f32_inputs\": true, \"f32_accumulate\": false, \"decision\": \"le\","
    "   \"trees\": ["
    "    {\"output\": 0, \"left\": \"i32:AQAAAP//////////\", \"right\": \"i32:AgAAAP//////////\","
    "     \"feature\": \"i32:AAAAAP//////////\", \"threshold\": \"f64:AAAAAAAA4D8AAAAAAAAAAAAAAAAAAAAA\","
    "     \"value\": \"f64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAPA/AAAAAAAAAAAAAAAAAADQPwAAAAAAAOg/\"},"
    "    {\"output\": 0, \"left\": [1, -1, -1], \"right\": \"i32:AgAAAP//////////\","
    "     \"feature\": \"f64:AAAAAAAA8D8AAAAAAADwvwAAAAAAAPC/\", \"threshold\": \"i32://///wAAAAAAAAAA\","
    "     \"value\": \"f64:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAOA/AAAAAAAA4D8AAAAAAAAAAAAAAAAAAPA/\"}]},"
    " \"output\": {\"task\": \"classification\", \"n_outputs\": 2, \"link\": \"identity\","
    "   \"classes\": [\"0\", \"1\"]}}";

static const char *const hist_packed_doc =
    "{\"kiln_sklearn_export\": 1, \"meta\": {},"
    " \"features\": [{\"name\": \"num\", \"type\": \"numeric\", \"min\": \"nan\", \"max\": \"nan\"},"
    "   {\"name\": \"cat\", \"type\": \"categorical\", \"min\": \"nan\", \"max\": \"nan\", \"n_categories\": 3}],"
    " \"steps\": [],"
    " \"estimator\": {\"kind\": \"trees\", \"n_in\": 2, \"n_out\": 1, \"leaf_dim\": 1,"
    "   \"aggregate\": \"sum\", \"f32_inputs\": false, \"f32_accumulate\": false, \"decision\": \"le\","
    "   \"categories_in_set\": \"left\", \"invalid_category\": \"default\","
    "   \"trees\": [{\"output\": 0, \"left\": [1, 3, -1, -1, -1], \"right\": [2, 4, -1, -1, -1],"
    "     \"feature\": [1, 0, -1, -1, -1], \"threshold\": [0, 1.0, 0, 0, 0],"
    "     \"default_left\": \"i32:AQAAAAAAAAAAAAAAAAAAAAAAAAA=\", \"value\": [0, 0, -1, 0.5, 2.0],"
    "     \"cat_set\": [0, -1, -1, -1, -1], \"cat_sets\": [\"i32:BQAAAA==\"]}]},"
    " \"output\": {\"task\": \"regression\", \"n_outputs\": 1, \"link\": \"exp\", \"base_score\": [0.25]}}";

static kmodel *load(const char *doc)
{
    kspec *s = NULL;
    kerr e = {0};
    kstatus st = sklearn_import(doc, strlen(doc), &s, &e);
    if (st) fail_msg("import failed: %s", e.msg);
    kmodel *m = NULL;
    assert_int_equal(kmodel_new(s, &m, &e), K_OK);
    return m;
}

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

static void test_linear_pipeline(void **state)
{
    kmodel *m = load(linear_doc);
    const kspec *s = kmodel_spec(m);
    assert_int_equal(s->n_steps, 4);
    assert_int_equal(s->features[2].type, KFEAT_CATEGORICAL);
    assert_string_equal(kspec_get_meta(s, "source_framework"), "scikit-learn");
    assert_string_equal(kspec_get_meta(s, "estimator"), "test.Linear");
    /* a imputed to 1 -> 0.25, b 0.5, c 2 -> [.25, .5, 0, 1]: -1.275
     * a 3 -> 1.25, b -1, c 1 (its column dropped) -> [1.25, -1, 0, 0]: 3.975
     * a 0 -> -0.25, b 0, c 7 unknown -> all zeros: -0.275 */
    const double rows[] = {NAN, 0.5, 2, 3, -1, 1, 0, 0, 7};
    const double z[] = {-1.275, 3.975, -0.275};
    double v[6], mg[3];
    assert_int_equal(kmodel_predict(m, rows, 3, v, mg), K_OK);
    for (int r = 0; r < 3; r++) {
        assert_true(fabs(mg[r] - z[r]) < 1e-15);
        assert_true(fabs(v[2 * r + 1] - sigmoid(z[r])) < 1e-15);
        assert_true(fabs(v[2 * r] - (1 - sigmoid(z[r]))) < 1e-15);
    }
    kmodel_free(m);
}

static void test_forest_float32_thresholds(void **state)
{
    kmodel *m = load(forest_doc);
    /* x <= 0.5 in float32: 0.50000001 rounds to 0.5f and goes left, 0.5000001 does not.
     * Tree 1: y <= -1 -> [.5, .5], else [0, 1]. */
    const double rows[] = {0.5, -1, 0.50000001, 0, 0.5000001, -2, 1, 5};
    const double p1[] = {(0 + 0.5) / 2, (0 + 1) / 2.0, (0.75 + 0.5) / 2, (0.75 + 1) / 2};
    double v[8];
    assert_int_equal(kmodel_predict(m, rows, 4, v, NULL), K_OK);
    for (int r = 0; r < 4; r++) {
        assert_true(fabs(v[2 * r + 1] - p1[r]) < 1e-15);
        assert_true(fabs(v[2 * r] + v[2 * r + 1] - 1) < 1e-15);
    }
    kmodel_free(m);
}

static void test_hist_categories_and_missing(void **state)
{
    kmodel *m = load(hist_doc);
    const double rows[] = {
        1.0, 0,                  /* category 0 in the set: left; 1.0 <= 1.0: left -> 0.5 */
        nextafter(1.0, 2), 2,    /* category 2: left; just above 1: right -> 2 */
        0, 1,                    /* category 1: right -> -1 */
        0.5, -1,                 /* negative category: missing way (left); 0.5 -> 0.5 */
        NAN, NAN,                /* missing category: left; missing number: right -> 2 */
        0, 40,                   /* beyond the set's words: missing way (left) -> 0.5 */
        0, 2.7,                  /* codes truncate like sklearn's cast: 2 -> left -> 0.5 */
    };
    const double leaf[] = {0.5, 2, -1, 0.5, 2, 0.5, 0.5};
    double v[7];
    assert_int_equal(kmodel_predict(m, rows, 7, v, NULL), K_OK);
    for (int r = 0; r < 7; r++) assert_true(fabs(v[r] - exp(0.25 + leaf[r])) < 1e-15);
    kmodel_free(m);
}

static void test_mlp(void **state)
{
    kmodel *m = load(mlp_doc);
    const double row[] = {1.0, 0.25};
    double v[3];
    assert_int_equal(kmodel_predict(m, row, 1, v, NULL), K_OK);
    /* hidden: relu(1*1 + .25*.5) = 1.125, relu(-1 + .25*2 + .5) = 0 */
    double z[3] = {0.1 + 1.125, 0.2, 0.3 - 1.125}, sum = 0;
    for (int i = 0; i < 3; i++) sum += exp(z[i]);
    for (int i = 0; i < 3; i++) assert_true(fabs(v[i] - exp(z[i]) / sum) < 1e-15);
    kmodel_free(m);
}

/* A packed document predicts exactly as its plain twin. */
static void test_packed_arrays(void **state)
{
    const char *const pairs[][2] = {{linear_doc, linear_packed_doc},
                                    {forest_doc, forest_packed_doc},
                                    {hist_doc, hist_packed_doc}};
    const double rows[] = {NAN, 0.5, 2, 3, -1, 1, 0, 0, 7, 0.5, -1, 0.50000001,
                           0, 0.5000001, -2, 1, 5, NAN, 0, 40, nextafter(1.0, 2), 2, 0, 1};
    for (size_t k = 0; k < 3; k++) {
        kmodel *plain = load(pairs[k][0]), *packed = load(pairs[k][1]);
        size_t nf = (size_t)kmodel_n_features(plain), nv = (size_t)kmodel_n_values(plain);
        size_t n_rows = sizeof rows / sizeof *rows / nf;
        assert_int_equal(kmodel_n_features(packed), (int)nf);
        assert_int_equal(kmodel_n_values(packed), (int)nv);
        double a[64], b[64];
        assert_true(n_rows * nv <= 64);
        assert_int_equal(kmodel_predict(plain, rows, n_rows, a, NULL), K_OK);
        assert_int_equal(kmodel_predict(packed, rows, n_rows, b, NULL), K_OK);
        for (size_t i = 0; i < n_rows * nv; i++)
            if (memcmp(&a[i], &b[i], sizeof a[i]) != 0)
                fail_msg("document %zu, value %zu: plain %.17g, packed %.17g", k, i, a[i], b[i]);
        kmodel_free(plain);
        kmodel_free(packed);
    }
}

/* ---- hostile documents ----------------------------------------------------------------------- */

/* Returns `doc` with the first `from` replaced by `to` (malloc'd); fails if `from` is absent. */
static char *replace(const char *doc, const char *from, const char *to)
{
    const char *at = strstr(doc, from);
    if (!at) fail_msg("test bug: \"%s\" not in the document", from);
    size_t head = (size_t)(at - doc), fl = strlen(from), tl = strlen(to), rest = strlen(at + fl);
    char *out = malloc(head + tl + rest + 1);
    assert_non_null(out);
    memcpy(out, doc, head);
    memcpy(out + head, to, tl);
    memcpy(out + head + tl, at + fl, rest + 1);
    return out;
}

typedef struct {
    const char *const *doc;
    const char *from, *to, *message;
} damage;

static const damage damages[] = {
    {&linear_doc, "\"kiln_sklearn_export\": 1", "\"kiln_sklearn_export\": 2", "version 2"},
    {&linear_doc, "\"kiln_sklearn_export\": 1,", "", "no \"kiln_sklearn_export\""},
    {&linear_doc, "\"n_out\": 4, \"index\": [0, 1, 2, 4]", "\"n_out\": 4, \"index\": [0, 1, 2, 5]", "index[3]"},
    {&linear_doc, "\"n_out\": 4, \"index\": [0, 1, 2, 4]", "\"n_out\": 4, \"index\": [0, 1, 2]", "3 elements"},
    {&linear_doc, "\"n_out\": 5, \"categories\"", "\"n_out\": 6, \"categories\"", "one-hot width 5"},
    {&linear_doc, "[0, 1, 2]]", "[0, \"inf\", 2]]", "categories[2][1]"},
    {&linear_doc, "\"scale\": [2, 1, 1]", "\"scale\": [2, 0, 1]", "scale[1]: zero"},
    {&linear_doc, "\"coef\": [1.5, -2, 0.25, -0.75]", "\"coef\": [1.5, -2, \"nan\", -0.75]", "coef[2]"},
    {&linear_doc, "\"coef\": [1.5", "\"coef\": [1e999", "coef[0]"},
    {&linear_doc, "\"n_in\": 4, \"n_out\": 1,", "\"n_in\": 2147483647, \"n_out\": 1,", "n_in"},
    {&linear_doc, "\"n_in\": 4, \"n_out\": 1,", "\"n_in\": 16777216, \"n_out\": 65536,", "too many"},
    {&linear_doc, "\"n_in\": 4, \"n_out\": 1,   \"coef\": [1.5, -2, 0.25, -0.75]",
     "\"n_in\": 3, \"n_out\": 1, \"coef\": [1.5, -2, 0.25]", "preprocessing gives 4"},
    {&linear_doc, "\"name\": \"b\"", "\"name\": \"a\"", "appears twice"},
    {&linear_doc, "\"name\": \"b\"", "\"name\": \"\"", "string length"},
    {&linear_doc, "\"name\": \"b\"", "\"name\": \"b\\nc\"", "control character"},
    {&linear_doc, "\"name\": \"b\"", "\"name\": \"b\\u0000c\"", "control character"},
    {&linear_doc, "\"name\": \"b\"", "\"name\": 7", "expected a string"},
    {&linear_doc, "\"type\": \"categorical\"", "\"type\": \"ordinal\"", "unknown value"},
    {&linear_doc, "\"classes\": [\"no\", \"yes\"]", "\"classes\": [\"no\", \"no\"]", "appears twice"},
    {&linear_doc, "\"classes\": [\"no\", \"yes\"]", "\"classes\": [\"no\"]", "1 classes"},
    {&linear_doc, "\"link\": \"sigmoid\"", "\"link\": \"probit\"", "output.link"},
    {&linear_doc, "\"link_param\": 1.0", "\"link_param\": \"nan\"", "link_param"},
    {&linear_doc, "\"kind\": \"linear\"", "\"kind\": \"svm\"", "estimator.kind"},
    {&linear_doc, "\"steps\": [", "\"steps\": [[], ", "steps[0]: expected an object"},
    {&linear_doc, "\"meta\": {", "\"meta\": {\"x\": 1, ", "meta.x"},
    {&linear_doc, "}}", "}} x", "invalid JSON"},
    {&linear_doc, "\"features\": [", "\"features\": [[[[[[[[[[[[[[[[[[", "invalid JSON"},
    {&forest_doc, "\"left\": [1, -1, -1]", "\"left\": [0, -1, -1]", "children must follow"},
    {&forest_doc, "\"left\": [1, -1, -1]", "\"left\": [1, 1, -1]", "children must"},
    {&forest_doc, "\"left\": [1, -1, -1]", "\"left\": [3, -1, -1]", "node indices below 3"},
    {&forest_doc, "\"right\": [2, -1, -1]", "\"right\": [-1, -1, -1]", "both be -1"},
    {&forest_doc, "\"feature\": [0, -1, -1]", "\"feature\": [2, -1, -1]", "feature[0]"},
    {&forest_doc, "\"threshold\": [0.5, 0, 0]", "\"threshold\": [\"nan\", 0, 0]", "threshold[0]"},
    {&forest_doc, "\"value\": [0, 0, 1, 0, 0.25, 0.75]", "\"value\": [0, 0, 1, 0, 0.25]", "value"},
    {&forest_doc, "\"leaf_dim\": 2", "\"leaf_dim\": 3", "leaf_dim"},
    {&forest_doc, "\"output\": 0, \"left\"", "\"output\": 2, \"left\"", "output"},
    {&forest_doc, "\"left\": [1, -1, -1]", "\"left\": []", "0 nodes"},
    {&forest_doc, "\"trees\": [", "\"trees\": [7, ", "trees[0]: expected an object"},
    {&forest_doc, "\"aggregate\": \"mean\"", "\"aggregate\": \"max\"", "aggregate"},
    {&forest_doc, "\"f32_inputs\": true", "\"f32_inputs\": 1", "true or false"},
    {&forest_doc, "\"n_outputs\": 2", "\"n_outputs\": 3", "n_outputs is 3"},
    {&hist_doc, "\"cat_sets\": [[5]]", "\"cat_sets\": [[-5]]", "cat_sets[0][0]"},
    {&hist_doc, "\"cat_sets\": [[5]]", "\"cat_sets\": [[4294967296]]", "cat_sets[0][0]"},
    {&hist_doc, "\"cat_sets\": [[5]]", "\"cat_sets\": [[]]", "cat_sets[0]"},
    {&hist_doc, "\"cat_set\": [0, -1", "\"cat_set\": [1, -1", "cat_set[0]"},
    {&hist_doc, "\"default_left\": [1, 0", "\"default_left\": [2, 0", "default_left[0]"},
    {&hist_doc, "\"base_score\": [0.25]", "\"base_score\": [0.25, 1]", "base_score"},
    {&mlp_doc, "\"activation\": \"relu\"", "\"activation\": \"gelu\"", "activation"},
    {&mlp_doc, "\"n_in\": 2, \"n_out\": 3", "\"n_in\": 3, \"n_out\": 3", "weight"},
    {&mlp_doc, "\"bias\": [0, 0.5]", "\"bias\": [0]", "bias"},
    {&mlp_doc, "\"layers\": [", "\"layers\": [], \"x\": [", "0 layers"},
    /* packed arrays */
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"u32:AQAAAP//////////\"", "starting \"f64:\" or \"i32:\""},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"AQAAAP//////////\"", "packed string"},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "7", "expected an array or a packed string"},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"i32:AQAA!P//////////\"", "not valid base64"},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"i32:AQAAAP////////\"", "not padded base64"},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"i32:AQAAAP//////=///\"", "not valid base64"},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"i32:AQAAAP/////////\\n\"", "not valid base64"},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"i32:AQAAAP//////////AA==\"", "not a multiple of 4"},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"i32:AQAAAA==\"", "value"},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"i32:\"", "0 nodes"},
    {&forest_packed_doc, "\"right\": \"i32:AgAAAP//////////\"", "\"right\": \"i32:AgAAAP////8=\"", "2 elements, expected 3"},
    {&forest_packed_doc, "\"i32:AQAAAP//////////\"", "\"i32:BQAAAP//////////\"", "node indices below 3"},
    {&forest_packed_doc, "\"i32:AAAAAP//////////\"", "\"i32:AgAAAP//////////\"", "feature[0]"},
    {&forest_packed_doc, "\"i32:AAAAAP//////////\"", "\"f64:AAAAAAAA4D8AAAAAAADwvwAAAAAAAPC/\"", "feature[0]"},
    {&forest_packed_doc, "\"i32:AAAAAP//////////\"", "\"f64:AAAAwAta5kEAAAAAAADwvwAAAAAAAPC/\"", "feature[0]"},
    {&forest_packed_doc, "\"f64:AAAAAAAA4D8AAAAAAAAAAAAAAAAAAAAA\"", "\"f64:AAAAAAAA+H8AAAAAAAAAAAAAAAAAAAAA\"", "threshold[0]"},
    {&forest_packed_doc, "\"f64:AAAAAAAA4D8AAAAAAAAAAAAAAAAAAAAA\"", "\"f64:AAAAAAAA4D8AAAAAAAAAAAAAAAA=\"", "not a multiple of 8"},
    {&linear_packed_doc, "\"f64:AAAAAAAA+D8AAAAAAAAAwAAAAAAAANA/AAAAAAAA6L8=\"",
     "\"f64:AAAAAAAA+D8AAAAAAAAAwAAAAAAAAPh/AAAAAAAA6L8=\"", "coef[2]"},
    {&linear_packed_doc, "\"i32:AAAAAAEAAAACAAAABAAAAA==\"", "\"i32:AAAAAAEAAAACAAAABQAAAA==\"", "index[3]"},
    {&linear_packed_doc, "\"f64:AAAAAAAAAAAAAAAAAADwPwAAAAAAAABA\"", "\"f64:AAAAAAAAAAAAAAAAAADwfwAAAAAAAABA\"", "categories[2][1]"},
    {&linear_packed_doc, "\"f64:AAAAAAAAAAAAAAAAAADwPwAAAAAAAABA\"", "\"i64:AAAAAAAAAAAAAAAAAADwPwAAAAAAAABA\"", "categories[2]"},
    {&hist_packed_doc, "\"i32:BQAAAA==\"", "\"f64:AAAAAAAA8EE=\"", "cat_sets[0][0]"},
    {&hist_packed_doc, "\"i32:BQAAAA==\"", "\"i32://///w==\"", "cat_sets[0][0]"},
    {&hist_packed_doc, "\"i32:BQAAAA==\"", "\"i32:\"", "cat_sets[0]"},
    {&hist_packed_doc, "\"i32:AQAAAAAAAAAAAAAAAAAAAAAAAAA=\"", "\"i32:AgAAAAAAAAAAAAAAAAAAAAAAAAA=\"", "default_left[0]"},
};

static void test_hostile_documents(void **state)
{
    for (size_t i = 0; i < sizeof damages / sizeof *damages; i++) {
        const damage *d = &damages[i];
        char *doc = replace(*d->doc, d->from, d->to);
        kspec *s = NULL;
        kerr e = {0};
        kstatus st = sklearn_import(doc, strlen(doc), &s, &e);
        if (st == K_OK || !strstr(e.msg, d->message) || strchr(e.msg, '\n'))
            fail_msg("damage %zu (%s -> %s): status %d, message \"%s\", expected \"%s\"", i,
                     d->from, d->to, (int)st, e.msg, d->message);
        assert_null(s);
        free(doc);
    }
    kspec *s = NULL;
    kerr e = {0};
    assert_int_equal(sklearn_import("", 0, &s, &e), K_FORMAT);
    assert_int_equal(sklearn_import("[1, 2]", 6, &s, &e), K_FORMAT);
    assert_non_null(strstr(e.msg, "not a JSON object"));
    /* the length is what counts, not a NUL terminator */
    assert_int_equal(sklearn_import(linear_doc, 40, &s, &e), K_FORMAT);
}

/* Truncations and byte flips of every valid document: whatever is accepted must also compile
 * and score; nothing may crash (run under ASan to make that strict). */
static void test_mutations_never_crash(void **state)
{
    const char *const docs[] = {linear_doc, forest_doc, hist_doc, mlp_doc,
                                linear_packed_doc, forest_packed_doc, hist_packed_doc};
    const char flips[] = {'0', '9', '-', '"', ']', '}', ',', 'e', ' ', 'A', '/', '='};
    unsigned seed = 12345;
    for (size_t d = 0; d < sizeof docs / sizeof *docs; d++) {
        size_t len = strlen(docs[d]);
        char *buf = malloc(len + 1);
        assert_non_null(buf);
        for (size_t k = 0; k < 3 * len; k++) {
            memcpy(buf, docs[d], len + 1);
            size_t use = len;
            seed = seed * 1103515245u + 12345u;
            if (k < len) use = k; /* every truncation */
            else buf[(seed >> 8) % len] = flips[(seed >> 20) % sizeof flips];
            kspec *s = NULL;
            kerr e = {0};
            if (sklearn_import(buf, use, &s, &e) != K_OK) continue;
            kmodel *m = NULL;
            if (kmodel_new(s, &m, &e) != K_OK) fail_msg("accepted but not compilable: %s", e.msg);
            double rows[8] = {NAN, 1, -3, 1e30, 0.5, NAN, 2, 0}, out[64], mg[64];
            if (kmodel_n_features(m) <= 4 && kmodel_n_values(m) <= 16)
                assert_int_equal(kmodel_predict(m, rows, 2, out, mg), K_OK);
            kmodel_free(m);
        }
        free(buf);
    }
}

/* ---- the exporter runner, with fake interpreters -------------------------------------------- */

static char tmpdir[64];

/* Writes an executable shell script standing in for Python: it is run as `SCRIPT - SRC OUT`. */
static void fake_python(const char *name, const char *body)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "#!/bin/sh\n%s\n", body);
    fclose(f);
    chmod(path, 0755);
}

static kstatus run_fake(const char *name, char **json, size_t *len, kerr *e)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    setenv("KILN_PYTHON", path, 1);
    *json = NULL;
    return sklearn_export("model.joblib", json, len, e);
}

/* No kiln-sklearn-* directory may be left in TMPDIR (tmpdir/t). */
static void assert_cleaned(void)
{
    char cmd[160];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls -A %s/t)\"", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static int setup_fakes(void **state)
{
    snprintf(tmpdir, sizeof tmpdir, "%s", "/tmp/kiln-test-sklearn-XXXXXX");
    if (!mkdtemp(tmpdir)) return -1;
    char t[96];
    snprintf(t, sizeof t, "%s/t", tmpdir);
    mkdir(t, 0700);
    setenv("TMPDIR", t, 1);
    FILE *f;
    snprintf(t, sizeof t, "%s/doc.json", tmpdir);
    if (!(f = fopen(t, "w"))) return -1;
    fputs(forest_doc, f);
    fclose(f);
    return 0;
}

static int teardown_fakes(void **state)
{
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    unsetenv("KILN_PYTHON");
    return system(cmd) == 0 ? 0 : -1;
}

static void test_export_runner(void **state)
{
    char body[256], *json;
    size_t len;
    kerr e = {0};
    /* success: the script arrives on stdin; the JSON written to OUT comes back */
    snprintf(body, sizeof body, "test \"$1\" = - || exit 9\ngrep -q kiln_sklearn_export || exit 8\ncp %s/doc.json \"$3\"", tmpdir);
    fake_python("ok.sh", body);
    assert_int_equal(run_fake("ok.sh", &json, &len, &e), K_OK);
    assert_int_equal(len, strlen(forest_doc));
    assert_memory_equal(json, forest_doc, len);
    free(json);
    assert_cleaned();

    /* exit 3: unsupported, the last stderr line is the message (after plenty of noise) */
    fake_python("unsupported.sh", "cat >/dev/null\ni=0; while [ $i -lt 300 ]; do echo 'warning: noise noise noise' >&2; i=$((i+1)); done\n"
                                  "echo 'unsupported estimator: sklearn.svm._classes.SVC' >&2\nexit 3");
    assert_int_equal(run_fake("unsupported.sh", &json, &len, &e), K_UNSUPPORTED);
    assert_string_equal(e.msg, "unsupported estimator: sklearn.svm._classes.SVC");
    assert_null(json);
    assert_cleaned();

    /* other failures keep the message; a child that never reads stdin must not hurt us */
    fake_python("fails.sh", "echo 'cannot load model.joblib: bad pickle' >&2\nexit 1");
    assert_int_equal(run_fake("fails.sh", &json, &len, &e), K_FORMAT);
    assert_non_null(strstr(e.msg, "cannot load model.joblib: bad pickle"));
    assert_cleaned();

    fake_python("silent.sh", "cat >/dev/null; exit 1");
    assert_int_equal(run_fake("silent.sh", &json, &len, &e), K_FORMAT);
    assert_non_null(strstr(e.msg, "exit status 1"));

    fake_python("nooutput.sh", "cat >/dev/null; exit 0");
    assert_int_equal(run_fake("nooutput.sh", &json, &len, &e), K_IO);
    assert_cleaned();

    fake_python("killed.sh", "kill -9 $$");
    assert_int_equal(run_fake("killed.sh", &json, &len, &e), K_IO);
    assert_non_null(strstr(e.msg, "signal 9"));

    assert_int_equal(run_fake("missing.sh", &json, &len, &e), K_NOTFOUND);
    assert_non_null(strstr(e.msg, "missing.sh"));
    assert_cleaned();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_pipeline),
        cmocka_unit_test(test_forest_float32_thresholds),
        cmocka_unit_test(test_hist_categories_and_missing),
        cmocka_unit_test(test_mlp),
        cmocka_unit_test(test_packed_arrays),
        cmocka_unit_test(test_hostile_documents),
        cmocka_unit_test(test_mutations_never_crash),
        cmocka_unit_test_setup_teardown(test_export_runner, setup_fakes, teardown_fakes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
