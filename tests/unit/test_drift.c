/* test_drift.c — drift statistics on small cases worked out by hand (exact KS / Wasserstein /
 * JS, PSI with epsilon smoothing, the quantile sketch, chi-square), NaN handling, the sliding
 * window, the verdict, and the JSON form: round trip and refusal of malformed references.
 * Agreement with scipy on large random samples is tests/integration/test_drift.sh. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/drift.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void assert_close(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) {
        printf("got %.17g want %.17g (diff %.3g > %.3g)\n", got, want, fabs(got - want), tol);
        fail();
    }
}

static drift_ref *build(const double *x, size_t n, int nq)
{
    drift_ref *r = NULL;
    kerr e = {0};
    assert_int_equal(drift_ref_build(x, n, nq, &r, &e), K_OK);
    return r;
}

static void test_exact_ks(void **state)
{
    double a[] = {3, 1, 2}, b[] = {5, 2, 4, 3};
    assert_close(drift_exact_ks(a, 3, b, 4), 0.5, 0); /* at 3: 3/3 - 2/4 */
    assert_close(drift_exact_ks(a, 3, a, 3), 0, 0);
    double c[] = {NAN, 10, NAN};
    assert_close(drift_exact_ks(a, 3, c, 3), 1, 0); /* NaNs dropped: disjoint supports */
    assert_true(isnan(drift_exact_ks(a, 3, c, 1))); /* nothing left on one side */
}

static void test_exact_wasserstein(void **state)
{
    double a[] = {0, 1, 3}, b[] = {8, 5, 6};
    assert_close(drift_exact_wasserstein(a, 3, b, 3), 5, 1e-15); /* same shape, shifted by 5 */
    double c[] = {0, 1}, d[] = {2, 0};
    assert_close(drift_exact_wasserstein(c, 2, d, 2), 0.5, 0); /* |1 - 1/2| on [1, 2) */
    double f[] = {0, NAN, 1};
    assert_close(drift_exact_wasserstein(c, 2, f, 3), 0, 0);
}

/* One merge gives both exact statistics, bit for bit those of the separate calls, ties and
 * unequal sizes included. */
static void test_exact_both(void **state)
{
    double a[257], b[300], ks, w;
    for (int i = 0; i < 257; i++)
        a[i] = floor(i * 0.37) / 4; /* runs of equal values */
    for (int i = 0; i < 300; i++)
        b[i] = floor(i * 0.29 + 3) / 4;
    drift_exact_both_sorted(a, 257, b, 300, &ks, &w);
    double ks1 = drift_exact_ks_sorted(a, 257, b, 300),
           w1 = drift_exact_wasserstein_sorted(a, 257, b, 300);
    assert_memory_equal(&ks, &ks1, sizeof ks);
    assert_memory_equal(&w, &w1, sizeof w);
    assert_close(ks, drift_exact_ks(b, 300, a, 257), 0);
    drift_exact_both_sorted(a, 0, b, 300, &ks, &w);
    assert_true(isnan(ks) && isnan(w));
}

static void test_js_counts(void **state)
{
    double p[] = {1, 0}, q[] = {0, 1}, u[] = {1, 1}, z[] = {0, 0}, neg[] = {-1, 2};
    assert_close(drift_js_counts(p, q, 2), 1, 1e-15);
    assert_close(drift_js_counts(u, u, 2), 0, 0);
    /* p=(.5,.5) q=(1,0) m=(.75,.25): JS = (.5 ln(2/3) + .5 ln 2 + ln(4/3)) / 2 / ln 2 */
    assert_close(drift_js_counts(u, p, 2), sqrt(0.75 * log2(4.0 / 3.0)), 1e-15);
    assert_true(isnan(drift_js_counts(u, z, 2)));
    assert_true(isnan(drift_js_counts(u, neg, 2)));
}

static void test_ref_nan_and_moments(void **state)
{
    double x[] = {NAN, 1, 2, 3, NAN};
    drift_ref *r = build(x, N_OF(x), 0);
    drift_ref_info info;
    drift_ref_get_info(r, &info);
    assert_int_equal(info.count, 3);
    assert_int_equal(info.missing, 2);
    assert_true(info.exact);
    assert_close(info.mean, 2, 0);
    assert_close(info.std, sqrt(2.0 / 3.0), 1e-15);
    assert_close(info.min, 1, 0);
    assert_close(info.max, 3, 0);
    drift_scores s;
    double cur[] = {NAN, NAN};
    assert_int_equal(drift_score(r, cur, 2, &s), K_OK);
    assert_int_equal(s.count, 0);
    assert_int_equal(s.missing, 2);
    assert_true(isnan(s.psi) && isnan(s.js) && isnan(s.ks) && isnan(s.wasserstein));
    drift_ref_free(r);
}

static void test_build_refusals(void **state)
{
    drift_ref *r = (drift_ref *)1;
    kerr e = {0};
    double inf[] = {1, INFINITY}, nan[] = {NAN, NAN}, one[] = {1};
    assert_int_equal(drift_ref_build(inf, 2, 0, &r, &e), K_RANGE);
    assert_null(r);
    assert_int_equal(drift_ref_build(nan, 2, 0, &r, &e), K_INVALID);
    assert_int_equal(drift_ref_build(one, 1, 1, &r, &e), K_INVALID);
    assert_int_equal(drift_ref_build(one, 1, DRIFT_MAX_QUANTILES + 1, &r, &e), K_INVALID);
    double big[] = {1e308, 1e308};
    assert_int_equal(drift_ref_build(big, 2, 0, &r, &e), K_RANGE);
    assert_int_equal(drift_ref_build_categorical(one, 1, 0, &r, &e), K_INVALID);
    assert_int_equal(drift_ref_build_categorical(nan, 2, 3, &r, &e), K_INVALID);
}

/* Reference 0..99: deciles at 9.9k, so each bin holds ten values. */
static drift_ref *ref_0_99(void)
{
    double x[100];
    for (int i = 0; i < 100; i++)
        x[i] = i;
    return build(x, 100, 0);
}

static void test_deciles_and_identity(void **state)
{
    drift_ref *r = ref_0_99();
    const int64_t *counts;
    assert_int_equal(drift_ref_bins(r, &counts), DRIFT_BINS);
    for (int k = 0; k < DRIFT_BINS; k++)
        assert_int_equal(counts[k], 10);
    const double *edges = drift_ref_edges(r);
    assert_close(edges[3], 29.7, 1e-12);
    double x[100];
    for (int i = 0; i < 100; i++)
        x[i] = 99 - i;
    drift_scores s;
    assert_int_equal(drift_score(r, x, 100, &s), K_OK);
    assert_close(s.psi, 0, 0);
    assert_close(s.js, 0, 0);
    assert_close(s.ks, 0, 0);
    assert_close(s.wasserstein, 0, 0);
    assert_close(s.ks_pvalue, 1, 0);
    assert_true(isnan(s.chi2));
    drift_ref_free(r);
}

/* Every current value in the first decile: the nine empty bins get the epsilon share. */
static void test_psi_epsilon(void **state)
{
    drift_ref *r = ref_0_99();
    double x[50];
    for (int i = 0; i < 50; i++)
        x[i] = i % 10;
    drift_scores s;
    assert_int_equal(drift_score(r, x, 50, &s), K_OK);
    double eps = DRIFT_PSI_EPS;
    double want = (0.1 - 1) * log(0.1 / 1) + 9 * (0.1 - eps) * log(0.1 / eps);
    assert_close(s.psi, want, 1e-12);
    /* JS: p = 0.1 everywhere, q = (1, 0...): m0 = .55, others .05 */
    double js = (0.1 * log(0.1 / 0.55) + 9 * 0.1 * log(2.0) + log(1 / 0.55)) / log(2.0);
    assert_close(s.js, sqrt(js / 2), 1e-12);
    assert_close(s.ks, 0.9, 1e-15); /* at 9: F_ref = .1, F_cur = 1 */
    drift_ref_free(r);
}

/* Sketch of 0..100 with 11 quantiles is the line Q(u) = 100u; a current sample that is all 50
 * gives W = integral |100u - 50| = 25 and KS = 0.5. */
static void test_sketch(void **state)
{
    double x[101];
    for (int i = 0; i < 101; i++)
        x[i] = i;
    drift_ref *r = build(x, 101, 11);
    drift_ref_info info;
    drift_ref_get_info(r, &info);
    assert_false(info.exact);
    assert_int_equal(info.n_quantiles, 11);
    double cur[] = {50, 50, NAN};
    drift_scores s;
    assert_int_equal(drift_score(r, cur, 3, &s), K_OK);
    assert_int_equal(s.missing, 1);
    assert_close(s.ks, 0.5, 1e-15);
    assert_close(s.wasserstein, 25 / sqrt(850.0), 1e-12); /* std of 0..100 = sqrt(850) */
    /* The whole sample against its own sketch: only the step-vs-line gap remains. */
    assert_int_equal(drift_score(r, x, 101, &s), K_OK);
    assert_true(s.ks <= 1.0 / 101 + 1e-12);
    assert_true(s.wasserstein * sqrt(850.0) <= 0.5 + 1e-12);
    drift_ref_free(r);
}

static void test_categorical(void **state)
{
    double ref[] = {0, 0, 1, 1, NAN};
    drift_ref *r = NULL;
    kerr e = {0};
    assert_int_equal(drift_ref_build_categorical(ref, 5, 2, &r, &e), K_OK);
    const int64_t *counts;
    assert_int_equal(drift_ref_bins(r, &counts), 3);
    assert_true(counts[0] == 2 && counts[1] == 2 && counts[2] == 0);
    assert_null(drift_ref_edges(r));
    double cur[] = {0, 0, 0, 1};
    drift_scores s;
    assert_int_equal(drift_score(r, cur, 4, &s), K_OK);
    assert_close(s.chi2, 1, 1e-15); /* (3-2)^2/2 + (1-2)^2/2 */
    assert_true(isnan(s.ks) && isnan(s.wasserstein));
    double p[] = {2, 2, 0}, q[] = {3, 1, 0};
    assert_close(s.js, drift_js_counts(p, q, 3), 0);
    double other[] = {0, 7, 1.5, -1};
    assert_int_equal(drift_score(r, other, 4, &s), K_OK);
    assert_true(isinf(s.chi2)); /* unseen category */
    drift_ref_free(r);
}

static void test_window(void **state)
{
    drift_window *w = NULL;
    kerr e = {0};
    assert_int_equal(drift_window_new(0, &w, &e), K_INVALID);
    assert_int_equal(drift_window_new(3, &w, &e), K_OK);
    drift_ref *r = ref_0_99();
    for (int i = 0; i < 5; i++)
        drift_window_push(w, i == 3 ? NAN : i * 10.0);
    assert_int_equal(drift_window_len(w), 3); /* holds 20, NaN, 40 */
    drift_scores a, b;
    assert_int_equal(drift_window_score(w, r, &a), K_OK);
    double last[] = {40, NAN, 20};
    assert_int_equal(drift_score(r, last, 3, &b), K_OK);
    assert_int_equal(a.count, 2);
    assert_int_equal(a.missing, 1);
    assert_true(memcmp(&a, &b, sizeof a) == 0);
    drift_window_clear(w);
    assert_int_equal(drift_window_len(w), 0);
    assert_int_equal(drift_window_score(w, r, &a), K_OK);
    assert_true(isnan(a.psi));
    drift_ref_free(r);
    drift_window_free(w);
}

static void test_verdict(void **state)
{
    drift_thresholds t;
    drift_thresholds_default(&t);
    drift_scores s = {
        .psi = 0.05, .js = 0.05, .wasserstein = 0.05, .ks = 0.5, .ks_pvalue = 0.001, .chi2 = NAN};
    assert_int_equal(drift_verdict(&s, &t), DRIFT_NONE);
    s.psi = 0.1;
    assert_int_equal(drift_verdict(&s, &t), DRIFT_MODERATE);
    s.psi = 0.25;
    assert_int_equal(drift_verdict(&s, &t), DRIFT_SIGNIFICANT);
    s.psi = NAN;
    s.wasserstein = 0.1;
    assert_int_equal(drift_verdict(&s, &t), DRIFT_SIGNIFICANT);
    s.wasserstein = 0;
    t.ks_pvalue = 0.05;
    assert_int_equal(drift_verdict(&s, &t), DRIFT_SIGNIFICANT);
    assert_string_equal(drift_level_str(DRIFT_MODERATE), "moderate");
}

static void roundtrip(const drift_ref *r, const double *cur, size_t n)
{
    char *t1 = drift_ref_to_text(r);
    assert_non_null(t1);
    drift_ref *back = NULL;
    kerr e = {0};
    assert_int_equal(drift_ref_from_text(t1, strlen(t1), &back, &e), K_OK);
    char *t2 = drift_ref_to_text(back);
    assert_string_equal(t1, t2);
    drift_scores a, b;
    drift_score(r, cur, n, &a);
    drift_score(back, cur, n, &b);
    assert_true(memcmp(&a, &b, sizeof a) == 0);
    free(t1);
    free(t2);
    drift_ref_free(back);
}

static void test_json_roundtrip(void **state)
{
    double x[3000], cur[500];
    uint64_t s = 12345;
    for (int i = 0; i < 3000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = i % 97 == 0 ? NAN : (double)(s >> 11) / 9007199254740992.0 * 3 - 1;
    }
    for (int i = 0; i < 500; i++)
        cur[i] = x[i * 5] + 0.1;
    drift_ref *r = build(x, 3000, 0); /* quantile sketch */
    roundtrip(r, cur, 500);
    drift_ref_free(r);
    r = build(x, 300, 0); /* whole sample */
    roundtrip(r, cur, 500);
    drift_ref_free(r);
    kerr e = {0};
    assert_int_equal(drift_ref_build_categorical(x, 3000, 2, &r, &e), K_OK);
    roundtrip(r, cur, 500);
    drift_ref_free(r);
}

static void refuse(const char *json, kstatus want)
{
    drift_ref *r = (drift_ref *)1;
    kerr e = {0};
    kstatus st = drift_ref_from_text(json, strlen(json), &r, &e);
    if (st != want) printf("accepted or wrong status %d for: %.200s (%s)\n", st, json, e.msg);
    assert_int_equal(st, want);
    assert_null(r);
    assert_true(e.msg[0] != '\0');
}

#define NUM_HEAD "{\"kind\":\"numeric\",\"count\":3,\"missing\":0,\"mean\":2,\"std\":0.8,"
#define GOOD_TAIL                                                                                  \
    "\"min\":1,\"max\":3,\"sketch\":\"sample\",\"quantiles\":[1,2,3],"                             \
    "\"edges\":[1,1.2,1.4,1.6,1.8,2,2.2,2.4,2.6,2.8,3],\"counts\":[1,0,0,0,0,1,0,0,0,1]}"

static void test_json_malformed(void **state)
{
    drift_ref *r = NULL;
    kerr e = {0};
    const char *good = NUM_HEAD GOOD_TAIL;
    assert_int_equal(drift_ref_from_text(good, strlen(good), &r, &e), K_OK);
    drift_ref_free(r);
    refuse("", K_FORMAT);
    refuse("[]", K_FORMAT);
    refuse("{}", K_FORMAT);
    refuse(NUM_HEAD GOOD_TAIL "x", K_FORMAT);
    refuse("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", K_FORMAT);
    refuse("{\"kind\":\"bogus\",\"count\":3,\"missing\":0}", K_FORMAT);
    refuse("{\"kind\":\"numeric\",\"count\":-3,\"missing\":0}", K_FORMAT);
    refuse("{\"kind\":\"numeric\",\"count\":0,\"missing\":0}", K_FORMAT);
    refuse("{\"kind\":\"numeric\",\"count\":\"3\",\"missing\":0}", K_FORMAT);
    refuse("{\"kind\":\"categorical\",\"count\":3,\"missing\":0,\"counts\":[1,1,2]}", K_FORMAT);
    refuse("{\"kind\":\"categorical\",\"count\":3,\"missing\":0,\"counts\":[3]}", K_LIMIT);
    refuse("{\"kind\":\"categorical\",\"count\":3,\"missing\":0,\"counts\":[4,-1]}", K_FORMAT);
    refuse("{\"kind\":\"categorical\",\"count\":3,\"missing\":0,\"counts\":[1.5,1.5]}", K_FORMAT);
    /* numeric: one defect each */
    refuse(NUM_HEAD "\"min\":1,\"max\":3,\"sketch\":\"sample\",\"quantiles\":[1,3,2],"
                    "\"edges\":[1,1.2,1.4,1.6,1.8,2,2.2,2.4,2.6,2.8,3],"
                    "\"counts\":[1,0,0,0,0,1,0,0,0,1]}",
           K_FORMAT);
    refuse(NUM_HEAD "\"min\":1,\"max\":3,\"sketch\":\"sample\",\"quantiles\":[1,2,3],"
                    "\"edges\":[1,1.2,1.4,1.6,1.8,2,2.2,2.4,2.6,3,2.8],"
                    "\"counts\":[1,0,0,0,0,1,0,0,0,1]}",
           K_FORMAT);
    refuse(NUM_HEAD "\"min\":1,\"max\":3,\"sketch\":\"sample\",\"quantiles\":[1,2,3],"
                    "\"edges\":[1,2,3],\"counts\":[1,0,0,0,0,1,0,0,0,1]}",
           K_LIMIT);
    refuse(NUM_HEAD "\"min\":1,\"max\":3,\"sketch\":\"sample\",\"quantiles\":[1,2,3,3],"
                    "\"edges\":[1,1.2,1.4,1.6,1.8,2,2.2,2.4,2.6,2.8,3],"
                    "\"counts\":[1,0,0,0,0,1,0,0,0,1]}",
           K_FORMAT);
    refuse(NUM_HEAD "\"min\":1,\"max\":3,\"sketch\":\"sample\",\"quantiles\":[1,2,1e999],"
                    "\"edges\":[1,1.2,1.4,1.6,1.8,2,2.2,2.4,2.6,2.8,3],"
                    "\"counts\":[1,0,0,0,0,1,0,0,0,1]}",
           K_FORMAT);
    refuse(NUM_HEAD "\"min\":0,\"max\":3,\"sketch\":\"sample\",\"quantiles\":[1,2,3],"
                    "\"edges\":[1,1.2,1.4,1.6,1.8,2,2.2,2.4,2.6,2.8,3],"
                    "\"counts\":[1,0,0,0,0,1,0,0,0,1]}",
           K_FORMAT);
    refuse(NUM_HEAD "\"min\":1,\"max\":3,\"sketch\":\"sample\",\"quantiles\":[1,2,3],"
                    "\"edges\":[1,1.2,1.4,1.6,1.8,2,2.2,2.4,2.6,2.8,3],"
                    "\"counts\":[1,0,0,0,0,1,0,0,0,2]}",
           K_FORMAT);
    refuse(NUM_HEAD "\"min\":1,\"max\":3,\"sketch\":\"hist\",\"quantiles\":[1,2,3],"
                    "\"edges\":[1,1.2,1.4,1.6,1.8,2,2.2,2.4,2.6,2.8,3],"
                    "\"counts\":[1,0,0,0,0,1,0,0,0,1]}",
           K_FORMAT);
    refuse("{\"kind\":\"numeric\",\"count\":3,\"missing\":0,\"mean\":null,\"std\":0.8," GOOD_TAIL,
           K_FORMAT);
    refuse("{\"kind\":\"numeric\",\"count\":3,\"missing\":0,\"mean\":2,\"std\":-1," GOOD_TAIL,
           K_FORMAT);
}

/* More quantiles than DRIFT_MAX_QUANTILES are refused before anything is allocated for them. */
static void test_json_too_many_quantiles(void **state)
{
    size_t n = DRIFT_MAX_QUANTILES + 1, cap = 64 + n * 2 + 256;
    char *t = malloc(cap);
    assert_non_null(t);
    size_t len = (size_t)snprintf(t, cap, "%s",
                                  NUM_HEAD "\"min\":1,\"max\":1,"
                                           "\"sketch\":\"quantiles\",\"quantiles\":[");
    for (size_t i = 0; i < n; i++) {
        t[len++] = '1';
        t[len++] = i + 1 < n ? ',' : ']';
    }
    len += (size_t)snprintf(t + len, cap - len, "%s",
                            ",\"edges\":[1,1,1,1,1,1,1,1,1,1,1],\"counts\":[3,0,0,0,0,0,0,0,0,0]}");
    drift_ref *r = NULL;
    kerr e = {0};
    assert_int_equal(drift_ref_from_text(t, len, &r, &e), K_LIMIT);
    assert_null(r);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_ks),
        cmocka_unit_test(test_exact_wasserstein),
        cmocka_unit_test(test_exact_both),
        cmocka_unit_test(test_js_counts),
        cmocka_unit_test(test_ref_nan_and_moments),
        cmocka_unit_test(test_build_refusals),
        cmocka_unit_test(test_deciles_and_identity),
        cmocka_unit_test(test_psi_epsilon),
        cmocka_unit_test(test_sketch),
        cmocka_unit_test(test_categorical),
        cmocka_unit_test(test_window),
        cmocka_unit_test(test_verdict),
        cmocka_unit_test(test_json_roundtrip),
        cmocka_unit_test(test_json_malformed),
        cmocka_unit_test(test_json_too_many_quantiles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
