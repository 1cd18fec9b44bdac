/* cmd_store.c — `kiln store migrate|check|gc|rekey`: the registry's maintenance. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "store/artifacts.h"
#include "store/crypt.h"

void cmd_store_help(void)
{
    printf(
        "usage: kiln store <subcommand> [options]\n\n"
        "  migrate                 create or upgrade the registry schema (also done on open)\n"
        "  check [--quick]         consistency report: every version's artifact present and\n"
        "                          intact (--quick: present only), aliases on live versions,\n"
        "                          database integrity; lists orphan artifacts. Exit 1 when a\n"
        "                          real problem is found (orphans alone are not one).\n"
        "  gc [--grace SECONDS] [--dry-run]\n"
        "                          remove orphan artifacts and leftover temporary files older\n"
        "                          than the grace period (default 3600 s, so registrations in\n"
        "                          progress are never touched)\n"
        "  rekey --new-key-file NEW [--old-key-file OLD]\n"
        "                          re-encrypt every artifact with the key in NEW (32 raw bytes\n"
        "                          or 64 hex digits), plaintext ones too; OLD defaults to the\n"
        "                          configured key ($KILN_ARTIFACT_KEY_FILE / KILN_ARTIFACT_KEY).\n"
        "                          Safe to run again; then configure NEW everywhere\n\n"
        "Options of every subcommand:\n" CLI_REG_HELP);
}

typedef struct {
    cli_reg_opts o;
    int quick, dry_run;
    double grace;
    const char *new_key, *old_key;
} store_args;

static int parse(const char *cmd, int argc, char **argv, store_args *a)
{
    static const struct option opts[] = {CLI_REG_LONGOPTS,
                                         {"quick", no_argument, 0, 'q'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {"grace", required_argument, 0, 'g'},
                                         {"new-key-file", required_argument, 0, 'N'},
                                         {"old-key-file", required_argument, 0, 'O'},
                                         {0, 0, 0, 0}};
    int c;
    a->grace = 3600;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        if (cli_reg_option(c, optarg, &a->o)) continue;
        if (c == 'q')
            a->quick = 1;
        else if (c == 'n')
            a->dry_run = 1;
        else if (c == 'N')
            a->new_key = optarg;
        else if (c == 'O')
            a->old_key = optarg;
        else if (c == 'g') {
            a->grace = strtod(optarg, &end);
            if (*end || a->grace < 0)
                return cli_usage(cmd, "--grace takes seconds, got '%s'", optarg);
        } else {
            return cli_usage(cmd, "unknown option");
        }
    }
    if (optind != argc) return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    return EXIT_OK;
}

static int store_migrate(kreg *r, const store_args *a)
{
    int found, now;
    kreg_schema(r, &found, &now);
    if (a->o.json)
        printf("{ \"backend\": \"%s\", \"schema_found\": %d, \"schema\": %d }\n", kreg_backend(r),
               found, now);
    else if (found == now)
        printf("%s registry schema is version %d: up to date\n", kreg_backend(r), now);
    else
        printf("%s registry schema migrated from version %d to %d\n", kreg_backend(r), found, now);
    return EXIT_OK;
}

static void print_list(const char *title, json_object *report, const char *key)
{
    json_object *list;
    if (!json_object_object_get_ex(report, key, &list)) return;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *x = json_object_array_get_idx(list, i);
        if (json_object_is_type(x, json_type_string))
            printf("%s: %s\n", title, json_object_get_string(x));
        else
            printf("%s: %s (%s bytes, %s s old)%s\n", title,
                   *cli_jstr(x, "sha256") ? cli_jstr(x, "sha256") : cli_jstr(x, "path"),
                   cli_jstr(x, "size"), cli_jstr(x, "age_seconds"),
                   strcmp(cli_jstr(x, "removed"), "true") == 0 ? " removed" : "");
    }
}

static int store_check(kreg *r, const store_args *a)
{
    json_object *report;
    kerr e = {0};
    if (kreg_check(r, !a->quick, &report, &e)) return cli_fail(&e);
    json_object *ok;
    json_object_object_get_ex(report, "ok", &ok);
    int good = json_object_get_boolean(ok);
    if (a->o.json)
        cli_print_json(report);
    else {
        print_list("problem", report, "problems");
        print_list("orphan", report, "orphans");
        print_list("temporary file", report, "temporary_files");
        printf("%s: %s artifacts referenced; %zu orphan(s)%s\n", good ? "ok" : "NOT OK",
               cli_jstr(report, "referenced_artifacts"),
               json_object_array_length(json_object_object_get(report, "orphans")),
               good ? "" : " — see the problems above");
    }
    json_object_put(report);
    return good ? EXIT_OK : EXIT_FAIL;
}

static int store_gc(kreg *r, const store_args *a)
{
    json_object *report;
    kerr e = {0};
    if (kreg_gc(r, a->grace, a->dry_run, &report, &e)) return cli_fail(&e);
    if (a->o.json)
        cli_print_json(report);
    else {
        print_list("orphan", report, "orphans");
        print_list("temporary file", report, "temporary_files");
        printf("%s %s file(s), %s bytes\n", a->dry_run ? "would remove" : "removed",
               cli_jstr(report, "removed"), cli_jstr(report, "removed_bytes"));
    }
    json_object_put(report);
    return EXIT_OK;
}

static void report_rekey(const store_args *a, const artifacts_rekey_stats *s, const char *id)
{
    if (a->o.json)
        printf("{ \"key_id\": \"%s\", \"rekeyed\": %lld, \"encrypted\": %lld, \"unchanged\": "
               "%lld, \"failed\": %lld }\n",
               id, s->rekeyed, s->encrypted, s->unchanged, s->failed);
    else
        printf("artifacts now under key %s: %lld re-encrypted, %lld encrypted from plaintext, "
               "%lld already done, %lld failed\n",
               id, s->rekeyed, s->encrypted, s->unchanged, s->failed);
}

/* Works on the artifact directory alone: no registry database is needed. */
static int store_rekey(const store_args *a)
{
    if (!a->new_key) return cli_usage("store rekey", "--new-key-file is required");
    cli_reg_location loc;
    int rc = cli_registry_location(&a->o, &loc);
    if (rc) return rc;
    kerr e = {0};
    kcrypt_key *old_key = NULL, *new_key = NULL;
    artifacts *art = NULL;
    artifacts_rekey_stats stats;
    kstatus st =
        a->old_key ? kcrypt_key_load(a->old_key, &old_key, &e) : kcrypt_key_from_env(&old_key, &e);
    if (!st) st = kcrypt_key_load(a->new_key, &new_key, &e);
    if (!st) st = artifacts_open(loc.artifacts, &art, &e);
    if (!st) {
        st = artifacts_rekey(art, old_key, new_key, &stats, &e);
        report_rekey(a, &stats, kcrypt_key_id(new_key));
    }
    artifacts_close(art);
    kcrypt_key_free(old_key);
    kcrypt_key_free(new_key);
    return st ? cli_fail(&e) : EXIT_OK;
}

int cmd_store(int argc, char **argv)
{
    if (argc < 2) return cli_usage("store", "missing subcommand (migrate, check, gc, rekey)");
    const char *sub = argv[1];
    if (strcmp(sub, "rekey") == 0) {
        store_args a = {0};
        int rc = parse("store rekey", argc - 1, argv + 1, &a);
        return rc ? rc : store_rekey(&a);
    }
    int (*run)(kreg *, const store_args *) = strcmp(sub, "migrate") == 0 ? store_migrate
                                             : strcmp(sub, "check") == 0 ? store_check
                                             : strcmp(sub, "gc") == 0    ? store_gc
                                                                         : NULL;
    if (!run) return cli_usage("store", "unknown subcommand '%s'", sub);
    store_args a = {0};
    char cmd[32];
    snprintf(cmd, sizeof cmd, "store %s", sub);
    int rc = parse(cmd, argc - 1, argv + 1, &a);
    kreg *r;
    if (rc || (rc = cli_open_registry(&a.o, &r))) return rc;
    rc = run(r, &a);
    kreg_close(r);
    return rc;
}
