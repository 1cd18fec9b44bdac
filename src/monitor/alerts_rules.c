/* alerts_rules.c — the `alerts:` section of kiln.yaml: settings, webhooks and rules, validated
 * with messages that name the offending key; plus the label-set helpers the engine shares. */
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/duration.h"
#include "monitor/alerts_impl.h"

/* ---- label sets ---------------------------------------------------------------------------- */

kstatus kal_labels_add(kal_labels *l, const char *k, const char *v)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->k[i], k)) {
            char *nv = strdup(v);
            if (!nv) return K_NOMEM;
            free(l->v[i]);
            l->v[i] = nv;
            return K_OK;
        }
    if (l->n == KAL_MAX_LABELS) return K_LIMIT;
    l->k[l->n] = strdup(k);
    l->v[l->n] = strdup(v);
    if (!l->k[l->n] || !l->v[l->n]) {
        free(l->k[l->n]);
        free(l->v[l->n]);
        return K_NOMEM;
    }
    l->n++;
    return K_OK;
}

void kal_labels_free(kal_labels *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->k[i]);
        free(l->v[i]);
    }
    l->n = 0;
}

const char *kal_labels_get(const kal_labels *l, const char *k)
{
    for (int i = 0; i < l->n; i++)
        if (!strcmp(l->k[i], k)) return l->v[i];
    return NULL;
}

void kal_labels_sort(kal_labels *l)
{
    for (int i = 1; i < l->n; i++)
        for (int j = i; j > 0 && strcmp(l->k[j - 1], l->k[j]) > 0; j--) {
            char *k = l->k[j], *v = l->v[j];
            l->k[j] = l->k[j - 1], l->v[j] = l->v[j - 1];
            l->k[j - 1] = k, l->v[j - 1] = v;
        }
}

static uint64_t fnv(uint64_t h, const char *s)
{
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return (h ^ 0xff) * 1099511628211ULL; /* a separator no label text contains */
}

uint64_t kal_labels_hash(const kal_labels *l)
{
    uint64_t h = 14695981039346656037ULL;
    for (int i = 0; i < l->n; i++)
        h = fnv(fnv(h, l->k[i]), l->v[i]);
    return h;
}

int kal_grow(void ***items, int n, int *cap, int limit)
{
    if (n < *cap) return 0;
    if (n >= limit) return -1;
    int nc = *cap ? *cap * 2 : 16;
    void **p = realloc(*items, (size_t)nc * sizeof *p);
    if (!p) return -1;
    *items = p;
    *cap = nc;
    return 0;
}

double kalerts_duration(const char *text)
{
    return duration_parse(text);
}

/* ---- parsing ------------------------------------------------------------------------------- */

typedef struct {
    char path[160]; /* "alerts.rules[2]" */
    kerr *e;
} ctx;

static kstatus bad(ctx *c, const char *key, const char *why)
{
    return kerr_set(c->e, K_INVALID, "%s%s%s: %s", c->path, key[0] ? "." : "", key, why);
}

static const char *text_of(json_object *v)
{
    return json_object_is_type(v, json_type_string) || json_object_is_type(v, json_type_int) ||
                   json_object_is_type(v, json_type_double)
               ? json_object_get_string(v)
               : NULL;
}

static kstatus get_duration(ctx *c, const char *key, json_object *v, double *out)
{
    const char *t = text_of(v);
    double d = t ? kalerts_duration(t) : -1;
    if (d < 0) return bad(c, key, "expected a duration such as 30s, 5m or 1h");
    *out = d;
    return K_OK;
}

static kstatus get_number(ctx *c, const char *key, json_object *v, double *out)
{
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double))
        return bad(c, key, "expected a number");
    *out = json_object_get_double(v);
    if (!isfinite(*out)) return bad(c, key, "expected a finite number");
    return K_OK;
}

static kstatus get_string(ctx *c, const char *key, json_object *v, char *out, size_t size)
{
    const char *t = text_of(v);
    if (!t) return bad(c, key, "expected text");
    if (strlen(t) >= size || !t[0]) return bad(c, key, "expected non-empty text (shorter)");
    snprintf(out, size, "%s", t);
    return K_OK;
}

static int is_name(const char *s, int colon)
{
    if (!*s || (*s >= '0' && *s <= '9')) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || (colon && *s == ':')))
            return 0;
    return 1;
}

static kstatus get_labels(ctx *c, const char *key, json_object *v, kal_labels *out)
{
    if (!json_object_is_type(v, json_type_object))
        return bad(c, key, "expected a mapping of label: value");
    json_object_object_foreach(v, k, val)
    {
        const char *t = val ? text_of(val) : NULL;
        if (!is_name(k, 0)) return bad(c, key, "label names are [a-zA-Z_][a-zA-Z0-9_]*");
        if (!t) return bad(c, key, "label values must be text or numbers");
        if (kal_labels_add(out, k, t)) return bad(c, key, "too many labels");
    }
    return K_OK;
}

static kstatus parse_op(ctx *c, json_object *v, kal_op *op)
{
    static const char *const ops[] = {">", ">=", "<", "<=", "==", "!="};
    const char *t = text_of(v);
    for (int i = 0; t && i < 6; i++)
        if (!strcmp(t, ops[i])) {
            *op = (kal_op)i;
            return K_OK;
        }
    return bad(c, "op", "expected one of >, >=, <, <=, ==, !=");
}

static kstatus parse_metric(ctx *c, json_object *v, kal_rule *r)
{
    kstatus st = get_string(c, "metric", v, r->metric, sizeof r->metric);
    if (st) return st;
    static const struct {
        const char *name;
        kal_signal s;
        double q;
    } derived[] = {{"error_rate", SIG_ERROR_RATE, 0},   {"missing_rate", SIG_MISSING_RATE, 0},
                   {"latency_p50", SIG_LATENCY, 0.5},   {"latency_p90", SIG_LATENCY, 0.9},
                   {"latency_p95", SIG_LATENCY, 0.95},  {"latency_p99", SIG_LATENCY, 0.99},
                   {"latency_p999", SIG_LATENCY, 0.999}};
    for (size_t i = 0; i < sizeof derived / sizeof *derived; i++)
        if (!strcmp(r->metric, derived[i].name)) {
            r->signal = derived[i].s;
            r->quantile = derived[i].q;
            return K_OK;
        }
    if (!is_name(r->metric, 1))
        return bad(c, "metric",
                   "expected a metric name from /metrics or error_rate, missing_rate, latency_p99");
    r->signal = SIG_RAW;
    return K_OK;
}

static kstatus rule_key(ctx *c, kal_rule *r, const char *k, json_object *v, int *seen)
{
    if (!strcmp(k, "alert")) {
        kstatus st = get_string(c, k, v, r->name, sizeof r->name);
        return st ? st : is_name(r->name, 0) ? K_OK : bad(c, k, "expected [a-zA-Z_][a-zA-Z0-9_]*");
    }
    if (!strcmp(k, "metric")) return (*seen |= 1), parse_metric(c, v, r);
    if (!strcmp(k, "threshold")) return (*seen |= 2), get_number(c, k, v, &r->threshold);
    if (!strcmp(k, "op")) return parse_op(c, v, &r->op);
    if (!strcmp(k, "for")) return get_duration(c, k, v, &r->for_s);
    if (!strcmp(k, "window")) return (*seen |= 4), get_duration(c, k, v, &r->window_s);
    if (!strcmp(k, "where")) return get_labels(c, k, v, &r->where);
    if (!strcmp(k, "labels")) return get_labels(c, k, v, &r->labels);
    if (!strcmp(k, "annotations")) return get_labels(c, k, v, &r->annotations);
    return bad(c, k,
               "unknown key (expected alert, metric, where, op, threshold, for, window, labels, "
               "annotations)");
}

static kstatus parse_rule(ctx *c, json_object *v, kal_rule *r)
{
    if (!json_object_is_type(v, json_type_object)) return bad(c, "", "expected a mapping");
    r->op = OP_GT;
    r->window_s = 300;
    int seen = 0;
    json_object_object_foreach(v, k, val)
    {
        kstatus st = rule_key(c, r, k, val, &seen);
        if (st) return st;
    }
    if (!r->name[0]) return bad(c, "alert", "every rule needs a name");
    if (!(seen & 1)) return bad(c, "metric", "every rule needs a metric");
    if (!(seen & 2)) return bad(c, "threshold", "every rule needs a threshold");
    if (r->signal == SIG_RAW && (seen & 4))
        return bad(c, "window", "only derived signals (error_rate, latency_p*, …) take a window");
    if (r->window_s <= 0) return bad(c, "window", "must be longer than 0s");
    return K_OK;
}

static kstatus parse_rules(ctx *c, json_object *v, kalerts *a)
{
    if (!json_object_is_type(v, json_type_array)) return bad(c, "rules", "expected a list");
    size_t n = json_object_array_length(v);
    if (n > KALERTS_MAX_RULES) return bad(c, "rules", "too many rules (at most 128)");
    for (size_t i = 0; i < n; i++) {
        snprintf(c->path, sizeof c->path, "alerts.rules[%zu]", i);
        kstatus st = parse_rule(c, json_object_array_get_idx(v, i), &a->rules[a->n_rules++]);
        if (st) return st;
    }
    snprintf(c->path, sizeof c->path, "alerts");
    return K_OK;
}

static kstatus webhook_fields(ctx *c, json_object *v, kalerts_webhook *w)
{
    json_object_object_foreach(v, k, val)
    {
        kstatus st = !strcmp(k, "url") ? get_string(c, "webhooks.url", val, w->url, sizeof w->url)
                     : !strcmp(k, "timeout")
                         ? get_duration(c, "webhooks.timeout", val, &w->timeout_s)
                         : bad(c, "webhooks", "expected url and timeout");
        if (st) return st;
    }
    return K_OK;
}

/* A webhook: "URL", or {url: URL, timeout: 5s}. */
static kstatus parse_webhook(ctx *c, json_object *v, kalerts_webhook *w)
{
    w->timeout_s = 5;
    kstatus st = json_object_is_type(v, json_type_object)
                     ? webhook_fields(c, v, w)
                     : get_string(c, "webhooks", v, w->url, sizeof w->url);
    if (st) return st;
    if (strncmp(w->url, "http://", 7) && strncmp(w->url, "https://", 8))
        return bad(c, "webhooks", "a webhook url starts with http:// or https://");
    return w->timeout_s > 0 ? K_OK : bad(c, "webhooks.timeout", "must be longer than 0s");
}

static kstatus parse_list(ctx *c, const char *key, json_object *v, kalerts *a)
{
    if (!json_object_is_type(v, json_type_array)) return bad(c, key, "expected a list");
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(v, i);
        kstatus st;
        if (!strcmp(key, "webhooks")) {
            if (a->n_webhooks == KALERTS_MAX_WEBHOOKS) return bad(c, key, "at most 8 webhooks");
            st = parse_webhook(c, it, &a->webhooks[a->n_webhooks++]);
        } else {
            if (a->n_group_by == KAL_MAX_LABELS) return bad(c, key, "too many labels");
            st = get_string(c, key, it, a->group_by[a->n_group_by], sizeof a->group_by[0]);
            if (!st && !is_name(a->group_by[a->n_group_by++], 0))
                st = bad(c, key, "expected label names");
        }
        if (st) return st;
    }
    return K_OK;
}

static kstatus setting(ctx *c, kalerts *a, const char *k, json_object *v)
{
    if (!strcmp(k, "interval")) return get_duration(c, k, v, &a->interval_s);
    if (!strcmp(k, "group_wait")) return get_duration(c, k, v, &a->group_wait_s);
    if (!strcmp(k, "group_interval")) return get_duration(c, k, v, &a->group_interval_s);
    if (!strcmp(k, "repeat_interval")) return get_duration(c, k, v, &a->repeat_interval_s);
    if (!strcmp(k, "external_url"))
        return get_string(c, k, v, a->external_url, sizeof a->external_url);
    if (!strcmp(k, "send_resolved")) {
        if (!json_object_is_type(v, json_type_boolean)) return bad(c, k, "expected true or false");
        a->send_resolved = json_object_get_boolean(v);
        return K_OK;
    }
    if (!strcmp(k, "group_by")) return (a->n_group_by = 0), parse_list(c, k, v, a);
    if (!strcmp(k, "webhooks")) return parse_list(c, k, v, a);
    if (!strcmp(k, "rules")) return parse_rules(c, v, a);
    return bad(c, k,
               "unknown key (expected interval, group_by, group_wait, group_interval, "
               "repeat_interval, send_resolved, external_url, webhooks, rules)");
}

static void defaults(kalerts *a)
{
    a->interval_s = 10;
    a->group_wait_s = 10;
    a->group_interval_s = 60;
    a->repeat_interval_s = 4 * 3600;
    a->send_resolved = 1;
    snprintf(a->group_by[0], sizeof a->group_by[0], "alertname");
    a->n_group_by = 1;
}

kstatus kalerts_new(const struct json_object *section, kalerts **out, kerr *e)
{
    json_object *v = (json_object *)section;
    ctx c = {"alerts", e};
    if (!json_object_is_type(v, json_type_object))
        return bad(&c, "", "expected a mapping (interval, webhooks, rules, …)");
    kalerts *a = calloc(1, sizeof *a);
    if (!a) return kerr_set(e, K_NOMEM, "out of memory");
    pthread_mutex_init(&a->lock, NULL);
    defaults(a);
    kstatus st = K_OK;
    json_object_object_foreach(v, k, val)
    {
        if ((st = setting(&c, a, k, val))) break;
    }
    if (!st && a->interval_s < 0.05) st = bad(&c, "interval", "must be at least 50ms");
    if (!st && a->repeat_interval_s <= 0) st = bad(&c, "repeat_interval", "must be longer than 0s");
    if (st) {
        kalerts_free(a);
        return st;
    }
    *out = a;
    return K_OK;
}
