/* cmd_keys.c — `kiln keys`: API keys for `kiln serve` (create, list, revoke, rotate). The secret
 * is printed once, at creation or rotation; the registry keeps only its argon2id hash. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/duration.h"
#include "cli/cli.h"
#include "store/keys.h"

void cmd_keys_help(void)
{
    printf(
        "usage: kiln keys create --name NAME --role ROLE [--models m1,m2] [--expires 30d]\n"
        "                        [--rate 100/s] [--json]\n"
        "       kiln keys list [--json]\n"
        "       kiln keys revoke NAME\n"
        "       kiln keys rotate NAME [--grace 1h] [--json]\n"
        "       kiln keys signing-create --out signing.key [--force]   (Ed25519, for kiln sign)\n\n"
        "API keys for kiln serve. Roles, each including the ones before it: viewer (health,\n"
        "metadata, metrics, stats), predictor (inference, feedback), deployer (model\n"
        "repository load/unload), admin (everything). Once one key exists, kiln serve\n"
        "refuses requests without a valid key (401) or with too small a role (403).\n\n"
        "The key is printed once; only its argon2id hash is stored. Present it as\n"
        "`Authorization: Bearer KEY` or `X-API-Key: KEY`. rotate makes a new secret and\n"
        "keeps the old one valid for --grace (default 1h).\n\n" CLI_REG_HELP);
}

typedef struct {
    cli_reg_opts reg;
    const char *name, *role, *models, *expires, *rate, *grace;
} keys_args;

static int parse(int argc, char **argv, keys_args *a)
{
    static const struct option longopts[] = {{"name", required_argument, 0, 'n'},
                                             {"role", required_argument, 0, 'r'},
                                             {"models", required_argument, 0, 'm'},
                                             {"expires", required_argument, 0, 'e'},
                                             {"rate", required_argument, 0, 'R'},
                                             {"grace", required_argument, 0, 'g'},
                                             CLI_REG_LONGOPTS,
                                             {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (cli_reg_option(c, optarg, &a->reg)) continue;
        switch (c) {
        case 'n':
            a->name = optarg;
            break;
        case 'r':
            a->role = optarg;
            break;
        case 'm':
            a->models = optarg;
            break;
        case 'e':
            a->expires = optarg;
            break;
        case 'R':
            a->rate = optarg;
            break;
        case 'g':
            a->grace = optarg;
            break;
        default:
            return cli_usage("keys", "unknown option");
        }
    }
    return EXIT_OK;
}

static void print_secret(const keys_args *a, const char *name, const char *key, const char *what)
{
    if (a->reg.json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(name));
        json_object_object_add(o, "key", json_object_new_string(key));
        cli_print_json(o);
        json_object_put(o);
        return;
    }
    printf("%s\n", key);
    fprintf(stderr, "%s key '%s'. This is the only time the key is shown: store it now.\n", what,
            name);
}

static int create(keys_args *a, kreg *r)
{
    if (!a->name || !a->role) return cli_usage("keys", "create needs --name and --role");
    double exp = a->expires ? duration_parse(a->expires) : 0;
    if (exp < 0 || (a->expires && exp <= 0))
        return cli_usage("keys", "--expires: expected a duration such as 30d or 12h");
    kkey_spec s = {.name = a->name,
                   .role = krole_parse(a->role),
                   .models = a->models,
                   .rate = a->rate,
                   .expires_at = exp > 0 ? (int64_t)time(NULL) * 1000 + (int64_t)(exp * 1000) : 0,
                   .by = cli_user()};
    char key[KKEY_LEN];
    kerr e = {0};
    if (kkeys_create(r, &s, key, &e)) return cli_fail(&e);
    print_secret(a, a->name, key, "Created");
    return EXIT_OK;
}

static void time_text(int64_t ms, char *out, size_t size)
{
    if (!ms) {
        snprintf(out, size, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *state_of(const kkey *k, int64_t now)
{
    return k->revoked_at ? "revoked" : k->expires_at && now >= k->expires_at ? "expired" : "active";
}

static json_object *key_json(const kkey *k, int64_t now)
{
    json_object *o = json_object_new_object();
    char t[32];
    json_object_object_add(o, "name", json_object_new_string(k->name));
    json_object_object_add(o, "id", json_object_new_string(k->key_id));
    json_object_object_add(o, "role", json_object_new_string(krole_name(k->role)));
    json_object_object_add(o, "models", json_object_new_string(k->models));
    json_object_object_add(o, "rate", json_object_new_string(k->rate));
    json_object_object_add(o, "state", json_object_new_string(state_of(k, now)));
    time_text(k->created_at, t, sizeof t);
    json_object_object_add(o, "created_at", json_object_new_string(t));
    json_object_object_add(o, "created_by", json_object_new_string(k->created_by));
    time_text(k->expires_at, t, sizeof t);
    json_object_object_add(o, "expires_at", k->expires_at ? json_object_new_string(t) : NULL);
    time_text(k->revoked_at, t, sizeof t);
    json_object_object_add(o, "revoked_at", k->revoked_at ? json_object_new_string(t) : NULL);
    return o;
}

static int list(keys_args *a, kreg *r)
{
    kkey *keys;
    int n;
    kerr e = {0};
    if (kkeys_list(r, &keys, &n, &e)) return cli_fail(&e);
    int64_t now = (int64_t)time(NULL) * 1000;
    json_object *arr = json_object_new_array();
    for (int i = 0; i < n; i++)
        json_object_array_add(arr, key_json(&keys[i], now));
    if (a->reg.json) {
        cli_print_json(arr);
    } else {
        printf("%-24s %-12s %-10s %-8s %-20s %s\n", "NAME", "ID", "ROLE", "STATE", "EXPIRES",
               "MODELS");
        for (int i = 0; i < n; i++) {
            char exp[32];
            time_text(keys[i].expires_at, exp, sizeof exp);
            printf("%-24s %-12s %-10s %-8s %-20s %s\n", keys[i].name, keys[i].key_id,
                   krole_name(keys[i].role), state_of(&keys[i], now), exp,
                   keys[i].models[0] ? keys[i].models : "*");
        }
    }
    json_object_put(arr);
    free(keys);
    return EXIT_OK;
}

static int revoke(keys_args *a, kreg *r, const char *name)
{
    kerr e = {0};
    if (kkeys_revoke(r, name, cli_user(), &e)) return cli_fail(&e);
    fprintf(stderr, "Revoked key '%s'; running servers refuse it within a second.\n", name);
    return EXIT_OK;
}

static int rotate(keys_args *a, kreg *r, const char *name)
{
    double grace = a->grace ? duration_parse(a->grace) : 3600;
    if (grace < 0) return cli_usage("keys", "--grace: expected a duration such as 1h");
    char key[KKEY_LEN];
    kerr e = {0};
    if (kkeys_rotate(r, name, (int64_t)(grace * 1000), cli_user(), key, &e)) return cli_fail(&e);
    print_secret(a, name, key, "Rotated");
    return EXIT_OK;
}

int cmd_keys(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "signing-create"))
        return cmd_keys_signing_create(argc - 1, argv + 1);
    if (cli_wants_help(argc, argv) || argc < 2) {
        cmd_keys_help();
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    const char *sub = argv[1];
    keys_args a = {0};
    int rc = parse(argc - 1, argv + 1, &a);
    if (rc) return rc;
    int positional = argc - 1 - optind;
    const char *target = positional > 0 ? argv[1 + optind] : NULL;
    int want = !strcmp(sub, "revoke") || !strcmp(sub, "rotate");
    if (strcmp(sub, "create") && strcmp(sub, "list") && !want)
        return cli_usage("keys", "unknown subcommand '%s' (create, list, revoke, rotate)", sub);
    if (positional != want)
        return cli_usage("keys", want ? "%s takes one key NAME" : "%s takes no NAME", sub);
    kreg *r;
    if ((rc = cli_open_registry(&a.reg, &r))) return rc;
    rc = !strcmp(sub, "create")   ? create(&a, r)
         : !strcmp(sub, "list")   ? list(&a, r)
         : !strcmp(sub, "revoke") ? revoke(&a, r, target)
                                  : rotate(&a, r, target);
    kreg_close(r);
    return rc;
}
