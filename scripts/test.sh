#!/usr/bin/env bash
# test.sh — the README's second command and what CI runs: install what is missing, build, and
# run every test: unit tests (cmocka) and integration tests that train real XGBoost and
# scikit-learn models and compare kiln's predictions with theirs, first on the release build,
# then on an AddressSanitizer + UndefinedBehaviorSanitizer build, then the fuzz targets over
# their kept corpora. Tests that need PostgreSQL use a throwaway cluster started here on
# 127.0.0.1 (tests/lib/pg.sh), found through KILN_TEST_PG_URL. Ends with one line:
# "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test || exit 1
jobs=$(nproc)
passed=0 failed=0

# shellcheck source=../tests/lib/pg.sh
source tests/lib/pg.sh
trap pg_stop EXIT
if pg_start "$PWD/build-pgtest"; then
  export KILN_TEST_PG_URL
  echo "PostgreSQL test cluster: $KILN_TEST_PG_URL"
else
  echo "PostgreSQL test cluster did not start (see above): PostgreSQL tests will be skipped"
  failed=$((failed + 1))
fi

run_suite() { # name, build dir
  local name=$1 dir=$2 log
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log"
  local p f
  p=$(sed -n 's/.* \([0-9]\+\) tests failed out of \([0-9]\+\).*/\2 \1/p' "$log" | tail -1)
  if [ -z "$p" ]; then echo "$name: ctest did not report" >&2; failed=$((failed + 1)); return; fi
  set -- $p
  passed=$((passed + $1 - $2)); failed=$((failed + $2))
  rm -f "$log"
}

if make release; then run_suite release build; else echo "release build failed"; failed=$((failed + 1)); fi
if make asan; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite asan build-asan
else
  echo "asan build failed"; failed=$((failed + 1))
fi
if FUZZ_SECONDS=0 make fuzz; then passed=$((passed + 1)); else echo "fuzz corpus replay failed"; failed=$((failed + 1)); fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
