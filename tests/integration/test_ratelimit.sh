#!/usr/bin/env bash
# test_ratelimit.sh KILN SCRATCH — rate limits of `kiln serve` on 127.0.0.1 (ratelimit_cases.py):
# a key with --rate 20/s under 4 concurrent threads, a per-address limit on a server without
# authentication, two instances sharing one budget through a Redis server this test starts on a
# free loopback port, and Redis stopped mid-run (the instance falls back to its own buckets and
# keeps answering). Bounded: under 40 s; every process it starts is killed at exit.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
case $kiln in /*) ;; *) kiln=$PWD/$kiln ;; esac
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
command -v redis-server >/dev/null || {
  echo "FAIL redis-server is not installed (scripts/deps.sh test installs it)"
  exit 1
}
: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS
exec timeout 60 /usr/bin/python3 "$root/tests/integration/ratelimit_cases.py" "$kiln" "$dir" "$root"
