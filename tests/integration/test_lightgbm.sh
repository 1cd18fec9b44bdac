#!/usr/bin/env bash
# test_lightgbm.sh KILN SCRATCH — LightGBM text models: `kiln import` + `kiln predict --margin`
# against an independent Python evaluator of LightGBM's prediction rules (LightGBM itself is not
# packaged in Debian), over the hand-written models in tests/data/lightgbm and variants of
# them; and hostile or broken files, which must fail with one error line and no output.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" || exit 1
exec /usr/bin/python3 "$root/tests/integration/lightgbm_cases.py" "$kiln" "$dir" "$root/tests/data/lightgbm"
