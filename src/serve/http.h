/* http.h — one HTTP exchange as the handlers see it, independent of the HTTP library.
 *
 * server.c fills a khttp_req from libmicrohttpd and sends the khttp_resp back; handlers, their
 * unit tests and fuzz targets only ever see these two structs. A request's memory (its body,
 * anything a handler allocates from `mem`) lives until the response has been sent. */
#ifndef KILN_HTTP_H
#define KILN_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/status.h"

#define KHTTP_MAX_HEADERS 4
#define KHTTP_NAME_MAX 129 /* a model name (KREG_NAME_MAX) and its NUL */

typedef struct {
    const char *method; /* "GET", "POST", … */
    const char *path;   /* URL path, percent-decoded, without the query */
    const char *body;   /* the whole body (NUL-terminated copy), "" when none */
    size_t body_len;
    const char *request_id; /* X-Request-Id as sent (sanitised) or generated */
    const char *client;     /* the peer's address ("127.0.0.1", "::1"; "" when unknown) */
    /* Any request header by name (case-insensitive), NULL when absent. */
    const char *(*header)(void *ctx, const char *name);
    void *header_ctx;
    /* A query-string argument by name, NULL when absent. */
    const char *(*query)(void *ctx, const char *name);
    arena *mem; /* per-request scratch memory, freed after the response */
} khttp_req;

typedef struct {
    int status;               /* 200 unless a handler sets another */
    const char *content_type; /* static string; default "application/json" */
    buf body;                 /* the response body (initialised by the server) */
    int n_headers;            /* extra response headers */
    const char *header_names[KHTTP_MAX_HEADERS];
    char header_values[KHTTP_MAX_HEADERS][96];
    /* What served the request, for the access log and metrics ("" / 0 when none). */
    char model[KHTTP_NAME_MAX];
    int64_t version;
    char actor[KHTTP_NAME_MAX + 8]; /* the authenticated caller (key name, "jwt:SUB"); "" */
    const char *error_reason;       /* short static reason for kiln_errors_total, NULL when ok */
} khttp_resp;

/* Convenience for handlers. */
const char *khttp_header(const khttp_req *q, const char *name);
const char *khttp_query(const khttp_req *q, const char *name);

/* Sets status and a body {"error": "<msg>"} (msg JSON-escaped), and the metric reason. */
void khttp_error(khttp_resp *r, int status, const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Maps a kstatus from request parsing to an HTTP status: K_LIMIT → 413, K_NOTFOUND → 404,
 * K_INVALID/K_RANGE → 422, K_FORMAT → 400, K_UNSUPPORTED → 400, K_BUSY → 503, else 500. */
int khttp_status_for(kstatus st);

/* Adds a response header (name must be a static string); ignored past KHTTP_MAX_HEADERS. */
void khttp_add_header(khttp_resp *r, const char *name, const char *value);

/* Appends `s` as a JSON string literal (quotes and escapes included). */
kstatus khttp_json_string(buf *b, const char *s);
/* Appends a double as JSON: shortest round-trip text; NaN and infinities as null. */
kstatus khttp_json_number(buf *b, double v);
/* Appends [v0,v1,…] with khttp_json_number. */
kstatus khttp_json_array(buf *b, const double *v, size_t n);

#endif
