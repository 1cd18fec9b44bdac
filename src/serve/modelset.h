/* modelset.h — the models a server is serving, each with its current loaded version, swapped
 * atomically while requests run.
 *
 * A request acquires a reference to the current version of a model, predicts with it, and
 * releases it; installing a new version (an alias moved, a repository load, SIGHUP) replaces
 * the current pointer at once, so requests in flight finish on the version they started on and
 * later ones get the new one. A version's memory is freed when its last reference is released.
 * Every function is thread-safe. */
#ifndef KILN_MODELSET_H
#define KILN_MODELSET_H

#include <stdint.h>

#include "base/sha256.h"
#include "base/status.h"
#include "model/predictor.h"

typedef struct kms kms;
typedef struct kms_ref kms_ref;

#define KMS_NAME_MAX 129

/* What a loaded version is, for listings (/v2/repository/index, /v2/models/{m}). */
typedef struct {
    char name[KMS_NAME_MAX];
    int64_t version;  /* registry version, or 1 for a file */
    char source[512]; /* "registry:NAME@ALIAS" or "file:PATH" */
    char sha256[SHA256_HEX_LEN];
    int ready; /* 1 when a version is loaded */
} kms_info;

/* Throughput features every loaded version gets (all off by default). */
typedef struct {
    size_t cache_bytes;      /* prediction cache budget per version; 0 = off */
    uint32_t cache_ttl_ms;   /* 0 = entries never expire */
    int batch_max;           /* dynamic batching: rows per predictor call; <= 1 = off */
    uint32_t batch_delay_us; /* how long a forming batch waits for more rows */
    int batch_queue;         /* rows waiting at most (beyond: 503) */
    size_t drift_window;     /* values kept per feature for online drift; 0 = 1000 */
    uint32_t drift_window_s; /* and only those of the last that many seconds; 0 = no limit */
} kms_features;

kms *kms_new(void);
/* Sets the features versions installed from now on get. */
void kms_set_features(kms *s, const kms_features *f);
/* Frees the set; every reference must have been released. */
void kms_free(kms *s);

/* Makes `m` the current version of `name` (creating the entry). Takes ownership of m. The
 * first model ever installed becomes the default (used by /predict) unless one was set. */
kstatus kms_install(kms *s, const char *name, int64_t version, const char *source,
                    const char *sha256, kmodel *m, kerr *e);
/* Unloads `name`: new requests get 404; memory goes when in-flight requests finish. */
kstatus kms_remove(kms *s, const char *name, kerr *e);
/* Names the default model for /predict. */
void kms_set_default(kms *s, const char *name);

/* The current version of `name` (NULL: the default model). With version > 0, only that exact
 * version. NULL when not loaded. Release with kms_release. */
kms_ref *kms_acquire(kms *s, const char *name, int64_t version);
void kms_release(kms_ref *r);

const kmodel *kms_model(const kms_ref *r);
/* The version's prediction cache and batcher, or NULL when off (cache.h, batcher.h). */
struct kcache *kms_cache(const kms_ref *r);
struct kbatcher *kms_batcher(const kms_ref *r);
/* The version's input data-quality counters (monitor/quality.h), or NULL. */
struct kquality *kms_quality(const kms_ref *r);
/* The version's online drift state (monitor/online.h), or NULL when its package has no
 * reference statistics. */
struct kdrift *kms_drift(const kms_ref *r);
/* The version's feedback state, set on first use (the hub owns it; monitor/feedback.h). */
struct kfeedback *kms_feedback(const kms_ref *r);
void kms_set_feedback(const kms_ref *r, struct kfeedback *f);
const char *kms_name(const kms_ref *r);
int64_t kms_version(const kms_ref *r);

/* Copies up to `max` entries (loaded or not, in name order) into out; returns how many exist. */
int kms_list(kms *s, kms_info *out, int max);
/* Information about one entry; K_NOTFOUND when the set never had it. */
kstatus kms_info_of(kms *s, const char *name, kms_info *out);
/* Number of versions loaded now, including old ones still draining (for memory tests). */
int kms_loaded_versions(kms *s);

#endif
