/* fuzz_common.h — shared by the fuzz targets: whatever a parser accepted must also compile,
 * survive a package round trip, and score rows (including NaN) without crashing. */
#ifndef KILN_FUZZ_COMMON_H
#define KILN_FUZZ_COMMON_H

#include <math.h>
#include <stdlib.h>

#include "base/buf.h"
#include "model/package.h"
#include "model/predictor.h"

/* Consumes s. */
static inline void fuzz_score(kspec *s)
{
    kerr e = {0};
    buf b;
    buf_init(&b, (size_t)1 << 28);
    if (kpkg_write(s, &b, &e) == K_OK) {
        kspec *back = NULL;
        if (kpkg_read(b.data, b.len, &back, &e) != K_OK) abort(); /* what we write, we read */
        kspec_free(back);
    }
    buf_free(&b);
    kmodel *m = NULL;
    if (kmodel_new(s, &m, &e) != K_OK) return;
    int32_t nf = kmodel_n_features(m), nv = kmodel_n_values(m), nm = kmodel_n_margins(m);
    if (nf > 4096) {
        kmodel_free(m);
        return;
    }
    double *rows = calloc(3 * (size_t)nf, sizeof *rows);
    double *vals = calloc(3 * (size_t)nv, sizeof *vals), *marg = calloc(3 * (size_t)nm, sizeof *marg);
    if (rows && vals && marg) {
        for (int32_t i = 0; i < nf; i++) {
            rows[i] = NAN;
            rows[nf + i] = i * 0.5 - 3;
            rows[2 * nf + i] = 1e30;
        }
        kmodel_predict(m, rows, 3, vals, marg);
    }
    free(rows);
    free(vals);
    free(marg);
    kmodel_free(m);
}

#endif
