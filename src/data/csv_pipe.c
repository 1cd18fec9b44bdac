/* csv_pipe.c — the ordered block pipeline: a ring of 2 x threads job slots; the calling
 * thread fills free slots from the source and drains finished ones in order, the workers take
 * filled slots in order. One mutex and one condition variable guard the slot states. */
#include "data/csv_pipe.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define PIPE_MAX_THREADS 64

enum { SLOT_EMPTY, SLOT_READY, SLOT_TAKEN, SLOT_DONE };

typedef struct {
    csv_chunk c;
    char *base; /* what to free: c.text may start past a header */
    int state;
} slot;

typedef struct {
    const csv_pipe_ops *ops;
    csv_source *src; /* blocks go back to it for reuse */
    slot *slots;
    size_t depth, next_take, n_read;
    size_t lines_queued; /* line feeds in the blocks queued so far */
    int stop;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} pipe_state;

size_t csv_count_lines(const char *start, const char *at)
{
    size_t n = 0;
    for (const char *c = start; (c = memchr(c, '\n', (size_t)(at - c))) != NULL; c++)
        n++;
    return n;
}

int csv_pipe_header(csv_source *src, csv_record *hdr, csv_first *first, kerr *e)
{
    memset(first, 0, sizeof *first);
    int rc = csv_source_next(src, &first->block, &first->len, e);
    if (rc <= 0) return rc;
    const char *pos = first->block;
    if (csv_split(&pos, first->block + first->len, hdr, e) != 1) {
        free(first->block);
        first->block = NULL;
        return -1;
    }
    first->skip = (size_t)(pos - first->block);
    return 1;
}

static void process(const csv_pipe_ops *ops, void *scratch, int ok, csv_chunk *c)
{
    if (!ok)
        kerr_set(&c->err, K_NOMEM, "out of memory");
    else
        ops->work(ops->ctx, scratch, c);
}

static void *worker(void *arg)
{
    pipe_state *q = arg;
    const csv_pipe_ops *ops = q->ops;
    void *scratch = ops->scratch_new ? ops->scratch_new(ops->ctx) : NULL;
    int ok = !ops->scratch_new || scratch;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop &&
               (q->next_take == q->n_read || q->slots[q->next_take % q->depth].state != SLOT_READY))
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop) break;
        slot *s = &q->slots[q->next_take++ % q->depth];
        s->state = SLOT_TAKEN;
        pthread_mutex_unlock(&q->mu);
        process(ops, scratch, ok, &s->c);
        pthread_mutex_lock(&q->mu);
        s->state = SLOT_DONE;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    if (scratch) ops->scratch_free(ops->ctx, scratch);
    return NULL;
}

/* Queues text[skip..len) (base is freed later) in the next slot. */
static void queue_block(pipe_state *q, char *base, size_t len, size_t skip)
{
    size_t lines = csv_count_lines(base + skip, base + len);
    pthread_mutex_lock(&q->mu);
    slot *s = &q->slots[q->n_read % q->depth];
    void *user = s->c.user;
    memset(&s->c, 0, sizeof s->c);
    s->c.user = user;
    s->c.text = base + skip;
    s->c.len = len - skip;
    s->c.lines = lines;
    s->c.lines_before = q->lines_queued;
    q->lines_queued += lines;
    s->base = base;
    s->state = SLOT_READY;
    q->n_read++;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* Reads the next block into a free slot; returns 1 if one was queued, 0 at EOF, -1 on error. */
static int feed(pipe_state *q, csv_source *src, kerr *e)
{
    char *block;
    size_t len;
    int rc = csv_source_next(src, &block, &len, e);
    if (rc > 0) queue_block(q, block, len, 0);
    return rc;
}

/* Waits for job `seq`, hands it to drain and frees its text; *line advances past it. */
static int drain(pipe_state *q, size_t seq, size_t *line, kerr *e)
{
    slot *s = &q->slots[seq % q->depth];
    pthread_mutex_lock(&q->mu);
    while (s->state != SLOT_DONE)
        pthread_cond_wait(&q->cv, &q->mu);
    pthread_mutex_unlock(&q->mu);
    int rc = q->ops->drain(q->ops->ctx, &s->c, *line, e);
    if (rc == 0 && s->c.err.code) *e = s->c.err, rc = -1;
    *line += s->c.lines;
    csv_source_recycle(q->src, s->base);
    s->base = NULL;
    s->state = SLOT_EMPTY;
    return rc;
}

static int start_workers(pipe_state *q, pthread_t *tid, int threads)
{
    int started = 0;
    for (; started < threads; started++)
        if (pthread_create(&tid[started], NULL, worker, q)) break;
    return started;
}

static void stop_workers(pipe_state *q, pthread_t *tid, int started)
{
    pthread_mutex_lock(&q->mu);
    q->stop = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < started; i++)
        pthread_join(tid[i], NULL);
}

static void free_slots(pipe_state *q)
{
    for (size_t i = 0; i < q->depth; i++) {
        free(q->slots[i].base);
        if (q->ops->slot_free && q->slots[i].c.user)
            q->ops->slot_free(q->ops->ctx, q->slots[i].c.user);
    }
    free(q->slots);
}

/* Feeds and drains until the input is done or something failed. */
static int pump(pipe_state *q, csv_source *src, size_t line, kerr *e)
{
    size_t written = 0;
    int rc = 0, eof = 0;
    while (rc == 0 && !(eof && written == q->n_read)) {
        if (!eof && q->n_read - written < q->depth) {
            int f = feed(q, src, e);
            if (f < 0) rc = -1;
            eof = f == 0;
            continue;
        }
        rc = drain(q, written++, &line, e);
    }
    return rc;
}

int csv_pipe_run(csv_source *src, csv_first *first, int threads, const csv_pipe_ops *ops, kerr *e)
{
    if (threads < 1) threads = 1;
    if (threads > PIPE_MAX_THREADS) threads = PIPE_MAX_THREADS;
    pipe_state q = {.ops = ops, .src = src, .depth = 2 * (size_t)threads};
    q.slots = calloc(q.depth, sizeof *q.slots);
    if (!q.slots) {
        free(first->block);
        first->block = NULL;
        return kerr_set(e, K_NOMEM, "out of memory"), -1;
    }
    pthread_mutex_init(&q.mu, NULL);
    pthread_cond_init(&q.cv, NULL);
    pthread_t tid[PIPE_MAX_THREADS];
    int started = start_workers(&q, tid, threads), rc = -1;
    size_t line = 1;
    if (first->block) {
        line += csv_count_lines(first->block, first->block + first->skip);
        queue_block(&q, first->block, first->len, first->skip);
        first->block = NULL;
    }
    if (started == 0)
        kerr_set(e, K_NOMEM, "cannot start threads");
    else
        rc = pump(&q, src, line, e);
    stop_workers(&q, tid, started);
    free_slots(&q);
    pthread_mutex_destroy(&q.mu);
    pthread_cond_destroy(&q.cv);
    return rc;
}
