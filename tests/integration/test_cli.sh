#!/usr/bin/env bash
# test_cli.sh KILN SCRATCH — the command-line contract: help and version, exit codes (0 ok,
# 1 failure, 2 usage), column matching by name, missing values, bad rows with line numbers,
# atomic output (nothing written on failure), threads giving identical output, package damage.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
fails=0 checks=0
check() { # description, command...
  local what=$1; shift
  checks=$((checks + 1))
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
code() { "${@:2}" >/dev/null 2>err.txt; [ $? -eq "$1" ]; }
one_line_error() { [ "$(wc -l <err.txt)" -eq 1 ] && grep -q '^kiln' err.txt; }

check "--version prints the version" bash -c "'$kiln' --version | grep -Eq '^kiln [0-9]+\.[0-9]+\.[0-9]+$'"
check "help lists commands" bash -c "'$kiln' help | grep -q predict"
check "every command has --help" bash -c "for c in import inspect predict help version; do '$kiln' \$c --help | grep -q usage || exit 1; done"
check "no command is a usage error (2)" code 2 "$kiln"
check "unknown command is a usage error (2)" code 2 "$kiln" frobnicate
check "unknown option is a usage error (2)" code 2 "$kiln" predict --bogus
check "missing --input is a usage error (2)" code 2 "$kiln" predict x.kiln

check "import the demo model" code 0 "$kiln" import "$root/examples/demo/model.json" -o demo.kiln
check "inspect --json is JSON with features" bash -c "'$kiln' inspect demo.kiln --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d[\"features\"])==30 and d[\"provenance\"][\"source_framework\"]==\"xgboost\"'"

in="$root/examples/demo/patients.csv"
"$kiln" predict demo.kiln --input "$in" --output base.csv --threads 1
check "one output row per input row" bash -c "[ \$(wc -l <base.csv) -eq \$(wc -l <'$in') ]"
check "classifier header" bash -c "head -1 base.csv | grep -qx 'prediction,proba_0,proba_1'"

# columns in another order plus an extra column give identical output
/usr/bin/python3 - "$in" <<'PY'
import csv, sys, random
rows = list(csv.reader(open(sys.argv[1])))
order = list(range(len(rows[0]))); random.Random(1).shuffle(order)
with open("shuffled.csv", "w", newline="") as f:
    w = csv.writer(f)
    for i, r in enumerate(rows):
        w.writerow(["extra" if i == 0 else "zzz"] + [r[j] for j in order])
# a large file to exercise the block reader and threads
with open("big.csv", "w") as f:
    f.write(",".join(rows[0]) + "\n")
    for k in range(6000):
        f.write(",".join(rows[1 + k % (len(rows) - 1)]) + "\n")
PY
"$kiln" predict demo.kiln --input shuffled.csv --output shuffled_out.csv
check "columns matched by name, extra ignored" cmp -s base.csv shuffled_out.csv
"$kiln" predict demo.kiln --input big.csv --output big1.csv --threads 1
"$kiln" predict demo.kiln --input big.csv --output big4.csv --threads 4
check "threads do not change output" cmp -s big1.csv big4.csv
check "stdin input works" bash -c "'$kiln' predict demo.kiln --input - < '$in' | cmp -s - base.csv"

head -3 "$in" > bad.csv && echo "1,2,3" >> bad.csv
check "short row fails with exit 1" code 1 "$kiln" predict demo.kiln --input bad.csv --output out.csv
check "error names the line" grep -q "line 4" err.txt
check "error is one line" one_line_error
check "no output left behind on failure" bash -c "! ls out.csv* 2>/dev/null"
{ head -1 "$in"; sed -n 2p "$in" | sed 's/^[^,]*,/abc,/'; } > nonnum.csv
check "non-numeric field fails with exit 1" code 1 "$kiln" predict demo.kiln --input nonnum.csv
check "error names the column" grep -q "mean_texture\|mean_radius" err.txt
{ head -1 "$in" | cut -d, -f2-; sed -n 2p "$in" | cut -d, -f2-; } > missingcol.csv
check "missing feature column fails" code 1 "$kiln" predict demo.kiln --input missingcol.csv
check "error names the missing column" grep -q "mean_radius" err.txt
{ head -1 "$in"; sed -n 2p "$in" | sed 's/^[^,]*,/,/'; sed -n 3p "$in" | sed 's/^[^,]*,/NaN,/'; } > nan.csv
check "empty and NaN fields are missing values" code 0 "$kiln" predict demo.kiln --input nan.csv
{ head -1 "$in"; sed -n 2p "$in" | sed 's/^[^,]*,/inf,/'; } > inf.csv
check "infinite value is refused" code 1 "$kiln" predict demo.kiln --input inf.csv
: > empty.csv
check "empty input is an error" code 1 "$kiln" predict demo.kiln --input empty.csv

cp demo.kiln damaged.kiln
printf '\x01' | dd of=damaged.kiln bs=1 seek=500 conv=notrunc 2>/dev/null
check "damaged package: exit 1" code 1 "$kiln" predict damaged.kiln --input "$in"
check "damaged package: checksum named" grep -q checksum err.txt
head -c 300 demo.kiln > truncated.kiln
check "truncated package: exit 1, one line" bash -c "'$kiln' inspect truncated.kiln 2>err.txt; [ \$? -eq 1 ] && [ \$(wc -l <err.txt) -eq 1 ]"
check "missing file: exit 1" code 1 "$kiln" inspect nope.kiln
echo "garbage" > garbage.txt
check "unknown model format: exit 1" code 1 "$kiln" import garbage.txt -o g.kiln
check "no package written on import failure" bash -c "! ls g.kiln* 2>/dev/null"

echo "$((checks - fails)) passed, $fails failed"
[ "$fails" -eq 0 ]
