/* cmd_import.c — `kiln import`: convert a model file into a .kiln package. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "model/import.h"
#include "model/package.h"
#include "model/predictor.h"

void cmd_import_help(void)
{
    printf("usage: kiln import SRC -o OUT.kiln [--format auto|xgboost|lightgbm|sklearn] "
           "[--reference DATA.csv]\n\n"
           "Converts a trained model into a Kiln model package (.kiln).\n\n"
           "  SRC                 XGBoost JSON (save_model('m.json')), LightGBM text\n"
           "                      (save_model('m.txt')), or a scikit-learn joblib/pickle file\n"
           "  -o, --output FILE   the package to write (written atomically)\n"
           "  -f, --format NAME   auto (default: detected from the content), xgboost, lightgbm,\n"
           "                      sklearn\n"
           "  --reference DATA.csv  store reference statistics of the features (columns named\n"
           "                      like them) and of the predictions, for drift detection by\n"
           "                      kiln serve (docs/monitoring.md)\n\n"
           "scikit-learn files are opened by Kiln's exporter under Debian's Python\n"
           "(KILN_PYTHON, default /usr/bin/python3). A pickle is code: import only files from\n"
           "a source you trust.\n");
}

static void describe(const kspec *s, const char *path)
{
    const char *kinds[] = {"linear model", "tree ensemble", "neural network (MLP)"};
    printf("imported %s %s",
           kspec_get_meta(s, "source_framework") ? kspec_get_meta(s, "source_framework") : "",
           kinds[s->kind]);
    if (s->kind == KEST_TREES) printf(" (%d trees)", s->trees.n_trees);
    if (s->task == KTASK_CLASSIFICATION)
        printf(", classifier with %d classes", s->n_classes);
    else
        printf(", regressor");
    printf(", %d features -> %s\n", s->n_features, path);
}

int cmd_import(int argc, char **argv)
{
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"format", required_argument, 0, 'f'},
                                         {"reference", required_argument, 0, 'r'},
                                         {0, 0, 0, 0}};
    const char *out = NULL, *reference = NULL;
    kformat fmt = KFMT_AUTO;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:f:r:", opts, NULL)) != -1) {
        if (c == 'o') {
            out = optarg;
        } else if (c == 'r') {
            reference = optarg;
        } else if (c == 'f') {
            int f = kformat_parse(optarg);
            if (f < 0 || f == KFMT_KILN)
                return cli_usage("import", "unknown format '%s' (auto, xgboost, lightgbm, sklearn)",
                                 optarg);
            fmt = (kformat)f;
        } else {
            return cli_usage("import", "unknown option");
        }
    }
    if (optind != argc - 1) return cli_usage("import", "expected exactly one source model file");
    if (!out) return cli_usage("import", "-o OUT.kiln is required");
    kerr e = {0};
    kspec *s;
    if (import_file(argv[optind], fmt, &s, &e)) return cli_fail(&e);
    size_t ref_rows = 0;
    kstatus st = reference ? cli_attach_reference(s, reference, &ref_rows, &e) : K_OK;
    if (!st) st = kpkg_save(s, out, &e);
    if (!st && reference)
        printf("reference statistics of %zu rows from %s stored for drift detection\n", ref_rows,
               reference);
    if (!st) describe(s, out);
    kspec_free(s);
    return st ? cli_fail(&e) : EXIT_OK;
}
