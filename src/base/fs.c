/* fs.c — bounded reads, mappings and atomic writes (temp file + fsync + rename + dir fsync). */
#include "base/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Opens `path` for reading and checks it is a regular file (not a directory or a FIFO that
 * would block). Returns the descriptor, or -1 with e set. */
static int open_regular(const char *path, struct stat *st, kerr *e)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return kerr_set(e, K_IO, "cannot open %s: %s", path, strerror(errno)), -1;
    if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) {
        close(fd);
        return kerr_set(e, K_IO, "%s is not a regular file", path), -1;
    }
    return fd;
}

#define SECRET_FILE_MAX 65536

kstatus fs_read_secret_line(const char *path, char *out, size_t cap, kerr *e)
{
    char *text = NULL;
    size_t len = 0;
    out[0] = 0;
    kstatus st = fs_read_all(path, SECRET_FILE_MAX, &text, &len, e);
    if (st) return st;
    size_t n = strcspn(text, "\r\n");
    if (n > 0 && n < cap) memcpy(out, text, n), out[n] = 0;
    explicit_bzero(text, len);
    free(text);
    if (n == 0) return kerr_set(e, K_INVALID, "%s: the first line is empty", path);
    if (n >= cap) return kerr_set(e, K_LIMIT, "%s: the first line is too long", path);
    return K_OK;
}

kstatus fs_read_all(const char *path, size_t max, char **out, size_t *len, kerr *e)
{
    struct stat st;
    int fd = open_regular(path, &st, e);
    if (fd < 0) return e ? e->code : K_IO;
    if ((unsigned long long)st.st_size > max) {
        close(fd);
        return kerr_set(e, K_LIMIT, "%s is %lld bytes, more than the limit of %zu", path,
                        (long long)st.st_size, max);
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *p = malloc(size + 1);
    if (!p) {
        close(fd);
        return kerr_set(e, K_NOMEM, "out of memory reading %s", path);
    }
    while (got < size) {
        ssize_t n = read(fd, p + got, size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (got != size) {
        free(p);
        return kerr_set(e, K_IO, "short read on %s", path);
    }
    p[size] = 0;
    *out = p;
    *len = size;
    return K_OK;
}

kstatus fs_map_file(const char *path, fs_map *m, kerr *e)
{
    m->data = NULL;
    m->len = 0;
    struct stat st;
    int fd = open_regular(path, &st, e);
    if (fd < 0) return e ? e->code : K_IO;
    if (st.st_size == 0) {
        close(fd);
        return K_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return kerr_set(e, K_IO, "cannot map %s: %s", path, strerror(errno));
    m->data = p;
    m->len = (size_t)st.st_size;
    return K_OK;
}

void fs_unmap(fs_map *m)
{
    if (m->data) munmap((void *)m->data, m->len);
    m->data = NULL;
    m->len = 0;
}

static kstatus fsync_dir_of(const char *path, kerr *e)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return kerr_set(e, K_IO, "cannot open directory of %s: %s", path, strerror(errno));
    int rc = fsync(fd);
    close(fd);
    if (rc != 0) return kerr_set(e, K_IO, "fsync of directory of %s: %s", path, strerror(errno));
    return K_OK;
}

kstatus fs_write_atomic(const char *path, const void *data, size_t len, kerr *e)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp) return kerr_set(e, K_INVALID, "path too long: %s", path);
    int fd = mkstemp(tmp);
    if (fd < 0) return kerr_set(e, K_IO, "cannot create %s: %s", tmp, strerror(errno));
    const unsigned char *p = data;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) break;
        done += (size_t)w;
    }
    int saved = errno;
    if (done != len || fsync(fd) != 0 || fchmod(fd, 0644) != 0) {
        close(fd);
        unlink(tmp);
        return kerr_set(e, K_IO, "cannot write %s: %s", path, strerror(saved ? saved : errno));
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        saved = errno;
        unlink(tmp);
        return kerr_set(e, K_IO, "cannot rename into %s: %s", path, strerror(saved));
    }
    return fsync_dir_of(path, e);
}
