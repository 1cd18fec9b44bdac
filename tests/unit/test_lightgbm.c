/* test_lightgbm.c — the LightGBM text importer: tiny models given as strings are imported and
 * scored through kmodel_predict against values worked out by hand from LightGBM's rules
 * (including infinities, which the CSV path refuses); hostile and truncated variants must be
 * refused with a one-line message, and byte-level damage must never crash. Inputs are copied
 * into buffers of exactly their length, so a read past the end shows up under ASan. */
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

/* Binary classifier, two trees. Tree 0: y is categorical with set {0, 2, 40} going to node 1
 * (x <= 0.5, NaN-missing, NaN left: leaves 0.5 / -0.25), other categories to leaf 1.5; its nodes
 * are not in preorder (node 1's leaves are 0 and 1, the root's right leaf is 2). Tree 1 is a
 * single leaf, 0.125. */
static const char *const TINY = "tree\n"
                                "version=v4\n"
                                "num_class=1\n"
                                "num_tree_per_iteration=1\n"
                                "label_index=0\n"
                                "max_feature_idx=1\n"
                                "objective=binary sigmoid:1\n"
                                "feature_names=x y\n"
                                "feature_infos=[-1:1] 0:1:2:40\n"
                                "tree_sizes=400 300\n"
                                "\n"
                                "Tree=0\n"
                                "num_leaves=3\n"
                                "num_cat=1\n"
                                "split_feature=1 0\n"
                                "split_gain=10 2\n"
                                "threshold=0 0.5\n"
                                "decision_type=1 10\n"
                                "left_child=1 -1\n"
                                "right_child=-3 -2\n"
                                "leaf_value=0.5 -0.25 1.5\n"
                                "leaf_weight=1 1 1\n"
                                "leaf_count=10 10 10\n"
                                "internal_value=0 0.1\n"
                                "internal_weight=3 2\n"
                                "internal_count=30 20\n"
                                "cat_boundaries=0 2\n"
                                "cat_threshold=5 256\n"
                                "is_linear=0\n"
                                "shrinkage=1\n"
                                "\n"
                                "\n"
                                "Tree=1\n"
                                "num_leaves=1\n"
                                "num_cat=0\n"
                                "split_feature=\n"
                                "split_gain=\n"
                                "threshold=\n"
                                "decision_type=\n"
                                "left_child=\n"
                                "right_child=\n"
                                "leaf_value=0.125\n"
                                "leaf_weight=\n"
                                "leaf_count=\n"
                                "internal_value=\n"
                                "internal_weight=\n"
                                "internal_count=\n"
                                "is_linear=0\n"
                                "shrinkage=0.1\n"
                                "\n"
                                "\n"
                                "end of trees\n"
                                "\n"
                                "feature_importances:\n"
                                "y=1\n"
                                "x=1\n"
                                "\n"
                                "parameters:\n"
                                "[objective: binary]\n"
                                "end of parameters\n"
                                "\n"
                                "pandas_categorical:null\n";

/* Regression, one tree: z <= -1 with missing type None (NaN reads as 0) -> 10, else
 * z <= 2 with missing type Zero, zero going right -> 20 / 30. */
static const char *const MISSING =
    "tree\nversion=v3\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
    "max_feature_idx=0\nobjective=regression\nfeature_names=z\nfeature_infos=[-5:5]\n"
    "tree_sizes=1\n\nTree=0\nnum_leaves=3\nnum_cat=0\nsplit_feature=0 0\nsplit_gain=1 1\n"
    "threshold=-1 2\ndecision_type=0 4\nleft_child=-1 -2\nright_child=1 -3\n"
    "leaf_value=10 20 30\nleaf_count=1 1 1\ninternal_count=3 2\nshrinkage=1\n\n\n"
    "end of trees\n";

/* Imports `len` bytes of `text` from an exact-size copy (no terminating NUL). */
static kstatus import_n(const char *text, size_t len, kspec **out, kerr *e)
{
    char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, text, len);
    kstatus st = lightgbm_import(copy, len, out, e);
    free(copy);
    return st;
}

static kmodel *compile(const char *text)
{
    kspec *s = NULL;
    kerr e = {0};
    kstatus st = import_n(text, strlen(text), &s, &e);
    if (st) fail_msg("import failed: %s", e.msg);
    kmodel *m = NULL;
    assert_int_equal(kmodel_new(s, &m, &e), K_OK);
    return m;
}

/* Returns a malloc'd copy of `text` with the first `from` replaced by `to`. */
static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    if (!at) fail_msg("'%s' not in the model text", from);
    size_t head = (size_t)(at - text), nf = strlen(from), nt = strlen(to);
    char *out = malloc(strlen(text) - nf + nt + 1);
    assert_non_null(out);
    memcpy(out, text, head);
    memcpy(out + head, to, nt);
    memcpy(out + head + nt, at + nf, strlen(at + nf) + 1);
    return out;
}

static void test_tiny_predictions(void **state)
{
    kmodel *m = compile(TINY);
    const double nan = NAN, inf = INFINITY;
    /* x, y -> margin */
    const double cases[][3] = {
        {0.5, 0, 0.625}, /* x equal to the threshold goes left */
        {nextafter(0.5, 1), 2, -0.125},
        {nan, 40, 0.625},    /* NaN-missing, default left */
        {0.7, 40.9, -0.125}, /* category (int)40.9 = 40 */
        {0.0, 1, 1.625},     /* category not in the set */
        {0.0, nan, 1.625},   /* categorical NaN goes right */
        {0.0, -1, 1.625},    /* negative category goes right */
        {0.0, 64, 1.625},    /* beyond the set's words */
        {0.0, 1e10, 1.625},
        {0.0, inf, 1.625},
        {0.0, -inf, 1.625},
        {-inf, 2, 0.625},
        {inf, 0, -0.125},
    };
    size_t n = sizeof cases / sizeof *cases;
    double rows[2 * 13], values[2 * 13], margins[13];
    assert_int_equal(n, 13);
    for (size_t i = 0; i < n; i++) {
        rows[2 * i] = cases[i][0];
        rows[2 * i + 1] = cases[i][1];
    }
    assert_int_equal(kmodel_n_values(m), 2);
    assert_int_equal(kmodel_predict(m, rows, n, values, margins), K_OK);
    for (size_t i = 0; i < n; i++) {
        double p = 1.0 / (1.0 + exp(-cases[i][2]));
        if (margins[i] != cases[i][2])
            fail_msg("row %zu: margin %.17g, expected %.17g", i, margins[i], cases[i][2]);
        assert_true(fabs(values[2 * i + 1] - p) < 1e-15);
        assert_true(fabs(values[2 * i] - (1 - p)) < 1e-15);
    }
    kmodel_free(m);
}

static void test_tiny_spec(void **state)
{
    kspec *s = NULL;
    kerr e = {0};
    assert_int_equal(import_n(TINY, strlen(TINY), &s, &e), K_OK);
    assert_int_equal(s->n_features, 2);
    assert_string_equal(s->features[0].name, "x");
    assert_int_equal(s->features[0].type, KFEAT_NUMERIC);
    assert_true(s->features[0].min == -1 && s->features[0].max == 1);
    assert_int_equal(s->features[1].type, KFEAT_CATEGORICAL);
    assert_int_equal(s->features[1].n_categories, 41);
    assert_int_equal(s->task, KTASK_CLASSIFICATION);
    assert_int_equal(s->n_classes, 2);
    assert_string_equal(s->class_labels[1], "1");
    assert_int_equal(s->link, KLINK_SIGMOID);
    assert_int_equal(s->trees.n_trees, 2);
    assert_int_equal(s->trees.n_nodes, 6);
    assert_int_equal(s->trees.f32_inputs, 0);
    assert_int_equal(s->trees.f32_accumulate, 0);
    assert_int_equal(s->trees.aggregate, KAGG_SUM);
    /* preorder: root, node 1, its leaves (0.5, -0.25), then the root's right leaf (1.5) */
    const ktree_node *n = s->trees.nodes;
    assert_true(n[0].left == 1 && n[0].right == 4 && n[1].left == 2 && n[1].right == 3);
    assert_true(n[2].value == 0.5 && n[3].value == -0.25 && n[4].value == 1.5);
    assert_true(n[1].threshold == nextafter(0.5, INFINITY));
    assert_string_equal(kspec_get_meta(s, "source_framework"), "lightgbm");
    assert_string_equal(kspec_get_meta(s, "source_version"), "v4");
    assert_string_equal(kspec_get_meta(s, "objective"), "binary sigmoid:1");
    kspec_free(s);
}

static void test_missing_types(void **state)
{
    kmodel *m = compile(MISSING);
    const double in[] = {NAN,  0.0, -0.0, 1e-36,           -1e-36,   -3,       -1, nextafter(-1, 0),
                         -0.5, 1.5, 2,    nextafter(2, 3), INFINITY, -INFINITY};
    const double want[] = {30, 30, 30, 30, 30, 10, 10, 20, 20, 20, 20, 30, 30, 10};
    size_t n = sizeof in / sizeof *in;
    double values[14];
    assert_int_equal(n, 14);
    assert_int_equal(kmodel_predict(m, in, n, values, NULL), K_OK);
    for (size_t i = 0; i < n; i++)
        if (values[i] != want[i]) fail_msg("z=%g: %g, expected %g", in[i], values[i], want[i]);
    kmodel_free(m);
}

static void expect_refused(const char *what, const char *text)
{
    kspec *s = (kspec *)&s; /* must come back NULL */
    kerr e = {0};
    kstatus st = import_n(text, strlen(text), &s, &e);
    if (st == K_OK) fail_msg("%s: accepted", what);
    assert_null(s);
    assert_true(st == K_FORMAT || st == K_UNSUPPORTED || st == K_LIMIT || st == K_VERSION);
    if (!e.msg[0] || strchr(e.msg, '\n')) fail_msg("%s: bad message '%s'", what, e.msg);
}

static void test_hostile(void **state)
{
    static const char *const edits[][2] = {
        {"left_child=1 -1", "left_child=0 -1"},       /* cycle back to the root */
        {"left_child=1 -1", "left_child=7 -1"},       /* node out of range */
        {"left_child=1 -1", "left_child=1 -4"},       /* leaf out of range */
        {"right_child=-3 -2", "right_child=-3 -3"},   /* leaf reached twice */
        {"decision_type=1 10", "decision_type=1 12"}, /* missing type 3 */
        {"decision_type=1 10", "decision_type=1 -1"},
        {"num_leaves=3", "num_leaves=300000"},
        {"num_leaves=3", "num_leaves=-3"},
        {"num_leaves=3", "num_leaves=99999999999999999999999"},
        {"split_feature=1 0", "split_feature=1 2"},
        {"split_feature=1 0", "split_feature=1"},
        {"split_feature=1 0", "split_feature=1 0 0"},
        {"cat_boundaries=0 2", "cat_boundaries=0 9"},
        {"cat_boundaries=0 2", "cat_boundaries=1 2"},
        {"cat_threshold=5 256", "cat_threshold=5 4294967296"},
        {"threshold=0 0.5", "threshold=3 0.5"}, /* no such category set */
        {"threshold=0 0.5", "threshold=0.5 0.5"},
        {"threshold=0 0.5", "threshold=nan 0.5"},
        {"num_cat=1", "num_cat=5"},
        {"is_linear=0", "is_linear=1"},
        {"is_linear=0", "is_linear=2"},
        {"leaf_value=0.5 -0.25 1.5", "leaf_value=0.5 -0.25 1.5e"},
        {"leaf_value=0.5 -0.25 1.5", "leaf_value=0.5 -0.25 1.5 7"},
        {"leaf_value=0.5 -0.25 1.5", "leaf_value=0x1p3 -0.25 1.5"},
        {"leaf_value=0.125", "leaf_value="},
        {"end of trees", "end of treez"},
        {"Tree=1", "Tree=0"},
        {"split_gain=10 2\n", "split_gain=10 2\nleft_child=1 -1\n"}, /* key twice */
        {"version=v4", "version=v1"},
        {"version=v4\n", ""},
        {"tree\n", "TREE\n"},
        {"num_class=1", "num_class=100000"},
        {"num_class=1", "num_class=0"},
        {"num_tree_per_iteration=1", "num_tree_per_iteration=2"},
        {"label_index=0", "label_index=x"},
        {"max_feature_idx=1", "max_feature_idx=2"},
        {"max_feature_idx=1", "max_feature_idx=-1"},
        {"max_feature_idx=1", "max_feature_idx=4000000"},
        {"objective=binary sigmoid:1", "objective=multiclass num_class:2"},
        {"objective=binary sigmoid:1", "objective=multiclassova num_class:1 sigmoid:1"},
        {"objective=binary sigmoid:1", "objective=binary sigmoid:0"},
        {"objective=binary sigmoid:1", "objective=binary sigmoid:inf"},
        {"objective=binary sigmoid:1", "objective=xentropy"},
        {"feature_infos=[-1:1] 0:1:2:40", "feature_infos=[-1:1 0:1:2:40"},
        {"feature_infos=[-1:1] 0:1:2:40", "feature_infos=[-1:1] 0:1:x:40"},
        {"feature_infos=[-1:1] 0:1:2:40", "feature_infos=[-1:1]"},
        {"feature_names=x y", "feature_names=x x"},
        {"feature_names=x y", "feature_names=x \001"},
        {"tree_sizes=400 300", "tree_sizes=400"},
        {"split_feature=1 0\n", "split_feature=1 0\nbroken line\n"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
        char *text = replace(TINY, edits[i][0], edits[i][1]);
        char what[96];
        snprintf(what, sizeof what, "edit %zu (%.40s)", i, edits[i][1]);
        expect_refused(what, text);
        free(text);
    }
    static const char *const whole[] = {
        "",
        "\n\n\n",
        "tree",
        "tree\n",
        "tree\nversion=v4\n",
        "tree\r\n\r\nend of trees\r\n",
        ("tree\nversion=v4\nnum_class=1\nlabel_index=0\nmax_feature_idx=0\nfeature_names=a\n"
         "feature_infos=none\nend of trees\n"), /* no trees */
        "\xef\xbb\xbftree\n",                   /* byte order mark */
        "{\"learner\": {}}",
    };
    for (size_t i = 0; i < sizeof whole / sizeof *whole; i++)
        expect_refused(whole[i], whole[i]);
}

/* Every strict prefix that stops before "end of trees" is refused; none may crash. */
static void test_truncation(void **state)
{
    size_t len = strlen(TINY);
    size_t complete = (size_t)(strstr(TINY, "end of trees") - TINY) + strlen("end of trees");
    for (size_t cut = 0; cut < len; cut++) {
        kspec *s = NULL;
        kerr e = {0};
        kstatus st = import_n(TINY, cut, &s, &e);
        if (cut < complete && st == K_OK) fail_msg("prefix of %zu bytes accepted", cut);
        if (cut >= complete && st != K_OK) fail_msg("prefix of %zu bytes refused: %s", cut, e.msg);
        kspec_free(s);
    }
}

/* Byte-level damage anywhere: whatever is accepted must compile and score (NaN included). */
static void test_damage(void **state)
{
    static const char bytes[] = {'0', '9', '-', '\n', ' ', '=', '\0', '\r', (char)0xff, ':'};
    size_t len = strlen(TINY);
    char *text = malloc(len);
    assert_non_null(text);
    int accepted = 0;
    for (size_t i = 0; i < len; i++) {
        for (size_t b = 0; b < sizeof bytes; b++) {
            memcpy(text, TINY, len);
            text[i] = bytes[b];
            kspec *s = NULL;
            kerr e = {0};
            if (lightgbm_import(text, len, &s, &e) != K_OK) {
                assert_null(s);
                assert_true(e.msg[0] != 0);
                continue;
            }
            accepted++;
            kmodel *m = NULL;
            assert_int_equal(kmodel_new(s, &m, &e), K_OK);
            double rows[] = {NAN, NAN, 0.5, 40, -1e300, 1e300}, values[6];
            assert_int_equal(kmodel_predict(m, rows, 3, values, NULL), K_OK);
            kmodel_free(m);
        }
    }
    free(text);
    assert_true(accepted > 0); /* e.g. a digit changed inside a leaf value */
}

/* Multiclass: three trees per iteration, softmax over the scores, classes "0".."2". */
static void test_multiclass(void **state)
{
    const char *text =
        "tree\nversion=v4\nnum_class=3\nnum_tree_per_iteration=3\nlabel_index=0\n"
        "max_feature_idx=0\nobjective=multiclass num_class:3\nfeature_names=a\n"
        "feature_infos=[0:1]\ntree_sizes=1 1 1\n\n"
        "Tree=0\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.5\ndecision_type=2\n"
        "left_child=-1\nright_child=-2\nleaf_value=1 -1\n\n"
        "Tree=1\nnum_leaves=1\nnum_cat=0\nleaf_value=0.5\n\n"
        "Tree=2\nnum_leaves=2\nnum_cat=0\nsplit_feature=0\nthreshold=0.25\ndecision_type=2\n"
        "left_child=-1\nright_child=-2\nleaf_value=-2 2\n\n"
        "end of trees\n";
    kmodel *m = compile(text);
    assert_int_equal(kmodel_n_values(m), 3);
    assert_int_equal(kmodel_n_margins(m), 3);
    double rows[] = {0.3, 0.9}, values[6], margins[6];
    assert_int_equal(kmodel_predict(m, rows, 2, values, margins), K_OK);
    const double want[2][3] = {{1, 0.5, 2}, {-1, 0.5, 2}};
    for (int r = 0; r < 2; r++) {
        double sum = exp(want[r][0]) + exp(want[r][1]) + exp(want[r][2]);
        for (int k = 0; k < 3; k++) {
            assert_true(margins[3 * r + k] == want[r][k]);
            assert_true(fabs(values[3 * r + k] - exp(want[r][k]) / sum) < 1e-15);
        }
    }
    kmodel_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_predictions), cmocka_unit_test(test_tiny_spec),
        cmocka_unit_test(test_missing_types),    cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_truncation),       cmocka_unit_test(test_damage),
        cmocka_unit_test(test_multiclass),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
