#!/usr/bin/env bash
# test_validation.sh KILN SCRATCH — the input policy of `kiln serve` (kiln.yaml validation:):
# values outside the training range flagged, clipped or rejected, missing values and unseen
# categories rejected where asked, per feature, on Kiln's endpoint, the seed's and OIP's.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
exec /usr/bin/python3 "$root/tests/integration/validation_cases.py" "$kiln" "$dir" "$root"
