/* test_num.c — number parsing must give exactly strtod's correctly rounded double (the fast
 * paths included), and CSV splitting must follow RFC 4180. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"
#include "data/csv.h"

static uint64_t rng_state = 88172645463325252ull;

static uint64_t next_u64(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* Random doubles printed with 1..19 significant digits and in every exponent range. */
static void test_parse_matches_strtod(void **state)
{
    long mismatches = 0;
    char text[64];
    for (int i = 0; i < 1000000; i++) {
        uint64_t r = next_u64();
        double v;
        if (i % 2) {
            memcpy(&v, &r, sizeof v);
            if (!isfinite(v)) continue;
        } else {
            v = ((double)(r >> 11) / 9007199254740992.0 - 0.5) * pow(10, (int)(r % 50) - 25);
        }
        snprintf(text, sizeof text, "%.*g", 1 + (int)(next_u64() % 19), v);
        double want = strtod(text, NULL), got;
        if (!num_parse_double(text, strlen(text), &got) || memcmp(&want, &got, sizeof got)) {
            if (mismatches++ < 5) printf("mismatch: %s -> %a, strtod %a\n", text, got, want);
        }
    }
    printf("max_mismatches=%ld over 1e6 numbers\n", mismatches);
    assert_int_equal(mismatches, 0);
}

/* Fixed-point text as CSV writers produce it (%.Nf, leading zeros, signs) and edge cases of
 * the fast paths: 2^53 and 19-digit mantissas, exponents at the exact-power limits, halfway
 * points between doubles, subnormals and signed zero. */
static void test_parse_fixed_and_edges(void **state)
{
    static const char *const edges[] = {"9007199254740992",
                                        "9007199254740993",
                                        "9007199254740995",
                                        "18446744073709551615",
                                        "9999999999999999999",
                                        "1e22",
                                        "1e23",
                                        "9007199254740993e22",
                                        "1.7976931348623157e308",
                                        "4.9e-324",
                                        "2.2250738585072011e-308",
                                        "-0",
                                        "-0.000000",
                                        "+000123.450000",
                                        "0.1",
                                        "2.5e-23",
                                        "1234567890123456789e-27",
                                        "8.98846567431158e307",
                                        "1.00000000000000011102230246251565404236316680908203125",
                                        "0.500000000000000166533453693773481063544750213623046875"};
    for (size_t i = 0; i < sizeof edges / sizeof *edges; i++) {
        double want = strtod(edges[i], NULL), got;
        assert_true(num_parse_double(edges[i], strlen(edges[i]), &got));
        assert_memory_equal(&want, &got, sizeof got);
    }
    char text[64];
    long mismatches = 0;
    for (int i = 0; i < 1000000; i++) {
        uint64_t r = next_u64();
        double v = ((double)(r >> 11) / 9007199254740992.0 - 0.5) * pow(10, (int)(r % 12) - 4);
        snprintf(text, sizeof text, "%.*f", (int)(next_u64() % 10), v);
        double want = strtod(text, NULL), got;
        if (!num_parse_double(text, strlen(text), &got) || memcmp(&want, &got, sizeof got))
            if (mismatches++ < 5) printf("mismatch: %s -> %a, strtod %a\n", text, got, want);
    }
    assert_int_equal(mismatches, 0);
}

static void test_parse_forms(void **state)
{
    double v;
    assert_true(num_parse_double(" 1.5 ", 5, &v) && v == 1.5);
    assert_true(num_parse_double("-2e3", 4, &v) && v == -2000);
    assert_true(num_parse_double("NaN", 3, &v) && isnan(v));
    assert_true(num_parse_double("12345678901234567890123", 23, &v) &&
                v == 12345678901234567890123.0);
    assert_false(num_parse_double("1.5x", 4, &v));
    assert_false(num_parse_double("0x10", 4, &v));
    assert_false(num_parse_double("", 0, &v));
    assert_false(num_parse_double("1e", 2, &v));
    assert_false(num_parse_double("--1", 3, &v));
    char out[32];
    num_format_double(0.1, out);
    assert_true(strtod(out, NULL) == 0.1);
}

/* The shortest form parses back to the same double and is as short as %.15g/%.16g allow. */
/* num_scan_double reads a number at the front of a buffer and says where it ends; what it
 * cannot convert exactly on its own (or is no plain number) gives NULL. */
static void test_scan_prefix(void **state)
{
    const char *text = "-12.5e1,0.000123456789,7\n12345678901234567890,000000000000000000001.5,x";
    const char *end = text + strlen(text), *p;
    double v;
    assert_non_null(p = num_scan_double(text, end, &v));
    assert_true(*p == ',' && v == -125);
    assert_non_null(p = num_scan_double(p + 1, end, &v));
    assert_true(*p == ',' && v == strtod("0.000123456789", NULL));
    assert_non_null(p = num_scan_double(p + 1, end, &v));
    assert_true(*p == '\n' && v == 7);
    assert_null(num_scan_double(p + 1, end, &v)); /* 20 significant digits: strtod's job */
    p = strchr(p + 1, ',') + 1;
    assert_non_null(p = num_scan_double(p, end, &v)); /* leading zeros are not significant */
    assert_true(*p == ',' && v == 1.5);
    assert_null(num_scan_double(p + 1, end, &v));
    assert_non_null(p = num_scan_double(text + 1, text + 3, &v)); /* stops at `end` */
    assert_true(p == text + 3 && v == 12);
}

static void test_format_shortest(void **state)
{
    char out[32];
    struct {
        double v;
        const char *want;
    } fixed[] = {{0.1, "0.1"},
                 {1.5, "1.5"},
                 {-2, "-2"},
                 {100, "100"},
                 {1e-5, "1e-05"},
                 {0.0001, "0.0001"},
                 {123456789012345678.0, "1.2345678901234568e+17"},
                 {0.9881393038398942, "0.9881393038398942"},
                 {1.0 / 3, "0.3333333333333333"},
                 {9.999999999999999e22, "1e+23"},
                 {0, "0"}};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        num_format_shortest(fixed[i].v, out);
        assert_string_equal(out, fixed[i].want);
    }
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v;
        memcpy(&v, &x, sizeof v);
        if (!isfinite(v)) continue;
        int n = num_format_shortest(v, out);
        char *end;
        double back = strtod(out, &end);
        if (back != v || end != out + n) fail_msg("%.17g formatted as %s", v, out);
        char g15[32];
        snprintf(g15, sizeof g15, "%.15g", v);
        if (strtod(g15, NULL) == v && strlen(out) > strlen(g15) + 4)
            fail_msg("%s is not short (%%.15g gives %s)", out, g15);
    }
}

static void test_csv_split(void **state)
{
    const char *text = "a,\"b \"\"q\"\"\",c\r\n1,,3\n\"x\ny\",2";
    const char *pos = text, *end = text + strlen(text);
    csv_record r;
    csv_record_init(&r);
    kerr e = {0};
    assert_int_equal(csv_split(&pos, end, &r, &e), 1);
    assert_int_equal(r.n, 3);
    assert_true(r.fields[1].len == 5 && memcmp(r.fields[1].p, "b \"q\"", 5) == 0);
    assert_true(r.fields[2].len == 1 && r.fields[2].p[0] == 'c'); /* CR dropped */
    assert_int_equal(csv_split(&pos, end, &r, &e), 1);
    assert_true(r.n == 3 && r.fields[1].len == 0);
    assert_int_equal(csv_split(&pos, end, &r, &e), 1);
    assert_true(r.n == 2 && r.fields[0].len == 3 && r.fields[0].p[1] == '\n');
    assert_int_equal(csv_split(&pos, end, &r, &e), 0);
    const char *bad = "\"unterminated,1\n";
    pos = bad;
    assert_int_equal(csv_split(&pos, bad + strlen(bad), &r, &e), -1);
    assert_true(strstr(e.msg, "unterminated") != NULL);
    csv_record_free(&r);
}

static void test_csv_quote(void **state)
{
    buf b;
    buf_init(&b, 1024);
    assert_int_equal(csv_append_field(&b, "plain"), K_OK);
    assert_int_equal(csv_append_field(&b, ",a\"b"), K_OK);
    assert_string_equal((const char *)b.data, "plain\",a\"\"b\"");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_matches_strtod),
        cmocka_unit_test(test_parse_fixed_and_edges),
        cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_scan_prefix),
        cmocka_unit_test(test_format_shortest),
        cmocka_unit_test(test_csv_split),
        cmocka_unit_test(test_csv_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
