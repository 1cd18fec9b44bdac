#!/usr/bin/env bash
# test_auth.sh KILN SCRATCH — API keys and roles on a running `kiln serve` (127.0.0.1): the
# role × endpoint matrix, model-limited keys, revocation, rotation with a grace period and
# expiry taking effect live, model control only with a deployer key, the refusal to listen on a
# non-loopback address without authentication, and no secret in anything Kiln wrote.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
exec /usr/bin/python3 "$root/tests/integration/auth_cases.py" "$kiln" "$dir" "$root"
