/* test_alerts.c — the exposition reader (labels, escapes, special values, errors with line
 * numbers) and the alert engine on a fake clock: `for:` durations, firing → resolved, group_wait,
 * dedupe, group_interval and repeat_interval, grouping by labels, the derived signals
 * (error_rate, latency_p99 as histogram_quantile over a window, missing_rate) and durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "data/yaml.h"
#include "monitor/alerts.h"
#include "monitor/promtext.h"

/* ---- the exposition reader ------------------------------------------------------------------ */

typedef struct {
    int n;
    char last_name[64], last_label[64];
    double values[16];
} seen;

static void collect(void *ctx, const kprom_sample *s)
{
    seen *x = ctx;
    if (x->n < 16) x->values[x->n] = s->value;
    x->n++;
    snprintf(x->last_name, sizeof x->last_name, "%s", s->name);
    const char *f = kprom_label(s, "feature");
    snprintf(x->last_label, sizeof x->last_label, "%s", f ? f : "");
}

static void reads_samples(void **state)
{
    const char *t = "# HELP a x\n# TYPE a counter\na 1\n\nb{x=\"1\",} +Inf\nc NaN 17\n"
                    "d_e:f{feature=\"q\\\"u\\\\o\\nte\", y=\"\"} -2.5e-3\n";
    seen x = {0};
    assert_int_equal(kprom_parse(t, strlen(t), collect, &x, NULL), K_OK);
    assert_int_equal(x.n, 4);
    assert_true(x.values[0] == 1 && isinf(x.values[1]) && isnan(x.values[2]));
    assert_true(x.values[3] == -2.5e-3);
    assert_string_equal(x.last_name, "d_e:f");
    assert_string_equal(x.last_label, "q\"u\\o\nte");
}

static void refuses_malformed(void **state)
{
    const char *bad[] = {"a\n",    "a{x=1} 2\n", "a{x=\"1\" 2\n", "a 1 2 3\n", "a{x=\"\\t\"} 1\n",
                         "9a 1\n", "a nan(1)\n", "a 0x10\n",      "a 1 1.5\n", "a{:x=\"1\"} 1\n"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char text[64];
        snprintf(text, sizeof text, "ok 1\n%s", bad[i]);
        seen x = {0};
        kerr e = {0};
        assert_int_equal(kprom_parse(text, strlen(text), collect, &x, &e), K_FORMAT);
        assert_non_null(strstr(e.msg, "line 2:"));
    }
}

/* ---- the engine ----------------------------------------------------------------------------- */

typedef struct {
    int n_bodies, n_events;
    json_object *last; /* the last body */
} sink_log;

static void on_notify(void *ctx, const char *body, size_t len)
{
    sink_log *l = ctx;
    json_object_put(l->last);
    l->last = json_tokener_parse(body);
    assert_non_null(l->last);
    l->n_bodies++;
}

static void on_event(void *ctx, int level, const char *msg)
{
    ((sink_log *)ctx)->n_events++;
}

static kalerts *engine(const char *yaml)
{
    json_object *doc;
    kerr e = {0};
    assert_int_equal(yaml_parse(yaml, strlen(yaml), &doc, &e), K_OK);
    kalerts *a = NULL;
    kstatus st = kalerts_new(doc, &a, &e);
    if (st) fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(st, K_OK);
    json_object_put(doc);
    return a;
}

static void eval(kalerts *a, const char *text, double now, sink_log *l)
{
    kalerts_sink s = {on_event, on_notify, l};
    assert_int_equal(kalerts_eval(a, text, strlen(text), now, &s, NULL), K_OK);
}

static const char *status_of(json_object *body)
{
    json_object *v;
    return json_object_object_get_ex(body, "status", &v) ? json_object_get_string(v) : "";
}

static int n_alerts(json_object *body)
{
    json_object *v;
    return json_object_object_get_ex(body, "alerts", &v) ? (int)json_object_array_length(v) : -1;
}

static void for_firing_resolved_repeat(void **state)
{
    kalerts *a =
        engine("interval: 1s\ngroup_wait: 2s\ngroup_interval: 5s\nrepeat_interval: 60s\n"
               "rules:\n  - {alert: Drift, metric: d, op: '>=', threshold: 0.25, for: 10s}\n");
    sink_log l = {0};
    const char *hi = "d{feature=\"a\"} 0.3\nd{feature=\"b\"} 0.1\n", *lo = "d{feature=\"a\"} 0.2\n";
    eval(a, hi, 100, &l);
    eval(a, hi, 105, &l);
    assert_int_equal(l.n_bodies, 0); /* pending */
    eval(a, lo, 106, &l);            /* dropped before `for` passed: never fires */
    eval(a, hi, 107, &l);
    eval(a, hi, 116, &l);
    assert_int_equal(l.n_bodies, 0);
    eval(a, hi, 117, &l); /* 10 s pending: firing, but group_wait is 2 s */
    assert_int_equal(l.n_bodies, 0);
    assert_int_equal(l.n_events, 1);
    eval(a, hi, 119, &l);
    assert_int_equal(l.n_bodies, 1);
    assert_string_equal(status_of(l.last), "firing");
    assert_int_equal(n_alerts(l.last), 1);
    for (int t = 120; t < 179; t += 5)
        eval(a, hi, t, &l);
    assert_int_equal(l.n_bodies, 1); /* unchanged: deduplicated */
    eval(a, hi, 179, &l);
    assert_int_equal(l.n_bodies, 2); /* repeat_interval */
    eval(a, lo, 180, &l);            /* resolved, but group_interval not over yet */
    assert_int_equal(l.n_bodies, 2);
    eval(a, lo, 184, &l);
    assert_int_equal(l.n_bodies, 3);
    assert_string_equal(status_of(l.last), "resolved");
    eval(a, lo, 300, &l);
    assert_int_equal(l.n_bodies, 3); /* gone */
    json_object_put(l.last);
    kalerts_free(a);
}

static void groups_by_labels(void **state)
{
    kalerts *a = engine("group_wait: 0s\ngroup_by: [alertname, model]\n"
                        "rules:\n  - {alert: Hi, metric: v, threshold: 1}\n");
    sink_log l = {0};
    eval(a, "v{model=\"a\",f=\"1\"} 2\nv{model=\"a\",f=\"2\"} 3\nv{model=\"b\",f=\"1\"} 5\n", 10,
         &l);
    assert_int_equal(l.n_bodies, 2); /* model a (2 alerts) and model b (1) */
    buf b;
    buf_init(&b, 1 << 20);
    kalerts_write_json(a, &b);
    buf_append(&b, "", 1);
    json_object *o = json_tokener_parse((char *)b.data), *list;
    assert_true(json_object_object_get_ex(o, "alerts", &list));
    assert_int_equal(json_object_array_length(list), 3);
    json_object_put(o);
    buf_free(&b);
    json_object_put(l.last);
    kalerts_free(a);
}

static void error_rate_and_latency(void **state)
{
    kalerts *a =
        engine("group_wait: 0s\nrules:\n"
               "  - {alert: Err, metric: error_rate, threshold: 0.2, window: 10s}\n"
               "  - {alert: Slow, metric: latency_p99, threshold: 0.05, window: 10s}\n"
               "  - {alert: Miss, metric: missing_rate, op: '>=', threshold: 0.5, window: 10s}\n");
    sink_log l = {0};
    const char *t0 =
        "model_requests_total{model=\"m\",version=\"1\",status=\"200\"} 100\n"
        "model_request_latency_seconds_bucket{model=\"m\",version=\"1\",le=\"0.01\"} 100\n"
        "model_request_latency_seconds_bucket{model=\"m\",version=\"1\",le=\"0.1\"} 100\n"
        "model_request_latency_seconds_bucket{model=\"m\",version=\"1\",le=\"+Inf\"} 100\n"
        "kiln_feature_missing_total{model=\"m\",version=\"1\",feature=\"f\"} 0\n"
        "kiln_predicted_rows_total{model=\"m\",version=\"1\"} 100\n";
    /* 10 s later: 100 more requests, 30 failed; 98 under 10 ms, 2 between 10 and 100 ms;
     * 60 of 100 new rows missing f */
    const char *t1 =
        "model_requests_total{model=\"m\",version=\"1\",status=\"200\"} 170\n"
        "model_requests_total{model=\"m\",version=\"1\",status=\"500\"} 30\n"
        "model_request_latency_seconds_bucket{model=\"m\",version=\"1\",le=\"0.01\"} 198\n"
        "model_request_latency_seconds_bucket{model=\"m\",version=\"1\",le=\"0.1\"} 200\n"
        "model_request_latency_seconds_bucket{model=\"m\",version=\"1\",le=\"+Inf\"} 200\n"
        "kiln_feature_missing_total{model=\"m\",version=\"1\",feature=\"f\"} 60\n"
        "kiln_predicted_rows_total{model=\"m\",version=\"1\"} 200\n";
    eval(a, t0, 0, &l);
    eval(a, t0, 0.5, &l);
    assert_int_equal(l.n_bodies, 0);
    eval(a, t1, 10.5, &l);
    assert_int_equal(l.n_bodies, 3);
    buf b;
    buf_init(&b, 1 << 20);
    kalerts_write_json(a, &b);
    buf_append(&b, "", 1);
    json_object *o = json_tokener_parse((char *)b.data), *list;
    assert_true(json_object_object_get_ex(o, "alerts", &list));
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *al = json_object_array_get_idx(list, i), *lab, *name, *value;
        json_object_object_get_ex(al, "labels", &lab);
        json_object_object_get_ex(lab, "alertname", &name);
        json_object_object_get_ex(al, "value", &value);
        const char *n = json_object_get_string(name);
        double v = json_object_get_double(value);
        /* p99: rank 99 of 100 falls in (0.01, 0.1] holding 2: 0.01 + 0.09 * (99 - 98) / 2 */
        double want = !strcmp(n, "Err") ? 0.3 : !strcmp(n, "Slow") ? 0.055 : 0.6;
        assert_true(fabs(v - want) < 1e-12);
    }
    json_object_put(o);
    buf_free(&b);
    json_object_put(l.last);
    kalerts_free(a);
}

static void durations(void **state)
{
    assert_true(kalerts_duration("30s") == 30);
    assert_true(kalerts_duration("1h30m") == 5400);
    assert_true(kalerts_duration("250ms") == 0.25);
    assert_true(kalerts_duration("2d") == 172800);
    assert_true(kalerts_duration("15") == 15);
    assert_true(kalerts_duration("5 minutes") < 0);
    assert_true(kalerts_duration("-5s") < 0);
    assert_true(kalerts_duration("s") < 0);
    assert_true(kalerts_duration("") < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_samples),
        cmocka_unit_test(refuses_malformed),
        cmocka_unit_test(for_firing_resolved_repeat),
        cmocka_unit_test(groups_by_labels),
        cmocka_unit_test(error_rate_and_latency),
        cmocka_unit_test(durations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
