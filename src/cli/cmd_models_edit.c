/* cmd_models_edit.c — `kiln models alias|tag|archive|delete`: the registry's edits. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_models.h"

#define MAX_TAGS 64

/* Prints the outcome of an edit: a sentence, or {"ok": true, …} with --json. */
static void done(const cli_reg_opts *o, const char *name, int64_t version, const char *what)
{
    if (!o->json) {
        printf("%s\n", what);
        return;
    }
    json_object *j = json_object_new_object();
    json_object_object_add(j, "ok", json_object_new_boolean(1));
    json_object_object_add(j, "name", json_object_new_string(name));
    json_object_object_add(j, "version", version ? json_object_new_int64(version) : NULL);
    json_object_object_add(j, "message", json_object_new_string(what));
    cli_print_json(j);
    json_object_put(j);
}

static int finish(kreg *r, kstatus st, kerr *e, const cli_reg_opts *o, const char *name,
                  int64_t version, const char *what)
{
    kreg_close(r);
    if (st) return cli_fail(e);
    done(o, name, version, what);
    return EXIT_OK;
}

int models_alias(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_REG_LONGOPTS, {"delete", no_argument, 0, 'd'}, {0, 0, 0, 0}};
    cli_reg_opts o = {0};
    int del = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d", opts, NULL)) != -1)
        if (c == 'd')
            del = 1;
        else if (!cli_reg_option(c, optarg, &o))
            return cli_usage("models alias", "unknown option");
    if (optind != argc - 2)
        return cli_usage("models alias", del ? "expected NAME ALIAS" : "expected NAME@REF ALIAS");
    const char *target = argv[optind], *alias = argv[optind + 1];
    kreg *r;
    kerr e = {0};
    char msg[400];
    int rc;
    if (del) {
        if (kreg_check_name("model", target, &e)) return cli_fail(&e);
        if ((rc = cli_open_registry(&o, &r))) return rc;
        snprintf(msg, sizeof msg, "alias %s@%s deleted", target, alias);
        return finish(r, kreg_delete_alias(r, target, alias, cli_user(), &e), &e, &o, target, 0,
                      msg);
    }
    kreg_version v;
    if (kreg_check_alias(alias, &e)) return cli_fail(&e);
    if ((rc = models_open_resolve(&o, target, &r, &v))) return rc;
    snprintf(msg, sizeof msg, "alias %s@%s → version %lld", v.name, alias, (long long)v.version);
    return finish(r, kreg_set_alias(r, v.name, alias, v.version, cli_user(), &e), &e, &o, v.name,
                  v.version, msg);
}

typedef struct {
    int n;
    const char *keys[MAX_TAGS], *values[MAX_TAGS];
    char *copies[MAX_TAGS];
} tag_list;

static int add_tag(tag_list *t, const char *arg, int del)
{
    if (t->n == MAX_TAGS) return cli_usage("models tag", "at most %d tags at once", MAX_TAGS);
    if (del) {
        t->keys[t->n] = arg;
        t->values[t->n++] = NULL;
        return EXIT_OK;
    }
    if (models_split_tag(arg, &t->copies[t->n], &t->keys[t->n], &t->values[t->n]))
        return cli_usage("models tag", "expected KEY=VALUE, got '%s'", arg);
    t->n++;
    return EXIT_OK;
}

static int tag_target(const char *arg, char *name, int64_t *version)
{
    if (strchr(arg, '@')) return models_parse_version_ref("models tag", arg, name, version);
    *version = 0;
    snprintf(name, KREG_NAME_MAX + 1, "%s", arg);
    return EXIT_OK;
}

int models_tag(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_REG_LONGOPTS, {"delete", required_argument, 0, 'd'}, {0, 0, 0, 0}};
    cli_reg_opts o = {0};
    tag_list t = {0};
    int c, rc = EXIT_OK;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "d:", opts, NULL)) != -1)
        if (c == 'd')
            rc = add_tag(&t, optarg, 1);
        else if (!cli_reg_option(c, optarg, &o))
            rc = cli_usage("models tag", "unknown option");
    for (int i = optind + 1; !rc && i < argc; i++)
        rc = add_tag(&t, argv[i], 0);
    if (!rc && optind >= argc) rc = cli_usage("models tag", "expected NAME[@VERSION] KEY=VALUE...");
    if (!rc && t.n == 0)
        rc = cli_usage("models tag", "nothing to do: give KEY=VALUE or --delete KEY");
    char name[KREG_NAME_MAX + 1];
    int64_t version = 0;
    if (!rc) rc = tag_target(argv[optind], name, &version);
    kreg *r = NULL;
    kerr e = {0};
    if (!rc && kreg_check_name("model", name, &e)) rc = cli_fail(&e);
    if (!rc) rc = cli_open_registry(&o, &r);
    if (!rc) {
        char msg[300];
        snprintf(msg, sizeof msg, "%d tag(s) updated on %s%s", t.n, name,
                 version ? " version" : "");
        rc = finish(r, kreg_set_tags(r, name, version, t.n, t.keys, t.values, &e), &e, &o, name,
                    version, msg);
    }
    for (int i = 0; i < t.n; i++)
        free(t.copies[i]);
    return rc;
}

/* Shared shape of archive and delete: options, NAME@VERSION, open, act. */
static int version_edit(int argc, char **argv, const char *cmd, int *restore)
{
    static const struct option opts[] = {
        CLI_REG_LONGOPTS, {"restore", no_argument, 0, 'R'}, {0, 0, 0, 0}};
    cli_reg_opts o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (c == 'R' && restore)
            *restore = 1;
        else if (!cli_reg_option(c, optarg, &o))
            return cli_usage(cmd, "unknown option");
    if (optind != argc - 1) return cli_usage(cmd, "expected NAME@VERSION");
    char name[KREG_NAME_MAX + 1], msg[300];
    int64_t v;
    int rc = models_parse_version_ref(cmd, argv[optind], name, &v);
    kreg *r;
    if (rc || (rc = cli_open_registry(&o, &r))) return rc;
    kerr e = {0};
    kstatus st;
    if (restore) {
        st = kreg_archive(r, name, v, !*restore, &e);
        snprintf(msg, sizeof msg, "%s version %lld %s", name, (long long)v,
                 *restore ? "restored" : "archived");
    } else {
        st = kreg_delete(r, name, v, &e);
        snprintf(msg, sizeof msg, "%s version %lld deleted", name, (long long)v);
    }
    return finish(r, st, &e, &o, name, v, msg);
}

int models_archive(int argc, char **argv)
{
    int restore = 0;
    return version_edit(argc, argv, "models archive", &restore);
}

int models_delete(int argc, char **argv)
{
    return version_edit(argc, argv, "models delete", NULL);
}
