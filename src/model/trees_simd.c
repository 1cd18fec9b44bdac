/* trees_simd.c — AVX-512 kernels for compiled tree ensembles, picked at run time
 * (__builtin_cpu_supports) and compiled with per-function target attributes, so the rest of
 * the binary stays baseline x86-64 and other CPUs never execute these instructions.
 *
 * The perfect-layout kernel for float32 ensembles scores 16 rows at once, one row per 32-bit
 * lane. The block's inputs are rounded to float32 once (exactly the rounding the spec applies
 * before comparing) and expanded (trees_plan.h: NaN resolved per split direction) into a
 * slot-major tile, xt[slot * 16 + lane], so one slot of all 16 rows is one aligned vector.
 * Trees are then walked level by level, G trees interleaved (a gather takes tens of cycles:
 * one walk alone would leave the core idle):
 *   - a level's thresholds and slots come from a permute of one or two registers holding the
 *     whole level (levels of at most 32 nodes), or from a gather below that;
 *   - a row's value: on the first BLEND_LEVELS levels, where a level has few nodes, each
 *     node's slot is loaded whole for all 16 rows and the lanes pick theirs with blends driven
 *     by the decisions already taken (they are the bits of the node's index); deeper, a
 *     gather.
 * Each split is one float32 comparison; leaves are added in tree order in the spec's
 * accumulation precision, exactly as the scalar kernels in trees.c do. */
#include "model/trees_simd.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX512_KERNELS 1
#endif

#ifdef HAVE_AVX512_KERNELS

#define AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl")))
#define INLINE static inline __attribute__((always_inline))

enum {
    XT_FLOATS = 4096, /* the 16-row tile on the stack, 16 KiB: 256 slots; wider on the heap */
    MAX_OUT = 16,     /* accumulators per block */
    G = 4,            /* trees walked together (3 to 6 measure alike on Zen 5) */
    BLEND_LEVELS = 4, /* levels whose row values come from whole slots (2 to 5 alike) */
};

/* Writes the expanded rows (trees_plan.h) of 16 rows, rounded to float32, as a slot-major
 * tile: xt[slot * 16 + lane]. */
AVX512 static void load_tile(const trees_compiled *c, const double *x, size_t stride, float *xt)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY), pinf = _mm512_set1_ps(INFINITY);
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512i rows =
        _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                           _mm512_set1_epi32((int)stride));
    for (int32_t u = 0; u < c->n_used; u++) {
        const double *col = x + c->used[u];
        __m512d lo = _mm512_i32gather_pd(_mm512_castsi512_si256(rows), col, 8);
        __m512d hi = _mm512_i32gather_pd(_mm512_extracti64x4_epi64(rows, 1), col, 8);
        __m512 v =
            _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
        __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        float *o = xt + ((size_t)u << c->xshift) * TREES__LANES;
        _mm512_store_ps(o, _mm512_mask_blend_ps(nan, v, ninf));
        _mm512_store_ps(o + TREES__LANES, _mm512_mask_blend_ps(nan, v, pinf));
        if (c->xshift == 2) {
            _mm512_store_ps(o + 2 * TREES__LANES, _mm512_maskz_mov_ps(nan, one));
            _mm512_store_ps(o + 3 * TREES__LANES, _mm512_setzero_ps());
        }
    }
}

/* One level of one tree for 16 lanes: idx is the lanes' node (level order, 0-based, within
 * the tree); right[] keeps the decisions of the blend levels. */
AVX512 INLINE void step(const float *xt, const uint32_t *ft, const float *th, const int level,
                        __m512i *idx, __mmask16 *right)
{
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    int first = (1 << level) - 1;
    __m512i loc = _mm512_sub_epi32(*idx, _mm512_set1_epi32(first));
    __m512i fw = _mm512_setzero_si512();
    __m512 tv, xv;
    if (level <= 4) {
        if (level >= BLEND_LEVELS)
            fw = _mm512_permutexvar_epi32(loc, _mm512_loadu_si512(ft + first));
        tv = _mm512_permutexvar_ps(loc, _mm512_loadu_ps(th + first));
    } else if (level == 5) {
        if (level >= BLEND_LEVELS)
            fw = _mm512_permutex2var_epi32(_mm512_loadu_si512(ft + first), loc,
                                           _mm512_loadu_si512(ft + first + 16));
        tv = _mm512_permutex2var_ps(_mm512_loadu_ps(th + first), loc,
                                    _mm512_loadu_ps(th + first + 16));
    } else {
        fw = _mm512_i32gather_epi32(*idx, (const void *)ft, 4);
        tv = _mm512_i32gather_ps(*idx, th, 4);
    }
    if (level < BLEND_LEVELS) {
        __m512 v[1 << BLEND_LEVELS];
        for (int j = 0; j < (1 << level); j++)
            v[j] = _mm512_load_ps(xt + (size_t)ft[first + j] * TREES__LANES);
        /* bit b of loc is the decision taken at level - 1 - b */
        for (int b = 0; b < level; b++)
            for (int j = 0; j < (1 << (level - b - 1)); j++)
                v[j] = _mm512_mask_blend_ps(right[level - 1 - b], v[2 * j], v[2 * j + 1]);
        xv = v[0];
    } else {
        xv = _mm512_i32gather_ps(_mm512_add_epi32(_mm512_slli_epi32(fw, 4), iota), xt, 4);
    }
    __mmask16 left = _mm512_cmp_ps_mask(xv, tv, _CMP_LT_OQ);
    if (level < BLEND_LEVELS) right[level] = (__mmask16)~left;
    *idx = _mm512_add_epi32(_mm512_add_epi32(*idx, *idx), _mm512_set1_epi32(2));
    *idx = _mm512_mask_sub_epi32(*idx, left, *idx, _mm512_set1_epi32(1));
}

/* Walks trees tr[0..G) for the 16 rows of xt; returns each lane's leaf number per tree. */
AVX512 INLINE void walk_group(const trees_compiled *c, const int32_t *tr, const float *xt,
                              __m512i *leaf)
{
    const uint32_t *ft[G];
    const float *th[G];
    __m512i idx[G];
    __mmask16 right[G][BLEND_LEVELS];
    for (int g = 0; g < G; g++) {
        ft[g] = c->pword + (size_t)tr[g] * c->n_int;
        th[g] = c->pthr32 + (size_t)tr[g] * c->n_int;
        idx[g] = _mm512_setzero_si512();
    }
    int32_t d = c->depth;
    /* Levels 0-5 are spelled out so each is compiled for its node count. */
#define LEVEL(L)                                                                                   \
    do {                                                                                           \
        for (int g = 0; g < G; g++)                                                                \
            step(xt, ft[g], th[g], L, &idx[g], right[g]);                                          \
    } while (0)
    if (d > 0) LEVEL(0);
    if (d > 1) LEVEL(1);
    if (d > 2) LEVEL(2);
    if (d > 3) LEVEL(3);
    if (d > 4) LEVEL(4);
    if (d > 5) LEVEL(5);
    for (int level = 6; level < d; level++)
        LEVEL(6); /* from level 6 on, every level gathers */
#undef LEVEL
    for (int g = 0; g < G; g++)
        leaf[g] = _mm512_sub_epi32(idx[g], _mm512_set1_epi32((int)c->n_int));
}

/* Float32 leaf values of tree t for leaf numbers `leaf`. */
AVX512 INLINE __m512 leaf_f32(const trees_compiled *c, int32_t t, __m512i leaf)
{
    const float *pl = c->pleaf32 + (size_t)t * c->n_leaf;
    switch (c->depth) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
        return _mm512_permutexvar_ps(leaf, _mm512_loadu_ps(pl));
    case 5:
        return _mm512_permutex2var_ps(_mm512_loadu_ps(pl), leaf, _mm512_loadu_ps(pl + 16));
    case 6: {
        __m512 lo = _mm512_permutex2var_ps(_mm512_loadu_ps(pl), leaf, _mm512_loadu_ps(pl + 16));
        __m512 hi =
            _mm512_permutex2var_ps(_mm512_loadu_ps(pl + 32), leaf, _mm512_loadu_ps(pl + 48));
        return _mm512_mask_blend_ps(_mm512_test_epi32_mask(leaf, _mm512_set1_epi32(32)), lo, hi);
    }
    default:
        return _mm512_i32gather_ps(leaf, pl, 4);
    }
}

/* The trees of one group: G consecutive trees, or the last few padded with repeats of the
 * last tree (walked, not added). Returns how many are real. */
static int group_trees(const trees_compiled *c, int32_t t, int32_t *tr)
{
    int m = c->n_trees - t < G ? (int)(c->n_trees - t) : G;
    for (int g = 0; g < G; g++)
        tr[g] = t + (g < m ? g : m - 1);
    return m;
}

/* Float32 accumulation, scalar leaves (XGBoost). */
AVX512 static void block_f32acc(const trees_compiled *c, const float *xt, double *sc)
{
    int32_t k = c->n_out;
    __m512 acc[MAX_OUT];
    for (int32_t o = 0; o < k; o++)
        acc[o] = c->mean ? _mm512_setzero_ps() : _mm512_set1_ps((float)c->base[o]);
    for (int32_t t = 0; t < c->n_trees; t += G) {
        int32_t tr[G];
        __m512i leaf[G];
        int m = group_trees(c, t, tr);
        walk_group(c, tr, xt, leaf);
        for (int g = 0; g < m; g++) {
            int32_t o = c->tree_out[t + g];
            acc[o] = _mm512_add_ps(acc[o], leaf_f32(c, t + g, leaf[g]));
        }
    }
    for (int32_t o = 0; o < k; o++) {
        double lane[TREES__LANES];
        _mm512_storeu_pd(lane, _mm512_cvtps_pd(_mm512_castps512_ps256(acc[o])));
        _mm512_storeu_pd(lane + 8, _mm512_cvtps_pd(_mm512_extractf32x8_ps(acc[o], 1)));
        for (int r = 0; r < TREES__LANES; r++) {
            double v = lane[r];
            if (c->mean) v = c->base[o] + (c->per_out[o] ? v / c->per_out[o] : v);
            sc[(size_t)r * (size_t)k + (size_t)o] = v;
        }
    }
}

/* Double accumulation, scalar leaves (scikit-learn gradient boosting). */
AVX512 static void block_f64acc(const trees_compiled *c, const float *xt, double *sc)
{
    int32_t k = c->n_out;
    __m512d lo[MAX_OUT], hi[MAX_OUT];
    for (int32_t o = 0; o < k; o++)
        lo[o] = hi[o] = _mm512_setzero_pd();
    for (int32_t t = 0; t < c->n_trees; t += G) {
        int32_t tr[G];
        __m512i leaf[G];
        int m = group_trees(c, t, tr);
        walk_group(c, tr, xt, leaf);
        for (int g = 0; g < m; g++) {
            const double *pl = c->pleaf + (size_t)(t + g) * c->n_leaf;
            int32_t o = c->tree_out[t + g];
            __m256i l8 = _mm512_castsi512_si256(leaf[g]),
                    h8 = _mm512_extracti64x4_epi64(leaf[g], 1);
            lo[o] = _mm512_add_pd(lo[o], _mm512_i32gather_pd(l8, pl, 8));
            hi[o] = _mm512_add_pd(hi[o], _mm512_i32gather_pd(h8, pl, 8));
        }
    }
    for (int32_t o = 0; o < k; o++) {
        double lane[TREES__LANES];
        _mm512_storeu_pd(lane, lo[o]);
        _mm512_storeu_pd(lane + 8, hi[o]);
        for (int r = 0; r < TREES__LANES; r++) {
            double v = lane[r];
            if (c->mean && c->per_out[o]) v /= c->per_out[o];
            sc[(size_t)r * (size_t)k + (size_t)o] = c->base[o] + v;
        }
    }
}

AVX512 static size_t perfect_f32_rows(const trees_compiled *c, const double *x, size_t n,
                                      size_t stride, double *scores)
{
    float stack[XT_FLOATS] __attribute__((aligned(64)));
    size_t r = 0, k = (size_t)c->n_out, size = ((size_t)c->n_used << c->xshift) * TREES__LANES;
    if (stride > INT32_MAX / TREES__LANES) return 0; /* tile gathers use 32-bit offsets */
    float *xt = size <= XT_FLOATS ? stack : aligned_alloc(64, size * sizeof *xt);
    if (!xt) return 0;
    for (; r + TREES__LANES <= n; r += TREES__LANES) {
        load_tile(c, x + r * stride, stride, xt);
        if (c->f32acc)
            block_f32acc(c, xt, scores + r * k);
        else
            block_f64acc(c, xt, scores + r * k);
    }
    if (xt != stack) free(xt);
    return r;
}

trees__kernel trees__simd_kernel(const trees_compiled *c)
{
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512dq") ||
        !__builtin_cpu_supports("avx512bw") || !__builtin_cpu_supports("avx512vl"))
        return NULL;
    if (c->plan == TREES__PLAN_PERFECT && c->f32 && !c->vec && c->n_out <= MAX_OUT &&
        c->n_used <= (1 << 20))
        return perfect_f32_rows;
    return NULL;
}

#else

trees__kernel trees__simd_kernel(const trees_compiled *c)
{
    (void)c;
    return NULL;
}

#endif
