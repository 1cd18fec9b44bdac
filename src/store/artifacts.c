/* artifacts.c — content-addressed files: atomic writes, hash-verified reads, optional
 * encryption at rest (crypt.h). */
#include "store/artifacts.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/fs.h"

#define ROOT_MAX 3072

struct artifacts {
    char root[ROOT_MAX]; /* DIR/sha256 */
    char lock_path[ROOT_MAX];
    int lock_fd;     /* -1 until the first artifacts_lock */
    kcrypt_key *key; /* NULL: artifacts are written in plaintext */
};

static int is_hex_name(const char *sha)
{
    for (int i = 0; i < 64; i++)
        if (!((sha[i] >= '0' && sha[i] <= '9') || (sha[i] >= 'a' && sha[i] <= 'f'))) return 0;
    return sha[64] == 0;
}

static kstatus make_dir(const char *path, kerr *e)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST) return K_OK;
    return kerr_set(e, K_IO, "cannot create directory %s: %s", path, strerror(errno));
}

kstatus artifacts_open(const char *dir, artifacts **out, kerr *e)
{
    artifacts *a = calloc(1, sizeof *a);
    if (!a) return kerr_set(e, K_NOMEM, "out of memory");
    a->lock_fd = -1;
    int n = snprintf(a->root, sizeof a->root, "%s/sha256", dir);
    int m = snprintf(a->lock_path, sizeof a->lock_path, "%s/.lock", dir);
    kstatus st = n < 0 || (size_t)n >= sizeof a->root || m < 0 || (size_t)m >= sizeof a->lock_path
                     ? kerr_set(e, K_INVALID, "artifact directory path is too long")
                     : make_dir(dir, e);
    if (!st) st = make_dir(a->root, e);
    if (!st) st = kcrypt_key_from_env(&a->key, e);
    if (st) {
        free(a);
        return st;
    }
    *out = a;
    return K_OK;
}

void artifacts_close(artifacts *a)
{
    if (!a) return;
    if (a->lock_fd >= 0) close(a->lock_fd);
    kcrypt_key_free(a->key);
    free(a);
}

void artifacts_set_key(artifacts *a, kcrypt_key *key)
{
    kcrypt_key_free(a->key);
    a->key = key;
}

kstatus artifacts_path(const artifacts *a, const char *sha, char *out, size_t size, kerr *e)
{
    if (!sha || strlen(sha) != 64 || !is_hex_name(sha))
        return kerr_set(e, K_INVALID, "not an artifact name (64 lowercase hex digits)");
    int n = snprintf(out, size, "%s/%.2s/%s", a->root, sha, sha);
    if (n < 0 || (size_t)n >= size) return kerr_set(e, K_INVALID, "artifact path is too long");
    return K_OK;
}

int artifacts_has(artifacts *a, const char *sha)
{
    char path[ROOT_MAX + 80];
    struct stat st;
    return artifacts_path(a, sha, path, sizeof path, NULL) == K_OK && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode);
}

/* The stored bytes of artifact `sha`, as they are on disk. */
static kstatus read_raw(artifacts *a, const char *sha, size_t max, char **data, size_t *len,
                        kerr *e)
{
    char path[ROOT_MAX + 80];
    kstatus st = artifacts_path(a, sha, path, sizeof path, e);
    if (st) return st;
    if (access(path, F_OK) != 0) return kerr_set(e, K_NOTFOUND, "artifact %.12s… not found", sha);
    if (max > SIZE_MAX - KCRYPT_OVERHEAD) max = SIZE_MAX - KCRYPT_OVERHEAD;
    return fs_read_all(path, max + KCRYPT_OVERHEAD, data, len, e);
}

/* Replaces sealed bytes in *data by their plaintext; plaintext is left as it is. */
static kstatus decrypt(const kcrypt_key *key, const char *sha, char **data, size_t *len, kerr *e)
{
    char id[KCRYPT_ID_HEX], *plain = NULL;
    size_t plain_len = 0;
    if (!kcrypt_is_sealed(*data, *len, id)) return K_OK;
    kstatus st = key ? kcrypt_open(key, *data, *len, &plain, &plain_len, e)
                     : kerr_set(e, K_INVALID,
                                "encrypted with key %s, but no artifact key is "
                                "configured (KILN_ARTIFACT_KEY_FILE)",
                                id);
    free(*data);
    *data = plain;
    *len = plain_len;
    if (st) kerr_prefix(e, "artifact %.12s…", sha);
    return st;
}

static kstatus check_hash(const char *sha, char **data, size_t len, kerr *e)
{
    char got[SHA256_HEX_LEN];
    sha256_hex(*data, len, got);
    if (strcmp(got, sha) == 0) return K_OK;
    free(*data);
    *data = NULL;
    return kerr_set(e, K_CHECKSUM, "artifact %.12s… is corrupt: its content hashes to %.12s…", sha,
                    got);
}

kstatus artifacts_get(artifacts *a, const char *sha, size_t max, char **data, size_t *len, kerr *e)
{
    kstatus st = read_raw(a, sha, max, data, len, e);
    if (!st) st = decrypt(a->key, sha, data, len, e);
    if (!st && *len > max) {
        free(*data);
        *data = NULL;
        st = kerr_set(e, K_LIMIT, "artifact %.12s… is larger than %zu bytes", sha, max);
    }
    if (!st) st = check_hash(sha, data, *len, e);
    return st;
}

/* 1 when artifact `sha` is stored intact and sealed the way this store writes (with its key,
 * or in plaintext without one). */
static int stored_as_wanted(artifacts *a, const char *sha, size_t len)
{
    char *raw, id[KCRYPT_ID_HEX];
    size_t raw_len;
    if (read_raw(a, sha, len + 1, &raw, &raw_len, NULL)) return 0;
    int sealed = kcrypt_is_sealed(raw, raw_len, id);
    int want = a->key ? sealed && strcmp(id, kcrypt_key_id(a->key)) == 0 : !sealed;
    int ok = want && decrypt(a->key, sha, &raw, &raw_len, NULL) == K_OK && raw_len == len &&
             check_hash(sha, &raw, raw_len, NULL) == K_OK;
    free(raw);
    return ok;
}

/* Writes `len` bytes of plaintext as artifact `path`, sealed when the store has a key. */
static kstatus write_artifact(const kcrypt_key *key, const char *path, const void *data, size_t len,
                              kerr *e)
{
    if (!key) return fs_write_atomic(path, data, len, e);
    unsigned char *sealed;
    size_t sealed_len;
    kstatus st = kcrypt_seal(key, data, len, &sealed, &sealed_len, e);
    if (st) return st;
    st = fs_write_atomic(path, sealed, sealed_len, e);
    free(sealed);
    return st;
}

kstatus artifacts_put(artifacts *a, const void *data, size_t len, char sha[SHA256_HEX_LEN], kerr *e)
{
    char path[ROOT_MAX + 80], sub[ROOT_MAX + 8];
    sha256_hex(data, len, sha);
    /* present and intact: nothing to do; damaged or sealed otherwise: rewrite it */
    if (artifacts_has(a, sha) && stored_as_wanted(a, sha, len)) {
        if (artifacts_path(a, sha, path, sizeof path, e)) return K_INVALID;
        utimensat(AT_FDCWD, path, NULL, 0); /* now: restarts the gc grace period */
        return K_OK;
    }
    snprintf(sub, sizeof sub, "%s/%.2s", a->root, sha);
    kstatus st = make_dir(sub, e);
    if (!st) st = artifacts_path(a, sha, path, sizeof path, e);
    if (!st) st = write_artifact(a->key, path, data, len, e);
    return st;
}

kstatus artifacts_remove(artifacts *a, const char *sha, kerr *e)
{
    char path[ROOT_MAX + 80];
    kstatus st = artifacts_path(a, sha, path, sizeof path, e);
    if (st) return st;
    if (unlink(path) == 0) return K_OK;
    if (errno == ENOENT) return kerr_set(e, K_NOTFOUND, "artifact %.12s… not found", sha);
    return kerr_set(e, K_IO, "cannot remove %s: %s", path, strerror(errno));
}

kstatus artifacts_lock(artifacts *a, int exclusive, kerr *e)
{
    if (a->lock_fd < 0) {
        a->lock_fd = open(a->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
        if (a->lock_fd < 0)
            return kerr_set(e, K_IO, "cannot open %s: %s", a->lock_path, strerror(errno));
    }
    while (flock(a->lock_fd, exclusive ? LOCK_EX : LOCK_SH) != 0)
        if (errno != EINTR)
            return kerr_set(e, K_IO, "cannot lock %s: %s", a->lock_path, strerror(errno));
    return K_OK;
}

void artifacts_unlock(artifacts *a)
{
    if (a->lock_fd >= 0) flock(a->lock_fd, LOCK_UN);
}

/* Artifact files are named by their hash; anything else in a shard is a leftover temporary. */
static int scan_file(const char *dir, const char *name, int (*fn)(void *, const artifacts_entry *),
                     void *ctx)
{
    char path[ROOT_MAX + 300];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof path || lstat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return 0;
    artifacts_entry en = {.path = path, .size = (long long)st.st_size};
    en.age_s = difftime(time(NULL), st.st_mtime);
    if (strlen(name) == 64 && is_hex_name(name)) memcpy(en.sha, name, SHA256_HEX_LEN);
    return fn(ctx, &en);
}

static int scan_shard(const char *dir, int (*fn)(void *, const artifacts_entry *), void *ctx)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    struct dirent *de;
    int stop = 0;
    while (!stop && (de = readdir(d)))
        if (de->d_name[0] != '.') stop = scan_file(dir, de->d_name, fn, ctx);
    closedir(d);
    return stop;
}

kstatus artifacts_scan(artifacts *a, int (*fn)(void *ctx, const artifacts_entry *en), void *ctx,
                       kerr *e)
{
    DIR *d = opendir(a->root);
    if (!d) return kerr_set(e, K_IO, "cannot list %s: %s", a->root, strerror(errno));
    struct dirent *de;
    int stop = 0;
    while (!stop && (de = readdir(d))) {
        if (strlen(de->d_name) != 2 || !isxdigit((unsigned char)de->d_name[0])) continue;
        char sub[ROOT_MAX + 8];
        snprintf(sub, sizeof sub, "%s/%.2s", a->root, de->d_name);
        stop = scan_shard(sub, fn, ctx);
    }
    closedir(d);
    return K_OK;
}

kstatus artifacts_unlink(artifacts *a, const char *path, kerr *e)
{
    if (strncmp(path, a->root, strlen(a->root)) != 0)
        return kerr_set(e, K_INVALID, "%s is not inside the artifact store", path);
    if (unlink(path) == 0 || errno == ENOENT) return K_OK;
    return kerr_set(e, K_IO, "cannot remove %s: %s", path, strerror(errno));
}

/* ---- rekey ---------------------------------------------------------------------------------- */

typedef struct {
    char (*shas)[SHA256_HEX_LEN];
    size_t n, cap;
    int failed;
} sha_list;

static int collect(void *ctx, const artifacts_entry *en)
{
    sha_list *l = ctx;
    if (!en->sha[0]) return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        void *p = realloc(l->shas, cap * sizeof *l->shas);
        if (!p) return l->failed = 1;
        l->shas = p;
        l->cap = cap;
    }
    memcpy(l->shas[l->n++], en->sha, SHA256_HEX_LEN);
    return 0;
}

/* Re-encrypts one artifact; *what: 0 unchanged, 1 rekeyed, 2 encrypted from plaintext. */
static kstatus rekey_one(artifacts *a, const char *sha, const kcrypt_key *old_key,
                         const kcrypt_key *new_key, int *what, kerr *e)
{
    char *data, id[KCRYPT_ID_HEX], path[ROOT_MAX + 80];
    size_t len;
    kstatus st = read_raw(a, sha, SIZE_MAX - KCRYPT_OVERHEAD, &data, &len, e);
    if (st) return st;
    int sealed = kcrypt_is_sealed(data, len, id);
    *what = sealed ? 1 : 2;
    if (sealed && strcmp(id, kcrypt_key_id(new_key)) == 0) {
        *what = 0;
        free(data);
        return K_OK;
    }
    if (sealed && !old_key) {
        free(data);
        return kerr_set(e, K_CHECKSUM,
                        "artifact %.12s…: encrypted with key %s; give its key "
                        "with --old-key-file",
                        sha, id);
    }
    st = decrypt(old_key, sha, &data, &len, e);
    if (!st) st = check_hash(sha, &data, len, e);
    if (!st) st = artifacts_path(a, sha, path, sizeof path, e);
    if (!st) st = write_artifact(new_key, path, data, len, e);
    free(data);
    return st;
}

kstatus artifacts_rekey(artifacts *a, const kcrypt_key *old_key, const kcrypt_key *new_key,
                        artifacts_rekey_stats *stats, kerr *e)
{
    memset(stats, 0, sizeof *stats);
    sha_list l = {0};
    kstatus st = artifacts_lock(a, 1, e);
    if (st) return st;
    st = artifacts_scan(a, collect, &l, e);
    if (!st && l.failed) st = kerr_set(e, K_NOMEM, "out of memory listing artifacts");
    kstatus first = st;
    for (size_t i = 0; !st && i < l.n; i++) {
        kerr one = {0};
        int what = 0;
        if (rekey_one(a, l.shas[i], old_key, new_key, &what, &one)) {
            stats->failed++;
            if (!first) first = kerr_set(e, one.code ? one.code : K_IO, "%s", one.msg);
            continue;
        }
        if (what == 0) stats->unchanged++;
        if (what == 1) stats->rekeyed++;
        if (what == 2) stats->encrypted++;
    }
    artifacts_unlock(a);
    free(l.shas);
    return first;
}
