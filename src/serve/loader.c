/* loader.c — loading packages from files and the registry into the modelset, and the watcher
 * thread that follows alias moves. */
#include "serve/loader.h"

#include <json-c/json.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/fs.h"
#include "base/sha256.h"
#include "model/package.h"
#include "model/sign.h"
#include "monitor/metrics.h"

#define PACKAGE_MAX ((size_t)4 << 30)

struct kloader {
    kms *models;
    kloader_options o;
    kreg *reg;          /* guarded by lock */
    ksign_trust *trust; /* trusted signing keys (may be empty) */
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    int running, stop, reload;
    uint64_t seen_changes;
    char unloaded[KLOADER_MAX][KMS_NAME_MAX]; /* names an operator unloaded */
    int n_unloaded;
};

static void say(kloader *l, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(kloader *l, int level, const char *fmt, ...)
{
    if (!l->o.log) return;
    char msg[700];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    l->o.log(l->o.log_ctx, level, msg);
}

/* ---- loading one model -------------------------------------------------------------------- */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static kstatus install_bytes(kloader *l, const char *name, int64_t version, const char *source,
                             const char *sha, const char *data, size_t len, const char *reference,
                             kerr *e)
{
    uint64_t t0 = now_ns();
    kspec *spec;
    kmodel *m;
    kstatus st = ksign_check(l->trust, l->o.require_signed, data, len, e);
    if (st && l->o.refused) l->o.refused(l->o.log_ctx, name, e ? e->msg : kstatus_str(st));
    if (st) return st;
    st = kpkg_read(data, len, &spec, e);
    if (!st && reference && kspec_set_meta(spec, "drift_reference", reference))
        st = kerr_set(e, K_NOMEM, "out of memory");
    if (!st) st = kmodel_new(spec, &m, e);
    if (!st && l->o.metrics)
        kseries_loaded(kmetrics_series(l->o.metrics, name, version), now_ns() - t0);
    if (!st) st = kms_install(l->models, name, version, source, sha, m, e);
    return st;
}

static kstatus load_file(kloader *l, const char *name, const char *path, kerr *e)
{
    char *data, sha[SHA256_HEX_LEN], source[600];
    size_t len;
    kstatus st = fs_read_all(path, PACKAGE_MAX, &data, &len, e);
    if (st) return st;
    sha256_hex(data, len, sha);
    kms_info cur;
    /* unchanged file: nothing to do */
    if (kms_info_of(l->models, name, &cur) == K_OK && cur.ready && strcmp(cur.sha256, sha) == 0) {
        free(data);
        return K_OK;
    }
    snprintf(source, sizeof source, "file:%s", path);
    st = install_bytes(l, name, 1, source, sha, data, len, NULL, e);
    free(data);
    if (st)
        kerr_prefix(e, "%s", path);
    else
        say(l, 2, "loaded %s from %s", name, path);
    return st;
}

/* Loads NAME@ALIAS when it resolves to another version than the one served. Caller holds lock. */
static kstatus load_ref(kloader *l, const char *name, const char *alias, kerr *e)
{
    kreg_version v;
    kstatus st = kreg_resolve(l->reg, name, alias, &v, e);
    if (st) return st;
    kms_info cur;
    if (kms_info_of(l->models, name, &cur) == K_OK && cur.ready && cur.version == v.version &&
        strcmp(cur.sha256, v.package_sha256) == 0)
        return K_OK;
    char *data, source[300];
    size_t len;
    if ((st = kreg_read_package(l->reg, &v, &data, &len, e))) return st;
    snprintf(source, sizeof source, "registry:%s@%s", name, alias);
    char *reference = NULL; /* stored by `kiln models reference`, preferred to the package's */
    if (kreg_get_reference(l->reg, name, v.version, &reference, NULL) != K_OK) reference = NULL;
    st = install_bytes(l, name, v.version, source, v.package_sha256, data, len, reference, e);
    free(reference);
    free(data);
    if (st) kerr_prefix(e, "%s v%lld", name, (long long)v.version);
    if (!st) say(l, 2, "serving %s version %lld (%s@%s)", name, (long long)v.version, name, alias);
    return st;
}

static int is_unloaded(kloader *l, const char *name)
{
    for (int i = 0; i < l->n_unloaded; i++)
        if (strcmp(l->unloaded[i], name) == 0) return 1;
    return 0;
}

static void forget_unloaded(kloader *l, const char *name)
{
    for (int i = 0; i < l->n_unloaded; i++)
        if (strcmp(l->unloaded[i], name) == 0) {
            memmove(l->unloaded[i], l->unloaded[i + 1],
                    (size_t)(l->n_unloaded - i - 1) * KMS_NAME_MAX);
            l->n_unloaded--;
            return;
        }
}

/* ---- syncing with the registry ------------------------------------------------------------ */

/* Every registered model that has the default alias. Caller holds lock. */
static kstatus sync_all(kloader *l, int strict, kerr *e)
{
    json_object *list;
    kstatus st = kreg_list_models(l->reg, &list, e);
    if (st) return st;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *m = json_object_array_get_idx(list, i), *aliases, *name;
        if (!json_object_object_get_ex(m, "aliases", &aliases) ||
            !json_object_object_get_ex(aliases, l->o.default_alias, NULL) ||
            !json_object_object_get_ex(m, "name", &name))
            continue;
        const char *n = json_object_get_string(name);
        if (is_unloaded(l, n)) continue;
        kerr one = {0};
        if (load_ref(l, n, l->o.default_alias, &one)) {
            say(l, 0, "cannot load %s@%s: %s", n, l->o.default_alias, one.msg);
            if (strict && !st) st = kerr_set(e, one.code, "%s", one.msg);
        }
    }
    json_object_put(list);
    return st;
}

/* Brings every registry model up to date; with strict, the first failure is returned. */
static kstatus sync_registry(kloader *l, int strict, kerr *e)
{
    kstatus first = K_OK;
    for (int i = 0; i < l->o.n_refs; i++) {
        if (is_unloaded(l, l->o.ref_names[i])) continue;
        kerr one = {0};
        if (load_ref(l, l->o.ref_names[i], l->o.ref_aliases[i], &one)) {
            say(l, 0, "cannot load %s@%s: %s", l->o.ref_names[i], l->o.ref_aliases[i], one.msg);
            if (!first)
                first = kerr_set(e, one.code, "%s@%s: %s", l->o.ref_names[i], l->o.ref_aliases[i],
                                 one.msg);
        }
    }
    if (l->o.serve_all) {
        kstatus st = sync_all(l, strict, first ? NULL : e);
        if (!first) first = st;
    }
    return strict ? first : K_OK;
}

static kstatus load_files(kloader *l, int strict, kerr *e)
{
    kstatus first = K_OK;
    for (int i = 0; i < l->o.n_files; i++) {
        if (is_unloaded(l, l->o.file_names[i])) continue;
        kerr one = {0};
        if (load_file(l, l->o.file_names[i], l->o.file_paths[i], &one)) {
            say(l, 0, "cannot load %s: %s", l->o.file_names[i], one.msg);
            if (!first) first = kerr_set(e, one.code, "%s", one.msg);
        }
    }
    return strict ? first : K_OK;
}

static void *watch(void *arg)
{
    kloader *l = arg;
    pthread_mutex_lock(&l->lock);
    while (!l->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)l->o.poll_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        if (!l->reload) pthread_cond_timedwait(&l->wake, &l->lock, &until);
        if (l->stop) break;
        int reload = l->reload;
        l->reload = 0;
        uint64_t now = l->seen_changes;
        kerr e = {0};
        if (l->reg && kreg_changes(l->reg, &now, &e)) say(l, 1, "registry: %s", e.msg);
        if (reload) load_files(l, 0, NULL);
        if (l->reg && (reload || now != l->seen_changes)) {
            l->seen_changes = now;
            sync_registry(l, 0, NULL);
        }
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

/* ---- public -------------------------------------------------------------------------------- */

/* The signature policy from the options. */
static kstatus load_trust(kloader *l, kerr *e)
{
    kstatus st = ksign_trust_new(&l->trust, e);
    if (!st && l->o.trusted_keys && *l->o.trusted_keys) {
        st = ksign_trust_load(l->trust, l->o.trusted_keys, e);
        if (st) kerr_prefix(e, "trusted_keys");
    }
    return st;
}

kstatus kloader_new(kms *models, const kloader_options *o, kloader **out, kerr *e)
{
    kloader *l = calloc(1, sizeof *l);
    if (!l) return kerr_set(e, K_NOMEM, "out of memory");
    l->models = models;
    l->o = *o;
    if (l->o.poll_ms <= 0) l->o.poll_ms = 250;
    if (!l->o.default_alias) l->o.default_alias = "production";
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->wake, NULL);
    kstatus st = load_trust(l, e);
    if (!st && o->registry) st = kreg_open(o->registry, &l->reg, e);
    if (!st && l->reg) st = kreg_changes(l->reg, &l->seen_changes, e);
    if (!st) st = load_files(l, 1, e);
    if (!st && l->reg) st = sync_registry(l, 1, e);
    if (st) {
        kloader_free(l);
        return st;
    }
    *out = l;
    return K_OK;
}

kstatus kloader_start(kloader *l, kerr *e)
{
    if (pthread_create(&l->thread, NULL, watch, l) != 0)
        return kerr_set(e, K_NOMEM, "cannot start the registry watcher thread");
    l->running = 1;
    return K_OK;
}

void kloader_reload(kloader *l)
{
    pthread_mutex_lock(&l->lock);
    l->reload = 1;
    pthread_cond_signal(&l->wake);
    pthread_mutex_unlock(&l->lock);
}

static int file_index(kloader *l, const char *name)
{
    for (int i = 0; i < l->o.n_files; i++)
        if (strcmp(l->o.file_names[i], name) == 0) return i;
    return -1;
}

static const char *ref_alias(kloader *l, const char *name)
{
    for (int i = 0; i < l->o.n_refs; i++)
        if (strcmp(l->o.ref_names[i], name) == 0) return l->o.ref_aliases[i];
    return l->o.default_alias;
}

kstatus kloader_load(kloader *l, const char *name, kerr *e)
{
    pthread_mutex_lock(&l->lock);
    forget_unloaded(l, name);
    int f = file_index(l, name);
    kstatus st = f >= 0   ? load_file(l, name, l->o.file_paths[f], e)
                 : l->reg ? load_ref(l, name, ref_alias(l, name), e)
                          : kerr_set(e, K_NOTFOUND, "no model named '%s' is configured", name);
    pthread_mutex_unlock(&l->lock);
    return st;
}

kstatus kloader_unload(kloader *l, const char *name, kerr *e)
{
    pthread_mutex_lock(&l->lock);
    kstatus st = kms_remove(l->models, name, e);
    if (!st && !is_unloaded(l, name) && l->n_unloaded < KLOADER_MAX)
        snprintf(l->unloaded[l->n_unloaded++], KMS_NAME_MAX, "%s", name);
    pthread_mutex_unlock(&l->lock);
    if (!st) say(l, 2, "unloaded %s", name);
    return st;
}

void kloader_free(kloader *l)
{
    if (!l) return;
    if (l->running) {
        pthread_mutex_lock(&l->lock);
        l->stop = 1;
        pthread_cond_signal(&l->wake);
        pthread_mutex_unlock(&l->lock);
        pthread_join(l->thread, NULL);
    }
    kreg_close(l->reg);
    ksign_trust_free(l->trust);
    pthread_cond_destroy(&l->wake);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
