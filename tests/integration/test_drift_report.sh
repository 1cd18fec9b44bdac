#!/usr/bin/env bash
# test_drift_report.sh KILN SCRATCH — `kiln drift REF.csv CUR.csv`: drift_report_cases.py writes
# seeded CSVs with numpy, runs the binary (--json, --html, error cases) and checks every exact
# score against scipy to 1e-9, the verdicts, the HTML report and the exit codes, and --model
# (prediction drift of XGBoost models, against scipy on `kiln predict`'s outputs).
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" || exit 1
exec /usr/bin/python3 "$root/tests/integration/drift_report_cases.py" "$kiln" "$dir"
