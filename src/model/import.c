/* import.c — format detection and provenance for `kiln import`.
 *
 * The importers themselves (xgboost.c, lightgbm.c, sklearn.c) only see bytes; this file decides
 * which one to call and stamps what every package records about its origin. */
#include "model/import.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "model/package.h"

#define MODEL_FILE_MAX ((size_t)2 << 30)

static const char *const format_names[] = {"auto", "xgboost", "lightgbm", "sklearn", "kiln"};

int kformat_parse(const char *name)
{
    for (int i = 0; i < (int)(sizeof format_names / sizeof *format_names); i++)
        if (strcmp(name, format_names[i]) == 0) return i;
    return -1;
}

const char *kformat_name(kformat f)
{
    return (unsigned)f < sizeof format_names / sizeof *format_names ? format_names[f] : "?";
}

static int has(const char *data, size_t len, const char *needle, size_t within)
{
    return memmem(data, len < within ? len : within, needle, strlen(needle)) != NULL;
}

/* Guesses the format from the first bytes; KFMT_AUTO when unknown. */
static kformat detect(const char *d, size_t len)
{
    const unsigned char *u = (const unsigned char *)d;
    if (len >= 8 && memcmp(d, KPKG_MAGIC, 8) == 0) return KFMT_KILN;
    size_t i = 0;
    while (i < len && (d[i] == ' ' || d[i] == '\n' || d[i] == '\r' || d[i] == '\t')) i++;
    if (i < len && d[i] == '{') {
        if (has(d, len, "\"kiln_sklearn_export\"", 4096)) return KFMT_SKLEARN;
        if (has(d, len, "\"learner\"", len)) return KFMT_XGBOOST;
        return KFMT_AUTO;
    }
    /* pickle protocol 2+ starts with 0x80; joblib compresses with zlib, gzip, bz2, xz or lz4 */
    if (len >= 2 && (u[0] == 0x80 || (u[0] == 0x78 && (u[0] * 256 + u[1]) % 31 == 0) ||
                     (u[0] == 0x1f && u[1] == 0x8b) || memcmp(d, "BZh", len < 3 ? len : 3) == 0 ||
                     (len >= 6 && memcmp(d, "\xfd" "7zXZ", 5) == 0) ||
                     (len >= 4 && memcmp(d, "\x04\x22\x4d\x18", 4) == 0) ||
                     (len >= 2 && memcmp(d, "ZF", 2) == 0)))
        return KFMT_SKLEARN;
    if ((len >= 5 && memcmp(d, "tree\n", 5) == 0) || (len >= 6 && memcmp(d, "tree\r\n", 6) == 0) ||
        (has(d, len, "version=v", 4096) && has(d, len, "Tree=", len)))
        return KFMT_LIGHTGBM;
    return KFMT_AUTO;
}

static kstatus stamp(kspec *s, const char *path, kformat fmt, const char *sha, kerr *e)
{
    char when[32];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    const char *base = strrchr(path, '/');
    if (kspec_set_meta(s, "source_format", kformat_name(fmt)) ||
        kspec_set_meta(s, "source_file", base ? base + 1 : path) ||
        kspec_set_meta(s, "source_sha256", sha) || kspec_set_meta(s, "import_time", when) ||
        kspec_set_meta(s, "kiln_version", KILN_VERSION))
        return kerr_set(e, K_NOMEM, "out of memory");
    return K_OK;
}

static kstatus import_bytes(const char *path, kformat fmt, const char *data, size_t len,
                            kspec **out, kerr *e)
{
    switch (fmt) {
    case KFMT_XGBOOST: return xgboost_import(data, len, out, e);
    case KFMT_LIGHTGBM: return lightgbm_import(data, len, out, e);
    case KFMT_KILN: return kpkg_read(data, len, out, e);
    case KFMT_SKLEARN: {
        if (has(data, len, "\"kiln_sklearn_export\"", 4096)) return sklearn_import(data, len, out, e);
        char *json;
        size_t jlen;
        kstatus st = sklearn_export(path, &json, &jlen, e);
        if (st) return st;
        st = sklearn_import(json, jlen, out, e);
        free(json);
        return st;
    }
    default: break;
    }
    return kerr_set(e, K_UNSUPPORTED,
                    "cannot tell the model format of %s (expected XGBoost JSON, LightGBM text, "
                    "a scikit-learn joblib/pickle file or a .kiln package); pass --format",
                    path);
}

kstatus import_file(const char *path, kformat fmt, kspec **out, kerr *e)
{
    char *data;
    size_t len;
    kstatus st = fs_read_all(path, MODEL_FILE_MAX, &data, &len, e);
    if (st) return st;
    if (fmt == KFMT_AUTO) fmt = detect(data, len);
    char sha[SHA256_HEX_LEN];
    sha256_hex(data, len, sha);
    st = import_bytes(path, fmt, data, len, out, e);
    free(data);
    if (st) return st;
    if (fmt == KFMT_KILN) return K_OK; /* a package keeps its original provenance */
    st = stamp(*out, path, fmt, sha, e);
    if (st) {
        kspec_free(*out);
        *out = NULL;
    }
    return st;
}
