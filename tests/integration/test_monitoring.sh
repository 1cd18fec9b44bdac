#!/usr/bin/env bash
# test_monitoring.sh KILN SCRATCH — GET /metrics and /v2/models/NAME/stats of a running server:
# the exposition passes `promtool check metrics` without a warning, the seed's three metrics
# count exactly the requests sent, and a real Prometheus (Debian's package, started here on
# 127.0.0.1) scrapes the server and returns the same values through its query API.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
exec /usr/bin/python3 "$root/tests/integration/monitoring_cases.py" "$kiln" "$dir" "$root"
