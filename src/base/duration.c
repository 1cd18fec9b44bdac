/* duration.c — parsing "1h30m"-style durations (see duration.h). */
#include "base/duration.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double duration_parse(const char *text)
{
    char *end;
    double x = strtod(text, &end);
    if (end == text || !isfinite(x) || x < 0) return -1;
    if (!*end) return x;
    double total = 0;
    const char *p = text;
    while (*p) {
        x = strtod(p, &end);
        if (end == p || !isfinite(x) || x < 0 || *p == '+' || *p == '-') return -1;
        static const struct {
            const char *unit;
            double s;
        } units[] = {{"ms", 0.001}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
        size_t i = 0;
        for (; i < sizeof units / sizeof *units; i++)
            if (!strncmp(end, units[i].unit, strlen(units[i].unit))) break;
        if (i == sizeof units / sizeof *units) return -1;
        total += x * units[i].s;
        p = end + strlen(units[i].unit);
    }
    return total;
}
