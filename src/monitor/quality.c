/* quality.c — per-feature counters of missing, out-of-range and unseen-category values. */
#include "monitor/quality.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "monitor/metrics.h"

#define KINDS 3

struct kquality {
    const kspec *spec;
    int32_t nf;
    atomic_ullong *counts; /* nf * KINDS */
};

kquality *kquality_new(const kspec *s)
{
    kquality *q = calloc(1, sizeof *q);
    if (!q) return NULL;
    q->spec = s;
    q->nf = s->n_features;
    q->counts = calloc((size_t)(q->nf ? q->nf : 1) * KINDS, sizeof *q->counts);
    if (!q->counts) {
        free(q);
        return NULL;
    }
    return q;
}

void kquality_free(kquality *q)
{
    if (!q) return;
    free(q->counts);
    free(q);
}

/* 0 missing, 1 out of range, 2 unseen category, -1 fine. */
static int classify(const kfeature *f, double v)
{
    if (isnan(v)) return 0;
    if (f->type == KFEAT_CATEGORICAL && f->n_categories > 0 &&
        (v < 0 || v >= f->n_categories || v != floor(v)))
        return 2;
    if ((!isnan(f->min) && v < f->min) || (!isnan(f->max) && v > f->max)) return 1;
    return -1;
}

void kquality_observe(kquality *q, const double *rows, size_t n)
{
    for (int32_t j = 0; j < q->nf; j++) {
        const kfeature *f = &q->spec->features[j];
        unsigned long long local[KINDS] = {0};
        for (size_t i = 0; i < n; i++) {
            int k = classify(f, rows[i * (size_t)q->nf + j]);
            if (k >= 0) local[k]++;
        }
        for (int k = 0; k < KINDS; k++)
            if (local[k])
                atomic_fetch_add_explicit(&q->counts[(size_t)j * KINDS + k], local[k],
                                          memory_order_relaxed);
    }
}

const char *kquality_family(int which, const char **help)
{
    static const char *const names[KINDS] = {"kiln_feature_missing_total",
                                             "kiln_feature_out_of_range_total",
                                             "kiln_feature_unseen_category_total"};
    static const char *const helps[KINDS] = {
        "Missing (null) input values, by feature.",
        "Input values outside the training range the model package records, by feature.",
        "Categorical input values that are not a known category code, by feature."};
    *help = helps[which];
    return names[which];
}

void kquality_write(const kquality *q, int which, const char *model, int64_t version, buf *out)
{
    const char *help;
    const char *name = kquality_family(which, &help);
    buf labels;
    buf_init(&labels, 1024);
    for (int32_t j = 0; j < q->nf; j++) {
        labels.len = 0;
        buf_append_str(&labels, "model=\"");
        prom_escape(&labels, model);
        buf_printf(&labels, "\",version=\"%lld\",feature=\"", (long long)version);
        prom_escape(&labels, q->spec->features[j].name);
        buf_append(&labels, "\"", 1);
        prom_sample(out, name, (const char *)labels.data,
                    (double)atomic_load(&q->counts[(size_t)j * KINDS + which]));
    }
    buf_free(&labels);
}
