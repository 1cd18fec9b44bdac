/* jsonw.h — the JSON text writers every answer, log line and report uses: the counterpart of
 * jsonpull.h. Output is always valid JSON text: control characters and quotes are escaped,
 * bytes that are not UTF-8 become U+FFFD, NaN and infinities become null. */
#ifndef KILN_JSONW_H
#define KILN_JSONW_H

#include <stddef.h>

#include "base/buf.h"

/* Appends `s` as a JSON string literal (quotes included). */
kstatus jsonw_string(buf *b, const char *s);
/* Appends a double: shortest round-trip text; NaN and infinities as null. */
kstatus jsonw_number(buf *b, double v);
/* Appends [v0,v1,…]. */
kstatus jsonw_array(buf *b, const double *v, size_t n);

#endif
