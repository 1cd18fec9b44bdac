/* drift_driver.c — test helper for test_drift.sh (compiled by that script against the build's
 * libkilncore.a): runs the drift statistics on files of numbers and prints JSON for
 * drift_cases.py to compare with scipy.
 *
 *   drift_driver num REF CUR NQ    numeric reference (NQ quantiles) + scores + exact functions
 *   drift_driver cat REF CUR K     categorical reference (K codes) + scores
 *   drift_driver js P Q            drift_js_counts of two count files
 *
 * Files hold one number per line; "nan" or an empty line is a missing value. Output numbers
 * use Python's JSON spellings NaN / Infinity. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/num.h"
#include "monitor/drift.h"

#define MAX_VALUES 10000000

static double *read_values(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    double *v = malloc(MAX_VALUES * sizeof *v);
    char line[128];
    *n = 0;
    while (f && v && *n < MAX_VALUES && fgets(line, sizeof line, f)) {
        size_t len = strcspn(line, "\r\n");
        double x = NAN;
        if (len && !num_parse_double(line, len, &x)) {
            fprintf(stderr, "%s: not a number: %.*s\n", path, (int)len, line);
            exit(2);
        }
        v[(*n)++] = x;
    }
    if (!f || !v) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    return v;
}

static void put_num(const char *key, double v, const char *sep)
{
    if (isnan(v))
        printf("\"%s\":NaN%s", key, sep);
    else if (isinf(v))
        printf("\"%s\":%sInfinity%s", key, v < 0 ? "-" : "", sep);
    else
        printf("\"%s\":%.17g%s", key, v, sep);
}

static void put_scores(const char *key, const drift_scores *s, const char *sep)
{
    drift_thresholds t;
    drift_thresholds_default(&t);
    printf("\"%s\":{", key);
    put_num("psi", s->psi, ",");
    put_num("js", s->js, ",");
    put_num("wasserstein", s->wasserstein, ",");
    put_num("ks", s->ks, ",");
    put_num("ks_pvalue", s->ks_pvalue, ",");
    put_num("chi2", s->chi2, ",");
    printf("\"count\":%lld,\"missing\":%lld,\"verdict\":\"%s\"}%s", (long long)s->count,
           (long long)s->missing, drift_level_str(drift_verdict(s, &t)), sep);
}

/* Scores through drift_score, a full window, and a JSON round trip of the reference; the
 * three must be bit-identical. */
static int report(drift_ref *r, const double *cur, size_t nc)
{
    drift_scores s, ws, rs;
    drift_window *w = NULL;
    drift_ref *back = NULL;
    kerr e = {0};
    char *text = drift_ref_to_text(r);
    if (drift_score(r, cur, nc, &s) || drift_window_new(nc, &w, &e) || !text ||
        drift_ref_from_text(text, strlen(text), &back, &e)) {
        fprintf(stderr, "drift_driver: %s\n", e.msg);
        return 1;
    }
    for (size_t i = 0; i < nc + 7; i++)
        drift_window_push(w, cur[i % nc]); /* wraps around */
    drift_window_score(w, r, &ws);
    drift_score(back, cur, nc, &rs);
    printf("\"ref\":%s,", text);
    put_scores("scores", &s, ",");
    printf("\"window_equal\":%s,", memcmp(&s, &ws, sizeof s) ? "false" : "true");
    printf("\"roundtrip_equal\":%s}\n", memcmp(&s, &rs, sizeof s) ? "false" : "true");
    free(text);
    drift_window_free(w);
    drift_ref_free(back);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: drift_driver num|cat|js A B [N]\n");
        return 2;
    }
    size_t na, nb;
    double *a = read_values(argv[2], &na), *b = read_values(argv[3], &nb);
    long param = argc > 4 ? strtol(argv[4], NULL, 10) : 0;
    int rc = 0;
    drift_ref *r = NULL;
    kerr e = {0};
    if (strcmp(argv[1], "js") == 0) {
        printf("{");
        put_num("js", na == nb ? drift_js_counts(a, b, na) : NAN, "}\n");
    } else if (strcmp(argv[1], "num") == 0 || strcmp(argv[1], "cat") == 0) {
        int num = argv[1][0] == 'n';
        kstatus st = num ? drift_ref_build(a, na, (int)param, &r, &e)
                         : drift_ref_build_categorical(a, na, (int)param, &r, &e);
        if (st) {
            fprintf(stderr, "drift_driver: %s\n", e.msg);
            return 1;
        }
        printf("{");
        put_num("exact_ks", drift_exact_ks(a, na, b, nb), ",");
        put_num("exact_wasserstein", drift_exact_wasserstein(a, na, b, nb), ",");
        rc = report(r, b, nb);
    } else {
        rc = 2;
    }
    drift_ref_free(r);
    free(a);
    free(b);
    return rc;
}
