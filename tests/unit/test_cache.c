/* test_cache.c — the prediction cache: hits and misses, exact-key semantics (NaN payloads and
 * -0.0 fold together, neighbouring doubles do not), TTL expiry, LRU order and the byte budget,
 * statistics, and 8 threads getting and putting at once within the budget. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

#include "serve/cache.h"

#define NF 4

static void row_of(double *row, int i)
{
    for (int j = 0; j < NF; j++)
        row[j] = (double)i * 10.0 + j;
}

static void off_when_no_budget(void **state)
{
    assert_null(kcache_new(0, 0));
    kcache_free(NULL);
}

static void hit_and_miss(void **state)
{
    kcache *c = kcache_new(1 << 20, 0);
    assert_non_null(c);
    double row[NF], v[2] = {0.25, 0.75}, out[2] = {-1, -1};
    row_of(row, 1);
    assert_int_equal(kcache_get(c, row, NF, out, 2), 0);
    assert_true(out[0] == -1); /* untouched on a miss */
    kcache_put(c, row, NF, v, 2);
    assert_int_equal(kcache_get(c, row, NF, out, 2), 1);
    assert_true(out[0] == 0.25 && out[1] == 0.75);
    assert_int_equal(kcache_get(c, row, NF, out, 3), 0); /* other width: not this entry */
    assert_int_equal(kcache_get(c, row, NF - 1, out, 2), 0);
    v[0] = 0.5; /* a put replaces */
    kcache_put(c, row, NF, v, 2);
    assert_int_equal(kcache_get(c, row, NF, out, 2), 1);
    assert_true(out[0] == 0.5);
    uint64_t hits, misses, ev;
    size_t bytes;
    kcache_stats(c, &hits, &misses, &bytes, &ev);
    assert_int_equal(hits, 2);
    assert_int_equal(misses, 3);
    assert_int_equal(ev, 0);
    assert_true(bytes > (NF + 2) * sizeof(double) && bytes < 512);
    kcache_free(c);
}

static double bits_to_double(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

static void exact_keys(void **state)
{
    kcache *c = kcache_new(1 << 20, 0);
    double a[1] = {1.0}, b[1] = {nextafter(1.0, 2.0)}, v[1] = {7}, out[1];
    assert_true(b[0] == 1.0000000000000002);
    kcache_put(c, a, 1, v, 1);
    assert_int_equal(kcache_get(c, b, 1, out, 1), 0);
    assert_int_equal(kcache_get(c, a, 1, out, 1), 1);

    double nan1[2] = {bits_to_double(0x7ff8000000000001ull), 3.0};
    double nan2[2] = {bits_to_double(0xfff0000000abcdefull), 3.0}; /* negative signalling NaN */
    assert_true(isnan(nan1[0]) && isnan(nan2[0]));
    kcache_put(c, nan1, 2, v, 1);
    assert_int_equal(kcache_get(c, nan2, 2, out, 1), 1);
    double nan3[2] = {NAN, 3.0};
    assert_int_equal(kcache_get(c, nan3, 2, out, 1), 1);

    double neg[2] = {-0.0, 5.0}, pos[2] = {0.0, 5.0};
    v[0] = 9;
    kcache_put(c, neg, 2, v, 1);
    assert_int_equal(kcache_get(c, pos, 2, out, 1), 1);
    assert_true(out[0] == 9);
    double inf[2] = {INFINITY, 5.0}, ninf[2] = {-INFINITY, 5.0};
    kcache_put(c, inf, 2, v, 1);
    assert_int_equal(kcache_get(c, ninf, 2, out, 1), 0);
    kcache_free(c);
}

static void sleep_ms(long ms)
{
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, NULL);
}

static void ttl_expiry(void **state)
{
    kcache *c = kcache_new(1 << 20, 50);
    double row[NF], v[1] = {1}, out[1];
    row_of(row, 3);
    kcache_put(c, row, NF, v, 1);
    assert_int_equal(kcache_get(c, row, NF, out, 1), 1);
    sleep_ms(80);
    assert_int_equal(kcache_get(c, row, NF, out, 1), 0);
    size_t bytes;
    kcache_stats(c, NULL, NULL, &bytes, NULL);
    assert_int_equal(bytes, 0);   /* the expired entry was dropped */
    kcache_put(c, row, NF, v, 1); /* and can be stored afresh */
    assert_int_equal(kcache_get(c, row, NF, out, 1), 1);
    kcache_free(c);
}

/* Entry cost as the cache charges it, measured rather than assumed. */
static size_t entry_cost(void)
{
    kcache *c = kcache_new(1 << 20, 0);
    double row[NF], v[1] = {0};
    row_of(row, 0);
    kcache_put(c, row, NF, v, 1);
    size_t bytes;
    kcache_stats(c, NULL, NULL, &bytes, NULL);
    kcache_free(c);
    return bytes;
}

static void put1(kcache *c, int i)
{
    double row[NF], v[1] = {i};
    row_of(row, i);
    kcache_put(c, row, NF, v, 1);
}

static int has(kcache *c, int i)
{
    double row[NF], out[1] = {-1};
    row_of(row, i);
    int hit = kcache_get(c, row, NF, out, 1);
    assert_true(!hit || out[0] == i);
    return hit;
}

/* Budget: 16 shards with room for exactly 3 entries each. Every put keeps the total within
 * the budget; once full, each put into a shard evicts exactly one entry. */
static void budget_respected(void **state)
{
    size_t cost = entry_cost(), budget = 16 * (3 * cost + cost / 2);
    kcache *c = kcache_new(budget, 0);
    int n = 400, live = 0;
    for (int i = 0; i < n; i++) {
        put1(c, i);
        size_t bytes;
        kcache_stats(c, NULL, NULL, &bytes, NULL);
        assert_true(bytes <= budget);
    }
    uint64_t ev;
    size_t bytes;
    kcache_stats(c, NULL, NULL, &bytes, &ev);
    assert_int_equal(bytes, 48 * cost); /* every shard full (400 rows over 16 shards) */
    assert_int_equal(ev, (uint64_t)n - 48);
    for (int i = 0; i < n; i++)
        live += has(c, i);
    assert_int_equal(live, 48);
    kcache_free(c);
}

/* LRU order inside one shard (3 entries of room): a get makes an entry most recent, and a put
 * into a full shard evicts the least recently used. */
static void lru_order(void **state)
{
    size_t cost = entry_cost();
    kcache *c = kcache_new(16 * (3 * cost + cost / 2), 0);
    int r[5], k = 0;
    double row[NF];
    row_of(row, 0);
    int s0 = kcache__shard(c, row, NF);
    for (int i = 0; k < 5; i++) { /* five rows that share row 0's shard */
        row_of(row, i);
        if (kcache__shard(c, row, NF) == s0) r[k++] = i;
    }
    put1(c, r[0]);
    put1(c, r[1]);
    put1(c, r[2]);
    assert_true(has(c, r[0])); /* order now (newest first): r0 r2 r1 */
    put1(c, r[3]);             /* evicts r1 */
    assert_false(has(c, r[1]));
    assert_true(has(c, r[0])); /* r0 r3 r2 */
    assert_true(has(c, r[2])); /* r2 r0 r3 */
    assert_true(has(c, r[3])); /* r3 r2 r0 */
    put1(c, r[4]);             /* evicts r0 */
    assert_false(has(c, r[0]));
    assert_true(has(c, r[2]) && has(c, r[3]) && has(c, r[4]));
    uint64_t ev;
    kcache_stats(c, NULL, NULL, NULL, &ev);
    assert_int_equal(ev, 2);
    kcache_free(c);
}

static void too_big_not_stored(void **state)
{
    kcache *c = kcache_new(16 * 256, 0);
    double row[64] = {0}, v[1] = {1}, out[1];
    kcache_put(c, row, 64, v, 1); /* 64 doubles of key exceed a 256-byte shard */
    assert_int_equal(kcache_get(c, row, 64, out, 1), 0);
    size_t bytes;
    kcache_stats(c, NULL, NULL, &bytes, NULL);
    assert_int_equal(bytes, 0);
    kcache_free(c);
}

typedef struct {
    kcache *c;
    int id;
    int bad;
} worker;

#define BUDGET (64 * 1024)

static void *hammer(void *arg)
{
    worker *w = arg;
    double row[NF], v[2], out[2];
    uint64_t x = 0x9e3779b97f4a7c15ull * (uint64_t)(w->id + 1);
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int k = (int)(x % 3000);
        row_of(row, k);
        if (kcache_get(w->c, row, NF, out, 2)) {
            if (out[0] != k || out[1] != -k) w->bad++;
        } else {
            v[0] = k;
            v[1] = -k;
            kcache_put(w->c, row, NF, v, 2);
        }
        if (i % 1000 == 0) {
            size_t bytes;
            kcache_stats(w->c, NULL, NULL, &bytes, NULL);
            if (bytes > BUDGET) w->bad++;
        }
    }
    return NULL;
}

static void concurrent(void **state)
{
    kcache *c = kcache_new(BUDGET, 1000);
    pthread_t th[8];
    worker w[8];
    for (int i = 0; i < 8; i++) {
        w[i] = (worker){c, i, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].bad, 0);
    }
    uint64_t hits, misses, ev;
    size_t bytes;
    kcache_stats(c, &hits, &misses, &bytes, &ev);
    assert_int_equal(hits + misses, 8 * 20000);
    assert_true(hits > 0 && ev > 0);
    assert_true(bytes <= BUDGET);
    print_message("concurrent: %llu hits, %llu misses, %llu evictions, %zu bytes\n",
                  (unsigned long long)hits, (unsigned long long)misses, (unsigned long long)ev,
                  bytes);
    kcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(off_when_no_budget), cmocka_unit_test(hit_and_miss),
        cmocka_unit_test(exact_keys),         cmocka_unit_test(ttl_expiry),
        cmocka_unit_test(budget_respected),   cmocka_unit_test(lru_order),
        cmocka_unit_test(too_big_not_stored), cmocka_unit_test(concurrent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
