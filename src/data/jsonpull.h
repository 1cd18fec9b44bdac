/* jsonpull.h — a pull parser for untrusted JSON: the caller walks the document it expects, value
 * by value, and nothing is built that it does not ask for.
 *
 * There is no DOM on purpose: a DOM costs 50-100 bytes per number, so a hostile "[0,0,0,..."
 * would cost fifty times its size, while here memory is what the caller keeps (strings go into
 * its arena, with a size limit per call). Everything is bounded: keys, numbers, strings kept and
 * the nesting of values skipped with jsonpull_skip.
 *
 * Accepted: RFC 8259 JSON, plus the literal tokens NaN, -NaN, Infinity and -Infinity as numbers
 * (XGBoost and Python's json module write them). Strings are decoded (escapes, \u surrogate
 * pairs) and must be UTF-8 without NUL or control characters. Number syntax is checked by
 * strtod, so it is looser than RFC 8259 ("+1", "01", "1." pass).
 *
 * Errors: every call returns a kstatus; on failure the kerr given to jsonpull_init holds a
 * one-line message "<prefix>invalid JSON at byte N: <what>" (or "...unexpected end of input at
 * byte N (truncated file?)"). After an error the reader's position is unspecified: stop there.
 *
 * Typical walk of an object:
 *     char key[JSONPULL_KEY_MAX];
 *     kstatus st = jsonpull_expect(r, '{', "expected an object");
 *     for (int first = 1, more; !st && !(st = jsonpull_member(r, &first, key, &more)) && more;)
 *         st = strcmp(key, "x") == 0 ? jsonpull_number(r, &x) : jsonpull_skip(r);
 *     if (!st) st = jsonpull_finish(r);
 */
#ifndef KILN_JSONPULL_H
#define KILN_JSONPULL_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/status.h"

#define JSONPULL_MAX_DEPTH 64 /* nesting inside one value given to jsonpull_skip */
#define JSONPULL_KEY_MAX 64   /* key buffer size: longer keys come back as "" */
#define JSONPULL_NUM_MAX 64   /* longest number text accepted */

/* A reader over a caller-owned buffer, which must outlive it. Lives on the caller's stack; the
 * fields are private (set them with jsonpull_init), nothing to free. */
typedef struct {
    const char *start, *p, *end;
    const char *prefix; /* put in front of every message */
    kerr *e;
    int max_depth; /* nesting jsonpull_skip accepts; JSONPULL_MAX_DEPTH by default */
} jsonpull;

/* A number as read. */
typedef struct {
    double d;
    float f;    /* parsed from the text directly, not rounded from d */
    int64_t i;  /* integers only (saturated at the int64 range) */
    int is_int; /* no '.', 'e' or 'E' in the text (NaN and infinities are not integers) */
} jsonpull_num;

/* Starts reading data[0..len). `prefix` (a static string, "" for none) starts every error
 * message; errors go to `e` (may be NULL). */
void jsonpull_init(jsonpull *r, const char *data, size_t len, const char *prefix, kerr *e);

/* Lowers the nesting jsonpull_skip accepts (1..JSONPULL_MAX_DEPTH; other values are ignored):
 * servers bound the depth of request bodies. */
void jsonpull_set_max_depth(jsonpull *r, int depth);

/* Skips a UTF-8 byte order mark, when there is one at the current position. */
void jsonpull_skip_bom(jsonpull *r);

/* Skips whitespace; returns the next byte (not consumed) or -1 at the end of input. The byte
 * says what comes: '{', '[', '"', 't', 'f', 'n' (null), anything else a number or an error. */
int jsonpull_peek(jsonpull *r);

/* Returns the unread input (after jsonpull_peek: from the next token) and its length in *len. */
const char *jsonpull_rest(const jsonpull *r, size_t *len);

/* Returns the byte offset of the current position. */
size_t jsonpull_offset(const jsonpull *r);

/* Fails with K_FORMAT and "invalid JSON at byte N: <what>" (or "unexpected end of input")
 * at the current position; returns K_FORMAT. For callers' own schema errors. */
kstatus jsonpull_fail(jsonpull *r, const char *what);

/* Consumes the byte `c` after optional whitespace, else fails with `what`. */
kstatus jsonpull_expect(jsonpull *r, char c, const char *what);

/* Reads a string. With `out`, decodes it into a NUL-terminated copy allocated from `a` (owned
 * by the arena) and fails with K_LIMIT when its raw text exceeds `max` bytes; with out == NULL
 * it only steps over the string (a and max unused, contents unchecked). */
kstatus jsonpull_string(jsonpull *r, arena *a, const char **out, size_t max);

/* Reads a number (or NaN / Infinity token) into *v. */
kstatus jsonpull_number(jsonpull *r, jsonpull_num *v);

/* Reads a number (or NaN / Infinity token) as a double only: one correctly rounded parse, the
 * fast path for request bodies full of numbers. */
kstatus jsonpull_double(jsonpull *r, double *out);

/* Consumes the literal `word` ("true", "false", "null") at the current position. */
kstatus jsonpull_literal(jsonpull *r, const char *word);

/* Steps through an object whose '{' has been consumed. Start with *first = 1. Sets *more = 1
 * with the next key decoded into `key` and the reader at its value (the ':' consumed), or
 * *more = 0 once the closing '}' is consumed. Keys of JSONPULL_KEY_MAX bytes or more come back
 * as "" (no key a caller looks for is that long). */
kstatus jsonpull_member(jsonpull *r, int *first, char key[JSONPULL_KEY_MAX], int *more);

/* Steps through an array whose '[' has been consumed, like jsonpull_member: *more = 1 with the
 * reader at the next element, *more = 0 once ']' is consumed. */
kstatus jsonpull_element(jsonpull *r, int *first, int *more);

/* Consumes '[' and sets *count to the number of elements by scanning ahead to the matching ']',
 * so the caller can allocate exactly. The scan does not check the contents: the count is exact
 * for a well-formed array, but a malformed one ("[}1,2]") may yield more elements than counted
 * before jsonpull_element finds the error, so callers must bound their index by the count. */
kstatus jsonpull_array_begin(jsonpull *r, int64_t *count);

/* Steps over one whole value of any type, checking it, nested at most JSONPULL_MAX_DEPTH
 * deep. */
kstatus jsonpull_skip(jsonpull *r);

/* Fails with "unexpected data after the JSON document" unless only whitespace is left. */
kstatus jsonpull_finish(jsonpull *r);

#endif
