/* ratelimit.h — token-bucket rate limits for `kiln serve`: one bucket per API key ("key:NAME")
 * and one per client address ("addr:IP").
 *
 * A bucket holds at most `burst` tokens and refills at `per_s` tokens a second; a request
 * takes one token or is refused with the whole seconds until one is there (Retry-After, >= 1).
 * A key's own rate (keys.h, kkey.rate) overrides its role's default; "" means unlimited.
 *
 * Local buckets live in a lock-striped hash (64 stripes, one mutex each): a check is O(1) and
 * two requests contend only when their buckets share a stripe. Memory is bounded: each stripe
 * keeps its buckets in least-recently-used order and, when full, drops the least recently
 * used one (a bucket idle long enough to have refilled is the same as a new one; past the cap,
 * the oldest idle bucket is forgotten early). The clock is monotonic.
 *
 * With a Redis URL, buckets live in Redis instead (one hash per bucket, updated atomically by
 * a Lua script run with EVALSHA, EVAL when the script is not cached, and expiring once it would
 * be full again), so several instances share one budget. Failure policy: when Redis cannot be
 * reached or answers with an error, the check falls back to this process's local buckets —
 * the limit then holds per instance instead of across them — a warning is logged (at most once
 * per 10 s), kiln_rate_limit_redis_errors_total counts it, and Redis is tried again after 1 s.
 * Requests are never refused because Redis is down. */
#ifndef KILN_RATELIMIT_H
#define KILN_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/status.h"
#include "store/keys.h"

typedef struct krl krl;

/* One limit: per_s tokens a second (0 = unlimited), at most burst tokens (>= 1). */
typedef struct {
    double per_s, burst;
    char text[32]; /* as configured, "20/s", for messages */
} krl_limit;

typedef struct {
    const char *per_address; /* "200/s"; NULL or "" = no per-address limit */
    const char *per_role[5]; /* indexed by krole (viewer … admin); NULL or "" = unlimited */
    const char *burst;       /* "Ns" (N seconds' worth) or "N" (tokens); ""/NULL = "1s" */
    const char *redis;       /* "redis://[USER@]HOST:PORT[/DB]" or "HOST:PORT"; ""/NULL = local */
    const char *redis_password_file; /* Redis AUTH password (one line); ""/NULL = none */
    size_t max_buckets;              /* local buckets kept at most; 0 = 65536 */
    int64_t (*clock_us)(void *);     /* monotonic microseconds; NULL = CLOCK_MONOTONIC (tests) */
    void *clock_ctx;                 /* passed to clock_us */
    void (*log)(void *ctx, int level, const char *msg); /* warnings (level 1); NULL = none */
    void *log_ctx;
} krl_options;

/* Why a request was refused. */
typedef struct {
    int retry_after_s; /* whole seconds until a token is there, >= 1 */
    char what[200];    /* "key 'app' may make 20/s", for the 429 body */
} krl_denial;

/* Parses a rate "N/s", "N/m" or "N/h" (N a positive decimal number) into tokens a second;
 * "" or NULL gives 0 (unlimited). K_INVALID with a message naming `setting` otherwise. */
kstatus krl_parse_rate(const char *setting, const char *text, double *per_s, kerr *e);

/* Validates every setting (K_INVALID naming the bad one) and creates the limiter; *out is
 * freed with krl_free. An unreachable Redis is not an error here (see the failure policy). */
kstatus krl_new(const krl_options *o, krl **out, kerr *e);
void krl_free(krl *rl);

/* Takes a token from the per-address bucket of `client`: 1 when allowed (also when no
 * per-address limit is set), 0 when refused (*d filled). */
int krl_allow_address(krl *rl, const char *client, krl_denial *d);

/* Takes a token from the bucket of the authenticated caller `name` with role `role`; `rate`
 * is the key's own rate ("" = the role's default). 1 allowed (or unlimited), 0 refused. */
int krl_allow_key(krl *rl, const char *name, krole role, const char *rate, krl_denial *d);

/* The primitive both use: takes a token from bucket `bucket` under `lim`. 1 or 0 as above. */
int krl_take(krl *rl, const char *bucket, const krl_limit *lim, krl_denial *d);

/* Local buckets in memory now (for tests and metrics). */
size_t krl_buckets(krl *rl);

/* Appends kiln_rate_limited_total{scope="key"|"address"}, kiln_rate_limit_buckets and
 * kiln_rate_limit_redis_errors_total in the Prometheus text format. */
void krl_write_metrics(krl *rl, buf *out);

#endif
