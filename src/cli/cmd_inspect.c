/* cmd_inspect.c — `kiln inspect`: what a .kiln package holds (human or --json). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "base/fs.h"
#include "cli/cli.h"
#include "model/describe.h"
#include "model/package.h"

void cmd_inspect_help(void)
{
    printf("usage: kiln inspect MODEL.kiln [--json]\n\n"
           "Shows a package's features, preprocessing, estimator, classes, sizes and\n"
           "provenance. The checksum is verified first.\n\n"
           "  --json   print one JSON object (stable keys, for scripts)\n");
}

static const char *const est_kind[] = {"linear", "trees", "mlp"};
static const char *const link_name[] = {"identity", "sigmoid", "softmax", "exp",
                                        "ovr",      "square",  "log1pexp"};
static const char *const step_name[] = {"select", "impute", "scale", "onehot"};

static int tree_depth(const ktrees *t, int32_t tree, int32_t node)
{
    const ktree_node *n = &t->nodes[t->tree_start[tree] + node];
    if (n->flags & KNODE_LEAF) return 0;
    int l = tree_depth(t, tree, n->left), r = tree_depth(t, tree, n->right);
    return 1 + (l > r ? l : r);
}

static json_object *estimator_json(const kspec *s)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "kind", json_object_new_string(est_kind[s->kind]));
    if (s->kind == KEST_TREES) {
        const ktrees *t = &s->trees;
        int depth = 0;
        for (int32_t i = 0; i < t->n_trees; i++) {
            int d = tree_depth(t, i, 0);
            depth = d > depth ? d : depth;
        }
        json_object_object_add(o, "trees", json_object_new_int(t->n_trees));
        json_object_object_add(o, "nodes", json_object_new_int(t->n_nodes));
        json_object_object_add(o, "max_depth", json_object_new_int(depth));
        json_object_object_add(o, "aggregate",
                               json_object_new_string(t->aggregate == KAGG_MEAN ? "mean" : "sum"));
    } else if (s->kind == KEST_MLP) {
        json_object *layers = json_object_new_array();
        for (int32_t i = 0; i < s->mlp.n_layers; i++)
            json_object_array_add(layers, json_object_new_int(s->mlp.layers[i].n_out));
        json_object_object_add(o, "layer_sizes", layers);
    }
    json_object_object_add(o, "inputs", json_object_new_int(kspec_estimator_inputs(s)));
    return o;
}

static json_object *describe(const kspec *s, const char *path, size_t size, const char *sum)
{
    json_object *o = json_object_new_object(), *steps = json_object_new_array(),
                *meta = json_object_new_object();
    json_object_object_add(o, "path", json_object_new_string(path));
    json_object_object_add(o, "size_bytes", json_object_new_int64((int64_t)size));
    json_object_object_add(o, "checksum_sha256", json_object_new_string(sum));
    json_object_object_add(o, "format_version", json_object_new_int(KPKG_FORMAT_VERSION));
    json_object_object_add(
        o, "task",
        json_object_new_string(s->task == KTASK_CLASSIFICATION ? "classification" : "regression"));
    json_object_object_add(o, "features", describe_features(s));
    for (int32_t i = 0; i < s->n_steps; i++)
        json_object_array_add(steps, json_object_new_string(step_name[s->steps[i].kind]));
    json_object_object_add(o, "preprocessing", steps);
    json_object_object_add(o, "estimator", estimator_json(s));
    json_object_object_add(o, "link", json_object_new_string(link_name[s->link]));
    json_object_object_add(o, "outputs", json_object_new_int(s->n_outputs));
    if (s->task == KTASK_CLASSIFICATION) {
        json_object *classes = json_object_new_array();
        for (int32_t i = 0; i < s->n_classes; i++)
            json_object_array_add(classes, json_object_new_string(s->class_labels[i]));
        json_object_object_add(o, "classes", classes);
    }
    for (int32_t i = 0; i < s->n_meta; i++)
        json_object_object_add(meta, s->meta[i].key, json_object_new_string(s->meta[i].value));
    json_object_object_add(o, "provenance", meta);
    return o;
}

static void print_human(json_object *o)
{
    json_object_object_foreach(o, key, val)
    {
        if (json_object_is_type(val, json_type_object)) {
            printf("%s:\n", key);
            json_object_object_foreach(val, k2, v2)
                printf("  %-18s %s\n", k2, json_object_get_string(v2));
        } else if (strcmp(key, "features") == 0) {
            printf("features: %zu\n", json_object_array_length(val));
            for (size_t i = 0; i < json_object_array_length(val); i++) {
                json_object *f = json_object_array_get_idx(val, i), *v;
                printf("  %-24s %s", json_object_get_string(json_object_object_get(f, "name")),
                       json_object_get_string(json_object_object_get(f, "type")));
                if (json_object_object_get_ex(f, "min", &v))
                    printf("  [%s, %s]", json_object_get_string(v),
                           json_object_get_string(json_object_object_get(f, "max")));
                printf("\n");
            }
        } else {
            printf("%-20s %s\n", key, json_object_get_string(val));
        }
    }
}

int cmd_inspect(int argc, char **argv)
{
    static const struct option opts[] = {{"json", no_argument, 0, 'j'}, {0, 0, 0, 0}};
    int as_json = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'j') return cli_usage("inspect", "unknown option");
        as_json = 1;
    }
    if (optind != argc - 1) return cli_usage("inspect", "expected exactly one MODEL.kiln");
    const char *path = argv[optind];
    kerr e = {0};
    fs_map m;
    kspec *s;
    if (fs_map_file(path, &m, &e)) return cli_fail(&e);
    if (kpkg_read(m.data, m.len, &s, &e)) {
        fs_unmap(&m);
        kerr_prefix(&e, "%s", path);
        return cli_fail(&e);
    }
    char sum[65];
    kpkg_checksum_hex(m.data, m.len, sum, &e);
    json_object *o = describe(s, path, m.len, sum);
    fs_unmap(&m);
    if (as_json)
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
    else
        print_human(o);
    json_object_put(o);
    kspec_free(s);
    return EXIT_OK;
}
