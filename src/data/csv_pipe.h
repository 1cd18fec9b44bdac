/* csv_pipe.h — ordered parallel processing of a CSV stream: the calling thread reads
 * whole-record blocks (csv_source), worker threads process them, and the caller receives each
 * block's result on its own thread, in input order.
 *
 * At most 2 x threads blocks are in flight, so memory stays bounded whatever the input size,
 * and each in-flight slot keeps its result state (`user`) from one block to the next, so
 * buffers are reused instead of allocated per block. Used by `kiln predict` (score and format
 * each block) and `kiln drift` (parse each block into columns). */
#ifndef KILN_CSV_PIPE_H
#define KILN_CSV_PIPE_H

#include <stddef.h>

#include "base/status.h"
#include "data/csv.h"

/* One block in flight. */
typedef struct {
    char *text;          /* whole records, NUL-terminated; owned by the pipe */
    size_t len;          /* bytes in text */
    size_t lines;        /* line feeds in the block (counted by the pipe before `work`) */
    size_t lines_before; /* line feeds in the blocks before this one (header excluded): an
                            upper bound of the records before it, known before `work` */
    size_t err_line;     /* set with err: the bad record's line, from the block's first line (0) */
    kerr err;            /* set by `work` on failure */
    void *user;          /* the slot's result state: kept across blocks, released by slot_free */
} csv_chunk;

typedef struct {
    void *ctx; /* passed to every callback */
    /* Per-worker scratch (may be NULL); a NULL result fails the worker's blocks (K_NOMEM). */
    void *(*scratch_new)(void *ctx);
    void (*scratch_free)(void *ctx, void *scratch);
    /* Processes c->text on a worker thread; on failure sets c->err and c->err_line. */
    void (*work)(void *ctx, void *scratch, csv_chunk *c);
    /* Takes a processed block on the calling thread, in input order; `line` is the input line
     * the block starts on. Also called for a failed block (c->err set): it reports the error.
     * Returns 0 to go on, -1 to stop with an error in e. */
    int (*drain)(void *ctx, csv_chunk *c, size_t line, kerr *e);
    /* Releases a slot's `user` state at the end (may be NULL). */
    void (*slot_free)(void *ctx, void *user);
} csv_pipe_ops;

/* The first block of an input, its header record split off. */
typedef struct {
    char *block; /* the whole first block (malloc'd) */
    size_t len;  /* its length */
    size_t skip; /* where the records after the header start */
} csv_first;

/* Reads the first block of src and splits its first record into hdr (fields point into
 * first->block, so they live until the block goes to csv_pipe_run or is freed). Returns 1, 0
 * for an empty input (nothing to free), -1 on error (nothing to free). */
int csv_pipe_header(csv_source *src, csv_record *hdr, csv_first *first, kerr *e);

/* Runs the pipeline over the first block's records (first->block is taken and freed by the
 * pipe, whatever happens; it may be NULL) and then every further block of src, with
 * `threads` workers (1..64). Records of the first block start on line 2 (the header is line 1).
 * Returns 0 when every block was drained, -1 otherwise. */
int csv_pipe_run(csv_source *src, csv_first *first, int threads, const csv_pipe_ops *ops, kerr *e);

/* Line feeds in [start, at). */
size_t csv_count_lines(const char *start, const char *at);

#endif
