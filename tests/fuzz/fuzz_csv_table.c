/* fuzz_csv_table.c — libFuzzer target: the column reader (data/csv_table.h) on arbitrary
 * bytes. The input is a CSV file (in a memfd, opened by its /proc path as a file would be);
 * it is loaded with the fast path on and off, with 1 and 2 threads and with tiny blocks, and
 * every load must give the same status, message, rows, values (bit for bit) and flags. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "data/csv_table.h"

#define MAX_KEPT 4096 /* columns compared (all are checked for their count) */

/* One load: what the reader said. */
typedef struct {
    kstatus st;
    kerr e;
    csv_table *t;
} load;

static void load_run(load *l, const char *path, const csv_table_opts *o, int threads)
{
    memset(l, 0, sizeof *l);
    l->st = csv_table_open(path, o, &l->t, &l->e);
    if (l->st) return;
    int n = csv_table_n_cols(l->t);
    for (int c = 0; c < n && c < MAX_KEPT; c++)
        if (c != 1) csv_table_keep(l->t, c); /* column 1 is only skipped over */
    l->st = csv_table_load(l->t, threads, &l->e);
}

static int same_values(const double *a, const double *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!(isnan(a[i]) && isnan(b[i])) && memcmp(&a[i], &b[i], sizeof a[i])) return 0;
    return 1;
}

static int same_flags(const csv_table_flags *a, const csv_table_flags *b)
{
    return a->text == b->text && a->inf == b->inf &&
           (!a->text || (strcmp(a->sample, b->sample) == 0 && a->sample_line == b->sample_line));
}

/* Aborts unless both loads agree. */
static void compare(const load *a, const load *b)
{
    if (a->st != b->st || strcmp(a->e.msg, b->e.msg) != 0) abort();
    if (a->st) return;
    size_t rows = csv_table_rows(a->t);
    if (rows != csv_table_rows(b->t) || csv_table_n_cols(a->t) != csv_table_n_cols(b->t)) abort();
    for (int c = 0; c < csv_table_n_cols(a->t); c++) {
        if (strcmp(csv_table_name(a->t, c), csv_table_name(b->t, c)) != 0) abort();
        const double *va = csv_table_values(a->t, c), *vb = csv_table_values(b->t, c);
        if (!va != !vb) abort();
        if (va && (!same_values(va, vb, rows) ||
                   !same_flags(csv_table_col_flags(a->t, c), csv_table_col_flags(b->t, c))))
            abort();
    }
}

static int write_all(int fd, const uint8_t *data, size_t size)
{
    while (size) {
        ssize_t w = write(fd, data, size);
        if (w <= 0) return -1;
        data += w, size -= (size_t)w;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz.csv", MFD_CLOEXEC);
    if (fd < 0 || write_all(fd, data, size)) abort();
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    /* Inputs are small: a 64 KiB block holds them whole, as the default 4 MiB would (which
     * costs ASan's shadow page faults on every open); 64 bytes cuts them into many blocks. */
    static const struct {
        csv_table_opts o;
        int threads;
    } runs[] = {
        {{0, 1 << 16}, 1}, {{1, 1 << 16}, 1}, {{0, 1 << 16}, 2}, {{0, 64}, 2}, {{1, 64}, 1}};
    load first, other;
    load_run(&first, path, &runs[0].o, runs[0].threads);
    for (size_t i = 1; i < sizeof runs / sizeof runs[0]; i++) {
        load_run(&other, path, &runs[i].o, runs[i].threads);
        compare(&first, &other);
        csv_table_free(other.t);
    }
    csv_table_free(first.t);
    close(fd);
    return 0;
}
