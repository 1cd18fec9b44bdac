/* status.h — the one status enum of the project and the error record library code fills.
 *
 * Library code never prints: it returns a kstatus and, when given a kerr, writes a one-line
 * human message into it. Only src/cli talks to the terminal. */
#ifndef KILN_STATUS_H
#define KILN_STATUS_H

#include <stddef.h>

#define KSTATUS_MAP(X)                                                                             \
    X(OK, "ok")                                                                                    \
    X(NOMEM, "out of memory")                                                                      \
    X(IO, "input/output error")                                                                    \
    X(FORMAT, "malformed input")                                                                   \
    X(UNSUPPORTED, "unsupported")                                                                  \
    X(RANGE, "value out of range")                                                                 \
    X(CHECKSUM, "checksum mismatch")                                                               \
    X(VERSION, "unsupported version")                                                              \
    X(LIMIT, "limit exceeded")                                                                     \
    X(INVALID, "invalid argument")                                                                 \
    X(NOTFOUND, "not found")                                                                       \
    X(EXISTS, "already exists")                                                                    \
    X(CONFLICT, "conflicts with the current state")                                                \
    X(BUSY, "busy")

typedef enum {
#define KSTATUS_ENUM(name, text) K_##name,
    KSTATUS_MAP(KSTATUS_ENUM)
#undef KSTATUS_ENUM
        K__COUNT
} kstatus;

/* Returns a static string naming the status; never NULL. */
const char *kstatus_str(kstatus s);

#define KERR_MSG_MAX 512

typedef struct {
    kstatus code;
    char msg[KERR_MSG_MAX];
} kerr;

/* Records status `code` and a printf-style message in `e` (which may be NULL); returns `code`
 * so callers can write `return kerr_set(e, K_FORMAT, "...")`. */
kstatus kerr_set(kerr *e, kstatus code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefixes the existing message in `e` with a context string ("while reading x: ..."). */
void kerr_prefix(kerr *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
