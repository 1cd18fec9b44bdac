/* runs.c — experiments and runs: logging in one transaction, listing and showing. */
#include "store/runs.h"

#include <ctype.h>
#include <json-c/json.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/num.h"
#include "store/registry_impl.h"

static const char *const statuses[] = {"RUNNING", "FINISHED", "FAILED", "KILLED"};

static int valid_status(const char *s)
{
    for (size_t i = 0; i < sizeof statuses / sizeof *statuses; i++)
        if (strcmp(s, statuses[i]) == 0) return 1;
    return 0;
}

static kstatus check_run_id(const char *id, kerr *e)
{
    size_t n = strlen(id);
    int ok = n == KRUNS_ID_LEN - 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = isxdigit((unsigned char)id[i]) && !isupper((unsigned char)id[i]);
    return ok ? K_OK
              : kerr_set(e, K_INVALID, "invalid run id '%.64s' (32 lowercase hex digits)", id);
}

static kstatus check_artifact_path(const char *p, kerr *e)
{
    size_t n = p ? strlen(p) : 0;
    int ok = n >= 1 && n <= 512 && p[0] != '/' && !strstr(p, "..");
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)p[i] >= 0x20;
    return ok ? K_OK : kerr_set(e, K_INVALID, "invalid artifact path '%.200s'", p ? p : "");
}

static kstatus check_request(const kruns_log_req *q, kerr *e)
{
    kstatus st = K_OK;
    int creating = !q->run_id || !*q->run_id;
    if (creating)
        st = kreg_check_name("experiment", q->experiment, e);
    else
        st = check_run_id(q->run_id, e);
    if (!st && q->status && !valid_status(q->status))
        st = kerr_set(e, K_INVALID,
                      "invalid run status '%.40s' (RUNNING, FINISHED, FAILED, KILLED)", q->status);
    if (!st && q->name && strlen(q->name) > 256)
        st = kerr_set(e, K_LIMIT, "run name is longer than 256 bytes");
    if (!st && (!q->who || !*q->who)) st = kerr_set(e, K_INVALID, "a run needs a user name");
    for (int i = 0; !st && i < q->n_params; i++)
        st = kreg__check_tag(q->params[i].key, q->params[i].value, e);
    for (int i = 0; !st && i < q->n_metrics; i++) {
        st = kreg__check_tag(q->metrics[i].key, NULL, e);
        if (!st && !isfinite(q->metrics[i].value))
            st = kerr_set(e, K_INVALID, "metric '%s' is not a finite number", q->metrics[i].key);
        if (!st && q->metrics[i].step < 0)
            st = kerr_set(e, K_INVALID, "metric '%s' has a negative step", q->metrics[i].key);
    }
    for (int i = 0; !st && i < q->n_artifacts; i++)
        st = check_artifact_path(q->artifacts[i].path, e);
    return st;
}

typedef struct {
    const kruns_log_req *q;
    char id[KRUNS_ID_LEN];
    char (*shas)[SHA256_HEX_LEN];
} log_ctx;

static kstatus create_run(kreg *r, log_ctx *c, const char *now, kerr *e)
{
    const kruns_log_req *q = c->q;
    unsigned char raw[16];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(c->id, sizeof c->id, raw, sizeof raw);
    const char *status = q->status ? q->status : "FINISHED";
    const char *pe[] = {q->experiment, now};
    kstatus st = kdb_query(r->db,
                           "INSERT INTO experiments (name, created_at) VALUES ($1, "
                           "CAST($2 AS BIGINT)) ON CONFLICT (name) DO NOTHING",
                           2, pe, NULL, e);
    const char *p[] = {c->id,  q->experiment, q->name ? q->name : "",
                       status, now,           strcmp(status, "RUNNING") ? now : NULL,
                       q->who};
    if (!st)
        st = kdb_query(r->db,
                       "INSERT INTO runs (id, experiment, name, status, start_time, end_time, "
                       "created_by) VALUES ($1, $2, $3, $4, CAST($5 AS BIGINT), "
                       "CAST($6 AS BIGINT), $7)",
                       7, p, NULL, e);
    return st;
}

static kstatus update_run(kreg *r, log_ctx *c, const char *now, kerr *e)
{
    const kruns_log_req *q = c->q;
    memcpy(c->id, q->run_id, KRUNS_ID_LEN);
    const char *p[] = {c->id};
    kdb_rows *rows;
    char what[100];
    snprintf(what, sizeof what, "run '%s' does not exist", c->id);
    kstatus st = kreg__query_one(r, "SELECT status FROM runs WHERE id = $1", 1, p, &rows, what, e);
    kdb_rows_free(rows);
    const char *ps[] = {c->id, q->status, now};
    if (!st && q->status)
        st = kdb_query(r->db,
                       "UPDATE runs SET status = $2, end_time = CASE WHEN $2 = 'RUNNING' THEN "
                       "NULL ELSE CAST($3 AS BIGINT) END WHERE id = $1",
                       3, ps, NULL, e);
    const char *pn[] = {c->id, q->name};
    if (!st && q->name)
        st = kdb_query(r->db, "UPDATE runs SET name = $2 WHERE id = $1", 2, pn, NULL, e);
    return st;
}

static kstatus log_param(kreg *r, const char *id, const kruns_param *pa, kerr *e)
{
    const char *p[] = {id, pa->key, pa->value};
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "INSERT INTO run_params (run_id, key, value) VALUES ($1, $2, $3) "
                           "ON CONFLICT (run_id, key) DO NOTHING RETURNING key",
                           3, p, &rows, e);
    int inserted = !st && kdb_nrows(rows) == 1;
    kdb_rows_free(rows);
    if (st || inserted) return st;
    st = kdb_query(r->db, "SELECT value FROM run_params WHERE run_id = $1 AND key = $2", 2, p,
                   &rows, e);
    if (!st && strcmp(kdb_value(rows, 0, 0), pa->value) != 0)
        st = kerr_set(e, K_CONFLICT,
                      "param '%s' of run %s is already '%.100s'; params do not change", pa->key, id,
                      kdb_value(rows, 0, 0));
    kdb_rows_free(rows);
    return st;
}

static kstatus log_metric(kreg *r, const char *id, const kruns_metric *m, const char *now, kerr *e)
{
    char value[32], step[24], ts[24];
    num_format_shortest(m->value, value);
    const char *p[] = {id, m->key, kreg__i64(m->step, step),
                       m->ts_ms ? kreg__i64(m->ts_ms, ts) : now, value};
    return kdb_query(r->db,
                     "INSERT INTO run_metrics (run_id, key, step, ts, value) VALUES ($1, $2, "
                     "CAST($3 AS BIGINT), CAST($4 AS BIGINT), CAST($5 AS DOUBLE PRECISION))",
                     5, p, NULL, e);
}

static kstatus log_artifact(kreg *r, const char *id, const kruns_artifact *a, const char *sha,
                            kerr *e)
{
    char size[24];
    const char *p[] = {id, a->path, sha, kreg__i64((int64_t)a->len, size)};
    return kdb_query(r->db,
                     "INSERT INTO run_artifacts (run_id, path, sha256, size) VALUES ($1, $2, $3, "
                     "CAST($4 AS BIGINT)) ON CONFLICT (run_id, path) DO UPDATE SET sha256 = "
                     "excluded.sha256, size = excluded.size",
                     4, p, NULL, e);
}

static kstatus log_txn(kreg *r, void *ctx, kerr *e)
{
    log_ctx *c = ctx;
    const kruns_log_req *q = c->q;
    char now[24];
    kreg__i64(kreg__now_ms(), now);
    kstatus st = q->run_id && *q->run_id ? update_run(r, c, now, e) : create_run(r, c, now, e);
    for (int i = 0; !st && i < q->n_params; i++)
        st = log_param(r, c->id, &q->params[i], e);
    for (int i = 0; !st && i < q->n_metrics; i++)
        st = log_metric(r, c->id, &q->metrics[i], now, e);
    for (int i = 0; !st && i < q->n_artifacts; i++)
        st = log_artifact(r, c->id, &q->artifacts[i], c->shas[i], e);
    return st;
}

kstatus kruns_log(kreg *r, const kruns_log_req *q, char run_id[KRUNS_ID_LEN], kerr *e)
{
    kstatus st = check_request(q, e);
    if (st) return st;
    log_ctx c = {.q = q};
    c.shas = calloc((size_t)q->n_artifacts + 1, sizeof *c.shas);
    if (!c.shas) return kerr_set(e, K_NOMEM, "out of memory");
    if (!(st = artifacts_lock(r->art, 0, e))) {
        for (int i = 0; !st && i < q->n_artifacts; i++)
            st = artifacts_put(r->art, q->artifacts[i].data, q->artifacts[i].len, c.shas[i], e);
        if (!st) st = kreg__write(r, log_txn, &c, e);
        artifacts_unlock(r->art);
    }
    free(c.shas);
    if (!st) memcpy(run_id, c.id, KRUNS_ID_LEN);
    return st;
}

/* ---- reading ------------------------------------------------------------------------------- */

static void add(json_object *o, const char *key, json_object *v)
{
    json_object_object_add(o, key, v);
}

static json_object *number(const char *text)
{
    double v = 0;
    if (text) num_parse_double(text, strlen(text), &v);
    return json_object_new_double(v);
}

static json_object *run_header(const kdb_rows *rows, int i)
{
    json_object *o = json_object_new_object();
    add(o, "id", kreg__jstr(kdb_value(rows, i, 0)));
    add(o, "experiment", kreg__jstr(kdb_value(rows, i, 1)));
    add(o, "name", kreg__jstr(kdb_value(rows, i, 2)));
    add(o, "status", kreg__jstr(kdb_value(rows, i, 3)));
    add(o, "start_time", kreg__jtime(kdb_value(rows, i, 4)));
    add(o, "end_time", kreg__jtime(kdb_value(rows, i, 5)));
    add(o, "created_by", kreg__jstr(kdb_value(rows, i, 6)));
    return o;
}

#define RUN_COLS "id, experiment, name, status, start_time, end_time, created_by"

/* {key: last value} (by step, then time) */
static kstatus last_metrics(kreg *r, const char *id, json_object **out, kerr *e)
{
    const char *p[] = {id};
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT key, value FROM run_metrics WHERE run_id = $1 "
                           "ORDER BY key, step, ts",
                           1, p, &rows, e);
    if (st) return st;
    *out = json_object_new_object();
    for (int i = 0; i < kdb_nrows(rows); i++)
        add(*out, kdb_value(rows, i, 0), number(kdb_value(rows, i, 1)));
    kdb_rows_free(rows);
    return K_OK;
}

kstatus kruns_list(kreg *r, const char *experiment, json_object **out, kerr *e)
{
    const char *p[] = {experiment};
    kdb_rows *rows;
    kstatus st = experiment ? kdb_query(r->db,
                                        "SELECT " RUN_COLS " FROM runs WHERE experiment = $1 "
                                        "ORDER BY start_time DESC, id",
                                        1, p, &rows, e)
                            : kdb_query(r->db,
                                        "SELECT " RUN_COLS " FROM runs ORDER BY start_time "
                                        "DESC, id",
                                        0, NULL, &rows, e);
    if (st) return st;
    json_object *list = json_object_new_array();
    for (int i = 0; !st && i < kdb_nrows(rows); i++) {
        json_object *run = run_header(rows, i), *metrics = NULL;
        st = last_metrics(r, kdb_value(rows, i, 0), &metrics, e);
        add(run, "metrics", metrics);
        json_object_array_add(list, run);
    }
    kdb_rows_free(rows);
    if (st)
        json_object_put(list);
    else
        *out = list;
    return st;
}

static kstatus params_of(kreg *r, const char *id, json_object *run, kerr *e)
{
    const char *p[] = {id};
    json_object *o;
    kstatus st = kreg__kv_json(
        r, "SELECT key, value FROM run_params WHERE run_id = $1 ORDER BY key", 1, p, &o, e);
    if (!st) add(run, "params", o);
    return st;
}

static kstatus metrics_of(kreg *r, const char *id, json_object *run, kerr *e)
{
    const char *p[] = {id};
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT key, step, ts, value FROM run_metrics WHERE run_id = $1 "
                           "ORDER BY key, step, ts",
                           1, p, &rows, e);
    if (st) return st;
    json_object *o = json_object_new_object();
    for (int i = 0; i < kdb_nrows(rows); i++) {
        const char *key = kdb_value(rows, i, 0);
        json_object *hist;
        if (!json_object_object_get_ex(o, key, &hist)) {
            hist = json_object_new_array();
            add(o, key, hist);
        }
        json_object *pt = json_object_new_object();
        add(pt, "step", kreg__jint(kdb_value(rows, i, 1)));
        add(pt, "time", kreg__jtime(kdb_value(rows, i, 2)));
        add(pt, "value", number(kdb_value(rows, i, 3)));
        json_object_array_add(hist, pt);
    }
    add(run, "metrics", o);
    kdb_rows_free(rows);
    return K_OK;
}

static kstatus artifacts_of(kreg *r, const char *id, json_object *run, kerr *e)
{
    const char *p[] = {id};
    kdb_rows *rows;
    kstatus st = kdb_query(r->db,
                           "SELECT path, sha256, size FROM run_artifacts WHERE run_id = $1 "
                           "ORDER BY path",
                           1, p, &rows, e);
    if (st) return st;
    json_object *list = json_object_new_array();
    for (int i = 0; i < kdb_nrows(rows); i++) {
        json_object *a = json_object_new_object();
        add(a, "path", kreg__jstr(kdb_value(rows, i, 0)));
        add(a, "sha256", kreg__jstr(kdb_value(rows, i, 1)));
        add(a, "size", kreg__jint(kdb_value(rows, i, 2)));
        json_object_array_add(list, a);
    }
    add(run, "artifacts", list);
    kdb_rows_free(rows);
    return K_OK;
}

kstatus kruns_show(kreg *r, const char *run_id, json_object **out, kerr *e)
{
    kstatus st = check_run_id(run_id, e);
    if (st) return st;
    const char *p[] = {run_id};
    kdb_rows *rows;
    char what[100];
    snprintf(what, sizeof what, "run '%s' does not exist", run_id);
    st = kreg__query_one(r, "SELECT " RUN_COLS " FROM runs WHERE id = $1", 1, p, &rows, what, e);
    if (st) return st;
    json_object *run = run_header(rows, 0);
    kdb_rows_free(rows);
    st = params_of(r, run_id, run, e);
    if (!st) st = metrics_of(r, run_id, run, e);
    if (!st) st = artifacts_of(r, run_id, run, e);
    if (st)
        json_object_put(run);
    else
        *out = run;
    return st;
}
