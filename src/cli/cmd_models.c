/* cmd_models.c — `kiln models`: the subcommand table, help, and list / show. */
#include "cli/cmd_models.h"

#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
} subcommand;

static const subcommand subs[] = {
    {"register", models_register},   {"list", models_list},     {"show", models_show},
    {"alias", models_alias},         {"tag", models_tag},       {"archive", models_archive},
    {"delete", models_delete},       {"export", models_export}, {"diff", models_diff},
    {"reference", models_reference},
};

void cmd_models_help(void)
{
    printf(
        "usage: kiln models <subcommand> [options]\n\n"
        "The model registry: named models with numbered, immutable versions, aliases and lineage.\n"
        "A reference NAME@REF names a version by number (demo@3), alias (demo@production) or\n"
        "'latest' (the newest version not archived; the default when @REF is left out).\n\n"
        "  register FILE --name N   register a .kiln package or any model 'kiln import' reads\n"
        "      [--alias A] [--tag K=V]... [--description D] [--config model_config.yaml]\n"
        "      [--parent V] [--run RUN_ID] [--dataset REF] [--format F]\n"
        "  list                     every model with its latest version and aliases\n"
        "  show N | N@REF           a model and its versions, or one version's lineage\n"
        "  alias N@REF ALIAS        point ALIAS at that version (create or move, atomically)\n"
        "  alias --delete N ALIAS   remove an alias\n"
        "  tag N[@V] K=V... [--delete K]...   set or remove tags on a model or a version\n"
        "  archive N@V [--restore]  archive a version (no alias, not served) or restore it\n"
        "  delete N@V               delete a version (refused while an alias points at it)\n"
        "  export N@REF -o OUT.kiln write a version's package (its hash is verified first)\n"
        "  diff N@A N@B             schema and metadata differences between two versions\n"
        "  reference N@REF DATA.csv store drift reference statistics for a version (the server\n"
        "                           scores recent traffic against them)\n\n"
        "Options of every subcommand:\n" CLI_REG_HELP
        "\nNames use letters, digits, '.', '_' and '-' (at most 128, starting with a letter or\n"
        "digit); aliases letters, digits, '_' and '-' (at most 64, starting with a letter).\n"
        "The acting user recorded in lineage is $KILN_USER, else the login name.\n"
        "See docs/registry.md.\n");
}

int cmd_models(int argc, char **argv)
{
    if (argc < 2) return cli_usage("models", "missing subcommand");
    for (size_t i = 0; i < sizeof subs / sizeof *subs; i++)
        if (strcmp(argv[1], subs[i].name) == 0) return subs[i].run(argc - 1, argv + 1);
    return cli_usage("models", "unknown subcommand '%s'", argv[1]);
}

/* Parses only the common options; returns the number of positional arguments left in argv
 * (moved to argv[optind…]) or -1 after a usage error. */
static int common_options(const char *cmd, int argc, char **argv, cli_reg_opts *o)
{
    static const struct option opts[] = {CLI_REG_LONGOPTS, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!cli_reg_option(c, optarg, o)) return cli_usage(cmd, "unknown option"), -1;
    return argc - optind;
}

int models_parse_version_ref(const char *cmd, const char *text, char *name, int64_t *version)
{
    char ref[KREG_NAME_MAX + 1];
    kerr e = {0};
    if (kreg_split_ref(text, name, ref, &e)) return cli_usage(cmd, "%s", e.msg);
    char *end;
    long long v = strtoll(ref, &end, 10);
    if (!*ref || *end || v <= 0)
        return cli_usage(cmd, "expected NAME@VERSION with a version number, got '%s'", text);
    *version = v;
    return EXIT_OK;
}

int models_open_resolve(const cli_reg_opts *o, const char *text, kreg **reg, kreg_version *v)
{
    char name[KREG_NAME_MAX + 1], ref[KREG_NAME_MAX + 1];
    kerr e = {0};
    if (kreg_split_ref(text, name, ref, &e)) return cli_fail(&e);
    int rc = cli_open_registry(o, reg);
    if (rc) return rc;
    if (kreg_resolve(*reg, name, ref, v, &e)) {
        kreg_close(*reg);
        *reg = NULL;
        return cli_fail(&e);
    }
    return EXIT_OK;
}

static void print_aliases(json_object *aliases)
{
    int first = 1;
    json_object_object_foreach(aliases, k, v)
    {
        printf("%s%s→%s", first ? "" : ",", k, json_object_get_string(v));
        first = 0;
    }
    if (first) printf("-");
}

static void print_list(json_object *list)
{
    printf("%-28s %-7s %-9s %-24s %s\n", "NAME", "LATEST", "VERSIONS", "UPDATED (UTC)", "ALIASES");
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *m = json_object_array_get_idx(list, i), *aliases;
        printf("%-28s %-7s %-9s %-24s ", cli_jstr(m, "name"), cli_jstr(m, "latest_version"),
               cli_jstr(m, "versions"), cli_jstr(m, "updated_at"));
        if (json_object_object_get_ex(m, "aliases", &aliases)) print_aliases(aliases);
        printf("\n");
    }
    if (json_object_array_length(list) == 0) printf("(no models registered)\n");
}

int models_list(int argc, char **argv)
{
    cli_reg_opts o = {0};
    int n = common_options("models list", argc, argv, &o);
    if (n < 0) return EXIT_USAGE;
    if (n > 0) return cli_usage("models list", "unexpected argument '%s'", argv[optind]);
    kreg *r;
    int rc = cli_open_registry(&o, &r);
    if (rc) return rc;
    json_object *list;
    kerr e = {0};
    if (kreg_list_models(r, &list, &e))
        rc = cli_fail(&e);
    else {
        if (o.json)
            cli_print_json(list);
        else
            print_list(list);
        json_object_put(list);
    }
    kreg_close(r);
    return rc;
}

static void print_model(json_object *m)
{
    json_object *versions, *aliases, *tags;
    printf("model        %s\n", cli_jstr(m, "name"));
    if (*cli_jstr(m, "description")) printf("description  %s\n", cli_jstr(m, "description"));
    printf("aliases      ");
    if (json_object_object_get_ex(m, "aliases", &aliases)) print_aliases(aliases);
    printf("\ntags         ");
    if (json_object_object_get_ex(m, "tags", &tags)) {
        json_object_object_foreach(tags, k, tv) printf("%s=%s ", k, json_object_get_string(tv));
    }
    printf("\n\n%-8s %-9s %-14s %-24s %-12s %s\n", "VERSION", "STATUS", "FRAMEWORK",
           "REGISTERED (UTC)", "BY", "PACKAGE SHA256");
    if (!json_object_object_get_ex(m, "versions", &versions)) return;
    for (size_t i = 0; i < json_object_array_length(versions); i++) {
        json_object *v = json_object_array_get_idx(versions, i);
        printf("%-8s %-9s %-14s %-24s %-12s %.16s…\n", cli_jstr(v, "version"),
               strcmp(cli_jstr(v, "archived"), "true") == 0 ? "archived" : "ready",
               cli_jstr(v, "framework"), cli_jstr(v, "registered_at"), cli_jstr(v, "registered_by"),
               cli_jstr(v, "package_sha256"));
    }
}

static void print_version(json_object *v)
{
    static const char *const keys[] = {
        "name",           "version",        "archived",     "description",       "aliases",
        "task",           "n_features",     "framework",    "framework_version", "source_format",
        "source_sha256",  "package_sha256", "package_size", "registered_by",     "registered_at",
        "parent_version", "run_id",         "dataset"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        const char *val = cli_jstr(v, keys[i]);
        if (*val && strcmp(val, "[ ]") != 0) printf("%-18s %s\n", keys[i], val);
    }
    json_object *tags, *config;
    if (json_object_object_get_ex(v, "tags", &tags) && json_object_object_length(tags))
        printf("%-18s %s\n", "tags", json_object_to_json_string(tags));
    if (json_object_object_get_ex(v, "config", &config) && config)
        printf("%-18s %s\n", "config", json_object_to_json_string(config));
}

int models_show(int argc, char **argv)
{
    cli_reg_opts o = {0};
    int n = common_options("models show", argc, argv, &o);
    if (n < 0) return EXIT_USAGE;
    if (n != 1) return cli_usage("models show", "expected one NAME or NAME@REF");
    const char *arg = argv[optind];
    kreg *r;
    kreg_version v;
    kerr e = {0};
    json_object *doc = NULL;
    int rc;
    if (!strchr(arg, '@')) {
        if ((rc = kreg_check_name("model", arg, &e) ? cli_fail(&e) : EXIT_OK)) return rc;
        if ((rc = cli_open_registry(&o, &r))) return rc;
        if (kreg_show_model(r, arg, &doc, &e)) rc = cli_fail(&e);
    } else {
        if ((rc = models_open_resolve(&o, arg, &r, &v))) return rc;
        if (kreg_show_version(r, v.name, v.version, &doc, &e)) rc = cli_fail(&e);
    }
    if (doc && o.json)
        cli_print_json(doc);
    else if (doc && strchr(arg, '@'))
        print_version(doc);
    else if (doc)
        print_model(doc);
    json_object_put(doc);
    kreg_close(r);
    return rc;
}
