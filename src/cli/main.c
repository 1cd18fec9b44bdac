/* main.c — the kiln binary: global flags and the subcommand dispatch table, nothing else. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static int cmd_help(int argc, char **argv);
static int cmd_version(int argc, char **argv);
static void cmd_help_help(void);
static void cmd_version_help(void);

static const cli_command commands[] = {
    {"import", "convert an XGBoost, LightGBM or scikit-learn model into a .kiln package",
     cmd_import, cmd_import_help},
    {"inspect", "show what a .kiln package holds", cmd_inspect, cmd_inspect_help},
    {"predict", "score a CSV file with a .kiln package", cmd_predict, cmd_predict_help},
    {"drift", "compare two CSV files feature by feature: PSI, JS, Wasserstein, KS", cmd_drift,
     cmd_drift_help},
    {"serve", "serve models over HTTP: /predict, /models/NAME/predict, Open Inference Protocol v2",
     cmd_serve, cmd_serve_help},
    {"models",
     "the model registry: register, list, show, alias, tag, archive, delete, export, diff",
     cmd_models, cmd_models_help},
    {"runs", "experiments and runs: log, list, show, compare", cmd_runs, cmd_runs_help},
    {"store", "registry maintenance: migrate, check, gc, rekey", cmd_store, cmd_store_help},
    {"sign", "sign a .kiln package with an Ed25519 key", cmd_sign, cmd_sign_help},
    {"audit", "the tamper-evident audit log: list, verify", cmd_audit, cmd_audit_help},
    {"keys", "API keys for kiln serve: create, list, revoke, rotate", cmd_keys, cmd_keys_help},
    {"help", "show help for kiln or one command", cmd_help, cmd_help_help},
    {"version", "print the version", cmd_version, cmd_version_help},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static const cli_command *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out,
            "kiln %s — the production-ML lifecycle in one binary\n\n"
            "usage: kiln <command> [options]\n\ncommands:\n",
            KILN_VERSION);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'kiln <command> --help' for a command's options.\n"
                 "Exit codes: 0 success, 1 failure, 2 usage error.\n");
}

static void cmd_help_help(void)
{
    printf("usage: kiln help [COMMAND]\n\nShows the list of commands, or one command's help.\n");
}

static int cmd_help(int argc, char **argv)
{
    if (argc < 2) {
        usage(stdout);
        return EXIT_OK;
    }
    const cli_command *c = find_command(argv[1]);
    if (!c) return cli_usage("help", "unknown command '%s'", argv[1]);
    c->help();
    return EXIT_OK;
}

static void cmd_version_help(void)
{
    printf("usage: kiln version\n\nPrints the Kiln version (also: kiln --version).\n");
}

static int cmd_version(int argc, char **argv)
{
    printf("kiln %s\n", KILN_VERSION);
    return EXIT_OK;
}

int cli_fail(const kerr *e)
{
    fprintf(stderr, "kiln: %s\n", e->msg[0] ? e->msg : kstatus_str(e->code));
    return EXIT_FAIL;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kiln %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nRun 'kiln %s --help' for usage.\n", cmd);
    return EXIT_USAGE;
}

int cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return cmd_version(argc - 1, argv + 1);
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    const cli_command *c = find_command(argv[1]);
    if (!c) {
        fprintf(stderr, "kiln: unknown command '%s'\n\n", argv[1]);
        usage(stderr);
        return EXIT_USAGE;
    }
    if (cli_wants_help(argc - 1, argv + 1)) {
        c->help();
        return EXIT_OK;
    }
    return c->run(argc - 1, argv + 1);
}
