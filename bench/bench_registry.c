/* bench_registry.c — the model registry (store/registry.h) against the bare database under it,
 * in the same process, on the same machine and the same database: SQLite through its own C
 * API, PostgreSQL through libpq. Measures
 *   - registration: N kreg_register calls of one model name, each a durable commit plus an
 *     artifact put — once with the same package every time (the put finds the artifact stored
 *     and only verifies it) and once with a new package each time (a new artifact is written
 *     and fsynced) — against the floor for a durable commit: a one-row INSERT transaction;
 *   - resolve: kreg_resolve of NAME@production (calls after warm-up, every call timed) against
 *     the floor for a lookup: a prepared SELECT by primary key;
 *   - kreg_changes (which the server polls) against the same floor;
 * and prints one markdown table with the ratios Kiln/peer (what the layering costs over the
 * bare database; 1.00x = none). Kiln calls and peer calls run interleaved in small blocks so
 * drift on a shared machine hits both alike.
 *
 * Usage: bench_registry STORE ARTIFACT_DIR [--model examples/demo/model.json] [--n 200]
 *                       [--calls 20000] [--name bench]
 * STORE is an SQLite path (optionally sqlite://…) or a postgres://… / postgresql://… URL.
 * The SQLite peer uses its own database file, bench_peer.db, in STORE's directory (WAL,
 * synchronous=FULL, as the registry configures its own); the PostgreSQL peer a table of its
 * own, bench_peer, in STORE's database (dropped at the end). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "base/buf.h"
#include "model/import.h"
#include "model/package.h"
#include "model/spec.h"
#include "store/registry.h"

#define BLOCK_REG 10    /* registrations per interleaved block */
#define BLOCK_READ 1000 /* lookups per interleaved block */
#define WARM_REG 5
#define WARM_READ 1000

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *msg)
{
    fprintf(stderr, "bench_registry: %s: %s\n", what, msg);
    exit(1);
}

static void kcheck(kstatus st, const kerr *e, const char *what)
{
    if (st) die(what, e->msg);
}

static long parse_long(const char *flag, const char *s, long lo, long hi)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) die(flag, "expects an integer in range");
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double *t; /* seconds per call */
    size_t n, cap;
} samples;

static void add(samples *s, double t)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 1024;
        s->t = realloc(s->t, s->cap * sizeof *s->t);
        if (!s->t) die("samples", "out of memory");
    }
    s->t[s->n++] = t;
}

static double sum(const samples *s)
{
    double a = 0;
    for (size_t i = 0; i < s->n; i++)
        a += s->t[i];
    return a;
}

static double mean(const samples *s)
{
    return s->n ? sum(s) / (double)s->n : 0;
}
static double rate(const samples *s)
{
    return s->n ? (double)s->n / sum(s) : 0;
}

static double pct(samples *s, double p)
{
    if (!s->n) return 0;
    qsort(s->t, s->n, sizeof *s->t, cmp_double);
    size_t i = (size_t)(p * (double)(s->n - 1) + 0.5);
    return s->t[i < s->n ? i : s->n - 1];
}

/* ---- the peer: the bare database -------------------------------------------------------- */

typedef struct {
    int pg;
    sqlite3 *lite;
    sqlite3_stmt *begin, *ins, *commit, *sel;
    PGconn *conn;
    int64_t rows; /* ids 1..rows exist */
    char path[4200];
} peer;

static void lite_check(peer *p, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        die(what, sqlite3_errmsg(p->lite));
}

static void pg_check(PGresult *res, ExecStatusType want, const char *what)
{
    if (PQresultStatus(res) != want) die(what, PQresultErrorMessage(res));
    PQclear(res);
}

static const char PEER_SHA[] = "3f2a9c0e5b7d1f4a6c8e0b2d4f6a8c0e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a";

static void peer_open(peer *p, const char *store, int pg)
{
    memset(p, 0, sizeof *p);
    p->pg = pg;
    if (pg) {
        p->conn = PQconnectdb(store);
        if (PQstatus(p->conn) != CONNECTION_OK) die("peer: connect", PQerrorMessage(p->conn));
        pg_check(PQexec(p->conn, "SET client_min_messages = warning"), PGRES_COMMAND_OK, "peer");
        pg_check(PQexec(p->conn, "DROP TABLE IF EXISTS bench_peer"), PGRES_COMMAND_OK,
                 "peer: drop");
        pg_check(PQexec(p->conn, "CREATE TABLE bench_peer (id BIGINT PRIMARY KEY, name TEXT NOT "
                                 "NULL, sha TEXT NOT NULL, size BIGINT NOT NULL)"),
                 PGRES_COMMAND_OK, "peer: create");
        pg_check(
            PQprepare(p->conn, "ins", "INSERT INTO bench_peer VALUES ($1, $2, $3, $4)", 4, NULL),
            PGRES_COMMAND_OK, "peer: prepare insert");
        pg_check(PQprepare(p->conn, "sel", "SELECT name, sha, size FROM bench_peer WHERE id = $1",
                           1, NULL),
                 PGRES_COMMAND_OK, "peer: prepare select");
        return;
    }
    const char *slash = strrchr(store, '/');
    int n =
        slash ? snprintf(p->path, sizeof p->path, "%.*s/bench_peer.db", (int)(slash - store), store)
              : snprintf(p->path, sizeof p->path, "bench_peer.db");
    if (n <= 0 || (size_t)n >= sizeof p->path) die("peer", "path too long");
    const char *suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char f[4300];
        snprintf(f, sizeof f, "%s%s", p->path, suffix[i]);
        unlink(f);
    }
    if (sqlite3_open_v2(p->path, &p->lite, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
        die("peer: open", p->lite ? sqlite3_errmsg(p->lite) : "out of memory");
    lite_check(p,
               sqlite3_exec(p->lite,
                            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE peer "
                            "(id INTEGER PRIMARY KEY, name TEXT NOT NULL, sha TEXT NOT NULL, "
                            "size INTEGER NOT NULL)",
                            NULL, NULL, NULL),
               "peer: setup");
    lite_check(p, sqlite3_prepare_v2(p->lite, "BEGIN IMMEDIATE", -1, &p->begin, NULL), "peer");
    lite_check(
        p, sqlite3_prepare_v2(p->lite, "INSERT INTO peer VALUES (?, ?, ?, ?)", -1, &p->ins, NULL),
        "peer");
    lite_check(p, sqlite3_prepare_v2(p->lite, "COMMIT", -1, &p->commit, NULL), "peer");
    lite_check(p,
               sqlite3_prepare_v2(p->lite, "SELECT name, sha, size FROM peer WHERE id = ?", -1,
                                  &p->sel, NULL),
               "peer");
}

static void lite_step(peer *p, sqlite3_stmt *s, const char *what)
{
    lite_check(p, sqlite3_step(s), what);
    sqlite3_reset(s);
}

/* One durable single-row INSERT transaction. */
static void peer_commit(peer *p)
{
    int64_t id = ++p->rows;
    if (p->pg) {
        char ids[24], size[24];
        snprintf(ids, sizeof ids, "%lld", (long long)id);
        snprintf(size, sizeof size, "%lld", (long long)(1000 + id));
        const char *params[] = {ids, "bench", PEER_SHA, size};
        pg_check(PQexec(p->conn, "BEGIN"), PGRES_COMMAND_OK, "peer: begin");
        pg_check(PQexecPrepared(p->conn, "ins", 4, params, NULL, NULL, 0), PGRES_COMMAND_OK,
                 "peer: insert");
        pg_check(PQexec(p->conn, "COMMIT"), PGRES_COMMAND_OK, "peer: commit");
        return;
    }
    lite_step(p, p->begin, "peer: begin");
    sqlite3_bind_int64(p->ins, 1, id);
    sqlite3_bind_text(p->ins, 2, "bench", -1, SQLITE_STATIC);
    sqlite3_bind_text(p->ins, 3, PEER_SHA, -1, SQLITE_STATIC);
    sqlite3_bind_int64(p->ins, 4, 1000 + id);
    lite_step(p, p->ins, "peer: insert");
    lite_step(p, p->commit, "peer: commit");
}

/* One prepared SELECT by primary key, reading every column. */
static int64_t peer_lookup(peer *p, int64_t id)
{
    int64_t size = 0;
    if (p->pg) {
        char ids[24];
        snprintf(ids, sizeof ids, "%lld", (long long)id);
        const char *params[] = {ids};
        PGresult *res = PQexecPrepared(p->conn, "sel", 1, params, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
            die("peer: select", PQresultErrorMessage(res));
        size = strtoll(PQgetvalue(res, 0, 2), NULL, 10) + (int64_t)strlen(PQgetvalue(res, 0, 1));
        PQclear(res);
        return size;
    }
    sqlite3_bind_int64(p->sel, 1, id);
    if (sqlite3_step(p->sel) != SQLITE_ROW) die("peer: select", sqlite3_errmsg(p->lite));
    size = sqlite3_column_int64(p->sel, 2) +
           (int64_t)strlen((const char *)sqlite3_column_text(p->sel, 1));
    sqlite3_reset(p->sel);
    return size;
}

static void peer_close(peer *p)
{
    if (p->pg) {
        pg_check(PQexec(p->conn, "DROP TABLE bench_peer"), PGRES_COMMAND_OK, "peer: drop");
        PQfinish(p->conn);
        return;
    }
    sqlite3_finalize(p->begin);
    sqlite3_finalize(p->ins);
    sqlite3_finalize(p->commit);
    sqlite3_finalize(p->sel);
    sqlite3_close(p->lite);
}

/* ---- the run ----------------------------------------------------------------------------- */

static void row(const char *metric, double kiln, double peer_v, const char *peer_name, double ratio)
{
    printf("| %-52s | %10.3f | %10.3f | %-34s | %6.2fx |\n", metric, kiln, peer_v, peer_name,
           ratio);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: bench_registry STORE ARTIFACT_DIR [--model FILE] [--n 200] "
                        "[--calls 20000] [--name bench]\n");
        return 2;
    }
    const char *store = argv[1], *art = argv[2];
    const char *model = "examples/demo/model.json", *name = "bench";
    long n = 200, calls = 20000;
    for (int i = 3; i < argc; i++) {
        if (i + 1 >= argc) die(argv[i], "missing value");
        if (strcmp(argv[i], "--model") == 0)
            model = argv[++i];
        else if (strcmp(argv[i], "--n") == 0)
            n = parse_long("--n", argv[++i], 1, 1000000);
        else if (strcmp(argv[i], "--calls") == 0)
            calls = parse_long("--calls", argv[++i], 1, 100000000);
        else if (strcmp(argv[i], "--name") == 0)
            name = argv[++i];
        else
            die(argv[i], "unknown option");
    }
    int pg = strncmp(store, "postgres://", 11) == 0 || strncmp(store, "postgresql://", 13) == 0;
    const char *peer_store = strncmp(store, "sqlite://", 9) == 0 ? store + 9 : store;

    /* Packages: one reused every time, and n + warm-up distinct ones (a metadata key differs). */
    kerr e = {0};
    kspec *spec;
    kcheck(import_file(model, KFMT_AUTO, &spec, &e), &e, model);
    long n_new = n + WARM_REG;
    buf same, *fresh = calloc((size_t)n_new, sizeof *fresh);
    if (!fresh) die("packages", "out of memory");
    buf_init(&same, (size_t)1 << 28);
    kcheck(kpkg_write(spec, &same, &e), &e, "package");
    for (long i = 0; i < n_new; i++) {
        char seq[32];
        snprintf(seq, sizeof seq, "%ld-%ld", (long)getpid(), i);
        if (kspec_set_meta(spec, "bench_seq", seq)) die("package", "kspec_set_meta failed");
        buf_init(&fresh[i], (size_t)1 << 28);
        kcheck(kpkg_write(spec, &fresh[i], &e), &e, "package");
    }
    kspec_free(spec);

    kreg_options o = {.store = store, .artifacts = art};
    kreg *r;
    kcheck(kreg_open(&o, &r, &e), &e, "kreg_open");
    peer p;
    peer_open(&p, peer_store, pg);

    kreg_register_req q = {.name = name,
                           .package = same.data,
                           .package_len = same.len,
                           .who = "bench",
                           .alias = "production"};
    kreg_version v, prev = {0};
    kcheck(kreg_register(r, &q, &v, &e), &e, "register"); /* NAME@production */
    int64_t production = v.version;
    q.alias = NULL;
    for (int i = 0; i < WARM_REG; i++) {
        kcheck(kreg_register(r, &q, &v, &e), &e, "register");
        q.package = fresh[n + i].data;
        q.package_len = fresh[n + i].len;
        kcheck(kreg_register(r, &q, &v, &e), &e, "register");
        q.package = same.data;
        q.package_len = same.len;
        peer_commit(&p);
    }

    /* 1. Registration, interleaved in blocks: same package, new package, peer commit. */
    samples reg_same = {0}, reg_new = {0}, commit = {0};
    int64_t last = v.version;
    for (long done = 0; done < n; done += BLOCK_REG) {
        long end = done + BLOCK_REG < n ? done + BLOCK_REG : n;
        for (long i = done; i < end; i++) {
            q.package = same.data;
            q.package_len = same.len;
            double t0 = now_s();
            kcheck(kreg_register(r, &q, &v, &e), &e, "register");
            add(&reg_same, now_s() - t0);
            if (v.version != ++last) die("register", "version numbers not consecutive");
        }
        for (long i = done; i < end; i++) {
            q.package = fresh[i].data;
            q.package_len = fresh[i].len;
            double t0 = now_s();
            kcheck(kreg_register(r, &q, &v, &e), &e, "register");
            add(&reg_new, now_s() - t0);
            if (v.version != ++last) die("register", "version numbers not consecutive");
            if (strcmp(v.package_sha256, prev.package_sha256) == 0)
                die("register", "the new packages are not distinct");
            prev = v;
        }
        for (long i = done; i < end; i++) {
            double t0 = now_s();
            peer_commit(&p);
            add(&commit, now_s() - t0);
        }
    }

    /* 2. and 3. Resolve NAME@production and kreg_changes vs the peer's SELECT by primary key. */
    uint64_t counter = 0, sink = 0;
    for (int i = 0; i < WARM_READ; i++) {
        kcheck(kreg_resolve(r, name, "production", &v, &e), &e, "resolve");
        kcheck(kreg_changes(r, &counter, &e), &e, "changes");
        sink += (uint64_t)peer_lookup(&p, 1 + i % p.rows);
    }
    if (v.version != production) die("resolve", "NAME@production resolved to the wrong version");
    samples res = {0}, chg = {0}, sel = {0};
    for (long done = 0; done < calls; done += BLOCK_READ) {
        long end = done + BLOCK_READ < calls ? done + BLOCK_READ : calls;
        for (long i = done; i < end; i++) {
            double t0 = now_s();
            kreg_resolve(r, name, "production", &v, &e);
            add(&res, now_s() - t0);
        }
        for (long i = done; i < end; i++) {
            double t0 = now_s();
            kreg_changes(r, &counter, &e);
            add(&chg, now_s() - t0);
        }
        for (long i = done; i < end; i++) {
            double t0 = now_s();
            sink += (uint64_t)peer_lookup(&p, 1 + i % p.rows);
            add(&sel, now_s() - t0);
        }
        sink += (uint64_t)v.version + counter;
    }

    printf("\n### %s — %ld registrations of each kind (package %zu bytes), %ld lookups of each "
           "kind\n\n",
           pg ? "PostgreSQL" : "SQLite", n, same.len, calls);
    printf("Ratio = Kiln time / peer time (1.00x = the layering costs nothing).\n\n");
    printf("| %-52s | %10s | %10s | %-34s | %7s |\n", "metric", "kiln", "peer", "peer", "ratio");
    printf("|%s|%s|%s|%s|%s|\n", "------------------------------------------------------",
           "------------", "------------", "------------------------------------", "---------");
    const char *commit_name =
        pg ? "BEGIN/INSERT/COMMIT (libpq)" : "INSERT txn (sqlite3, WAL, FULL)";
    const char *sel_name = pg ? "PQexecPrepared SELECT by PK" : "sqlite3 prepared SELECT by PK";
    double same_ms = mean(&reg_same) * 1e3, new_ms = mean(&reg_new) * 1e3,
           c_ms = mean(&commit) * 1e3;
    row("register, package already stored: mean (ms)", same_ms, c_ms, commit_name, same_ms / c_ms);
    row("register, package already stored: per second", rate(&reg_same), rate(&commit), commit_name,
        rate(&commit) / rate(&reg_same));
    row("register, new package each time: mean (ms)", new_ms, c_ms, commit_name, new_ms / c_ms);
    row("register, new package each time: per second", rate(&reg_new), rate(&commit), commit_name,
        rate(&commit) / rate(&reg_new));
    double c50 = pct(&commit, 0.5) * 1e3, s50 = pct(&reg_same, 0.5) * 1e3;
    row("register, package already stored: p50 (ms)", s50, c50, commit_name, s50 / c50);
    double res_rate = rate(&res), sel_rate = rate(&sel), chg_rate = rate(&chg);
    double r50 = pct(&res, 0.5) * 1e6, r99 = pct(&res, 0.99) * 1e6;
    double p50 = pct(&sel, 0.5) * 1e6, p99 = pct(&sel, 0.99) * 1e6;
    double g50 = pct(&chg, 0.5) * 1e6, g99 = pct(&chg, 0.99) * 1e6;
    row("resolve NAME@production: p50 (us)", r50, p50, sel_name, r50 / p50);
    row("resolve NAME@production: p99 (us)", r99, p99, sel_name, r99 / p99);
    row("resolve NAME@production: calls/s", res_rate, sel_rate, sel_name, sel_rate / res_rate);
    row("kreg_changes: p50 (us)", g50, p50, sel_name, g50 / p50);
    row("kreg_changes: p99 (us)", g99, p99, sel_name, g99 / p99);
    row("kreg_changes: calls/s", chg_rate, sel_rate, sel_name, sel_rate / chg_rate);
    fprintf(stderr, "(checksum %llu)\n", (unsigned long long)sink);

    peer_close(&p);
    kreg_close(r);
    for (long i = 0; i < n_new; i++)
        buf_free(&fresh[i]);
    free(fresh);
    buf_free(&same);
    free(reg_same.t);
    free(reg_new.t);
    free(commit.t);
    free(res.t);
    free(chg.t);
    free(sel.t);
    return 0;
}
