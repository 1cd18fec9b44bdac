/* fuzz_package.c — libFuzzer target: the .kiln loader on arbitrary bytes. The checksum would
 * stop almost every mutation at the door, so the target re-seals the input first (recomputes
 * the trailer) and thereby fuzzes the header, section table and manifest parsers behind it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha256.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kspec *s = NULL;
    kerr e = {0};
    if (kpkg_read(data, size, &s, &e) == K_OK) fuzz_score(s);
    if (size < 96 || size > ((size_t)1 << 24)) return 0;
    unsigned char *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    uint64_t len = size; /* make the header's size field agree, then re-seal */
    memcpy(copy + 16, &len, 8);
    sha256(copy, size - 32, copy + size - 32);
    if (kpkg_read(copy, size, &s, &e) == K_OK) fuzz_score(s);
    free(copy);
    return 0;
}
