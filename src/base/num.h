/* num.h — number parsing and printing for text formats (CSV, later JSON bodies).
 *
 * Parsing is correctly rounded (the same double Python's float() gives): a fast exact path for
 * short decimals (Clinger's: integer mantissa < 2^53 and |exponent| <= 22 need one IEEE
 * multiply or divide), strtod for everything else. */
#ifndef KILN_NUM_H
#define KILN_NUM_H

#include <stddef.h>

/* Parses the whole of p[0..len) as a decimal number (leading/trailing spaces allowed).
 * Accepts "nan"/"NaN" (→ NaN), "inf"/"-inf"/"Infinity". Returns 1 on success, 0 if the text is
 * not entirely a number. An empty field is not a number here: callers decide what it means. */
int num_parse_double(const char *p, size_t len, double *out);

/* The fast exact path of num_parse_double on a prefix: reads [-+]digits[.digits][(e|E)[-+]digits]
 * at p (before end; no leading space) and, when that converts exactly without strtod (at most
 * 19 significant digits, a small enough exponent), stores the value in *out and returns where
 * the number ends. Returns NULL otherwise (the caller then takes num_parse_double on the whole
 * field). The value is always finite, and num_parse_double gives the same double for the same
 * text. For parsing numbers straight out of a buffer, e.g. CSV fields. */
const char *num_scan_double(const char *p, const char *end, double *out);

/* Writes `v` so that parsing it back gives the same double (%.17g); NaN as "nan", infinities
 * as "inf"/"-inf". Returns the length written (out needs
 * 32 bytes). */
int num_format_double(double v, char out[32]);

/* Like num_format_double but with the fewest significant digits (15 to 17) that still parse
 * back to the same double: 0.1 is written "0.1". For output people read. */
int num_format_shortest(double v, char out[32]);

#endif
