/* runs.h — experiments and runs in the registry, ready for training and pipelines: a run
 * belongs to an experiment and has a status, start and end times, params (set once), metrics
 * (a history of values with step and time) and artifacts (files kept in the artifact store).
 * Experiments are created on first use. Run ids are 32 lowercase hex digits. */
#ifndef KILN_RUNS_H
#define KILN_RUNS_H

#include <stddef.h>
#include <stdint.h>

#include "store/registry.h"

#define KRUNS_ID_LEN 33 /* 32 hex digits + NUL */

typedef struct {
    const char *key, *value;
} kruns_param;

typedef struct {
    const char *key;
    double value;  /* finite */
    int64_t step;  /* >= 0 */
    int64_t ts_ms; /* 0 = now */
} kruns_metric;

typedef struct {
    const char *path; /* name inside the run, e.g. "plots/roc.svg" */
    const void *data;
    size_t len;
} kruns_artifact;

/* One logging call, applied in one transaction. A param that already has a different value
 * is refused (K_CONFLICT): params describe how a run was made and do not change. */
typedef struct {
    const char *run_id;     /* NULL/"" creates a run in `experiment` */
    const char *experiment; /* required when creating */
    const char *name;       /* optional run name */
    const char *status;     /* NULL (new run: FINISHED) or RUNNING, FINISHED, FAILED, KILLED */
    const char *who;
    int n_params;
    const kruns_param *params;
    int n_metrics;
    const kruns_metric *metrics;
    int n_artifacts;
    const kruns_artifact *artifacts;
} kruns_log_req;

/* Creates or updates a run; writes its id to run_id. */
kstatus kruns_log(kreg *r, const kruns_log_req *q, char run_id[KRUNS_ID_LEN], kerr *e);

/* Runs (newest first) of one experiment or of all (experiment NULL), with last metric values. */
kstatus kruns_list(kreg *r, const char *experiment, struct json_object **out, kerr *e);

/* One run with params, metric histories and artifacts. */
kstatus kruns_show(kreg *r, const char *run_id, struct json_object **out, kerr *e);

#endif
