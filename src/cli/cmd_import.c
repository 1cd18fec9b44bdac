/* cmd_import.c — placeholder until the command lands. */
#include <stdio.h>
#include "cli/cli.h"
int cmd_import(int argc, char **argv) { kerr e = {K_UNSUPPORTED, "not yet"}; return cli_fail(&e); }
void cmd_import_help(void) { printf("kiln import\n"); }
