/* server.c — libmicrohttpd glue: accumulates bodies within limits, builds a khttp_req, runs the
 * router, sends the khttp_resp with X-Request-Id, and writes the access log; TLS through
 * serve/tls.c (certificate callback, per-connection generation for safe reloads). */
#include "serve/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "monitor/metrics.h"
#include "serve/router.h"
#include "serve/tls.h"

#define LOG_BUF (64 * 1024)
#define DISCARD_MIN ((size_t)1 << 20)
#define DISCARD_MAX ((size_t)64 << 20)

/* One open connection, for the request-deadline reaper. */
typedef struct conn_entry {
    struct conn_entry *prev, *next;
    int fd;
    int state;         /* 0 waiting for a request, 1 receiving one, 2 answered */
    uint64_t since_us; /* start of the current state */
    int cut;           /* already shut down by the reaper */
    int served;        /* has answered at least one request */
    uint64_t tls_gen;  /* TLS certificate generation current when it started */
} conn_entry;
#define SCRATCH_LIMIT ((size_t)1 << 30)

struct kserver {
    struct MHD_Daemon *d;
    kserve_ctx *ctx;
    kserver_options o;
    atomic_int in_flight;
    atomic_ullong next_id;
    char id_prefix[9];
    pthread_mutex_t log_lock;
    char log_buf[LOG_BUF];
    size_t log_len;
    uint64_t log_flushed_us;
    pthread_key_t scratch_key;
    pthread_mutex_t conns_lock;
    conn_entry *conns;
    pthread_t reaper;
    int reaper_running, stopping;
    size_t discard_max;
    ktls *tls; /* NULL: plain HTTP */
};

typedef struct {
    buf body;
    int too_large, answered;
    size_t discarded;
    uint64_t t0_us;
    char request_id[65];
    conn_entry *conn;
} req_state;

static void set_state(kserver *s, conn_entry *c, int state);

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- access log ------------------------------------------------------------------------------ */

static void flush_locked(kserver *s)
{
    if (s->log_len && s->o.access_log) {
        fwrite(s->log_buf, 1, s->log_len, s->o.access_log);
        fflush(s->o.access_log);
    }
    s->log_len = 0;
    s->log_flushed_us = now_us();
}

void kserver_flush_log(kserver *s)
{
    pthread_mutex_lock(&s->log_lock);
    flush_locked(s);
    pthread_mutex_unlock(&s->log_lock);
}

static void log_request(kserver *s, const req_state *st, const char *method, const char *path,
                        const khttp_resp *r)
{
    char line[1280], when[32], model[KHTTP_NAME_MAX + 32] = "null";
    char actor[KHTTP_NAME_MAX + 40] = "null";
    buf esc;
    buf_init(&esc, 600);
    khttp_json_string(&esc, path);
    buf_append(&esc, "", 1);
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (r->model[0]) snprintf(model, sizeof model, "\"%s\"", r->model);
    if (r->actor[0]) snprintf(actor, sizeof actor, "\"%s\"", r->actor);
    int n = snprintf(line, sizeof line,
                     "{\"time\":\"%s\",\"request_id\":\"%s\",\"method\":\"%.10s\",\"path\":%s,"
                     "\"status\":%d,\"latency_us\":%llu,\"model\":%s,\"version\":%lld,"
                     "\"bytes_in\":%zu,\"bytes_out\":%zu,\"caller\":%s}\n",
                     when, st->request_id, method, esc.data ? (char *)esc.data : "\"\"", r->status,
                     (unsigned long long)(now_us() - st->t0_us), model, (long long)r->version,
                     st->body.len, r->body.len, actor);
    buf_free(&esc);
    if (n <= 0 || (size_t)n >= sizeof line) return;
    pthread_mutex_lock(&s->log_lock);
    if (s->log_len + (size_t)n > sizeof s->log_buf) flush_locked(s);
    memcpy(s->log_buf + s->log_len, line, (size_t)n);
    s->log_len += (size_t)n;
    if (now_us() - s->log_flushed_us > 200000) flush_locked(s);
    pthread_mutex_unlock(&s->log_lock);
}

/* ---- request plumbing -------------------------------------------------------------------- */

static const char *header_of(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

static const char *query_of(void *conn, const char *name)
{
    return MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
}

/* X-Request-Id as given when it is sane (1-64 of [A-Za-z0-9._-]), else a fresh one. */
static void request_id(kserver *s, struct MHD_Connection *conn, char out[65])
{
    const char *given = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    size_t n = given ? strlen(given) : 0;
    if (n >= 1 && n <= 64 &&
        strspn(given, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      "0123456789._-") == n) {
        memcpy(out, given, n + 1);
        return;
    }
    unsigned long long id = atomic_fetch_add(&s->next_id, 1);
    static const char hex[] = "0123456789abcdef";
    memcpy(out, s->id_prefix, 8);
    for (int i = 19; i >= 8; i--, id >>= 4)
        out[i] = hex[id & 15];
    out[20] = 0;
}

static arena *scratch(kserver *s)
{
    arena *a = pthread_getspecific(s->scratch_key);
    if (!a) {
        a = arena_new(SCRATCH_LIMIT);
        pthread_setspecific(s->scratch_key, a);
    }
    if (a) arena_reset(a);
    return a;
}

/* Sends r; the body buffer moves to libmicrohttpd (no copy), r->body keeps only its length. */
/* The connection's peer address as text, for the audit log. */
static void peer_address(struct MHD_Connection *conn, char *out, size_t size)
{
    out[0] = 0;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)size);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)size);
}

/* Every answer: no MIME sniffing, no caching of predictions or errors by browsers and proxies
 * (OWASP's REST headers), and over HTTPS a year of HSTS. */
static void security_headers(struct MHD_Response *resp, int tls)
{
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    if (tls) MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result send_resp(struct MHD_Connection *conn, const req_state *st, khttp_resp *r,
                                 int tls)
{
    struct MHD_Response *resp;
    if (r->body.data) {
        resp = MHD_create_response_from_buffer(r->body.len, r->body.data, MHD_RESPMEM_MUST_FREE);
        if (!resp) free(r->body.data);
        r->body.data = NULL;
        r->body.cap = 0;
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    if (!resp) return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                            r->content_type ? r->content_type : "application/json");
    MHD_add_response_header(resp, "X-Request-Id", st->request_id);
    security_headers(resp, tls);
    for (int i = 0; i < r->n_headers; i++)
        MHD_add_response_header(resp, r->header_names[i], r->header_values[i]);
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* The answered request into the metrics: its model's series, status, latency and sizes. */
static void record(kserver *s, const req_state *st, const khttp_resp *r)
{
    kmetrics *m = s->ctx->metrics;
    if (!m) return;
    kseries_request(kmetrics_series(m, r->model, r->version), r->status,
                    (now_us() - st->t0_us) * 1000u, st->body.len, r->body.len);
    if (r->error_reason) kmetrics_error(m, r->error_reason);
}

static enum MHD_Result respond(kserver *s, struct MHD_Connection *conn, req_state *st,
                               const char *url, const char *method)
{
    khttp_resp r = {.status = 200};
    buf_init(&r.body, (size_t)1 << 30);
    if (st->too_large) {
        khttp_error(&r, 413, "too_large", "request body exceeds the limit of %zu bytes",
                    s->o.max_body_bytes);
    } else {
        arena *mem = scratch(s);
        buf_append(&st->body, "", 1); /* NUL-terminate for handlers; not counted */
        st->body.len--;
        char client[64];
        peer_address(conn, client, sizeof client);
        khttp_req q = {.method = method,
                       .client = client,
                       .path = url,
                       .body = st->body.data ? (const char *)st->body.data : "",
                       .body_len = st->body.len,
                       .request_id = st->request_id,
                       .header = header_of,
                       .query = query_of,
                       .header_ctx = conn,
                       .mem = mem};
        if (!mem)
            khttp_error(&r, 503, "overloaded", "out of memory");
        else
            router_dispatch(s->ctx, &q, &r);
    }
    record(s, st, &r);
    enum MHD_Result ok = send_resp(conn, st, &r, s->tls != NULL);
    st->answered = 1;
    set_state(s, st->conn, 2);
    if (s->o.access_log) log_request(s, st, method, url, &r);
    buf_free(&r.body);
    return ok;
}

static req_state *begin(kserver *s, struct MHD_Connection *conn)
{
    req_state *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->t0_us = now_us();
    buf_init(&st->body, s->o.max_body_bytes + 1);
    request_id(s, conn, st->request_id);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    st->conn = ci ? ci->socket_context : NULL;
    set_state(s, st->conn, 1);
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > s->o.max_body_bytes) st->too_large = 1;
    atomic_fetch_add(&s->in_flight, 1);
    if (s->ctx->metrics) kmetrics_in_flight(s->ctx->metrics, 1);
    return st;
}

/* Reads and drops the rest of an oversize body (up to a bound) so the 413 reaches a client that
 * is still sending; past the bound the connection is closed. */
static enum MHD_Result discard(kserver *s, req_state *st, size_t *upload_size)
{
    st->discarded += *upload_size;
    *upload_size = 0;
    return st->discarded > s->discard_max ? MHD_NO : MHD_YES;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    kserver *s = cls;
    req_state *st = *con_cls;
    if (!st) {
        if (!(*con_cls = st = begin(s, conn))) return MHD_NO;
        /* A body announced far past the limit is refused at once, without reading it. */
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (st->too_large && cl && strtoull(cl, NULL, 10) > s->discard_max)
            return respond(s, conn, st, url, method);
        return MHD_YES;
    }
    if (*upload_size) {
        if (st->too_large || st->answered) return discard(s, st, upload_size);
        if (buf_append(&st->body, upload, *upload_size)) {
            st->too_large = 1;
            return discard(s, st, upload_size);
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return st->answered ? MHD_YES : respond(s, conn, st, url, method);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                      enum MHD_RequestTerminationCode why)
{
    kserver *s = cls;
    req_state *st = *con_cls;
    if (!st) return;
    set_state(s, st->conn, 0);
    buf_free(&st->body);
    free(st);
    *con_cls = NULL;
    atomic_fetch_sub(&s->in_flight, 1);
    if (s->ctx->metrics) kmetrics_in_flight(s->ctx->metrics, -1);
}

/* ---- request deadline --------------------------------------------------------------------- */

static void set_state(kserver *s, conn_entry *c, int state)
{
    if (!c) return;
    pthread_mutex_lock(&s->conns_lock);
    c->state = state;
    c->since_us = now_us();
    c->served |= state == 2;
    pthread_mutex_unlock(&s->conns_lock);
}

/* Before the handshake: ties the GnuTLS session to the certificates (without this the handshake
 * fails) and remembers which certificate generation the connection may use. */
static void tls_begin(kserver *s, struct MHD_Connection *conn, conn_entry *c)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (i && i->tls_session) c->tls_gen = ktls_session_begin(s->tls, i->tls_session);
}

static void notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                              enum MHD_ConnectionNotificationCode code)
{
    kserver *s = cls;
    conn_entry *c = *socket_context;
    pthread_mutex_lock(&s->conns_lock);
    if (code == MHD_CONNECTION_NOTIFY_STARTED && (c = calloc(1, sizeof *c))) {
        const union MHD_ConnectionInfo *i =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c->fd = i ? i->connect_fd : -1;
        c->since_us = now_us();
        if (s->tls) tls_begin(s, conn, c);
        c->next = s->conns;
        if (s->conns) s->conns->prev = c;
        s->conns = c;
        *socket_context = c;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && c) {
        /* libmicrohttpd closes the socket after this notification, so the reaper (which holds
         * the same lock) never shuts down a descriptor that was reused. */
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next) c->next->prev = c->prev;
        free(c);
        *socket_context = NULL;
    }
    pthread_mutex_unlock(&s->conns_lock);
}

/* Every 250 ms: shut down connections that have not delivered a whole request in time. */
static void *reap(void *arg)
{
    kserver *s = arg;
    uint64_t limit =
        (uint64_t)(s->o.request_timeout_s ? s->o.request_timeout_s : s->o.idle_timeout_s) *
        1000000u;
    for (;;) {
        pthread_mutex_lock(&s->conns_lock);
        int stop = s->stopping;
        uint64_t now = now_us(), oldest = UINT64_MAX;
        for (conn_entry *c = s->conns; c && !stop; c = c->next) {
            if (c->state != 2 && !c->cut && c->fd >= 0 && now - c->since_us > limit) {
                shutdown(c->fd, SHUT_RDWR); /* libmicrohttpd sees the end and cleans up */
                c->cut = 1;
            }
            if (c->tls_gen < oldest) oldest = c->tls_gen;
        }
        pthread_mutex_unlock(&s->conns_lock);
        if (stop) return NULL;
        if (s->tls) ktls_collect(s->tls, oldest); /* certificates no connection can still use */
        nanosleep(&(struct timespec){0, 250 * 1000000L}, NULL);
    }
}

static void quiet_logger(void *cls, const char *fmt, va_list ap)
{
    /* libmicrohttpd's own messages (malformed requests, client resets) are not ours to print:
     * each one already became a status code or a closed connection. */
}

static void free_scratch(void *a)
{
    arena_free(a);
}

/* ---- lifecycle --------------------------------------------------------------------------- */

static kstatus parse_addr(const kserver_options *o, struct sockaddr_storage *ss, int *v6, kerr *e)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, o->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)o->port);
        *v6 = 0;
        return K_OK;
    }
    if (inet_pton(AF_INET6, o->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)o->port);
        *v6 = 1;
        return K_OK;
    }
    return kerr_set(e, K_INVALID, "cannot listen on '%s': not an IPv4 or IPv6 address", o->host);
}

static unsigned thread_count(const kserver_options *o)
{
    if (o->threads > 0) return (unsigned)o->threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

static int is_set(const char *v)
{
    return v && *v;
}

/* Loads the TLS material when asked for, and the libmicrohttpd options that use it (an empty
 * list for plain HTTP). */
static kstatus start_tls(kserver *s, const kserver_options *o, struct MHD_OptionItem *it, kerr *e)
{
    it[0] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if (!is_set(o->tls_cert_file) && !is_set(o->tls_key_file) && !is_set(o->tls_client_ca_file) &&
        !is_set(o->tls_key_password_file))
        return K_OK;
    ktls_options to = {.cert_file = o->tls_cert_file,
                       .key_file = o->tls_key_file,
                       .key_password_file = o->tls_key_password_file,
                       .client_ca_file = o->tls_client_ca_file,
                       .min_version = o->tls_min_version};
    kstatus st = ktls_new(&to, &s->tls, e);
    if (st) return st;
    int n = 0;
    it[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)ktls_retrieve};
    it[n++] =
        (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)ktls_priorities(s->tls)};
    it[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return K_OK;
}

kstatus kserver_start(kserve_ctx *ctx, const kserver_options *o, kserver **out, kerr *e)
{
    kserver *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(e, K_NOMEM, "out of memory");
    s->ctx = ctx;
    s->o = *o;
    pthread_mutex_init(&s->log_lock, NULL);
    pthread_key_create(&s->scratch_key, free_scratch);
    pthread_mutex_init(&s->conns_lock, NULL);
    s->discard_max = o->max_body_bytes * 8;
    if (s->discard_max < DISCARD_MIN) s->discard_max = DISCARD_MIN;
    if (s->discard_max > DISCARD_MAX) s->discard_max = DISCARD_MAX;
    unsigned char rnd[4];
    randombytes_buf(rnd, sizeof rnd);
    snprintf(s->id_prefix, sizeof s->id_prefix, "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
    struct sockaddr_storage addr;
    struct MHD_OptionItem tls_opts[4];
    int v6 = 0;
    kstatus st = parse_addr(o, &addr, &v6, e);
    if (!st) st = start_tls(s, o, tls_opts, e);
    if (st) {
        kserver_stop(s);
        return st;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_TURBO |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) | (s->tls ? MHD_USE_TLS : 0);
    s->d = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR, &addr,
        MHD_OPTION_THREAD_POOL_SIZE, thread_count(o), MHD_OPTION_CONNECTION_LIMIT,
        o->max_connections, MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header_bytes, MHD_OPTION_NOTIFY_COMPLETED,
        completed, s, MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s,
        MHD_OPTION_EXTERNAL_LOGGER, quiet_logger, s, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!s->d) {
        kserver_stop(s);
        return kerr_set(e, K_IO, "cannot listen on %s:%d (address in use, or not allowed)", o->host,
                        o->port);
    }
    if (pthread_create(&s->reaper, NULL, reap, s) == 0) s->reaper_running = 1;
    *out = s;
    return K_OK;
}

int kserver_tls(const kserver *s)
{
    return s->tls != NULL;
}

kstatus kserver_reload_tls(kserver *s, kerr *e)
{
    return s->tls ? ktls_reload(s->tls, e) : K_OK;
}

int kserver_port(const kserver *s)
{
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    return i ? (int)i->port : -1;
}

void kserver_quiesce(kserver *s)
{
    if (!s->d) return;
    MHD_socket fd = MHD_quiesce_daemon(s->d);
    if (fd != MHD_INVALID_SOCKET) close(fd); /* ours to close once quiesced */
}

int kserver_in_flight(const kserver *s)
{
    kserver *m = (kserver *)s;
    int n = atomic_load(&m->in_flight);
    /* A connection accepted in the last second that has not begun a request yet is most likely
     * sending one: count it, so shutdown does not cut it off. */
    uint64_t now = now_us();
    pthread_mutex_lock(&m->conns_lock);
    for (conn_entry *c = m->conns; c; c = c->next)
        n += c->state == 0 && !c->served && now - c->since_us < 1000000u;
    pthread_mutex_unlock(&m->conns_lock);
    return n;
}

void kserver_stop(kserver *s)
{
    if (!s) return;
    if (s->reaper_running) {
        pthread_mutex_lock(&s->conns_lock);
        s->stopping = 1;
        pthread_mutex_unlock(&s->conns_lock);
        pthread_join(s->reaper, NULL);
    }
    if (s->d) MHD_stop_daemon(s->d);
    ktls_free(s->tls); /* after the daemon: no handshake can use it any more */
    kserver_flush_log(s);
    pthread_key_delete(s->scratch_key);
    pthread_mutex_destroy(&s->log_lock);
    pthread_mutex_destroy(&s->conns_lock);
    free(s);
}
