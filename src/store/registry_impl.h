/* registry_impl.h — internal to src/store/registry*.c, runs.c, audit*.c and maint.c: the
 * registry handle and the helpers they share (write transactions, audited writes, time, JSON
 * building). */
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
    /* audit log (audit.c): who and from where registry writes are recorded as, the JSONL
     * mirror (NULL when none), whether the open transaction appended records */
    char *audit_actor, *audit_address, *audit_file;
    int in_write, audit_dirty;
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

/* Audit log internals (audit.c). kaudit__open sets the actor, address and JSONL path from the
 * options; kaudit__committed brings the JSONL file up to the database after a commit that
 * appended records; kaudit__rolled_back forgets that anything was appended. */
kstatus kaudit__open(kreg *r, const kreg_options *o, kerr *e);
void kaudit__close(kreg *r);
void kaudit__committed(kreg *r);
void kaudit__rolled_back(kreg *r);
const char *kaudit__file(const kreg *r);
/* One record as JSON from a (seq, at_ms, actor, address, action, object, outcome, detail,
 * prev_hash, hash) row; with_time adds "at" as ISO 8601. Caller owns it. */
struct json_object *kaudit__row_json(const kdb_rows *rows, int i, int with_time);

/* An administrative registry write: kreg__write running fn, then appending an "ok" record
 * (actor: who, else the handle's audit actor) in the same transaction. fn may fill object and
 * detail (they are read after it ran). A refused action (K_CONFLICT, K_NOTFOUND, K_EXISTS,
 * K_INVALID) is recorded with that outcome on its own after the rollback. */
typedef struct {
    const char *who, *action, *object, *detail;
} kreg__audit_op;
kstatus kreg__audited_write(kreg *r, kreg__txn_fn fn, void *ctx, kreg__audit_op *op, kerr *e);

/* Schema migrations (registry_schema.c): brings the schema to KREG_SCHEMA_VERSION. */
kstatus kreg__migrate(kreg *r, kerr *e);

#endif
