/* alerts_notify.c — grouping firing and resolved alerts and writing Alertmanager webhook bodies
 * (version 4): when a group is due (group_wait, group_interval, repeat_interval) and what it
 * carries. Called by alerts.c with the engine's lock held. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/jsonw.h"
#include "monitor/alerts_impl.h"

#define MAX_PER_BODY 1000 /* alerts in one webhook body; the rest counted in truncatedAlerts */

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

static kal_group *group_of(kalerts *a, const kal_alert *al, double now)
{
    for (int i = 0; i < a->n_groups; i++)
        if (a->groups[i]->key == al->group) return a->groups[i];
    kal_group *g;
    if (kal_grow((void ***)&a->groups, a->n_groups, &a->cap_groups, KALERTS_MAX_ALERTS) ||
        !(g = calloc(1, sizeof *g)))
        return NULL;
    g->key = al->group;
    g->first_seen = now;
    for (int i = 0; i < a->n_group_by; i++) {
        const char *v = kal_labels_get(&al->labels, a->group_by[i]);
        if (v) kal_labels_add(&g->labels, a->group_by[i], v);
    }
    a->groups[a->n_groups++] = g;
    return g;
}

/* Labels (or annotations) every alert of the body shares with the first. */
static void common(kal_alert **in, int n, int annotations, kal_labels *out)
{
    const kal_labels *first = annotations ? &in[0]->annotations : &in[0]->labels;
    for (int k = 0; k < first->n; k++) {
        int all = 1;
        for (int i = 1; i < n && all; i++) {
            const char *v =
                kal_labels_get(annotations ? &in[i]->annotations : &in[i]->labels, first->k[k]);
            all = v && !strcmp(v, first->v[k]);
        }
        if (all) kal_labels_add(out, first->k[k], first->v[k]);
    }
}

static void group_key_text(buf *b, const kal_labels *g)
{
    buf_append_str(b, "{}:{");
    for (int i = 0; i < g->n; i++) {
        buf_printf(b, "%s%s=\"", i ? ", " : "", g->k[i]);
        for (const char *p = g->v[i]; *p; p++)
            buf_printf(b, *p == '"' || *p == '\\' ? "\\%c" : "%c", *p);
        buf_append_str(b, "\"");
    }
    buf_append_str(b, "}");
}

static void write_alert(buf *b, const kalerts *a, const kal_alert *al)
{
    buf_printf(b,
               "{\"status\":\"%s\",\"labels\":", al->state == ST_RESOLVED ? "resolved" : "firing");
    kal_write_labels(b, &al->labels);
    buf_append_str(b, ",\"annotations\":");
    kal_write_labels(b, &al->annotations);
    buf_append_str(b, ",\"startsAt\":");
    kal_time(b, al->fired_at);
    buf_append_str(b, ",\"endsAt\":");
    kal_time(b, al->state == ST_RESOLVED ? al->resolved_at : 0);
    buf_append_str(b, ",\"generatorURL\":");
    char url[600];
    snprintf(url, sizeof url, "%s%s", a->external_url, a->external_url[0] ? "/alerts" : "");
    jsonw_string(b, url);
    buf_printf(b, ",\"fingerprint\":\"%016llx\"}", (unsigned long long)al->fp);
}

static void write_body(buf *b, const kalerts *a, const kal_group *g, kal_alert **in, int n,
                       int total)
{
    int firing = 0;
    for (int i = 0; i < n; i++)
        firing |= in[i]->state == ST_FIRING;
    kal_labels cl = {0}, ca = {0};
    common(in, n, 0, &cl);
    common(in, n, 1, &ca);
    buf_printf(b, "{\"version\":\"4\",\"groupKey\":");
    buf key;
    buf_init(&key, 1 << 16);
    group_key_text(&key, &g->labels);
    buf_append(&key, "", 1);
    jsonw_string(b, key.data ? (const char *)key.data : "");
    buf_free(&key);
    buf_printf(b,
               ",\"truncatedAlerts\":%d,\"status\":\"%s\",\"receiver\":\"kiln\",\"groupLabels\":",
               total - n, firing ? "firing" : "resolved");
    kal_write_labels(b, &g->labels);
    buf_append_str(b, ",\"commonLabels\":");
    kal_write_labels(b, &cl);
    buf_append_str(b, ",\"commonAnnotations\":");
    kal_write_labels(b, &ca);
    buf_append_str(b, ",\"externalURL\":");
    jsonw_string(b, a->external_url);
    buf_append_str(b, ",\"alerts\":[");
    for (int i = 0; i < n; i++) {
        if (i) buf_append_str(b, ",");
        write_alert(b, a, in[i]);
    }
    buf_append_str(b, "]}");
    kal_labels_free(&cl);
    kal_labels_free(&ca);
}

static int due(const kalerts *a, const kal_group *g, uint64_t hash, int firing, int resolved,
               double now)
{
    if (!g->has_sent) return firing && now - g->first_seen >= a->group_wait_s - 1e-9;
    if (hash != g->sent_hash || resolved) return now - g->last_notify >= a->group_interval_s - 1e-9;
    return firing && now - g->last_notify >= a->repeat_interval_s - 1e-9;
}

/* Sends group g's body if it is due; afterwards its resolved alerts are gone. */
static void flush_group(kalerts *a, kal_group *g, kal_alert **in, double now,
                        const kalerts_sink *sink)
{
    int n = 0, firing = 0, resolved = 0;
    uint64_t hash = 0;
    for (int i = 0; i < a->n_alerts; i++) {
        kal_alert *al = a->alerts[i];
        if (al->group != g->key || al->state == ST_PENDING) continue;
        if (al->state == ST_FIRING) firing++, hash += mix(al->fp);
        if (al->state == ST_RESOLVED) resolved++;
        if (n < MAX_PER_BODY) in[n++] = al;
    }
    if (!n || !due(a, g, hash, firing, resolved, now)) return;
    buf body;
    buf_init(&body, (size_t)64 << 20);
    write_body(&body, a, g, in, n, firing + resolved);
    if (sink && sink->notify && body.data)
        sink->notify(sink->ctx, (const char *)body.data, body.len);
    buf_free(&body);
    g->has_sent = 1;
    g->last_notify = now;
    g->sent_hash = hash;
    for (int i = 0; i < n; i++)
        if (in[i]->state == ST_FIRING) in[i]->notified = 1;
    for (int i = 0; i < a->n_alerts; i++)
        if (a->alerts[i]->group == g->key && a->alerts[i]->state == ST_RESOLVED) {
            kal_labels_free(&a->alerts[i]->labels);
            kal_labels_free(&a->alerts[i]->annotations);
            free(a->alerts[i]);
            a->alerts[i--] = a->alerts[--a->n_alerts];
        }
}

void kal_notify_groups(kalerts *a, double now, const kalerts_sink *sink)
{
    for (int i = 0; i < a->n_alerts; i++)
        if (a->alerts[i]->state != ST_PENDING) group_of(a, a->alerts[i], now);
    kal_alert **in = malloc(MAX_PER_BODY * sizeof *in);
    if (!in) return;
    for (int i = 0; i < a->n_groups; i++) {
        kal_group *g = a->groups[i];
        flush_group(a, g, in, now, sink);
        int left = 0;
        for (int j = 0; j < a->n_alerts && !left; j++)
            left = a->alerts[j]->group == g->key && a->alerts[j]->state != ST_PENDING;
        if (!left) {
            kal_labels_free(&g->labels);
            free(g);
            a->groups[i--] = a->groups[--a->n_groups];
        }
    }
    free(in);
}
