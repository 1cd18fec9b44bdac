/* keys.h — API keys in the registry: create, list, revoke, rotate, and the records the server
 * authenticates against.
 *
 * A key reads "kiln_<id>_<secret>": <id> is 12 hex digits (public, used to find the record),
 * <secret> 43 base64url characters (32 random bytes). Only an argon2id hash of the whole key is
 * stored (libsodium crypto_pwhash_str, 2 passes over 19 MiB: OWASP's minimum for argon2id), so
 * the secret is shown once, when it is made, and cannot be recovered from the registry.
 *
 * Roles, each including the ones before it: viewer (health, metadata, metrics, stats),
 * predictor (inference, feedback), deployer (model repository load/unload, alias moves),
 * admin (keys and everything). A key may be limited to some models.
 *
 * Rotation makes a new secret for the same name; the old one stays valid for a grace period.
 * Every change bumps the registry's change counter, so a running server reloads the keys
 * within a second. */
#ifndef KILN_KEYS_H
#define KILN_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "store/registry.h"

#define KKEY_LEN 62 /* "kiln_" + 12 + "_" + 43 + NUL rounded up */
#define KKEY_ID_LEN 12
#define KKEY_MODELS_MAX 1024 /* the comma list of models a key is limited to */

typedef enum { KROLE_NONE = 0, KROLE_VIEWER, KROLE_PREDICTOR, KROLE_DEPLOYER, KROLE_ADMIN } krole;

/* "viewer" … "admin" → the role; KROLE_NONE for anything else. */
krole krole_parse(const char *name);
const char *krole_name(krole r);

typedef struct {
    char name[KREG_NAME_MAX + 1];
    char key_id[KKEY_ID_LEN + 1];
    char hash[160]; /* argon2id string */
    krole role;
    char models[KKEY_MODELS_MAX];               /* "" = every model */
    char rate[32];                              /* "100/s", "" = the default */
    int64_t created_at, expires_at, revoked_at; /* ms since the epoch; 0 = never / not */
    char created_by[KREG_NAME_MAX + 1];
    char old_key_id[KKEY_ID_LEN + 1]; /* the secret before the last rotation … */
    char old_hash[160];
    int64_t old_valid_until; /* … valid until then (ms; 0 = not valid) */
} kkey;

typedef struct {
    const char *name; /* [A-Za-z0-9._-], 1-128 */
    krole role;
    const char *models; /* comma list or NULL/"" for all */
    const char *rate;   /* "N/s", "N/m" or NULL */
    int64_t expires_at; /* ms; 0 = never */
    const char *by;     /* who creates it */
} kkey_spec;

/* Creates a key and writes its secret (KKEY_LEN bytes with the NUL) to key_out.
 * K_EXISTS when the name is taken; K_INVALID for a bad name, role, model list or rate. */
kstatus kkeys_create(kreg *r, const kkey_spec *spec, char key_out[KKEY_LEN], kerr *e);
/* Every key, newest first; *out is malloc'd (free()). */
kstatus kkeys_list(kreg *r, kkey **out, int *n, kerr *e);
/* Revokes a key now (K_NOTFOUND when there is none by that name; revoking twice is K_OK). */
kstatus kkeys_revoke(kreg *r, const char *name, const char *by, kerr *e);
/* A new secret for `name`; the current one stays valid for grace_ms more. */
kstatus kkeys_rotate(kreg *r, const char *name, int64_t grace_ms, const char *by,
                     char key_out[KKEY_LEN], kerr *e);

/* Splits a presented key into its id; 0 when it does not have the shape of a Kiln key. */
int kkey_id_of(const char *key, char id[KKEY_ID_LEN + 1]);
/* Checks a presented key against an argon2id hash (slow: tens of milliseconds). */
int kkey_matches(const char *key, const char *hash);
/* Whether the comma list `models` ("" = all) allows `model`. */
int kkey_allows_model(const char *models, const char *model);

#endif
