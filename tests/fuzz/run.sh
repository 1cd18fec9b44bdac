#!/usr/bin/env bash
# run.sh BUILD_DIR — runs every fuzz target built in BUILD_DIR over its kept corpus
# (tests/fuzz/corpus/<name>). FUZZ_SECONDS=0 only replays the corpus (a regression check, as
# the test suite does); FUZZ_SECONDS=N fuzzes each target N seconds, writing new inputs to
# tests/fuzz/corpus-run/<name> (merge the interesting ones into the kept corpus by hand).
set -euo pipefail
dir=$1
here=$(cd "$(dirname "$0")" && pwd)
secs=${FUZZ_SECONDS:-20}
status=0
for bin in "$dir"/fuzz_*; do
  case "$bin" in *.log) continue ;; esac
  [ -f "$bin" ] && [ -x "$bin" ] || continue
  name=$(basename "$bin"); name=${name#fuzz_}
  corpus="$here/corpus/$name"
  mkdir -p "$corpus"
  if [ "$secs" = 0 ]; then
    echo "== replay $name ($(ls "$corpus" | wc -l) inputs)"
    "$bin" -runs=0 -artifact_prefix="$dir/" "$corpus" >"$dir/fuzz_$name.log" 2>&1 || { status=1; tail -30 "$dir/fuzz_$name.log"; }
  else
    mkdir -p "$here/corpus-run/$name"
    echo "== fuzz $name for ${secs}s"
    "$bin" -max_total_time="$secs" -timeout=10 -artifact_prefix="$dir/" -rss_limit_mb=2048 -max_len=262144 \
        "$here/corpus-run/$name" "$corpus" >"$dir/fuzz_$name.log" 2>&1 \
        || { status=1; tail -30 "$dir/fuzz_$name.log"; }
    grep -E "^(Done|#[0-9]+.*DONE)" "$dir/fuzz_$name.log" | tail -1 || true
  fi
done
exit $status
