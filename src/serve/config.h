/* config.h — `kiln serve` settings: safe defaults, then kiln.yaml, then KILN_* environment
 * variables, then command-line flags (each overriding the one before). docs/serving.md lists
 * every setting with its default. */
#ifndef KILN_SERVE_CONFIG_H
#define KILN_SERVE_CONFIG_H

#include <stddef.h>

#include "base/status.h"
#include "serve/loader.h"

#define KCONF_STR 1024

typedef struct {
    char listen[128];                   /* HOST:PORT, "127.0.0.1:8080" */
    int threads;                        /* 0: one per core */
    size_t max_body_bytes;              /* 16 MiB */
    size_t max_header_bytes;            /* 16 KiB */
    size_t max_batch_rows;              /* 10000 */
    unsigned max_connections;           /* 1024 */
    unsigned idle_timeout_s;            /* 30 */
    unsigned request_timeout_s;         /* 0: idle_timeout_s */
    int max_json_depth;                 /* 32 */
    size_t cache_bytes;                 /* 0: prediction cache off */
    unsigned cache_ttl_ms;              /* 60000 */
    int batch_max;                      /* 1: dynamic batching off */
    unsigned batch_delay_us;            /* 200 */
    int batch_queue;                    /* 1024 */
    size_t drift_window;                /* 1000 values per feature for online drift */
    unsigned drift_window_seconds;      /* 0: no time limit on the drift window */
    int feedback;                       /* 1: POST /feedback and online accuracy (default) */
    size_t feedback_max_pending;        /* predictions remembered for feedback; 0 = 100000 */
    unsigned feedback_window_s;         /* how long they are remembered; 0 = 3600 */
    size_t feedback_max_pairs;          /* (prediction, truth) pairs the metrics cover; 0 = 10000 */
    char prediction_log_dir[KCONF_STR]; /* "" = HOME/predictions */
    double prediction_log_rate;         /* share of rows logged; 0 = off */
    size_t prediction_log_max_bytes;    /* rotate past this; 64 MiB */
    int prediction_log_keep;            /* rotated files kept; 10 */
    int allow_model_control;            /* 0 */
    int auth_required;                  /* 0: authentication starts with the first API key */
    int auth_open_probes; /* 1: the health probes answer without credentials */
    char jwt_issuer[256], jwt_audience[256], jwt_algorithms[64]; /* JWT bearer tokens: "" = off */
    char jwt_key_file[KCONF_STR], jwt_jwks_file[KCONF_STR], jwt_role_claim[64];
    char jwt_models_claim[64]; /* claim limiting a token's models; "" = not read */
    char jwt_rate_claim[64];   /* claim with a token's own rate limit; "" = not read */
    unsigned jwt_leeway_s;      /* 60 */
    int insecure;               /* 1: allow a non-loopback listen address without authentication */
    int metrics;                /* 1: /metrics and stats recorded (default) */
    char access_log[KCONF_STR]; /* "-" (stderr), "off", or a file path */
    char log_level[16];         /* error, warn, info (default), debug */
    int shutdown_timeout_s;     /* 10: in-flight requests get this long on SIGTERM */
    /* rate limits (ratelimit.h): "N/s", "N/m" or "N/h"; "" = none. Checked when serve starts.
     * Per role: the default of every key of that role (a key's own rate overrides it). */
    char rate_limit_per_address[32]; /* per client address; "" = off (default) */
    char rate_limit_viewer[32], rate_limit_predictor[32];
    char rate_limit_deployer[32], rate_limit_admin[32];
    char rate_limit_burst[32];        /* "Ns" seconds' worth or "N" requests; "" = "1s" */
    char rate_limit_redis[KCONF_STR]; /* "redis://[USER@]HOST:PORT[/DB]"; "" = per-instance */
    char rate_limit_redis_password_file[KCONF_STR]; /* Redis AUTH password; "" = none */
    /* models */
    int n_files;
    char file_names[KLOADER_MAX][130], file_paths[KLOADER_MAX][KCONF_STR];
    int n_refs;
    char ref_names[KLOADER_MAX][130], ref_aliases[KLOADER_MAX][65];
    char default_alias[65];       /* "production" */
    char default_model[130];      /* the model /predict uses; "" = the first loaded */
    int poll_ms;                  /* 250 */
    struct kalerts *alerts;       /* kiln.yaml's alerts: section, parsed; NULL: none. Owned. */
    struct kvalidate *validation; /* kiln.yaml's validation: section; NULL: none. Owned. */
    /* registry location ("" = the usual KILN_HOME resolution) */
    char home[KCONF_STR], store[KCONF_STR], artifacts[KCONF_STR];
    /* HTTPS: cert and key both set, or neither (plain HTTP); client CA: mutual TLS */
    char tls_cert_file[KCONF_STR], tls_key_file[KCONF_STR], tls_client_ca_file[KCONF_STR];
    /* its first line is tls_key_file's passphrase; "": the key is not encrypted */
    char tls_key_password_file[KCONF_STR];
    char tls_min_version[8];      /* "1.2" (default) or "1.3" */
    char trusted_keys[KCONF_STR]; /* file or directory of trusted signing keys; "" = none */
    int require_signed_models;    /* 0: unsigned packages load (signed ones must verify) */
} kserve_config;

void kserve_config_defaults(kserve_config *c);
/* Frees what the configuration owns (the alert rules). */
void kserve_config_release(kserve_config *c);
/* Applies a kiln.yaml file; unknown keys are refused (a typo must not be silently ignored). */
kstatus kserve_config_file(kserve_config *c, const char *path, kerr *e);
/* The same for kiln.yaml text already in memory (text[0..len), need not be NUL-terminated). */
kstatus kserve_config_text(kserve_config *c, const char *text, size_t len, kerr *e);
/* Applies KILN_<SETTING> for every setting (KILN_LISTEN, KILN_MAX_BODY_BYTES, KILN_HOME, …). */
kstatus kserve_config_env(kserve_config *c, kerr *e);

/* One setting by its kiln.yaml name and text value (also used for env and flags). */
kstatus kserve_config_set(kserve_config *c, const char *key, const char *value, kerr *e);
/* "NAME=FILE.kiln" and "NAME@ALIAS" entries. */
kstatus kserve_config_add_model(kserve_config *c, const char *spec, kerr *e);
kstatus kserve_config_add_ref(kserve_config *c, const char *spec, kerr *e);
/* Splits listen into host and port. */
kstatus kserve_config_listen(const kserve_config *c, char *host, size_t size, int *port, kerr *e);

#endif
