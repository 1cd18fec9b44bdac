/* feedback.c — remembered predictions (sharded bounded hash tables), their join with ground
 * truth into a ring of recent pairs, scikit-learn-equal metrics over that ring, and the hub
 * that finds which version answered a request id. Formulas and edge cases: docs/feedback.md. */
#include "monitor/feedback.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/num.h"
#include "monitor/metrics.h"

#define NSHARDS 16
#define MIN_ALLOC 64

/* One remembered prediction; its values live in the shard's value array at the same index. */
typedef struct {
    char id[KFEEDBACK_ID_MAX + 1];
    uint8_t labelled;
    uint32_t hash; /* low bits of the id's hash, to unlink it when overwritten */
    uint32_t t;    /* seconds since the kfeedback was created */
    uint32_t seq;  /* insertion number in the shard (wraps) */
    uint32_t next; /* next (older) entry in its bucket, 1-based; 0 ends the chain */
} entry;

/* Entries fill slots 0..cap-1 in order, then the oldest (head) is overwritten: arrays grow by
 * doubling up to cap so that memory follows use. An overwritten entry is not unlinked (that
 * would cost a walk of its chain per insert): chains are newest first and eviction is oldest
 * first, so a link is followed only while it leads to an entry of the same bucket inserted
 * earlier (by seq); anything else ends the chain. */
typedef struct {
    pthread_mutex_t lock;
    entry *e;
    double *v;
    uint32_t *bucket; /* 1-based entry index of each chain's newest entry; 0 = empty */
    uint32_t cap, alloc, len, head, nb, seq;
} shard;

/* The ring of the last `cap` joined pairs, growing like a shard. */
typedef struct {
    pthread_mutex_t lock;
    double *pred, *truth;
    size_t cap, alloc, len, head;
} ring;

struct kfeedback {
    int n_classes, nv; /* nv: values stored per prediction (n_classes, or 1) */
    char **labels;
    double *label_num; /* every label's number when labels_numeric */
    int labels_numeric;
    uint32_t window_s;
    struct timespec t0;
    int nshards;
    shard sh[NSHARDS];
    ring pairs;
    atomic_ullong count[KFB__COUNT];
};

#define FNV_BASIS 1469598103934665603ull

/* FNV-1a over s[0..n), continuing from h; hash_done mixes the result (split so that a batch
 * hashes its request id once and only the row suffix per row). */
static uint64_t hash_more(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static uint64_t hash_done(uint64_t h)
{
    return h ^ (h >> 29);
}

static uint64_t hash_id(const char *s)
{
    return hash_done(hash_more(FNV_BASIS, s, strlen(s)));
}

static uint32_t now_s(const kfeedback *f)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint32_t)(t.tv_sec - f->t0.tv_sec);
}

/* ---- creation ---- */

static int copy_labels(kfeedback *f, const char *const *labels)
{
    if (!labels) return 1;
    f->labels = calloc((size_t)f->n_classes, sizeof *f->labels);
    f->label_num = calloc((size_t)f->n_classes, sizeof *f->label_num);
    if (!f->labels || !f->label_num) return 0;
    f->labels_numeric = 1;
    for (int k = 0; k < f->n_classes; k++) {
        const char *l = labels[k] ? labels[k] : "";
        if (!(f->labels[k] = strdup(l))) return 0;
        if (!*l || !num_parse_double(l, strlen(l), &f->label_num[k]) || !isfinite(f->label_num[k]))
            f->labels_numeric = 0;
    }
    return 1;
}

static void init_shards(kfeedback *f, size_t max_pending)
{
    f->nshards = max_pending < NSHARDS ? (int)max_pending : NSHARDS;
    for (int i = 0; i < f->nshards; i++) {
        pthread_mutex_init(&f->sh[i].lock, NULL);
        f->sh[i].cap = (uint32_t)(max_pending / (size_t)f->nshards +
                                  ((size_t)i < max_pending % (size_t)f->nshards));
    }
}

kfeedback *kfeedback_new(size_t max_pending, uint32_t window_s, size_t max_pairs, int n_classes,
                         const char *const *class_labels)
{
    if (!max_pending) max_pending = KFEEDBACK_DEFAULT_PENDING;
    if (!max_pairs) max_pairs = KFEEDBACK_DEFAULT_PAIRS;
    if (max_pending > KFEEDBACK_MAX_PENDING || max_pairs > KFEEDBACK_MAX_PAIRS) return NULL;
    if (n_classes == 1 || n_classes < 0 || n_classes > KFEEDBACK_MAX_CLASSES) return NULL;
    kfeedback *f = calloc(1, sizeof *f);
    if (!f) return NULL;
    f->n_classes = n_classes;
    f->nv = n_classes ? n_classes : 1;
    f->window_s = window_s ? window_s : KFEEDBACK_DEFAULT_WINDOW_S;
    clock_gettime(CLOCK_MONOTONIC, &f->t0);
    init_shards(f, max_pending);
    pthread_mutex_init(&f->pairs.lock, NULL);
    f->pairs.cap = max_pairs;
    if (!copy_labels(f, class_labels)) {
        kfeedback_free(f);
        return NULL;
    }
    return f;
}

void kfeedback_free(kfeedback *f)
{
    if (!f) return;
    for (int i = 0; i < f->nshards; i++) {
        pthread_mutex_destroy(&f->sh[i].lock);
        free(f->sh[i].e);
        free(f->sh[i].v);
        free(f->sh[i].bucket);
    }
    pthread_mutex_destroy(&f->pairs.lock);
    free(f->pairs.pred);
    free(f->pairs.truth);
    for (int k = 0; f->labels && k < f->n_classes; k++)
        free(f->labels[k]);
    free(f->labels);
    free(f->label_num);
    free(f);
}

/* ---- remembered predictions ---- */

static void link_entry(shard *s, uint32_t i)
{
    uint32_t b = s->e[i].hash & (s->nb - 1);
    s->e[i].next = s->bucket[b];
    s->bucket[b] = i + 1;
}

/* The entry a link (1-based, 0 = none) leads to in bucket b, when it still belongs there and
 * is older than `newer` (when not NULL); else NULL. */
static entry *follow(const shard *s, uint32_t link, uint32_t b, const entry *newer)
{
    if (!link) return NULL;
    entry *e = &s->e[link - 1];
    if ((e->hash & (s->nb - 1)) != b) return NULL;
    if (newer && (uint32_t)(newer->seq - e->seq) - 1 >= s->cap) return NULL;
    return e;
}

/* The newest live entry of id (hash h) in s, or NULL. */
static entry *find(const shard *s, const char *id, uint32_t h)
{
    if (!s->nb) return NULL;
    uint32_t b = h & (s->nb - 1);
    entry *e = follow(s, s->bucket[b], b, NULL);
    while (e && strcmp(e->id, id) != 0)
        e = follow(s, e->next, b, e);
    return e;
}

/* Doubles the arrays (at most to cap) and rebuilds the chains, oldest first so that the newest
 * entry of an id stays first in its chain. Only happens before the shard wraps. */
static int grow_shard(shard *s, int nv)
{
    uint32_t alloc = s->alloc ? s->alloc * 2 : MIN_ALLOC;
    if (alloc > s->cap) alloc = s->cap;
    uint32_t nb = 1;
    while (nb < alloc)
        nb *= 2;
    entry *e = realloc(s->e, alloc * sizeof *e);
    if (e) s->e = e;
    double *v = e ? realloc(s->v, (size_t)alloc * (size_t)nv * sizeof *v) : NULL;
    if (v) s->v = v;
    uint32_t *b = v ? calloc(nb, sizeof *b) : NULL;
    if (!b) return 0;
    free(s->bucket);
    s->bucket = b;
    s->nb = nb;
    s->alloc = alloc;
    for (uint32_t i = 0; i < s->len; i++)
        link_entry(s, i);
    return 1;
}

/* The slot the next entry goes to: a fresh one while the shard fills, then the oldest. */
static int take_slot(shard *s, int nv, uint32_t *slot)
{
    if (s->len < s->cap) {
        if (s->len == s->alloc && !grow_shard(s, nv)) return 0;
        *slot = s->len++;
        return 1;
    }
    *slot = s->head;
    s->head = (s->head + 1) % s->cap;
    return 1;
}

static void store_values(const kfeedback *f, double *dst, const double *values, int n_values)
{
    if (f->n_classes == 2 && n_values == 1) {
        dst[0] = 1.0 - values[0];
        dst[1] = values[0];
    } else {
        memcpy(dst, values, (size_t)f->nv * sizeof *dst);
    }
}

/* Stores one prediction in s (locked by the caller). */
static void put_entry(const kfeedback *f, shard *s, const char *id, size_t len, uint64_t h,
                      uint32_t t, const double *values, int n_values)
{
    uint32_t slot;
    if (!take_slot(s, f->nv, &slot)) return;
    entry *e = &s->e[slot];
    memcpy(e->id, id, len);
    e->id[len] = '\0';
    e->labelled = 0;
    e->hash = (uint32_t)h;
    e->t = t;
    e->seq = s->seq++;
    store_values(f, &s->v[(size_t)slot * (size_t)f->nv], values, n_values);
    link_entry(s, slot);
}

static shard *shard_of(kfeedback *f, uint64_t h)
{
    return &f->sh[(h >> 56) % (uint64_t)f->nshards];
}

static int fits(const kfeedback *f, int n_values)
{
    return n_values == f->nv || (f->n_classes == 2 && n_values == 1);
}

void kfeedback_remember(kfeedback *f, const char *request_id, const double *values, int n_values)
{
    if (!f || !request_id || !values) return;
    size_t len = strlen(request_id);
    if (!fits(f, n_values) || len == 0 || len > KFEEDBACK_ID_MAX) return;
    uint64_t h = hash_id(request_id);
    shard *s = shard_of(f, h);
    uint32_t t = now_s(f);
    pthread_mutex_lock(&s->lock);
    put_entry(f, s, request_id, len, h, t, values, n_values);
    pthread_mutex_unlock(&s->lock);
}

/* ":<i>" into out (at least 22 bytes, not terminated); returns its length. */
static size_t row_suffix(size_t i, char *out)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + i % 10);
        i /= 10;
    } while (i);
    out[0] = ':';
    for (size_t k = 0; k < n; k++)
        out[1 + k] = tmp[n - 1 - k];
    return n + 1;
}

/* Rows of a batch are grouped per shard in chunks of CHUNK, so a chunk takes each shard's lock
 * once; within a shard rows keep their order (the oldest is overwritten first). */
#define CHUNK 64

typedef struct {
    uint64_t h;
    uint8_t len; /* suffix length */
    char suffix[23];
} row_id;

static void remember_chunk(kfeedback *f, const char *id, size_t id_len, uint64_t prefix_h,
                           uint32_t t, const double *values, int n_values, size_t first, size_t n)
{
    row_id r[CHUNK];
    uint32_t pending = 0; /* bit per shard with rows in this chunk */
    for (size_t k = 0; k < n; k++) {
        r[k].len = (uint8_t)row_suffix(first + k, r[k].suffix);
        r[k].h = hash_done(hash_more(prefix_h, r[k].suffix, r[k].len));
        pending |= 1u << ((r[k].h >> 56) % (uint64_t)f->nshards);
    }
    char full[KFEEDBACK_ID_MAX + 1];
    memcpy(full, id, id_len);
    for (int sh = 0; sh < f->nshards; sh++) {
        if (!(pending & (1u << sh))) continue;
        shard *s = &f->sh[sh];
        pthread_mutex_lock(&s->lock);
        for (size_t k = 0; k < n; k++) {
            if ((int)((r[k].h >> 56) % (uint64_t)f->nshards) != sh) continue;
            memcpy(full + id_len, r[k].suffix, r[k].len);
            put_entry(f, s, full, id_len + r[k].len, r[k].h, t,
                      values + (first + k) * (size_t)n_values, n_values);
        }
        pthread_mutex_unlock(&s->lock);
    }
}

void kfeedback_remember_rows(kfeedback *f, const char *request_id, const double *values,
                             int n_values, size_t n_rows)
{
    if (!f || !request_id || !values || n_values <= 0) return;
    if (n_rows == 1) {
        kfeedback_remember(f, request_id, values, n_values);
        return;
    }
    size_t len = strlen(request_id);
    if (!fits(f, n_values) || len == 0 || len > KFEEDBACK_ID_MAX) return;
    uint64_t prefix_h = hash_more(FNV_BASIS, request_id, len);
    uint32_t t = now_s(f);
    for (size_t first = 0; first < n_rows; first += CHUNK) {
        size_t n = n_rows - first < CHUNK ? n_rows - first : CHUNK, last = first + n - 1;
        /* ids longer than KFEEDBACK_ID_MAX are ignored, as kfeedback_remember does */
        char tmp[24];
        if (len + row_suffix(last, tmp) > KFEEDBACK_ID_MAX) {
            while (n && len + row_suffix(first + n - 1, tmp) > KFEEDBACK_ID_MAX)
                n--;
            if (!n) return;
        }
        remember_chunk(f, request_id, len, prefix_h, t, values, n_values, first, n);
    }
}

/* ---- truth ---- */

/* The class index (classifier) or value (regressor) that `label` means; 0 when it fits none. */
static int resolve_number(const kfeedback *f, double label, double *truth)
{
    if (!isfinite(label)) return 0;
    if (!f->n_classes) {
        *truth = label;
        return 1;
    }
    if (f->labels_numeric) {
        for (int k = 0; k < f->n_classes; k++)
            if (f->label_num[k] == label) return *truth = k, 1;
        return 0;
    }
    if (label < 0 || label >= f->n_classes || label != floor(label)) return 0;
    *truth = label;
    return 1;
}

static int resolve(const kfeedback *f, const char *text, double label, double *truth)
{
    if (!text) return resolve_number(f, label, truth);
    for (int k = 0; f->labels && k < f->n_classes; k++)
        if (strcmp(f->labels[k], text) == 0) return *truth = k, 1;
    double x;
    return *text && num_parse_double(text, strlen(text), &x) && resolve_number(f, x, truth);
}

static int grow_ring(ring *r, int nv)
{
    size_t alloc = r->alloc ? r->alloc * 2 : MIN_ALLOC;
    if (alloc > r->cap) alloc = r->cap;
    double *p = realloc(r->pred, alloc * (size_t)nv * sizeof *p);
    if (p) r->pred = p;
    double *t = p ? realloc(r->truth, alloc * sizeof *t) : NULL;
    if (!t) return 0;
    r->truth = t;
    r->alloc = alloc;
    return 1;
}

static void push_pair(kfeedback *f, const double *pred, double truth)
{
    ring *r = &f->pairs;
    pthread_mutex_lock(&r->lock);
    size_t slot;
    int ok = 1;
    if (r->len < r->cap) {
        ok = r->len < r->alloc || grow_ring(r, f->nv);
        slot = r->len;
        r->len += (size_t)ok;
    } else {
        slot = r->head;
        r->head = (r->head + 1) % r->cap;
    }
    if (ok) {
        memcpy(&r->pred[slot * (size_t)f->nv], pred, (size_t)f->nv * sizeof *pred);
        r->truth[slot] = truth;
    }
    pthread_mutex_unlock(&r->lock);
}

/* Finds request_id and joins the truth; counts every outcome but KFB_UNKNOWN (the caller
 * decides where an unknown id counts). */
static kfeedback_outcome join(kfeedback *f, const char *request_id, const char *text, double label)
{
    if (!request_id || !*request_id || strlen(request_id) > KFEEDBACK_ID_MAX) return KFB_UNKNOWN;
    uint64_t h = hash_id(request_id);
    shard *s = &f->sh[(h >> 56) % (uint64_t)f->nshards];
    uint32_t t = now_s(f);
    double pred[KFEEDBACK_MAX_CLASSES], truth = 0;
    kfeedback_outcome out = KFB_UNKNOWN;
    pthread_mutex_lock(&s->lock);
    entry *e = find(s, request_id, (uint32_t)h);
    uint32_t i = e ? (uint32_t)(e - s->e) + 1 : 0;
    if (e && t - e->t <= f->window_s) {
        out = e->labelled                       ? KFB_DUPLICATE
              : resolve(f, text, label, &truth) ? KFB_JOINED
                                                : KFB_INVALID;
        if (out == KFB_JOINED) {
            e->labelled = 1;
            memcpy(pred, &s->v[(size_t)(i - 1) * (size_t)f->nv], (size_t)f->nv * sizeof *pred);
        }
    }
    pthread_mutex_unlock(&s->lock);
    if (out == KFB_JOINED) push_pair(f, pred, truth);
    if (out != KFB_UNKNOWN) atomic_fetch_add_explicit(&f->count[out], 1, memory_order_relaxed);
    return out;
}

static kstatus outcome_status(kfeedback_outcome o, const char *id, kerr *e)
{
    switch (o) {
    case KFB_JOINED:
        return K_OK;
    case KFB_DUPLICATE:
        return kerr_set(e, K_EXISTS, "request %.64s already got its feedback", id);
    case KFB_INVALID:
        return kerr_set(e, K_INVALID, "the truth for request %.64s fits no class of the model", id);
    default:
        return kerr_set(e, K_NOTFOUND, "no remembered prediction for request %.64s", id);
    }
}

static kstatus label_any(kfeedback *f, const char *request_id, const char *text, double label,
                         kerr *e)
{
    kfeedback_outcome o = join(f, request_id, text, label);
    if (o == KFB_UNKNOWN) atomic_fetch_add_explicit(&f->count[o], 1, memory_order_relaxed);
    return outcome_status(o, request_id ? request_id : "", e);
}

kstatus kfeedback_label(kfeedback *f, const char *request_id, double label, kerr *e)
{
    return label_any(f, request_id, NULL, label, e);
}

kstatus kfeedback_label_text(kfeedback *f, const char *request_id, const char *label, kerr *e)
{
    if (!label) return kerr_set(e, K_INVALID, "no label");
    return label_any(f, request_id, label, 0, e);
}

/* ---- metrics ---- */

typedef struct {
    double score;
    int pos;
} scored;

static int cmp_scored(const void *a, const void *b)
{
    double x = ((const scored *)a)->score, y = ((const scored *)b)->score;
    return (x > y) - (x < y);
}

/* ROC AUC of one class against the rest by the Mann-Whitney U statistic, ties counting half
 * (average ranks): equal to scikit-learn's trapezoidal area. NaN without both classes. */
static double auc_one(const double *pred, const double *truth, size_t n, int nv, int k, scored *tmp)
{
    size_t n1 = 0;
    for (size_t i = 0; i < n; i++) {
        tmp[i].score = pred[i * (size_t)nv + (size_t)k];
        tmp[i].pos = truth[i] == k;
        n1 += (size_t)tmp[i].pos;
    }
    if (n1 == 0 || n1 == n) return NAN;
    qsort(tmp, n, sizeof *tmp, cmp_scored);
    double rank_sum = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i, pos = 0;
        while (j < n && tmp[j].score == tmp[i].score)
            pos += (size_t)tmp[j++].pos;
        rank_sum += (double)pos * ((double)(i + 1 + j) / 2.0); /* mean of ranks i+1..j */
        i = j;
    }
    double n0 = (double)(n - n1);
    return (rank_sum - (double)n1 * ((double)n1 + 1) / 2.0) / ((double)n1 * n0);
}

static double roc_auc(const double *pred, const double *truth, size_t n, int nv)
{
    scored *tmp = malloc(n * sizeof *tmp);
    if (!tmp) return NAN;
    double sum = 0, out;
    int used = 0;
    if (nv == 2) {
        out = auc_one(pred, truth, n, nv, 1, tmp);
    } else {
        for (int k = 0; k < nv; k++) {
            double a = auc_one(pred, truth, n, nv, k, tmp);
            if (!isnan(a)) sum += a, used++;
        }
        out = used ? sum / used : NAN;
    }
    free(tmp);
    return out;
}

/* scikit-learn 1.2 log_loss: probabilities clipped to [eps, 1 - eps] with eps the float64
 * machine epsilon, each row renormalised. */
static double log_loss(const double *pred, const double *truth, size_t n, int nv)
{
    const double eps = 2.220446049250313e-16;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        const double *p = pred + i * (size_t)nv;
        double sum = 0, pt = 0;
        for (int k = 0; k < nv; k++) {
            double c = p[k] < eps ? eps : p[k] > 1 - eps ? 1 - eps : p[k];
            sum += c;
            if (k == (int)truth[i]) pt = c;
        }
        total += -log(pt / sum);
    }
    return total / (double)n;
}

static int argmax(const double *p, int nv)
{
    int best = 0;
    for (int k = 1; k < nv; k++)
        if (p[k] > p[best]) best = k;
    return best;
}

static double ratio(double a, double b)
{
    return b > 0 ? a / b : 0.0; /* scikit-learn's zero_division: 0 */
}

/* Precision, recall and F1 of class k from the counts. */
static void prf(const double *tp, const double *fp, const double *fn, int k, double out[3])
{
    out[0] = ratio(tp[k], tp[k] + fp[k]);
    out[1] = ratio(tp[k], tp[k] + fn[k]);
    double d = out[0] + out[1];
    out[2] = d > 0 ? 2 * out[0] * out[1] / d : 0.0;
}

static int classification(const double *pred, const double *truth, size_t n, int nv,
                          kfeedback_stats *s)
{
    double *c = calloc(3 * (size_t)nv, sizeof *c);
    if (!c) return 0;
    double *tp = c, *fp = c + nv, *fn = c + 2 * nv, correct = 0;
    for (size_t i = 0; i < n; i++) {
        int y = (int)truth[i], p = argmax(pred + i * (size_t)nv, nv);
        if (p == y)
            correct++, tp[y]++;
        else
            fp[p]++, fn[y]++;
    }
    s->accuracy = correct / (double)n;
    double m[3], sum[3] = {0, 0, 0};
    int present = 0;
    for (int k = nv == 2 ? 1 : 0; k < nv; k++) {
        if (nv != 2 && tp[k] + fp[k] + fn[k] == 0) continue; /* in neither truth nor prediction */
        prf(tp, fp, fn, k, m);
        for (int j = 0; j < 3; j++)
            sum[j] += m[j];
        present++;
    }
    s->precision = sum[0] / present;
    s->recall = sum[1] / present;
    s->f1 = sum[2] / present;
    s->log_loss = log_loss(pred, truth, n, nv);
    s->roc_auc = roc_auc(pred, truth, n, nv);
    free(c);
    return 1;
}

static void regression(const double *pred, const double *truth, size_t n, kfeedback_stats *s)
{
    double abs_sum = 0, sq_sum = 0;
    for (size_t i = 0; i < n; i++) {
        double d = pred[i] - truth[i];
        abs_sum += fabs(d);
        sq_sum += d * d;
    }
    s->mae = abs_sum / (double)n;
    s->rmse = sqrt(sq_sum / (double)n);
}

/* Copies the window out so that joins are not held up while the metrics are computed. */
static int copy_window(kfeedback *f, double **pred, double **truth, size_t *n)
{
    ring *r = &f->pairs;
    pthread_mutex_lock(&r->lock);
    *n = r->len;
    *pred = malloc((*n ? *n : 1) * (size_t)f->nv * sizeof **pred);
    *truth = malloc((*n ? *n : 1) * sizeof **truth);
    if (*pred && *truth && *n) { /* an empty ring may have no arrays yet */
        memcpy(*pred, r->pred, *n * (size_t)f->nv * sizeof **pred);
        memcpy(*truth, r->truth, *n * sizeof **truth);
    }
    pthread_mutex_unlock(&r->lock);
    return *pred && *truth;
}

/* Every metric undefined (NaN) until computed. */
static kfeedback_stats empty_stats(void)
{
    return (kfeedback_stats){.accuracy = NAN,
                             .precision = NAN,
                             .recall = NAN,
                             .f1 = NAN,
                             .log_loss = NAN,
                             .roc_auc = NAN,
                             .mae = NAN,
                             .rmse = NAN};
}

kstatus kfeedback_metrics(kfeedback *f, kfeedback_stats *out)
{
    kfeedback_stats s = empty_stats();
    s.joined = atomic_load(&f->count[KFB_JOINED]);
    s.unknown = atomic_load(&f->count[KFB_UNKNOWN]);
    s.duplicate = atomic_load(&f->count[KFB_DUPLICATE]);
    s.invalid = atomic_load(&f->count[KFB_INVALID]);
    double *pred = NULL, *truth = NULL;
    size_t n = 0;
    int ok = copy_window(f, &pred, &truth, &n);
    if (ok && n) {
        s.n = (int64_t)n;
        if (f->n_classes)
            ok = classification(pred, truth, n, f->nv, &s);
        else
            regression(pred, truth, n, &s);
    }
    free(pred);
    free(truth);
    *out = s;
    return ok ? K_OK : K_NOMEM;
}

/* ---- exposition ---- */

static const struct {
    const char *name, *type, *help;
} families[KFEEDBACK_FAMILIES] = {
    {"kiln_model_accuracy", "gauge", "Accuracy over the version's recent feedback window."},
    {"kiln_model_precision", "gauge",
     "Precision over the feedback window (binary: class 1; multiclass: macro)."},
    {"kiln_model_recall", "gauge",
     "Recall over the feedback window (binary: class 1; multiclass: macro)."},
    {"kiln_model_f1", "gauge", "F1 over the feedback window (binary: class 1; multiclass: macro)."},
    {"kiln_model_log_loss", "gauge", "Log loss over the feedback window."},
    {"kiln_model_roc_auc", "gauge",
     "ROC AUC over the feedback window (multiclass: macro one-vs-rest)."},
    {"kiln_model_mae", "gauge", "Mean absolute error over the feedback window."},
    {"kiln_model_rmse", "gauge", "Root mean squared error over the feedback window."},
    {"kiln_feedback_window_pairs", "gauge", "Joined (prediction, truth) pairs in the window."},
    {"kiln_feedback_total", "counter",
     "Feedback received, by outcome (joined, unknown, duplicate, invalid)."},
};

const char *kfeedback_family(int which, const char **type, const char **help)
{
    if (which < 0 || which >= KFEEDBACK_FAMILIES) return NULL;
    if (type) *type = families[which].type;
    if (help) *help = families[which].help;
    return families[which].name;
}

static void labels_of(buf *b, const char *model, int64_t version)
{
    b->len = 0;
    buf_append_str(b, "model=\"");
    prom_escape(b, model ? model : "");
    if (version)
        buf_printf(b, "\",version=\"%lld\"", (long long)version);
    else
        buf_append_str(b, "\",version=\"\"");
    buf_append(b, "", 1); /* NUL, not counted */
    b->len--;
}

static void write_counters(const kfeedback_stats *s, const char *labels, buf *out)
{
    static const char *names[KFB__COUNT] = {"joined", "unknown", "duplicate", "invalid"};
    uint64_t v[KFB__COUNT] = {s->joined, s->unknown, s->duplicate, s->invalid};
    char l[1024];
    for (int o = 0; o < KFB__COUNT; o++) {
        snprintf(l, sizeof l, "%s,outcome=\"%s\"", labels, names[o]);
        prom_sample(out, "kiln_feedback_total", l, (double)v[o]);
    }
}

void kfeedback_write_stats(const kfeedback_stats *s, int which, const char *model, int64_t version,
                           buf *out)
{
    double g[8] = {s->accuracy, s->precision, s->recall, s->f1,
                   s->log_loss, s->roc_auc,   s->mae,    s->rmse};
    buf l;
    buf_init(&l, 900);
    labels_of(&l, model, version);
    const char *labels = l.data ? (const char *)l.data : "";
    for (int f = which < 0 ? 0 : which; f < KFEEDBACK_FAMILIES; f++) {
        if (f < 8 && !isnan(g[f])) prom_sample(out, families[f].name, labels, g[f]);
        if (f == 8) prom_sample(out, families[f].name, labels, (double)s->n);
        if (f == 9) write_counters(s, labels, out);
        if (which >= 0) break;
    }
    buf_free(&l);
}

void kfeedback_write(kfeedback *f, const char *model, int64_t version, buf *out)
{
    kfeedback_stats s;
    kfeedback_metrics(f, &s);
    for (int w = 0; w < KFEEDBACK_FAMILIES; w++) {
        prom_family(out, families[w].name, families[w].type, families[w].help);
        kfeedback_write_stats(&s, w, model, version, out);
    }
}

/* ---- hub ---- */

typedef struct {
    char *model;
    int64_t version;
    kfeedback *f;
} hub_slot;

struct kfeedback_hub {
    pthread_mutex_t lock; /* serialises additions; readers only load n */
    size_t max_pending, max_pairs;
    uint32_t window_s;
    atomic_int n;
    atomic_ullong unknown;
    hub_slot v[KFEEDBACK_HUB_MAX];
};

kfeedback_hub *kfeedback_hub_new(size_t max_pending, uint32_t window_s, size_t max_pairs)
{
    if (max_pending > KFEEDBACK_MAX_PENDING || max_pairs > KFEEDBACK_MAX_PAIRS) return NULL;
    kfeedback_hub *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    pthread_mutex_init(&h->lock, NULL);
    h->max_pending = max_pending;
    h->window_s = window_s;
    h->max_pairs = max_pairs;
    return h;
}

void kfeedback_hub_free(kfeedback_hub *h)
{
    if (!h) return;
    int n = atomic_load(&h->n);
    for (int i = 0; i < n; i++) {
        free(h->v[i].model);
        kfeedback_free(h->v[i].f);
    }
    pthread_mutex_destroy(&h->lock);
    free(h);
}

static kfeedback *hub_find(kfeedback_hub *h, int n, const char *model, int64_t version)
{
    for (int i = 0; i < n; i++)
        if (h->v[i].version == version && strcmp(h->v[i].model, model) == 0) return h->v[i].f;
    return NULL;
}

kfeedback *kfeedback_hub_get(kfeedback_hub *h, const char *model, int64_t version, int n_classes,
                             const char *const *class_labels)
{
    if (!h || !model) return NULL;
    pthread_mutex_lock(&h->lock);
    int n = atomic_load_explicit(&h->n, memory_order_relaxed);
    kfeedback *f = hub_find(h, n, model, version);
    if (!f && n < KFEEDBACK_HUB_MAX) {
        char *name = strdup(model);
        f = name ? kfeedback_new(h->max_pending, h->window_s, h->max_pairs, n_classes, class_labels)
                 : NULL;
        if (f) {
            h->v[n] = (hub_slot){name, version, f};
            atomic_store_explicit(&h->n, n + 1, memory_order_release); /* publish the slot */
        } else {
            free(name);
        }
    }
    pthread_mutex_unlock(&h->lock);
    return f;
}

kfeedback_outcome kfeedback_hub_label(kfeedback_hub *h, const char *model, const char *request_id,
                                      const char *label_text, double label)
{
    int n = atomic_load_explicit(&h->n, memory_order_acquire);
    for (int i = n - 1; i >= 0; i--) {
        if (model && *model && strcmp(model, h->v[i].model) != 0) continue;
        kfeedback_outcome o = join(h->v[i].f, request_id, label_text, label);
        if (o != KFB_UNKNOWN) return o;
    }
    atomic_fetch_add_explicit(&h->unknown, 1, memory_order_relaxed);
    return KFB_UNKNOWN;
}

void kfeedback_hub_write(kfeedback_hub *h, buf *out)
{
    int n = atomic_load_explicit(&h->n, memory_order_acquire);
    kfeedback_stats *s = calloc((size_t)n + 1, sizeof *s);
    if (!s) return;
    for (int i = 0; i < n; i++)
        kfeedback_metrics(h->v[i].f, &s[i]);
    kfeedback_stats unknown = empty_stats();
    unknown.unknown = atomic_load(&h->unknown);
    for (int w = 0; w < KFEEDBACK_FAMILIES; w++) {
        prom_family(out, families[w].name, families[w].type, families[w].help);
        for (int i = 0; i < n; i++)
            kfeedback_write_stats(&s[i], w, h->v[i].model, h->v[i].version, out);
        if (w == 9) write_counters(&unknown, "model=\"\",version=\"\"", out);
    }
    free(s);
}
