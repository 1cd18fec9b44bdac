/* status.c — status names and the error record helpers. */
#include "base/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const status_names[] = {
#define KSTATUS_NAME(name, text) text,
    KSTATUS_MAP(KSTATUS_NAME)
#undef KSTATUS_NAME
};

const char *kstatus_str(kstatus s)
{
    if ((unsigned)s >= K__COUNT) return "unknown status";
    return status_names[s];
}

/* Messages are one line: control characters that came in with user text (a value quoted in
 * the message) become spaces, so they cannot split or forge log lines. */
static void one_line(char *msg)
{
    for (unsigned char *p = (unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f) *p = ' ';
}

kstatus kerr_set(kerr *e, kstatus code, const char *fmt, ...)
{
    if (!e) return code;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    one_line(e->msg);
    return code;
}

void kerr_prefix(kerr *e, const char *fmt, ...)
{
    if (!e) return;
    char head[KERR_MSG_MAX], old[KERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    memcpy(old, e->msg, sizeof old);
    /* head, ": ", old — truncated to the buffer, which is fine for a message */
    size_t h = strlen(head), cap = sizeof e->msg - 1;
    if (h > cap) h = cap;
    memcpy(e->msg, head, h);
    size_t at = h;
    for (const char *p = ": "; *p && at < cap; p++) e->msg[at++] = *p;
    size_t o = strlen(old);
    if (o > cap - at) o = cap - at;
    memcpy(e->msg + at, old, o);
    e->msg[at + o] = 0;
    one_line(e->msg);
}
