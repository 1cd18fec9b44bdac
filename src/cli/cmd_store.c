/* cmd_store.c — `kiln store migrate|check|gc`: the registry's maintenance. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

void cmd_store_help(void)
{
    printf("usage: kiln store <subcommand> [options]\n\n"
           "  migrate                 create or upgrade the registry schema (also done on open)\n"
           "  check [--quick]         consistency report: every version's artifact present and\n"
           "                          intact (--quick: present only), aliases on live versions,\n"
           "                          database integrity; lists orphan artifacts. Exit 1 when a\n"
           "                          real problem is found (orphans alone are not one).\n"
           "  gc [--grace SECONDS] [--dry-run]\n"
           "                          remove orphan artifacts and leftover temporary files older\n"
           "                          than the grace period (default 3600 s, so registrations in\n"
           "                          progress are never touched)\n\n"
           "Options of every subcommand:\n" CLI_REG_HELP);
}

typedef struct {
    cli_reg_opts o;
    int quick, dry_run;
    double grace;
} store_args;

static int parse(const char *cmd, int argc, char **argv, store_args *a)
{
    static const struct option opts[] = {CLI_REG_LONGOPTS,
                                         {"quick", no_argument, 0, 'q'},
                                         {"dry-run", no_argument, 0, 'n'},
                                         {"grace", required_argument, 0, 'g'},
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

int cmd_store(int argc, char **argv)
{
    if (argc < 2) return cli_usage("store", "missing subcommand (migrate, check, gc)");
    const char *sub = argv[1];
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
