/* router.h — maps a request's method and path to its handler. */
#ifndef KILN_ROUTER_H
#define KILN_ROUTER_H

#include "serve/handlers.h"
#include "store/keys.h"

/* Runs the handler for q (404 for an unknown path, 405 with Allow for a known path and another
 * method), filling r. */
void router_dispatch(kserve_ctx *c, const khttp_req *q, khttp_resp *r);

/* One route as the API description tells it: method ("GET"), path pattern ("{}" for each
 * captured segment: a model name, then a version), the least role that may call it when
 * authentication is on, and whether rate limits apply (health probes are exempt). */
typedef struct {
    const char *method, *pattern;
    krole need;
    int rate_limited;
} kroute_info;

/* Route i of the table (from 0); returns 0 past the end. */
int router_route(size_t i, kroute_info *out);

#endif
