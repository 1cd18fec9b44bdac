/* server.h — the HTTP server: libmicrohttpd (epoll, a thread pool sized to the cores) in front
 * of the router, with the limits, request ids and access log every request goes through.
 *
 * Limits: bodies over max_body_bytes are refused with 413 before they are read; request
 * headers over max_header_bytes get 431; connections past max_connections are refused; a
 * connection idle for idle_timeout_s is closed, and so is one that has not delivered a whole
 * request within request_timeout_s of starting it (a client trickling headers or a body a byte
 * at a time — slowloris — is cut off even though it is never idle).
 *
 * HTTPS: with tls_cert_file and tls_key_file the server speaks only TLS (1.2+, or 1.3 only), and
 * with tls_client_ca_file it requires a client certificate signed by that CA (a client without
 * one fails the handshake with a TLS alert and never gets an HTTP response). kserver_reload_tls
 * swaps in re-read certificate, key and client CA files for new handshakes; open connections
 * carry on. */
#ifndef KILN_SERVER_H
#define KILN_SERVER_H

#include <stdio.h>

#include "serve/handlers.h"

typedef struct kserver kserver;

typedef struct {
    char host[64]; /* "127.0.0.1", "0.0.0.0", "::1", "::" */
    int port;      /* 0: any free port (see kserver_port) */
    int threads;   /* 0: one per core */
    size_t max_body_bytes;
    size_t max_header_bytes;
    unsigned max_connections;
    unsigned idle_timeout_s;
    unsigned request_timeout_s; /* whole request (headers and body) must arrive in this; 0:
                                   idle_timeout_s */
    FILE *access_log;           /* one JSON line per request; NULL: off */
    /* TLS (paths are copied): cert and key both set = HTTPS, neither (NULL or "") = plain HTTP */
    const char *tls_cert_file, *tls_key_file;
    /* first line: passphrase of an encrypted tls_key_file; NULL/"": none */
    const char *tls_key_password_file;
    const char *tls_client_ca_file; /* require client certificates from this CA; NULL/"": no */
    const char *tls_min_version;    /* "1.2" (NULL/"": the default) or "1.3" */
} kserver_options;

/* Starts serving `ctx` (which must outlive the server). */
kstatus kserver_start(kserve_ctx *ctx, const kserver_options *o, kserver **out, kerr *e);
int kserver_port(const kserver *s);
/* 1 when the server speaks HTTPS. */
int kserver_tls(const kserver *s);
/* Re-reads the TLS certificate, key (and passphrase) and, with mTLS, client CA files: new
 * handshakes get them, open connections keep theirs. On any error (unreadable, malformed, key
 * not matching or not decrypting, expired, no CA) all the current ones stay and `e` says why.
 * Without TLS: K_OK, nothing done. */
kstatus kserver_reload_tls(kserver *s, kerr *e);
/* Stops accepting new connections; requests in flight go on. */
void kserver_quiesce(kserver *s);
/* Requests received but not yet answered, plus connections accepted in the last second that
 * have not completed their first request's headers yet (for draining on shutdown). */
int kserver_in_flight(const kserver *s);
/* Flushes the access log (also done on its own every 200 ms while requests arrive). */
void kserver_flush_log(kserver *s);
/* Stops and frees the server (closing remaining connections). */
void kserver_stop(kserver *s);

#endif
