/* cmd_models_export.c — `kiln models export` (a version's package, hash-verified, written
 * atomically) and `kiln models diff` (what differs between two versions). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "cli/cmd_models.h"

int models_export(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_REG_LONGOPTS, {"output", required_argument, 0, 'o'}, {0, 0, 0, 0}};
    cli_reg_opts o = {0};
    const char *out = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1)
        if (c == 'o')
            out = optarg;
        else if (!cli_reg_option(c, optarg, &o))
            return cli_usage("models export", "unknown option");
    if (optind != argc - 1) return cli_usage("models export", "expected NAME@REF");
    if (!out) return cli_usage("models export", "-o OUT.kiln is required");
    kreg *r;
    kreg_version v;
    int rc = models_open_resolve(&o, argv[optind], &r, &v);
    if (rc) return rc;
    char *data = NULL;
    size_t len;
    kerr e = {0};
    kstatus st = kreg_read_package(r, &v, &data, &len, &e);
    if (!st) st = fs_write_atomic(out, data, len, &e);
    free(data);
    kreg_close(r);
    if (st) return cli_fail(&e);
    if (o.json) {
        json_object *j = json_object_new_object();
        json_object_object_add(j, "name", json_object_new_string(v.name));
        json_object_object_add(j, "version", json_object_new_int64(v.version));
        json_object_object_add(j, "package_sha256", json_object_new_string(v.package_sha256));
        json_object_object_add(j, "output", json_object_new_string(out));
        cli_print_json(j);
        json_object_put(j);
    } else {
        printf("exported %s version %lld -> %s (%zu bytes, sha256 verified)\n", v.name,
               (long long)v.version, out, len);
    }
    return EXIT_OK;
}

/* ---- diff ----------------------------------------------------------------------------------- */

static const char *const not_compared[] = {"name", "version", "registered_at", "aliases"};

static int skipped(const char *key)
{
    for (size_t i = 0; i < sizeof not_compared / sizeof *not_compared; i++)
        if (strcmp(key, not_compared[i]) == 0) return 1;
    return 0;
}

/* Flattens a JSON value into {path: text} ("schema.features[2].name": "age"). */
static void flatten(json_object *v, const char *path, json_object *flat)
{
    char sub[1024];
    if (json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, k, child)
        {
            if (!*path && skipped(k)) continue;
            snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", k);
            flatten(child, sub, flat);
        }
    } else if (json_object_is_type(v, json_type_array)) {
        for (size_t i = 0; i < json_object_array_length(v); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            flatten(json_object_array_get_idx(v, i), sub, flat);
        }
    } else {
        json_object_object_add(flat, path,
                               json_object_new_string(v ? json_object_get_string(v) : "null"));
    }
}

static void add_difference(json_object *list, const char *path, json_object *a, json_object *b)
{
    json_object *d = json_object_new_object();
    json_object_object_add(d, "path", json_object_new_string(path));
    json_object_object_add(d, "a", a ? json_object_get(a) : NULL);
    json_object_object_add(d, "b", b ? json_object_get(b) : NULL);
    json_object_array_add(list, d);
}

static json_object *differences(json_object *va, json_object *vb)
{
    json_object *fa = json_object_new_object(), *fb = json_object_new_object();
    json_object *list = json_object_new_array();
    flatten(va, "", fa);
    flatten(vb, "", fb);
    json_object_object_foreach(fa, ka, a)
    {
        json_object *b;
        if (!json_object_object_get_ex(fb, ka, &b))
            add_difference(list, ka, a, NULL);
        else if (strcmp(json_object_get_string(a), json_object_get_string(b)) != 0)
            add_difference(list, ka, a, b);
    }
    json_object_object_foreach(fb, kb, b)
    {
        if (!json_object_object_get_ex(fa, kb, NULL)) add_difference(list, kb, NULL, b);
    }
    json_object_put(fa);
    json_object_put(fb);
    return list;
}

static int load_version(const cli_reg_opts *o, const char *ref, kreg **r, json_object **doc)
{
    kreg_version v;
    int rc = models_open_resolve(o, ref, r, &v);
    kerr e = {0};
    if (!rc && kreg_show_version(*r, v.name, v.version, doc, &e)) rc = cli_fail(&e);
    kreg_close(*r);
    *r = NULL;
    return rc;
}

static void print_diff(const char *a, const char *b, json_object *list)
{
    size_t n = json_object_array_length(list);
    printf("--- %s\n+++ %s\n", a, b);
    for (size_t i = 0; i < n; i++) {
        json_object *d = json_object_array_get_idx(list, i);
        const char *path = cli_jstr(d, "path"), *va = cli_jstr(d, "a"), *vb = cli_jstr(d, "b");
        json_object *x;
        if (!json_object_object_get_ex(d, "a", &x) || !x)
            printf("+ %s: %s\n", path, vb);
        else if (!json_object_object_get_ex(d, "b", &x) || !x)
            printf("- %s: %s\n", path, va);
        else
            printf("~ %s: %s → %s\n", path, va, vb);
    }
    if (!n) printf("(no differences)\n");
}

int models_diff(int argc, char **argv)
{
    static const struct option opts[] = {CLI_REG_LONGOPTS, {0, 0, 0, 0}};
    cli_reg_opts o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!cli_reg_option(c, optarg, &o)) return cli_usage("models diff", "unknown option");
    if (optind != argc - 2) return cli_usage("models diff", "expected NAME@A NAME@B");
    kreg *r = NULL;
    json_object *va = NULL, *vb = NULL;
    int rc = load_version(&o, argv[optind], &r, &va);
    if (!rc) rc = load_version(&o, argv[optind + 1], &r, &vb);
    if (!rc) {
        json_object *list = differences(va, vb);
        if (o.json) {
            json_object *j = json_object_new_object();
            json_object_object_add(j, "a", json_object_new_string(argv[optind]));
            json_object_object_add(j, "b", json_object_new_string(argv[optind + 1]));
            json_object_object_add(j, "differences", list);
            cli_print_json(j);
            json_object_put(j);
        } else {
            print_diff(argv[optind], argv[optind + 1], list);
            json_object_put(list);
        }
    }
    json_object_put(va);
    json_object_put(vb);
    return rc;
}
