/* jsonpull.c — the JSON pull parser: a cursor over the input, decoding only what the caller asks
 * for. See jsonpull.h for what it accepts and its limits. */
#include "data/jsonpull.h"

#include "base/num.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void jsonpull_init(jsonpull *r, const char *data, size_t len, const char *prefix, kerr *e)
{
    *r = (jsonpull){.start = data,
                    .p = data,
                    .end = data + len,
                    .prefix = prefix ? prefix : "",
                    .e = e,
                    .max_depth = JSONPULL_MAX_DEPTH};
}

void jsonpull_set_max_depth(jsonpull *r, int depth)
{
    if (depth >= 1 && depth <= JSONPULL_MAX_DEPTH) r->max_depth = depth;
}

void jsonpull_skip_bom(jsonpull *r)
{
    if (r->end - r->p >= 3 && memcmp(r->p, "\xEF\xBB\xBF", 3) == 0) r->p += 3;
}

size_t jsonpull_offset(const jsonpull *r)
{
    return (size_t)(r->p - r->start);
}

const char *jsonpull_rest(const jsonpull *r, size_t *len)
{
    *len = (size_t)(r->end - r->p);
    return r->p;
}

kstatus jsonpull_fail(jsonpull *r, const char *what)
{
    size_t at = jsonpull_offset(r);
    if (r->p >= r->end)
        return kerr_set(r->e, K_FORMAT, "%sunexpected end of input at byte %zu (truncated file?)",
                        r->prefix, at);
    return kerr_set(r->e, K_FORMAT, "%sinvalid JSON at byte %zu: %s", r->prefix, at, what);
}

int jsonpull_peek(jsonpull *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\n' || *r->p == '\r' || *r->p == '\t'))
        r->p++;
    return r->p < r->end ? (unsigned char)*r->p : -1;
}

kstatus jsonpull_expect(jsonpull *r, char c, const char *what)
{
    if (jsonpull_peek(r) != (unsigned char)c) return jsonpull_fail(r, what);
    r->p++;
    return K_OK;
}

kstatus jsonpull_finish(jsonpull *r)
{
    if (jsonpull_peek(r) != -1) return jsonpull_fail(r, "unexpected data after the JSON document");
    return K_OK;
}

/* With r->p at an opening quote, finds the closing quote. */
static kstatus string_end(jsonpull *r, const char **close)
{
    size_t n = (size_t)(r->end - r->p), i = 1;
    while (i < n && r->p[i] != '"')
        i += r->p[i] == '\\' ? 2 : 1;
    if (i >= n) {
        r->p = r->end;
        return jsonpull_fail(r, "unterminated string");
    }
    *close = r->p + i;
    return K_OK;
}

static int hex4(const char *s, uint32_t *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return 0;
        *v = *v * 16 + (uint32_t)d;
    }
    return 1;
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decodes a \u escape (and its low surrogate) at s (just past "\u"); advances *s. */
static kstatus unicode(jsonpull *r, const char **s, const char *to, uint32_t *cp)
{
    if (to - *s < 4 || !hex4(*s, cp)) return jsonpull_fail(r, "bad \\u escape");
    *s += 4;
    if (*cp >= 0xDC00 && *cp <= 0xDFFF) return jsonpull_fail(r, "unpaired surrogate in string");
    if (*cp >= 0xD800 && *cp <= 0xDBFF) {
        uint32_t lo = 0;
        if (to - *s < 6 || (*s)[0] != '\\' || (*s)[1] != 'u' || !hex4(*s + 2, &lo) || lo < 0xDC00 ||
            lo > 0xDFFF)
            return jsonpull_fail(r, "unpaired surrogate in string");
        *s += 6;
        *cp = 0x10000 + ((*cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (*cp == 0) return jsonpull_fail(r, "NUL character in string");
    return K_OK;
}

/* Decodes the string body [from, to) into out, which has room for to - from + 1 bytes (escapes
 * never decode to more bytes than they take). With out == NULL it only checks the escapes. */
static kstatus decode(jsonpull *r, const char *from, const char *to, char *out)
{
    static const char plain[] = "\"\\/bfnrt", decoded[] = "\"\\/\b\f\n\r\t";
    size_t n = 0;
    for (const char *s = from; s < to;) {
        unsigned char c = (unsigned char)*s;
        if (c < 0x20) {
            r->p = s;
            return jsonpull_fail(r, "control character in string");
        }
        if (c != '\\') {
            if (out) out[n] = (char)c;
            n++;
            s++;
            continue;
        }
        char esc = s[1];
        s += 2;
        const char *at = esc ? strchr(plain, esc) : NULL;
        if (at) {
            if (out) out[n] = decoded[at - plain];
            n++;
        } else if (esc == 'u') {
            uint32_t cp = 0;
            char tmp[4];
            kstatus st = unicode(r, &s, to, &cp);
            if (st) return st;
            n += utf8_put(out ? out + n : tmp, cp);
        } else {
            r->p = s - 2;
            return jsonpull_fail(r, "bad escape in string");
        }
    }
    if (out) out[n] = 0;
    return K_OK;
}

/* Returns 1 when s[0..n) is well-formed UTF-8 (no overlong forms, surrogates or code points
 * past U+10FFFF): strings callers keep end up in manifests and JSON answers. */
static int utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
        if (len == 0 || len > n - i) return 0;
        uint32_t cp = len == 1 ? c : c & (0x7F >> len);
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + k] & 0x3F);
        }
        static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += len;
    }
    return 1;
}

/* Checks a string body that is stepped over rather than kept: escapes, control characters,
 * UTF-8. Untrusted text is refused whether or not the caller looks at it. */
static kstatus check_only(jsonpull *r, const char *from, const char *to)
{
    kstatus st = decode(r, from, to, NULL);
    if (!st && !utf8_valid((const unsigned char *)from, (size_t)(to - from)))
        st = jsonpull_fail(r, "string is not UTF-8");
    return st;
}

kstatus jsonpull_string(jsonpull *r, arena *a, const char **out, size_t max)
{
    if (jsonpull_peek(r) != '"') return jsonpull_fail(r, "expected a string");
    const char *close = NULL;
    kstatus st = string_end(r, &close);
    if (!st && !out) st = check_only(r, r->p + 1, close);
    if (st || !out) {
        if (!st) r->p = close + 1;
        return st;
    }
    size_t raw = (size_t)(close - r->p - 1);
    if (raw > max)
        return kerr_set(r->e, K_LIMIT, "%sstring of %zu bytes at byte %zu is too long", r->prefix,
                        raw, jsonpull_offset(r));
    char *s = arena_alloc(a, raw + 1);
    if (!s) return kerr_set(r->e, K_LIMIT, "%sdocument too large for the memory limit", r->prefix);
    st = decode(r, r->p + 1, close, s);
    if (st) return st;
    if (!utf8_valid((const unsigned char *)s, strlen(s)))
        return jsonpull_fail(r, "string is not UTF-8");
    r->p = close + 1;
    *out = s;
    return K_OK;
}

/* Reads an object key and the colon after it. */
static kstatus key(jsonpull *r, char out[JSONPULL_KEY_MAX])
{
    if (jsonpull_peek(r) != '"') return jsonpull_fail(r, "expected a string key");
    const char *close = NULL;
    kstatus st = string_end(r, &close);
    if (st) return st;
    out[0] = 0;
    if (close - r->p - 1 < JSONPULL_KEY_MAX) {
        st = decode(r, r->p + 1, close, out);
        if (!st && !utf8_valid((const unsigned char *)out, strlen(out)))
            st = jsonpull_fail(r, "object key is not UTF-8");
    } else {
        st = check_only(r, r->p + 1, close);
    }
    if (st) return st;
    r->p = close + 1;
    return jsonpull_expect(r, ':', "expected ':' after an object key");
}

static int is_number_char(char c)
{
    return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
}

/* The non-finite literals XGBoost writes (and "-NaN", which its reader also accepts). */
static int nonfinite(jsonpull *r, jsonpull_num *v)
{
    static const struct {
        const char *text;
        double value;
    } words[] = {{"NaN", NAN}, {"-NaN", NAN}, {"Infinity", INFINITY}, {"-Infinity", -INFINITY}};
    for (size_t k = 0; k < sizeof words / sizeof *words; k++) {
        size_t len = strlen(words[k].text);
        if ((size_t)(r->end - r->p) >= len && memcmp(r->p, words[k].text, len) == 0) {
            *v = (jsonpull_num){.d = words[k].value, .f = (float)words[k].value};
            r->p += len;
            return 1;
        }
    }
    return 0;
}

kstatus jsonpull_number(jsonpull *r, jsonpull_num *v)
{
    jsonpull_peek(r);
    if (nonfinite(r, v)) return K_OK;
    char text[JSONPULL_NUM_MAX + 1];
    size_t n = 0;
    int is_int = 1;
    while (r->p + n < r->end && is_number_char(r->p[n])) {
        if (n == JSONPULL_NUM_MAX) return jsonpull_fail(r, "number too long");
        text[n] = r->p[n];
        if (text[n] == '.' || text[n] == 'e' || text[n] == 'E') is_int = 0;
        n++;
    }
    if (n == 0) return jsonpull_fail(r, "expected a value");
    text[n] = 0;
    char *stop;
    v->d = strtod(text, &stop);
    if (stop != text + n) return jsonpull_fail(r, "malformed number");
    v->f = strtof(text, NULL);
    v->is_int = is_int;
    v->i = is_int ? strtoll(text, NULL, 10) : 0; /* saturates: callers' range checks reject it */
    r->p += n;
    return K_OK;
}

kstatus jsonpull_double(jsonpull *r, double *out)
{
    jsonpull_peek(r);
    jsonpull_num v;
    if (nonfinite(r, &v)) {
        *out = v.d;
        return K_OK;
    }
    size_t n = 0;
    while (r->p + n < r->end && is_number_char(r->p[n]))
        n++;
    if (n == 0) return jsonpull_fail(r, "expected a number");
    if (n > JSONPULL_NUM_MAX) return jsonpull_fail(r, "number too long");
    if (!num_parse_double(r->p, n, out)) return jsonpull_fail(r, "malformed number");
    r->p += n;
    return K_OK;
}

kstatus jsonpull_literal(jsonpull *r, const char *word)
{
    size_t len = strlen(word);
    if ((size_t)(r->end - r->p) < len || memcmp(r->p, word, len) != 0)
        return jsonpull_fail(r, "expected a value");
    r->p += len;
    return K_OK;
}

kstatus jsonpull_member(jsonpull *r, int *first, char k[JSONPULL_KEY_MAX], int *more)
{
    int c = jsonpull_peek(r);
    *more = 0;
    if (c == '}') {
        r->p++;
        return K_OK;
    }
    if (!*first) {
        if (c != ',') return jsonpull_fail(r, "expected ',' or '}'");
        r->p++;
    }
    *first = 0;
    *more = 1;
    return key(r, k);
}

kstatus jsonpull_element(jsonpull *r, int *first, int *more)
{
    int c = jsonpull_peek(r);
    *more = 0;
    if (c == ']') {
        r->p++;
        return K_OK;
    }
    if (!*first) {
        if (c != ',') return jsonpull_fail(r, "expected ',' or ']'");
        r->p++;
    }
    *first = 0;
    *more = 1;
    return K_OK;
}

static kstatus skip(jsonpull *r, int depth)
{
    if (depth > r->max_depth) return jsonpull_fail(r, "nesting too deep");
    int c = jsonpull_peek(r), first = 1, more;
    kstatus st;
    char k[JSONPULL_KEY_MAX];
    switch (c) {
    case '{':
        r->p++;
        while (!(st = jsonpull_member(r, &first, k, &more)) && more)
            if ((st = skip(r, depth + 1))) return st;
        return st;
    case '[':
        r->p++;
        while (!(st = jsonpull_element(r, &first, &more)) && more)
            if ((st = skip(r, depth + 1))) return st;
        return st;
    case '"':
        return jsonpull_string(r, NULL, NULL, 0);
    case 't':
        return jsonpull_literal(r, "true");
    case 'f':
        return jsonpull_literal(r, "false");
    case 'n':
        return jsonpull_literal(r, "null");
    default: {
        double v;
        return jsonpull_double(r, &v);
    }
    }
}

kstatus jsonpull_skip(jsonpull *r)
{
    return skip(r, 0);
}

kstatus jsonpull_array_begin(jsonpull *r, int64_t *count)
{
    kstatus st = jsonpull_expect(r, '[', "expected an array");
    if (st) return st;
    int64_t depth = 0, commas = 0;
    int any = 0;
    for (const char *q = r->p; q < r->end; q++) {
        char c = *q;
        if (c == '"') {
            jsonpull at = *r;
            at.p = q;
            const char *close = NULL;
            if ((st = string_end(&at, &close))) return st;
            q = close;
            any = 1;
        } else if (c == '[' || c == '{') {
            depth++;
            any = 1;
        } else if (c == ']' || c == '}') {
            if (depth-- == 0) {
                *count = any ? commas + 1 : 0;
                return K_OK;
            }
        } else if (c == ',') {
            commas += depth == 0;
        } else if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
            any = 1;
        }
    }
    r->p = r->end;
    return jsonpull_fail(r, "unterminated array");
}
