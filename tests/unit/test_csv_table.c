/* test_csv_table.c — the CSV column reader (data/csv_table.h) on small files: values, missing
 * values, a text column, errors with exact line numbers, and the same results with the fast
 * path off, with several threads and with tiny blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/csv_table.h"

/* Writes text to a fresh temporary file; its path goes to path (64 bytes). */
static void write_file(char *path, const char *text)
{
    snprintf(path, 64, "/tmp/kiln-csv-table-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t len = strlen(text);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* Opens and loads text keeping every column; returns the table (NULL on failure, with e). */
static csv_table *load_text(const char *text, const csv_table_opts *o, int threads, kerr *e)
{
    char path[64];
    write_file(path, text);
    csv_table *t = NULL;
    if (csv_table_open(path, o, &t, e) == K_OK) {
        for (int c = 0; c < csv_table_n_cols(t); c++)
            csv_table_keep(t, c);
        if (csv_table_load(t, threads, e)) {
            csv_table_free(t);
            t = NULL;
        }
    }
    unlink(path);
    return t;
}

static void test_values_and_missing(void **state)
{
    kerr e = {0};
    csv_table *t = load_text("a,b,c\r\n1,,NA\r\n\r\n-2.5,N/A,1e400\r\n\"3\",4,5", NULL, 1, &e);
    assert_non_null(t);
    assert_int_equal(csv_table_n_cols(t), 3);
    assert_string_equal(csv_table_name(t, 2), "c");
    assert_int_equal(csv_table_find(t, "b"), 1);
    assert_int_equal(csv_table_find(t, "z"), -1);
    assert_int_equal(csv_table_rows(t), 3);
    const double *a = csv_table_values(t, 0), *b = csv_table_values(t, 1);
    const double *c = csv_table_values(t, 2);
    assert_true(a[0] == 1 && a[1] == -2.5 && a[2] == 3);
    assert_true(isnan(b[0]) && isnan(b[1]) && b[2] == 4);
    assert_true(isnan(c[0]) && isnan(c[1]) && c[2] == 5);
    assert_int_equal(csv_table_col_flags(t, 2)->inf, 1);
    assert_int_equal(csv_table_col_flags(t, 2)->text, 0);
    assert_int_equal(csv_table_col_flags(t, 1)->inf, 0);
    csv_table_free(t);
}

static void test_text_column_and_skipped(void **state)
{
    char path[64];
    write_file(path, "x,name,y\n1,alice,2\n\n3,bob,4\n5,\"c,d\",6\n");
    csv_table *t = NULL;
    kerr e = {0};
    assert_int_equal(csv_table_open(path, NULL, &t, &e), K_OK);
    csv_table_keep(t, 1);
    csv_table_keep(t, 2);
    csv_table_keep(t, 2);
    assert_int_equal(csv_table_kept(t, 0), 0);
    assert_int_equal(csv_table_load(t, 2, &e), K_OK);
    assert_null(csv_table_values(t, 0));
    assert_null(csv_table_col_flags(t, 0));
    const csv_table_flags *f = csv_table_col_flags(t, 1);
    assert_int_equal(f->text, 1);
    assert_string_equal(f->sample, "alice");
    assert_int_equal(f->sample_line, 2);
    assert_true(isnan(csv_table_values(t, 1)[1]));
    assert_true(csv_table_values(t, 2)[2] == 6);
    assert_int_equal(csv_table_rows(t), 3);
    assert_int_equal(csv_table_load(t, 1, &e), K_INVALID); /* once only */
    csv_table_free(t);
    unlink(path);
}

/* The message of a failed open or load of text. */
static const char *error_of(const char *text, kerr *e)
{
    csv_table *t = load_text(text, NULL, 2, e);
    assert_null(t);
    const char *msg = strstr(e->msg, " "); /* past the temporary path */
    return msg ? msg : e->msg;
}

static void test_errors_with_lines(void **state)
{
    kerr e = {0};
    assert_string_equal(error_of("a,b\n1,2\n\n3\n", &e), " line 4: has 1 fields, the header has 2");
    assert_int_equal(e.code, K_FORMAT);
    assert_string_equal(error_of("a,b\n1,2\n\"3,4\n", &e), " line 3: unterminated quoted field");
    assert_string_equal(error_of("a,b\r\n1,2\r\n\"3\"x,4\r\n", &e),
                        " line 3: unexpected text after a closing quote");
    /* a bare CR after a quoted field does not end the record (it did: a block then held more
     * records than lines, past its columns' room) */
    assert_string_equal(error_of("v\n1\n\"1\"\r\"2\"\r\"3\"\n", &e),
                        " line 3: unexpected text after a closing quote");
    assert_string_equal(error_of("", &e), " is empty (a header row is required)");
    assert_string_equal(error_of("a,b,a\n1,2,3\n", &e), " the header names column 'a' twice");
    csv_table *t = NULL;
    assert_int_equal(csv_table_open("/nonexistent/x.csv", NULL, &t, &e), K_IO);
    assert_null(t);
    assert_non_null(strstr(e.msg, "cannot open /nonexistent/x.csv"));
}

static void test_header_only(void **state)
{
    kerr e = {0};
    csv_table *t = load_text("a,b\n", NULL, 1, &e);
    assert_non_null(t);
    assert_int_equal(csv_table_rows(t), 0);
    csv_table_free(t);
}

/* An infinity in one block and the first text in a later one: both flags stay (the text's
 * block once replaced the flags, inf included). */
static void test_flags_across_blocks(void **state)
{
    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof text, "v\n1e400\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "1.5\n");
    snprintf(text + n, sizeof text - n, "x\n");
    kerr e = {0};
    csv_table_opts tiny = {.block_size = 64};
    csv_table *t = load_text(text, &tiny, 2, &e);
    assert_non_null(t);
    assert_int_equal(csv_table_col_flags(t, 0)->inf, 1);
    assert_int_equal(csv_table_col_flags(t, 0)->text, 1);
    assert_int_equal(csv_table_col_flags(t, 0)->sample_line, 103);
    csv_table_free(t);
}

/* Compares two loads of the same file bit for bit (NaN == NaN). */
static void assert_same(const csv_table *a, const csv_table *b)
{
    assert_int_equal(csv_table_rows(a), csv_table_rows(b));
    for (int c = 0; c < csv_table_n_cols(a); c++) {
        const double *x = csv_table_values(a, c), *y = csv_table_values(b, c);
        for (size_t i = 0; i < csv_table_rows(a); i++)
            assert_true((isnan(x[i]) && isnan(y[i])) || memcmp(&x[i], &y[i], sizeof x[i]) == 0);
        const csv_table_flags *f = csv_table_col_flags(a, c), *g = csv_table_col_flags(b, c);
        assert_int_equal(f->text, g->text);
        assert_int_equal(f->inf, g->inf);
        assert_string_equal(f->sample, g->sample);
        assert_int_equal(f->sample_line, g->sample_line);
    }
}

/* Quoted fields, blank lines and CRLF (csv_split) between plain records (the fast path); a
 * text column, missing values, -0 and numbers past the fast path's 19 digits. */
static void test_fast_path_off_is_equal(void **state)
{
    static char text[1 << 17];
    size_t n = (size_t)snprintf(text, sizeof text, "a,b,c,d\n");
    for (int i = 0; i < 1500; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "%s%d.%d%s,%s,-0,%s%s", i % 7 ? "" : "\"",
                              i, i % 10, i % 7 ? "" : "\"", i % 5 ? "1e-3" : "NA",
                              i % 11 ? "12345678901234567890123" : "x", i % 13 ? "\n" : "\r\n\n");
    kerr e = {0};
    csv_table_opts slow = {.no_fast_path = 1}, tiny = {.block_size = 100};
    csv_table *a = load_text(text, NULL, 1, &e), *b = load_text(text, &slow, 2, &e),
              *c = load_text(text, &tiny, 3, &e);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    assert_int_equal(csv_table_rows(a), 1500);
    assert_int_equal(csv_table_col_flags(a, 3)->sample_line, 2);
    assert_true(csv_table_values(a, 0)[7] == 7.7);
    assert_true(signbit(csv_table_values(a, 2)[0]));
    assert_same(a, b);
    assert_same(a, c);
    csv_table_free(a);
    csv_table_free(b);
    csv_table_free(c);
    text[n - 1] = 0; /* the last record loses its line end: the same */
    char *line4 = strstr(text, "\n1.1,") + 1; /* the wrong field count on line 4 (3 is blank) */
    snprintf(line4, sizeof text - (size_t)(line4 - text), "1,2\n");
    assert_null(load_text(text, NULL, 2, &e));
    char msg[KERR_MSG_MAX];
    snprintf(msg, sizeof msg, "%s", strstr(e.msg, " "));
    assert_string_equal(msg, " line 4: has 2 fields, the header has 4");
    assert_null(load_text(text, &slow, 1, &e));
    assert_string_equal(strstr(e.msg, " "), msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_and_missing),  cmocka_unit_test(test_text_column_and_skipped),
        cmocka_unit_test(test_errors_with_lines),   cmocka_unit_test(test_header_only),
        cmocka_unit_test(test_flags_across_blocks), cmocka_unit_test(test_fast_path_off_is_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
