/* process.h — the standard process_* metrics (CPU seconds, resident and virtual memory, open and
 * maximum file descriptors, start time) read from /proc/self, in the exposition format. */
#ifndef KILN_PROCESS_H
#define KILN_PROCESS_H

#include "base/buf.h"

/* Appends the process_* families; silently omits any value /proc cannot give. */
void process_metrics_write(buf *out);

#endif
