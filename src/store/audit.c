/* audit.c — appending hash-chained audit records to the registry's audit_log table and
 * mirroring them into HOME/audit.jsonl, listing them, and the audited write transaction the
 * registry's own operations use. Verification lives in audit_verify.c. */
#include "store/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/registry_impl.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define SYNC_PAGE 1000
#define TAIL_MAX 65536

/* ---- the canonical serialisation ------------------------------------------------------- */

static size_t put_field(char *p, const char *s)
{
    size_t n = strlen(s);
    int k = snprintf(p, 24, "%zu:", n);
    memcpy(p + k, s, n);
    p[k + n] = '\n';
    return (size_t)k + n + 1;
}

void kaudit_hash(int64_t seq, int64_t at_ms, const kaudit_event *ev, const char *prev_hash,
                 char out[SHA256_HEX_LEN])
{
    const char *f[] = {ev->actor,   ev->address ? ev->address : "local", ev->action, ev->object,
                       ev->outcome, ev->detail ? ev->detail : "",        prev_hash};
    size_t total = 64;
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        total += strlen(f[i]) + 24;
    char *text = malloc(total);
    if (!text) { /* no memory: a hash nothing can match, so verify fails safe */
        memset(out, 'x', SHA256_HEX_LEN - 1);
        out[SHA256_HEX_LEN - 1] = 0;
        return;
    }
    size_t n = (size_t)snprintf(text, total, "kiln-audit-v1\n%lld\n%lld\n", (long long)seq,
                                (long long)at_ms);
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        n += put_field(text + n, f[i]);
    sha256_hex(text, n, out);
    free(text);
}

/* ---- context ------------------------------------------------------------------------------ */

static kstatus set_str(char **slot, const char *s, kerr *e)
{
    char *copy = strdup(s);
    if (!copy) return kerr_set(e, K_NOMEM, "out of memory");
    free(*slot);
    *slot = copy;
    return K_OK;
}

kstatus kaudit_set_context(kreg *r, const char *actor, const char *address, kerr *e)
{
    kstatus st = K_OK;
    if (actor && *actor) st = set_str(&r->audit_actor, actor, e);
    if (!st && address && *address) st = set_str(&r->audit_address, address, e);
    return st;
}

static const char *login_name(char *buf, size_t size)
{
    const char *u = getenv("KILN_USER");
    if (u && *u) return u;
    struct passwd pw, *found = NULL;
    char tmp[1024];
    if (getpwuid_r(getuid(), &pw, tmp, sizeof tmp, &found) == 0 && found && pw.pw_name)
        snprintf(buf, size, "%s", pw.pw_name);
    else
        snprintf(buf, size, "uid:%u", (unsigned)getuid());
    return buf;
}

/* The JSONL path: HOME/audit.jsonl, else next to an SQLite database file, else none. */
static kstatus file_path(const kreg_options *o, char **out, kerr *e)
{
    char path[4200];
    *out = NULL;
    if (o->home && *o->home) {
        snprintf(path, sizeof path, "%s/audit.jsonl", o->home);
    } else {
        const char *s = o->store;
        if (strncmp(s, "postgres://", 11) == 0 || strncmp(s, "postgresql://", 13) == 0) return K_OK;
        if (strncmp(s, "sqlite://", 9) == 0) s += 9;
        if (!*s || strcmp(s, ":memory:") == 0 || strncmp(s, "file:", 5) == 0) return K_OK;
        const char *slash = strrchr(s, '/');
        if (slash)
            snprintf(path, sizeof path, "%.*s/audit.jsonl", (int)(slash - s), s);
        else
            snprintf(path, sizeof path, "audit.jsonl");
    }
    if (!(*out = strdup(path))) return kerr_set(e, K_NOMEM, "out of memory");
    return K_OK;
}

kstatus kaudit__open(kreg *r, const kreg_options *o, kerr *e)
{
    char name[256];
    const char *user = o->user && *o->user ? o->user : login_name(name, sizeof name);
    kstatus st = set_str(&r->audit_actor, user, e);
    if (!st) st = set_str(&r->audit_address, "local", e);
    if (!st) st = file_path(o, &r->audit_file, e);
    return st;
}

void kaudit__close(kreg *r)
{
    free(r->audit_actor);
    free(r->audit_address);
    free(r->audit_file);
}

const char *kaudit__file(const kreg *r)
{
    return r->audit_file;
}

/* ---- append -------------------------------------------------------------------------------- */

static kstatus check_event(const kaudit_event *ev, kerr *e)
{
    const char *req[] = {ev->actor, ev->action, ev->object, ev->outcome};
    const char *names[] = {"actor", "action", "object", "outcome"};
    for (int i = 0; i < 4; i++)
        if (!req[i] || !*req[i])
            return kerr_set(e, K_INVALID, "audit record needs an %s", names[i]);
    const char *capped[] = {ev->actor, ev->address ? ev->address : "", ev->action, ev->object,
                            ev->outcome};
    for (int i = 0; i < 5; i++)
        if (strlen(capped[i]) > KAUDIT_FIELD_MAX)
            return kerr_set(e, K_LIMIT, "audit record field longer than %d bytes",
                            KAUDIT_FIELD_MAX);
    if (ev->detail && strlen(ev->detail) > KAUDIT_DETAIL_MAX)
        return kerr_set(e, K_LIMIT, "audit detail longer than %d bytes", KAUDIT_DETAIL_MAX);
    return K_OK;
}

/* Inside a write transaction: takes the state row's lock (so concurrent appenders queue up and
 * then see each other's committed records), reads the head and inserts the next record. */
static kstatus insert_record(kreg *r, const kaudit_event *ev, kerr *e)
{
    kstatus st =
        kdb_query(r->db, "UPDATE kiln_state SET changes = changes WHERE id = 1", 0, NULL, NULL, e);
    kdb_rows *rows = NULL;
    if (!st)
        st = kdb_query(r->db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", 0, NULL,
                       &rows, e);
    if (st) return st;
    int64_t seq = kdb_nrows(rows) ? kdb_int(rows, 0, 0, 0) + 1 : 1;
    char prev[SHA256_HEX_LEN], hash[SHA256_HEX_LEN], seq_s[24], at_s[24];
    snprintf(prev, sizeof prev, "%s", kdb_nrows(rows) ? kdb_value(rows, 0, 1) : ZERO_HASH);
    kdb_rows_free(rows);
    int64_t at = kreg__now_ms();
    kaudit_hash(seq, at, ev, prev, hash);
    const char *p[] = {kreg__i64(seq, seq_s),
                       kreg__i64(at, at_s),
                       ev->actor,
                       ev->address ? ev->address : "local",
                       ev->action,
                       ev->object,
                       ev->outcome,
                       ev->detail ? ev->detail : "",
                       prev,
                       hash};
    st = kdb_query(r->db,
                   "INSERT INTO audit_log (seq, at_ms, actor, address, action, object, outcome, "
                   "detail, prev_hash, hash) VALUES (CAST($1 AS BIGINT), CAST($2 AS BIGINT), $3, "
                   "$4, $5, $6, $7, $8, $9, $10)",
                   10, p, NULL, e);
    if (!st) r->audit_dirty = 1;
    return st;
}

kstatus kaudit_append(kreg *r, const kaudit_event *ev, kerr *e)
{
    kstatus st = check_event(ev, e);
    if (st) return st;
    if (r->in_write) return insert_record(r, ev, e);
    if ((st = kdb_begin(r->db, e))) return st;
    st = insert_record(r, ev, e);
    if (!st) st = kdb_commit(r->db, e);
    if (st) {
        kdb_rollback(r->db);
        r->audit_dirty = 0;
        return st;
    }
    kaudit__committed(r);
    return K_OK;
}

/* ---- the JSONL mirror ---------------------------------------------------------------------- */

json_object *kaudit__row_json(const kdb_rows *rows, int i, int with_time)
{
    static const char *const names[] = {"seq",    "at_ms",   "actor",  "address",   "action",
                                        "object", "outcome", "detail", "prev_hash", "hash"};
    json_object *o = json_object_new_object();
    for (int c = 0; c < 10; c++) {
        if (c == 2 && with_time)
            json_object_object_add(o, "at", kreg__jtime(kdb_value(rows, i, 1)));
        json_object *v =
            c < 2 ? json_object_new_int64(kdb_int(rows, i, c, 0))
                  : json_object_new_string(kdb_value(rows, i, c) ? kdb_value(rows, i, c) : "");
        json_object_object_add(o, names[c], v);
    }
    return o;
}

/* The seq of the file's last line (0 for an empty file); -1 when the tail is not a complete
 * record, which is left for kaudit_verify to report rather than written after. */
static int64_t last_seq(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0) return -1;
    if (sb.st_size == 0) return 0;
    size_t n = sb.st_size < TAIL_MAX ? (size_t)sb.st_size : TAIL_MAX;
    char *tail = malloc(n + 1);
    if (!tail) return -1;
    ssize_t got = pread(fd, tail, n, sb.st_size - (off_t)n);
    int64_t seq = -1;
    if (got == (ssize_t)n && tail[n - 1] == '\n') {
        tail[n - 1] = 0;
        char *start = strrchr(tail, '\n');
        json_object *o = json_tokener_parse(start ? start + 1 : tail), *v;
        if (o && json_object_object_get_ex(o, "seq", &v)) seq = json_object_get_int64(v);
        json_object_put(o);
    }
    free(tail);
    return seq;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Appends the database records after seq *after (one page), moving *after to the last one
 * written. Returns the number written, or -1 on error. */
static int append_page(kreg *r, int fd, int64_t *after)
{
    char a[24], lim[24];
    const char *p[] = {kreg__i64(*after, a), kreg__i64(SYNC_PAGE, lim)};
    kdb_rows *rows;
    if (kdb_query(r->db,
                  "SELECT seq, at_ms, actor, address, action, object, outcome, detail, prev_hash, "
                  "hash FROM audit_log WHERE seq > CAST($1 AS BIGINT) ORDER BY seq "
                  "LIMIT CAST($2 AS BIGINT)",
                  2, p, &rows, NULL))
        return -1;
    int n = kdb_nrows(rows), rc = n;
    for (int i = 0; i < n && rc >= 0; i++) {
        json_object *o = kaudit__row_json(rows, i, 0);
        const char *line = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
        if (write_all(fd, line, strlen(line)) != 0 || write_all(fd, "\n", 1) != 0)
            rc = -1;
        else
            *after = kdb_int(rows, i, 0, *after);
        json_object_put(o);
    }
    kdb_rows_free(rows);
    return rc;
}

/* Brings the file up to the database head, under an exclusive lock so concurrent writers
 * neither interleave nor duplicate lines. Because record numbers are handed out under the
 * state row's lock until commit, every record up to a committed one is committed too, so the
 * file never gets a gap; a crash between commit and this write is repaired by the next one. */
void kaudit__committed(kreg *r)
{
    int dirty = r->audit_dirty;
    r->audit_dirty = 0;
    if (!dirty || !r->audit_file) return;
    int fd = open(r->audit_file, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return;
    if (flock(fd, LOCK_EX) == 0) {
        int64_t after = last_seq(fd);
        int n = after >= 0 ? SYNC_PAGE : 0;
        while (n == SYNC_PAGE)
            n = append_page(r, fd, &after);
        fsync(fd);
        flock(fd, LOCK_UN);
    }
    close(fd);
}

void kaudit__rolled_back(kreg *r)
{
    r->audit_dirty = 0;
}

/* ---- list ---------------------------------------------------------------------------------- */

kstatus kaudit_head(kreg *r, int64_t *seq, char hash[SHA256_HEX_LEN], kerr *e)
{
    kdb_rows *rows;
    kstatus st = kdb_query(r->db, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", 0,
                           NULL, &rows, e);
    if (st) return st;
    *seq = kdb_nrows(rows) ? kdb_int(rows, 0, 0, 0) : 0;
    snprintf(hash, SHA256_HEX_LEN, "%s", kdb_nrows(rows) ? kdb_value(rows, 0, 1) : ZERO_HASH);
    kdb_rows_free(rows);
    return K_OK;
}

kstatus kaudit_list(kreg *r, int64_t since_ms, int64_t limit, json_object **out, kerr *e)
{
    char since[24], lim[24];
    const char *p[] = {kreg__i64(since_ms, since), kreg__i64(limit, lim)};
    kdb_rows *rows;
    kstatus st =
        limit > 0
            ? kdb_query(r->db,
                        "SELECT seq, at_ms, actor, address, action, object, outcome, detail, "
                        "prev_hash, hash FROM audit_log WHERE at_ms >= CAST($1 AS BIGINT) ORDER "
                        "BY seq DESC LIMIT CAST($2 AS BIGINT)",
                        2, p, &rows, e)
            : kdb_query(r->db,
                        "SELECT seq, at_ms, actor, address, action, object, outcome, detail, "
                        "prev_hash, hash FROM audit_log WHERE at_ms >= CAST($1 AS BIGINT) ORDER "
                        "BY seq DESC",
                        1, p, &rows, e);
    if (st) return st;
    json_object *list = json_object_new_array();
    for (int i = kdb_nrows(rows) - 1; i >= 0; i--)
        json_object_array_add(list, kaudit__row_json(rows, i, 1));
    kdb_rows_free(rows);
    *out = list;
    return K_OK;
}

/* ---- the registry's audited writes -------------------------------------------------------- */

typedef struct {
    kreg__txn_fn fn;
    void *ctx;
    kreg__audit_op *op;
} audited;

/* The error class a refused action is recorded with. */
static const char *outcome_of(kstatus st)
{
    switch (st) {
    case K_CONFLICT:
        return "conflict";
    case K_NOTFOUND:
        return "not_found";
    case K_EXISTS:
        return "exists";
    default:
        return "invalid";
    }
}

static kaudit_event op_event(kreg *r, const kreg__audit_op *op, const char *outcome,
                             const char *detail)
{
    return (kaudit_event){.actor = op->who && *op->who ? op->who : r->audit_actor,
                          .address = r->audit_address,
                          .action = op->action,
                          .object = op->object,
                          .outcome = outcome,
                          .detail = detail};
}

static kstatus audited_txn(kreg *r, void *ctx, kerr *e)
{
    audited *a = ctx;
    kstatus st = a->fn(r, a->ctx, e);
    if (st) return st;
    kaudit_event ev = op_event(r, a->op, "ok", a->op->detail);
    return kaudit_append(r, &ev, e);
}

kstatus kreg__audited_write(kreg *r, kreg__txn_fn fn, void *ctx, kreg__audit_op *op, kerr *e)
{
    audited a = {.fn = fn, .ctx = ctx, .op = op};
    kstatus st = kreg__write(r, audited_txn, &a, e);
    /* A refused action is recorded too, on its own (its transaction rolled back); failures
     * of the store itself are not, since the record would likely fail the same way. */
    if (st == K_CONFLICT || st == K_NOTFOUND || st == K_EXISTS || st == K_INVALID) {
        char detail[KERR_MSG_MAX];
        snprintf(detail, sizeof detail, "%s", e ? e->msg : "");
        kaudit_event ev = op_event(r, op, outcome_of(st), detail);
        kaudit_append(r, &ev, NULL);
    }
    return st;
}
