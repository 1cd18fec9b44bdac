/* csv.h — RFC 4180 CSV: reading whole-record blocks from a file descriptor, and splitting
 * records in memory.
 *
 * The two halves let a caller parse in parallel: one thread pulls blocks (each ends on a record
 * boundary, quote-aware) with csv_source_next, workers split their block's records with
 * csv_split. Memory is bounded: a block never exceeds the source's limit, so a single record
 * longer than that is an error, not an allocation. */
#ifndef KILN_CSV_H
#define KILN_CSV_H

#include <stddef.h>

#include "base/buf.h"
#include "base/status.h"

typedef struct {
    const char *p;
    size_t len;
} csv_field;

/* One split record. Fields point into the block or, for quoted fields with "" escapes, into
 * the record's own scratch space; both stay valid until the next csv_split on this record. */
typedef struct {
    csv_field *fields;
    int n, cap;
    char *scratch;
    size_t scratch_cap;
} csv_record;

/* Maximum fields per record. */
#define CSV_MAX_FIELDS 100000

void csv_record_init(csv_record *r);
void csv_record_free(csv_record *r);

/* Splits the record starting at *pos (before `end`) into r and advances *pos past its line end.
 * Returns 1 when a record was read, 0 at the end of input, -1 on malformed input (unterminated
 * quote, text after a closing quote, too many fields) with a message in e. A record ends at
 * "\n" or "\r\n" or the end of input. */
int csv_split(const char **pos, const char *end, csv_record *r, kerr *e);

/* Appends `s` as one CSV field: as is, or quoted with "" escapes when it holds a comma, quote,
 * CR or LF. */
kstatus csv_append_field(buf *b, const char *s);

typedef struct csv_source csv_source;

/* Reads from `fd` (not closed by the source) in blocks of about `block` bytes, never more than
 * `max_block`. Caller frees with csv_source_free. */
csv_source *csv_source_new(int fd, size_t block, size_t max_block);
void csv_source_free(csv_source *s);

/* Returns the next block of whole records in a malloc'd, NUL-terminated buffer the caller now
 * owns (free()), and its length. Returns 1 with a block, 0 at end of input, -1 on error (I/O,
 * or a record longer than max_block). */
int csv_source_next(csv_source *s, char **block, size_t *len, kerr *e);

/* Gives a block from csv_source_next back (instead of free()) so a later csv_source_next reuses
 * its memory rather than faulting in fresh pages. Takes NULL. */
void csv_source_recycle(csv_source *s, char *block);

#endif
