#!/usr/bin/env bash
# test_serve_swap.sh KILN SCRATCH — the server's life cycle with real processes: alias moves in
# the registry picked up under continuous load (20 flips, zero failed requests, every response
# labelled with a valid version), 200 repository load/unload cycles with resident memory back
# within 5%, SIGHUP reloading a replaced package file, and SIGTERM finishing requests in flight
# before exiting 0. The cases are in serve_swap_cases.py.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
exec /usr/bin/python3 "$root/tests/integration/serve_swap_cases.py" "$kiln" "$dir" "$root"
