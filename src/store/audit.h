/* audit.h — the tamper-evident, append-only audit log: who did what, to which object, when,
 * from where and with what outcome, for every administrative action (registry writes, key
 * changes, server load/unload, authentication failures).
 *
 * Records are numbered 1, 2, 3 … without gaps and hash-chained: each carries the SHA-256 of
 * the record before it (64 zeros for record 1) and its own hash over a canonical serialisation:
 *
 *   "kiln-audit-v1\n" SEQ "\n" AT_MS "\n" then, for actor, address, action, object, outcome,
 *   detail and prev_hash in this order, LEN ":" BYTES "\n"   (SEQ, AT_MS, LEN in decimal)
 *
 * so editing, deleting or reordering a record breaks the chain. Records live in the registry's
 * `audit_log` table and, when the registry has a local home, are mirrored one JSON object per
 * line (same fields) in HOME/audit.jsonl, appended with O_APPEND and fsync'd after the database
 * commit. The home is kreg_options.home, else the directory of an SQLite database file; a
 * PostgreSQL registry opened without a home keeps the database chain alone.
 *
 * What it cannot catch on its own: the newest records removed from the database and the file
 * alike, or a chain rebuilt from scratch by someone who can write both. Keep the head hash
 * (kaudit_head) somewhere else and pass it to kaudit_verify_pinned. */
#ifndef KILN_AUDIT_H
#define KILN_AUDIT_H

#include <stdint.h>

#include "base/sha256.h"
#include "base/status.h"
#include "store/registry.h"

struct json_object;

/* Longest accepted field (the detail; the other fields are capped at 512 bytes). */
#define KAUDIT_DETAIL_MAX 4096
#define KAUDIT_FIELD_MAX 512

/* One event. actor, action, object and outcome are required; address NULL means "local",
 * detail NULL means "". Conventions: action "model.register", "alias.set", "alias.delete",
 * "version.archive", "version.restore", "version.delete", "tags.set", "reference.set",
 * "key.create", "key.revoke", "key.rotate", "model.load", "model.unload", "auth.failure";
 * object "demo@3", "demo:production", "demo", a key name; outcome "ok", "denied" or an error
 * class (kstatus_str of the failure). Secrets never belong in any field. */
typedef struct {
    const char *actor, *address, *action, *object, *outcome, *detail;
} kaudit_event;

/* Appends one record. Inside a registry write transaction (kreg__write: every registry and key
 * operation) the record joins that transaction, so a rolled-back action leaves none, and the
 * JSONL line is written once the transaction commits. Outside one, the append is its own
 * transaction (safe from any thread's own kreg handle). Concurrent writers, on either backend,
 * get consecutive numbers: the append serialises on the registry's state row. */
kstatus kaudit_append(kreg *r, const kaudit_event *ev, kerr *e);

/* Sets who the registry's own write operations (register, alias, archive, delete, tags,
 * reference) are recorded as when the call names no user, and from which address ("local"
 * by default). The strings are copied. The server calls it per request. */
kstatus kaudit_set_context(kreg *r, const char *actor, const char *address, kerr *e);

/* Records with at_ms >= since_ms (0: all), oldest first; with limit > 0 only the newest
 * `limit` of them. A JSON array of objects: seq, at (ISO 8601 UTC), at_ms, actor, address,
 * action, object, outcome, detail, prev_hash, hash. Caller frees with json_object_put. */
kstatus kaudit_list(kreg *r, int64_t since_ms, int64_t limit, struct json_object **out, kerr *e);

/* What kaudit_verify found. bad_seq is 0 when the log is intact; otherwise the first bad
 * record, and message says what is wrong with it ("record 17: hash mismatch (edited?)",
 * "record 18 missing (deleted?)", "record 20 out of order (it belongs after record 21)"). */
typedef struct {
    int64_t records;      /* records in the database chain */
    int64_t file_records; /* lines in the JSONL file; -1 when the registry has no file */
    int64_t bad_seq;
    char where[16]; /* "database", "file" or "pin" for a bad record, "" when intact */
    char message[400];
    char head_hash[SHA256_HEX_LEN]; /* hash of the newest record (64 zeros when empty) */
    char file[4200];                /* the JSONL path, "" when none */
} kaudit_report;

/* Checks the database chain (numbering, each record's hash, the links), then the JSONL file
 * against itself and against the database (a record in one and not the other, or different
 * in the two). Returns K_OK whenever it could read the log, intact or not: look at
 * report->bad_seq. Errors are for a log it could not read at all. */
kstatus kaudit_verify(kreg *r, kaudit_report *report, kerr *e);

/* kaudit_verify, and then, when `pin` is a record hash kept from an earlier report (64 hex
 * digits), the database chain must still hold that record: a log whose newest records were
 * removed from the database and the file alike, or rebuilt from scratch, fails here. */
kstatus kaudit_verify_pinned(kreg *r, const char *pin, kaudit_report *report, kerr *e);

/* The newest record's number and hash (0 and 64 zeros when the log is empty), without
 * walking the chain: what to keep elsewhere to pin the log. */
kstatus kaudit_head(kreg *r, int64_t *seq, char hash[SHA256_HEX_LEN], kerr *e);

/* The record hash of the canonical serialisation above (exposed for tests and tools). */
void kaudit_hash(int64_t seq, int64_t at_ms, const kaudit_event *ev, const char *prev_hash,
                 char out[SHA256_HEX_LEN]);

#endif
