/* num.c — correctly rounded decimal parsing with a fast path, and round-trip printing. */
#include "base/num.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

#if defined(__x86_64__) && LDBL_MANT_DIG == 64
/* Second exact path for mantissas up to 19 digits: the product or quotient is computed once in
 * x87 extended precision (64-bit significand; 10^k is exact there for k <= 27), then rounded
 * to double. Rounding twice is wrong only when the extended result sits within one of its
 * units of a halfway point between doubles; those rare cases go to strtod. */
static const long double pow10_ext[] = {1e0L,  1e1L,  1e2L,  1e3L,  1e4L,  1e5L,  1e6L,
                                        1e7L,  1e8L,  1e9L,  1e10L, 1e11L, 1e12L, 1e13L,
                                        1e14L, 1e15L, 1e16L, 1e17L, 1e18L, 1e19L, 1e20L,
                                        1e21L, 1e22L, 1e23L, 1e24L, 1e25L, 1e26L, 1e27L};

static int scale_ext(uint64_t mant, int exp, double *out)
{
    if (exp < -27 || exp > 27) return 0;
    long double v = (long double)mant;
    v = exp < 0 ? v / pow10_ext[-exp] : v * pow10_ext[exp];
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits); /* the 64-bit significand comes first on x86 */
    uint64_t low = bits & 0x7ff;    /* the 11 bits a double drops */
    if (low >= 0x3ff && low <= 0x401) return 0;
    *out = (double)v;
    return 1;
}
#else
static int scale_ext(uint64_t mant, int exp, double *out)
{
    (void)mant, (void)exp, (void)out;
    return 0;
}
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static const uint64_t pow10_int[] = {1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000};

/* How many of the 8 characters in w (the first in the low byte) are digits before the first
 * non-digit; *a gets their values (w ^ '0' in each byte). */
static int lead_digits(uint64_t w, uint64_t *a)
{
    const uint64_t high = 0x8080808080808080u;
    *a = w ^ 0x3030303030303030u; /* a digit's byte becomes 0..9, anything else another value */
    uint64_t bad = (*a | ((*a & 0x7f7f7f7f7f7f7f7fu) + 0x7676767676767676u)) & high;
    return bad ? __builtin_ctzll(bad) >> 3 : 8;
}

/* The number the 8 digit values in a spell, the first (low byte) most significant. */
static uint64_t eight_digits(uint64_t a)
{
    a = a * 10 + (a >> 8); /* pairs */
    a = (((a & 0x000000ff000000ffu) * (100 + (1000000ull << 32))) +
         (((a >> 16) & 0x000000ff000000ffu) * (1 + (10000ull << 32)))) >>
        32;
    return (uint32_t)a;
}

/* Appends the digits at p to *mant, 8 at a time with no branch per digit; *n counts them (the
 * leading zeros too). Returns where they end. *mant wraps when *n passes 19: the caller checks. */
static const char *digit_run(const char *p, const char *end, uint64_t *mant, int *n)
{
    while (end - p >= 8) {
        uint64_t w, a;
        memcpy(&w, p, sizeof w);
        int k = lead_digits(w, &a);
        if (k) *mant = *mant * pow10_int[k] + eight_digits(a << (8 * (8 - k)));
        p += k, *n += k;
        if (k < 8) return p;
    }
    for (; p < end && (unsigned)(*p - '0') < 10; p++, (*n)++)
        *mant = *mant * 10 + (uint64_t)(*p - '0');
    return p;
}
#endif

/* The digits [int][.frac] at p: *mant their value, *digits the significant ones (from the first
 * non-zero one), *frac those after the point, *any whether there was one. Returns where they
 * end. */
static const char *scan_mantissa(const char *p, const char *end, uint64_t *mant, int *digits,
                                 int *frac, int *any)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    int n_int = 0, n_frac = 0;
    uint64_t m = 0;
    const char *q = digit_run(p, end, &m, &n_int);
    if (q < end && *q == '.') q = digit_run(q + 1, end, &m, &n_frac);
    if (n_int + n_frac <= 19) { /* no wrap, and at most 19 significant digits */
        *mant = m, *frac = n_frac, *any = n_int + n_frac > 0;
        *digits = n_int + n_frac; /* no fewer than the significant ones */
        return q;
    }
#endif
    uint64_t v = 0; /* long runs of digits: count the significant ones one by one */
    int d = 0, f = 0, seen = 0;
    for (; p < end && (unsigned)(*p - '0') < 10; p++, seen = 1)
        if (v || *p != '0') v = v * 10 + (uint64_t)(*p - '0'), d++;
    if (p < end && *p == '.') {
        for (p++; p < end && (unsigned)(*p - '0') < 10; p++, seen = 1, f++)
            if (v || *p != '0') v = v * 10 + (uint64_t)(*p - '0'), d++;
    }
    *mant = v, *digits = d, *frac = f, *any = seen;
    return p;
}

const char *num_scan_double(const char *p, const char *end, double *out)
{
    int neg = 0;
    if (p < end && (*p == '-' || *p == '+')) neg = *p++ == '-';
    uint64_t mant;
    int digits, frac, any;
    p = scan_mantissa(p, end, &mant, &digits, &frac, &any);
    if (!any || digits > 19) return NULL;
    int exp = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0, edigits = 0;
        p++;
        if (p < end && (*p == '-' || *p == '+')) eneg = *p++ == '-';
        for (; p < end && (unsigned)(*p - '0') < 10 && edigits < 6; p++, edigits++)
            exp = exp * 10 + (*p - '0');
        if (!edigits) return NULL;
        if (eneg) exp = -exp;
    }
    exp -= frac;
    if (mant > (1ull << 53) || exp < -22 || exp > 22) {
        if (!scale_ext(mant, exp, out)) return NULL;
        if (neg) *out = -*out;
        return p;
    }
    double v = (double)mant;
    v = exp < 0 ? v / pow10_exact[-exp] : v * pow10_exact[exp];
    *out = neg ? -v : v;
    return p;
}

/* Fast exact path on the whole of [p, end). Returns 1 when it produced the correctly rounded
 * result, 0 when the caller must fall back to strtod. */
static int parse_fast(const char *p, const char *end, double *out)
{
    double v;
    if (num_scan_double(p, end, &v) != end) return 0;
    *out = v;
    return 1;
}

static int parse_slow(const char *p, size_t len, double *out)
{
    char tmp[128];
    if (len >= sizeof tmp) return 0;
    memcpy(tmp, p, len);
    tmp[len] = 0;
    char *endp;
    double v = strtod(tmp, &endp);
    if (endp != tmp + len) return 0;
    /* strtod also takes hex floats and "infinity"/"nan(...)": accept only the plain forms */
    for (size_t i = 0; i < len; i++)
        if (tmp[i] == 'x' || tmp[i] == 'X' || tmp[i] == '(') return 0;
    *out = v;
    return 1;
}

int num_parse_double(const char *p, size_t len, double *out)
{
    const char *end = p + len;
    while (p < end && is_space(*p))
        p++;
    while (end > p && is_space(end[-1]))
        end--;
    if (p == end) return 0;
    if (parse_fast(p, end, out)) return 1;
    size_t n = (size_t)(end - p);
    if ((n == 3 && strncasecmp(p, "nan", 3) == 0)) {
        *out = NAN;
        return 1;
    }
    return parse_slow(p, n, out);
}

int num_format_double(double v, char out[32])
{
    if (isnan(v)) return (int)(memcpy(out, "nan", 4), 3);
    if (isinf(v)) return v > 0 ? (int)(memcpy(out, "inf", 4), 3) : (int)(memcpy(out, "-inf", 5), 4);
    /* 17 significant digits always round-trip; one snprintf keeps output fast. */
    return snprintf(out, 32, "%.17g", v);
}

/* Writes the significant digits d[0..p) (no leading zero) with decimal exponent `exp` (value =
 * d.ddd × 10^exp) the way %g does: fixed notation for -4 <= exp < p, else d.ddde±XX; trailing
 * zeros dropped. Returns the length. */
static int compose(char *out, int neg, const char *d, int p, int exp)
{
    while (p > 1 && d[p - 1] == '0')
        p--;
    int n = 0;
    if (neg) out[n++] = '-';
    if (exp < -4 || exp >= 17) {
        out[n++] = d[0];
        if (p > 1) out[n++] = '.';
        for (int i = 1; i < p; i++)
            out[n++] = d[i];
        n += snprintf(out + n, 8, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
        return n;
    }
    if (exp < 0) {
        out[n++] = '0';
        out[n++] = '.';
        for (int i = -1; i > exp; i--)
            out[n++] = '0';
        for (int i = 0; i < p; i++)
            out[n++] = d[i];
    } else {
        for (int i = 0; i <= exp; i++)
            out[n++] = i < p ? d[i] : '0';
        if (p > exp + 1) out[n++] = '.';
        for (int i = exp + 1; i < p; i++)
            out[n++] = d[i];
    }
    out[n] = 0;
    return n;
}

/* Rounds the 17 digits d to p digits (half up) into r; returns the exponent carry (0 or 1). */
static int round_digits(const char *d, int p, char *r)
{
    memcpy(r, d, (size_t)p);
    if (d[p] < '5') return 0;
    for (int i = p - 1; i >= 0; i--) {
        if (r[i] != '9') {
            r[i]++;
            return 0;
        }
        r[i] = '0';
    }
    r[0] = '1'; /* 99…9 rounded up to 100…0: one more power of ten */
    return 1;
}

/* One %.16e conversion gives 17 significant digits; shorter candidates are made by rounding
 * that digit string and kept when they parse back (num_parse_double) to the same double. */
int num_format_shortest(double v, char out[32])
{
    if (isnan(v) || isinf(v)) return num_format_double(v, out);
    if (v == 0) return snprintf(out, 32, "%s", signbit(v) ? "-0" : "0");
    char e[40], d[18], r[18];
    snprintf(e, sizeof e, "%.16e", v);
    int neg = e[0] == '-';
    const char *p = e + neg;
    d[0] = p[0];
    memcpy(d + 1, p + 2, 16);
    d[17] = 0;
    int exp = (int)strtol(p + 19, NULL, 10);
    for (int digits = 15; digits < 17; digits++) {
        int carry = round_digits(d, digits, r);
        double back;
        int n = compose(out, neg, r, digits, exp + carry);
        if (num_parse_double(out, (size_t)n, &back) && back == v) return n;
    }
    return compose(out, neg, d, 17, exp);
}
