/* cmd_models_register.c — `kiln models register`: import when needed, check the package's
 * signature against the policy (model/sign.h), then record a new version with its lineage. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/fs.h"
#include "cli/cmd_models.h"
#include "data/yaml.h"
#include "model/import.h"
#include "model/package.h"
#include "model/sign.h"
#include "store/audit.h"

#define MAX_TAGS 64
#define SOURCE_MAX ((size_t)4 << 30)

typedef struct {
    kreg_register_req q;
    const char *file, *config;
    const char *trusted_keys; /* --trusted-keys, else $KILN_TRUSTED_KEYS */
    int require_signed;       /* --require-signed, else $KILN_REQUIRE_SIGNED_MODELS */
    kformat fmt;
    const char *keys[MAX_TAGS], *values[MAX_TAGS];
    char *tag_text[MAX_TAGS];
} reg_args;

/* "k=v" → key and value (the text is copied so argv stays intact). */
int models_split_tag(const char *arg, char **copy, const char **key, const char **value)
{
    const char *eq = strchr(arg, '=');
    if (!eq) return -1;
    *copy = strdup(arg);
    if (!*copy) return -1;
    (*copy)[eq - arg] = 0;
    *key = *copy;
    *value = *copy + (eq - arg) + 1;
    return 0;
}

static int parse(int argc, char **argv, reg_args *a, cli_reg_opts *o)
{
    static const struct option opts[] = {CLI_REG_LONGOPTS,
                                         {"name", required_argument, 0, 'n'},
                                         {"alias", required_argument, 0, 'a'},
                                         {"tag", required_argument, 0, 't'},
                                         {"description", required_argument, 0, 'd'},
                                         {"config", required_argument, 0, 'c'},
                                         {"parent", required_argument, 0, 'p'},
                                         {"run", required_argument, 0, 'r'},
                                         {"dataset", required_argument, 0, 'D'},
                                         {"format", required_argument, 0, 'f'},
                                         {"trusted-keys", required_argument, 0, 'T'},
                                         {"require-signed", no_argument, 0, 'S'},
                                         {0, 0, 0, 0}};
    const char *cmd = "models register";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "n:a:t:d:c:p:r:D:f:", opts, NULL)) != -1) {
        char *end;
        if (cli_reg_option(c, optarg, o)) continue;
        switch (c) {
        case 'n':
            a->q.name = optarg;
            break;
        case 'a':
            a->q.alias = optarg;
            break;
        case 'd':
            a->q.description = optarg;
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'r':
            a->q.run_id = optarg;
            break;
        case 'D':
            a->q.dataset = optarg;
            break;
        case 'T':
            a->trusted_keys = optarg;
            break;
        case 'S':
            a->require_signed = 1;
            break;
        case 'p':
            a->q.parent_version = strtoll(optarg, &end, 10);
            if (*end || a->q.parent_version <= 0)
                return cli_usage(cmd, "--parent takes a version number, got '%s'", optarg);
            break;
        case 'f': {
            int f = kformat_parse(optarg);
            if (f < 0) return cli_usage(cmd, "unknown format '%s'", optarg);
            a->fmt = (kformat)f;
            break;
        }
        case 't':
            if (a->q.n_tags == MAX_TAGS) return cli_usage(cmd, "at most %d tags", MAX_TAGS);
            if (models_split_tag(optarg, &a->tag_text[a->q.n_tags], &a->keys[a->q.n_tags],
                                 &a->values[a->q.n_tags]))
                return cli_usage(cmd, "--tag takes KEY=VALUE, got '%s'", optarg);
            a->q.n_tags++;
            break;
        default:
            return cli_usage(cmd, "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage(cmd, "expected exactly one model file");
    if (!a->q.name) return cli_usage(cmd, "--name is required");
    a->file = argv[optind];
    return EXIT_OK;
}

/* The package bytes: the file itself when it is a .kiln package, else its import. */
static kstatus package_bytes(const reg_args *a, buf *out, kerr *e)
{
    char *data;
    size_t len;
    kstatus st = fs_read_all(a->file, SOURCE_MAX, &data, &len, e);
    if (st) return st;
    int is_pkg = len >= 8 && memcmp(data, "KILNMODL", 8) == 0;
    if (is_pkg && a->fmt != KFMT_AUTO && a->fmt != KFMT_KILN)
        st = kerr_set(e, K_INVALID, "%s is a .kiln package, not --format %s", a->file,
                      kformat_name(a->fmt));
    else if (is_pkg)
        st = buf_append(out, data, len) ? kerr_set(e, K_LIMIT, "package too large") : K_OK;
    free(data);
    if (st || is_pkg) return st;
    kspec *s;
    if ((st = import_file(a->file, a->fmt, &s, e))) return st;
    st = kpkg_write(s, out, e);
    kspec_free(s);
    return st;
}

/* The signature policy from flags and environment, applied to the package bytes. */
static kstatus check_signature(reg_args *a, const buf *pkg, kerr *e)
{
    const char *req = getenv("KILN_REQUIRE_SIGNED_MODELS");
    if (!a->trusted_keys) a->trusted_keys = getenv("KILN_TRUSTED_KEYS");
    if (req && (!strcmp(req, "true") || !strcmp(req, "1") || !strcmp(req, "yes")))
        a->require_signed = 1;
    ksign_trust *t;
    kstatus st = ksign_trust_new(&t, e);
    if (!st && a->trusted_keys && *a->trusted_keys &&
        (st = ksign_trust_load(t, a->trusted_keys, e)))
        kerr_prefix(e, "trusted keys");
    if (!st && (st = ksign_check(t, a->require_signed, pkg->data, pkg->len, e)))
        kerr_prefix(e, "%s: refused", a->q.name);
    ksign_trust_free(t);
    return st;
}

static kstatus load_config(const char *path, char **json, kerr *e)
{
    json_object *doc;
    kstatus st = yaml_load_file(path, &doc, e);
    if (st) return st;
    if (!json_object_is_type(doc, json_type_object))
        st = kerr_set(e, K_FORMAT, "%s: expected a mapping (model:, data:, parameters:)", path);
    else if (!(*json = strdup(json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN))))
        st = kerr_set(e, K_NOMEM, "out of memory");
    json_object_put(doc);
    return st;
}

static void report(const cli_reg_opts *o, const kreg_version *v, const char *alias)
{
    if (o->json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "name", json_object_new_string(v->name));
        json_object_object_add(j, "version", json_object_new_int64(v->version));
        json_object_object_add(j, "package_sha256", json_object_new_string(v->package_sha256));
        json_object_object_add(j, "package_size", json_object_new_int64(v->package_size));
        json_object_object_add(j, "alias", alias ? json_object_new_string(alias) : NULL);
        cli_print_json(j);
        json_object_put(j);
        return;
    }
    printf("registered %s version %lld (package sha256 %.16s…, %lld bytes)\n", v->name,
           (long long)v->version, v->package_sha256, (long long)v->package_size);
    if (alias) printf("alias %s@%s → version %lld\n", v->name, alias, (long long)v->version);
}

/* A package refused for its signature: said on stderr and recorded in the audit log. */
static int refused(const cli_reg_opts *o, const char *name, const kerr *why)
{
    int rc = cli_fail(why);
    kreg *r;
    if (cli_open_registry(o, &r)) return rc;
    kaudit_event ev = {.actor = cli_user(),
                       .action = "model.register",
                       .object = name,
                       .outcome = "denied",
                       .detail = why->msg};
    kerr e = {0};
    if (kaudit_append(r, &ev, &e)) cli_fail(&e);
    kreg_close(r);
    return rc;
}

int models_register(int argc, char **argv)
{
    reg_args a = {0};
    cli_reg_opts o = {0};
    int rc = parse(argc, argv, &a, &o);
    kerr e = {0};
    char *config = NULL;
    buf pkg;
    buf_init(&pkg, SOURCE_MAX);
    kreg *r = NULL;
    if (!rc &&
        (kreg_check_name("model", a.q.name, &e) || (a.q.alias && kreg_check_alias(a.q.alias, &e))))
        rc = cli_fail(&e);
    if (!rc && a.config && load_config(a.config, &config, &e)) rc = cli_fail(&e);
    if (!rc && package_bytes(&a, &pkg, &e)) rc = cli_fail(&e);
    if (!rc && check_signature(&a, &pkg, &e)) rc = refused(&o, a.q.name, &e);
    if (!rc) rc = cli_open_registry(&o, &r);
    if (!rc) {
        kreg_version v;
        a.q.package = pkg.data;
        a.q.package_len = pkg.len;
        a.q.who = cli_user();
        a.q.config_json = config;
        a.q.tag_keys = a.keys;
        a.q.tag_values = a.values;
        if (kreg_register(r, &a.q, &v, &e))
            rc = cli_fail(&e);
        else
            report(&o, &v, a.q.alias);
    }
    kreg_close(r);
    buf_free(&pkg);
    free(config);
    for (int i = 0; i < a.q.n_tags; i++)
        free(a.tag_text[i]);
    return rc;
}
