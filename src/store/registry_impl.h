/* registry_impl.h — internal to src/store/registry*.c, runs.c and maint.c: the registry
 * handle and the helpers they share (write transactions, time, JSON building). */
#ifndef KILN_REGISTRY_IMPL_H
#define KILN_REGISTRY_IMPL_H

#include <json-c/json.h>
#include <stdint.h>

#include "store/artifacts.h"
#include "store/db.h"
#include "store/registry.h"

struct kreg {
    kdb *db;
    artifacts *art;
    int schema_found, schema_now;
    uint64_t changes;  /* last counter read */
    int changes_known; /* 0 until the counter was read once */
};

/* Runs fn inside one write transaction that also bumps the change counter (and notifies
 * PostgreSQL listeners); rolls back on any error. */
typedef kstatus (*kreg__txn_fn)(kreg *r, void *ctx, kerr *e);
kstatus kreg__write(kreg *r, kreg__txn_fn fn, void *ctx, kerr *e);

/* Milliseconds since the Unix epoch, and the same as decimal text (buf of 24). */
int64_t kreg__now_ms(void);
const char *kreg__i64(int64_t v, char buf[24]);

/* JSON helpers: a string or null; a millisecond timestamp as ISO 8601 UTC ("…T…Z") or null. */
struct json_object *kreg__jstr(const char *s);
struct json_object *kreg__jtime(const char *ms_text);
struct json_object *kreg__jint(const char *int_text);

/* Runs a query and returns K_NOTFOUND with `what` when it yields no row. */
kstatus kreg__query_one(kreg *r, const char *sql, int n, const char *const *p, kdb_rows **rows,
                        const char *what, kerr *e);

/* Runs a query whose rows are (key, value) text pairs and returns them as a JSON object. */
kstatus kreg__kv_json(kreg *r, const char *sql, int n, const char *const *p,
                      struct json_object **out, kerr *e);

/* Checks that a tag key / value is acceptable. */
kstatus kreg__check_tag(const char *key, const char *value, kerr *e);

/* Schema migrations (registry_schema.c): brings the schema to KREG_SCHEMA_VERSION. */
kstatus kreg__migrate(kreg *r, kerr *e);

#endif
