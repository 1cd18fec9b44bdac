/* cmd_models.h — internal to the `kiln models` files: their subcommands and shared helpers. */
#ifndef KILN_CMD_MODELS_H
#define KILN_CMD_MODELS_H

#include <stdint.h>

#include "cli/cli.h"

int models_register(int argc, char **argv);
int models_list(int argc, char **argv);
int models_show(int argc, char **argv);
int models_alias(int argc, char **argv);
int models_tag(int argc, char **argv);
int models_archive(int argc, char **argv);
int models_delete(int argc, char **argv);
int models_export(int argc, char **argv);
int models_diff(int argc, char **argv);
int models_reference(int argc, char **argv);

/* Splits "k=v" into a malloc'd copy (*copy, freed by the caller) holding key and value;
 * returns -1 when there is no '='. */
int models_split_tag(const char *arg, char **copy, const char **key, const char **value);

/* Parses "NAME@VERSION" where VERSION must be a number; prints a usage error and returns
 * EXIT_USAGE otherwise. */
int models_parse_version_ref(const char *cmd, const char *text, char *name, int64_t *version);

/* Opens the registry and resolves NAME@REF; prints errors. Returns EXIT_OK with *reg open. */
int models_open_resolve(const cli_reg_opts *o, const char *text, kreg **reg, kreg_version *v);

#endif
