#!/usr/bin/env bash
# test_xgboost.sh KILN SCRATCH — XGBoost models of every supported kind, trained by the real
# XGBoost (Debian's python3-xgboost), imported and scored by kiln, compared with XGBoost's own
# predictions; damaged model files must be refused cleanly. See xgboost_cases.py.
set -uo pipefail
kiln=$1 dir=$2
rm -rf "$dir" && mkdir -p "$dir" || exit 1
here=$(cd "$(dirname "$0")" && pwd)
need='import importlib.util as u, sys; sys.exit(not (u.find_spec("xgboost") and u.find_spec("pandas")))'
if ! /usr/bin/python3 -c "$need" 2>/dev/null; then
  echo "FAIL python3-xgboost and python3-pandas are needed (scripts/deps.sh test)"
  exit 1
fi
# the models are tiny: one OpenMP thread is fastest and does not spin against parallel tests
OMP_NUM_THREADS=1 exec /usr/bin/python3 "$here/xgboost_cases.py" "$kiln" "$dir"
