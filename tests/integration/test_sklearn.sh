#!/usr/bin/env bash
# test_sklearn.sh KILN SCRATCH — scikit-learn import through the real binary: every supported
# estimator and pipeline must predict like scikit-learn itself, and unsupported models, files
# that are not pickles and corrupt exporter JSON must be refused cleanly. The work is done by
# sklearn_cases.py under Debian's Python (python3-sklearn), installed here when missing.
set -uo pipefail
kiln=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
dir=$2
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3

rm -rf "$dir" && mkdir -p "$dir" || exit 1
if ! "$py" -c 'import sklearn, joblib, numpy, pandas' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing python3-sklearn and python3-pandas"
    apt-get install -y -q python3-sklearn python3-pandas >"$dir/apt.log" 2>&1 || { tail -5 "$dir/apt.log"; exit 1; }
  else
    echo "FAIL: $py lacks scikit-learn/pandas (apt-get install python3-sklearn python3-pandas)"
    exit 1
  fi
fi
exec "$py" "$here/sklearn_cases.py" "$kiln" "$dir"
