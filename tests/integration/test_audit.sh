#!/usr/bin/env bash
# test_audit.sh KILN SCRATCH — the audit log through the real binary, on SQLite and (when
# KILN_TEST_PG_URL names a test cluster; skipped otherwise) PostgreSQL: registry writes recorded
# with actor, action, object and outcome; `kiln audit list` filters; `kiln audit verify` passes,
# then fails naming the first bad record after the database is tampered with (edit, delete,
# reorder, newest record deleted) and after the JSONL mirror (KILN_HOME/audit.jsonl, for
# PostgreSQL too) is edited; `kiln audit head` and `verify --pin` catch the newest records
# removed from both.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
# shellcheck source=../lib/pg.sh
source "$root/tests/lib/pg.sh"
py=/usr/bin/python3
fails=0 backend=setup
check() { # description, command...
  local what=$1; shift
  if "$@"; then echo "ok   [$backend] $what"; else echo "FAIL [$backend] $what"; fails=$((fails + 1)); fi
}
code() { "${@:2}" >out.txt 2>err.txt; [ $? -eq "$1" ]; }
says() { grep -q -- "$1" out.txt || { echo "  stdout was: $(cat out.txt) / stderr: $(cat err.txt)"; return 1; }; }
k() { "$kiln" "$@"; }
sql() { # runs SQL on the current backend's registry
  if [ "$backend" = sqlite ]; then sqlite3 "$KILN_HOME/registry.db" "$1"; else pg_psql "$KILN_STORE" "$1"; fi
}
# The records as "action object actor address outcome" lines.
records() {
  k audit list --json | $py -c '
import json, sys
for r in json.load(sys.stdin):
    print(r["action"], r["object"], r["actor"], r["address"], r["outcome"])'
}
fails_with() { # message: verify exits 1 and names it
  code 1 k audit verify && says "$1"
}

demo_src=$root/examples/demo/model.json

suite_recorded() {
  check "register v1, v2 with alias, tag, archive, delete" bash -c "
    '$kiln' models register '$demo_src' --name demo >/dev/null &&
    '$kiln' models register '$demo_src' --name demo --alias production >/dev/null &&
    '$kiln' models tag demo team=risk >/dev/null &&
    '$kiln' models archive demo@1 >/dev/null &&
    '$kiln' models delete demo@1 >/dev/null"
  check "a refused delete (alias points at it) exits 1" code 1 k models delete demo@2
  check "alias move and alias delete" bash -c "
    '$kiln' models register '$demo_src' --name demo >/dev/null &&
    '$kiln' models alias demo@3 production >/dev/null &&
    '$kiln' models alias --delete demo production >/dev/null"
  records >rec.txt
  cat >want.txt <<'EOF'
model.register demo@1 tester local ok
model.register demo@2 tester local ok
tags.set demo tester local ok
version.archive demo@1 tester local ok
version.delete demo@1 tester local ok
version.delete demo@2 tester local conflict
model.register demo@3 tester local ok
alias.set demo:production tester local ok
alias.delete demo:production tester local ok
EOF
  check "every write recorded with actor, action, object, address, outcome" \
    bash -c "diff want.txt rec.txt || { echo '  got:'; cat rec.txt; false; }"
  check "the alias move's detail names the old version" \
    bash -c "'$kiln' audit list --json | grep -q 'version 3 (was 2)'"
  check "text list shows the records" bash -c "'$kiln' audit list | grep -q 'version.delete'"
  check "--since 1h keeps all 9" bash -c "[ \$('$kiln' audit list --since 1h --json | $py -c 'import json,sys; print(len(json.load(sys.stdin)))') = 9 ]"
  check "--since a future date keeps none" \
    bash -c "'$kiln' audit list --since 2100-01-01T00:00:00Z | grep -q 'no audit records'"
  check "--limit 2 keeps the newest two" bash -c "[ \"\$('$kiln' audit list --limit 2 --json | $py -c 'import json,sys; print(\" \".join(str(r[\"seq\"]) for r in json.load(sys.stdin)))')\" = '8 9' ]"
  check "a bad --since is a usage error (exit 2)" code 2 k audit list --since yesterday
  check "verify: exit 0, 'audit log intact: 9 records'" \
    bash -c "code 0 k audit verify && says 'audit log intact: 9 records'"
  check "verify --json: ok true" \
    bash -c "'$kiln' audit verify --json | $py -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d[\"ok\"] and d[\"records\"]==9 else 1)'"
}
export -f code says k
export kiln

suite_tamper() {
  sql "UPDATE audit_log SET actor = 'mallory' WHERE seq = 2" >/dev/null
  check "edited record: exit 1, 'record 2: hash mismatch (edited?)'" fails_with "record 2: hash mismatch (edited?)"
  check "verify --json names it" bash -c "'$kiln' audit verify --json | $py -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if not d[\"ok\"] and d[\"bad_seq\"]==2 else 1)'"
  sql "UPDATE audit_log SET actor = 'tester' WHERE seq = 2" >/dev/null
  check "restored: intact again" code 0 k audit verify

  sql "CREATE TABLE saved AS SELECT * FROM audit_log WHERE seq = 4; DELETE FROM audit_log WHERE seq = 4" >/dev/null
  check "deleted record: 'record 4 missing (deleted?)'" fails_with "record 4 missing (deleted?)"
  sql "INSERT INTO audit_log SELECT * FROM saved; DROP TABLE saved" >/dev/null
  check "restored: intact again" code 0 k audit verify

  sql "UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 6; UPDATE audit_log SET seq = 6 WHERE seq = -1" >/dev/null
  check "swapped records: 'record 3 out of order'" fails_with "record 3 out of order"
  sql "UPDATE audit_log SET seq = -1 WHERE seq = 3; UPDATE audit_log SET seq = 3 WHERE seq = 6; UPDATE audit_log SET seq = 6 WHERE seq = -1" >/dev/null
  check "restored: intact again" code 0 k audit verify
}

suite_file() { # the JSONL mirror next to the SQLite database
  local f=$KILN_HOME/audit.jsonl
  check "audit.jsonl holds the 9 records" bash -c "[ \$(wc -l <'$f') = 9 ]"
  check "audit.jsonl is not readable by others" bash -c "[ \$(stat -c %a '$f') = 600 ]"
  cp "$f" jsonl.bak
  sed -i '5s/"tester"/"mallory"/' "$f"
  check "edited file line: 'record 5 in …: hash mismatch (edited?)'" \
    bash -c "fails_with 'record 5 in' && says 'hash mismatch (edited?)'"
  cp jsonl.bak "$f"
  sed -i '7d' "$f"
  check "deleted file line: 'record 7 missing from …audit.jsonl'" fails_with "record 7 missing from"
  cp jsonl.bak "$f"
  sql "CREATE TABLE saved AS SELECT * FROM audit_log WHERE seq = 9; DELETE FROM audit_log WHERE seq = 9" >/dev/null
  check "newest record deleted from the database: the file still names it" \
    fails_with "record 9 missing from the database"
  sql "INSERT INTO audit_log SELECT * FROM saved; DROP TABLE saved" >/dev/null
  check "restored: intact again" code 0 k audit verify
}
export -f fails_with

suite_pin() { # a head kept elsewhere catches the newest records removed from both places
  local f=$KILN_HOME/audit.jsonl head
  head=$(k audit head | cut -d' ' -f2)
  check "head: 'N HASH' with N = 9 and verify's head hash" \
    bash -c "[ \"\$('$kiln' audit head | cut -d' ' -f1)\" = 9 ] && code 0 k audit verify && says 'head hash: $head'"
  check "head --json" bash -c "'$kiln' audit head --json | $py -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d[\"seq\"]==9 and d[\"hash\"]==\"$head\" else 1)'"
  check "verify --pin HEAD: intact" code 0 k audit verify --pin "$head"
  check "verify --pin takes head's whole 'N HASH' line too" code 0 k audit verify --pin "$(k audit head)"
  k models tag demo stage=pinned >/dev/null
  check "the log grows past the pin: still intact" code 0 k audit verify --pin "$head"
  sql "DELETE FROM audit_log WHERE seq >= 9" >/dev/null
  sed -i '$d' "$f" && sed -i '$d' "$f"
  check "newest records removed from database and file: unpinned verify passes" code 0 k audit verify
  check "… and verify --pin names the missing pinned record" \
    bash -c "code 1 k audit verify --pin '$head' && says 'is not in the log'"
  check "--pin with something not a hash: exit 1" \
    bash -c "code 1 k audit verify --pin nothex && says 'not a record hash'"
}

run_backend() {
  backend=$1
  export KILN_HOME=$dir/$backend/home KILN_USER=tester
  mkdir -p "$KILN_HOME"
  suite_recorded
  suite_tamper
  suite_file
  suite_pin
}

command -v sqlite3 >/dev/null || { echo "FAIL sqlite3 is not installed (bash scripts/deps.sh test)"; exit 1; }
( run_backend sqlite; exit $((fails > 255 ? 255 : fails)) )
sqlite_fails=$?
pg_fails=0
if [ -n "${KILN_TEST_PG_URL:-}" ]; then
  pg_url=$(pg_new_db "kiln_audit_$$") || { echo "FAIL cannot create a PostgreSQL database"; exit 1; }
  ( export KILN_STORE=$pg_url; run_backend postgres; exit $((fails > 255 ? 255 : fails)) )
  pg_fails=$?
else
  echo "skip [postgres] KILN_TEST_PG_URL is not set"
fi
echo "sqlite: $sqlite_fails failed; postgres: $pg_fails failed"
[ "$sqlite_fails" -eq 0 ] && [ "$pg_fails" -eq 0 ]
