/* csv.c — quote-aware block reading and in-memory record splitting. */
#include "data/csv.h"

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void csv_record_init(csv_record *r)
{
    memset(r, 0, sizeof *r);
}

void csv_record_free(csv_record *r)
{
    free(r->fields);
    free(r->scratch);
    csv_record_init(r);
}

static int push_field(csv_record *r, const char *p, size_t len, kerr *e)
{
    if (r->n == r->cap) {
        if (r->cap >= CSV_MAX_FIELDS)
            return kerr_set(e, K_LIMIT, "more than %d fields in a record", CSV_MAX_FIELDS), -1;
        int cap = r->cap ? r->cap * 2 : 64;
        csv_field *f = realloc(r->fields, (size_t)cap * sizeof *f);
        if (!f) return kerr_set(e, K_NOMEM, "out of memory"), -1;
        r->fields = f;
        r->cap = cap;
    }
    r->fields[r->n++] = (csv_field){p, len};
    return 0;
}

/* Copies a quoted field's content (between the quotes, "" -> ") into the record's scratch. */
static const char *unescape(csv_record *r, const char *p, size_t len, size_t *out_len, size_t *used)
{
    if (*used + len > r->scratch_cap) {
        size_t cap = (*used + len) * 2;
        char *s = realloc(r->scratch, cap);
        if (!s) return NULL;
        /* earlier fields pointing into scratch must move with it */
        for (int i = 0; r->scratch && i < r->n; i++)
            if (r->fields[i].p >= r->scratch && r->fields[i].p < r->scratch + r->scratch_cap)
                r->fields[i].p = s + (r->fields[i].p - r->scratch);
        r->scratch = s;
        r->scratch_cap = cap;
    }
    char *dst = r->scratch + *used, *o = dst;
    for (size_t i = 0; i < len; i++) {
        *o++ = p[i];
        if (p[i] == '"') i++; /* the second quote of a "" pair */
    }
    *out_len = (size_t)(o - dst);
    *used += *out_len;
    return dst;
}

static int split_quoted(const char **pp, const char *end, csv_record *r, size_t *used, kerr *e)
{
    const char *p = *pp + 1, *start = p;
    int escaped = 0;
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return kerr_set(e, K_FORMAT, "unterminated quoted field"), -1;
        if (q + 1 < end && q[1] == '"') {
            escaped = 1;
            p = q + 2;
            continue;
        }
        size_t len = (size_t)(q - start), out_len = len;
        const char *content = escaped ? unescape(r, start, len, &out_len, used) : start;
        if (!content) return kerr_set(e, K_NOMEM, "out of memory"), -1;
        p = q + 1;
        /* a record ends at a line feed only (CRLF included): a bare CR here is text */
        if (p < end && *p != ',' && *p != '\n' && !(*p == '\r' && (p + 1 == end || p[1] == '\n')))
            return kerr_set(e, K_FORMAT, "unexpected text after a closing quote"), -1;
        *pp = p;
        return push_field(r, content, out_len, e);
    }
}

int csv_split(const char **pos, const char *end, csv_record *r, kerr *e)
{
    const char *p = *pos;
    size_t used = 0;
    r->n = 0;
    if (p >= end) return 0;
    for (;;) {
        if (p < end && *p == '"') {
            if (split_quoted(&p, end, r, &used, e)) return -1;
        } else {
            const char *start = p;
            while (p < end && *p != ',' && *p != '\n')
                p++;
            size_t len = (size_t)(p - start);
            if (len && start[len - 1] == '\r' && (p == end || *p == '\n')) len--;
            if (push_field(r, start, len, e)) return -1;
        }
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p < end && *p == '\r') p++;
        if (p < end && *p == '\n') p++;
        *pos = p;
        return 1;
    }
}

kstatus csv_append_field(buf *b, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) return buf_append_str(b, s);
    kstatus st = buf_append(b, "\"", 1);
    for (const char *p = s; *p && !st; p++)
        st = *p == '"' ? buf_append(b, "\"\"", 2) : buf_append(b, p, 1);
    return st ? st : buf_append(b, "\"", 1);
}

/* ---- block source ---------------------------------------------------------------------------- */

#define POOL_MAX 16 /* recycled blocks kept */

struct csv_source {
    int fd, eof;
    size_t block, max_block;
    char *carry; /* bytes after the last record boundary of the previous read */
    size_t carry_len;
    char *pool[POOL_MAX]; /* recycled buffers of at least pool_size() bytes */
    int n_pool;
};

/* Bytes of a reusable buffer: a block plus a carried partial record of up to a quarter block. */
static size_t pool_size(const csv_source *s)
{
    return s->block + s->block / 4 + 1;
}

csv_source *csv_source_new(int fd, size_t block, size_t max_block)
{
    csv_source *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->fd = fd;
    s->block = block;
    s->max_block = max_block < block ? block : max_block;
    return s;
}

void csv_source_free(csv_source *s)
{
    if (!s) return;
    free(s->carry);
    for (int i = 0; i < s->n_pool; i++)
        free(s->pool[i]);
    free(s);
}

void csv_source_recycle(csv_source *s, char *block)
{
    if (block && s->n_pool < POOL_MAX && malloc_usable_size(block) >= pool_size(s))
        s->pool[s->n_pool++] = block;
    else
        free(block);
}

/* A buffer of at least n bytes: a recycled one when it is big enough. */
static char *buffer_get(csv_source *s, size_t n)
{
    if (n <= pool_size(s)) {
        if (s->n_pool) return s->pool[--s->n_pool];
        n = pool_size(s);
    }
    return malloc(n);
}

/* Offset just past the last record boundary in data[0..len), or 0 when there is none. Blocks
 * start on a record boundary; a block without quotes (the common case for numeric data) needs
 * only a reverse search for the last newline. Otherwise quotes are followed as csv_split reads
 * them: a quote opens a quoted field only at a field's start (elsewhere it is text), and ""
 * inside one is an escaped quote; so blocks are cut at the same record ends whatever their
 * size, malformed input included. */
static size_t last_boundary(const char *data, size_t len)
{
    if (!memchr(data, '"', len)) {
        const char *nl = memrchr(data, '\n', len);
        return nl ? (size_t)(nl - data) + 1 : 0;
    }
    enum { FIELD_START, UNQUOTED, QUOTED, CLOSED } st = FIELD_START;
    size_t cut = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = data[i];
        if (st == QUOTED) {
            if (ch == '"') st = CLOSED;
        } else if (ch == '"' && (st == FIELD_START || st == CLOSED)) {
            st = QUOTED; /* a quoted field opens, or "" goes on inside one */
        } else if (ch == ',' || ch == '\n') {
            st = FIELD_START;
            if (ch == '\n') cut = i + 1;
        } else {
            st = UNQUOTED;
        }
    }
    return cut;
}

static ssize_t read_full(int fd, char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

int csv_source_next(csv_source *s, char **block, size_t *len, kerr *e)
{
    size_t want = s->block;
    for (;;) {
        size_t cap = s->carry_len + want;
        char *data = buffer_get(s, cap + 1);
        if (!data) return kerr_set(e, K_NOMEM, "out of memory reading CSV"), -1;
        if (s->carry_len) memcpy(data, s->carry, s->carry_len);
        ssize_t got = s->eof ? 0 : read_full(s->fd, data + s->carry_len, want);
        if (got < 0) {
            free(data);
            return kerr_set(e, K_IO, "read error: %s", strerror(errno)), -1;
        }
        if ((size_t)got < want) s->eof = 1;
        size_t total = s->carry_len + (size_t)got;
        free(s->carry);
        s->carry = NULL;
        s->carry_len = 0;
        if (total == 0) {
            csv_source_recycle(s, data);
            return 0;
        }
        size_t cut = s->eof ? total : last_boundary(data, total);
        if (cut == 0) { /* no complete record yet: read more, up to the limit */
            if (total >= s->max_block) {
                free(data);
                return kerr_set(e, K_LIMIT, "a CSV record is longer than %zu bytes", s->max_block),
                       -1;
            }
            s->carry = data;
            s->carry_len = total;
            want = s->block;
            continue;
        }
        if (cut < total) {
            s->carry = malloc(total - cut);
            if (!s->carry) {
                free(data);
                return kerr_set(e, K_NOMEM, "out of memory reading CSV"), -1;
            }
            memcpy(s->carry, data + cut, total - cut);
            s->carry_len = total - cut;
        }
        data[cut] = 0;
        *block = data;
        *len = cut;
        return 1;
    }
}
