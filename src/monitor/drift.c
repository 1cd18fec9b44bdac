/* drift.c — drift statistics (see drift.h for the API, docs/drift.md for the formulas).
 *
 * Everything works on sorted arrays of non-missing values: the reference keeps a sorted
 * quantile sketch (or the whole sorted sample when it is small), the current sample is copied,
 * stripped of NaNs and sorted, and every statistic is then one linear merge. Sums that feed
 * results compared with scipy use Neumaier compensation, so they agree with numpy's pairwise
 * sums to a few ulps whatever the sample size. */
#include "monitor/drift.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_JSON_DEPTH 8
#define MAX_JSON_COUNT (INT64_C(1) << 53) /* counts beyond this cannot be exact doubles */

struct drift_ref {
    drift_kind kind;
    int64_t count, missing;
    double mean, std, min, max;
    int exact; /* q holds the whole sorted sample */
    int nq;    /* numeric: quantile points */
    double *q; /* numeric: q[j] = quantile at j/(nq-1), or the sorted sample */
    double edges[DRIFT_BINS + 1];
    int nbins;     /* DRIFT_BINS, or n_categories + 1 */
    int64_t *bins; /* reference counts per bin */
};

struct drift_window {
    size_t cap, len, head; /* head: where the next value goes */
    double *vals;
    double *scratch;
};

/* ---- small helpers ---------------------------------------------------------------------- */

typedef struct {
    double sum, comp;
} ksum;

static void ksum_add(ksum *s, double v)
{
    double t = s->sum + v;
    if (fabs(s->sum) >= fabs(v))
        s->comp += (s->sum - t) + v;
    else
        s->comp += (v - t) + s->sum;
    s->sum = t;
}

static double ksum_value(const ksum *s)
{
    return s->sum + s->comp;
}

static int cmp_double(const void *pa, const void *pb)
{
    double a = *(const double *)pa, b = *(const double *)pb;
    return (a > b) - (a < b);
}

/* Copies the non-NaN values of x[0..n) to dst and sorts them; returns how many. */
static size_t copy_sorted(const double *x, size_t n, double *dst)
{
    size_t m = 0;
    int sorted = 1;
    for (size_t i = 0; i < n; i++)
        if (!isnan(x[i])) {
            sorted &= m == 0 || dst[m - 1] <= x[i];
            dst[m++] = x[i];
        }
    if (!sorted) qsort(dst, m, sizeof *dst, cmp_double); /* callers often pass sorted data */
    return m;
}

/* Number of values in s[0..n) that are < v (side='left' search). */
static size_t lower_bound(const double *s, size_t n, double v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Quantile p of sorted s[0..n) with linear interpolation (numpy's default method). Clamped to
 * the upper neighbour so that successive quantiles never decrease through rounding. */
static double quantile_linear(const double *s, size_t n, double p)
{
    double pos = p * (double)(n - 1);
    size_t lo = (size_t)pos;
    if (lo >= n - 1) return s[n - 1];
    double v = s[lo] + (pos - (double)lo) * (s[lo + 1] - s[lo]);
    return v > s[lo + 1] ? s[lo + 1] : v;
}

/* Counts the sorted, NaN-free s[0..m) into the DRIFT_BINS numeric bins: v's bin is the number
 * of inner edges (edges[1..DRIFT_BINS-1]) that are <= v. The edges never decrease, so bin(v) >= k
 * exactly when edges[k] <= v, and the bins are the gaps between the edges' left-side positions
 * in s: 9 binary searches instead of m x 9 comparisons. */
static void count_bins_sorted(const double *edges, const double *s, size_t m, int64_t *bins)
{
    size_t below = 0; /* values < edges[k-1], i.e. in bins before k-1 */
    for (int k = 1; k < DRIFT_BINS; k++) {
        size_t lo = below + lower_bound(s + below, m - below, edges[k]);
        bins[k - 1] += (int64_t)(lo - below);
        below = lo;
    }
    bins[DRIFT_BINS - 1] += (int64_t)(m - below);
}

/* Categorical bin of v: its code when an integer in 0..ncat-1, else ncat ("other"). */
static int category_of(int ncat, double v)
{
    if (v >= 0 && v < ncat && v == floor(v)) return (int)v;
    return ncat;
}

/* ---- building references ------------------------------------------------------------------ */

static drift_ref *ref_alloc(drift_kind kind, int nq, int nbins)
{
    drift_ref *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->kind = kind;
    r->nq = nq;
    r->nbins = nbins;
    r->q = nq ? malloc((size_t)nq * sizeof *r->q) : NULL;
    r->bins = calloc((size_t)nbins, sizeof *r->bins);
    if ((nq && !r->q) || !r->bins) {
        drift_ref_free(r);
        return NULL;
    }
    r->mean = r->std = r->min = r->max = NAN;
    return r;
}

void drift_ref_free(drift_ref *r)
{
    if (!r) return;
    free(r->q);
    free(r->bins);
    free(r);
}

static void ref_moments(drift_ref *r, const double *s, size_t m)
{
    ksum sum = {0, 0}, sq = {0, 0};
    for (size_t i = 0; i < m; i++)
        ksum_add(&sum, s[i]);
    r->mean = ksum_value(&sum) / (double)m;
    for (size_t i = 0; i < m; i++)
        ksum_add(&sq, (s[i] - r->mean) * (s[i] - r->mean));
    r->std = sqrt(ksum_value(&sq) / (double)m);
    r->min = s[0];
    r->max = s[m - 1];
}

static void ref_fill_numeric(drift_ref *r, const double *s, size_t m)
{
    ref_moments(r, s, m);
    if (r->exact) {
        memcpy(r->q, s, m * sizeof *s);
    } else {
        for (int j = 0; j < r->nq; j++)
            r->q[j] = quantile_linear(s, m, (double)j / (r->nq - 1));
    }
    r->edges[0] = r->min;
    r->edges[DRIFT_BINS] = r->max;
    for (int k = 1; k < DRIFT_BINS; k++)
        r->edges[k] = quantile_linear(s, m, k / (double)DRIFT_BINS);
    count_bins_sorted(r->edges, s, m, r->bins);
}

/* Allocates a numeric reference for m non-missing values and fills it from sorted s. */
static kstatus ref_from_sorted(const double *s, size_t m, size_t missing, int n_quantiles,
                               drift_ref **out, kerr *e)
{
    int exact = m <= (size_t)n_quantiles;
    drift_ref *r = ref_alloc(DRIFT_NUMERIC, exact ? (int)m : n_quantiles, DRIFT_BINS);
    if (!r) return kerr_set(e, K_NOMEM, "drift: out of memory");
    r->exact = exact;
    r->count = (int64_t)m;
    r->missing = (int64_t)missing;
    ref_fill_numeric(r, s, m);
    if (!isfinite(r->mean) || !isfinite(r->std)) {
        drift_ref_free(r);
        return kerr_set(e, K_RANGE, "drift: values too large for mean and std");
    }
    *out = r;
    return K_OK;
}

static kstatus check_quantiles(int *n_quantiles, kerr *e)
{
    if (*n_quantiles == 0) *n_quantiles = DRIFT_DEFAULT_QUANTILES;
    if (*n_quantiles < 2 || *n_quantiles > DRIFT_MAX_QUANTILES)
        return kerr_set(e, K_INVALID, "drift: n_quantiles must be 2..%d", DRIFT_MAX_QUANTILES);
    return K_OK;
}

kstatus drift_ref_build(const double *x, size_t n, int n_quantiles, drift_ref **out, kerr *e)
{
    *out = NULL;
    kstatus st = check_quantiles(&n_quantiles, e);
    if (st) return st;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (isinf(x[i])) return kerr_set(e, K_RANGE, "drift: infinite value at row %zu", i);
        m += !isnan(x[i]);
    }
    if (m == 0) return kerr_set(e, K_INVALID, "drift: reference has no non-missing value");
    double *s = malloc(m * sizeof *s);
    if (!s) return kerr_set(e, K_NOMEM, "drift: out of memory");
    copy_sorted(x, n, s);
    st = ref_from_sorted(s, m, n - m, n_quantiles, out, e);
    free(s);
    return st;
}

kstatus drift_ref_build_sorted(const double *s, size_t m, size_t missing, int n_quantiles,
                               drift_ref **out, kerr *e)
{
    *out = NULL;
    kstatus st = check_quantiles(&n_quantiles, e);
    if (st) return st;
    if (m == 0) return kerr_set(e, K_INVALID, "drift: reference has no non-missing value");
    if (isinf(s[0]) || isinf(s[m - 1]))
        return kerr_set(e, K_RANGE, "drift: infinite value in the reference");
    return ref_from_sorted(s, m, missing, n_quantiles, out, e);
}

kstatus drift_ref_build_categorical(const double *x, size_t n, int n_categories, drift_ref **out,
                                    kerr *e)
{
    *out = NULL;
    if (n_categories < 1 || n_categories > DRIFT_MAX_CATEGORIES)
        return kerr_set(e, K_INVALID, "drift: n_categories must be 1..%d", DRIFT_MAX_CATEGORIES);
    drift_ref *r = ref_alloc(DRIFT_CATEGORICAL, 0, n_categories + 1);
    if (!r) return kerr_set(e, K_NOMEM, "drift: out of memory");
    for (size_t i = 0; i < n; i++) {
        if (isnan(x[i])) {
            r->missing++;
        } else {
            r->bins[category_of(n_categories, x[i])]++;
            r->count++;
        }
    }
    if (r->count == 0) {
        drift_ref_free(r);
        return kerr_set(e, K_INVALID, "drift: reference has no non-missing value");
    }
    *out = r;
    return K_OK;
}

void drift_ref_get_info(const drift_ref *r, drift_ref_info *info)
{
    *info = (drift_ref_info){.kind = r->kind,
                             .count = r->count,
                             .missing = r->missing,
                             .mean = r->mean,
                             .std = r->std,
                             .min = r->min,
                             .max = r->max,
                             .n_quantiles = r->nq,
                             .exact = r->exact,
                             .n_categories = r->kind == DRIFT_CATEGORICAL ? r->nbins - 1 : 0};
}

int drift_ref_bins(const drift_ref *r, const int64_t **counts)
{
    *counts = r->bins;
    return r->nbins;
}

const double *drift_ref_edges(const drift_ref *r)
{
    return r->kind == DRIFT_NUMERIC ? r->edges : NULL;
}

/* ---- exact two-sample statistics on sorted arrays ---------------------------------------- */

/* One merge of the two sorted samples gives both exact statistics: *ks = max |F_a - F_b| over
 * all values (ks_2samp's statistic, computed the way scipy does, i/na - j/nb in doubles, so the
 * result is bit-identical) and *w = the integral of |F_a - F_b| (scipy.stats.
 * wasserstein_distance), from the same |F_a - F_b| at each distinct value. */
static void exact_sorted(const double *a, size_t na, const double *b, size_t nb, double *ks,
                         double *w)
{
    size_t i = 0, j = 0;
    double d = 0, v = (nb == 0 || (na && a[0] <= b[0])) ? a[0] : b[0];
    ksum s = {0, 0};
    for (;;) {
        /* Which sample holds v is a coin toss: step past it without a branch, then past ties. */
        i += i < na && a[i] <= v;
        j += j < nb && b[j] <= v;
        while (i < na && a[i] <= v)
            i++;
        while (j < nb && b[j] <= v)
            j++;
        double diff = fabs((double)i / (double)na - (double)j / (double)nb);
        d = diff > d ? diff : d;
        if (i >= na && j >= nb) break;
        double x = i < na ? a[i] : b[j], y = j < nb ? b[j] : a[i];
        double next = x <= y ? x : y; /* the smaller head; a[i] on a tie */
        ksum_add(&s, diff * (next - v));
        v = next;
    }
    *ks = d;
    *w = ksum_value(&s);
}

static double ks_sorted(const double *a, size_t na, const double *b, size_t nb)
{
    double ks, w;
    exact_sorted(a, na, b, nb, &ks, &w);
    return ks;
}

static double wasserstein_sorted(const double *a, size_t na, const double *b, size_t nb)
{
    double ks, w;
    exact_sorted(a, na, b, nb, &ks, &w);
    return w;
}

/* Runs f on sorted, NaN-free copies of a and b. */
static double exact_pair(const double *a, size_t na, const double *b, size_t nb,
                         double (*f)(const double *, size_t, const double *, size_t))
{
    double *sa = malloc((na + 1) * sizeof *sa), *sb = malloc((nb + 1) * sizeof *sb);
    double r = NAN;
    if (sa && sb) {
        size_t ma = copy_sorted(a, na, sa), mb = copy_sorted(b, nb, sb);
        if (ma && mb) r = f(sa, ma, sb, mb);
    }
    free(sa);
    free(sb);
    return r;
}

double drift_exact_ks(const double *a, size_t na, const double *b, size_t nb)
{
    return exact_pair(a, na, b, nb, ks_sorted);
}

double drift_exact_wasserstein(const double *a, size_t na, const double *b, size_t nb)
{
    return exact_pair(a, na, b, nb, wasserstein_sorted);
}

double drift_exact_ks_sorted(const double *a, size_t na, const double *b, size_t nb)
{
    return na && nb ? ks_sorted(a, na, b, nb) : NAN;
}

double drift_exact_wasserstein_sorted(const double *a, size_t na, const double *b, size_t nb)
{
    return na && nb ? wasserstein_sorted(a, na, b, nb) : NAN;
}

void drift_exact_both_sorted(const double *a, size_t na, const double *b, size_t nb, double *ks,
                             double *w)
{
    if (na && nb)
        exact_sorted(a, na, b, nb, ks, w);
    else
        *ks = *w = NAN;
}

/* x * ln(x / y), scipy.special.rel_entr. */
static double rel_entr(double x, double y)
{
    if (x > 0 && y > 0) return x * log(x / y);
    if (x == 0 && y >= 0) return 0;
    return INFINITY;
}

double drift_js_counts(const double *p, const double *q, size_t k)
{
    ksum sp = {0, 0}, sq = {0, 0}, left = {0, 0}, right = {0, 0};
    for (size_t i = 0; i < k; i++) {
        if (!(p[i] >= 0) || !(q[i] >= 0)) return NAN;
        ksum_add(&sp, p[i]);
        ksum_add(&sq, q[i]);
    }
    double tp = ksum_value(&sp), tq = ksum_value(&sq);
    if (!(tp > 0) || !(tq > 0)) return NAN;
    for (size_t i = 0; i < k; i++) {
        double pi = p[i] / tp, qi = q[i] / tq, mi = (pi + qi) / 2.0;
        ksum_add(&left, rel_entr(pi, mi));
        ksum_add(&right, rel_entr(qi, mi));
    }
    double js = (ksum_value(&left) + ksum_value(&right)) / log(2.0);
    return sqrt(fmax(js, 0) / 2.0);
}

/* ---- sketch statistics (reference = piecewise-linear quantile function) ------------------ */

/* F_ref(v) (right-continuous) and F_ref(v-) of the sketch. *hi and *lo are the side='right'
 * and side='left' positions of v in the quantiles, found by walking on from their values for the
 * previous (smaller) v: the caller takes the current values in ascending order. */
static void sketch_cdf(const drift_ref *r, double v, size_t *hi_at, size_t *lo_at, double *at,
                       double *before)
{
    const double *q = r->q;
    size_t nq = (size_t)r->nq, hi = *hi_at, lo = *lo_at;
    while (hi < nq && q[hi] <= v)
        hi++;
    while (lo < nq && q[lo] < v)
        lo++;
    *hi_at = hi, *lo_at = lo;
    double dp = 1.0 / (double)(nq - 1);
    if (hi == 0)
        *at = 0;
    else if (hi == nq)
        *at = 1;
    else /* q[hi-1] <= v < q[hi] */
        *at = ((double)(hi - 1) + (v - q[hi - 1]) / (q[hi] - q[hi - 1])) * dp;
    if (lo == hi) /* v is no quantile: the same formula on the same points */
        *before = *at;
    else if (lo == 0)
        *before = 0;
    else if (lo == nq)
        *before = 1;
    else /* q[lo-1] < v <= q[lo] */
        *before = ((double)(lo - 1) + (v - q[lo - 1]) / (q[lo] - q[lo - 1])) * dp;
}

/* sup |F_ref - F_cur|: with F_cur a step function and F_ref monotone, the supremum is reached
 * at a current value, from the left or at it. */
static double sketch_ks(const drift_ref *r, const double *s, size_t m)
{
    double d = 0;
    size_t i = 0, qhi = 0, qlo = 0;
    while (i < m) {
        double v = s[i], at, before;
        size_t lo = i;
        while (i < m && s[i] == v)
            i++;
        sketch_cdf(r, v, &qhi, &qlo, &at, &before);
        double d0 = fabs(before - (double)lo / (double)m), d1 = fabs(at - (double)i / (double)m);
        d = d0 > d ? d0 : d; /* fmax, but inline: nothing here is NaN */
        d = d1 > d ? d1 : d;
    }
    return d;
}

/* Integral over [0, L] of |d0 + (d1 - d0) t / L|. */
static double abs_linear_integral(double d0, double d1, double len)
{
    if ((d0 >= 0 && d1 >= 0) || (d0 <= 0 && d1 <= 0)) return len * fabs(d0 + d1) / 2;
    return len * (d0 * d0 + d1 * d1) / (2 * (fabs(d0) + fabs(d1)));
}

/* Integral over u in [0,1] of |Q_ref(u) - Q_cur(u)|, Q_ref piecewise linear through
 * (j/(nq-1), q[j]), Q_cur(u) = s[i] on (i/m, (i+1)/m]. Breakpoints are compared exactly as
 * integers: (j+1)/(nq-1) against (i+1)/m. */
static double sketch_wasserstein(const drift_ref *r, const double *s, size_t m)
{
    const double *q = r->q;
    uint64_t segs = (uint64_t)r->nq - 1, j = 0, i = 0;
    double u0 = 0, a = q[0];
    ksum sum = {0, 0};
    while (j < segs && i < m) {
        uint64_t lhs = (j + 1) * (uint64_t)m, rhs = (i + 1) * segs;
        double u1 = lhs <= rhs ? (double)(j + 1) / (double)segs : (double)(i + 1) / (double)m;
        double b =
            lhs <= rhs ? q[j + 1] : q[j] + (u1 * (double)segs - (double)j) * (q[j + 1] - q[j]);
        ksum_add(&sum, abs_linear_integral(a - s[i], b - s[i], u1 - u0));
        u0 = u1;
        a = b;
        if (lhs <= rhs) j++;
        if (rhs <= lhs) i++;
    }
    return ksum_value(&sum);
}

/* Asymptotic Kolmogorov survival function Q(lambda) = P(K > lambda) (scipy's kstwobign.sf). */
static double kolmogorov_sf(double lambda)
{
    if (!(lambda > 0)) return 1;
    if (lambda < 1.0) {
        /* P(K <= l) = sqrt(2 pi)/l * sum_k exp(-(2k-1)^2 pi^2 / (8 l^2)): fast for small l */
        double c = -M_PI * M_PI / (8 * lambda * lambda), cdf = 0;
        for (int k = 1; k <= 20; k++)
            cdf += exp(c * (2 * k - 1) * (2 * k - 1));
        return 1 - sqrt(2 * M_PI) / lambda * cdf;
    }
    double sf = 0, sign = 1;
    for (int k = 1; k <= 100; k++, sign = -sign) {
        double t = exp(-2.0 * k * k * lambda * lambda);
        sf += sign * t;
        if (t < 1e-300) break;
    }
    return fmin(1, fmax(0, 2 * sf));
}

/* ---- scoring ------------------------------------------------------------------------------ */

/* PSI and JS from reference counts and current counts over the same nbins bins. */
static void score_bins(const drift_ref *r, const int64_t *cur, int64_t m, drift_scores *out)
{
    double p[DRIFT_MAX_CATEGORIES + 1], c[DRIFT_MAX_CATEGORIES + 1];
    ksum psi = {0, 0};
    for (int k = 0; k < r->nbins; k++) {
        p[k] = (double)r->bins[k];
        c[k] = (double)cur[k];
        double rs = p[k] / (double)r->count, cs = c[k] / (double)m;
        if (rs == 0) rs = DRIFT_PSI_EPS;
        if (cs == 0) cs = DRIFT_PSI_EPS;
        ksum_add(&psi, (rs - cs) * log(rs / cs));
    }
    out->psi = ksum_value(&psi);
    out->js = drift_js_counts(p, c, (size_t)r->nbins);
}

/* Pearson chi-square of current counts against reference shares scaled to m; a category the
 * reference never saw but the current sample has makes it infinite (as scipy's chisquare). */
static double chi2_counts(const drift_ref *r, const int64_t *cur, int64_t m)
{
    ksum s = {0, 0};
    for (int k = 0; k < r->nbins; k++) {
        if (r->bins[k] == 0) {
            if (cur[k] > 0) return INFINITY;
            continue;
        }
        double expect = (double)r->bins[k] / (double)r->count * (double)m;
        double d = (double)cur[k] - expect;
        ksum_add(&s, d * d / expect);
    }
    return ksum_value(&s);
}

static void score_numeric(const drift_ref *r, const double *s, size_t m, drift_scores *out)
{
    int64_t cur[DRIFT_BINS] = {0};
    count_bins_sorted(r->edges, s, m, cur);
    score_bins(r, cur, (int64_t)m, out);
    double w;
    if (r->exact) {
        exact_sorted(r->q, (size_t)r->nq, s, m, &out->ks, &w);
    } else {
        out->ks = sketch_ks(r, s, m);
        w = sketch_wasserstein(r, s, m);
    }
    out->wasserstein = w / fmax(r->std, DRIFT_STD_FLOOR);
    double n1 = (double)r->count, n2 = (double)m, en = n1 * n2 / (n1 + n2);
    out->ks_pvalue = kolmogorov_sf(sqrt(en) * out->ks);
}

static void score_categorical(const drift_ref *r, const double *s, size_t m, drift_scores *out)
{
    int64_t cur[DRIFT_MAX_CATEGORIES + 1] = {0};
    for (size_t i = 0; i < m; i++)
        cur[category_of(r->nbins - 1, s[i])]++;
    score_bins(r, cur, (int64_t)m, out);
    out->chi2 = chi2_counts(r, cur, (int64_t)m);
}

/* s[0..m): the sorted non-missing current values. */
static void score_sorted(const drift_ref *r, const double *s, size_t m, size_t missing,
                         drift_scores *out)
{
    *out = (drift_scores){.psi = NAN,
                          .js = NAN,
                          .wasserstein = NAN,
                          .ks = NAN,
                          .ks_pvalue = NAN,
                          .chi2 = NAN,
                          .count = (int64_t)m,
                          .missing = (int64_t)missing};
    if (m == 0) return;
    if (r->kind == DRIFT_NUMERIC)
        score_numeric(r, s, m, out);
    else
        score_categorical(r, s, m, out);
}

kstatus drift_score(const drift_ref *ref, const double *cur, size_t n, drift_scores *out)
{
    double *s = malloc((n + 1) * sizeof *s);
    if (!s) {
        score_sorted(ref, NULL, 0, n, out);
        return K_NOMEM;
    }
    size_t m = copy_sorted(cur, n, s);
    score_sorted(ref, s, m, n - m, out);
    free(s);
    return K_OK;
}

void drift_score_sorted(const drift_ref *ref, const double *s, size_t m, size_t missing,
                        drift_scores *out)
{
    score_sorted(ref, s, m, missing, out);
}

/* ---- verdict ------------------------------------------------------------------------------ */

void drift_thresholds_default(drift_thresholds *t)
{
    *t = (drift_thresholds){.psi_moderate = 0.1,
                            .psi_significant = 0.25,
                            .js = 0.1,
                            .wasserstein = 0.1,
                            .ks_pvalue = 0,
                            .chi2 = 0};
}

/* score >= threshold, with disabled thresholds and NaN scores never flagging. */
static int crosses(double score, double threshold)
{
    return threshold > 0 && score >= threshold;
}

drift_level drift_verdict(const drift_scores *s, const drift_thresholds *t)
{
    if (crosses(s->psi, t->psi_significant) || crosses(s->js, t->js) ||
        crosses(s->wasserstein, t->wasserstein) || crosses(s->chi2, t->chi2) ||
        (t->ks_pvalue > 0 && s->ks_pvalue < t->ks_pvalue))
        return DRIFT_SIGNIFICANT;
    if (crosses(s->psi, t->psi_moderate)) return DRIFT_MODERATE;
    return DRIFT_NONE;
}

const char *drift_level_str(drift_level l)
{
    static const char *const names[] = {"none", "moderate", "significant"};
    return (unsigned)l < 3 ? names[l] : "unknown";
}

/* ---- sliding window ----------------------------------------------------------------------- */

kstatus drift_window_new(size_t capacity, drift_window **out, kerr *e)
{
    *out = NULL;
    if (capacity < 1 || capacity > DRIFT_MAX_WINDOW)
        return kerr_set(e, K_INVALID, "drift: window capacity must be 1..%u", DRIFT_MAX_WINDOW);
    drift_window *w = calloc(1, sizeof *w);
    if (w) {
        w->vals = malloc(capacity * sizeof *w->vals);
        w->scratch = malloc(capacity * sizeof *w->scratch);
    }
    if (!w || !w->vals || !w->scratch) {
        drift_window_free(w);
        return kerr_set(e, K_NOMEM, "drift: out of memory");
    }
    w->cap = capacity;
    *out = w;
    return K_OK;
}

void drift_window_free(drift_window *w)
{
    if (!w) return;
    free(w->vals);
    free(w->scratch);
    free(w);
}

void drift_window_push(drift_window *w, double v)
{
    w->vals[w->head] = v;
    w->head = w->head + 1 == w->cap ? 0 : w->head + 1;
    if (w->len < w->cap) w->len++;
}

size_t drift_window_len(const drift_window *w)
{
    return w->len;
}

void drift_window_clear(drift_window *w)
{
    w->len = w->head = 0;
}

kstatus drift_window_score(drift_window *w, const drift_ref *ref, drift_scores *out)
{
    /* Order does not matter to any statistic, so the live part of the ring (the first len
     * slots until it wraps, all of it after) is scored as it lies. */
    size_t m = copy_sorted(w->vals, w->len, w->scratch);
    score_sorted(ref, w->scratch, m, w->len - m, out);
    return K_OK;
}

/* ---- JSON --------------------------------------------------------------------------------- */

static json_object *doubles_json(const double *v, size_t n)
{
    json_object *a = json_object_new_array_ext((int)n);
    for (size_t i = 0; a && i < n; i++)
        json_object_array_add(a, json_object_new_double(v[i]));
    return a;
}

static json_object *counts_json(const int64_t *v, size_t n)
{
    json_object *a = json_object_new_array_ext((int)n);
    for (size_t i = 0; a && i < n; i++)
        json_object_array_add(a, json_object_new_int64(v[i]));
    return a;
}

json_object *drift_ref_to_json(const drift_ref *r)
{
    json_object *o = json_object_new_object();
    if (!o) return NULL;
    int num = r->kind == DRIFT_NUMERIC;
    json_object_object_add(o, "kind", json_object_new_string(num ? "numeric" : "categorical"));
    json_object_object_add(o, "count", json_object_new_int64(r->count));
    json_object_object_add(o, "missing", json_object_new_int64(r->missing));
    if (num) {
        json_object_object_add(o, "mean", json_object_new_double(r->mean));
        json_object_object_add(o, "std", json_object_new_double(r->std));
        json_object_object_add(o, "min", json_object_new_double(r->min));
        json_object_object_add(o, "max", json_object_new_double(r->max));
        json_object_object_add(o, "sketch",
                               json_object_new_string(r->exact ? "sample" : "quantiles"));
        json_object_object_add(o, "quantiles", doubles_json(r->q, (size_t)r->nq));
        json_object_object_add(o, "edges", doubles_json(r->edges, DRIFT_BINS + 1));
    }
    json_object_object_add(o, "counts", counts_json(r->bins, (size_t)r->nbins));
    return o;
}

char *drift_ref_to_text(const drift_ref *r)
{
    json_object *o = drift_ref_to_json(r);
    if (!o) return NULL;
    const char *t = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char *copy = t ? strdup(t) : NULL;
    json_object_put(o);
    return copy;
}

/* Member `key` of o with JSON type `type`, or NULL after setting e. */
static json_object *member(const json_object *o, const char *key, json_type type, kerr *e)
{
    json_object *v = NULL;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type)) {
        kerr_set(e, K_FORMAT, "drift reference: \"%s\" missing or of the wrong type", key);
        return NULL;
    }
    return v;
}

static kstatus get_count(const json_object *o, const char *key, int64_t *out, kerr *e)
{
    json_object *v = member(o, key, json_type_int, e);
    if (!v) return K_FORMAT;
    *out = json_object_get_int64(v);
    if (*out < 0 || *out > MAX_JSON_COUNT)
        return kerr_set(e, K_FORMAT, "drift reference: \"%s\" out of range", key);
    return K_OK;
}

/* A finite JSON number (integers accepted). */
static kstatus get_number(const json_object *v, const char *key, double *out, kerr *e)
{
    if (!v || !(json_object_is_type(v, json_type_double) || json_object_is_type(v, json_type_int)))
        return kerr_set(e, K_FORMAT, "drift reference: \"%s\" is not a number", key);
    *out = json_object_get_double(v);
    if (!isfinite(*out)) return kerr_set(e, K_FORMAT, "drift reference: \"%s\" not finite", key);
    return K_OK;
}

static kstatus get_member_number(const json_object *o, const char *key, double *out, kerr *e)
{
    json_object *v = NULL;
    json_object_object_get_ex(o, key, &v);
    return get_number(v, key, out, e);
}

/* Array member `key` of length lo..hi into *a, its length in *n. */
static kstatus get_array(const json_object *o, const char *key, size_t lo, size_t hi,
                         json_object **a, size_t *n, kerr *e)
{
    *a = member(o, key, json_type_array, e);
    if (!*a) return K_FORMAT;
    *n = json_object_array_length(*a);
    if (*n < lo || *n > hi)
        return kerr_set(e, K_LIMIT, "drift reference: \"%s\" has %zu entries, want %zu..%zu", key,
                        *n, lo, hi);
    return K_OK;
}

/* Fills v[0..n) from a JSON array of finite, non-decreasing numbers. */
static kstatus read_monotone(json_object *a, const char *key, double *v, size_t n, kerr *e)
{
    for (size_t i = 0; i < n; i++) {
        kstatus st = get_number(json_object_array_get_idx(a, i), key, &v[i], e);
        if (st) return st;
        if (i && v[i] < v[i - 1])
            return kerr_set(e, K_FORMAT, "drift reference: \"%s\" decreases at %zu", key, i);
    }
    return K_OK;
}

/* Fills the bin counts from "counts" and checks they sum to count. */
static kstatus read_counts(const json_object *o, drift_ref *r, kerr *e)
{
    size_t n;
    json_object *a;
    kstatus st = get_array(o, "counts", (size_t)r->nbins, (size_t)r->nbins, &a, &n, e);
    if (st) return st;
    int64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *v = json_object_array_get_idx(a, i);
        int64_t c = json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : -1;
        if (c < 0 || c > r->count || (sum += c) > r->count)
            return kerr_set(e, K_FORMAT, "drift reference: bad count at %zu", i);
        r->bins[i] = c;
    }
    if (sum != r->count)
        return kerr_set(e, K_FORMAT, "drift reference: counts do not sum to count");
    return K_OK;
}

static kstatus read_moments(const json_object *o, drift_ref *r, kerr *e)
{
    kstatus st;
    if ((st = get_member_number(o, "mean", &r->mean, e)) ||
        (st = get_member_number(o, "std", &r->std, e)) ||
        (st = get_member_number(o, "min", &r->min, e)) ||
        (st = get_member_number(o, "max", &r->max, e)))
        return st;
    if (r->std < 0 || r->min > r->max)
        return kerr_set(e, K_FORMAT, "drift reference: inconsistent std/min/max");
    return K_OK;
}

/* The numeric members, checked against each other; r->q has r->nq slots. */
static kstatus read_numeric(const json_object *o, json_object *q, drift_ref *r, kerr *e)
{
    kstatus st = read_moments(o, r, e);
    if (st) return st;
    size_t ne;
    json_object *edges;
    if ((st = get_array(o, "edges", DRIFT_BINS + 1, DRIFT_BINS + 1, &edges, &ne, e)) ||
        (st = read_monotone(edges, "edges", r->edges, ne, e)) ||
        (st = read_monotone(q, "quantiles", r->q, (size_t)r->nq, e)))
        return st;
    if (r->edges[0] != r->min || r->edges[DRIFT_BINS] != r->max || r->q[0] != r->min ||
        r->q[r->nq - 1] != r->max)
        return kerr_set(e, K_FORMAT, "drift reference: edges and quantiles must span min..max");
    return read_counts(o, r, e);
}

/* Allocates the numeric reference sized by "quantiles" and reads it. */
static kstatus from_json_numeric(const json_object *o, int64_t count, drift_ref **out, kerr *e)
{
    json_object *sk = member(o, "sketch", json_type_string, e);
    if (!sk) return K_FORMAT;
    int exact = strcmp(json_object_get_string(sk), "sample") == 0;
    if (!exact && strcmp(json_object_get_string(sk), "quantiles") != 0)
        return kerr_set(e, K_FORMAT, "drift reference: unknown sketch");
    size_t nq;
    json_object *q;
    kstatus st = get_array(o, "quantiles", exact ? 1 : 2, DRIFT_MAX_QUANTILES, &q, &nq, e);
    if (st) return st;
    if (exact && (int64_t)nq != count)
        return kerr_set(e, K_FORMAT, "drift reference: sample sketch must hold count values");
    drift_ref *r = ref_alloc(DRIFT_NUMERIC, (int)nq, DRIFT_BINS);
    if (!r) return kerr_set(e, K_NOMEM, "drift: out of memory");
    r->exact = exact;
    r->count = count;
    st = read_numeric(o, q, r, e);
    if (st) {
        drift_ref_free(r);
        return st;
    }
    *out = r;
    return K_OK;
}

static kstatus from_json_categorical(const json_object *o, int64_t count, drift_ref **out, kerr *e)
{
    size_t n;
    json_object *a;
    kstatus st = get_array(o, "counts", 2, DRIFT_MAX_CATEGORIES + 1, &a, &n, e);
    if (st) return st;
    drift_ref *r = ref_alloc(DRIFT_CATEGORICAL, 0, (int)n);
    if (!r) return kerr_set(e, K_NOMEM, "drift: out of memory");
    r->count = count;
    st = read_counts(o, r, e);
    if (st) {
        drift_ref_free(r);
        return st;
    }
    *out = r;
    return K_OK;
}

kstatus drift_ref_from_json(const json_object *o, drift_ref **out, kerr *e)
{
    *out = NULL;
    if (!json_object_is_type(o, json_type_object))
        return kerr_set(e, K_FORMAT, "drift reference: not a JSON object");
    json_object *kind = member(o, "kind", json_type_string, e);
    int64_t count, missing;
    kstatus st;
    if (!kind) return K_FORMAT;
    if ((st = get_count(o, "count", &count, e)) || (st = get_count(o, "missing", &missing, e)))
        return st;
    if (count < 1) return kerr_set(e, K_FORMAT, "drift reference: count must be positive");
    const char *k = json_object_get_string(kind);
    if (strcmp(k, "numeric") == 0)
        st = from_json_numeric(o, count, out, e);
    else if (strcmp(k, "categorical") == 0)
        st = from_json_categorical(o, count, out, e);
    else
        return kerr_set(e, K_FORMAT, "drift reference: unknown kind");
    if (!st) (*out)->missing = missing;
    return st;
}

kstatus drift_ref_from_text(const char *text, size_t len, drift_ref **out, kerr *e)
{
    *out = NULL;
    if (len > DRIFT_MAX_JSON) return kerr_set(e, K_LIMIT, "drift reference: JSON too large");
    json_tokener *tok = json_tokener_new_ex(MAX_JSON_DEPTH);
    if (!tok) return kerr_set(e, K_NOMEM, "drift: out of memory");
    json_object *o = json_tokener_parse_ex(tok, text, (int)len);
    size_t end = o ? json_tokener_get_parse_end(tok) : 0;
    while (end < len && strchr(" \t\r\n", text[end]) && text[end])
        end++;
    int ok = o && json_tokener_get_error(tok) == json_tokener_success && end == len;
    json_tokener_free(tok);
    kstatus st = ok ? drift_ref_from_json(o, out, e)
                    : kerr_set(e, K_FORMAT, "drift reference: not valid JSON");
    json_object_put(o);
    return st;
}
