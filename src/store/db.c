/* db.c — backend dispatch for the SQL interface and the result sets both backends build. */
#include "store/db.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/db_impl.h"

#define RESULT_MAX ((size_t)1 << 30) /* a registry query never returns a gigabyte */

static int is_pg_url(const char *url)
{
    return strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;
}

kstatus kdb_open(const char *url, int busy_ms, kdb **out, kerr *e)
{
    if (!url || !*url) return kerr_set(e, K_INVALID, "empty store location");
    if (is_pg_url(url)) return kdb__pg_open(url, out, e);
    if (strncmp(url, "sqlite://", 9) == 0) url += 9;
    return kdb__sqlite_open(url, busy_ms, out, e);
}

void kdb_close(kdb *db)
{
    if (db) db->ops->close(db);
}

kdb_backend kdb_kind(const kdb *db)
{
    return db->kind;
}

/* A handle is one connection, used by one thread at a time (db.h). A second thread's call
 * while one runs, or inside another thread's transaction, would interleave statements on the
 * connection and can silently lose a committed write, so it is refused loudly instead. */
static int enter(kdb *db, kerr *e)
{
    if (atomic_exchange(&db->busy, 1)) {
        kerr_set(e, K_INVALID, "registry handle used from two threads at once (a Kiln bug)");
        return 0;
    }
    if (db->in_txn && !pthread_equal(db->owner, pthread_self())) {
        atomic_store(&db->busy, 0);
        kerr_set(e, K_INVALID,
                 "registry handle used inside another thread's transaction "
                 "(a Kiln bug)");
        return 0;
    }
    return 1;
}

static kstatus leave(kdb *db, kstatus st)
{
    atomic_store(&db->busy, 0);
    return st;
}

kstatus kdb_exec(kdb *db, const char *sql, kerr *e)
{
    if (!enter(db, e)) return K_INVALID;
    return leave(db, db->ops->exec(db, sql, e));
}

kstatus kdb_query(kdb *db, const char *sql, int n, const char *const *params, kdb_rows **rows,
                  kerr *e)
{
    if (rows) *rows = NULL;
    if (!enter(db, e)) return K_INVALID;
    return leave(db, db->ops->query(db, sql, n, params, rows, e));
}

kstatus kdb_begin(kdb *db, kerr *e)
{
    if (!enter(db, e)) return K_INVALID;
    kstatus st = db->ops->begin(db, e);
    if (!st) db->in_txn = 1, db->owner = pthread_self();
    return leave(db, st);
}

kstatus kdb_commit(kdb *db, kerr *e)
{
    if (!enter(db, e)) return K_INVALID;
    kstatus st = db->ops->commit(db, e);
    if (!st) db->in_txn = 0;
    return leave(db, st);
}

void kdb_rollback(kdb *db)
{
    if (!enter(db, NULL)) return;
    db->ops->rollback(db);
    db->in_txn = 0;
    leave(db, K_OK);
}

kstatus kdb_listen(kdb *db, const char *channel, kerr *e)
{
    if (!db->ops->listen) return K_OK;
    if (!enter(db, e)) return K_INVALID;
    return leave(db, db->ops->listen(db, channel, e));
}

kstatus kdb_notify(kdb *db, const char *channel, kerr *e)
{
    if (!db->ops->notify) return K_OK;
    if (!enter(db, e)) return K_INVALID;
    return leave(db, db->ops->notify(db, channel, e));
}

int kdb_poll_notified(kdb *db)
{
    if (!db->ops->poll_notified) return -1;
    if (!enter(db, NULL)) return -1;
    int n = db->ops->poll_notified(db);
    leave(db, K_OK);
    return n;
}

int kdb_nrows(const kdb_rows *r)
{
    return r ? r->nrows : 0;
}

int kdb_ncols(const kdb_rows *r)
{
    return r ? r->ncols : 0;
}

const char *kdb_value(const kdb_rows *r, int row, int col)
{
    if (!r || row < 0 || row >= r->nrows || col < 0 || col >= r->ncols) return NULL;
    return r->cells[(size_t)row * r->ncols + col];
}

int64_t kdb_int(const kdb_rows *r, int row, int col, int64_t dflt)
{
    const char *v = kdb_value(r, row, col);
    if (!v || !*v) return dflt;
    char *end;
    long long x = strtoll(v, &end, 10);
    return *end ? dflt : (int64_t)x;
}

void kdb_rows_free(kdb_rows *r)
{
    if (!r) return;
    free(r->cells);
    free(r->storage);
    free(r);
}

void kdb__builder_init(kdb__builder *b, int ncols)
{
    memset(b, 0, sizeof *b);
    b->ncols = ncols;
    buf_init(&b->text, RESULT_MAX);
}

void kdb__builder_free(kdb__builder *b)
{
    free(b->offs);
    buf_free(&b->text);
    memset(b, 0, sizeof *b);
}

kstatus kdb__builder_add(kdb__builder *b, const char *v, size_t len, kerr *e)
{
    if (b->ncells == b->cap) {
        int cap = b->cap ? b->cap * 2 : 64;
        size_t *o = realloc(b->offs, (size_t)cap * sizeof *o);
        if (!o) return kerr_set(e, K_NOMEM, "out of memory reading a query result");
        b->offs = o;
        b->cap = cap;
    }
    size_t off = SIZE_MAX;
    if (v) {
        off = b->text.len;
        if (buf_append(&b->text, v, len) || buf_append(&b->text, "", 1))
            return kerr_set(e, K_LIMIT, "query result is too large");
    }
    b->offs[b->ncells++] = off;
    return K_OK;
}

kstatus kdb__builder_finish(kdb__builder *b, kdb_rows **out, kerr *e)
{
    kdb_rows *r = calloc(1, sizeof *r);
    char **cells = calloc((size_t)b->ncells + 1, sizeof *cells);
    if (!r || !cells) {
        free(r);
        free(cells);
        kdb__builder_free(b);
        return kerr_set(e, K_NOMEM, "out of memory reading a query result");
    }
    r->ncols = b->ncols;
    r->nrows = b->ncols ? b->ncells / b->ncols : 0;
    r->storage = (char *)b->text.data; /* ownership moves to the result */
    for (int i = 0; i < b->ncells; i++)
        cells[i] = b->offs[i] == SIZE_MAX ? NULL : r->storage + b->offs[i];
    r->cells = cells;
    b->text.data = NULL;
    kdb__builder_free(b);
    *out = r;
    return K_OK;
}
