/* cmd_serve.c — `kiln serve`: settings from kiln.yaml, KILN_* and flags; models from files and
 * the registry; the HTTP server; signals (SIGHUP reloads, SIGTERM/SIGINT drain and exit 0). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/sha256.h"
#include "cli/cli.h"
#include "monitor/feedback.h"
#include "monitor/metrics.h"
#include "monitor/predlog.h"
#include "serve/alerter.h"
#include "serve/auth.h"
#include "serve/jwt.h"
#include "serve/config.h"
#include "serve/loader.h"
#include "serve/ratelimit.h"
#include "serve/server.h"

void cmd_serve_help(void)
{
    printf(
        "usage: kiln serve [--config kiln.yaml] [--listen HOST:PORT] [--model NAME=FILE.kiln]...\n"
        "                  [--serve NAME[@ALIAS]]... [options]\n\n"
        "Serves models over HTTP: the seed's POST /predict and GET /health, POST\n"
        "/models/NAME/predict, the Open Inference Protocol v2 (/v2/...), GET /openapi.json.\n\n"
        "Models come from package files (--model) and from the registry (--serve NAME@ALIAS;\n"
        "with no --model and no --serve: every registered model's default alias). Alias moves\n"
        "in the registry are picked up within a second; SIGHUP reloads everything; SIGTERM\n"
        "and SIGINT stop accepting, finish requests in flight, and exit 0.\n\n"
        "  --config FILE              settings file (also $KILN_CONFIG); see docs/serving.md\n"
        "  --listen HOST:PORT         default 127.0.0.1:8080 (port 0: any free port)\n"
        "  --model NAME=FILE          serve a package file under NAME (repeatable)\n"
        "  --serve NAME[@ALIAS]       serve a registry model (repeatable; ALIAS default\n"
        "                             'production')\n"
        "  --default-model NAME       the model POST /predict uses (default: the first)\n"
        "  --threads N                HTTP threads (default: one per core)\n"
        "  --allow-model-control      enable /v2/repository load, unload and index\n"
        "  --insecure                 allow a non-loopback --listen with no API keys\n"
        "  --access-log PATH|-|off    one JSON line per request (default -: stderr)\n"
        "  --log-level LEVEL          error, warn, info (default), debug\n"
        "  --set KEY=VALUE            any setting of kiln.yaml (e.g. max_body_bytes=1048576)\n"
        "  --home, --store, --artifacts   where the registry is (as for kiln models)\n\n"
        "Settings apply in this order, each overriding the one before: defaults, kiln.yaml,\n"
        "KILN_* environment variables, flags.\n\n"
        "Security (docs/security.md): once an API key exists (kiln keys create) every request\n"
        "must authenticate; HTTPS with --set tls_cert_file=F --set tls_key_file=K (SIGHUP\n"
        "reloads them); rate limits with rate_limit_*; input policy in kiln.yaml validation:.\n");
}

static int level_of(const char *name)
{
    return !strcmp(name, "error") ? 0 : !strcmp(name, "warn") ? 1 : !strcmp(name, "debug") ? 3 : 2;
}

static int max_level = 2;

/* Server events: one JSON line on stderr. */
static void event(void *ctx, int level, const char *msg)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    if (level > max_level) return;
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    buf b;
    buf_init(&b, 4096);
    khttp_json_string(&b, msg);
    fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":%.*s}\n", when, names[level],
            (int)b.len, b.data ? (char *)b.data : "\"\"");
    buf_free(&b);
}

typedef struct {
    kserve_config c;
    cli_reg_opts reg;
    const char *config_path;
} serve_args;

static int flag(serve_args *a, int c, const char *arg)
{
    kerr e = {0};
    kstatus st = K_OK;
    char key[64];
    switch (c) {
    case 'l': {
        char host[64];
        int port;
        st = kserve_config_set(&a->c, "listen", arg, &e);
        if (!st) st = kserve_config_listen(&a->c, host, sizeof host, &port, &e);
        break;
    }
    case 'm':
        st = kserve_config_add_model(&a->c, arg, &e);
        break;
    case 's':
        st = kserve_config_add_ref(&a->c, arg, &e);
        break;
    case 'd':
        st = kserve_config_set(&a->c, "default_model", arg, &e);
        break;
    case 't':
        st = kserve_config_set(&a->c, "threads", arg, &e);
        break;
    case 'A':
        a->c.allow_model_control = 1;
        break;
    case 'I':
        a->c.insecure = 1;
        break;
    case 'a':
        st = kserve_config_set(&a->c, "access_log", arg, &e);
        break;
    case 'L':
        st = kserve_config_set(&a->c, "log_level", arg, &e);
        break;
    case 'S': {
        const char *eq = strchr(arg, '=');
        if (!eq || (size_t)(eq - arg) >= sizeof key)
            return cli_usage("serve", "--set takes KEY=VALUE");
        snprintf(key, sizeof key, "%.*s", (int)(eq - arg), arg);
        st = kserve_config_set(&a->c, key, eq + 1, &e);
        break;
    }
    default:
        return cli_usage("serve", "unknown option");
    }
    return st ? cli_usage("serve", "%s", e.msg) : EXIT_OK;
}

static int parse(int argc, char **argv, serve_args *a)
{
    static const struct option opts[] = {CLI_REG_LONGOPTS,
                                         {"config", required_argument, 0, 'c'},
                                         {"listen", required_argument, 0, 'l'},
                                         {"model", required_argument, 0, 'm'},
                                         {"serve", required_argument, 0, 's'},
                                         {"default-model", required_argument, 0, 'd'},
                                         {"threads", required_argument, 0, 't'},
                                         {"allow-model-control", no_argument, 0, 'A'},
                                         {"insecure", no_argument, 0, 'I'},
                                         {"access-log", required_argument, 0, 'a'},
                                         {"log-level", required_argument, 0, 'L'},
                                         {"set", required_argument, 0, 'S'},
                                         {0, 0, 0, 0}};
    /* The config file is applied first, so find it before the other flags. */
    a->config_path = getenv("KILN_CONFIG");
    if (a->config_path && !*a->config_path) a->config_path = NULL; /* set but empty: none */
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--config")) a->config_path = argv[i + 1];
    kerr e = {0};
    kserve_config_defaults(&a->c);
    if (a->config_path && kserve_config_file(&a->c, a->config_path, &e)) return cli_fail(&e);
    if (kserve_config_env(&a->c, &e)) return cli_fail(&e);
    int c, rc = EXIT_OK;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (c != 'c' && !cli_reg_option(c, optarg, &a->reg)) rc = flag(a, c, optarg);
    if (!rc && optind != argc) rc = cli_usage("serve", "unexpected argument '%s'", argv[optind]);
    if (!rc) {
        if (a->c.home[0] && !a->reg.home) a->reg.home = a->c.home;
        if (a->c.store[0] && !a->reg.store) a->reg.store = a->c.store;
        if (a->c.artifacts[0] && !a->reg.artifacts) a->reg.artifacts = a->c.artifacts;
    }
    return rc;
}

static void fill_loader(const serve_args *a, kloader_options *lo, const kreg_options *reg)
{
    const kserve_config *c = &a->c;
    memset(lo, 0, sizeof *lo);
    lo->n_files = c->n_files;
    for (int i = 0; i < c->n_files; i++) {
        lo->file_names[i] = c->file_names[i];
        lo->file_paths[i] = c->file_paths[i];
    }
    lo->n_refs = c->n_refs;
    for (int i = 0; i < c->n_refs; i++) {
        lo->ref_names[i] = c->ref_names[i];
        lo->ref_aliases[i] = c->ref_aliases[i];
    }
    lo->serve_all = c->n_files == 0 && c->n_refs == 0;
    lo->default_alias = c->default_alias;
    lo->registry = reg;
    lo->poll_ms = c->poll_ms;
    lo->log = event;
    lo->trusted_keys = c->trusted_keys;
    lo->require_signed = c->require_signed_models;
}

static kstatus control_load(void *ctx, const char *name, kerr *e)
{
    return kloader_load(ctx, name, e);
}

static kstatus control_unload(void *ctx, const char *name, kerr *e)
{
    return kloader_unload(ctx, name, e);
}

static FILE *open_access_log(const char *where)
{
    if (!strcmp(where, "off")) return NULL;
    if (!strcmp(where, "-")) return stderr;
    return fopen(where, "a");
}

/* The sampled prediction log, when prediction_log_rate > 0 (default directory HOME/predictions). */
static int open_predlog(const serve_args *a, kpredlog **out)
{
    const kserve_config *c = &a->c;
    if (c->prediction_log_rate <= 0) return EXIT_OK;
    char dir[4200], home[4096];
    if (c->prediction_log_dir[0])
        snprintf(dir, sizeof dir, "%s", c->prediction_log_dir);
    else
        snprintf(dir, sizeof dir, "%s/predictions", cli_home(&a->reg, home, sizeof home));
    mkdir(dir, 0700);
    kerr e = {0};
    *out = kpredlog_open(dir, c->prediction_log_rate, c->prediction_log_max_bytes,
                         c->prediction_log_keep, &e);
    return *out ? EXIT_OK : cli_fail(&e);
}

static void metrics_text(void *ctx, buf *out)
{
    kserve_metrics_text(ctx, out);
}

/* A package refused at load for its signature goes to the audit log too. */
static void audit_refused(void *ctx, const char *model, const char *why)
{
    kerr e = {0};
    if (kauth_audit(ctx, "kiln-serve", "local", "model.refused", model, "denied", why, &e)) {
        kerr_prefix(&e, "audit log");
        event(NULL, 1, e.msg);
    }
}

static void audit(kauth *auth, const char *action, const char *where, const char *outcome,
                  const char *detail)
{
    kerr e = {0};
    if (kauth_audit(auth, cli_user(), "local", action, where, outcome, detail, &e)) {
        kerr_prefix(&e, "audit log");
        event(NULL, 1, e.msg);
    }
}

/* The configuration a server started with: which file (and its SHA-256) and where it listens;
 * `sum` gets the SHA-256 ("" without a file) for later comparison. */
static void audit_start(const serve_args *a, kauth *auth, const char *where,
                        char sum[SHA256_HEX_LEN])
{
    char detail[KCONF_STR + 200];
    sum[0] = 0;
    if (a->config_path) sha256_file_hex(a->config_path, sum, NULL);
    snprintf(detail, sizeof detail, "config %s%s%s", a->config_path ? a->config_path : "(none)",
             sum[0] ? " sha256 " : "", sum);
    audit(auth, "server.start", where, "ok", detail);
}

typedef struct {
    const serve_args *a;
    kserver *srv;
    kloader *l;
    kauth *auth;
    const char *where;
    char config_sum[SHA256_HEX_LEN]; /* kiln.yaml's SHA-256 at start; "" without one */
} running;

/* SIGHUP: every model and the TLS certificate again, recorded in the audit log. Settings are
 * not re-read, so a kiln.yaml edited since the start is pointed out (a restart applies it). */
static void reload(running *r)
{
    event(NULL, 2, "SIGHUP: reloading every model");
    kloader_reload(r->l);
    kerr e = {0};
    char detail[KERR_MSG_MAX + KCONF_STR + 200], sum[SHA256_HEX_LEN] = "";
    int tls_failed = kserver_reload_tls(r->srv, &e) != K_OK;
    if (tls_failed)
        event(NULL, 0, e.msg);
    else if (kserver_tls(r->srv))
        event(NULL, 2, "SIGHUP: TLS certificate reloaded (with its key and any client CA file)");
    if (r->a->config_path) sha256_file_hex(r->a->config_path, sum, NULL);
    int edited = r->a->config_path && strcmp(sum, r->config_sum) != 0;
    if (edited)
        event(NULL, 1, "SIGHUP: the settings file changed since the start and is not re-read; "
                       "restart kiln serve to apply it");
    snprintf(detail, sizeof detail, "models reloaded; TLS %s%s%s",
             tls_failed ? "kept: " : kserver_tls(r->srv) ? "certificate reloaded" : "off",
             tls_failed ? e.msg : "",
             edited ? "; the settings file changed since the start (not applied)" : "");
    audit(r->auth, "server.reload", r->where, tls_failed ? "failed" : "ok", detail);
}

/* Waits for signals: SIGHUP reloads, SIGTERM/SIGINT drain and return. */
static void run_until_stopped(running *r, int deadline_s, const sigset_t *set)
{
    for (;;) {
        struct timespec tick = {0, 200 * 1000000L};
        int sig = sigtimedwait(set, NULL, &tick);
        kserver_flush_log(r->srv);
        if (sig == SIGHUP)
            reload(r);
        else if (sig == SIGTERM || sig == SIGINT)
            break;
    }
    event(NULL, 2, "stopping: no new connections; finishing requests in flight");
    kserver_quiesce(r->srv);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        if (kserver_in_flight(r->srv) == 0) break;
        nanosleep(&(struct timespec){0, 10 * 1000000L}, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < deadline_s);
}

static int is_loopback(const char *host)
{
    return !strncmp(host, "127.", 4) || !strcmp(host, "::1") || !strcmp(host, "localhost");
}

/* API key authentication, from the registry's keys. Without a registry in use, one that
 * already exists is still read (keys live there); none at all means no keys. */
static int open_jwt(const kserve_config *c, kjwt **out)
{
    if (!c->jwt_issuer[0] && !c->jwt_key_file[0] && !c->jwt_jwks_file[0]) return EXIT_OK;
    kjwt_config jc;
    kjwt_config_default(&jc);
    jc.issuer = c->jwt_issuer;
    jc.audience = c->jwt_audience;
    jc.algorithms = c->jwt_algorithms;
    jc.key_file = c->jwt_key_file[0] ? c->jwt_key_file : NULL;
    jc.jwks_file = c->jwt_jwks_file[0] ? c->jwt_jwks_file : NULL;
    jc.role_claim = c->jwt_role_claim;
    jc.models_claim = c->jwt_models_claim;
    jc.rate_claim = c->jwt_rate_claim;
    jc.leeway_s = c->jwt_leeway_s;
    kerr e = {0};
    if (!kjwt_new(&jc, out, &e)) return EXIT_OK;
    kerr_prefix(&e, "jwt settings");
    return cli_fail(&e);
}

static int open_auth(serve_args *a, const kreg_options *reg, kauth **out)
{
    cli_reg_location loc;
    kjwt *jwt = NULL;
    if (open_jwt(&a->c, &jwt)) return EXIT_FAIL;
    if (!reg) {
        if (cli_registry_location(&a->reg, &loc)) return EXIT_FAIL;
        reg = &loc.options;
        if (strncmp(reg->store, "postgres", 8) && access(reg->store, F_OK) != 0) reg = NULL;
    }
    kreg *r = NULL;
    kerr e = {0};
    if (reg && kreg_open(reg, &r, &e)) {
        kjwt_free(jwt);
        return cli_fail(&e);
    }
    if ((r || jwt || a->c.auth_required) && kauth_start(r, jwt, a->c.auth_required, out, &e)) {
        if (r) kreg_close(r);
        kjwt_free(jwt);
        return cli_fail(&e);
    }
    return EXIT_OK;
}

/* Secure default: a server reachable from other hosts must authenticate its callers. */
static int check_exposure(const serve_args *a, const char *host, kauth *auth)
{
    if (is_loopback(host) || kauth_enabled(auth) || a->c.insecure) return EXIT_OK;
    kerr e = {0};
    kerr_set(&e, K_INVALID,
             "refusing to listen on %s without authentication: create an API key (kiln keys "
             "create --name NAME --role predictor), or pass --insecure if something in front "
             "of kiln authenticates callers",
             a->c.listen);
    return cli_fail(&e);
}

static int serve(serve_args *a, const kreg_options *reg)
{
    kserve_config *c = &a->c;
    kerr e = {0};
    kserver_options so = {.threads = c->threads,
                          .max_body_bytes = c->max_body_bytes,
                          .max_header_bytes = c->max_header_bytes,
                          .max_connections = c->max_connections,
                          .idle_timeout_s = c->idle_timeout_s,
                          .request_timeout_s = c->request_timeout_s,
                          .tls_cert_file = c->tls_cert_file,
                          .tls_key_file = c->tls_key_file,
                          .tls_key_password_file = c->tls_key_password_file,
                          .tls_client_ca_file = c->tls_client_ca_file,
                          .tls_min_version = c->tls_min_version};
    if (kserve_config_listen(c, so.host, sizeof so.host, &so.port, &e)) return cli_fail(&e);
    so.access_log = open_access_log(c->access_log);
    if (strcmp(c->access_log, "off") && !so.access_log) {
        kerr_set(&e, K_IO, "cannot open the access log %s: %s", c->access_log, strerror(errno));
        return cli_fail(&e);
    }
    /* Block the signals before any thread starts (the key refresher is the first), so that
     * only the main thread's sigtimedwait receives them: a SIGHUP delivered to another
     * thread would take its default action and end the process. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    kpredlog *predlog = NULL;
    kauth *auth = NULL;
    int rc0 = open_auth(a, reg, &auth);
    if (!rc0) rc0 = check_exposure(a, so.host, auth);
    if (!rc0) rc0 = open_predlog(a, &predlog);
    if (rc0) {
        kauth_stop(auth);
        if (so.access_log && so.access_log != stderr) fclose(so.access_log);
        return rc0;
    }
    kms *models = kms_new();
    kmetrics *metrics = c->metrics ? kmetrics_new() : NULL;
    kfeedback_hub *feedback = c->feedback
                                  ? kfeedback_hub_new(c->feedback_max_pending, c->feedback_window_s,
                                                      c->feedback_max_pairs)
                                  : NULL;
    kloader_options lo;
    kloader *l = NULL;
    fill_loader(a, &lo, reg);
    lo.metrics = metrics;
    lo.refused = audit_refused;
    lo.log_ctx = auth;
    int rc = EXIT_OK;
    kms_features features = {.cache_bytes = c->cache_bytes,
                             .cache_ttl_ms = c->cache_ttl_ms,
                             .batch_max = c->batch_max,
                             .batch_delay_us = c->batch_delay_us,
                             .batch_queue = c->batch_queue,
                             .drift_window = c->drift_window,
                             .drift_window_s = c->drift_window_seconds};
    if (models) kms_set_features(models, &features);
    if (!models || kloader_new(models, &lo, &l, &e)) rc = cli_fail(&e);
    if (!rc && c->default_model[0]) kms_set_default(models, c->default_model);
    krl *limits = NULL;
    krl_options ro = {.per_address = c->rate_limit_per_address,
                      .per_role = {NULL, c->rate_limit_viewer, c->rate_limit_predictor,
                                   c->rate_limit_deployer, c->rate_limit_admin},
                      .burst = c->rate_limit_burst,
                      .redis = c->rate_limit_redis,
                      .redis_password_file = c->rate_limit_redis_password_file,
                      .log = event};
    if (!rc && krl_new(&ro, &limits, &e)) rc = cli_fail(&e);
    kserve_ctx ctx = {.models = models,
                      .limits = {.max_batch_rows = c->max_batch_rows,
                                 .max_body_bytes = c->max_body_bytes,
                                 .max_json_depth = c->max_json_depth},
                      .allow_model_control = c->allow_model_control,
                      .open_probes = c->auth_open_probes,
                      .control = {control_load, control_unload, l},
                      .server_name = "kiln",
                      .server_version = KILN_VERSION,
                      .metrics = metrics,
                      .feedback = feedback,
                      .predlog = predlog,
                      .validate = c->validation,
                      .auth = auth,
                      .ratelimit = limits};
    kserver *srv = NULL;
    kalerter *alerter = NULL;
    if (!rc && c->alerts) {
        kalerter_options ao = {c->alerts, metrics_text, &ctx, event, NULL};
        if (kalerter_start(&ao, &alerter, &e)) rc = cli_fail(&e);
        ctx.alerter = alerter;
    }
    if (!rc && kloader_start(l, &e)) rc = cli_fail(&e);
    if (!rc && kserver_start(&ctx, &so, &srv, &e)) rc = cli_fail(&e);
    if (!rc) {
        char msg[300];
        snprintf(msg, sizeof msg, "listening on %s://%s%s%s:%d",
                 kserver_tls(srv) ? "https" : "http", strchr(so.host, ':') ? "[" : "", so.host,
                 strchr(so.host, ':') ? "]" : "", kserver_port(srv));
        event(NULL, 2, msg);
        running run = {.a = a, .srv = srv, .l = l, .auth = auth, .where = msg + 13};
        audit_start(a, auth, run.where, run.config_sum);
        run_until_stopped(&run, c->shutdown_timeout_s, &set);
    }
    kserver_stop(srv);
    kalerter_stop(alerter); /* after the server: /metrics and /alerts read it */
    kloader_free(l);        /* before auth: its refusals are audited through it */
    kauth_stop(auth);
    krl_free(limits);
    kms_free(models);
    kmetrics_free(metrics);
    kpredlog_close(predlog);
    kfeedback_hub_free(feedback);
    if (so.access_log && so.access_log != stderr) fclose(so.access_log);
    if (!rc) event(NULL, 2, "stopped");
    return rc;
}

int cmd_serve(int argc, char **argv)
{
    serve_args *a = calloc(1, sizeof *a);
    if (!a) return EXIT_FAIL;
    int rc = parse(argc, argv, a);
    max_level = level_of(a->c.log_level);
    cli_reg_location loc;
    int need_registry = a->c.n_refs > 0 || a->c.n_files == 0;
    if (!rc && need_registry) rc = cli_registry_location(&a->reg, &loc);
    if (!rc) rc = serve(a, need_registry ? &loc.options : NULL);
    kserve_config_release(&a->c);
    free(a);
    return rc;
}
