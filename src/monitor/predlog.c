/* predlog.c — the sampled prediction log: lines formatted by the scoring threads, appended to
 * an in-memory buffer under a short lock, written by one flusher thread that also rotates and
 * prunes the files. Two buffers swap so that writers never wait for the disk. */
#include "monitor/predlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "data/jsonw.h"

#define NAME_MAX_LEN 64
#define PRUNE_MAX_NAMES (KPREDLOG_MAX_KEEP + 1024)
#define CURRENT "predictions.jsonl"

struct kpredlog {
    char dir[4096];
    int fd;
    size_t size, max_file;
    int keep;
    double rate;
    uint64_t threshold;   /* a row is taken when the random draw is below this */
    pthread_mutex_t lock; /* pending, stop */
    pthread_mutex_t io;   /* fd, size, spare */
    pthread_cond_t wake;
    pthread_t flusher;
    int stop;
    buf pending, spare;
    atomic_ullong lines, dropped, rotations, errors;
};

/* ---- sampling ---- */

static _Thread_local uint64_t rng;

static uint64_t next_random(void)
{
    if (!rng) { /* splitmix64 of the clock and a stack address: distinct per thread */
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        uint64_t z = (uint64_t)t.tv_nsec ^ ((uint64_t)t.tv_sec << 32) ^ (uint64_t)(uintptr_t)&t;
        z += 0x9e3779b97f4a7c15ull;
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        rng = (z ^ (z >> 31)) | 1;
    }
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int sampled(const kpredlog *l)
{
    return l->rate >= 1.0 || (l->rate > 0 && next_random() < l->threshold);
}

/* ---- files ---- */

static int open_current(kpredlog *l)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/" CURRENT, l->dir);
    l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    struct stat st;
    l->size = l->fd >= 0 && fstat(l->fd, &st) == 0 ? (size_t)st.st_size : 0;
    return l->fd >= 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b); /* stems: "x" sorts before "x-001" */
}

/* Collects the rotated files' stems (names without ".jsonl"), at most PRUNE_MAX_NAMES. */
static size_t list_rotated(const char *dir, char (*names)[NAME_MAX_LEN])
{
    DIR *d = opendir(dir);
    size_t n = 0;
    struct dirent *de;
    while (d && n < PRUNE_MAX_NAMES && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (len < 18 || len >= NAME_MAX_LEN || strncmp(de->d_name, "predictions-", 12) != 0 ||
            strcmp(de->d_name + len - 6, ".jsonl") != 0)
            continue;
        memcpy(names[n], de->d_name, len - 6);
        names[n++][len - 6] = 0;
    }
    if (d) closedir(d);
    return n;
}

/* Deletes all but the newest `keep` rotated files. */
static void prune(kpredlog *l)
{
    char(*names)[NAME_MAX_LEN] = malloc(PRUNE_MAX_NAMES * sizeof *names);
    if (!names) return;
    size_t n = list_rotated(l->dir, names);
    qsort(names, n, sizeof *names, cmp_names);
    char path[4200];
    for (size_t i = 0; i + (size_t)l->keep < n; i++) {
        snprintf(path, sizeof path, "%s/%s.jsonl", l->dir, names[i]);
        if (unlink(path) != 0) atomic_fetch_add(&l->errors, 1);
    }
    free(names);
}

/* Renames the current file after the UTC time now (with -NNN when taken) and starts anew. */
static void rotate(kpredlog *l)
{
    char stamp[32], from[4200], to[4300];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
    snprintf(from, sizeof from, "%s/" CURRENT, l->dir);
    snprintf(to, sizeof to, "%s/predictions-%s.jsonl", l->dir, stamp);
    for (int i = 1; i < 1000 && access(to, F_OK) == 0; i++)
        snprintf(to, sizeof to, "%s/predictions-%s-%03d.jsonl", l->dir, stamp, i);
    close(l->fd);
    if (rename(from, to) == 0)
        atomic_fetch_add(&l->rotations, 1);
    else
        atomic_fetch_add(&l->errors, 1);
    if (!open_current(l)) atomic_fetch_add(&l->errors, 1);
    prune(l);
}

static uint64_t count_lines(const char *p, size_t n)
{
    uint64_t c = 0;
    for (const char *q = p, *end = p + n; (q = memchr(q, '\n', (size_t)(end - q))); q++)
        c++;
    return c;
}

static void write_out(kpredlog *l, const char *p, size_t n)
{
    size_t done = 0;
    while (done < n && l->fd >= 0) {
        ssize_t w = write(l->fd, p + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    l->size += done;
    atomic_fetch_add(&l->lines, count_lines(p, done));
    if (done < n) {
        atomic_fetch_add(&l->errors, 1);
        atomic_fetch_add(&l->dropped, count_lines(p + done, n - done));
    }
}

/* How much of p[0..n) goes into the current file: whole lines up to max_file, or, into an
 * empty file, one line however long. 0 means: rotate first. */
static size_t fitting(const kpredlog *l, const char *p, size_t n)
{
    size_t room = l->size < l->max_file ? l->max_file - l->size : 0;
    if (n <= room) return n;
    const char *cut = room ? memrchr(p, '\n', room) : NULL;
    if (cut) return (size_t)(cut - p) + 1;
    if (l->size) return 0;
    cut = memchr(p, '\n', n);
    return cut ? (size_t)(cut - p) + 1 : n;
}

static void write_chunk(kpredlog *l, const char *p, size_t n)
{
    while (n) {
        size_t k = fitting(l, p, n);
        if (k == 0) {
            rotate(l);
            continue;
        }
        write_out(l, p, k);
        p += k;
        n -= k;
        if (l->size >= l->max_file) rotate(l);
    }
}

void kpredlog_flush(kpredlog *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->io);
    pthread_mutex_lock(&l->lock);
    buf t = l->pending;
    l->pending = l->spare;
    l->spare = t;
    pthread_mutex_unlock(&l->lock);
    write_chunk(l, (const char *)l->spare.data, l->spare.len);
    l->spare.len = 0;
    pthread_mutex_unlock(&l->io);
}

static void *flusher(void *arg)
{
    kpredlog *l = arg;
    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_cond_timedwait(&l->wake, &l->lock, &until);
        pthread_mutex_unlock(&l->lock);
        kpredlog_flush(l);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/* ---- open / close ---- */

static kstatus check_args(const char *dir, double rate, size_t max_file, int keep, kerr *e)
{
    if (!dir || !*dir || strlen(dir) >= 4000)
        return kerr_set(e, K_INVALID, "prediction log: no directory, or its path is too long");
    if (!(rate >= 0 && rate <= 1))
        return kerr_set(e, K_INVALID, "prediction log: sample rate %g is not in [0, 1]", rate);
    if (max_file < KPREDLOG_MIN_FILE_BYTES)
        return kerr_set(e, K_INVALID, "prediction log: max file size below %u bytes",
                        KPREDLOG_MIN_FILE_BYTES);
    if (keep < 0 || keep > KPREDLOG_MAX_KEEP)
        return kerr_set(e, K_INVALID, "prediction log: keep_files %d is not in 0..%d", keep,
                        KPREDLOG_MAX_KEEP);
    return K_OK;
}

kpredlog *kpredlog_open(const char *dir, double sample_rate, size_t max_file_bytes, int keep_files,
                        kerr *e)
{
    if (check_args(dir, sample_rate, max_file_bytes, keep_files, e)) return NULL;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        kerr_set(e, K_IO, "prediction log: cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    kpredlog *l = calloc(1, sizeof *l);
    if (!l) return kerr_set(e, K_NOMEM, "prediction log: out of memory"), NULL;
    snprintf(l->dir, sizeof l->dir, "%s", dir);
    l->rate = sample_rate;
    l->threshold = (uint64_t)ldexp(sample_rate < 1 ? sample_rate : 0, 64);
    l->max_file = max_file_bytes;
    l->keep = keep_files;
    buf_init(&l->pending, KPREDLOG_MAX_BUFFER);
    buf_init(&l->spare, KPREDLOG_MAX_BUFFER);
    pthread_mutex_init(&l->lock, NULL);
    pthread_mutex_init(&l->io, NULL);
    pthread_cond_init(&l->wake, NULL);
    if (!open_current(l)) {
        kerr_set(e, K_IO, "prediction log: cannot open %s/" CURRENT ": %s", dir, strerror(errno));
        kpredlog_close(l);
        return NULL;
    }
    if (pthread_create(&l->flusher, NULL, flusher, l) != 0) {
        kerr_set(e, K_NOMEM, "prediction log: cannot start the flusher thread");
        l->stop = -1; /* no thread to join */
        kpredlog_close(l);
        return NULL;
    }
    return l;
}

void kpredlog_close(kpredlog *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->lock);
    int joinable = l->stop == 0 && l->fd >= 0;
    l->stop = 1;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
    if (joinable) pthread_join(l->flusher, NULL);
    if (l->fd >= 0) {
        kpredlog_flush(l);
        close(l->fd);
    }
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->io);
    pthread_mutex_destroy(&l->lock);
    buf_free(&l->pending);
    buf_free(&l->spare);
    free(l);
}

void kpredlog_get_stats(kpredlog *l, kpredlog_stats *out)
{
    out->lines = atomic_load(&l->lines);
    out->dropped = atomic_load(&l->dropped);
    out->rotations = atomic_load(&l->rotations);
    out->errors = atomic_load(&l->errors);
}

/* ---- lines ---- */

static void put_array(buf *b, const double *v, int n)
{
    jsonw_array(b, v, (size_t)n);
}

static void utc_now(char out[32])
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    struct tm tm;
    gmtime_r(&t.tv_sec, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(t.tv_nsec / 1000000));
}

/* One line; K_LIMIT (nothing usable) when it does not fit in b. */
static kstatus format_line(buf *b, const char *request_id, const char *when, const char *model,
                           int64_t version, size_t row, const double *in, int nf, const double *out,
                           int nv)
{
    b->len = 0;
    int bad = buf_append_str(b, "{\"request_id\":") != K_OK;
    bad |= jsonw_string(b, request_id) != K_OK;
    bad |= buf_printf(b, ",\"time\":\"%s\",\"model\":", when) != K_OK;
    bad |= jsonw_string(b, model) != K_OK;
    bad |=
        buf_printf(b, ",\"version\":%lld,\"row\":%zu,\"inputs\":", (long long)version, row) != K_OK;
    size_t before = b->len;
    put_array(b, in, nf);
    bad |= b->len < before + 2;
    bad |= buf_append_str(b, ",\"outputs\":") != K_OK;
    before = b->len;
    put_array(b, out, nv);
    bad |= b->len < before + 2;
    bad |= buf_append(b, "}\n", 2) != K_OK;
    return bad ? K_LIMIT : K_OK;
}

static void append_line(kpredlog *l, const buf *line)
{
    pthread_mutex_lock(&l->lock);
    int ok = buf_append(&l->pending, line->data, line->len) == K_OK;
    if (ok && l->pending.len >= KPREDLOG_FLUSH_BYTES) pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
    if (!ok) atomic_fetch_add(&l->dropped, 1);
}

void kpredlog_write(kpredlog *l, const char *request_id, const char *model, int64_t version,
                    const double *rows, int n_features, const double *values, int n_values,
                    size_t n_rows)
{
    if (!l || l->rate <= 0 || n_features < 0 || n_values < 0) return;
    if ((int64_t)n_features + n_values > KPREDLOG_MAX_LINE_VALUES) return;
    if (!request_id) request_id = "";
    if (!model) model = "";
    buf line = {0};
    char when[32] = "";
    for (size_t i = 0; i < n_rows; i++) {
        if (!sampled(l)) continue;
        if (!line.max) {
            buf_init(&line, 256 + 6 * (strlen(request_id) + strlen(model)) +
                                40 * ((size_t)n_features + (size_t)n_values));
            utc_now(when);
        }
        if (format_line(&line, request_id, when, model, version, i, rows + i * (size_t)n_features,
                        n_features, values + i * (size_t)n_values, n_values) == K_OK)
            append_line(l, &line);
        else
            atomic_fetch_add(&l->dropped, 1);
    }
    buf_free(&line);
}
