/* router.h — maps a request's method and path to its handler. */
#ifndef KILN_ROUTER_H
#define KILN_ROUTER_H

#include "serve/handlers.h"

/* Runs the handler for q (404 for an unknown path, 405 with Allow for a known path and another
 * method), filling r. */
void router_dispatch(kserve_ctx *c, const khttp_req *q, khttp_resp *r);

#endif
