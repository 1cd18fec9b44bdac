/* test_package.c — .kiln package round trips and rejection of damaged files; predictor basics
 * (linear, MLP, trees, preprocessing and links) checked against values computed by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "model/package.h"
#include "model/predictor.h"

static kfeature *features(kspec *s, int n)
{
    kfeature *f = arena_array(s->mem, (size_t)n, sizeof *f);
    static const char *names[] = {"a", "b", "c", "d"};
    for (int i = 0; i < n; i++) f[i] = (kfeature){names[i], KFEAT_NUMERIC, NAN, NAN, 0, NULL};
    s->features = f;
    s->n_features = n;
    return f;
}

/* Logistic regression on 2 features with a scaler and an imputer in front. */
static kspec *make_linear(void)
{
    kspec *s = kspec_new(1 << 20);
    features(s, 2);
    static const double fill[] = {1.0, NAN}, off[] = {0.5, 0.0}, sc[] = {2.0, 1.0};
    static kstep steps[2];
    steps[0] = (kstep){.kind = KSTEP_IMPUTE, .n_in = 2, .n_out = 2, .fill = fill};
    steps[1] = (kstep){.kind = KSTEP_SCALE, .n_in = 2, .n_out = 2, .offset = off, .scale = sc};
    s->steps = steps;
    s->n_steps = 2;
    static const double coef[] = {1.5, -2.0}, icpt[] = {0.25};
    s->kind = KEST_LINEAR;
    s->linear = (klinear){2, 1, coef, icpt};
    static const char *labels[] = {"no", "yes"};
    s->task = KTASK_CLASSIFICATION;
    s->n_outputs = 1;
    s->n_classes = 2;
    s->class_labels = labels;
    s->link = KLINK_SIGMOID;
    kspec_set_meta(s, "source_framework", "test");
    return s;
}

/* Two stumps on feature 0 / 1 with default directions, summed in double, plus a base score. */
static kspec *make_trees(void)
{
    kspec *s = kspec_new(1 << 20);
    features(s, 2);
    static ktree_node nodes[6];
    nodes[0] = (ktree_node){.flags = KNODE_DEFAULT_LEFT, .feature = 0, .threshold = 1.0, .left = 1, .right = 2};
    nodes[1] = (ktree_node){.flags = KNODE_LEAF, .value = -1.0};
    nodes[2] = (ktree_node){.flags = KNODE_LEAF, .value = 2.0};
    nodes[3] = (ktree_node){.flags = 0, .feature = 1, .threshold = 0.0, .left = 1, .right = 2};
    nodes[4] = (ktree_node){.flags = KNODE_LEAF, .value = 10.0};
    nodes[5] = (ktree_node){.flags = KNODE_LEAF, .value = 20.0};
    static const int32_t start[] = {0, 3, 6}, out[] = {0, 0};
    static const double base[] = {0.5};
    s->kind = KEST_TREES;
    s->trees = (ktrees){.n_in = 2, .n_out = 1, .n_trees = 2, .tree_start = start,
                        .tree_output = out, .nodes = nodes, .n_nodes = 6, .leaf_dim = 1};
    s->task = KTASK_REGRESSION;
    s->n_outputs = 1;
    s->base_score = base;
    s->link = KLINK_IDENTITY;
    return s;
}

/* 2 -> 3 (tanh) -> 3 (softmax) network. */
static const double mlp_w1[] = {0.5, -1.0, 0.25, 2.0, 0.1, -0.3}, mlp_b1[] = {0.1, 0.2, -0.1};
static const double mlp_w2[] = {1, 0, -1, 0.5, 0.5, 0.5, -2, 1, 0}, mlp_b2[] = {0, 0.1, 0.2};

static kspec *make_mlp(void)
{
    kspec *s = kspec_new(1 << 20);
    features(s, 2);
    static klayer layers[2];
    layers[0] = (klayer){2, 3, mlp_w1, mlp_b1, KACT_TANH};
    layers[1] = (klayer){3, 3, mlp_w2, mlp_b2, KACT_IDENTITY};
    static const char *labels[] = {"a", "b", "c"};
    s->kind = KEST_MLP;
    s->mlp = (kmlp){2, layers};
    s->task = KTASK_CLASSIFICATION;
    s->n_outputs = 3;
    s->n_classes = 3;
    s->class_labels = labels;
    s->link = KLINK_SOFTMAX;
    return s;
}

/* The same network written out plainly, one row at a time. */
static void mlp_reference(const double *x, double *p)
{
    double h[3], z[3], mx = -INFINITY, sum = 0;
    for (int o = 0; o < 3; o++) h[o] = tanh(mlp_b1[o] + x[0] * mlp_w1[o] + x[1] * mlp_w1[3 + o]);
    for (int o = 0; o < 3; o++) {
        z[o] = mlp_b2[o] + h[0] * mlp_w2[o] + h[1] * mlp_w2[3 + o] + h[2] * mlp_w2[6 + o];
        mx = z[o] > mx ? z[o] : mx;
    }
    for (int o = 0; o < 3; o++) sum += exp(z[o] - mx);
    for (int o = 0; o < 3; o++) p[o] = exp(z[o] - mx) / sum;
}

static kmodel *roundtrip(kspec *s)
{
    buf b;
    buf_init(&b, 1 << 24);
    kerr e = {0};
    assert_int_equal(kpkg_write(s, &b, &e), K_OK);
    kspec_free(s);
    kspec *back = NULL;
    assert_int_equal(kpkg_read(b.data, b.len, &back, &e), K_OK);
    buf_free(&b);
    kmodel *m = NULL;
    assert_int_equal(kmodel_new(back, &m, &e), K_OK);
    return m;
}

static void test_linear_roundtrip(void **state)
{
    kmodel *m = roundtrip(make_linear());
    const double rows[] = {2.5, 1.0, NAN, NAN};
    double v[4];
    assert_int_equal(kmodel_predict(m, rows, 2, v, NULL), K_OK);
    /* row 0: x = ((2.5-.5)/2, 1) = (1, 1): z = 1.5 - 2 + .25 = -.25 */
    double p = 1 / (1 + exp(0.25));
    assert_true(fabs(v[1] - p) < 1e-15 && fabs(v[0] - (1 - p)) < 1e-15);
    /* row 1: a imputed to 1 -> .25; b stays NaN -> NaN */
    assert_true(isnan(v[3]));
    assert_string_equal(kspec_get_meta(kmodel_spec(m), "source_framework"), "test");
    kmodel_free(m);
}

static void test_trees_roundtrip(void **state)
{
    kmodel *m = roundtrip(make_trees());
    const double rows[] = {0.5, -1, 1.0, 0.0, NAN, NAN};
    double v[3];
    assert_int_equal(kmodel_predict(m, rows, 3, v, NULL), K_OK);
    assert_true(v[0] == 0.5 - 1 + 10);
    assert_true(v[1] == 0.5 + 2 + 20); /* x < t is strict: 1.0 goes right, 0.0 goes right */
    assert_true(v[2] == 0.5 - 1 + 20); /* NaN: default left in tree 0, right in tree 1 */
    kmodel_free(m);
}

static void test_mlp_batch(void **state)
{
    kmodel *m = roundtrip(make_mlp());
    double rows[14], v[21], want[3], maxdiff = 0;
    for (int i = 0; i < 14; i++) rows[i] = (i * 0.37) - 2.1;
    assert_int_equal(kmodel_predict(m, rows, 7, v, NULL), K_OK); /* 4-row tile + 3 left over */
    for (int r = 0; r < 7; r++) {
        mlp_reference(rows + 2 * r, want);
        for (int o = 0; o < 3; o++) maxdiff = fmax(maxdiff, fabs(v[3 * r + o] - want[o]));
    }
    printf("mlp max_abs_diff=%.1e\n", maxdiff);
    assert_true(maxdiff < 1e-15);
    kmodel_free(m);
}

/* XGBoost takes a category as (int)(float)x: 0.999999999 is category 1 in a float32 model. */
static void test_category_rounds_like_float32(void **state)
{
    kspec *s = make_trees();
    ktree_node *n = (ktree_node *)s->trees.nodes;
    static const uint32_t words[] = {1u << 1}; /* the set {1} */
    n[0].flags = KNODE_CATEGORICAL | KNODE_CAT_SET_RIGHT;
    n[0].cat_start = 0;
    n[0].cat_len = 1;
    s->trees.cat_words = words;
    s->trees.n_cat_words = 1;
    s->trees.f32_inputs = 1;
    kmodel *m = roundtrip(s);
    const double rows[] = {0.999999999, -1, 0.9, -1, -0.5, -1};
    double v[3];
    assert_int_equal(kmodel_predict(m, rows, 3, v, NULL), K_OK);
    assert_true(v[0] == 0.5 + 2 + 10);  /* category 1: in the set, goes right */
    assert_true(v[1] == 0.5 - 1 + 10);  /* category 0: not in the set, left */
    assert_true(v[2] == 0.5 - 1 + 10);  /* negative: invalid, "not in set" direction */
    kmodel_free(m);
}

static buf packaged(void)
{
    buf b;
    buf_init(&b, 1 << 24);
    kerr e = {0};
    kspec *s = make_trees();
    assert_int_equal(kpkg_write(s, &b, &e), K_OK);
    kspec_free(s);
    return b;
}

static void expect_fail(const buf *b, size_t len, kstatus want)
{
    kspec *s = NULL;
    kerr e = {0};
    assert_int_equal(kpkg_read(b->data, len, &s, &e), want);
    assert_null(s);
    assert_true(strlen(e.msg) > 0);
}

static void test_damage_rejected(void **state)
{
    buf b = packaged();
    expect_fail(&b, b.len - 1, K_FORMAT); /* truncated */
    expect_fail(&b, 10, K_FORMAT);
    b.data[b.len / 2] ^= 1; /* one flipped bit anywhere */
    expect_fail(&b, b.len, K_CHECKSUM);
    b.data[b.len / 2] ^= 1;
    b.data[8] = 9; /* newer format version */
    expect_fail(&b, b.len, K_VERSION);
    b.data[8] = 1;
    memcpy(b.data, "NOTKILN!", 8);
    expect_fail(&b, b.len, K_FORMAT);
    buf_free(&b);
}

static void test_validate_rejects_cycles(void **state)
{
    kspec *s = make_trees();
    ktree_node *n = (ktree_node *)s->trees.nodes;
    n[0].left = 0; /* points at itself */
    kerr e = {0};
    assert_int_equal(kspec_validate(s, &e), K_FORMAT);
    n[0].left = 1;
    n[3].feature = 7;
    assert_int_equal(kspec_validate(s, &e), K_FORMAT);
    n[3].feature = 1;
    static const int32_t bad_start[] = {0, 100, 6}; /* second tree would start past the nodes */
    const int32_t *good = s->trees.tree_start;
    s->trees.tree_start = bad_start;
    assert_int_equal(kspec_validate(s, &e), K_FORMAT);
    s->trees.tree_start = good;
    assert_int_equal(kspec_validate(s, &e), K_OK);
    kspec_free(s);
}

static void test_le_to_lt(void **state)
{
    /* float32 x <= t (t double) must equal x < kspec_le_to_lt(t, 1) for floats around t */
    const double ts[] = {0.1, 1.0, -3.3333333333, 1e-8, 123456.789};
    for (size_t i = 0; i < sizeof ts / sizeof *ts; i++) {
        double t2 = kspec_le_to_lt(ts[i], 1);
        float f = (float)ts[i];
        for (int k = -3; k <= 3; k++) {
            float x = f;
            for (int j = 0; j < abs(k); j++) x = nextafterf(x, k < 0 ? -INFINITY : INFINITY);
            assert_int_equal((double)x <= ts[i], (double)x < t2);
        }
        double d = ts[i];
        assert_true(d < kspec_le_to_lt(d, 0) && !(nextafter(d, INFINITY) < kspec_le_to_lt(d, 0)));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_roundtrip), cmocka_unit_test(test_trees_roundtrip),
        cmocka_unit_test(test_damage_rejected), cmocka_unit_test(test_validate_rejects_cycles),
        cmocka_unit_test(test_le_to_lt), cmocka_unit_test(test_mlp_batch),
        cmocka_unit_test(test_category_rounds_like_float32),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
