/* auth.h — who is calling: API keys (keys.h) presented as "Authorization: Bearer KEY" or
 * "X-API-Key: KEY", checked against the registry's api_keys table, and what each role may do.
 *
 * Authentication is on as soon as one key exists (revoked ones included: revoking the last key
 * must not open the server) or when `required` is set. The keys are read into memory and
 * re-read within a second of any registry change (a refresher thread polls the change
 * counter), so create, revoke and rotate take effect on running servers. A key is checked
 * with argon2id once; afterwards its SHA-256 is remembered, so a request costs one hash and a
 * constant-time compare. At most two argon2id checks run at once, so wrong keys cannot exhaust
 * memory; a wrong key is remembered too (per key id), so repeating it costs nothing. */
#ifndef KILN_AUTH_H
#define KILN_AUTH_H

#include "store/keys.h"

typedef struct kauth kauth;

typedef struct {
    krole role;
    char name[KREG_NAME_MAX + 1]; /* the key's name ("" when unauthenticated) */
    char models[KKEY_MODELS_MAX]; /* "" = every model */
    char rate[32];                /* the key's own rate limit ("100/s"); "" = its role's default */
} kauth_who;

struct kjwt;

/* Takes ownership of r (a registry handle used only by the refresher thread; NULL: no API
 * keys) and jwt (a JWT verifier, jwt.h; NULL: no tokens). `required`: refuse unauthenticated
 * requests even while no key exists. A bearer credential that is not shaped like a Kiln key is
 * checked as a JWT: its role claim names the role, its `sub` becomes "jwt:SUB". */
kstatus kauth_start(kreg *r, struct kjwt *jwt, int required, kauth **out, kerr *e);
void kauth_stop(kauth *a);

/* Whether requests must authenticate now. */
int kauth_enabled(kauth *a);

/* Checks the credentials of a request (either header may be NULL) at time now_ms.
 * K_OK and *who filled; K_INVALID (401) with a reason that never contains the key:
 * "no credentials", "unknown key", "key revoked", "key expired", "wrong key", or why a JWT was
 * refused ("token expired", "signature does not verify", …); K_BUSY (503, retry) when a
 * key's first check would exceed the argon2id budget (20 at once, then 20 a second). */
kstatus kauth_check(kauth *a, const char *authorization, const char *api_key, int64_t now_ms,
                    kauth_who *who, kerr *e);

/* Records a refused request in the audit log, outcome denied, with the client address and the
 * reason (never the credential): auth.failure for an unauthenticated caller (actor NULL),
 * auth.forbidden for a known one without the right. At most 10 records at once, then one a
 * second; the next record written counts the failures left out. */
void kauth_audit_failure(kauth *a, const char *actor, const char *client, const char *reason,
                         int64_t now_ms);

/* Appends an administrative event (model.load, model.unload …) to the audit log through the
 * authenticator's registry handle; K_OK without doing anything when there is no registry. */
kstatus kauth_audit(kauth *a, const char *actor, const char *client, const char *action,
                    const char *object, const char *outcome, const char *detail, kerr *e);

#endif
