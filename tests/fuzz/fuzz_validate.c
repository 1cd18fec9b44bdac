/* fuzz_validate.c — libFuzzer target: the request-validation layer. Input is POLICY \0 ROWS:
 * the policy is a kiln.yaml `validation:` mapping, the rest is read as doubles (NaN,
 * infinities and every bit pattern included) forming rows of a 3-feature model with training
 * ranges and a categorical feature. Nothing may crash; an accepted batch must come back with
 * every value either unchanged or clipped into its feature's range; a refusal must name a
 * feature in one line. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/yaml.h"
#include "serve/validate.h"

static kfeature features[3] = {
    {.name = "age", .type = KFEAT_NUMERIC, .min = 18, .max = 90},
    {.name = "income", .type = KFEAT_NUMERIC, .min = NAN, .max = NAN},
    {.name = "plan", .type = KFEAT_CATEGORICAL, .min = NAN, .max = NAN, .n_categories = 3},
};

static void check_out(const double *in, const double *out, size_t n)
{
    for (size_t i = 0; i < n * 3; i++) {
        const kfeature *f = &features[i % 3];
        if (in[i] == out[i] || (isnan(in[i]) && isnan(out[i]))) continue;
        if (out[i] != f->min && out[i] != f->max) abort(); /* only clipping may change a value */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    if (!nul) return 0;
    json_object *doc = NULL;
    kvalidate *v = NULL;
    if (yaml_parse((const char *)data, (size_t)(nul - data), &doc, NULL) == K_OK &&
        json_object_is_type(doc, json_type_object) && kvalidate_new(doc, &v, NULL) == K_OK) {
        size_t n = (size - (size_t)(nul - data) - 1) / (3 * sizeof(double));
        double *rows = malloc(n * 3 * sizeof *rows + 1);
        arena *mem = arena_new(1 << 20);
        if (rows && mem) {
            memcpy(rows, nul + 1, n * 3 * sizeof *rows);
            kspec s = {.n_features = 3, .features = features};
            const double *out = NULL;
            kerr e = {0};
            kstatus st = kvalidate_rows(v, &s, rows, n, mem, &out, &e);
            if (st == K_OK)
                check_out(rows, out, n);
            else if (st == K_RANGE && (!strstr(e.msg, "feature '") || strchr(e.msg, '\n')))
                abort();
        }
        free(rows);
        arena_free(mem);
        kvalidate_free(v);
    }
    json_object_put(doc);
    return 0;
}
