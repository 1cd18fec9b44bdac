/* cmd_runs.c — `kiln runs log|list|show|compare`: experiments and runs in the registry. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/fs.h"
#include "base/num.h"
#include "cli/cli.h"
#include "store/runs.h"

#define MAX_ITEMS 256
#define ARTIFACT_MAX ((size_t)1 << 30)

void cmd_runs_help(void)
{
    printf(
        "usage: kiln runs <subcommand> [options]\n\n"
        "Experiments and runs: what was trained, with which params, and how it scored.\n\n"
        "  log --experiment E [--name N] [--status S] [--param K=V]... [--metric K=V[@STEP]]...\n"
        "      [--artifact FILE[:NAME]]...     record a run (prints its id)\n"
        "  log --run ID [...]                  add to an existing run (params never change)\n"
        "  list [--experiment E]               runs, newest first, with last metric values\n"
        "  show RUN_ID                         params, metric histories, artifacts\n"
        "  compare RUN_ID RUN_ID...            params and metrics side by side\n\n"
        "Status is RUNNING, FINISHED (default for a new run), FAILED or KILLED.\n\n"
        "Options of every subcommand:\n" CLI_REG_HELP);
}

typedef struct {
    kruns_log_req q;
    kruns_param params[MAX_ITEMS];
    kruns_metric metrics[MAX_ITEMS];
    kruns_artifact artifacts[MAX_ITEMS];
    char *copies[3 * MAX_ITEMS];
    int n_copies;
} log_args;

/* Splits a copy of "A<sep>B" at the last (metrics, artifacts) or first (params) separator. */
static char *split(log_args *a, const char *arg, int sep, int last, char **rest)
{
    char *copy = strdup(arg);
    if (!copy) return NULL;
    a->copies[a->n_copies++] = copy;
    char *at = last ? strrchr(copy, sep) : strchr(copy, sep);
    *rest = NULL;
    if (at) {
        *at = 0;
        *rest = at + 1;
    }
    return copy;
}

static int add_metric(log_args *a, const char *arg)
{
    char *value, *step = NULL;
    char *key = split(a, arg, '=', 0, &value);
    if (!key || !value)
        return cli_usage("runs log", "--metric takes KEY=VALUE[@STEP], got '%s'", arg);
    char *at = strchr(value, '@');
    if (at) *at = 0, step = at + 1;
    kruns_metric *m = &a->metrics[a->q.n_metrics];
    char *end = NULL;
    if (!num_parse_double(value, strlen(value), &m->value))
        return cli_usage("runs log", "metric '%s' value '%s' is not a number", key, value);
    m->step = step ? strtoll(step, &end, 10) : 0;
    if (step && (*end || !*step))
        return cli_usage("runs log", "metric step '%s' is not an integer", step);
    m->key = key;
    a->q.n_metrics++;
    return EXIT_OK;
}

static int add_artifact(log_args *a, const char *arg)
{
    char *name;
    char *path = split(a, arg, ':', 1, &name);
    if (!path) return cli_usage("runs log", "out of memory");
    if (!name || !*name) {
        const char *slash = strrchr(path, '/');
        name = (char *)(slash ? slash + 1 : path);
    }
    kruns_artifact *art = &a->artifacts[a->q.n_artifacts];
    char *data;
    kerr e = {0};
    if (fs_read_all(path, ARTIFACT_MAX, &data, &art->len, &e)) return cli_fail(&e);
    a->copies[a->n_copies++] = data;
    art->data = data;
    art->path = name;
    a->q.n_artifacts++;
    return EXIT_OK;
}

static int log_option(log_args *a, int c, const char *arg)
{
    if (a->n_copies >= 3 * MAX_ITEMS - 2 || a->q.n_params == MAX_ITEMS ||
        a->q.n_metrics == MAX_ITEMS || a->q.n_artifacts == MAX_ITEMS)
        return cli_usage("runs log", "too many items in one call (at most %d each)", MAX_ITEMS);
    char *value = NULL;
    switch (c) {
    case 'e':
        a->q.experiment = arg;
        return EXIT_OK;
    case 'r':
        a->q.run_id = arg;
        return EXIT_OK;
    case 'n':
        a->q.name = arg;
        return EXIT_OK;
    case 's':
        a->q.status = arg;
        return EXIT_OK;
    case 'm':
        return add_metric(a, arg);
    case 'a':
        return add_artifact(a, arg);
    case 'p':
        a->params[a->q.n_params].key = split(a, arg, '=', 0, &value);
        if (!a->params[a->q.n_params].key || !value)
            return cli_usage("runs log", "--param takes KEY=VALUE, got '%s'", arg);
        a->params[a->q.n_params++].value = value;
        return EXIT_OK;
    default:
        return cli_usage("runs log", "unknown option");
    }
}

static int runs_log(int argc, char **argv)
{
    static const struct option opts[] = {CLI_REG_LONGOPTS,
                                         {"experiment", required_argument, 0, 'e'},
                                         {"run", required_argument, 0, 'r'},
                                         {"name", required_argument, 0, 'n'},
                                         {"status", required_argument, 0, 's'},
                                         {"param", required_argument, 0, 'p'},
                                         {"metric", required_argument, 0, 'm'},
                                         {"artifact", required_argument, 0, 'a'},
                                         {0, 0, 0, 0}};
    log_args *a = calloc(1, sizeof *a);
    if (!a) return EXIT_FAIL;
    cli_reg_opts o = {0};
    int c, rc = EXIT_OK;
    optind = 1;
    while (!rc && (c = getopt_long(argc, argv, "e:r:n:s:p:m:a:", opts, NULL)) != -1)
        if (!cli_reg_option(c, optarg, &o)) rc = log_option(a, c, optarg);
    if (!rc && optind != argc) rc = cli_usage("runs log", "unexpected argument '%s'", argv[optind]);
    if (!rc && !a->q.run_id && !a->q.experiment)
        rc = cli_usage("runs log", "--experiment is required for a new run");
    kreg *r = NULL;
    if (!rc) rc = cli_open_registry(&o, &r);
    if (!rc) {
        char id[KRUNS_ID_LEN];
        kerr e = {0};
        a->q.who = cli_user();
        a->q.params = a->params;
        a->q.metrics = a->metrics;
        a->q.artifacts = a->artifacts;
        if (kruns_log(r, &a->q, id, &e))
            rc = cli_fail(&e);
        else if (o.json)
            printf("{ \"run_id\": \"%s\" }\n", id);
        else
            printf("%s\n", id);
    }
    kreg_close(r);
    for (int i = 0; i < a->n_copies; i++)
        free(a->copies[i]);
    free(a);
    return rc;
}

static int parse_common(const char *cmd, int argc, char **argv, cli_reg_opts *o,
                        const char **experiment)
{
    static const struct option opts[] = {
        CLI_REG_LONGOPTS, {"experiment", required_argument, 0, 'e'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:", opts, NULL)) != -1)
        if (c == 'e' && experiment)
            *experiment = optarg;
        else if (!cli_reg_option(c, optarg, o))
            return cli_usage(cmd, "unknown option");
    return EXIT_OK;
}

static int runs_list(int argc, char **argv)
{
    cli_reg_opts o = {0};
    const char *experiment = NULL;
    int rc = parse_common("runs list", argc, argv, &o, &experiment);
    if (!rc && optind != argc)
        rc = cli_usage("runs list", "unexpected argument '%s'", argv[optind]);
    kreg *r;
    if (rc || (rc = cli_open_registry(&o, &r))) return rc;
    json_object *list;
    kerr e = {0};
    if (kruns_list(r, experiment, &list, &e)) {
        kreg_close(r);
        return cli_fail(&e);
    }
    if (o.json)
        cli_print_json(list);
    else {
        printf("%-32s %-20s %-9s %-24s %s\n", "RUN", "EXPERIMENT", "STATUS", "START (UTC)",
               "METRICS");
        for (size_t i = 0; i < json_object_array_length(list); i++) {
            json_object *run = json_object_array_get_idx(list, i), *m;
            printf("%-32s %-20s %-9s %-24s", cli_jstr(run, "id"), cli_jstr(run, "experiment"),
                   cli_jstr(run, "status"), cli_jstr(run, "start_time"));
            if (json_object_object_get_ex(run, "metrics", &m)) {
                json_object_object_foreach(m, k, v) printf(" %s=%s", k, json_object_get_string(v));
            }
            printf("\n");
        }
    }
    json_object_put(list);
    kreg_close(r);
    return EXIT_OK;
}

static int runs_show(int argc, char **argv)
{
    cli_reg_opts o = {0};
    int rc = parse_common("runs show", argc, argv, &o, NULL);
    if (!rc && optind != argc - 1) rc = cli_usage("runs show", "expected one RUN_ID");
    kreg *r;
    if (rc || (rc = cli_open_registry(&o, &r))) return rc;
    json_object *run;
    kerr e = {0};
    if (kruns_show(r, argv[optind], &run, &e))
        rc = cli_fail(&e);
    else {
        if (o.json)
            cli_print_json(run);
        else
            printf("%s\n", json_object_to_json_string_ext(run, JSON_C_TO_STRING_PRETTY |
                                                                   JSON_C_TO_STRING_SPACED));
        json_object_put(run);
    }
    kreg_close(r);
    return rc;
}

/* Adds every key of `section` of each run as a row: {key: [value per run]}. */
static json_object *side_by_side(json_object **runs, int n, const char *section, int last_point)
{
    json_object *rows = json_object_new_object();
    for (int i = 0; i < n; i++) {
        json_object *sec;
        if (!json_object_object_get_ex(runs[i], section, &sec)) continue;
        json_object_object_foreach(sec, k, v)
        {
            json_object *row;
            if (!json_object_object_get_ex(rows, k, &row)) {
                row = json_object_new_array_ext(n);
                for (int j = 0; j < n; j++)
                    json_object_array_add(row, NULL);
                json_object_object_add(rows, k, row);
            }
            json_object *val = v, *x;
            if (last_point && json_object_array_length(v) > 0 &&
                json_object_object_get_ex(
                    json_object_array_get_idx(v, json_object_array_length(v) - 1), "value", &x))
                val = x;
            json_object_array_put_idx(row, (size_t)i, json_object_get(val));
        }
    }
    return rows;
}

static void print_rows(const char *title, json_object *rows, int n)
{
    json_object_object_foreach(rows, k, row)
    {
        printf("%-8s %-24s", title, k);
        for (int i = 0; i < n; i++) {
            json_object *v = json_object_array_get_idx(row, (size_t)i);
            printf(" %-20s", v ? json_object_get_string(v) : "-");
        }
        printf("\n");
    }
}

static int runs_compare(int argc, char **argv)
{
    cli_reg_opts o = {0};
    int rc = parse_common("runs compare", argc, argv, &o, NULL);
    int n = argc - optind;
    if (!rc && (n < 2 || n > 16)) rc = cli_usage("runs compare", "expected 2 to 16 RUN_IDs");
    kreg *r;
    if (rc || (rc = cli_open_registry(&o, &r))) return rc;
    json_object *runs[16] = {0};
    kerr e = {0};
    for (int i = 0; !rc && i < n; i++)
        if (kruns_show(r, argv[optind + i], &runs[i], &e)) rc = cli_fail(&e);
    kreg_close(r);
    if (!rc) {
        json_object *params = side_by_side(runs, n, "params", 0);
        json_object *metrics = side_by_side(runs, n, "metrics", 1);
        json_object *ids = json_object_new_array();
        for (int i = 0; i < n; i++)
            json_object_array_add(ids, json_object_new_string(argv[optind + i]));
        if (o.json) {
            json_object *j = json_object_new_object();
            json_object_object_add(j, "runs", ids);
            json_object_object_add(j, "params", params);
            json_object_object_add(j, "metrics", metrics);
            cli_print_json(j);
            json_object_put(j);
        } else {
            printf("%-8s %-24s", "", "");
            for (int i = 0; i < n; i++)
                printf(" %-20.20s", argv[optind + i]);
            printf("\n");
            print_rows("param", params, n);
            print_rows("metric", metrics, n);
            json_object_put(params);
            json_object_put(metrics);
            json_object_put(ids);
        }
    }
    for (int i = 0; i < n && i < 16; i++)
        json_object_put(runs[i]);
    return rc;
}

int cmd_runs(int argc, char **argv)
{
    if (argc < 2) return cli_usage("runs", "missing subcommand (log, list, show, compare)");
    const char *sub = argv[1];
    if (strcmp(sub, "log") == 0) return runs_log(argc - 1, argv + 1);
    if (strcmp(sub, "list") == 0) return runs_list(argc - 1, argv + 1);
    if (strcmp(sub, "show") == 0) return runs_show(argc - 1, argv + 1);
    if (strcmp(sub, "compare") == 0) return runs_compare(argc - 1, argv + 1);
    return cli_usage("runs", "unknown subcommand '%s'", sub);
}
