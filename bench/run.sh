#!/usr/bin/env bash
# bench/run.sh — builds and runs every Kiln benchmark and prints their tables.
#
#   bash bench/run.sh [trees|sklearn|csv|all]     (default all; `make bench` runs it after
#                                                   `make release`)
# Environment:
#   KILN_BUILD   build directory holding libkilncore.a and kiln (default: build)
#   BENCH_OUT    scratch directory for models, data and binaries (default: bench/out)
#   BENCH_ROWS   rows for the batch measurements (default 100000)
#   PYTHON       interpreter with xgboost, scikit-learn, pandas (default /usr/bin/python3)
# Peers (XGBoost C API, scikit-learn, pandas) are measured in the same run on the same machine;
# the ratio columns are the figures to quote.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=${KILN_BUILD:-$root/build}
out=${BENCH_OUT:-$here/out}
rows=${BENCH_ROWS:-100000}
py=${PYTHON:-/usr/bin/python3}
what=${1:-all}
mkdir -p "$out"

cflags="-std=c11 -D_GNU_SOURCE -O3 -DNDEBUG -Wall -Wextra -Werror -Wshadow -Wvla
        -Wstrict-prototypes -Wno-unused-parameter -fno-strict-aliasing -I$root/src"
deps=$(pkg-config --cflags --libs json-c libsodium)

# Links against the release library when it is there (that is what ships); otherwise compiles
# the model sources it needs directly, so the benchmarks run while other areas are in progress.
kiln_sources() {
    local lib=$build/libkilncore.a
    if [[ -f $lib ]]; then
        echo "$lib"
    else
        echo "bench: $lib not found, compiling model sources directly" >&2
        ls "$root"/src/base/*.c "$root"/src/model/*.c
    fi
}

build_bench() { # name extra-flags...
    local name=$1
    shift
    local srcs
    mapfile -t srcs < <(kiln_sources)
    # shellcheck disable=SC2086
    gcc $cflags -o "$out/$name" "$here/$name.c" "${srcs[@]}" "$@" $deps -lpthread -lm
}

run_trees() {
    echo "== trees: Kiln vs XGBoost C API =="
    [[ -f $out/xgb_100x6.json ]] || "$py" "$here/make_xgb_model.py" "$out/xgb_100x6.json"
    build_bench bench_trees -lxgboost
    "$out/bench_trees" "$out/xgb_100x6.json" --rows "$rows" --calls 10000 --reps 7
}

run_sklearn() {
    echo "== scikit-learn and the CSV pipeline: Kiln vs Python =="
    build_bench bench_model
    "$py" "$here/bench_sklearn.py" --kiln "$build/kiln" --bench-model "$out/bench_model" \
        --out "$out" --rows "$rows" "$@"
}

case $what in
trees) run_trees ;;
sklearn) run_sklearn --skip-csv ;;
csv) run_sklearn --only-csv ;;
all)
    run_trees
    echo
    run_sklearn
    ;;
*)
    echo "usage: bash bench/run.sh [trees|sklearn|csv|all]" >&2
    exit 2
    ;;
esac
