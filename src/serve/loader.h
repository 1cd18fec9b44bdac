/* loader.h — where served models come from and how new versions arrive: package files
 * (--model NAME=FILE) and registry references (--serve NAME@ALIAS, or every registered model's
 * default alias). A background thread polls the registry's change counter (kreg_changes: no
 * database round trip on PostgreSQL until something changed) and loads a new version when an
 * alias moved, then swaps it in (modelset.h). Loading happens off the request path. */
#ifndef KILN_LOADER_H
#define KILN_LOADER_H

#include "serve/modelset.h"
#include "store/registry.h"

typedef struct kloader kloader;

#define KLOADER_MAX 64

typedef struct {
    int n_files;
    const char *file_names[KLOADER_MAX], *file_paths[KLOADER_MAX];
    int n_refs; /* explicit registry references */
    const char *ref_names[KLOADER_MAX], *ref_aliases[KLOADER_MAX];
    int serve_all;                /* also every registered model that has default_alias */
    const char *default_alias;    /* "production" */
    const kreg_options *registry; /* NULL: no registry (files only) */
    int poll_ms;                  /* how often the change counter is read */
    struct kmetrics *metrics;     /* load durations go here (may be NULL) */
    /* Package signatures (model/sign.h): a file or directory of trusted public keys (NULL or
     * "": none) and whether unsigned packages are refused (`kiln serve` passes its settings
     * trusted_keys and require_signed_models). A signed package that does not verify is always
     * refused. */
    const char *trusted_keys;
    int require_signed;
    /* Where events go (loads, swaps, failures): level 0 error, 1 warning, 2 info. */
    void (*log)(void *ctx, int level, const char *msg);
    /* A package refused at load for its signature (action "model.refused", the model and the
     * reason); may be NULL. Called with log_ctx. */
    void (*refused)(void *ctx, const char *model, const char *why);
    void *log_ctx;
} kloader_options;

/* Loads every configured model now; fails when any of them cannot be loaded. */
kstatus kloader_new(kms *models, const kloader_options *o, kloader **out, kerr *e);
/* Starts the registry watcher thread (no-op without a registry). */
kstatus kloader_start(kloader *l, kerr *e);
/* Asks the watcher to reload every model (SIGHUP): files are re-read, references resolved. */
void kloader_reload(kloader *l);
/* Repository control: loads the configured source of `name` (a file, a reference, or
 * NAME@default_alias from the registry) and makes it current; unload removes it and keeps the
 * watcher from bringing it back until it is loaded again. */
kstatus kloader_load(kloader *l, const char *name, kerr *e);
kstatus kloader_unload(kloader *l, const char *name, kerr *e);
/* Stops the watcher and frees the loader (the modelset stays). */
void kloader_free(kloader *l);

#endif
