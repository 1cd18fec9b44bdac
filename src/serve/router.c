/* router.c — the route table: every endpoint the server answers, in one place. */
#include "serve/router.h"

#include <stdio.h>
#include <string.h>

#define MAX_PARAMS 2
#define MAX_SEGMENTS 8

typedef struct {
    const char *method;
    const char *pattern; /* "{}" captures one path segment */
    khandler handler;
} route;

static const route routes[] = {
    {"GET", "/health", h_health},
    {"POST", "/predict", h_seed_predict},
    {"POST", "/feedback", h_feedback},
    {"POST", "/models/{}/predict", h_model_predict},
    {"POST", "/models/{}/versions/{}/predict", h_model_predict},
    {"GET", "/openapi.json", h_openapi},
    {"GET", "/metrics", h_metrics},
    {"GET", "/alerts", h_alerts},
    {"GET", "/v2/models/{}/stats", h_model_stats},
    {"GET", "/v2/health/live", oip_live},
    {"GET", "/v2/health/ready", oip_ready},
    {"GET", "/v2", oip_server_meta},
    {"GET", "/v2/models/{}", oip_model_meta},
    {"GET", "/v2/models/{}/versions/{}", oip_model_meta},
    {"GET", "/v2/models/{}/ready", oip_model_ready},
    {"GET", "/v2/models/{}/versions/{}/ready", oip_model_ready},
    {"POST", "/v2/models/{}/infer", oip_infer},
    {"POST", "/v2/models/{}/versions/{}/infer", oip_infer},
    {"POST", "/v2/repository/index", oip_repo_index},
    {"POST", "/v2/repository/models/{}/load", oip_repo_load},
    {"POST", "/v2/repository/models/{}/unload", oip_repo_unload},
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
        routes[i].handler(c, q, r, p, n);
        return;
    }
    if (path_known)
        not_allowed(r, q->path);
    else
        khttp_error(r, 404, "not_found", "no such endpoint: %.200s", q->path);
}
