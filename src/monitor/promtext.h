/* promtext.h — reads the Prometheus text exposition format (version 0.0.4) back into samples.
 *
 * The alert engine evaluates its rules over exactly the text GET /metrics serves, so a rule can
 * name any metric Kiln exports. Accepted per line: blank lines and comments ("# HELP", "# TYPE"
 * and any other "#" line) are skipped; a sample is
 *     name [ "{" label="value" { "," label="value" } [","] "}" ] value [ timestamp ]
 * with names [a-zA-Z_:][a-zA-Z0-9_:]*, label values escaped as \\, \" and \n, and values any
 * float Go's ParseFloat takes for Prometheus (including NaN, +Inf, -Inf). The timestamp, if
 * present, is checked to be an integer and ignored.
 *
 * Limits (K_LIMIT): KPROM_MAX_LABELS labels per sample and KPROM_MAX_LINE bytes per line.
 * Malformed input stops the parse with K_FORMAT and "line N: what". Nothing is allocated. */
#ifndef KILN_PROMTEXT_H
#define KILN_PROMTEXT_H

#include <stddef.h>

#include "base/status.h"

#define KPROM_MAX_LABELS 16
#define KPROM_MAX_LINE 8192

typedef struct {
    const char *name; /* NUL-terminated; valid during the callback only */
    int n_labels;
    const char *keys[KPROM_MAX_LABELS], *values[KPROM_MAX_LABELS]; /* decoded */
    double value;
} kprom_sample;

/* Called once per sample, in input order. */
typedef void (*kprom_fn)(void *ctx, const kprom_sample *s);

/* Parses text[0..len) (need not be NUL-terminated), calling fn for every sample. */
kstatus kprom_parse(const char *text, size_t len, kprom_fn fn, void *ctx, kerr *e);

/* The value of label `key` in s, or NULL. */
const char *kprom_label(const kprom_sample *s, const char *key);

#endif
