/* test_predlog.c — the sampled prediction log: line format (NaN as null, escaping), rate 0
 * and sampling frequency, the once-a-second flush, rotation by size with retention, argument
 * checks, and 8 threads logging at once with every line either written or counted dropped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/fs.h"
#include "monitor/predlog.h"

static char dir[256];

static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/kiln-predlog-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char p[600];
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        unlink(p);
    }
    if (d) closedir(d);
    rmdir(dir);
    return 0;
}

static char *read_current(size_t *len)
{
    char p[300], *data = NULL;
    snprintf(p, sizeof p, "%s/predictions.jsonl", dir);
    if (fs_read_all(p, 1 << 26, &data, len, NULL) != K_OK) return NULL;
    return data;
}

static int count_char(const char *s, size_t n, char c)
{
    int k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == c;
    return k;
}

static void format(void **state)
{
    kerr e = {0};
    kpredlog *l = kpredlog_open(dir, 1.0, 1 << 20, 3, &e);
    assert_non_null(l);
    double rows[4] = {1.5, NAN, -2, 0.1}, vals[4] = {0.25, 0.75, INFINITY, 1};
    kpredlog_write(l, "req\"1", "m\\x", 7, rows, 2, vals, 2, 2);
    kpredlog_close(l);
    size_t n;
    char *t = read_current(&n);
    assert_non_null(t);
    assert_int_equal(count_char(t, n, '\n'), 2);
    assert_non_null(strstr(t, "{\"request_id\":\"req\\\"1\",\"time\":\"20"));
    assert_non_null(strstr(t, "Z\",\"model\":\"m\\\\x\",\"version\":7,\"row\":0,"
                              "\"inputs\":[1.5,null],\"outputs\":[0.25,0.75]}\n"));
    assert_non_null(strstr(t, "\"row\":1,\"inputs\":[-2,0.1],\"outputs\":[null,1]}\n"));
    const char *tm = strstr(t, "\"time\":\"") + 8; /* 2024-05-01T12:00:00.123Z */
    assert_true(tm[4] == '-' && tm[10] == 'T' && tm[19] == '.' && tm[23] == 'Z');
    free(t);
}

static void sampling(void **state)
{
    kerr e = {0};
    kpredlog *l = kpredlog_open(dir, 0.0, 1 << 20, 3, &e);
    double row[1] = {1}, *many = calloc(100000, sizeof *many);
    kpredlog_write(l, "r", "m", 1, row, 1, row, 1, 1);
    kpredlog_stats s;
    kpredlog_close(l);
    l = kpredlog_open(dir, 0.1, 1 << 26, 3, &e);
    kpredlog_write(l, "r", "m", 1, many, 1, many, 1, 100000);
    kpredlog_flush(l);
    kpredlog_get_stats(l, &s);
    kpredlog_close(l);
    assert_true(s.lines > 9000 && s.lines < 11000);
    assert_int_equal(s.dropped, 0);
    free(many);
}

static void flushed_every_second(void **state)
{
    kerr e = {0};
    kpredlog *l = kpredlog_open(dir, 1.0, 1 << 20, 3, &e);
    double row[1] = {1};
    kpredlog_write(l, "r", "m", 1, row, 1, row, 1, 1);
    usleep(1600 * 1000);
    size_t n;
    char *t = read_current(&n);
    assert_non_null(t);
    assert_int_equal(count_char(t, n, '\n'), 1);
    free(t);
    kpredlog_close(l);
}

static void rotation(void **state)
{
    kerr e = {0};
    kpredlog *l = kpredlog_open(dir, 1.0, 4096, 2, &e);
    double row[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (int i = 0; i < 500; i++) {
        kpredlog_write(l, "rotating-request", "m", 1, row, 8, row, 1, 1);
        if (i % 50 == 0) kpredlog_flush(l);
    }
    kpredlog_stats s;
    kpredlog_flush(l);
    kpredlog_get_stats(l, &s);
    kpredlog_close(l);
    assert_int_equal(s.lines, 500);
    assert_true(s.rotations >= 10);
    assert_int_equal(s.errors, 0);
    DIR *d = opendir(dir);
    struct dirent *de;
    int rotated = 0;
    while ((de = readdir(d))) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
        if (de->d_name[0] == '.' || stat(p, &st) != 0) continue;
        assert_true(st.st_size <= 4096);
        rotated += strncmp(de->d_name, "predictions-", 12) == 0;
    }
    closedir(d);
    assert_int_equal(rotated, 2);
}

static void bad_args(void **state)
{
    kerr e = {0};
    assert_null(kpredlog_open(dir, 1.5, 1 << 20, 3, &e));
    assert_int_equal(e.code, K_INVALID);
    assert_null(kpredlog_open(dir, NAN, 1 << 20, 3, &e));
    assert_null(kpredlog_open(dir, 0.5, 100, 3, &e));
    assert_null(kpredlog_open(dir, 0.5, 1 << 20, -1, &e));
    assert_null(kpredlog_open("/proc/no/such/dir", 0.5, 1 << 20, 1, &e));
    assert_int_equal(e.code, K_IO);
    kpredlog_close(NULL);
}

#define THREADS 8
#define PER_THREAD 5000

static void *work(void *arg)
{
    kpredlog *l = arg;
    double row[4] = {1, 2, 3, 4};
    for (int i = 0; i < PER_THREAD; i++)
        kpredlog_write(l, "threaded", "m", 2, row, 3, row, 1, 1);
    return NULL;
}

static void threads(void **state)
{
    kerr e = {0};
    kpredlog *l = kpredlog_open(dir, 1.0, 1 << 16, 100, &e);
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, work, l);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    kpredlog_flush(l);
    kpredlog_stats s;
    kpredlog_get_stats(l, &s);
    kpredlog_close(l);
    assert_int_equal(s.lines + s.dropped, THREADS * PER_THREAD);
    assert_true(s.lines > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(format, setup, teardown),
        cmocka_unit_test_setup_teardown(sampling, setup, teardown),
        cmocka_unit_test_setup_teardown(flushed_every_second, setup, teardown),
        cmocka_unit_test_setup_teardown(rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_args, setup, teardown),
        cmocka_unit_test_setup_teardown(threads, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
