#!/usr/bin/env bash
# test_alerts.sh KILN SCRATCH — the alert engine of `kiln serve`: a webhook receiver started
# here on 127.0.0.1 gets a firing and then a resolved Alertmanager notification for a drift the
# test induces and then removes, with `for:`, grouping, dedupe, repeat and retries checked.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
exec /usr/bin/python3 "$root/tests/integration/alerts_cases.py" "$kiln" "$dir" "$root"
