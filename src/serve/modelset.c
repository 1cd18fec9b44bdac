/* modelset.c — served models: a table of entries, each pointing at its current refcounted
 * version. A mutex guards the table and the pointer swap; a version's refcount is atomic, so a
 * request holds the lock only to read the pointer and take a reference. */
#include "serve/modelset.h"

#include "monitor/online.h"
#include "monitor/quality.h"
#include "serve/batcher.h"
#include "serve/cache.h"

#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MODELS 1024

struct kms_ref {
    atomic_int refs; /* one for being current, one per request holding it */
    kmodel *model;
    kcache *cache;
    kbatcher *batcher;
    kquality *quality;
    kdrift *drift;
    _Atomic(struct kfeedback *) feedback; /* set on first use; owned by the feedback hub */
    char name[KMS_NAME_MAX];
    int64_t version;
    kms *owner;
};

typedef struct {
    kms_info info;
    kms_ref *current; /* NULL when unloaded */
} entry;

struct kms {
    pthread_mutex_t lock;
    entry *entries;
    int n;
    char default_name[KMS_NAME_MAX];
    kms_features features;
    atomic_int loaded; /* versions alive, draining ones included */
};

kms *kms_new(void)
{
    kms *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->entries = calloc(MAX_MODELS, sizeof *s->entries);
    if (!s->entries) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void drop(kms_ref *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1) return;
    atomic_fetch_sub(&r->owner->loaded, 1);
    kbatcher_free(r->batcher); /* no caller left: the last reference is gone */
    kquality_free(r->quality);
    kdrift_free(r->drift);
    kcache_free(r->cache);
    kmodel_free(r->model);
    free(r);
    malloc_trim(0); /* give a large model's pages back to the system now */
}

void kms_free(kms *s)
{
    if (!s) return;
    for (int i = 0; i < s->n; i++)
        drop(s->entries[i].current);
    pthread_mutex_destroy(&s->lock);
    free(s->entries);
    free(s);
}

static entry *find(kms *s, const char *name)
{
    for (int i = 0; i < s->n; i++)
        if (strcmp(s->entries[i].info.name, name) == 0) return &s->entries[i];
    return NULL;
}

/* Keeps entries in name order so listings are stable. */
static entry *insert(kms *s, const char *name)
{
    if (s->n == MAX_MODELS) return NULL;
    int at = 0;
    while (at < s->n && strcmp(s->entries[at].info.name, name) < 0)
        at++;
    memmove(&s->entries[at + 1], &s->entries[at], (size_t)(s->n - at) * sizeof *s->entries);
    memset(&s->entries[at], 0, sizeof *s->entries);
    snprintf(s->entries[at].info.name, KMS_NAME_MAX, "%s", name);
    s->n++;
    return &s->entries[at];
}

kstatus kms_install(kms *s, const char *name, int64_t version, const char *source,
                    const char *sha256, kmodel *m, kerr *e)
{
    kms_ref *r = calloc(1, sizeof *r);
    if (!r) {
        kmodel_free(m);
        return kerr_set(e, K_NOMEM, "out of memory");
    }
    atomic_init(&r->refs, 1);
    r->model = m;
    pthread_mutex_lock(&s->lock);
    kms_features f = s->features;
    pthread_mutex_unlock(&s->lock);
    r->cache = kcache_new(f.cache_bytes, f.cache_ttl_ms);
    r->batcher = kbatcher_new(m, f.batch_max, f.batch_delay_us, f.batch_queue);
    r->quality = kquality_new(kmodel_spec(m));
    kstatus dst = kdrift_new(kmodel_spec(m), f.drift_window ? f.drift_window : 1000,
                             f.drift_window_s, &r->drift, e);
    if (dst) {
        kbatcher_free(r->batcher);
        kcache_free(r->cache);
        kquality_free(r->quality);
        kmodel_free(m);
        free(r);
        return dst;
    }
    r->version = version;
    r->owner = s;
    snprintf(r->name, sizeof r->name, "%s", name);
    pthread_mutex_lock(&s->lock);
    entry *en = find(s, name);
    if (!en) en = insert(s, name);
    kms_ref *old = NULL;
    if (en) {
        old = en->current;
        en->current = r;
        en->info.version = version;
        en->info.ready = 1;
        snprintf(en->info.source, sizeof en->info.source, "%s", source ? source : "");
        snprintf(en->info.sha256, sizeof en->info.sha256, "%s", sha256 ? sha256 : "");
        atomic_fetch_add(&s->loaded, 1);
        if (!s->default_name[0]) snprintf(s->default_name, sizeof s->default_name, "%s", name);
    }
    pthread_mutex_unlock(&s->lock);
    if (!en) {
        kdrift_free(r->drift);
        kquality_free(r->quality);
        kbatcher_free(r->batcher);
        kcache_free(r->cache);
        kmodel_free(m);
        free(r);
        return kerr_set(e, K_LIMIT, "cannot serve more than %d models", MAX_MODELS);
    }
    drop(old); /* freed now, or when its last request ends */
    return K_OK;
}

kstatus kms_remove(kms *s, const char *name, kerr *e)
{
    pthread_mutex_lock(&s->lock);
    entry *en = find(s, name);
    kms_ref *old = en ? en->current : NULL;
    if (en) {
        en->current = NULL;
        en->info.ready = 0;
    }
    pthread_mutex_unlock(&s->lock);
    if (!old) return kerr_set(e, K_NOTFOUND, "model '%s' is not loaded", name);
    drop(old);
    return K_OK;
}

void kms_set_features(kms *s, const kms_features *f)
{
    pthread_mutex_lock(&s->lock);
    s->features = *f;
    pthread_mutex_unlock(&s->lock);
}

kcache *kms_cache(const kms_ref *r)
{
    return r->cache;
}

struct kfeedback *kms_feedback(const kms_ref *r)
{
    return atomic_load(&((kms_ref *)r)->feedback);
}

void kms_set_feedback(const kms_ref *r, struct kfeedback *f)
{
    atomic_store(&((kms_ref *)r)->feedback, f);
}

kdrift *kms_drift(const kms_ref *r)
{
    return r->drift;
}

kquality *kms_quality(const kms_ref *r)
{
    return r->quality;
}

kbatcher *kms_batcher(const kms_ref *r)
{
    return r->batcher;
}

void kms_set_default(kms *s, const char *name)
{
    pthread_mutex_lock(&s->lock);
    snprintf(s->default_name, sizeof s->default_name, "%s", name);
    pthread_mutex_unlock(&s->lock);
}

kms_ref *kms_acquire(kms *s, const char *name, int64_t version)
{
    kms_ref *r = NULL;
    pthread_mutex_lock(&s->lock);
    entry *en = find(s, name ? name : s->default_name);
    if (en && en->current && (version <= 0 || en->current->version == version)) {
        r = en->current;
        atomic_fetch_add(&r->refs, 1);
    }
    pthread_mutex_unlock(&s->lock);
    return r;
}

void kms_release(kms_ref *r)
{
    drop(r);
}

const kmodel *kms_model(const kms_ref *r)
{
    return r->model;
}

const char *kms_name(const kms_ref *r)
{
    return r->name;
}

int64_t kms_version(const kms_ref *r)
{
    return r->version;
}

int kms_list(kms *s, kms_info *out, int max)
{
    pthread_mutex_lock(&s->lock);
    int n = s->n;
    for (int i = 0; i < n && i < max; i++)
        out[i] = s->entries[i].info;
    pthread_mutex_unlock(&s->lock);
    return n;
}

kstatus kms_info_of(kms *s, const char *name, kms_info *out)
{
    pthread_mutex_lock(&s->lock);
    entry *en = find(s, name);
    if (en) *out = en->info;
    pthread_mutex_unlock(&s->lock);
    return en ? K_OK : K_NOTFOUND;
}

int kms_loaded_versions(kms *s)
{
    return atomic_load(&s->loaded);
}
