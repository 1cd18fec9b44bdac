/* predictor.c — scoring: preprocessing, estimator dispatch, base score and output link.
 *
 * Tree ensembles are evaluated by trees.c (compact layouts, several rows at a time); linear
 * models and MLPs are plain dense arithmetic here. Rows are processed in chunks (at most
 * CHUNK_ROWS, fewer for wide models), so scratch memory stays bounded whatever n is. */
#include "model/predictor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/trees.h"

#define CHUNK_ROWS 256
#define CHUNK_DOUBLES 65536 /* bound on rows x widest layer held at once */

struct kmodel {
    kspec *spec;
    int32_t n_in;       /* estimator input width */
    int32_t max_width;  /* widest intermediate row (preprocessing, MLP layers) */
    trees_compiled *trees;
};

static int32_t max_i32(int32_t a, int32_t b)
{
    return a > b ? a : b;
}

kstatus kmodel_new(kspec *spec, kmodel **out, kerr *e)
{
    kstatus st = kspec_validate(spec, e);
    if (st) {
        kspec_free(spec);
        return st;
    }
    kmodel *m = calloc(1, sizeof *m);
    if (!m) {
        kspec_free(spec);
        return kerr_set(e, K_NOMEM, "out of memory compiling model");
    }
    m->spec = spec;
    m->n_in = kspec_estimator_inputs(spec);
    m->max_width = max_i32(spec->n_features, spec->n_outputs);
    for (int32_t i = 0; i < spec->n_steps; i++)
        m->max_width = max_i32(m->max_width, spec->steps[i].n_out);
    if (spec->kind == KEST_MLP)
        for (int32_t i = 0; i < spec->mlp.n_layers; i++)
            m->max_width = max_i32(m->max_width, spec->mlp.layers[i].n_out);
    if (spec->kind == KEST_TREES) {
        st = trees_compile(&spec->trees, spec->base_score, &m->trees, e);
        if (st) {
            kmodel_free(m);
            return st;
        }
    }
    *out = m;
    return K_OK;
}

void kmodel_free(kmodel *m)
{
    if (!m) return;
    trees_free(m->trees);
    kspec_free(m->spec);
    free(m);
}

const kspec *kmodel_spec(const kmodel *m)
{
    return m->spec;
}

int32_t kmodel_n_features(const kmodel *m)
{
    return m->spec->n_features;
}

int32_t kmodel_n_values(const kmodel *m)
{
    return kspec_n_values(m->spec);
}

int32_t kmodel_n_margins(const kmodel *m)
{
    return m->spec->n_outputs;
}

/* ---- preprocessing --------------------------------------------------------------------------- */

static void onehot_row(const kstep *st, const double *in, double *out)
{
    int32_t o = 0;
    for (int32_t j = 0; j < st->n_in; j++) {
        int32_t n = st->n_cats[j];
        if (n == 0) {
            out[o++] = in[j];
            continue;
        }
        const double *cats = st->cat_values + st->cat_start[j];
        for (int32_t c = 0; c < n; c++) {
            int hit = cats[c] == in[j] || (isnan(cats[c]) && isnan(in[j]));
            out[o + c] = hit ? 1.0 : 0.0;
        }
        o += n;
    }
}

/* Applies one step to one row; `in` and `out` are distinct buffers of max_width. Returns 1 when
 * the result is in `out`, 0 when the step worked in place on `in`. */
static int apply_step(const kstep *st, double *in, double *out)
{
    switch (st->kind) {
    case KSTEP_SELECT:
        for (int32_t j = 0; j < st->n_out; j++) out[j] = in[st->index[j]];
        return 1;
    case KSTEP_IMPUTE:
        for (int32_t j = 0; j < st->n_in; j++)
            if (isnan(in[j]) && !isnan(st->fill[j])) in[j] = st->fill[j];
        return 0;
    case KSTEP_SCALE:
        for (int32_t j = 0; j < st->n_in; j++) in[j] = (in[j] - st->offset[j]) / st->scale[j];
        return 0;
    case KSTEP_ONEHOT:
        onehot_row(st, in, out);
        return 1;
    }
    return 0;
}

/* Runs every preprocessing step over one row; returns the buffer holding the result. */
static double *preprocess_row(const kspec *s, const double *row, double *a, double *b)
{
    memcpy(a, row, (size_t)s->n_features * sizeof *a);
    for (int32_t i = 0; i < s->n_steps; i++) {
        if (apply_step(&s->steps[i], a, b)) {
            double *t = a;
            a = b;
            b = t;
        }
    }
    return a;
}

/* ---- dense estimators ------------------------------------------------------------------------ */

static void linear_row(const klinear *l, const double *x, double *scores)
{
    for (int32_t k = 0; k < l->n_out; k++) {
        const double *w = l->coef + (size_t)k * l->n_in;
        double acc = 0;
        for (int32_t j = 0; j < l->n_in; j++) acc += w[j] * x[j];
        scores[k] = acc + l->intercept[k];
    }
}

static double activate(kactivation act, double v)
{
    switch (act) {
    case KACT_RELU: return v > 0 ? v : 0;
    case KACT_TANH: return tanh(v);
    case KACT_LOGISTIC: return 1.0 / (1.0 + exp(-v));
    case KACT_IDENTITY: break;
    }
    return v;
}

/* One dense layer over n rows (x: n rows of l->n_in, y: n rows of l->n_out). Rows go four at a
 * time so each weight row is loaded once per four rows; the inner loop over outputs is
 * contiguous and vectorises. */
/* Built for AVX-512, AVX2 and baseline x86-64, picked at load time (GCC function
 * multiversioning), so the shipped binary needs no -march and still uses wide vectors. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx512f", "avx2", "default")))
#endif
static void dense_rows(const klayer *l, const double *x, size_t n, double *y, int hidden)
{
    size_t ni = (size_t)l->n_in, no = (size_t)l->n_out, r = 0;
    for (size_t i = 0; i < n * no; i++) y[i] = l->bias[i % no];
    for (; r + 4 <= n; r += 4) {
        double *y0 = y + r * no, *y1 = y0 + no, *y2 = y1 + no, *y3 = y2 + no;
        const double *x0 = x + r * ni;
        for (size_t j = 0; j < ni; j++) {
            const double *w = l->weight + j * no;
            double v0 = x0[j], v1 = x0[ni + j], v2 = x0[2 * ni + j], v3 = x0[3 * ni + j];
            for (size_t o = 0; o < no; o++) {
                y0[o] += v0 * w[o];
                y1[o] += v1 * w[o];
                y2[o] += v2 * w[o];
                y3[o] += v3 * w[o];
            }
        }
    }
    for (; r < n; r++)
        for (size_t j = 0; j < ni; j++) {
            const double *w = l->weight + j * no;
            double v = x[r * ni + j], *yr = y + r * no;
            for (size_t o = 0; o < no; o++) yr[o] += v * w[o];
        }
    if (hidden)
        for (size_t i = 0; i < n * no; i++) y[i] = activate(l->act, y[i]);
}

/* The network over n rows; a and b hold n * max_width doubles each. */
static void mlp_rows(const kmlp *mlp, const double *x, size_t n, double *a, double *b,
                     double *scores)
{
    const double *in = x;
    for (int32_t i = 0; i < mlp->n_layers; i++) {
        int last = i == mlp->n_layers - 1;
        double *out = last ? scores : (in == a ? b : a);
        dense_rows(&mlp->layers[i], in, n, out, !last);
        in = out;
    }
}

/* ---- output link ----------------------------------------------------------------------------- */

static double sigmoid(double v)
{
    return 1.0 / (1.0 + exp(-v));
}

static void softmax(const double *s, int32_t k, double *out)
{
    double mx = s[0], sum = 0;
    for (int32_t i = 1; i < k; i++) mx = s[i] > mx ? s[i] : mx;
    for (int32_t i = 0; i < k; i++) sum += (out[i] = exp(s[i] - mx));
    for (int32_t i = 0; i < k; i++) out[i] /= sum;
}

static void apply_link(const kspec *s, const double *sc, double *out)
{
    int32_t k = s->n_outputs;
    double *p = out;
    double tmp[1];
    int binary = s->task == KTASK_CLASSIFICATION && k == 1;
    if (binary) p = tmp; /* p(class 1) first, expanded below */
    switch (s->link) {
    case KLINK_IDENTITY: memcpy(p, sc, (size_t)k * sizeof *p); break;
    case KLINK_SIGMOID:
        for (int32_t i = 0; i < k; i++) p[i] = sigmoid(s->link_param * sc[i]);
        break;
    case KLINK_SOFTMAX: softmax(sc, k, p); break;
    case KLINK_EXP:
        for (int32_t i = 0; i < k; i++) p[i] = exp(sc[i]);
        break;
    case KLINK_OVR: {
        double sum = 0;
        for (int32_t i = 0; i < k; i++) sum += (p[i] = sigmoid(sc[i]));
        for (int32_t i = 0; i < k; i++) p[i] /= sum;
        break;
    }
    case KLINK_SQUARE:
        for (int32_t i = 0; i < k; i++) p[i] = (sc[i] < 0 ? -1.0 : 1.0) * sc[i] * sc[i];
        break;
    case KLINK_LOG1PEXP:
        for (int32_t i = 0; i < k; i++) p[i] = log1p(exp(sc[i]));
        break;
    }
    if (binary) {
        out[0] = 1.0 - tmp[0];
        out[1] = tmp[0];
    }
}

/* ---- driver ---------------------------------------------------------------------------------- */

/* Estimator margins for `n` preprocessed rows (x: n * n_in), base score included. */
static void estimate(const kmodel *m, const double *x, size_t n, double *scores, double *a,
                     double *b)
{
    const kspec *s = m->spec;
    int32_t k = s->n_outputs;
    if (s->kind == KEST_TREES) {
        trees_predict(m->trees, x, n, (size_t)m->n_in, scores);
        return;
    }
    if (s->kind == KEST_MLP)
        mlp_rows(&s->mlp, x, n, a, b, scores);
    else
        for (size_t r = 0; r < n; r++)
            linear_row(&s->linear, x + r * (size_t)m->n_in, scores + r * (size_t)k);
    if (s->base_score)
        for (size_t r = 0; r < n; r++)
            for (int32_t i = 0; i < k; i++) scores[r * (size_t)k + (size_t)i] += s->base_score[i];
}

kstatus kmodel_predict(const kmodel *m, const double *rows, size_t n, double *values,
                       double *margins)
{
    const kspec *s = m->spec;
    size_t w = (size_t)m->max_width, k = (size_t)s->n_outputs, nv = (size_t)kspec_n_values(s);
    size_t chunk = CHUNK_DOUBLES / w;
    chunk = chunk < 1 ? 1 : chunk > CHUNK_ROWS ? CHUNK_ROWS : chunk;
    chunk = n < chunk ? n : chunk;
    int pre = s->n_steps > 0;
    double stack[4096];
    size_t need = 2 * w * chunk + chunk * k + (pre ? chunk * (size_t)m->n_in : 0);
    double *scratch = need <= 4096 ? stack : malloc(need * sizeof *scratch);
    if (!scratch) return K_NOMEM;
    double *a = scratch, *b = a + w * chunk, *scores = b + w * chunk, *xin = scores + chunk * k;
    for (size_t r0 = 0; r0 < n; r0 += chunk) {
        size_t c = n - r0 < chunk ? n - r0 : chunk;
        const double *x = rows + r0 * (size_t)s->n_features;
        if (pre) {
            for (size_t r = 0; r < c; r++) {
                const double *p = preprocess_row(s, x + r * (size_t)s->n_features, a, b);
                memcpy(xin + r * (size_t)m->n_in, p, (size_t)m->n_in * sizeof *p);
            }
            x = xin;
        }
        estimate(m, x, c, scores, a, b);
        for (size_t r = 0; r < c; r++) {
            apply_link(s, scores + r * k, values + (r0 + r) * nv);
            if (margins) memcpy(margins + (r0 + r) * k, scores + r * k, k * sizeof *margins);
        }
    }
    if (scratch != stack) free(scratch);
    return K_OK;
}

int32_t kmodel_predicted_class(const kmodel *m, const double *values)
{
    const kspec *s = m->spec;
    if (s->task != KTASK_CLASSIFICATION) return -1;
    int32_t best = 0;
    for (int32_t i = 1; i < s->n_classes; i++)
        if (values[i] > values[best]) best = i;
    return best;
}
