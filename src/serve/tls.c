/* tls.c — GnuTLS certificate and (possibly encrypted) key loading, the certificate callback
 * libmicrohttpd calls on every handshake, swaps on reload with generation-based retirement, and
 * client-certificate checks against a trust list of our own that a reload swaps under a lock. */
#include "serve/tls.h"

#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fs.h"

#define MAX_CHAIN 16
#define PATH_MAX_LEN 4096
#define PASS_MAX 1024

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
    char cert_file[PATH_MAX_LEN], key_file[PATH_MAX_LEN], pass_file[PATH_MAX_LEN];
    char ca_file[PATH_MAX_LEN];     /* "": no client certificates (not mTLS) */
    pthread_rwlock_t ca_lock;       /* read: a handshake verifying; write: a reload swapping */
    gnutls_x509_trust_list_t trust; /* the client CAs; NULL when not mTLS */
    int mtls;                       /* fixed at ktls_new: trust is set */
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

/* PKCS#8 "ENCRYPTED PRIVATE KEY", or OpenSSL's traditional encrypted PEM. */
static int pem_encrypted(const gnutls_datum_t *d)
{
    static const char *marks[] = {"-----BEGIN ENCRYPTED PRIVATE KEY-----",
                                  "Proc-Type: 4,ENCRYPTED"};
    for (size_t i = 0; i < sizeof marks / sizeof *marks; i++)
        if (memmem(d->data, d->size, marks[i], strlen(marks[i]))) return 1;
    return 0;
}

/* The first line of the password file into pass[PASS_MAX]; the file's bytes are wiped. */
static kstatus read_pass(const char *path, char *pass, kerr *e)
{
    kstatus st = fs_read_secret_line(path, pass, PASS_MAX, e);
    if (st) kerr_prefix(e, "tls_key_password_file");
    return st;
}

static kstatus import_key(cred *c, const gnutls_datum_t *d, const char *pass, const char *path,
                          kerr *e)
{
    int r = gnutls_privkey_init(&c->key);
    if (r >= 0) r = gnutls_privkey_import_x509_raw(c->key, d, GNUTLS_X509_FMT_PEM, pass, 0);
    if (r >= 0) return K_OK;
    if (pass)
        return kerr_set(e, K_INVALID,
                        "tls_key_file: %s cannot be decrypted with the passphrase in "
                        "tls_key_password_file (wrong passphrase?): %s",
                        path, gnutls_strerror(r));
    return kerr_set(e, K_FORMAT, "tls_key_file: %s is not a PEM private key: %s", path,
                    gnutls_strerror(r));
}

/* Reads the key, decrypting it with the passphrase file when it is encrypted; every copy of the
 * key and passphrase bytes is wiped. */
static kstatus load_key(cred *c, const ktls *t, kerr *e)
{
    gnutls_datum_t d;
    kstatus st = read_file("tls_key_file", t->key_file, &d, e);
    if (st) return st;
    char pass[PASS_MAX] = "";
    int enc = pem_encrypted(&d);
    if (enc && !t->pass_file[0])
        st = kerr_set(e, K_INVALID, "tls_key_file: %s is encrypted: set tls_key_password_file",
                      t->key_file);
    else if (enc)
        st = read_pass(t->pass_file, pass, e);
    if (!st) st = import_key(c, &d, enc ? pass : NULL, t->key_file, e);
    gnutls_memset(pass, 0, sizeof pass);
    gnutls_memset(d.data, 0, d.size);
    gnutls_free(d.data);
    return st;
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
    if (!st) st = load_key(c, t, e);
    if (!st) st = check_pair(c, e);
    if (!st) st = check_dates(c, e);
    if (st) {
        cred_free(c);
        return st;
    }
    *out = c;
    return K_OK;
}

/* A trust list of the CA certificates in path (at least one). */
static kstatus load_trust(const char *path, gnutls_x509_trust_list_t *out, kerr *e)
{
    gnutls_datum_t d;
    kstatus st = read_file("tls_client_ca_file", path, &d, e);
    if (st) return st;
    gnutls_x509_trust_list_t l = NULL;
    int r = gnutls_x509_trust_list_init(&l, 0);
    if (r >= 0) r = gnutls_x509_trust_list_add_trust_mem(l, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    gnutls_free(d.data);
    if (r <= 0) {
        if (l) gnutls_x509_trust_list_deinit(l, 1);
        return kerr_set(e, K_FORMAT, "tls_client_ca_file: %s holds no PEM certificate%s%s", path,
                        r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
    }
    *out = l;
    return K_OK;
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
        return kerr_set(e, K_INVALID, "%s needs tls_cert_file and tls_key_file",
                        set(o->client_ca_file) ? "tls_client_ca_file" : "tls_key_password_file");
    if (set(o->min_version) && strcmp(o->min_version, "1.2") && strcmp(o->min_version, "1.3"))
        return kerr_set(e, K_INVALID, "tls_min_version: expected 1.2 or 1.3, got '%.20s'",
                        o->min_version);
    const char *paths[] = {o->cert_file, o->key_file, o->key_password_file, o->client_ca_file};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (paths[i] && strlen(paths[i]) >= PATH_MAX_LEN)
            return kerr_set(e, K_INVALID, "tls_*_file: path too long");
    return K_OK;
}

kstatus ktls_new(const ktls_options *o, ktls **out, kerr *e)
{
    kstatus st = check_options(o, e);
    if (st) return st;
    ktls *t = calloc(1, sizeof *t);
    if (!t) return kerr_set(e, K_NOMEM, "out of memory");
    pthread_mutex_init(&t->lock, NULL);
    pthread_rwlock_init(&t->ca_lock, NULL);
    snprintf(t->cert_file, sizeof t->cert_file, "%s", o->cert_file);
    snprintf(t->key_file, sizeof t->key_file, "%s", o->key_file);
    snprintf(t->pass_file, sizeof t->pass_file, "%s",
             set(o->key_password_file) ? o->key_password_file : "");
    snprintf(t->ca_file, sizeof t->ca_file, "%s", set(o->client_ca_file) ? o->client_ca_file : "");
    int tls13 = set(o->min_version) && !strcmp(o->min_version, "1.3");
    snprintf(t->priorities, sizeof t->priorities, "NORMAL:-VERS-ALL:+VERS-TLS1.3%s%s",
             tls13 ? "" : ":+VERS-TLS1.2", PRIO_CIPHERS);
    st = load_cred(t, &t->cur, e);
    t->mtls = t->ca_file[0] != 0;
    if (!st && t->mtls) st = load_trust(t->ca_file, &t->trust, e);
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
    if (t->trust) gnutls_x509_trust_list_deinit(t->trust, 1);
    pthread_rwlock_destroy(&t->ca_lock);
    pthread_mutex_destroy(&t->lock);
    free(t);
}

const char *ktls_priorities(const ktls *t)
{
    return t->priorities;
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

/* The peer's DER chain as certificates; 0 (nothing to free) when it cannot be read. */
static unsigned import_peers(gnutls_session_t session, gnutls_x509_crt_t *chain)
{
    unsigned n = 0, i = 0;
    const gnutls_datum_t *der = gnutls_certificate_get_peers(session, &n);
    if (!der || n == 0 || n > MAX_CHAIN) return 0;
    for (; i < n; i++) {
        if (gnutls_x509_crt_init(&chain[i]) < 0) break;
        if (gnutls_x509_crt_import(chain[i], &der[i], GNUTLS_X509_FMT_DER) < 0) {
            gnutls_x509_crt_deinit(chain[i]);
            break;
        }
    }
    if (i == n) return n;
    while (i > 0)
        gnutls_x509_crt_deinit(chain[--i]);
    return 0;
}

/* GnuTLS calls this once the client's certificate arrived: 0 lets the handshake go on; anything
 * else ends it with an alert. Checked against the trust list current now, under the read lock. */
static int verify_client(gnutls_session_t session)
{
    ktls *t = gnutls_db_get_ptr(session);
    gnutls_x509_crt_t chain[MAX_CHAIN];
    unsigned n = t ? import_peers(session, chain) : 0;
    if (n == 0) return -1;
    unsigned status = 0;
    pthread_rwlock_rdlock(&t->ca_lock);
    int r =
        gnutls_x509_trust_list_verify_crt2(t->trust, chain, n, client_purpose, 1, 0, &status, NULL);
    pthread_rwlock_unlock(&t->ca_lock);
    for (unsigned i = 0; i < n; i++)
        gnutls_x509_crt_deinit(chain[i]);
    return r < 0 || status != 0 ? -1 : 0;
}

uint64_t ktls_session_begin(ktls *t, gnutls_session_t session)
{
    gnutls_db_set_ptr(session, t);
    if (t->mtls) {
        /* No certificate, or one that does not verify against the CA: the handshake fails
         * with a TLS alert, so the client never gets an HTTP response. No CA names are sent
         * (they could be stale after a reload); clients send their certificate regardless. */
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        gnutls_certificate_send_x509_rdn_sequence(session, 1);
        gnutls_session_set_verify_function(session, verify_client);
    }
    pthread_mutex_lock(&t->lock);
    uint64_t gen = t->gen;
    pthread_mutex_unlock(&t->lock);
    return gen;
}

static void swap_cred(ktls *t, cred *c)
{
    pthread_mutex_lock(&t->lock);
    cred *old = t->cur;
    old->gen = t->gen++;
    old->next = t->retired;
    t->retired = old;
    c->gen = t->gen;
    t->cur = c;
    pthread_mutex_unlock(&t->lock);
}

/* No verification holds the read lock once the write lock is ours: the old list is unused. */
static void swap_trust(ktls *t, gnutls_x509_trust_list_t trust)
{
    pthread_rwlock_wrlock(&t->ca_lock);
    gnutls_x509_trust_list_t old = t->trust;
    t->trust = trust;
    pthread_rwlock_unlock(&t->ca_lock);
    gnutls_x509_trust_list_deinit(old, 1);
}

kstatus ktls_reload(ktls *t, kerr *e)
{
    cred *c = NULL;
    gnutls_x509_trust_list_t trust = NULL;
    kstatus st = load_cred(t, &c, e);
    if (!st && t->mtls) st = load_trust(t->ca_file, &trust, e);
    if (st) {
        cred_free(c);
        kerr_prefix(e, "keeping the current certificate%s", t->mtls ? " and client CA" : "");
        return st;
    }
    swap_cred(t, c);
    if (trust) swap_trust(t, trust);
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
