/* webhook.h — one HTTP POST of a JSON body (libcurl), for alert notifications.
 *
 * http:// and https:// only (certificates verified against the system store), no redirects
 * followed, no signals used (safe in threaded servers), the answer's body read and dropped (at
 * most 64 KiB). Call kwebhook_init once before any thread posts. */
#ifndef KILN_WEBHOOK_H
#define KILN_WEBHOOK_H

#include <stddef.h>

#include "base/status.h"

/* Process-wide libcurl setup; K_IO when it fails. Safe to call more than once. */
kstatus kwebhook_init(kerr *e);

/* Posts body[0..len) to url with Content-Type application/json, within timeout_s seconds.
 * K_OK on a 2xx answer; K_IO on a transport failure or any other status (*status gets the
 * status, 0 when none). Messages never include the URL's userinfo or query. */
kstatus kwebhook_post(const char *url, const char *body, size_t len, double timeout_s, int *status,
                      kerr *e);

#endif
