/* cmd_predict.c — placeholder until the command lands. */
#include <stdio.h>
#include "cli/cli.h"
int cmd_predict(int argc, char **argv) { kerr e = {K_UNSUPPORTED, "not yet"}; return cli_fail(&e); }
void cmd_predict_help(void) { printf("kiln predict\n"); }
