/* alerter.h — runs the alert engine inside `kiln serve`: a thread that renders the server's
 * metrics every `interval` and evaluates the rules over them, and a thread that delivers the
 * notifications to every webhook, retrying a failed delivery with backoff (1, 2, 4, 8 s; five
 * tries) without holding up evaluation. At most KALERTER_QUEUE deliveries wait; past that the
 * oldest is dropped and counted. Firing and resolved alerts also go to the server log. */
#ifndef KILN_ALERTER_H
#define KILN_ALERTER_H

#include "base/buf.h"
#include "monitor/alerts.h"

typedef struct kalerter kalerter;

#define KALERTER_QUEUE 256

typedef struct {
    kalerts *rules;                       /* borrowed; must outlive the alerter */
    void (*metrics)(void *ctx, buf *out); /* appends the /metrics text */
    void *metrics_ctx;
    void (*event)(void *ctx, int level, const char *msg); /* log lines; may be NULL */
    void *event_ctx;
} kalerter_options;

kstatus kalerter_start(const kalerter_options *o, kalerter **out, kerr *e);
/* Stops both threads (a delivery in progress finishes first, bounded by its timeout). */
void kalerter_stop(kalerter *a);

kalerts *kalerter_rules(kalerter *a);
/* kiln_alerts and kiln_alert_notifications_total{outcome="sent|failed|dropped"}. */
void kalerter_write_metrics(kalerter *a, buf *out);

#endif
