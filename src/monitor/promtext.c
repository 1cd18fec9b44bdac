/* promtext.c — a strict reader of the Prometheus text exposition format (see promtext.h). */
#include "monitor/promtext.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *p, *end; /* the line being read */
    char *out, *out_end; /* decoded names and label values */
} cursor;

static int is_name_start(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}

static int is_name_char(int c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static void skip_blanks(cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t'))
        c->p++;
}

/* Copies a name ([a-zA-Z_:][a-zA-Z0-9_:]*; labels may not use ':') into the scratch buffer. */
static const char *read_name(cursor *c, int label)
{
    const char *start = c->p;
    if (c->p == c->end || !is_name_start((unsigned char)*c->p) || (label && *c->p == ':'))
        return NULL;
    while (c->p < c->end && is_name_char((unsigned char)*c->p) && !(label && *c->p == ':'))
        c->p++;
    size_t n = (size_t)(c->p - start);
    if (n + 1 > (size_t)(c->out_end - c->out)) return NULL;
    char *name = c->out;
    memcpy(name, start, n);
    name[n] = 0;
    c->out += n + 1;
    return name;
}

/* Reads "…" with \\, \" and \n escapes into the scratch buffer. */
static const char *read_quoted(cursor *c)
{
    if (c->p == c->end || *c->p != '"') return NULL;
    c->p++;
    char *v = c->out;
    while (c->p < c->end && *c->p != '"') {
        char ch = *c->p++;
        if (ch == '\\') {
            if (c->p == c->end) return NULL;
            ch = *c->p++;
            if (ch == 'n')
                ch = '\n';
            else if (ch != '\\' && ch != '"')
                return NULL;
        }
        if (c->out + 1 >= c->out_end) return NULL;
        *c->out++ = ch;
    }
    if (c->p == c->end) return NULL;
    c->p++;
    *c->out++ = 0;
    return v;
}

static const char *read_labels(cursor *c, kprom_sample *s)
{
    c->p++; /* '{' */
    for (;;) {
        skip_blanks(c);
        if (c->p < c->end && *c->p == '}') break;
        if (s->n_labels == KPROM_MAX_LABELS) return "too many labels";
        const char *k = read_name(c, 1);
        if (!k) return "expected a label name";
        skip_blanks(c);
        if (c->p == c->end || *c->p++ != '=') return "expected '=' after a label name";
        skip_blanks(c);
        const char *v = read_quoted(c);
        if (!v) return "expected a quoted label value";
        s->keys[s->n_labels] = k;
        s->values[s->n_labels++] = v;
        skip_blanks(c);
        if (c->p < c->end && *c->p == ',') {
            c->p++;
            continue;
        }
        if (c->p < c->end && *c->p == '}') break;
        return "expected ',' or '}' in the labels";
    }
    c->p++;
    return NULL;
}

/* The next blank-separated token as a NUL-terminated string in `tok`. */
static size_t read_token(cursor *c, char *tok, size_t size)
{
    skip_blanks(c);
    size_t n = 0;
    while (c->p < c->end && *c->p != ' ' && *c->p != '\t') {
        if (n + 1 >= size) return 0;
        tok[n++] = *c->p++;
    }
    tok[n] = 0;
    return n;
}

static int parse_value(const char *tok, double *out)
{
    if (!strcmp(tok, "NaN") || !strcmp(tok, "+Inf") || !strcmp(tok, "-Inf") ||
        !strcmp(tok, "Inf")) {
        *out = tok[0] == 'N'   ? strtod("nan", NULL)
               : tok[0] == '-' ? -strtod("inf", NULL)
                               : strtod("inf", NULL);
        return 1;
    }
    if (strpbrk(tok, "nNiIxX")) return 0; /* strtod's nan(…), inf, hex forms are not Prometheus */
    char *end;
    errno = 0;
    *out = strtod(tok, &end);
    return *tok && !*end;
}

static const char *parse_sample(cursor *c, kprom_sample *s)
{
    memset(s, 0, sizeof *s);
    s->name = read_name(c, 0);
    if (!s->name) return "expected a metric name";
    skip_blanks(c);
    if (c->p < c->end && *c->p == '{') {
        const char *why = read_labels(c, s);
        if (why) return why;
    }
    char tok[64];
    if (!read_token(c, tok, sizeof tok) || !parse_value(tok, &s->value))
        return "expected a number after the metric";
    if (read_token(c, tok, sizeof tok)) {
        char *end;
        (void)strtoll(tok, &end, 10);
        if (*end) return "the timestamp must be an integer (milliseconds)";
    }
    skip_blanks(c);
    return c->p == c->end ? NULL : "unexpected text after the sample";
}

kstatus kprom_parse(const char *text, size_t len, kprom_fn fn, void *ctx, kerr *e)
{
    static _Thread_local char scratch[KPROM_MAX_LINE];
    const char *p = text, *end = text + len;
    for (size_t line = 1; p < end; line++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if ((size_t)(stop - p) > KPROM_MAX_LINE)
            return kerr_set(e, K_LIMIT, "line %zu: longer than %d bytes", line, KPROM_MAX_LINE);
        cursor c = {p, stop, scratch, scratch + sizeof scratch};
        skip_blanks(&c);
        if (c.p < c.end && *c.p != '#') {
            kprom_sample s;
            const char *why = parse_sample(&c, &s);
            if (why) return kerr_set(e, K_FORMAT, "line %zu: %s", line, why);
            fn(ctx, &s);
        }
        p = nl ? nl + 1 : end;
    }
    return K_OK;
}

const char *kprom_label(const kprom_sample *s, const char *key)
{
    for (int i = 0; i < s->n_labels; i++)
        if (!strcmp(s->keys[i], key)) return s->values[i];
    return NULL;
}
