/* csv_table.h — a CSV file read into float64 columns, in parallel: open the file (reads its
 * header), say which columns to keep, load them with N threads, then read each kept column's
 * values (NaN = missing) and what was seen in it (text, infinities).
 *
 * A field is a number (num_parse_double's syntax), or missing: empty, "NA", "N/A", infinite
 * (flagged) or text (flagged; its first occurrence is kept as a sample with its line). Every
 * record must have as many fields as the header; blank lines are skipped. Errors name the file
 * and, for a bad record, its exact line ("ref.csv line 7: has 3 fields, the header has 2").
 * Memory is bounded by the file: blocks of whole records stream through csv_pipe, and the
 * columns hold at most a few values more than the file has records. Used by `kiln drift`. */
#ifndef KILN_CSV_TABLE_H
#define KILN_CSV_TABLE_H

#include <stddef.h>

#include "base/status.h"

typedef struct csv_table csv_table;

/* What a kept column held besides numbers and missing values. */
typedef struct {
    int text;           /* a field that is not a number, empty or NA (its value: NaN) */
    int inf;            /* an infinite number (its value: NaN) */
    char sample[48];    /* text: the first such field, at most 40 bytes of it */
    size_t sample_line; /* text: its line in the file (the header is line 1) */
} csv_table_flags;

/* Options of csv_table_open; a NULL pointer or all zeros means the defaults. Both are for
 * tests (fuzz_csv_table, test_csv_table), which check that they change nothing but speed. */
typedef struct {
    int no_fast_path;  /* 1: split every record with csv_split, never scan it in place */
    size_t block_size; /* bytes per block read (0: 4 MiB); small ones exercise block joins */
} csv_table_opts;

/* Opens the CSV file at `path` (the path is copied and names the file in messages) and reads
 * its header. No column is kept yet. On success *out is a table the caller frees with
 * csv_table_free; on failure *out is NULL and e says why: the file cannot be opened or read, is
 * empty, or its header names a column twice. */
kstatus csv_table_open(const char *path, const csv_table_opts *o, csv_table **out, kerr *e);

/* Frees t and everything it returned. Takes NULL. */
void csv_table_free(csv_table *t);

const char *csv_table_path(const csv_table *t);

/* The header's columns: their number, and the name of column col (0-based; owned by t). */
int csv_table_n_cols(const csv_table *t);
const char *csv_table_name(const csv_table *t, int col);

/* The column named `name`, or -1. */
int csv_table_find(const csv_table *t, const char *name);

/* Keeps column col: csv_table_load parses it into a column (the others are only checked for
 * their count). Call before csv_table_load; keeping a column twice keeps it once. */
void csv_table_keep(csv_table *t, int col);
int csv_table_kept(const csv_table *t, int col);

/* Reads every record with `threads` workers (1..64) into the kept columns. Call once. On
 * failure e names the file and, for a bad record, its line. A file of a header only loads
 * with no rows. */
kstatus csv_table_load(csv_table *t, int threads, kerr *e);

/* After csv_table_load: the records read, and a kept column's `rows` values and flags (NULL
 * for a column not kept). Owned by t. */
size_t csv_table_rows(const csv_table *t);
const double *csv_table_values(const csv_table *t, int col);
const csv_table_flags *csv_table_col_flags(const csv_table *t, int col);

#endif
