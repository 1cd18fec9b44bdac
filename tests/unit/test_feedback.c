/* test_feedback.c — ground-truth feedback: outcomes (joined, unknown, duplicate, invalid,
 * expired, evicted), label matching, metrics on hand-computed examples, the bounded window,
 * the hub (lookup across versions, one # HELP per family), and 8 threads remembering and
 * labelling at once. Agreement with scikit-learn on random data: tests/integration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "monitor/feedback.h"

static void remember_p1(kfeedback *f, const char *id, double p1)
{
    double v[2] = {1 - p1, p1};
    kfeedback_remember(f, id, v, 2);
}

static void binary_metrics(void **state)
{
    kfeedback *f = kfeedback_new(0, 0, 0, 2, NULL);
    assert_non_null(f);
    const double p1[4] = {0.9, 0.2, 0.6, 0.4}, y[4] = {1, 0, 0, 1};
    char id[16];
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "r%d", i);
        remember_p1(f, id, p1[i]);
    }
    for (int i = 0; i < 4; i++) {
        snprintf(id, sizeof id, "r%d", i);
        assert_int_equal(kfeedback_label(f, id, y[i], NULL), K_OK);
    }
    kfeedback_stats s;
    assert_int_equal(kfeedback_metrics(f, &s), K_OK);
    assert_int_equal(s.n, 4);
    assert_true(s.accuracy == 0.5 && s.precision == 0.5 && s.recall == 0.5 && s.f1 == 0.5);
    assert_true(fabs(s.roc_auc - 0.75) < 1e-15);
    double ll = -(log(0.9) + log(0.8) + log(0.4) + log(0.4)) / 4;
    assert_true(fabs(s.log_loss - ll) < 1e-12);
    assert_true(isnan(s.mae) && isnan(s.rmse));
    kfeedback_free(f);
}

static void outcomes(void **state)
{
    kfeedback *f = kfeedback_new(100, 1, 0, 3, NULL);
    double v[3] = {0.2, 0.5, 0.3};
    kfeedback_remember(f, "a", v, 3);
    kfeedback_remember(f, "b", v, 3);
    kfeedback_remember(f, "w", v, 2); /* wrong width: ignored */
    kerr e = {0};
    assert_int_equal(kfeedback_label(f, "w", 1, &e), K_NOTFOUND);
    assert_int_equal(kfeedback_label(f, "zz", 1, &e), K_NOTFOUND);
    assert_int_equal(kfeedback_label(f, "a", 3, &e), K_INVALID); /* no class 3 */
    assert_int_equal(kfeedback_label(f, "a", 0.5, &e), K_INVALID);
    assert_int_equal(kfeedback_label(f, "a", 1, &e), K_OK);
    assert_int_equal(kfeedback_label(f, "a", 1, &e), K_EXISTS);
    assert_non_null(strstr(e.msg, "already"));
    sleep(2); /* past window_s = 1 */
    assert_int_equal(kfeedback_label(f, "b", 1, &e), K_NOTFOUND);
    kfeedback_stats s;
    kfeedback_metrics(f, &s);
    assert_int_equal(s.joined, 1);
    assert_int_equal(s.duplicate, 1);
    assert_int_equal(s.invalid, 2);
    assert_int_equal(s.unknown, 3);
    assert_true(s.accuracy == 1.0);
    assert_true(isnan(s.roc_auc)); /* one class only */
    kfeedback_free(f);
}

static void eviction(void **state)
{
    kfeedback *f = kfeedback_new(4, 0, 0, 0, NULL);
    char id[16];
    double v = 1;
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "id%d", i);
        kfeedback_remember(f, id, &v, 1);
    }
    int found = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "id%d", i);
        found += kfeedback_label(f, id, 2, NULL) == K_OK;
    }
    assert_true(found >= 1 && found <= 4);
    assert_int_equal(kfeedback_label(f, "id999", 2, NULL), K_EXISTS); /* newest kept */
    kfeedback_free(f);
}

static void labels(void **state)
{
    const char *num[] = {"2", "4"}, *str[] = {"cat", "dog", "eel"};
    kfeedback *f = kfeedback_new(0, 0, 0, 2, num);
    kfeedback_remember(f, "a", (double[]){0.3}, 1); /* binary with p(class 1) only */
    kfeedback_remember(f, "b", (double[]){0.3}, 1);
    assert_int_equal(kfeedback_label(f, "a", 1, NULL), K_INVALID); /* 1 is no label */
    assert_int_equal(kfeedback_label(f, "a", 4, NULL), K_OK);
    assert_int_equal(kfeedback_label_text(f, "b", "2", NULL), K_OK);
    kfeedback_stats s;
    kfeedback_metrics(f, &s);
    assert_true(s.accuracy == 0.5 && s.roc_auc == 0.5); /* tied scores */
    kfeedback_free(f);

    f = kfeedback_new(0, 0, 0, 3, str);
    double v[3] = {0.1, 0.7, 0.2};
    kfeedback_remember(f, "a", v, 3);
    kfeedback_remember(f, "b", v, 3);
    kfeedback_remember(f, "c", v, 3);
    assert_int_equal(kfeedback_label_text(f, "a", "dog", NULL), K_OK);
    assert_int_equal(kfeedback_label_text(f, "b", "fox", NULL), K_INVALID);
    assert_int_equal(kfeedback_label(f, "b", 2, NULL), K_OK); /* index with string labels */
    assert_int_equal(kfeedback_label_text(f, "c", "0", NULL), K_OK);
    kfeedback_metrics(f, &s);
    assert_int_equal(s.n, 3);
    assert_true(fabs(s.accuracy - 1.0 / 3) < 1e-15);
    kfeedback_free(f);
}

static void regression_window(void **state)
{
    kfeedback *f = kfeedback_new(0, 0, 3, 0, NULL);
    const double pred[5] = {1, 2, 3, 4, 5}, truth[5] = {100, 100, 2, 5, 5};
    char id[16];
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof id, "r%d", i);
        kfeedback_remember(f, id, &pred[i], 1);
        assert_int_equal(kfeedback_label(f, id, truth[i], NULL), K_OK);
    }
    assert_int_equal(kfeedback_label(f, "r9", NAN, NULL), K_NOTFOUND);
    kfeedback_remember(f, "nan", &pred[0], 1);
    assert_int_equal(kfeedback_label(f, "nan", NAN, NULL), K_INVALID);
    kfeedback_stats s;
    kfeedback_metrics(f, &s);
    assert_int_equal(s.n, 3); /* the last three: errors 1, -1, 0 */
    assert_true(fabs(s.mae - 2.0 / 3) < 1e-15);
    assert_true(fabs(s.rmse - sqrt(2.0 / 3)) < 1e-15);
    assert_true(isnan(s.accuracy));
    kfeedback_free(f);
}

static void batch_rows(void **state)
{
    kfeedback *f = kfeedback_new(0, 0, 0, 0, NULL);
    double v[3] = {1, 2, 3};
    kfeedback_remember_rows(f, "req", v, 1, 3);
    assert_int_equal(kfeedback_label(f, "req", 1, NULL), K_NOTFOUND);
    assert_int_equal(kfeedback_label(f, "req:2", 3, NULL), K_OK);
    assert_int_equal(kfeedback_label(f, "req:0", 1, NULL), K_OK);
    kfeedback_free(f);
    assert_null(kfeedback_new(0, 0, 0, 1, NULL));
    assert_null(kfeedback_new(KFEEDBACK_MAX_PENDING + 1, 0, 0, 0, NULL));
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

static void hub(void **state)
{
    kfeedback_hub *h = kfeedback_hub_new(0, 0, 0);
    kfeedback *a1 = kfeedback_hub_get(h, "a", 1, 2, NULL);
    kfeedback *a2 = kfeedback_hub_get(h, "a", 2, 2, NULL);
    kfeedback *b1 = kfeedback_hub_get(h, "b\"x", 1, 0, NULL);
    assert_ptr_equal(kfeedback_hub_get(h, "a", 1, 2, NULL), a1);
    assert_true(a1 != a2 && b1);
    remember_p1(a1, "r1", 0.8);
    remember_p1(a2, "r2", 0.8);
    kfeedback_remember(b1, "r3", (double[]){2.5}, 1);
    assert_int_equal(kfeedback_hub_label(h, "b\"x", "r1", NULL, 1), KFB_UNKNOWN);
    assert_int_equal(kfeedback_hub_label(h, NULL, "r1", NULL, 1), KFB_JOINED);
    assert_int_equal(kfeedback_hub_label(h, "a", "r2", "1", 0), KFB_JOINED);
    assert_int_equal(kfeedback_hub_label(h, "", "r2", NULL, 1), KFB_DUPLICATE);
    assert_int_equal(kfeedback_hub_label(h, NULL, "r3", NULL, 3.0), KFB_JOINED);
    buf b;
    buf_init(&b, 1 << 20);
    kfeedback_hub_write(h, &b);
    buf_append(&b, "", 1);
    const char *t = (const char *)b.data;
    assert_int_equal(count(t, "# TYPE kiln_model_accuracy gauge"), 1);
    assert_int_equal(count(t, "# HELP kiln_feedback_total"), 1);
    assert_int_equal(count(t, "kiln_model_accuracy{"), 2);
    assert_non_null(strstr(t, "kiln_model_accuracy{model=\"a\",version=\"2\"} 1\n"));
    assert_non_null(strstr(t, "kiln_model_mae{model=\"b\\\"x\",version=\"1\"} 0.5\n"));
    assert_non_null(
        strstr(t, "kiln_feedback_total{model=\"\",version=\"\",outcome=\"unknown\"} 1\n"));
    assert_non_null(
        strstr(t, "kiln_feedback_total{model=\"a\",version=\"2\",outcome=\"duplicate\"} 1\n"));
    assert_null(strstr(t, "kiln_model_roc_auc{"));
    buf_free(&b);
    kfeedback_hub_free(h);
}

#define THREADS 8
#define PER_THREAD 20000

typedef struct {
    kfeedback_hub *h;
    kfeedback *f;
    int t, joined;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char id[32];
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(id, sizeof id, "t%d-%d", w->t, i);
        remember_p1(w->f, id, (i % 10) / 10.0);
        if (i % 2 == 0)
            w->joined += kfeedback_hub_label(w->h, NULL, id, NULL, i % 3 == 0) == KFB_JOINED;
        if (i % 5000 == 0) {
            kfeedback_stats s;
            kfeedback_metrics(w->f, &s);
        }
    }
    return NULL;
}

static void threads(void **state)
{
    kfeedback_hub *h = kfeedback_hub_new(1000000, 0, 5000);
    kfeedback *f = kfeedback_hub_get(h, "m", 1, 2, NULL);
    pthread_t th[THREADS];
    worker w[THREADS];
    for (int t = 0; t < THREADS; t++) {
        w[t] = (worker){h, f, t, 0};
        pthread_create(&th[t], NULL, work, &w[t]);
    }
    int joined = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join(th[t], NULL);
        joined += w[t].joined;
    }
    assert_int_equal(joined, THREADS * PER_THREAD / 2);
    kfeedback_stats s;
    kfeedback_metrics(f, &s);
    assert_int_equal(s.joined, (uint64_t)joined);
    assert_int_equal(s.n, 5000);
    kfeedback_hub_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binary_metrics),
        cmocka_unit_test(outcomes),
        cmocka_unit_test(eviction),
        cmocka_unit_test(labels),
        cmocka_unit_test(regression_window),
        cmocka_unit_test(batch_rows),
        cmocka_unit_test(hub),
        cmocka_unit_test(threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
