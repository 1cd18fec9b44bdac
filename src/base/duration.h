/* duration.h — durations as people write them in configuration and flags: "30s", "5m",
 * "1h30m", "250ms", "2d", or a plain number of seconds. */
#ifndef KILN_DURATION_H
#define KILN_DURATION_H

/* Seconds, or -1 when `text` is not a duration (negative, empty, unknown unit, "5 minutes"). */
double duration_parse(const char *text);

#endif
