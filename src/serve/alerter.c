/* alerter.c — the alert evaluation and delivery threads of `kiln serve` (see alerter.h). */
#include "serve/alerter.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "serve/webhook.h"

#define TRIES 5

typedef struct {
    char *body; /* owned */
    size_t len;
    int webhook, tries;
    double next_try; /* CLOCK_MONOTONIC seconds */
} delivery;

struct kalerter {
    kalerter_options o;
    pthread_t eval_thread, send_thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    int stopping, started;
    delivery queue[KALERTER_QUEUE];
    int n_queue;
    _Atomic unsigned long long sent, failed, dropped;
};

static double mono(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double wall(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Waits on the condition until `until` (monotonic) or a wake-up; lock held. */
static void wait_until(kalerter *a, double until)
{
    double left = until - mono();
    if (left <= 0) return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double frac = floor(left);
    ts.tv_sec += (time_t)frac;
    ts.tv_nsec += (long)((left - frac) * 1e9);
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_cond_timedwait(&a->wake, &a->lock, &ts);
}

static void log_line(kalerter *a, int level, const char *msg)
{
    if (a->o.event) a->o.event(a->o.event_ctx, level, msg);
}

/* ---- delivery ------------------------------------------------------------------------------- */

/* Queues body for every webhook (sink callback; runs on the evaluation thread). */
static void enqueue(void *ctx, const char *json, size_t len)
{
    kalerter *a = ctx;
    int n_hooks;
    kalerts_webhooks(a->o.rules, &n_hooks);
    pthread_mutex_lock(&a->lock);
    for (int w = 0; w < n_hooks; w++) {
        if (a->n_queue == KALERTER_QUEUE) { /* drop the oldest */
            free(a->queue[0].body);
            memmove(a->queue, a->queue + 1, (size_t)(--a->n_queue) * sizeof *a->queue);
            atomic_fetch_add(&a->dropped, 1);
        }
        char *copy = malloc(len + 1);
        if (!copy) break;
        memcpy(copy, json, len);
        copy[len] = 0;
        a->queue[a->n_queue++] = (delivery){copy, len, w, 0, mono()};
    }
    pthread_cond_broadcast(&a->wake);
    pthread_mutex_unlock(&a->lock);
}

/* The index of the delivery due first; -1 when the queue is empty. */
static int next_due(const kalerter *a)
{
    int best = -1;
    for (int i = 0; i < a->n_queue; i++)
        if (best < 0 || a->queue[i].next_try < a->queue[best].next_try) best = i;
    return best;
}

static void attempt(kalerter *a, delivery *d)
{
    int n_hooks, status;
    const kalerts_webhook *w = kalerts_webhooks(a->o.rules, &n_hooks) + d->webhook;
    kerr e = {0};
    if (kwebhook_post(w->url, d->body, d->len, w->timeout_s, &status, &e) == K_OK) {
        atomic_fetch_add(&a->sent, 1);
        free(d->body);
        d->body = NULL;
        return;
    }
    d->tries++;
    char msg[KERR_MSG_MAX + 64];
    snprintf(msg, sizeof msg, "%s (try %d of %d)", e.msg, d->tries, TRIES);
    log_line(a, 1, msg);
    if (d->tries < TRIES) {
        d->next_try = mono() + (double)(1 << (d->tries - 1));
        return;
    }
    atomic_fetch_add(&a->failed, 1);
    free(d->body);
    d->body = NULL;
}

static void *send_loop(void *p)
{
    kalerter *a = p;
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        int i = next_due(a);
        if (i < 0 || a->queue[i].next_try > mono()) {
            wait_until(a, i < 0 ? mono() + 1 : a->queue[i].next_try);
            continue;
        }
        delivery d = a->queue[i];
        memmove(a->queue + i, a->queue + i + 1, (size_t)(--a->n_queue - i) * sizeof *a->queue);
        pthread_mutex_unlock(&a->lock);
        attempt(a, &d); /* the network call runs unlocked */
        pthread_mutex_lock(&a->lock);
        if (d.body && a->n_queue < KALERTER_QUEUE)
            a->queue[a->n_queue++] = d;
        else if (d.body)
            free(d.body), atomic_fetch_add(&a->dropped, 1);
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* ---- evaluation ----------------------------------------------------------------------------- */

static void event_sink(void *ctx, int level, const char *msg)
{
    log_line(ctx, level, msg);
}

static void evaluate(kalerter *a)
{
    buf text;
    buf_init(&text, (size_t)256 << 20);
    a->o.metrics(a->o.metrics_ctx, &text);
    kalerts_sink sink = {event_sink, enqueue, a};
    kerr e = {0};
    if (kalerts_eval(a->o.rules, text.data ? (const char *)text.data : "", text.len, wall(), &sink,
                     &e)) {
        char msg[KERR_MSG_MAX + 64];
        snprintf(msg, sizeof msg, "alerts: cannot read the metrics: %s", e.msg);
        log_line(a, 0, msg);
    }
    buf_free(&text);
}

static void *eval_loop(void *p)
{
    kalerter *a = p;
    double next = mono();
    pthread_mutex_lock(&a->lock);
    while (!a->stopping) {
        if (mono() < next) {
            wait_until(a, next);
            continue;
        }
        pthread_mutex_unlock(&a->lock);
        evaluate(a);
        pthread_mutex_lock(&a->lock);
        next += kalerts_interval(a->o.rules);
        if (next < mono()) next = mono(); /* fell behind: do not burst */
    }
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

kstatus kalerter_start(const kalerter_options *o, kalerter **out, kerr *e)
{
    kstatus st = kwebhook_init(e);
    if (st) return st;
    kalerter *a = calloc(1, sizeof *a);
    if (!a) return kerr_set(e, K_NOMEM, "out of memory");
    a->o = *o;
    pthread_mutex_init(&a->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&a->send_thread, NULL, send_loop, a)) {
        kalerter_stop(a);
        return kerr_set(e, K_NOMEM, "cannot start the alert delivery thread");
    }
    a->started = 1;
    if (pthread_create(&a->eval_thread, NULL, eval_loop, a)) {
        kalerter_stop(a);
        return kerr_set(e, K_NOMEM, "cannot start the alert evaluation thread");
    }
    a->started = 2;
    *out = a;
    return K_OK;
}

void kalerter_stop(kalerter *a)
{
    if (!a) return;
    pthread_mutex_lock(&a->lock);
    a->stopping = 1;
    pthread_cond_broadcast(&a->wake);
    pthread_mutex_unlock(&a->lock);
    if (a->started >= 1) pthread_join(a->send_thread, NULL);
    if (a->started >= 2) pthread_join(a->eval_thread, NULL);
    for (int i = 0; i < a->n_queue; i++)
        free(a->queue[i].body);
    pthread_cond_destroy(&a->wake);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

kalerts *kalerter_rules(kalerter *a)
{
    return a->o.rules;
}

void kalerter_write_metrics(kalerter *a, buf *out)
{
    kalerts_write_metrics(a->o.rules, out);
    buf_append_str(out, "# HELP kiln_alert_notifications_total Webhook deliveries of alert "
                        "notifications, by outcome.\n"
                        "# TYPE kiln_alert_notifications_total counter\n");
    buf_printf(out,
               "kiln_alert_notifications_total{outcome=\"sent\"} %llu\n"
               "kiln_alert_notifications_total{outcome=\"failed\"} %llu\n"
               "kiln_alert_notifications_total{outcome=\"dropped\"} %llu\n",
               atomic_load(&a->sent), atomic_load(&a->failed), atomic_load(&a->dropped));
}
