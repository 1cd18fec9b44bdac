/* tls.c — GnuTLS certificate loading, the certificate callback libmicrohttpd calls on every
 * handshake, swaps on reload with generation-based retirement, and client-certificate checks. */
#include "serve/tls.h"

#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CHAIN 16
#define PATH_MAX_LEN 4096

/* A certificate chain and its key, as handed to GnuTLS. */
typedef struct cred {
    struct cred *next; /* retired list */
    uint64_t gen;      /* the generation it was current in */
    gnutls_pcert_st pcert[MAX_CHAIN];
    unsigned n;
    gnutls_privkey_t key;
} cred;

struct ktls {
    pthread_mutex_t lock;
    cred *cur;     /* what new handshakes get */
    cred *retired; /* replaced, freed by ktls_collect */
    uint64_t gen;
    char cert_file[PATH_MAX_LEN], key_file[PATH_MAX_LEN];
    char *ca_pem; /* NUL-terminated; NULL: no client certificates */
    char priorities[256];
};

/* AEAD ciphers with ECDHE forward secrecy only, no SHA-1 signatures; the server's preference
 * order wins. */
#define PRIO_CIPHERS                                                                               \
    ":-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:-MAC-ALL:+AEAD"                     \
    ":-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:-SIGN-DSA-SHA1"              \
    ":%SERVER_PRECEDENCE"

/* Client certificates must be meant for TLS client authentication (when they name a use). */
static gnutls_typed_vdata_st client_purpose[] = {
    {GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_CLIENT, 0}};

static void cred_free(cred *c)
{
    if (!c) return;
    for (unsigned i = 0; i < c->n; i++)
        gnutls_pcert_deinit(&c->pcert[i]);
    if (c->key) gnutls_privkey_deinit(c->key);
    free(c);
}

static kstatus read_file(const char *what, const char *path, gnutls_datum_t *d, kerr *e)
{
    int r = gnutls_load_file(path, d);
    if (r < 0) return kerr_set(e, K_IO, "%s: cannot read %s: %s", what, path, gnutls_strerror(r));
    return K_OK;
}

static kstatus load_chain(cred *c, const char *path, kerr *e)
{
    gnutls_datum_t d;
    kstatus st = read_file("tls_cert_file", path, &d, e);
    if (st) return st;
    c->n = MAX_CHAIN;
    int r = gnutls_pcert_list_import_x509_raw(c->pcert, &c->n, &d, GNUTLS_X509_FMT_PEM, 0);
    gnutls_free(d.data);
    if (r < 0 || c->n == 0) {
        c->n = 0;
        return kerr_set(e, K_FORMAT, "tls_cert_file: %s holds no usable PEM certificate: %s", path,
                        r < 0 ? gnutls_strerror(r) : "empty");
    }
    return K_OK;
}

static kstatus load_key(cred *c, const char *path, kerr *e)
{
    gnutls_datum_t d;
    kstatus st = read_file("tls_key_file", path, &d, e);
    if (st) return st;
    int r = gnutls_privkey_init(&c->key);
    if (r >= 0) r = gnutls_privkey_import_x509_raw(c->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
    gnutls_memset(d.data, 0, d.size);
    gnutls_free(d.data);
    if (r < 0)
        return kerr_set(e, K_FORMAT, "tls_key_file: %s is not an unencrypted PEM private key: %s",
                        path, gnutls_strerror(r));
    return K_OK;
}

/* The key must belong to the first certificate of the chain. */
static kstatus check_pair(const cred *c, kerr *e)
{
    unsigned char a[64], b[64];
    size_t na = sizeof a, nb = sizeof b;
    gnutls_pubkey_t pub = NULL;
    int r = gnutls_pubkey_init(&pub);
    if (r >= 0) r = gnutls_pubkey_import_privkey(pub, c->key, 0, 0);
    if (r >= 0) r = gnutls_pubkey_get_key_id(pub, GNUTLS_KEYID_USE_SHA256, a, &na);
    if (r >= 0) r = gnutls_pubkey_get_key_id(c->pcert[0].pubkey, GNUTLS_KEYID_USE_SHA256, b, &nb);
    gnutls_pubkey_deinit(pub);
    if (r < 0) return kerr_set(e, K_FORMAT, "tls_key_file: %s", gnutls_strerror(r));
    if (na != nb || memcmp(a, b, na) != 0)
        return kerr_set(e, K_INVALID,
                        "tls_key_file does not match the certificate in tls_cert_file");
    return K_OK;
}

/* A certificate past its end date is refused (a reload with it keeps the current one). */
static kstatus check_dates(const cred *c, kerr *e)
{
    gnutls_x509_crt_t crt;
    if (gnutls_x509_crt_init(&crt) < 0) return kerr_set(e, K_NOMEM, "out of memory");
    int r = gnutls_x509_crt_import(crt, &c->pcert[0].cert, GNUTLS_X509_FMT_DER);
    time_t until = r < 0 ? 0 : gnutls_x509_crt_get_expiration_time(crt);
    gnutls_x509_crt_deinit(crt);
    if (r < 0) return kerr_set(e, K_FORMAT, "tls_cert_file: %s", gnutls_strerror(r));
    if (until != (time_t)-1 && until < time(NULL))
        return kerr_set(e, K_INVALID, "tls_cert_file: the certificate has expired");
    return K_OK;
}

static kstatus load_cred(const ktls *t, cred **out, kerr *e)
{
    cred *c = calloc(1, sizeof *c);
    if (!c) return kerr_set(e, K_NOMEM, "out of memory");
    kstatus st = load_chain(c, t->cert_file, e);
    if (!st) st = load_key(c, t->key_file, e);
    if (!st) st = check_pair(c, e);
    if (!st) st = check_dates(c, e);
    if (st) {
        cred_free(c);
        return st;
    }
    *out = c;
    return K_OK;
}

static kstatus load_ca(ktls *t, const char *path, kerr *e)
{
    gnutls_datum_t d;
    kstatus st = read_file("tls_client_ca_file", path, &d, e);
    if (st) return st;
    gnutls_x509_crt_t *list = NULL;
    unsigned n = 0;
    int r = gnutls_x509_crt_list_import2(&list, &n, &d, GNUTLS_X509_FMT_PEM, 0);
    for (unsigned i = 0; r >= 0 && i < n; i++)
        gnutls_x509_crt_deinit(list[i]);
    gnutls_free(list);
    if (r >= 0 && n > 0 && (t->ca_pem = malloc(d.size + 1))) {
        memcpy(t->ca_pem, d.data, d.size);
        t->ca_pem[d.size] = 0;
    }
    gnutls_free(d.data);
    if (r < 0 || n == 0)
        return kerr_set(e, K_FORMAT, "tls_client_ca_file: %s holds no PEM certificate", path);
    return t->ca_pem ? K_OK : kerr_set(e, K_NOMEM, "out of memory");
}

static int set(const char *s)
{
    return s && *s;
}

static kstatus check_options(const ktls_options *o, kerr *e)
{
    if (!MHD_is_feature_supported(MHD_FEATURE_TLS) ||
        !MHD_is_feature_supported(MHD_FEATURE_HTTPS_CERT_CALLBACK))
        return kerr_set(e, K_UNSUPPORTED,
                        "HTTPS is not available: this libmicrohttpd was built without TLS "
                        "(GnuTLS) support");
    if (set(o->cert_file) != set(o->key_file))
        return kerr_set(e, K_INVALID,
                        "tls_cert_file and tls_key_file go together: set both for HTTPS, or "
                        "neither");
    if (!set(o->cert_file))
        return kerr_set(e, K_INVALID, "tls_client_ca_file needs tls_cert_file and tls_key_file");
    if (set(o->min_version) && strcmp(o->min_version, "1.2") && strcmp(o->min_version, "1.3"))
        return kerr_set(e, K_INVALID, "tls_min_version: expected 1.2 or 1.3, got '%.20s'",
                        o->min_version);
    if (strlen(o->cert_file) >= PATH_MAX_LEN || strlen(o->key_file) >= PATH_MAX_LEN)
        return kerr_set(e, K_INVALID, "tls_cert_file or tls_key_file: path too long");
    return K_OK;
}

kstatus ktls_new(const ktls_options *o, ktls **out, kerr *e)
{
    kstatus st = check_options(o, e);
    if (st) return st;
    ktls *t = calloc(1, sizeof *t);
    if (!t) return kerr_set(e, K_NOMEM, "out of memory");
    pthread_mutex_init(&t->lock, NULL);
    snprintf(t->cert_file, sizeof t->cert_file, "%s", o->cert_file);
    snprintf(t->key_file, sizeof t->key_file, "%s", o->key_file);
    int tls13 = set(o->min_version) && !strcmp(o->min_version, "1.3");
    snprintf(t->priorities, sizeof t->priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.3%s%s",
             tls13 ? "" : ":+VERS-TLS1.2", PRIO_CIPHERS);
    st = load_cred(t, &t->cur, e);
    if (!st && set(o->client_ca_file)) st = load_ca(t, o->client_ca_file, e);
    if (st) {
        ktls_free(t);
        return st;
    }
    *out = t;
    return K_OK;
}

void ktls_free(ktls *t)
{
    if (!t) return;
    ktls_collect(t, UINT64_MAX);
    cred_free(t->cur);
    free(t->ca_pem);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

const char *ktls_priorities(const ktls *t)
{
    return t->priorities;
}

const char *ktls_client_ca_pem(const ktls *t)
{
    return t->ca_pem;
}

int ktls_retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                  const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                  gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *pkey)
{
    ktls *t = gnutls_db_get_ptr(session);
    if (!t) return -1; /* a session ktls_session_begin never saw: no certificate for it */
    pthread_mutex_lock(&t->lock);
    *pcert = t->cur->pcert;
    *pcert_length = t->cur->n;
    *pkey = t->cur->key;
    pthread_mutex_unlock(&t->lock);
    return 0;
}

uint64_t ktls_session_begin(ktls *t, gnutls_session_t session)
{
    gnutls_db_set_ptr(session, t);
    if (t->ca_pem) {
        /* No certificate, or one that does not verify against the CA: the handshake fails
         * with a TLS alert, so the client never gets an HTTP response. */
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_cert2(session, client_purpose, 1, 0);
    }
    pthread_mutex_lock(&t->lock);
    uint64_t gen = t->gen;
    pthread_mutex_unlock(&t->lock);
    return gen;
}

kstatus ktls_reload(ktls *t, kerr *e)
{
    cred *c = NULL;
    kstatus st = load_cred(t, &c, e);
    if (st) {
        kerr_prefix(e, "keeping the current certificate");
        return st;
    }
    pthread_mutex_lock(&t->lock);
    cred *old = t->cur;
    old->gen = t->gen++;
    old->next = t->retired;
    t->retired = old;
    c->gen = t->gen;
    t->cur = c;
    pthread_mutex_unlock(&t->lock);
    return K_OK;
}

void ktls_collect(ktls *t, uint64_t oldest)
{
    pthread_mutex_lock(&t->lock);
    for (cred **p = &t->retired; *p;) {
        cred *c = *p;
        if (c->gen < oldest) {
            *p = c->next;
            cred_free(c);
        } else {
            p = &c->next;
        }
    }
    pthread_mutex_unlock(&t->lock);
}
