/* cli.h — what the subcommand files share: the command table entry, exit codes and the few
 * terminal helpers. Only src/cli prints. */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include <stddef.h>

#include "base/status.h"
#include "store/registry.h"

struct json_object;

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_USAGE = 2 };

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv); /* argv[0] is the command name */
    void (*help)(void);                /* prints the command's --help text to stdout */
} cli_command;

/* Prints "kiln: <msg>" to stderr; returns EXIT_FAIL. */
int cli_fail(const kerr *e);
/* Prints "kiln <cmd>: <formatted message>" and a --help hint to stderr; returns EXIT_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns 1 if argv holds -h or --help. */
int cli_wants_help(int argc, char **argv);

/* Options every registry command takes (getopt_long codes past the ASCII range). */
enum { CLI_OPT_HOME = 0x100, CLI_OPT_STORE, CLI_OPT_ARTIFACTS, CLI_OPT_JSON };
#define CLI_REG_LONGOPTS                                                                           \
    {"home", required_argument, 0, CLI_OPT_HOME}, {"store", required_argument, 0, CLI_OPT_STORE},  \
        {"artifacts", required_argument, 0, CLI_OPT_ARTIFACTS},                                    \
    {                                                                                              \
        "json", no_argument, 0, CLI_OPT_JSON                                                       \
    }
#define CLI_REG_HELP                                                                               \
    "  --home DIR         data directory (default $KILN_HOME, else ~/.kiln)\n"                     \
    "  --store URL        registry database: an SQLite path or postgres://… (default\n"          \
    "                     $KILN_STORE, else DIR/registry.db)\n"                                    \
    "  --artifacts DIR    artifact directory (default $KILN_ARTIFACTS, else DIR/artifacts)\n"      \
    "  --json             print JSON for scripts\n"

typedef struct {
    const char *home, *store, *artifacts;
    int json;
} cli_reg_opts;

/* Consumes one of the CLI_REG_LONGOPTS codes; returns 0 when `c` is not one of them. */
int cli_reg_option(int c, const char *arg, cli_reg_opts *o);
/* The data directory: --home, $KILN_HOME, else $HOME/.kiln (written into buf when derived). */
const char *cli_home(const cli_reg_opts *o, char *buf, size_t size);
/* Where the registry lives, resolved from options and environment (the data directory is
 * created when the defaults are used); prints errors. `options` points into the struct. */
typedef struct {
    char store[4200], artifacts[4200], home[4200];
    kreg_options options;
} cli_reg_location;
int cli_registry_location(const cli_reg_opts *o, cli_reg_location *loc);
/* Opens the registry the options name, creating the data directory; prints errors. Returns
 * EXIT_OK or EXIT_FAIL. */
int cli_open_registry(const cli_reg_opts *o, kreg **out);
/* Who is acting: $KILN_USER, else the login name. */
const char *cli_user(void);
/* Prints a JSON document, pretty, on stdout. */
void cli_print_json(struct json_object *o);
/* A member of a JSON object as text ("" when absent or null). */
const char *cli_jstr(struct json_object *o, const char *key);

int cmd_models(int argc, char **argv);
void cmd_models_help(void);
int cmd_runs(int argc, char **argv);
void cmd_runs_help(void);
int cmd_store(int argc, char **argv);
void cmd_store_help(void);
int cmd_sign(int argc, char **argv);
void cmd_sign_help(void);
/* `kiln keys signing-create --out FILE [--force]` (argv[0] is "signing-create"). */
int cmd_keys_signing_create(int argc, char **argv);
void cmd_keys_signing_create_help(void);
int cmd_audit(int argc, char **argv);
void cmd_audit_help(void);
int cmd_keys(int argc, char **argv);
void cmd_keys_help(void);
/* Computes reference statistics of the model's inputs and predictions from a CSV file (columns
 * named like the features) and stores them in the spec's metadata ("drift_reference"). */
struct kspec;
kstatus cli_attach_reference(struct kspec *s, const char *csv_path, size_t *rows, kerr *e);

int cmd_serve(int argc, char **argv);
void cmd_serve_help(void);
int cmd_import(int argc, char **argv);
void cmd_import_help(void);
int cmd_inspect(int argc, char **argv);
void cmd_inspect_help(void);
int cmd_predict(int argc, char **argv);
void cmd_predict_help(void);
int cmd_drift(int argc, char **argv);
void cmd_drift_help(void);

#endif
