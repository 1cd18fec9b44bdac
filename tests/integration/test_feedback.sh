#!/usr/bin/env bash
# test_feedback.sh KILN SCRATCH — online feedback metrics against scikit-learn on identical
# pairs: compiles a small driver (written below) against the libkilncore.a next to KILN (same
# compiler and sanitizers as that build, read from its CMakeCache.txt); feedback_cases.py
# generates seeded predictions and truths (binary, multiclass, regression, a sliding window),
# feeds them through kfeedback_remember / kfeedback_label and compares kfeedback_metrics with
# sklearn.metrics to 1e-9. It also drives the POST /feedback body parser (kfeedback_serve).
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$(dirname "$kiln")" && pwd)
rm -rf "$dir" && mkdir -p "$dir" || exit 1
cache=$bin/CMakeCache.txt
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache" 2>/dev/null)
san=$(sed -n 's/^KILN_SANITIZE:[A-Z]*=//p' "$cache" 2>/dev/null)
fuzz=$(sed -n 's/^KILN_FUZZ:[A-Z]*=//p' "$cache" 2>/dev/null)
flags=()
[ -n "$san" ] && flags+=("-fsanitize=$san" -fno-omit-frame-pointer)
[ "$fuzz" = ON ] && flags+=(-fsanitize=fuzzer-no-link)

cat >"$dir/feedback_driver.c" <<'EOF'
/* feedback_driver.c — written by test_feedback.sh. "metrics K MAX_PAIRS": reads N, then N
 * lines of K probabilities (1 value for K = 0) and the truth; remembers and labels each pair
 * and prints kfeedback_metrics as JSON. "serve": reads a POST /feedback body on stdin, runs it
 * through kfeedback_serve against a hub remembering ids r0..r9 and prints status and body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor/feedback.h"
#include "serve/handlers.h"

void kfeedback_serve(kfeedback_hub *hub, const kserve_limits *lim, const khttp_req *q,
                     khttp_resp *r);

static void put(const char *k, double v, const char *sep)
{
    if (v != v) printf("\"%s\":NaN%s", k, sep);
    else printf("\"%s\":%.17g%s", k, v, sep);
}

static int metrics(int k, size_t max_pairs)
{
    size_t n;
    if (scanf("%zu", &n) != 1) return 2;
    kfeedback *f = kfeedback_new(n + 1, 0, max_pairs, k, NULL);
    int nv = k ? k : 1;
    double v[64], y;
    char id[32];
    for (size_t i = 0; i < n; i++) {
        for (int j = 0; j < nv; j++)
            if (scanf("%lf", &v[j]) != 1) return 2;
        if (scanf("%lf", &y) != 1) return 2;
        snprintf(id, sizeof id, "r%zu", i);
        kfeedback_remember(f, id, v, nv);
        if (kfeedback_label(f, id, y, NULL) != K_OK) return 3;
    }
    kfeedback_stats s;
    if (kfeedback_metrics(f, &s) != K_OK) return 4;
    printf("{\"n\":%lld,", (long long)s.n);
    put("accuracy", s.accuracy, ",");
    put("precision", s.precision, ",");
    put("recall", s.recall, ",");
    put("f1", s.f1, ",");
    put("log_loss", s.log_loss, ",");
    put("roc_auc", s.roc_auc, ",");
    put("mae", s.mae, ",");
    put("rmse", s.rmse, "}\n");
    kfeedback_free(f);
    return 0;
}

static int serve(void)
{
    static char body[1 << 20];
    size_t len = fread(body, 1, sizeof body - 1, stdin);
    body[len] = 0;
    kfeedback_hub *h = kfeedback_hub_new(0, 0, 0);
    kfeedback *f = kfeedback_hub_get(h, "iris", 1, 3, (const char *[]){"setosa", "versicolor", "virginica"});
    char id[8];
    for (int i = 0; i < 10; i++) {
        snprintf(id, sizeof id, "r%d", i);
        kfeedback_remember(f, id, (double[]){0.2, 0.5, 0.3}, 3);
    }
    kserve_limits lim = {.max_batch_rows = 5, .max_body_bytes = 1 << 20, .max_json_depth = 16};
    arena *mem = arena_new(1 << 24);
    khttp_req q = {.method = "POST", .path = "/feedback", .body = body, .body_len = len,
                   .request_id = "t", .mem = mem};
    khttp_resp r = {.status = 200};
    buf_init(&r.body, 1 << 20);
    kfeedback_serve(h, &lim, &q, &r);
    printf("%d %.*s\n", r.status, (int)r.body.len, (const char *)r.body.data);
    buf_free(&r.body);
    arena_free(mem);
    kfeedback_hub_free(h);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "metrics") == 0)
        return metrics((int)strtol(argv[2], NULL, 10), (size_t)strtoull(argv[3], NULL, 10));
    if (argc == 2 && strcmp(argv[1], "serve") == 0) return serve();
    return 2;
}
EOF

# shellcheck disable=SC2046
"${cc:-cc}" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 "${flags[@]}" -I "$root/src" \
    -o "$dir/feedback_driver" "$dir/feedback_driver.c" "$bin/libkilncore.a" \
    $(pkg-config --libs json-c libsodium libpq sqlite3 yaml-0.1 libmicrohttpd) \
    -lm -lpthread || { echo "FAIL: cannot build feedback_driver"; exit 1; }
exec /usr/bin/python3 "$root/tests/integration/feedback_cases.py" "$dir/feedback_driver" "$dir"
