/* config.c — the serve settings: defaults, kiln.yaml, KILN_* variables, flags. */
#include "serve/config.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/yaml.h"
#include "monitor/alerts.h"
#include "serve/validate.h"
#include "store/registry.h"

void kserve_config_defaults(kserve_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->listen, sizeof c->listen, "127.0.0.1:8080");
    c->max_body_bytes = (size_t)16 << 20;
    c->max_header_bytes = (size_t)16 << 10;
    c->max_batch_rows = 10000;
    c->max_connections = 1024;
    c->idle_timeout_s = 30;
    c->max_json_depth = 32;
    c->metrics = 1;
    c->cache_ttl_ms = 60000;
    c->batch_max = 1;
    c->batch_delay_us = 200;
    c->batch_queue = 1024;
    c->drift_window = 1000;
    c->feedback = 1;
    c->prediction_log_max_bytes = (size_t)64 << 20;
    c->prediction_log_keep = 10;
    snprintf(c->access_log, sizeof c->access_log, "-");
    snprintf(c->log_level, sizeof c->log_level, "info");
    c->shutdown_timeout_s = 10;
    snprintf(c->default_alias, sizeof c->default_alias, "production");
    c->poll_ms = 250;
    c->jwt_leeway_s = 60;
}

void kserve_config_release(kserve_config *c)
{
    kalerts_free(c->alerts);
    c->alerts = NULL;
    kvalidate_free(c->validation);
    c->validation = NULL;
}

static kstatus set_uint(const char *key, const char *v, unsigned long long lo,
                        unsigned long long hi, unsigned long long *out, kerr *e)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi || v[0] == '-')
        return kerr_set(e, K_INVALID, "%s: expected a whole number from %llu to %llu, got '%.40s'",
                        key, lo, hi, v);
    *out = x;
    return K_OK;
}

static kstatus set_bool(const char *key, const char *v, int *out, kerr *e)
{
    if (!strcmp(v, "true") || !strcmp(v, "1") || !strcmp(v, "yes"))
        *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "0") || !strcmp(v, "no"))
        *out = 0;
    else
        return kerr_set(e, K_INVALID, "%s: expected true or false, got '%.40s'", key, v);
    return K_OK;
}

static kstatus set_str(const char *key, const char *v, char *out, size_t size, kerr *e)
{
    if (strlen(v) >= size) return kerr_set(e, K_INVALID, "%s: value is too long", key);
    memcpy(out, v, strlen(v) + 1);
    return K_OK;
}

static kstatus set_rate(const char *key, const char *v, double *out, kerr *e)
{
    char *end;
    double x = strtod(v, &end);
    if (!*v || *end || !(x >= 0 && x <= 1))
        return kerr_set(e, K_INVALID, "%s: expected a share from 0 to 1, got '%.40s'", key, v);
    *out = x;
    return K_OK;
}

typedef enum { T_UINT, T_BOOL, T_STR, T_RATE } kind;

typedef struct {
    const char *key;
    kind type;
    size_t offset, size; /* field in kserve_config; size for T_UINT is sizeof the field */
    unsigned long long lo, hi;
} setting;

#define U(k, f, l, h)                                                                              \
    {                                                                                              \
        k, T_UINT, offsetof(kserve_config, f), sizeof(((kserve_config *)0)->f), l, h               \
    }
#define S(k, f)                                                                                    \
    {                                                                                              \
        k, T_STR, offsetof(kserve_config, f), sizeof(((kserve_config *)0)->f), 0, 0                \
    }
#define B(k, f)                                                                                    \
    {                                                                                              \
        k, T_BOOL, offsetof(kserve_config, f), sizeof(int), 0, 0                                   \
    }

static const setting settings[] = {
    S("listen", listen),
    U("threads", threads, 0, 1024),
    U("max_body_bytes", max_body_bytes, 1024, (unsigned long long)1 << 32),
    U("max_header_bytes", max_header_bytes, 4096, (unsigned long long)1 << 20),
    U("max_batch_rows", max_batch_rows, 1, 10000000),
    U("max_connections", max_connections, 1, 1000000),
    U("idle_timeout_s", idle_timeout_s, 1, 86400),
    U("request_timeout_s", request_timeout_s, 0, 86400),
    U("max_json_depth", max_json_depth, 2, 64),
    U("cache_bytes", cache_bytes, 0, (unsigned long long)1 << 40),
    U("cache_ttl_ms", cache_ttl_ms, 0, 86400000),
    U("batch_max", batch_max, 1, 65536),
    U("batch_delay_us", batch_delay_us, 0, 1000000),
    U("batch_queue", batch_queue, 1, 10000000),
    U("drift_window", drift_window, 10, 10000000),
    U("drift_window_seconds", drift_window_seconds, 0, 31 * 86400),
    B("feedback", feedback),
    U("feedback_max_pending", feedback_max_pending, 0, 100000000),
    U("feedback_window_s", feedback_window_s, 0, 31 * 86400),
    U("feedback_max_pairs", feedback_max_pairs, 0, 10000000),
    S("prediction_log_dir", prediction_log_dir),
    {"prediction_log_rate", T_RATE, offsetof(kserve_config, prediction_log_rate), sizeof(double), 0,
     0},
    U("prediction_log_max_bytes", prediction_log_max_bytes, 65536, (unsigned long long)1 << 40),
    U("prediction_log_keep", prediction_log_keep, 0, 1000),
    B("allow_model_control", allow_model_control),
    B("auth_required", auth_required),
    B("auth_open_probes", auth_open_probes),
    B("insecure", insecure),
    S("rate_limit_per_address", rate_limit_per_address),
    S("rate_limit_viewer", rate_limit_viewer),
    S("rate_limit_predictor", rate_limit_predictor),
    S("rate_limit_deployer", rate_limit_deployer),
    S("rate_limit_admin", rate_limit_admin),
    S("rate_limit_burst", rate_limit_burst),
    S("rate_limit_redis", rate_limit_redis),
    S("rate_limit_redis_password_file", rate_limit_redis_password_file),
    S("jwt_issuer", jwt_issuer),
    S("jwt_audience", jwt_audience),
    S("jwt_algorithms", jwt_algorithms),
    S("jwt_key_file", jwt_key_file),
    S("jwt_jwks_file", jwt_jwks_file),
    S("jwt_role_claim", jwt_role_claim),
    S("jwt_models_claim", jwt_models_claim),
    S("jwt_rate_claim", jwt_rate_claim),
    U("jwt_leeway_s", jwt_leeway_s, 0, 600),
    B("metrics", metrics),
    S("access_log", access_log),
    S("log_level", log_level),
    U("shutdown_timeout_s", shutdown_timeout_s, 0, 3600),
    S("default_alias", default_alias),
    S("default_model", default_model),
    U("poll_ms", poll_ms, 10, 60000),
    S("home", home),
    S("store", store),
    S("artifacts", artifacts),
    S("tls_cert_file", tls_cert_file),
    S("tls_key_file", tls_key_file),
    S("tls_key_password_file", tls_key_password_file),
    S("tls_client_ca_file", tls_client_ca_file),
    S("tls_min_version", tls_min_version),
    S("trusted_keys", trusted_keys),
    B("require_signed_models", require_signed_models),
};

static void store_uint(void *field, size_t size, unsigned long long v)
{
    if (size == sizeof(int))
        *(int *)field = (int)v;
    else if (size == sizeof(unsigned))
        *(unsigned *)field = (unsigned)v;
    else
        *(size_t *)field = (size_t)v;
}

kstatus kserve_config_set(kserve_config *c, const char *key, const char *value, kerr *e)
{
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
        const setting *s = &settings[i];
        if (strcmp(s->key, key) != 0) continue;
        char *field = (char *)c + s->offset;
        unsigned long long u = 0;
        kstatus st;
        switch (s->type) {
        case T_UINT:
            if ((st = set_uint(key, value, s->lo, s->hi, &u, e))) return st;
            store_uint(field, s->size, u);
            return K_OK;
        case T_BOOL:
            return set_bool(key, value, (int *)field, e);
        case T_STR:
            return set_str(key, value, field, s->size, e);
        case T_RATE:
            return set_rate(key, value, (double *)field, e);
        }
    }
    return kerr_set(e, K_INVALID, "unknown setting '%.60s'", key);
}

kstatus kserve_config_add_model(kserve_config *c, const char *spec, kerr *e)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1])
        return kerr_set(e, K_INVALID, "--model takes NAME=FILE.kiln, got '%.100s'", spec);
    if (c->n_files == KLOADER_MAX) return kerr_set(e, K_LIMIT, "at most %d --model", KLOADER_MAX);
    int n = snprintf(c->file_names[c->n_files], sizeof c->file_names[0], "%.*s", (int)(eq - spec),
                     spec);
    if (n < 0 || (size_t)n >= sizeof c->file_names[0])
        return kerr_set(e, K_INVALID, "model name too long");
    kstatus st = kreg_check_name("model", c->file_names[c->n_files], e);
    if (!st) st = set_str("model path", eq + 1, c->file_paths[c->n_files], KCONF_STR, e);
    if (!st) c->n_files++;
    return st;
}

kstatus kserve_config_add_ref(kserve_config *c, const char *spec, kerr *e)
{
    char name[KREG_NAME_MAX + 1], ref[KREG_NAME_MAX + 1];
    kstatus st = kreg_split_ref(spec, name, ref, e);
    if (st) return st;
    if (!ref[0]) snprintf(ref, sizeof ref, "%s", c->default_alias);
    if (c->n_refs == KLOADER_MAX) return kerr_set(e, K_LIMIT, "at most %d --serve", KLOADER_MAX);
    snprintf(c->ref_names[c->n_refs], sizeof c->ref_names[0], "%s", name);
    snprintf(c->ref_aliases[c->n_refs], sizeof c->ref_aliases[0], "%.64s", ref);
    c->n_refs++;
    return K_OK;
}

/* ---- kiln.yaml ---------------------------------------------------------------------------- */

static kstatus apply_models(kserve_config *c, json_object *v, kerr *e)
{
    if (!json_object_is_type(v, json_type_object))
        return kerr_set(e, K_INVALID, "models: expected a mapping of NAME: FILE.kiln");
    json_object_object_foreach(v, name, path)
    {
        char spec[KCONF_STR + 140];
        snprintf(spec, sizeof spec, "%s=%s", name, json_object_get_string(path));
        kstatus st = kserve_config_add_model(c, spec, e);
        if (st) return st;
    }
    return K_OK;
}

static kstatus apply_serve(kserve_config *c, json_object *v, kerr *e)
{
    if (!json_object_is_type(v, json_type_array))
        return kerr_set(e, K_INVALID, "serve: expected a list of NAME@ALIAS");
    for (size_t i = 0; i < json_object_array_length(v); i++) {
        kstatus st =
            kserve_config_add_ref(c, json_object_get_string(json_object_array_get_idx(v, i)), e);
        if (st) return st;
    }
    return K_OK;
}

static kstatus apply_alerts(kserve_config *c, json_object *v, kerr *e)
{
    struct kalerts *a;
    kstatus st = kalerts_new(v, &a, e);
    if (st) return st;
    kalerts_free(c->alerts);
    c->alerts = a;
    return K_OK;
}

static kstatus apply_validation(kserve_config *c, json_object *v, kerr *e)
{
    struct kvalidate *x;
    kstatus st = kvalidate_new(v, &x, e);
    if (st) return st;
    kvalidate_free(c->validation);
    c->validation = x;
    return K_OK;
}

static int is_section(const char *key)
{
    return !strcmp(key, "limits") || !strcmp(key, "registry") || !strcmp(key, "throughput") ||
           !strcmp(key, "monitoring") || !strcmp(key, "security");
}

/* Nested sections flatten to their keys: limits.max_body_bytes is max_body_bytes. */
static kstatus apply_object(kserve_config *c, json_object *doc, kerr *e)
{
    json_object_object_foreach(doc, key, v)
    {
        kstatus st;
        if (!strcmp(key, "models"))
            st = apply_models(c, v, e);
        else if (!strcmp(key, "serve"))
            st = apply_serve(c, v, e);
        else if (!strcmp(key, "alerts"))
            st = apply_alerts(c, v, e);
        else if (!strcmp(key, "validation"))
            st = apply_validation(c, v, e);
        else if (is_section(key) && json_object_is_type(v, json_type_object))
            st = apply_object(c, v, e);
        else if (json_object_is_type(v, json_type_object) ||
                 json_object_is_type(v, json_type_array))
            st = kerr_set(e, K_INVALID, "%s: expected a single value", key);
        else
            st = kserve_config_set(c, key, v ? json_object_get_string(v) : "", e);
        if (st) return st;
    }
    return K_OK;
}

static kstatus apply_doc(kserve_config *c, json_object *doc, kerr *e)
{
    kstatus st = json_object_is_type(doc, json_type_object)
                     ? apply_object(c, doc, e)
                     : kerr_set(e, K_INVALID, "expected a mapping of settings");
    json_object_put(doc);
    return st;
}

kstatus kserve_config_file(kserve_config *c, const char *path, kerr *e)
{
    json_object *doc;
    kstatus st = yaml_load_file(path, &doc, e);
    if (!st) st = apply_doc(c, doc, e);
    if (st && e && !strstr(e->msg, path)) kerr_prefix(e, "%s", path);
    return st;
}

kstatus kserve_config_text(kserve_config *c, const char *text, size_t len, kerr *e)
{
    json_object *doc;
    kstatus st = yaml_parse(text, len, &doc, e);
    return st ? st : apply_doc(c, doc, e);
}

kstatus kserve_config_env(kserve_config *c, kerr *e)
{
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++) {
        char var[64];
        size_t j = (size_t)snprintf(var, sizeof var, "KILN_");
        for (const char *k = settings[i].key; *k && j < sizeof var - 1; k++)
            var[j++] = (char)toupper((unsigned char)*k);
        var[j] = 0;
        const char *v = getenv(var);
        if (!v) continue;
        kstatus st = kserve_config_set(c, settings[i].key, v, e);
        if (st) {
            kerr_prefix(e, "%s", var);
            return st;
        }
    }
    return K_OK;
}

kstatus kserve_config_listen(const kserve_config *c, char *host, size_t size, int *port, kerr *e)
{
    const char *colon = strrchr(c->listen, ':');
    const char *h = c->listen;
    size_t hl = colon ? (size_t)(colon - h) : 0;
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2; /* [::1]:8080 */
    unsigned long long p = 0;
    if (!colon || hl == 0 || hl >= size ||
        set_uint("listen port", colon + 1, 0, 65535, &p, NULL) != K_OK)
        return kerr_set(e, K_INVALID, "listen: expected HOST:PORT (e.g. 127.0.0.1:8080), got '%s'",
                        c->listen);
    memcpy(host, h, hl);
    host[hl] = 0;
    *port = (int)p;
    return K_OK;
}
