/* tls.h — the server's TLS material for libmicrohttpd's GnuTLS support: the certificate chain
 * and private key (swappable at run time), the optional client-certificate CA (mutual TLS) and
 * the GnuTLS priority string (TLS 1.2+ or 1.3 only, AEAD ciphers with forward secrecy).
 *
 * Reloading: ktls_reload reads the files again and, only when they parse and the key matches the
 * certificate, makes them current; handshakes from then on get the new certificate. Connections
 * that may still refer to an older one keep it alive: every connection records the generation
 * current when it started (ktls_session_begin), and ktls_collect frees a retired certificate only
 * once no connection started at or before its generation is left.
 *
 * Client certificates (mTLS) are verified here, not by libmicrohttpd: each session gets a GnuTLS
 * verify function that checks the peer chain against ktls's own trust list (TLS-client key
 * purpose) under a read lock. ktls_reload re-reads the CA file too and swaps the list under the
 * write lock, so a handshake never sees a freed list; connections already open are not checked
 * again. Whether mTLS is on is fixed at ktls_new. */
#ifndef KILN_SERVE_TLS_H
#define KILN_SERVE_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <stdint.h>

#include "base/status.h"

typedef struct ktls ktls;

typedef struct {
    const char *cert_file;         /* PEM: the certificate, then any intermediates */
    const char *key_file;          /* PEM private key matching the certificate; may be encrypted */
    const char *key_password_file; /* first line: passphrase of an encrypted key; NULL/"": none */
    const char *client_ca_file;    /* PEM CA(s); NULL or "": no client certificates (not mTLS) */
    const char *min_version;       /* "1.2" (NULL or "": the default) or "1.3" */
} ktls_options;

/* Loads the files; fails clearly when libmicrohttpd was built without TLS. Caller frees. */
kstatus ktls_new(const ktls_options *o, ktls **out, kerr *e);
/* Frees everything, retired certificates included (only once no connection is left). */
void ktls_free(ktls *t);

/* For MHD_OPTION_HTTPS_PRIORITIES; owned by t and valid until ktls_free. */
const char *ktls_priorities(const ktls *t);
/* For MHD_OPTION_HTTPS_CERT_CALLBACK: hands GnuTLS the current certificate and key (still owned
 * by the ktls the session was tied to; retired ones stay alive as described above). */
gnutls_certificate_retrieve_function2 ktls_retrieve;

/* Per connection, before its handshake (libmicrohttpd's "connection started" notification):
 * ties the GnuTLS session `session` to t, requires and verifies a client certificate when mTLS
 * is on, and returns the generation the connection may use from. */
uint64_t ktls_session_begin(ktls *t, gnutls_session_t session);

/* Re-reads the certificate, key (and passphrase) and, with mTLS, the client CA file; on any error
 * keeps all the current ones and says why. */
kstatus ktls_reload(ktls *t, kerr *e);
/* Frees retired certificates no connection can still use: `oldest` is the smallest generation
 * among open connections (UINT64_MAX when there are none). */
void ktls_collect(ktls *t, uint64_t oldest);

#endif
