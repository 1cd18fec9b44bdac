/* predlog.h — the sampled prediction log: one JSON line per sampled row scored, for retraining
 * and audits.
 *
 * Lines go to DIR/predictions.jsonl:
 *   {"request_id":"…","time":"2024-05-01T12:00:00.123Z","model":"m","version":3,"row":0,
 *    "inputs":[…],"outputs":[…]}
 * (NaN and infinities as null; "row" is the row's index in its request). Each row is sampled
 * on its own with probability sample_rate (a per-thread xorshift, no lock for rows not taken).
 * Lines are buffered in memory (at most KPREDLOG_MAX_BUFFER bytes; lines that do not fit are
 * dropped and counted) and written by a flusher thread at least every second, and on close.
 * When the file reaches max_file_bytes it is renamed predictions-YYYYmmddTHHMMSS.jsonl (UTC;
 * -001, -002… appended when that name exists) and a new file started; only the newest
 * keep_files rotated files are kept. Format and operations: docs/feedback.md.
 *
 * Thread safety: kpredlog_write may be called from any thread at once. */
#ifndef KILN_PREDLOG_H
#define KILN_PREDLOG_H

#include <stddef.h>
#include <stdint.h>

#include "base/status.h"

#define KPREDLOG_MAX_BUFFER (4u << 20)   /* bytes of lines waiting for the flusher */
#define KPREDLOG_FLUSH_BYTES (64u << 10) /* a writer wakes the flusher past this */
#define KPREDLOG_MIN_FILE_BYTES 4096     /* smallest max_file_bytes accepted */
#define KPREDLOG_MAX_KEEP 10000          /* largest keep_files accepted */
#define KPREDLOG_MAX_LINE_VALUES 1000000 /* rows wider than this (in + out) are not logged */

typedef struct kpredlog kpredlog;

typedef struct {
    uint64_t lines;     /* lines written to files */
    uint64_t dropped;   /* sampled lines lost: buffer full or a write error */
    uint64_t rotations; /* files rotated */
    uint64_t errors;    /* write, rename or delete failures */
} kpredlog_stats;

/* Opens (creating DIR when missing, one level) the log in `dir` and starts its flusher thread.
 * sample_rate in [0, 1] (0 logs nothing); max_file_bytes >= KPREDLOG_MIN_FILE_BYTES;
 * keep_files in 0..KPREDLOG_MAX_KEEP. Returns the log (caller closes with kpredlog_close) or
 * NULL with K_INVALID / K_IO / K_NOMEM in e. */
kpredlog *kpredlog_open(const char *dir, double sample_rate, size_t max_file_bytes, int keep_files,
                        kerr *e);

/* Logs the sampled rows of one scored request: rows holds n_rows * n_features inputs, values
 * n_rows * n_values outputs, both row-major. Never blocks on I/O; errors are only counted. */
void kpredlog_write(kpredlog *l, const char *request_id, const char *model, int64_t version,
                    const double *rows, int n_features, const double *values, int n_values,
                    size_t n_rows);

/* Writes out everything buffered now (the flusher does this every second). */
void kpredlog_flush(kpredlog *l);

/* Counters since open. */
void kpredlog_get_stats(kpredlog *l, kpredlog_stats *out);

/* Stops the flusher, writes out what is buffered, closes the file and frees the log. NULL is
 * fine. */
void kpredlog_close(kpredlog *l);

#endif
