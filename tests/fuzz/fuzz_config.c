/* fuzz_config.c — libFuzzer target: kiln.yaml. Arbitrary bytes are read as a configuration
 * (every setting, models, serve, and the alerts and validation sections): nothing may crash or
 * leak, a refusal must say why in one line, and an accepted listen address must split into a
 * host and a port or be refused by kserve_config_listen with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kserve_config *c = malloc(sizeof *c);
    if (!c) return 0;
    kserve_config_defaults(c);
    kerr e = {0};
    kstatus st = kserve_config_text(c, (const char *)data, size, &e);
    if (st && (!e.msg[0] || memchr(e.msg, '\n', strlen(e.msg)))) abort();
    if (!st) {
        char host[64];
        int port;
        kerr le = {0};
        if (kserve_config_listen(c, host, sizeof host, &port, &le) && !le.msg[0]) abort();
        if (c->n_files > KLOADER_MAX || c->n_refs > KLOADER_MAX) abort();
    }
    kserve_config_release(c);
    free(c);
    return 0;
}
