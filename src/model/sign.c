/* sign.c — Ed25519 package signatures, key files and trust lists (see sign.h). */
#include "model/sign.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "model/package.h"

#define SECRET_TAG "kiln-ed25519-secret"
#define PUBLIC_TAG "kiln-ed25519"
#define SIGNED_PART 64 /* block bytes the signature covers */
#define KEYFILE_MAX 4096
#define B64 sodium_base64_VARIANT_ORIGINAL

struct ksign_key {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    unsigned char id[8];
    char id_hex[KSIGN_ID_HEX];
};

typedef struct {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char id[8];
} trusted;

struct ksign_trust {
    trusted keys[KSIGN_TRUST_MAX];
    int n;
};

static void key_id(const unsigned char *pk, unsigned char id[8], char hex[KSIGN_ID_HEX])
{
    unsigned char d[SHA256_LEN];
    sha256(pk, crypto_sign_PUBLICKEYBYTES, d);
    memcpy(id, d, 8);
    sodium_bin2hex(hex, KSIGN_ID_HEX, id, 8);
}

static kstatus init_sodium(kerr *e)
{
    return sodium_init() < 0 ? kerr_set(e, K_IO, "libsodium failed to initialise") : K_OK;
}

static kstatus key_from_seed(const unsigned char *seed, ksign_key **out, kerr *e)
{
    ksign_key *k = sodium_malloc(sizeof *k);
    if (!k) return kerr_set(e, K_NOMEM, "out of memory");
    crypto_sign_seed_keypair(k->pk, k->sk, seed);
    key_id(k->pk, k->id, k->id_hex);
    *out = k;
    return K_OK;
}

kstatus ksign_key_generate(ksign_key **out, kerr *e)
{
    unsigned char seed[crypto_sign_SEEDBYTES];
    kstatus st = init_sodium(e);
    if (st) return st;
    randombytes_buf(seed, sizeof seed);
    st = key_from_seed(seed, out, e);
    sodium_memzero(seed, sizeof seed);
    return st;
}

void ksign_key_free(ksign_key *k)
{
    if (k) sodium_free(k); /* sodium_free wipes the memory */
}

const char *ksign_key_id(const ksign_key *k)
{
    return k->id_hex;
}

static void public_line(const unsigned char *pk, const char *id, char out[KSIGN_PUBLIC_MAX])
{
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_PUBLICKEYBYTES, B64)];
    sodium_bin2base64(b64, sizeof b64, pk, crypto_sign_PUBLICKEYBYTES, B64);
    snprintf(out, KSIGN_PUBLIC_MAX, "%s %s %s", PUBLIC_TAG, b64, id);
}

void ksign_key_public(const ksign_key *k, char out[KSIGN_PUBLIC_MAX])
{
    public_line(k->pk, k->id_hex, out);
}

/* Writes a file readable by its owner only: temp (mkstemp makes it 0600), fsync, rename. */
static kstatus write_private(const char *path, const char *text, size_t len, kerr *e)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) return kerr_set(e, K_INVALID, "path too long");
    int fd = mkstemp(tmp);
    if (fd < 0) return kerr_set(e, K_IO, "cannot create %s: %s", tmp, strerror(errno));
    ssize_t w = write(fd, text, len);
    int ok = w == (ssize_t)len && fchmod(fd, 0600) == 0 && fsync(fd) == 0;
    int saved = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        saved = ok ? errno : saved;
        unlink(tmp);
        return kerr_set(e, K_IO, "cannot write %s: %s", path, strerror(saved));
    }
    return K_OK;
}

kstatus ksign_key_save(const ksign_key *k, const char *path, int force, kerr *e)
{
    char pub_path[4096], pub[KSIGN_PUBLIC_MAX + 1];
    char b64[sodium_base64_ENCODED_LEN(crypto_sign_SEEDBYTES, B64)];
    char line[sizeof b64 + 32];
    int n = snprintf(pub_path, sizeof pub_path, "%s.pub", path);
    if (n < 0 || (size_t)n >= sizeof pub_path) return kerr_set(e, K_INVALID, "path too long");
    if (!force && access(path, F_OK) == 0)
        return kerr_set(e, K_EXISTS, "%s already exists (--force replaces it)", path);
    /* the seed is the first half of libsodium's secret key */
    sodium_bin2base64(b64, sizeof b64, k->sk, crypto_sign_SEEDBYTES, B64);
    n = snprintf(line, sizeof line, "%s %s\n", SECRET_TAG, b64);
    kstatus st = write_private(path, line, (size_t)n, e);
    sodium_memzero(b64, sizeof b64);
    sodium_memzero(line, sizeof line);
    if (st) return st;
    ksign_key_public(k, pub);
    size_t plen = strlen(pub);
    pub[plen++] = '\n';
    return fs_write_atomic(pub_path, pub, plen, e);
}

/* Decodes the base64 word after `tag ` in `text` into exactly `len` bytes. */
static int decode_word(const char *text, const char *tag, unsigned char *out, size_t len)
{
    size_t tl = strlen(tag), got = 0;
    if (strncmp(text, tag, tl) != 0 || text[tl] != ' ') return -1;
    const char *b = text + tl + 1, *end = b + strcspn(b, " \t\r\n");
    if (sodium_base642bin(out, len, b, (size_t)(end - b), NULL, &got, NULL, B64) != 0 || got != len)
        return -1;
    return 0;
}

kstatus ksign_key_load(const char *path, ksign_key **out, kerr *e)
{
    char *text;
    size_t len;
    unsigned char seed[crypto_sign_SEEDBYTES];
    kstatus st = init_sodium(e);
    if (!st) st = fs_read_all(path, KEYFILE_MAX, &text, &len, e);
    if (st) return st;
    if (decode_word(text, SECRET_TAG, seed, sizeof seed) != 0)
        st = kerr_set(e, K_FORMAT,
                      "%s is not a Kiln signing key (expected a file made by "
                      "'kiln keys signing-create')",
                      path);
    else
        st = key_from_seed(seed, out, e);
    sodium_memzero(seed, sizeof seed);
    sodium_memzero(text, len);
    free(text);
    return st;
}

/* ---- trust lists ---------------------------------------------------------------------------- */

kstatus ksign_trust_new(ksign_trust **out, kerr *e)
{
    *out = calloc(1, sizeof **out);
    return *out ? K_OK : kerr_set(e, K_NOMEM, "out of memory");
}

void ksign_trust_free(ksign_trust *t)
{
    free(t);
}

int ksign_trust_count(const ksign_trust *t)
{
    return t ? t->n : 0;
}

kstatus ksign_trust_add(ksign_trust *t, const char *line, kerr *e)
{
    trusted k;
    char hex[KSIGN_ID_HEX];
    if (decode_word(line, PUBLIC_TAG, k.pk, sizeof k.pk) != 0)
        return kerr_set(e, K_FORMAT, "not a Kiln public key line (expected '%s BASE64 KEYID')",
                        PUBLIC_TAG);
    key_id(k.pk, k.id, hex);
    for (int i = 0; i < t->n; i++)
        if (memcmp(t->keys[i].pk, k.pk, sizeof k.pk) == 0) return K_OK;
    if (t->n == KSIGN_TRUST_MAX)
        return kerr_set(e, K_LIMIT, "more than %d trusted keys", KSIGN_TRUST_MAX);
    t->keys[t->n++] = k;
    return K_OK;
}

static kstatus trust_file(ksign_trust *t, const char *path, kerr *e)
{
    char *text;
    size_t len;
    kstatus st = fs_read_all(path, (size_t)1 << 20, &text, &len, e);
    if (st) return st;
    int lineno = 0;
    for (char *p = text; !st && *p;) {
        char *nl = strchr(p, '\n');
        if (nl) *nl = 0;
        lineno++;
        p += strspn(p, " \t");
        if (*p && *p != '#' && *p != '\r' && (st = ksign_trust_add(t, p, e)))
            kerr_prefix(e, "%s line %d", path, lineno);
        p = nl ? nl + 1 : p + strlen(p);
    }
    free(text);
    return st;
}

static int is_pub_name(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".pub") == 0;
}

kstatus ksign_trust_load(ksign_trust *t, const char *path, kerr *e)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return kerr_set(e, K_NOTFOUND, "trusted keys %s: %s", path, strerror(errno));
    if (!S_ISDIR(sb.st_mode)) return trust_file(t, path, e);
    DIR *d = opendir(path);
    if (!d) return kerr_set(e, K_IO, "cannot list %s: %s", path, strerror(errno));
    kstatus st = K_OK;
    struct dirent *de;
    while (!st && (de = readdir(d))) {
        char full[4096];
        int n = snprintf(full, sizeof full, "%s/%s", path, de->d_name);
        if (is_pub_name(de->d_name) && n > 0 && (size_t)n < sizeof full)
            st = trust_file(t, full, e);
    }
    closedir(d);
    return st;
}

/* ---- signing and verifying ------------------------------------------------------------------ */

static void put_u32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

kstatus ksign_sign(const ksign_key *k, const void *pkg, size_t len, buf *out, kerr *e)
{
    size_t body = kpkg_body_len(pkg, len);
    if (body < 8 || memcmp(pkg, KPKG_MAGIC, 8) != 0)
        return kerr_set(e, K_FORMAT, "not a Kiln model package");
    unsigned char block[KPKG_SIG_SIZE] = {0};
    memcpy(block, KPKG_SIG_MAGIC, 8);
    put_u32(block + 8, 1);
    put_u32(block + 12, 1);
    memcpy(block + 16, k->id, 8);
    memcpy(block + 24, k->pk, sizeof k->pk);
    kstatus st = buf_append(out, pkg, body);
    if (!st) st = buf_append(out, block, SIGNED_PART);
    if (st) return kerr_set(e, st, "package too large to sign");
    unsigned char *sig = block + SIGNED_PART;
    crypto_sign_detached(sig, NULL, out->data, out->len, k->sk);
    if ((st = buf_append(out, sig, crypto_sign_BYTES)))
        return kerr_set(e, st, "package too large to sign");
    return K_OK;
}

/* The block of a signed package, or NULL when unsigned. */
static const unsigned char *find_block(const void *pkg, size_t len)
{
    size_t body = kpkg_body_len(pkg, len);
    return body == len ? NULL : (const unsigned char *)pkg + body;
}

kstatus ksign_inspect(const void *pkg, size_t len, int *is_signed, char key_id[KSIGN_ID_HEX],
                      kerr *e)
{
    if (len < 8 || memcmp(pkg, KPKG_MAGIC, 8) != 0)
        return kerr_set(e, K_FORMAT, "not a Kiln model package");
    const unsigned char *b = find_block(pkg, len);
    *is_signed = b != NULL;
    key_id[0] = 0;
    if (b) sodium_bin2hex(key_id, KSIGN_ID_HEX, b + 16, 8);
    return K_OK;
}

static int verify_with(const unsigned char *pk, const void *pkg, size_t len)
{
    return crypto_sign_verify_detached((const unsigned char *)pkg + len - crypto_sign_BYTES, pkg,
                                       len - crypto_sign_BYTES, pk) == 0;
}

static kstatus check_signed(const ksign_trust *t, int require, const unsigned char *b,
                            const void *pkg, size_t len, kerr *e)
{
    char id[KSIGN_ID_HEX];
    sodium_bin2hex(id, sizeof id, b + 16, 8);
    if (get_u32(b + 8) != 1 || get_u32(b + 12) != 1)
        return kerr_set(e, K_UNSUPPORTED,
                        "the package's signature block (version %u, algorithm "
                        "%u) is not supported; upgrade kiln",
                        get_u32(b + 8), get_u32(b + 12));
    if (ksign_trust_count(t) == 0 && !require) {
        if (verify_with(b + 24, pkg, len)) return K_OK;
        return kerr_set(e, K_CHECKSUM,
                        "signature does not verify (key %s): the package was "
                        "altered after signing",
                        id);
    }
    for (int i = 0; t && i < t->n; i++)
        if (memcmp(t->keys[i].id, b + 16, 8) == 0 && verify_with(t->keys[i].pk, pkg, len))
            return K_OK;
    return kerr_set(e, K_CHECKSUM,
                    "signature does not verify with any trusted key (signed by "
                    "key %s%s)",
                    id, ksign_trust_count(t) ? "" : "; no trusted_keys are configured");
}

kstatus ksign_check(const ksign_trust *trust, int require_signed, const void *pkg, size_t len,
                    kerr *e)
{
    if (len < 8 || memcmp(pkg, KPKG_MAGIC, 8) != 0)
        return kerr_set(e, K_FORMAT, "not a Kiln model package");
    kstatus st = init_sodium(e);
    if (st) return st;
    const unsigned char *b = find_block(pkg, len);
    if (b) return check_signed(trust, require_signed, b, pkg, len, e);
    if (require_signed)
        return kerr_set(e, K_INVALID, "the package is not signed (require_signed_models is on)");
    return K_OK;
}
