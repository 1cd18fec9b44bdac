/* db_impl.h — internal: the table each backend (db_sqlite.c, db_pg.c) fills in. Only db*.c
 * include this. */
#ifndef KILN_DB_IMPL_H
#define KILN_DB_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/buf.h"
#include "store/db.h"

/* A result set: cells point into one block; NULL is SQL NULL. */
struct kdb_rows {
    int nrows, ncols;
    char **cells;  /* nrows * ncols pointers */
    char *storage; /* the block the cells point into */
};

/* Result-set builder shared by the backends: add cells row by row, then finish. */
typedef struct {
    int ncols, ncells, cap;
    size_t *offs; /* offset of each cell in text, SIZE_MAX for NULL */
    buf text;
} kdb__builder;

void kdb__builder_init(kdb__builder *b, int ncols);
/* Appends one cell (`v` NULL for SQL NULL; `len` bytes, need not be NUL-terminated). */
kstatus kdb__builder_add(kdb__builder *b, const char *v, size_t len, kerr *e);
/* Turns the cells added so far into a result set; always frees the builder. */
kstatus kdb__builder_finish(kdb__builder *b, kdb_rows **out, kerr *e);
void kdb__builder_free(kdb__builder *b);

typedef struct {
    void (*close)(kdb *db);
    kstatus (*exec)(kdb *db, const char *sql, kerr *e);
    kstatus (*query)(kdb *db, const char *sql, int n, const char *const *params, kdb_rows **rows,
                     kerr *e);
    kstatus (*begin)(kdb *db, kerr *e);
    kstatus (*commit)(kdb *db, kerr *e);
    void (*rollback)(kdb *db);
    kstatus (*listen)(kdb *db, const char *channel, kerr *e);
    kstatus (*notify)(kdb *db, const char *channel, kerr *e);
    int (*poll_notified)(kdb *db);
} kdb__ops;

struct kdb {
    const kdb__ops *ops;
    kdb_backend kind;
    void *impl;      /* sqlite3* or PGconn* plus backend state */
    atomic_int busy; /* a call is running: a second thread's call is refused (db.c) */
    int in_txn;      /* between kdb_begin and kdb_commit / kdb_rollback */
    pthread_t owner; /* the thread that began the open transaction */
};

/* Each backend's open. */
kstatus kdb__sqlite_open(const char *path, int busy_ms, kdb **out, kerr *e);
kstatus kdb__pg_open(const char *url, kdb **out, kerr *e);

#endif
