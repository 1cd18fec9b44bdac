/* alerts_impl.h — the alert engine's internal types, shared by alerts_rules.c (parsing the
 * configuration) and alerts.c (evaluation, state and notifications). Not a public interface. */
#ifndef KILN_ALERTS_IMPL_H
#define KILN_ALERTS_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "monitor/alerts.h"

#define KAL_MAX_LABELS 32  /* labels of one alert: the series' own plus alertname and the rule's */
#define KAL_MAX_BUCKETS 48 /* histogram buckets a latency signal follows */
#define KAL_MAX_RING 64    /* snapshots a derived signal keeps for its window */

typedef struct {
    int n;
    char *k[KAL_MAX_LABELS], *v[KAL_MAX_LABELS]; /* owned */
} kal_labels;

typedef enum { SIG_RAW, SIG_ERROR_RATE, SIG_LATENCY, SIG_MISSING_RATE } kal_signal;
typedef enum { OP_GT, OP_GE, OP_LT, OP_LE, OP_EQ, OP_NE } kal_op;

typedef struct kal_hist kal_hist;

typedef struct {
    char name[128];   /* alertname */
    char metric[128]; /* sample name (SIG_RAW) */
    kal_signal signal;
    double quantile; /* SIG_LATENCY */
    kal_labels where, labels, annotations;
    kal_op op;
    double threshold, for_s, window_s;
    /* derived signals: one history per series, rebuilt from counters each evaluation */
    kal_hist **hist;
    int n_hist, cap_hist;
} kal_rule;

typedef enum { ST_PENDING, ST_FIRING, ST_RESOLVED } kal_state;

typedef struct {
    uint64_t fp, group;
    int rule;
    kal_labels labels, annotations;
    kal_state state;
    double active_since, fired_at, resolved_at, value;
    uint64_t seen; /* the evaluation that last saw the condition hold */
    int notified;  /* went out in a firing notification */
} kal_alert;

typedef struct {
    uint64_t key, sent_hash;
    kal_labels labels;
    double first_seen, last_notify;
    int has_sent;
} kal_group;

struct kalerts {
    pthread_mutex_t lock;
    double interval_s, group_wait_s, group_interval_s, repeat_interval_s;
    int send_resolved;
    char external_url[512];
    char group_by[KAL_MAX_LABELS][128];
    int n_group_by;
    kalerts_webhook webhooks[KALERTS_MAX_WEBHOOKS];
    int n_webhooks;
    kal_rule rules[KALERTS_MAX_RULES];
    int n_rules;
    kal_alert **alerts;
    int n_alerts, cap_alerts;
    kal_group **groups;
    int n_groups, cap_groups;
    uint64_t gen;     /* evaluations so far */
    double last_eval; /* when the previous one ran */
};

/* Label sets. */
kstatus kal_labels_add(kal_labels *l, const char *k, const char *v);
void kal_labels_free(kal_labels *l);
const char *kal_labels_get(const kal_labels *l, const char *k);
void kal_labels_sort(kal_labels *l);
uint64_t kal_labels_hash(const kal_labels *l); /* of the sorted set */
/* Grows *items (an array of pointers) to hold one more; 0 on success. */
int kal_grow(void ***items, int n, int *cap, int limit);

/* Sends the notifications due at `now` (alerts_notify.c); called with a->lock held. */
void kal_notify_groups(kalerts *a, double now, const kalerts_sink *sink);
/* JSON helpers: an RFC 3339 time ("0001-01-01T00:00:00Z" for t <= 0) and a label object. */
void kal_time(buf *b, double t);
void kal_write_labels(buf *b, const kal_labels *l);

#endif
