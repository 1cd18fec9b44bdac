/* cli.h — what the subcommand files share: the command table entry, exit codes and the few
 * terminal helpers. Only src/cli prints. */
#ifndef KILN_CLI_H
#define KILN_CLI_H

#include "base/status.h"

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

int cmd_import(int argc, char **argv);
void cmd_import_help(void);
int cmd_inspect(int argc, char **argv);
void cmd_inspect_help(void);
int cmd_predict(int argc, char **argv);
void cmd_predict_help(void);

#endif
