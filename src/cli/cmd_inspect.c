/* cmd_inspect.c — placeholder until the command lands. */
#include <stdio.h>
#include "cli/cli.h"
int cmd_inspect(int argc, char **argv) { kerr e = {K_UNSUPPORTED, "not yet"}; return cli_fail(&e); }
void cmd_inspect_help(void) { printf("kiln inspect\n"); }
