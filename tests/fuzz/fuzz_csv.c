/* fuzz_csv.c — libFuzzer target: CSV record splitting and number parsing on arbitrary bytes. */
#include <stdint.h>

#include "base/num.h"
#include "data/csv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *pos = (const char *)data, *end = pos + size;
    csv_record r;
    csv_record_init(&r);
    kerr e = {0};
    double v;
    while (csv_split(&pos, end, &r, &e) == 1)
        for (int i = 0; i < r.n; i++) num_parse_double(r.fields[i].p, r.fields[i].len, &v);
    csv_record_free(&r);
    return 0;
}
