/* trees_simd.h — SIMD kernels for compiled tree ensembles (trees_plan.h), chosen at run time
 * from what the CPU supports, so the shipped binary needs no -march flag. Private to
 * trees*.c. */
#ifndef KILN_TREES_SIMD_H
#define KILN_TREES_SIMD_H

#include "model/trees_plan.h"

/* Returns the fastest SIMD kernel this CPU runs for plan `c`, or NULL when there is none (no
 * AVX-512, a layout or precision without a SIMD kernel, rows too wide for its row buffer).
 * The kernel scores whole blocks of TREES__LANES rows and returns how many rows it scored. */
trees__kernel trees__simd_kernel(const trees_compiled *c);

#endif
