/* test_ratelimit.c — the token buckets of ratelimit.c with an injected clock: strict parsing of
 * rates, bursts and Redis URLs; refill arithmetic; the burst; Retry-After values; a key's own
 * rate over its role's; the memory bound (LRU eviction); metrics; and 8 threads hammering one
 * bucket never getting more than the budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "serve/ratelimit.h"

static _Atomic int64_t fake_now; /* µs */

static int64_t fake_clock(void *ctx)
{
    return atomic_load(&fake_now);
}

static krl *limiter(const char *per_address, const char *predictor, const char *burst,
                    size_t max_buckets)
{
    atomic_store(&fake_now, 1000000);
    krl_options o = {.per_address = per_address,
                     .per_role = {NULL, NULL, predictor, NULL, NULL},
                     .burst = burst,
                     .max_buckets = max_buckets,
                     .clock_us = fake_clock};
    krl *rl = NULL;
    kerr e = {0};
    assert_int_equal(krl_new(&o, &rl, &e), K_OK);
    return rl;
}

static void parses_rates_strictly(void **state)
{
    double r;
    kerr e = {0};
    assert_int_equal(krl_parse_rate("x", "100/s", &r, &e), K_OK);
    assert_true(r == 100);
    assert_int_equal(krl_parse_rate("x", "120/m", &r, &e), K_OK);
    assert_true(r == 2);
    assert_int_equal(krl_parse_rate("x", "1.5/h", &r, &e), K_OK);
    assert_true(r > 0.000416 && r < 0.000417);
    assert_int_equal(krl_parse_rate("x", "", &r, &e), K_OK);
    assert_true(r == 0);
    const char *bad[] = {"100",  "100/d",   "0/s",   "-1/s",  "1e3/s",  " 5/s", "5/s ", ".5/s",
                         "5./s", "1.2.3/s", "inf/s", "nan/s", "0x10/s", "/s",   "5 /s"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        assert_int_equal(krl_parse_rate("rate_limit_viewer", bad[i], &r, &e), K_INVALID);
        assert_non_null(strstr(e.msg, "rate_limit_viewer"));
    }
}

static void refuses_bad_settings(void **state)
{
    const char *bursts[] = {"0", "-1", "2.5", "s", "1m", "0s", "1 s"};
    for (size_t i = 0; i < sizeof bursts / sizeof *bursts; i++) {
        krl_options o = {.burst = bursts[i]};
        krl *rl = NULL;
        kerr e = {0};
        assert_int_equal(krl_new(&o, &rl, &e), K_INVALID);
        assert_null(rl);
        assert_non_null(strstr(e.msg, "rate_limit_burst"));
    }
    const char *urls[] = {"redis://", "redis://h:0",        "redis://h:70000",
                          "h:12x",    "redis://:pw@h:6379", "redis://h:6379/x",
                          "[::1"};
    for (size_t i = 0; i < sizeof urls / sizeof *urls; i++) {
        krl_options o = {.redis = urls[i]};
        krl *rl = NULL;
        kerr e = {0};
        assert_int_equal(krl_new(&o, &rl, &e), K_INVALID);
        assert_non_null(strstr(e.msg, "rate_limit_redis"));
    }
    krl_options o = {.per_role = {NULL, "fast"}};
    krl *rl = NULL;
    kerr e = {0};
    assert_int_equal(krl_new(&o, &rl, &e), K_INVALID);
    assert_non_null(strstr(e.msg, "rate_limit_viewer"));
}

static int take_n(krl *rl, const char *client, int n)
{
    int ok = 0;
    krl_denial d;
    for (int i = 0; i < n; i++)
        ok += krl_allow_address(rl, client, &d);
    return ok;
}

static void burst_then_refill(void **state)
{
    krl *rl = limiter("10/s", NULL, NULL, 0); /* burst: 1 s worth = 10 */
    assert_int_equal(take_n(rl, "10.0.0.1", 25), 10);
    atomic_fetch_add(&fake_now, 100000); /* 0.1 s: one token */
    assert_int_equal(take_n(rl, "10.0.0.1", 5), 1);
    atomic_fetch_add(&fake_now, 350000); /* 0.35 s: 3.5 tokens */
    assert_int_equal(take_n(rl, "10.0.0.1", 5), 3);
    atomic_fetch_add(&fake_now, 60000000); /* long idle: full again, never more than the burst */
    assert_int_equal(take_n(rl, "10.0.0.1", 50), 10);
    assert_int_equal(take_n(rl, "10.0.0.2", 50), 10); /* another address: its own bucket */
    krl_free(rl);

    rl = limiter("10/s", NULL, "3s", 0); /* 3 s worth */
    assert_int_equal(take_n(rl, "a", 100), 30);
    krl_free(rl);
    rl = limiter("10/s", NULL, "4", 0); /* absolute */
    assert_int_equal(take_n(rl, "a", 100), 4);
    krl_free(rl);
    rl = limiter("30/m", NULL, NULL, 0); /* 0.5/s: 1 s worth rounds up to one request */
    assert_int_equal(take_n(rl, "a", 10), 1);
    atomic_fetch_add(&fake_now, 2000000);
    assert_int_equal(take_n(rl, "a", 10), 1);
    krl_free(rl);
}

static void retry_after_in_whole_seconds(void **state)
{
    krl *rl = limiter("10/s", NULL, NULL, 0);
    krl_denial d;
    take_n(rl, "a", 10);
    assert_int_equal(krl_allow_address(rl, "a", &d), 0);
    assert_int_equal(d.retry_after_s, 1); /* 0.1 s away: rounded up to 1 */
    assert_non_null(strstr(d.what, "address a may make 10/s"));
    krl_free(rl);

    rl = limiter("6/m", NULL, NULL, 0); /* one every 10 s */
    assert_int_equal(krl_allow_address(rl, "a", &d), 1);
    assert_int_equal(krl_allow_address(rl, "a", &d), 0);
    assert_int_equal(d.retry_after_s, 10);
    atomic_fetch_add(&fake_now, 2500000);
    assert_int_equal(krl_allow_address(rl, "a", &d), 0);
    assert_int_equal(d.retry_after_s, 8); /* 7.5 s → 8 */
    atomic_fetch_add(&fake_now, 7500000);
    assert_int_equal(krl_allow_address(rl, "a", &d), 1);
    krl_free(rl);

    rl = limiter(NULL, NULL, NULL, 0);
    krl_limit lim = {.per_s = 1.0 / 3600, .burst = 1};
    assert_int_equal(krl_take(rl, "x", &lim, &d), 1);
    assert_int_equal(krl_take(rl, "x", &lim, &d), 0);
    assert_int_equal(d.retry_after_s, 3600);
    krl_free(rl);
}

static void key_rate_overrides_role(void **state)
{
    krl *rl = limiter(NULL, "5/s", NULL, 0);
    krl_denial d;
    int ok = 0;
    for (int i = 0; i < 20; i++)
        ok += krl_allow_key(rl, "app", KROLE_PREDICTOR, "", &d);
    assert_int_equal(ok, 5); /* the role default */
    assert_non_null(strstr(d.what, "key 'app' may make 5/s"));
    ok = 0;
    for (int i = 0; i < 20; i++)
        ok += krl_allow_key(rl, "bulk", KROLE_PREDICTOR, "12/s", &d);
    assert_int_equal(ok, 12); /* the key's own rate */
    ok = 0;
    for (int i = 0; i < 20; i++)
        ok += krl_allow_key(rl, "dash", KROLE_VIEWER, "", &d);
    assert_int_equal(ok, 20); /* viewers: no default, unlimited */
    ok = 0;
    for (int i = 0; i < 20; i++)
        ok += krl_allow_address(rl, "127.0.0.1", &d);
    assert_int_equal(ok, 20); /* no per-address limit */
    buf b;
    buf_init(&b, 1 << 16);
    krl_write_metrics(rl, &b);
    buf_append(&b, "", 1);
    assert_non_null(strstr((char *)b.data, "kiln_rate_limited_total{scope=\"key\"} 23\n"));
    assert_non_null(strstr((char *)b.data, "kiln_rate_limited_total{scope=\"address\"} 0\n"));
    assert_null(strstr((char *)b.data, "redis")); /* local: no Redis series */
    buf_free(&b);
    assert_int_equal(krl_allow_key(NULL, "x", KROLE_ADMIN, "1/s", &d), 1); /* no limiter */
    krl_free(rl);
}

static void memory_is_bounded(void **state)
{
    krl *rl = limiter("1/s", NULL, NULL, 256); /* 64 stripes × 4 */
    char addr[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(addr, sizeof addr, "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        take_n(rl, addr, 1);
        assert_true(krl_buckets(rl) <= 256);
    }
    assert_true(krl_buckets(rl) >= 200); /* the stripes fill up evenly */
    /* The most recently used buckets survive: the last address is still empty. */
    assert_int_equal(take_n(rl, addr, 1), 0);
    buf b;
    buf_init(&b, 1 << 16);
    krl_write_metrics(rl, &b);
    buf_append(&b, "", 1);
    assert_non_null(strstr((char *)b.data, "kiln_rate_limit_evictions_total "));
    buf_free(&b);
    krl_free(rl);
}

typedef struct {
    krl *rl;
    int allowed;
    int advance; /* move the clock forward 10 µs per request */
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    krl_denial d;
    for (int i = 0; i < 20000; i++) {
        w->allowed += krl_allow_key(w->rl, "shared", KROLE_PREDICTOR, "1000/s", &d);
        if (w->advance) atomic_fetch_add(&fake_now, 10);
    }
    return NULL;
}

/* 8 threads × 20000 requests on one bucket: with the clock frozen exactly the burst gets
 * through; with the clock moving, never more than burst + rate × elapsed. */
static void threads_never_exceed_the_budget(void **state)
{
    for (int advance = 0; advance < 2; advance++) {
        krl *rl = limiter(NULL, NULL, NULL, 0);
        int64_t start = atomic_load(&fake_now);
        pthread_t t[8];
        worker w[8];
        for (int i = 0; i < 8; i++) {
            w[i] = (worker){rl, 0, advance};
            pthread_create(&t[i], NULL, hammer, &w[i]);
        }
        int total = 0;
        for (int i = 0; i < 8; i++) {
            pthread_join(t[i], NULL);
            total += w[i].allowed;
        }
        double elapsed_s = (double)(atomic_load(&fake_now) - start) / 1e6;
        double budget = 1000 + 1000 * elapsed_s;
        printf("advance=%d: %d allowed, budget %.1f (elapsed %.3f s of fake time)\n", advance,
               total, budget, elapsed_s);
        if (!advance) assert_int_equal(total, 1000);
        assert_true(total <= budget + 1e-9);
        assert_true(total >= budget - 2); /* a token bucket wastes nothing while it is hammered */
        krl_free(rl);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parses_rates_strictly),
        cmocka_unit_test(refuses_bad_settings),
        cmocka_unit_test(burst_then_refill),
        cmocka_unit_test(retry_after_in_whole_seconds),
        cmocka_unit_test(key_rate_overrides_role),
        cmocka_unit_test(memory_is_bounded),
        cmocka_unit_test(threads_never_exceed_the_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
