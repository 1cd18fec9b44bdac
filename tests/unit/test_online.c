/* test_online.c — online drift windows (monitor/online.h): the row cap, the time window
 * (drift_window_seconds) with an injected clock, scores of what is left in the window; and the
 * batch path of feedback memory (monitor/feedback.h): every row of a batch remembered, and a
 * full table overwriting its oldest entries without losing live ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/feedback.h"
#include "monitor/online.h"

static kfeature feature = {.name = "x", .type = KFEAT_NUMERIC, .min = NAN, .max = NAN};

/* A one-feature spec whose drift reference is 0..999. */
static kspec *spec_with_reference(void)
{
    kspec *s = kspec_new(1 << 20);
    assert_non_null(s);
    s->n_features = 1;
    s->features = &feature;
    double ref[1000];
    for (int i = 0; i < 1000; i++)
        ref[i] = i;
    char *json = NULL;
    kerr e = {0};
    assert_int_equal(kdrift_reference_json(s, ref, 1000, NULL, &json, &e), K_OK);
    assert_int_equal(kspec_set_meta(s, "drift_reference", json), K_OK);
    free(json);
    return s;
}

typedef struct {
    int64_t now;
    int calls;
} fake_clock;

static int64_t clock_of(void *ctx)
{
    fake_clock *c = ctx;
    c->calls++;
    return c->now;
}

/* n rows: base, base + 1, … when base >= 1000 (drifted), else base + 5i mod 1000 (200 such
 * rows are an even grid over the reference range: no drift). */
static void observe(kdrift *d, double base, size_t n)
{
    double rows[512];
    assert_true(n <= 512);
    for (size_t i = 0; i < n; i++)
        rows[i] = base < 1000 ? fmod(base + (double)i * 5, 1000) : base + (double)i;
    kdrift_observe(d, rows, rows, 1, 0, n);
}

/* The drift status of feature x (-1 when the window is empty: no sample). */
static int status_of(kdrift *d)
{
    buf b;
    buf_init(&b, 1 << 16);
    kdrift_write(d, 1, "m", 1, &b);
    buf_append(&b, "", 1);
    const char *p = strstr((const char *)b.data, "feature=\"x\"} ");
    int st = p ? (int)strtol(p + strlen("feature=\"x\"} "), NULL, 10) : -1;
    buf_free(&b);
    return st;
}

static void row_window(void **state)
{
    kspec *s = spec_with_reference();
    kdrift *d = NULL;
    kerr e = {0};
    assert_int_equal(kdrift_new(s, 200, 0, &d, &e), K_OK);
    fake_clock c = {0};
    kdrift_set_clock(d, clock_of, &c);
    assert_int_equal(status_of(d), -1);
    observe(d, 5000, 60);
    assert_int_equal(kdrift_len(d), 60);
    assert_int_equal(status_of(d), 2);
    observe(d, 5000, 300);
    observe(d, 0, 200); /* the last 200 rows are normal */
    assert_int_equal(kdrift_len(d), 200);
    assert_int_equal(status_of(d), 0);
    observe(d, 5000, 400); /* more than the window at once: only its last 200 rows stay */
    assert_int_equal(kdrift_len(d), 200);
    assert_int_equal(status_of(d), 2);
    assert_int_equal(c.calls, 0); /* no time window, no clock */
    kdrift_free(d);
    assert_int_equal(kdrift_new(s, 0, 0, &d, &e), K_INVALID);
    kspec_free(s);
}

static void time_window(void **state)
{
    kspec *s = spec_with_reference();
    kdrift *d = NULL;
    kerr e = {0};
    assert_int_equal(kdrift_new(s, 1000, 2, &d, &e), K_OK);
    fake_clock c = {.now = 1000};
    kdrift_set_clock(d, clock_of, &c);
    observe(d, 5000, 400); /* t=1000: drifted */
    assert_int_equal(status_of(d), 2);
    c.now = 1001;
    for (int i = 0; i < 3; i++)
        observe(d, i, 200); /* t=1001: normal; the window is full */
    assert_int_equal(kdrift_len(d), 1000);
    c.now = 1002;
    observe(d, 3, 200); /* the row cap evicts the 200 oldest drifted rows */
    assert_int_equal(kdrift_len(d), 1000);
    assert_int_equal(status_of(d), 2); /* 200 drifted rows left */
    c.now = 1003;                      /* t=1000 is now more than 2 s old */
    assert_int_equal(status_of(d), 0);
    assert_int_equal(kdrift_len(d), 800);
    observe(d, 4, 200);
    assert_int_equal(kdrift_len(d), 1000);
    c.now = 1004;
    assert_int_equal(kdrift_len(d), 1000); /* len only moves on observe and write */
    assert_int_equal(status_of(d), 0);
    assert_int_equal(kdrift_len(d), 400); /* t=1001 left */
    c.now = 1003;                         /* a clock that goes back counts in the last second */
    observe(d, 5000, 200);
    assert_int_equal(kdrift_len(d), 600);
    c.now = 1006; /* t=1003 expired, t=1002 and its rows long gone */
    assert_int_equal(status_of(d), -1);
    assert_int_equal(kdrift_len(d), 0);
    c.now = 1100;
    observe(d, 5000, 300); /* it starts again */
    assert_int_equal(status_of(d), 2);
    for (c.now = 1101; c.now < 1104; c.now++)
        for (int i = 0; i < 5; i++)
            observe(d, i, 200); /* the row cap alone keeps the buckets right */
    assert_int_equal(kdrift_len(d), 1000);
    assert_int_equal(status_of(d), 0);
    c.now += 2; /* 1106: t=1103 is 3 s old */
    assert_int_equal(status_of(d), -1);
    kdrift_free(d);
    kspec_free(s);
}

/* Many seconds with one row each: bucket ring bounded by window_s + 1, long runs stay right. */
static void many_seconds(void **state)
{
    kspec *s = spec_with_reference();
    kdrift *d = NULL;
    kerr e = {0};
    assert_int_equal(kdrift_new(s, 1000, 5, &d, &e), K_OK);
    fake_clock c = {.now = 0};
    kdrift_set_clock(d, clock_of, &c);
    for (int i = 0; i < 10000; i++) {
        c.now = i / 3; /* three rows a second */
        observe(d, (double)(i % 1000), 1);
        size_t len = kdrift_len(d);
        /* seconds now-5..now are kept: at most 18 rows */
        assert_true(len >= 1 && len <= 18);
    }
    kdrift_free(d);
    kspec_free(s);
}

static void no_reference(void **state)
{
    kspec *s = kspec_new(1 << 20);
    s->n_features = 1;
    s->features = &feature;
    kdrift *d = (kdrift *)1;
    kerr e = {0};
    assert_int_equal(kdrift_new(s, 100, 10, &d, &e), K_OK);
    assert_null(d);
    kspec_free(s);
}

/* ---- feedback: the batch path ---- */

static void feedback_batch(void **state)
{
    kfeedback *f = kfeedback_new(0, 0, 0, 0, NULL);
    double v[200];
    for (int i = 0; i < 200; i++)
        v[i] = i;
    kfeedback_remember_rows(f, "req-1", v, 1, 200); /* more than one chunk */
    char id[KFEEDBACK_ID_MAX + 8];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof id, "req-1:%d", i);
        assert_int_equal(kfeedback_label(f, id, i + 0.5, NULL), K_OK);
    }
    assert_int_equal(kfeedback_label(f, "req-1:200", 1, NULL), K_NOTFOUND);
    assert_int_equal(kfeedback_label(f, "req-1:7", 1, NULL), K_EXISTS);
    kfeedback_stats st;
    assert_int_equal(kfeedback_metrics(f, &st), K_OK);
    assert_int_equal(st.n, 200);
    assert_true(fabs(st.mae - 0.5) < 1e-12);
    /* an id that would pass KFEEDBACK_ID_MAX with its row suffix: those rows are ignored */
    char longid[KFEEDBACK_ID_MAX + 1];
    memset(longid, 'a', KFEEDBACK_ID_MAX - 2);
    longid[KFEEDBACK_ID_MAX - 2] = '\0';
    kfeedback_remember_rows(f, longid, v, 1, 20);
    snprintf(id, sizeof id, "%s:9", longid);
    assert_int_equal(kfeedback_label(f, id, 1, NULL), K_OK);
    snprintf(id, sizeof id, "%s:10", longid);
    assert_int_equal(kfeedback_label(f, id, 1, NULL), K_NOTFOUND);
    kfeedback_free(f);
}

/* A full table keeps exactly max_pending live entries, each findable, through many
 * overwrites (entries are not unlinked when overwritten; stale links must end chains). */
static void feedback_overwrite(void **state)
{
    for (size_t pending = 1; pending <= 200; pending = pending * 3 + 1) {
        kfeedback *f = kfeedback_new(pending, 0, 100000, 0, NULL);
        char id[64];
        int n = 5000;
        for (int i = 0; i < n; i++) {
            snprintf(id, sizeof id, "%016llx", /* random-looking, like request ids; they recur */
                     (unsigned long long)(i % 1500 + 1) * 0x9E3779B97F4A7C15ull);
            double v = i;
            kfeedback_remember(f, id, &v, 1);
        }
        size_t found = 0;
        for (int k = 0; k < 1500; k++) {
            snprintf(id, sizeof id, "%016llx", (unsigned long long)(k + 1) * 0x9E3779B97F4A7C15ull);
            kstatus st = kfeedback_label(f, id, 0, NULL);
            assert_true(st == K_OK || st == K_NOTFOUND);
            found += st == K_OK;
        }
        assert_int_equal(found, pending); /* ids of the last 1500 inserts are all distinct */
        kfeedback_stats st;
        assert_int_equal(kfeedback_metrics(f, &st), K_OK);
        /* the newest value of each id was joined: all from the last 1500 inserts */
        assert_true(st.mae >= n - 1500 && st.mae < n);
        kfeedback_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(row_window),     cmocka_unit_test(time_window),
        cmocka_unit_test(many_seconds),   cmocka_unit_test(no_reference),
        cmocka_unit_test(feedback_batch), cmocka_unit_test(feedback_overwrite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
