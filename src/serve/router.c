/* router.c — the route table: every endpoint the server answers and the role it needs, in one
 * place; rate limits, authentication and authorisation happen here, before any handler runs.
 *
 * Order: the per-address limit first (so floods of bad credentials are throttled before they
 * cost an authentication), then authentication and authorisation, then the caller's own limit.
 * Health probes (/health, /v2/health/live, /v2/health/ready) are never rate limited: a load
 * balancer or kubelet probing from one address must not take a busy instance out of service;
 * with open_probes they need no credentials either (they say only "alive" and "ready"). */
#include "serve/router.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "serve/auth.h"
#include "serve/ratelimit.h"

#define MAX_PARAMS 2
#define MAX_SEGMENTS 8

typedef struct {
    const char *method;
    const char *pattern; /* "{}" captures one path segment */
    khandler handler;
    krole need; /* the least role that may call it (when authentication is on) */
} route;

#define V KROLE_VIEWER
#define P KROLE_PREDICTOR
#define D KROLE_DEPLOYER

static const route routes[] = {
    {"GET", "/health", h_health, V},
    {"POST", "/predict", h_seed_predict, P},
    {"POST", "/feedback", h_feedback, P},
    {"POST", "/models/{}/predict", h_model_predict, P},
    {"POST", "/models/{}/versions/{}/predict", h_model_predict, P},
    {"GET", "/openapi.json", h_openapi, V},
    {"GET", "/metrics", h_metrics, V},
    {"GET", "/alerts", h_alerts, V},
    {"GET", "/v2/models/{}/stats", h_model_stats, V},
    {"GET", "/v2/health/live", oip_live, V},
    {"GET", "/v2/health/ready", oip_ready, V},
    {"GET", "/v2", oip_server_meta, V},
    {"GET", "/v2/models/{}", oip_model_meta, V},
    {"GET", "/v2/models/{}/versions/{}", oip_model_meta, V},
    {"GET", "/v2/models/{}/ready", oip_model_ready, V},
    {"GET", "/v2/models/{}/versions/{}/ready", oip_model_ready, V},
    {"POST", "/v2/models/{}/infer", oip_infer, P},
    {"POST", "/v2/models/{}/versions/{}/infer", oip_infer, P},
    {"POST", "/v2/repository/index", oip_repo_index, D},
    {"POST", "/v2/repository/models/{}/load", oip_repo_load, D},
    {"POST", "/v2/repository/models/{}/unload", oip_repo_unload, D},
};
#define N_ROUTES (sizeof routes / sizeof routes[0])

typedef struct {
    char text[KHTTP_NAME_MAX];
} param;

/* Matches `path` against `pattern`, capturing "{}" segments; returns the capture count or -1. */
static int match(const char *pattern, const char *path, param *params)
{
    int n = 0;
    while (*pattern && *path) {
        if (*pattern != '/' || *path != '/') return -1;
        pattern++, path++;
        size_t seg = strcspn(path, "/");
        if (strncmp(pattern, "{}", 2) == 0 && (pattern[2] == '/' || !pattern[2])) {
            if (seg == 0 || seg >= sizeof params[0].text || n == MAX_PARAMS) return -1;
            memcpy(params[n].text, path, seg);
            params[n++].text[seg] = 0;
            pattern += 2;
        } else {
            size_t pseg = strcspn(pattern, "/");
            if (pseg != seg || strncmp(pattern, path, seg) != 0) return -1;
            pattern += pseg;
        }
        path += seg;
    }
    return *pattern || *path ? -1 : n;
}

static void not_allowed(khttp_resp *r, const char *path)
{
    char allow[32] = "";
    param tmp[MAX_PARAMS];
    for (size_t i = 0; i < N_ROUTES; i++)
        if (match(routes[i].pattern, path, tmp) >= 0 && !strstr(allow, routes[i].method))
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                     allow[0] ? ", " : "", routes[i].method);
    khttp_add_header(r, "Allow", allow);
    khttp_error(r, 405, "method_not_allowed", "method not allowed here (allowed: %s)", allow);
}

static int64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The model a request acts on: the path's {name}, or /predict's default model. */
static int model_allowed(kserve_ctx *c, const kauth_who *who, const route *rt, const char *model)
{
    if (!who->models[0]) return 1;
    if (model) return kkey_allows_model(who->models, model);
    if (rt->handler != h_seed_predict) return 1; /* /feedback, /metrics, …: not model-bound */
    kms_ref *ref = kms_acquire(c->models, NULL, 0);
    int ok = ref && kkey_allows_model(who->models, kms_name(ref));
    kms_release(ref);
    return ok;
}

static int is_probe(const route *rt)
{
    return rt->handler == h_health || rt->handler == oip_live || rt->handler == oip_ready;
}

int router_route(size_t i, kroute_info *out)
{
    if (i >= N_ROUTES) return 0;
    *out = (kroute_info){routes[i].method, routes[i].pattern, routes[i].need,
                         !is_probe(&routes[i])};
    return 1;
}

/* The rate limit of the caller `who` (NULL: of the client address); 1 when the request may go
 * on, else a 429 with Retry-After has been written. */
static int within_limit(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const route *rt,
                        const kauth_who *who)
{
    if (!c->ratelimit || is_probe(rt)) return 1;
    krl_denial d;
    if (who ? krl_allow_key(c->ratelimit, who->name, who->role, who->rate, &d)
            : krl_allow_address(c->ratelimit, q->client, &d))
        return 1;
    char secs[16];
    snprintf(secs, sizeof secs, "%d", d.retry_after_s);
    khttp_add_header(r, "Retry-After", secs);
    khttp_error(r, 429, "rate_limited", "rate limit exceeded: %s; retry in %d s", d.what,
                d.retry_after_s);
    return 0;
}

/* Rate limits (429), authentication (401) and authorisation (403) for route rt; 1 when the
 * handler may run. */
static int allowed(kserve_ctx *c, const khttp_req *q, khttp_resp *r, const route *rt,
                   const char *model)
{
    if (!within_limit(c, q, r, rt, NULL)) return 0;
    if (c->open_probes && is_probe(rt)) return 1; /* a load balancer that cannot send a key */
    if (!kauth_enabled(c->auth)) {
        if (rt->need < D || !c->allow_model_control) return 1; /* disabled: the handler says 403 */
        khttp_add_header(r, "WWW-Authenticate", "Bearer realm=\"kiln\"");
        khttp_error(r, 401, "unauthorized",
                    "model control needs authentication: create a key with "
                    "`kiln keys create --name NAME --role deployer`");
        return 0;
    }
    kauth_who who;
    kerr e = {0};
    kstatus st = kauth_check(c->auth, khttp_header(q, "Authorization"),
                             khttp_header(q, "X-API-Key"), now_ms(), &who, &e);
    if (st == K_BUSY) { /* the argon2id budget is spent: not a verdict on the credential */
        khttp_add_header(r, "Retry-After", "1");
        khttp_error(r, 503, "auth_busy", "%s", e.msg);
        return 0;
    }
    if (st) {
        khttp_add_header(r, "WWW-Authenticate", "Bearer realm=\"kiln\"");
        khttp_error(r, 401, "unauthorized", "authentication failed: %s", e.msg);
        kauth_audit_failure(c->auth, NULL, q->client, e.msg, now_ms());
        return 0;
    }
    if (who.role < rt->need)
        khttp_error(r, 403, "forbidden", "key '%s' has role %s; this endpoint needs %s", who.name,
                    krole_name(who.role), krole_name(rt->need));
    else if (!model_allowed(c, &who, rt, model))
        khttp_error(r, 403, "forbidden", "key '%s' may not use this model", who.name);
    else {
        snprintf(r->actor, sizeof r->actor, "%s", who.name);
        return within_limit(c, q, r, rt, &who);
    }
    char why[600];
    snprintf(why, sizeof why, "%s %.500s", q->method, q->path);
    kauth_audit_failure(c->auth, who.name, q->client, why, now_ms());
    return 0;
}

void router_dispatch(kserve_ctx *c, const khttp_req *q, khttp_resp *r)
{
    param params[MAX_PARAMS] = {{{0}}};
    int path_known = 0;
    for (size_t i = 0; i < N_ROUTES; i++) {
        int n = match(routes[i].pattern, q->path, params);
        if (n < 0) continue;
        path_known = 1;
        if (strcmp(routes[i].method, q->method) != 0) continue;
        const char *p[MAX_PARAMS] = {params[0].text, params[1].text};
        if (allowed(c, q, r, &routes[i], n ? p[0] : NULL)) routes[i].handler(c, q, r, p, n);
        return;
    }
    if (path_known)
        not_allowed(r, q->path);
    else
        khttp_error(r, 404, "not_found", "no such endpoint: %.200s", q->path);
}
