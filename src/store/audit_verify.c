/* audit_verify.c — kaudit_verify: walking the database chain record by record (numbering,
 * each record's own hash, the link to the one before), then the JSONL mirror against itself
 * and against the database, and naming the first record that does not add up. */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>

#include "store/audit.h"
#include "store/registry_impl.h"

#define ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define PAGE 5000
#define LINE_MAX_BYTES 65536

typedef struct {
    kaudit_report *rep;
    char (*hashes)[SHA256_HEX_LEN]; /* hashes[i]: the database's record i + 1 */
    size_t cap;
} walk;

static void bad(kaudit_report *rep, const char *where, int64_t seq, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void bad(kaudit_report *rep, const char *where, int64_t seq, const char *fmt, ...)
{
    if (rep->bad_seq) return;
    rep->bad_seq = seq > 0 ? seq : 1;
    snprintf(rep->where, sizeof rep->where, "%s", where);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rep->message, sizeof rep->message, fmt, ap);
    va_end(ap);
}

static kstatus keep_hash(walk *w, int64_t seq, const char *hash, kerr *e)
{
    if ((size_t)seq > w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 1024;
        while (cap < (size_t)seq)
            cap *= 2;
        void *grown = realloc(w->hashes, cap * sizeof *w->hashes);
        if (!grown) return kerr_set(e, K_NOMEM, "out of memory");
        w->hashes = grown;
        w->cap = cap;
    }
    snprintf(w->hashes[seq - 1], SHA256_HEX_LEN, "%s", hash);
    return K_OK;
}

static kaudit_event row_event(const kdb_rows *rows, int i)
{
    return (kaudit_event){.actor = kdb_value(rows, i, 2),
                          .address = kdb_value(rows, i, 3),
                          .action = kdb_value(rows, i, 4),
                          .object = kdb_value(rows, i, 5),
                          .outcome = kdb_value(rows, i, 6),
                          .detail = kdb_value(rows, i, 7)};
}

/* A record whose hash fails at its own number: if it hashes correctly at the number after
 * the record its prev_hash names, it was moved (reordered) rather than edited. */
static void classify_mismatch(kreg *r, kaudit_report *rep, const kdb_rows *rows, int i, int64_t seq)
{
    const char *prev = kdb_value(rows, i, 8);
    int64_t before = 0;
    if (strcmp(prev, ZERO_HASH) != 0) {
        const char *p[] = {prev};
        kdb_rows *m;
        before = -1;
        if (!kdb_query(r->db, "SELECT seq FROM audit_log WHERE hash = $1 LIMIT 1", 1, p, &m,
                       NULL) &&
            kdb_nrows(m))
            before = kdb_int(m, 0, 0, -1);
        kdb_rows_free(m);
    }
    char h[SHA256_HEX_LEN];
    kaudit_event ev = row_event(rows, i);
    if (before >= 0 && before + 1 != seq) {
        kaudit_hash(before + 1, kdb_int(rows, i, 1, 0), &ev, prev, h);
        if (strcmp(h, kdb_value(rows, i, 9)) == 0) {
            bad(rep, "database", seq, "record %lld out of order (it belongs after record %lld)",
                (long long)seq, (long long)before);
            return;
        }
    }
    bad(rep, "database", seq, "record %lld: hash mismatch (edited?)", (long long)seq);
}

/* Checks one database record at the position where record `want` should be. */
static void check_row(kreg *r, walk *w, const kdb_rows *rows, int i, int64_t want, const char *prev)
{
    int64_t seq = kdb_int(rows, i, 0, 0);
    if (seq != want) {
        bad(w->rep, "database", want, "record %lld missing (deleted?)", (long long)want);
        return;
    }
    char h[SHA256_HEX_LEN];
    kaudit_event ev = row_event(rows, i);
    kaudit_hash(seq, kdb_int(rows, i, 1, 0), &ev, kdb_value(rows, i, 8), h);
    if (strcmp(h, kdb_value(rows, i, 9)) != 0)
        classify_mismatch(r, w->rep, rows, i, seq);
    else if (strcmp(kdb_value(rows, i, 8), prev) != 0)
        bad(w->rep, "database", seq,
            "record %lld: chain broken (its previous hash is not record %lld's; was that record "
            "rewritten?)",
            (long long)seq, (long long)(seq - 1));
}

static kstatus verify_db(kreg *r, walk *w, kerr *e)
{
    char prev[SHA256_HEX_LEN] = ZERO_HASH, after[24], lim[24];
    int64_t want = 1;
    for (;;) {
        const char *p[] = {kreg__i64(want - 1, after), kreg__i64(PAGE, lim)};
        kdb_rows *rows;
        kstatus st = kdb_query(r->db,
                               "SELECT seq, at_ms, actor, address, action, object, outcome, "
                               "detail, prev_hash, hash FROM audit_log WHERE seq > CAST($1 AS "
                               "BIGINT) ORDER BY seq LIMIT CAST($2 AS BIGINT)",
                               2, p, &rows, e);
        if (st) return st;
        int n = kdb_nrows(rows);
        for (int i = 0; i < n && !w->rep->bad_seq && !st; i++, want++) {
            check_row(r, w, rows, i, want, prev);
            snprintf(prev, sizeof prev, "%s", kdb_value(rows, i, 9));
            st = keep_hash(w, want, prev, e);
        }
        kdb_rows_free(rows);
        if (st) return st;
        if (w->rep->bad_seq || n < PAGE) break;
    }
    w->rep->records = want - 1;
    snprintf(w->rep->head_hash, sizeof w->rep->head_hash, "%s", prev);
    return K_OK;
}

/* ---- the JSONL file ------------------------------------------------------------------------ */

static const char *jget(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int jint(json_object *o, const char *key, int64_t *out)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) return -1;
    *out = json_object_get_int64(v);
    return 0;
}

/* Checks line `line` (a parsed record) where record `want` should be. */
static void check_line(walk *w, json_object *o, int64_t line, int64_t want, const char *prev,
                       const char *file)
{
    kaudit_report *rep = w->rep;
    int64_t seq, at;
    kaudit_event ev = {jget(o, "actor"),  jget(o, "address"), jget(o, "action"),
                       jget(o, "object"), jget(o, "outcome"), jget(o, "detail")};
    const char *ph = jget(o, "prev_hash"), *hash = jget(o, "hash");
    if (jint(o, "seq", &seq) || jint(o, "at_ms", &at) || !ev.actor || !ev.address || !ev.action ||
        !ev.object || !ev.outcome || !ev.detail || !ph || !hash) {
        bad(rep, "file", want, "%s line %lld is not an audit record", file, (long long)line);
        return;
    }
    if (seq > want) {
        bad(rep, "file", want, "record %lld missing from %s (deleted?)", (long long)want, file);
        return;
    }
    if (seq < want) {
        bad(rep, "file", seq, "record %lld out of order in %s (line %lld)", (long long)seq, file,
            (long long)line);
        return;
    }
    char h[SHA256_HEX_LEN];
    kaudit_hash(seq, at, &ev, ph, h);
    if (strcmp(h, hash) != 0)
        bad(rep, "file", seq, "record %lld in %s: hash mismatch (edited?)", (long long)seq, file);
    else if (strcmp(ph, prev) != 0)
        bad(rep, "file", seq, "record %lld in %s: chain broken", (long long)seq, file);
    else if (seq > rep->records)
        bad(rep, "database", seq,
            "record %lld missing from the database (deleted? %s still has it)", (long long)seq,
            file);
    else if (strcmp(w->hashes[seq - 1], hash) != 0)
        bad(rep, "database", seq, "record %lld differs between the database and %s (edited?)",
            (long long)seq, file);
}

static void verify_lines(walk *w, FILE *f, const char *file)
{
    char prev[SHA256_HEX_LEN] = ZERO_HASH;
    char *text = NULL;
    size_t cap = 0;
    int64_t line = 0;
    ssize_t n;
    while (!w->rep->bad_seq && (n = getline(&text, &cap, f)) >= 0) {
        line++;
        int64_t want = w->rep->file_records + 1;
        json_object *o = n < LINE_MAX_BYTES ? json_tokener_parse(text) : NULL;
        if (!o || !json_object_is_type(o, json_type_object) || text[n - 1] != '\n')
            bad(w->rep, "file", want, "%s line %lld is not an audit record", file, (long long)line);
        else
            check_line(w, o, line, want, prev, file);
        const char *h = o ? jget(o, "hash") : NULL;
        snprintf(prev, sizeof prev, "%s", h ? h : "");
        json_object_put(o);
        if (!w->rep->bad_seq) w->rep->file_records++;
    }
    free(text);
}

static kstatus verify_file(kreg *r, walk *w, kerr *e)
{
    const char *path = kaudit__file(r);
    kaudit_report *rep = w->rep;
    if (!path) return K_OK;
    snprintf(rep->file, sizeof rep->file, "%s", path);
    rep->file_records = 0;
    FILE *f = fopen(path, "re");
    if (!f) {
        if (rep->records > 0)
            bad(rep, "file", 1, "%s is missing (the database holds %lld records)", path,
                (long long)rep->records);
        return K_OK;
    }
    flock(fileno(f), LOCK_SH); /* a writer catching the file up finishes first */
    verify_lines(w, f, path);
    fclose(f);
    (void)e;
    return K_OK;
}

/* The pinned record must be in the (already verified) database chain. */
static void check_pin(walk *w, const char *pin)
{
    kaudit_report *rep = w->rep;
    if (strlen(pin) != SHA256_HEX_LEN - 1 || strspn(pin, "0123456789abcdef") != strlen(pin)) {
        bad(rep, "pin", rep->records + 1,
            "the pinned head is not a record hash (64 lowercase "
            "hex digits)");
        return;
    }
    if (strcmp(pin, ZERO_HASH) == 0) return; /* pinned while empty: any log extends it */
    for (int64_t i = rep->records; i > 0; i--)
        if (strcmp(w->hashes[i - 1], pin) == 0) return;
    bad(rep, "database", rep->records + 1,
        "the pinned record %.12s… is not in the log (its newest records were removed, or the "
        "log was rebuilt)",
        pin);
}

kstatus kaudit_verify(kreg *r, kaudit_report *rep, kerr *e)
{
    return kaudit_verify_pinned(r, NULL, rep, e);
}

kstatus kaudit_verify_pinned(kreg *r, const char *pin, kaudit_report *rep, kerr *e)
{
    memset(rep, 0, sizeof *rep);
    rep->file_records = -1;
    snprintf(rep->head_hash, sizeof rep->head_hash, "%s", ZERO_HASH);
    walk w = {.rep = rep};
    kstatus st = verify_db(r, &w, e);
    if (!st && !rep->bad_seq && pin) check_pin(&w, pin);
    if (!st && !rep->bad_seq) st = verify_file(r, &w, e);
    free(w.hashes);
    return st;
}
