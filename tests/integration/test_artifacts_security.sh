#!/usr/bin/env bash
# test_artifacts_security.sh KILN SCRATCH — signed and encrypted model artifacts end to end:
# `kiln sign`, `kiln models register` under require_signed (unsigned and wrongly signed refused,
# signed accepted, a tampered signature always refused), packages stored encrypted, a server
# loading a signed + encrypted model across a restart, refusing a flipped byte in the stored
# artifact and a wrong key, `kiln store rekey`, and no key material in anything Kiln wrote.
# The cases are in artifacts_security_cases.py.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
exec /usr/bin/python3 "$root/tests/integration/artifacts_security_cases.py" "$kiln" "$dir" "$root"
