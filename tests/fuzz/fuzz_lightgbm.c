/* fuzz_lightgbm.c — libFuzzer target: lightgbm_import on arbitrary bytes, and when a model comes out,
 * compiling it and scoring a few rows must not crash either. */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_common.h"
#include "model/import.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kspec *s = NULL;
    kerr e = {0};
    if (lightgbm_import((const char *)data, size, &s, &e) == K_OK) fuzz_score(s);
    return 0;
}
