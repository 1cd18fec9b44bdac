/* batcher.h — dynamic batching: single-row predictions from concurrent callers coalesced into
 * one kmodel_predict call.
 *
 * Scoring many rows at once is much cheaper per row than scoring them one by one (an MLP turns
 * n matrix-vector products into one matrix product; tree kernels interleave rows). A caller of
 * kbatcher_predict joins the batch now forming, or starts one; the batch closes when it holds
 * max_batch rows or when max_delay_us has passed since its first row arrived; then all its
 * rows are scored in one call and every caller gets exactly its own row's values.
 *
 * Design: leader/follower, no thread of its own. The caller that starts a batch is its leader:
 * it waits (a timed condition wait) until the batch is full or the delay is up, closes it, scores
 * it on its own thread and wakes the followers. Callers arriving after the close start the next
 * batch, which forms while the previous one is being scored. Why not one worker thread per
 * batcher: a worker scores one batch at a time on one core, while leaders score batches in
 * parallel on as many cores as have callers; a worker adds a thread handoff to every batch
 * (the leader scores on a thread that is already running); and a worker must be started and
 * joined per loaded model version, which a hot swap would then wait on.
 *
 * Memory: batch buffers (max_batch rows and values each) are reused; at most one batch exists
 * per caller in flight, and callers in flight are at most queue_limit.
 *
 * Threads: kbatcher_predict may be called from any number of threads at once. The model must
 * outlive the batcher (the server keeps both in the same refcounted model version). */
#ifndef KILN_BATCHER_H
#define KILN_BATCHER_H

#include <stdint.h>

#include "base/status.h"
#include "model/predictor.h"

typedef struct kbatcher kbatcher;

#define KBATCHER_MAX_BATCH 4096

/* A batcher for `m` (borrowed, not freed). max_batch is clamped to KBATCHER_MAX_BATCH;
 * queue_limit is the most rows admitted at once (waiting or being scored); <= 0 means no limit
 * beyond the callers' own number. Returns NULL when max_batch <= 1 (batching off) or memory
 * runs out. Caller frees with kbatcher_free. */
kbatcher *kbatcher_new(const kmodel *m, int max_batch, uint32_t max_delay_us, int queue_limit);

/* Frees the batcher. Callers still inside kbatcher_predict are waited for; no new call may
 * start. NULL is ignored. */
void kbatcher_free(kbatcher *b);

/* Scores one row (kmodel_n_features(m) doubles) into `values` (kmodel_n_values(m) doubles),
 * blocking until its batch has been scored: at most about max_delay_us plus one batch's
 * prediction time. Returns K_OK; K_BUSY ("queue full") at once when queue_limit rows are
 * already admitted; K_NOMEM. The batcher copies the row; the caller keeps both buffers. */
kstatus kbatcher_predict(kbatcher *b, const double *row, double *values, kerr *e);

/* Batches scored and rows scored since kbatcher_new (rows / batches is the mean batch size).
 * Either pointer may be NULL. */
void kbatcher_stats(const kbatcher *b, uint64_t *batches, uint64_t *rows);

#endif
