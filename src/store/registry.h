/* registry.h — the model registry: registered models, their immutable numbered versions,
 * aliases that move atomically, tags and lineage, over an SQL backend (db.h: embedded SQLite
 * by default, PostgreSQL for teams) and the content-addressed artifact store (artifacts.h).
 *
 * Names: a model or experiment name is 1-128 characters from [A-Za-z0-9._-], starting with a
 * letter or digit. An alias is 1-64 characters from [A-Za-z0-9_-], starting with a letter, and
 * is not "latest" (a reserved reference). A reference "REF" in NAME@REF is a version number,
 * an alias, or "latest" (the newest version that is not archived).
 *
 * Integrity: a version's package is stored (fsynced) before the transaction that records it,
 * so a crash leaves at worst an orphan artifact, which kreg_gc removes; every write is one
 * transaction; version numbers come from a per-model counter updated inside that transaction,
 * so concurrent writers get unique, gap-free numbers. Schema migrations are applied on open;
 * a store whose schema is newer than this binary knows is refused (K_VERSION).
 *
 * A kreg handle is one database connection: use it from one thread at a time (the server
 * opens one per thread that needs it). Results that describe state are json-c objects the
 * caller owns (json_object_put). */
#ifndef KILN_REGISTRY_H
#define KILN_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "base/sha256.h"
#include "base/status.h"

struct json_object;
typedef struct kreg kreg;

#define KREG_NAME_MAX 128
#define KREG_ALIAS_MAX 64
#define KREG_SCHEMA_VERSION 3

typedef struct {
    const char *store;     /* "postgres://…" or an SQLite path (required) */
    const char *artifacts; /* artifact directory (required) */
    int busy_ms;           /* how long SQLite waits for a lock; 0 = 30000 */
    /* Audit log (store/audit.h): the directory whose audit.jsonl mirrors the log (NULL: the
     * SQLite database's directory; none for PostgreSQL), and who write operations that name
     * no user are recorded as (NULL: $KILN_USER, else the login name). */
    const char *home;
    const char *user;
} kreg_options;

/* Opens the registry, creating and migrating its schema as needed. */
kstatus kreg_open(const kreg_options *o, kreg **out, kerr *e);
void kreg_close(kreg *r);

/* "sqlite" or "postgres". */
const char *kreg_backend(const kreg *r);
/* The schema version found on open and the one after migrating (equal when nothing ran). */
void kreg_schema(const kreg *r, int *found, int *now);

/* Name checks (return K_INVALID with a message naming the rule). */
kstatus kreg_check_name(const char *what, const char *name, kerr *e);
kstatus kreg_check_alias(const char *alias, kerr *e);

/* Splits "NAME@REF" (REF optional: ref gets "" then). Buffers are KREG_NAME_MAX+1 bytes. */
kstatus kreg_split_ref(const char *text, char *name, char *ref, kerr *e);

/* What the server needs to know about one version. */
typedef struct {
    char name[KREG_NAME_MAX + 1];
    int64_t version;
    int archived;
    char package_sha256[SHA256_HEX_LEN];
    int64_t package_size;
} kreg_version;

/* A registration. `package` holds the bytes of a .kiln package, which is validated (checksum,
 * spec) before anything is written. Every field but name, package and who may be NULL/0. */
typedef struct {
    const char *name;
    const void *package;
    size_t package_len;
    const char *who; /* user or API-key name recorded as registered_by */
    const char *description;
    const char *alias; /* set to the new version in the same transaction */
    int n_tags;
    const char *const *tag_keys, *const *tag_values;
    int64_t parent_version;  /* 0 = none; must exist */
    const char *run_id;      /* must exist when given */
    const char *dataset;     /* free-form reference (path, URI, sha256) */
    const char *config_json; /* model_config.yaml as JSON text */
} kreg_register_req;

kstatus kreg_register(kreg *r, const kreg_register_req *q, kreg_version *out, kerr *e);

/* Resolves NAME@REF (REF "" means "latest"). K_NOTFOUND names what is missing. */
kstatus kreg_resolve(kreg *r, const char *name, const char *ref, kreg_version *out, kerr *e);

/* Reads a version's package, verifying its hash (K_CHECKSUM if the artifact was altered,
 * K_NOTFOUND if it is missing). Caller frees *data. */
kstatus kreg_read_package(kreg *r, const kreg_version *v, char **data, size_t *len, kerr *e);

/* Points ALIAS at a version (creating or moving it atomically); refuses archived versions. */
kstatus kreg_set_alias(kreg *r, const char *name, const char *alias, int64_t version,
                       const char *who, kerr *e);
kstatus kreg_delete_alias(kreg *r, const char *name, const char *alias, const char *who, kerr *e);

/* Sets tags on a model (version 0) or on one version; a NULL value deletes the key. */
kstatus kreg_set_tags(kreg *r, const char *name, int64_t version, int n, const char *const *keys,
                      const char *const *values, kerr *e);

/* Archives (archived = 1) or restores a version. Archiving is refused while an alias points
 * at the version; an archived version cannot be aliased or resolved as "latest". */
kstatus kreg_archive(kreg *r, const char *name, int64_t version, int archived, kerr *e);

/* Deletes a version (refused while an alias points at it). Its number is never reused. The
 * package artifact is removed when no other version or run refers to it. */
kstatus kreg_delete(kreg *r, const char *name, int64_t version, kerr *e);

/* Drift reference statistics of a version (monitor/online.h's JSON, from `kiln models
 * reference`), replacing any earlier ones; versions stay immutable, references are data about
 * them. kreg_get_reference: K_NOTFOUND when the version has none (caller frees *json). */
kstatus kreg_set_reference(kreg *r, const char *name, int64_t version, const char *json,
                           int64_t rows, const char *who, kerr *e);
kstatus kreg_get_reference(kreg *r, const char *name, int64_t version, char **json, kerr *e);

/* Descriptions as JSON: every model with its latest version and aliases; one model with all
 * its versions; one version with its lineage, schema and metadata. */
kstatus kreg_list_models(kreg *r, struct json_object **out, kerr *e);
kstatus kreg_show_model(kreg *r, const char *name, struct json_object **out, kerr *e);
kstatus kreg_show_version(kreg *r, const char *name, int64_t version, struct json_object **out,
                          kerr *e);

/* Consistency report (JSON): every version's and run's artifact present (and, with
 * `verify_hashes`, intact), every alias on a live version, counters ahead of versions, the
 * database's own integrity check (SQLite), and the orphans: artifacts nothing refers to and
 * temporary files left by interrupted writes. "ok" is false only for real problems: orphans
 * are harmless and kreg_gc removes them. */
kstatus kreg_check(kreg *r, int verify_hashes, struct json_object **out, kerr *e);

/* Removes orphan artifacts and leftover temporary files older than `grace_s` seconds (a
 * registration in progress stores its artifact just before committing; the grace period and
 * the store lock keep gc from racing it). With dry_run, only reports. */
kstatus kreg_gc(kreg *r, double grace_s, int dry_run, struct json_object **out, kerr *e);

/* A store-wide counter that grows with every committed change. Cheap: on PostgreSQL it is
 * re-read only after a LISTEN notification arrives; on SQLite it is one indexed read. */
kstatus kreg_changes(kreg *r, uint64_t *counter, kerr *e);

#endif
