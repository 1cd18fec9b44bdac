#!/usr/bin/env bash
# test_xgboost.sh KILN SCRATCH — XGBoost models of every supported kind, trained by the real
# XGBoost (Debian's python3-xgboost), imported and scored by kiln, compared with XGBoost's own
# predictions; damaged model files must be refused cleanly. See xgboost_cases.py.
set -uo pipefail
kiln=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir" || exit 1
here=$(cd "$(dirname "$0")" && pwd)
if ! /usr/bin/python3 -c 'import xgboost, pandas' 2>/dev/null; then
  echo "FAIL python3-xgboost and python3-pandas are needed (scripts/deps.sh test)"
  exit 1
fi
# one thread per library keeps the timing predictable on small CI machines
OMP_NUM_THREADS=2 exec /usr/bin/python3 "$here/xgboost_cases.py" "$kiln" "$dir"
