/* artifacts.c — content-addressed files: atomic writes, hash-verified reads. */
#include "store/artifacts.h"

#include <ctype.h>
#include <errno.h>
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
    int lock_fd; /* -1 until the first artifacts_lock */
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
    free(a);
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

kstatus artifacts_put(artifacts *a, const void *data, size_t len, char sha[SHA256_HEX_LEN], kerr *e)
{
    char path[ROOT_MAX + 80], sub[ROOT_MAX + 8];
    sha256_hex(data, len, sha);
    if (artifacts_has(a, sha)) { /* present and intact: nothing to do; damaged: rewrite it */
        char *old;
        size_t old_len;
        if (artifacts_get(a, sha, len + 1, &old, &old_len, NULL) == K_OK) {
            free(old);
            if (artifacts_path(a, sha, path, sizeof path, e)) return K_INVALID;
            utimensat(AT_FDCWD, path, NULL, 0); /* now: restarts the gc grace period */
            return K_OK;
        }
    }
    snprintf(sub, sizeof sub, "%s/%.2s", a->root, sha);
    kstatus st = make_dir(sub, e);
    if (!st) st = artifacts_path(a, sha, path, sizeof path, e);
    if (!st) st = fs_write_atomic(path, data, len, e);
    return st;
}

kstatus artifacts_get(artifacts *a, const char *sha, size_t max, char **data, size_t *len, kerr *e)
{
    char path[ROOT_MAX + 80], got[SHA256_HEX_LEN];
    kstatus st = artifacts_path(a, sha, path, sizeof path, e);
    if (st) return st;
    if (access(path, F_OK) != 0) return kerr_set(e, K_NOTFOUND, "artifact %.12s… not found", sha);
    st = fs_read_all(path, max, data, len, e);
    if (st) return st;
    sha256_hex(*data, *len, got);
    if (strcmp(got, sha) != 0) {
        free(*data);
        *data = NULL;
        return kerr_set(e, K_CHECKSUM, "artifact %.12s… is corrupt: its content hashes to %.12s…",
                        sha, got);
    }
    return K_OK;
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
