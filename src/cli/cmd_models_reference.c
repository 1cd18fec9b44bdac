/* cmd_models_reference.c — `kiln models reference N@V DATA.csv`: drift reference statistics for
 * a registered version (its package stays as it was; the statistics are stored beside it and
 * the server uses them in place of any the package carries). */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cmd_models.h"
#include "model/package.h"

static kstatus reference_of(kreg *r, const kreg_version *v, const char *csv, char **json,
                            size_t *rows, kerr *e)
{
    char *data;
    size_t len;
    kspec *s = NULL;
    kstatus st = kreg_read_package(r, v, &data, &len, e);
    if (!st) {
        st = kpkg_read(data, len, &s, e);
        free(data);
    }
    if (!st) st = cli_attach_reference(s, csv, rows, e);
    const char *text = st ? NULL : kspec_get_meta(s, "drift_reference");
    if (text && !(*json = strdup(text))) st = kerr_set(e, K_NOMEM, "out of memory");
    kspec_free(s);
    return st;
}

int models_reference(int argc, char **argv)
{
    static const struct option opts[] = {CLI_REG_LONGOPTS, {0, 0, 0, 0}};
    cli_reg_opts o = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (!cli_reg_option(c, optarg, &o)) return cli_usage("models reference", "unknown option");
    if (optind != argc - 2) return cli_usage("models reference", "expected NAME@REF DATA.csv");
    kreg *r;
    kreg_version v;
    int rc = models_open_resolve(&o, argv[optind], &r, &v);
    if (rc) return rc;
    kerr e = {0};
    char *json = NULL;
    size_t rows = 0;
    kstatus st = reference_of(r, &v, argv[optind + 1], &json, &rows, &e);
    if (!st) st = kreg_set_reference(r, v.name, v.version, json, (int64_t)rows, cli_user(), &e);
    free(json);
    kreg_close(r);
    if (st) return cli_fail(&e);
    if (o.json)
        printf("{ \"name\": \"%s\", \"version\": %lld, \"rows\": %zu }\n", v.name,
               (long long)v.version, rows);
    else
        printf("drift reference of %zu rows stored for %s version %lld\n", rows, v.name,
               (long long)v.version);
    return EXIT_OK;
}
