#!/usr/bin/env bash
# bench/run.sh — builds and runs every Kiln benchmark and prints their tables.
#
#   bash bench/run.sh [trees|sklearn|csv|registry|all]   (default all; `make bench` runs it
#                                                          after `make release`)
# Environment:
#   KILN_BUILD   build directory holding libkilncore.a and kiln (default: build)
#   BENCH_OUT    scratch directory for models, data and binaries (default: bench/out)
#   BENCH_ROWS   rows for the batch measurements (default 100000)
#   PYTHON       interpreter with xgboost, scikit-learn, pandas (default /usr/bin/python3)
#   BENCH_REG_N  registrations of each kind for the registry bench (default 200)
#   BENCH_PG     0 skips the PostgreSQL half of the registry bench (default 1: it starts a
#                throwaway cluster with tests/lib/pg.sh and stops it on exit)
# Peers (XGBoost C API, scikit-learn, pandas, raw sqlite3 / libpq) are measured in the same run on the same machine;
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
# The registry bench also links the store's backends (and the YAML reader the library holds).
registry_deps=$(pkg-config --cflags --libs libpq sqlite3 yaml-0.1)
serve_deps=$(pkg-config --cflags --libs libpq sqlite3 yaml-0.1 libmicrohttpd)
src_dirs="base data model" # what the fallback below compiles; the registry bench adds store

# Links against the release library when it is there (that is what ships); otherwise compiles
# the model sources it needs directly, so the benchmarks run while other areas are in progress.
kiln_sources() {
    local lib=$build/libkilncore.a
    if [[ -f $lib ]]; then
        echo "$lib"
    else
        echo "bench: $lib not found, compiling model sources directly" >&2
        local d
        for d in $src_dirs; do ls "$root"/src/"$d"/*.c; done
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

# CLI registration throughput: PROCS parallel processes, each running PER sequential
# `kiln models register` of the demo model (an import + package write + one registration, each
# a process of its own), into a fresh KILN_HOME (and the store URL for PostgreSQL). Checks
# that every registration got its own version number.
cli_register() { # label procs per [store-url]
    local label=$1 procs=$2 per=$3 store=${4:-} home pids=() fail=0 t0 t1 p
    home=$(mktemp -d "$out/registry/cli-home.XXXXXX")
    local model=$root/examples/demo/model.json
    (
        export KILN_HOME=$home
        if [[ -n $store ]]; then export KILN_STORE=$store; else unset KILN_STORE; fi
        unset KILN_ARTIFACTS
        # One registration first, untimed: creates the store and its schema.
        "$build/kiln" models register "$model" --name bench >/dev/null
        t0=$(date +%s.%N)
        for p in $(seq 1 "$procs"); do
            (for _ in $(seq 1 "$per"); do
                "$build/kiln" models register "$model" --name bench >/dev/null || exit 1
            done) &
            pids+=($!)
        done
        for p in "${pids[@]}"; do wait "$p" || fail=1; done
        t1=$(date +%s.%N)
        [[ $fail == 0 ]] || { echo "bench: a kiln models register failed" >&2; exit 1; }
        local want=$((procs * per + 1)) got
        got=$("$build/kiln" models show bench --json | grep -o '"version": [0-9]*' | sort -u | wc -l)
        [[ $got == "$want" ]] || { echo "bench: $got distinct versions, want $want" >&2; exit 1; }
        awk -v l="$label" -v p="$procs" -v n="$per" -v a="$t0" -v b="$t1" 'BEGIN {
            w = b - a; printf "| %-10s | %12s | %8.2f | %15.1f |\n", l, p " x " n, w, p * n / w }'
    )
    rm -rf "$home"
}

cli_table_head() {
    echo
    echo "CLI: kiln models register examples/demo/model.json --name bench (each call a process)"
    echo
    echo "| backend    | procs x each | wall (s) | registrations/s |"
    echo "|------------|--------------|----------|-----------------|"
}

run_registry() {
    echo "== registry: Kiln vs raw sqlite3 / libpq =="
    src_dirs="base data model store"
    # shellcheck disable=SC2086
    build_bench bench_registry $registry_deps
    local dir=$out/registry n=${BENCH_REG_N:-200} url cli1 cli8
    rm -rf "$dir"
    mkdir -p "$dir/sqlite"
    (cd "$root" && "$out/bench_registry" "$dir/sqlite/registry.db" "$dir/sqlite/artifacts" \
        --n "$n" --calls 20000)
    if [[ ${BENCH_PG:-1} != 0 ]]; then
        # shellcheck disable=SC1091
        source "$root/tests/lib/pg.sh"
        trap pg_stop EXIT
        pg_start "$dir/pg" || { echo "bench: cannot start PostgreSQL (BENCH_PG=0 skips it)" >&2; exit 1; }
        url=$(pg_new_db kiln_bench)
        cli1=$(pg_new_db kiln_bench_cli1)
        cli8=$(pg_new_db kiln_bench_cli8)
        (cd "$root" && "$out/bench_registry" "$url" "$dir/pg-artifacts" --n "$n" --calls 20000)
    fi
    cli_table_head
    cli_register SQLite 1 25
    cli_register SQLite 8 25
    if [[ ${BENCH_PG:-1} != 0 ]]; then
        cli_register PostgreSQL 1 25 "$cli1"
        cli_register PostgreSQL 8 25 "$cli8"
        pg_stop
        trap - EXIT
    fi
}

run_serve() {
    bash "$here/serve/run.sh"
}

# Single-row scoring through the prediction cache and the dynamic batcher, in process.
run_batching() {
    echo "== batching and cache: direct vs batcher vs cache (in process) =="
    src_dirs="base data model store serve"
    # shellcheck disable=SC2086
    build_bench bench_batching $serve_deps
    (cd "$root" && "$out/bench_batching" examples/demo/model.json --secs "${BENCH_SECS:-2}")
}

case $what in
trees) run_trees ;;
serve) run_serve ;;
batching) run_batching ;;
sklearn) run_sklearn --skip-csv ;;
csv) run_sklearn --only-csv ;;
registry) run_registry ;;
all)
    run_trees
    echo
    run_sklearn
    echo
    run_registry
    echo
    run_serve
    echo
    run_batching
    ;;
*)
    echo "usage: bash bench/run.sh [trees|sklearn|csv|registry|serve|batching|all]" >&2
    exit 2
    ;;
esac
