#!/usr/bin/env bash
# test_registry.sh KILN SCRATCH — the model registry through the real binary, on both backends:
# the embedded SQLite store and a PostgreSQL database (KILN_TEST_PG_URL's cluster, or one this
# script starts on 127.0.0.1). Versions, aliases, tags, lineage, --config, archive/delete rules,
# export with hash verification, diff, runs, migrations, bad input that changes nothing,
# 8 concurrent writers x 25 registrations, and SIGKILL at random points.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
# shellcheck source=../lib/pg.sh
source "$root/tests/lib/pg.sh"
py=/usr/bin/python3
fails=0 checks=0
check() { # description, command...
  local what=$1; shift
  checks=$((checks + 1))
  if "$@"; then echo "ok   [$backend] $what"; else echo "FAIL [$backend] $what"; fails=$((fails + 1)); fi
}
code() { "${@:2}" >out.txt 2>err.txt; [ $? -eq "$1" ]; }
says() { grep -q -- "$1" err.txt || { echo "  stderr was: $(cat err.txt)"; return 1; }; }
jq_py() { $py -c "import json,sys; d=json.load(open('$1')); sys.exit(0 if ($2) else 1)"; }
k() { "$kiln" "$@"; }

# ---- fixtures (shared by both backends) -------------------------------------------------------
demo_src=$root/examples/demo/model.json
"$kiln" import "$demo_src" -o demo.kiln >/dev/null || exit 1
"$kiln" import "$root/tests/data/lightgbm/binary_nan.txt" -o other.kiln >/dev/null || exit 1
cat >model_config.yaml <<'YAML'
# the seed's model_config.yaml
model:
  version: "1.2.3"
  framework: "scikit-learn"
  framework_version: "1.3.0"

data:
  training_set: "s3://bucket/data/v1.2/train.parquet"
  validation_set: "s3://bucket/data/v1.2/val.parquet"

parameters:
  learning_rate: 0.001
  batch_size: 32
  epochs: 100
YAML

# Fingerprint of everything stored, to prove a refused command changed nothing.
fingerprint() {
  k models list --json >fp.json 2>/dev/null
  for n in $($py -c "import json; print(' '.join(m['name'] for m in json.load(open('fp.json'))))"); do
    k models show "$n" --json 2>/dev/null
  done | grep -v '"updated_at"\|"created_at"' | sha256sum
}

suite_basics() {
  check "register a source model: --json has name and version 1" \
    bash -c "'$kiln' models register '$demo_src' --name demo --json >r.json && $py -c \"import json; d=json.load(open('r.json')); assert d['name']=='demo' and d['version']==1\""
  check "register a .kiln package with alias, tags, description, config" \
    code 0 k models register demo.kiln --name demo --alias production --tag team=risk --tag stage=2 \
    --description "second cut" --config model_config.yaml
  check "versions count 1, 2, 3" \
    bash -c "'$kiln' models register other.kiln --name demo --json | grep -q '\"version\": 3'"
  check "show demo@production resolves to 2" \
    bash -c "'$kiln' models show demo@production --json >s.json && $py -c \"import json; d=json.load(open('s.json')); assert d['version']==2 and d['aliases']==['production']\""
  k models show demo@2 --json >v2.json
  check "lineage: source sha256 and format, framework and version, who" \
    jq_py v2.json "d['source_sha256']=='$(sha256sum "$demo_src" | cut -c1-64)' and d['source_format']=='xgboost' and d['framework']=='xgboost' and d['framework_version'] and d['registered_by']=='tester'"
  check "lineage: package sha256 is the .kiln file's" \
    jq_py v2.json "d['package_sha256']=='$(sha256sum demo.kiln | cut -c1-64)'"
  check "config: the seed's model_config.yaml sections are kept" \
    jq_py v2.json "d['config']['model']['framework']=='scikit-learn' and d['config']['parameters']['batch_size']==32 and d['config']['data']['training_set'].startswith('s3://')"
  check "version tags and schema" \
    jq_py v2.json "d['tags']=={'team':'risk','stage':'2'} and len(d['schema']['features'])==30 and d['schema']['task']=='classification'"
  check "latest is version 3" bash -c "'$kiln' models show demo@latest --json | grep -q '\"version\": 3'"
  check "list shows the model with its alias" \
    bash -c "'$kiln' models list --json >l.json && $py -c \"import json; d=json.load(open('l.json')); m=[x for x in d if x['name']=='demo'][0]; assert m['latest_version']==3 and m['aliases']=={'production':2}\""
  check "alias moves atomically (production -> 3)" code 0 k models alias demo@3 production
  check "alias by alias (staging <- production)" code 0 k models alias demo@production staging
  check "staging is 3" bash -c "'$kiln' models show demo@staging --json | grep -q '\"version\": 3'"
  check "export is byte-identical to the registered package" \
    bash -c "'$kiln' models export demo@2 -o exported.kiln >/dev/null && cmp -s exported.kiln demo.kiln"
  check "diff shows schema differences" \
    bash -c "'$kiln' models diff demo@2 demo@3 --json >d.json && $py -c \"import json; d=json.load(open('d.json')); p=[x['path'] for x in d['differences']]; assert any(x.startswith('schema.features') for x in p) and 'framework' in p\""
  check "diff of a version with itself is empty" \
    bash -c "'$kiln' models diff demo@2 demo@2 | grep -q 'no differences'"
  check "model tag" code 0 k models tag demo owner=ml-platform
  check "version tag delete" code 0 k models tag demo@2 --delete stage
  check "tags visible" bash -c "'$kiln' models show demo --json | grep -q ml-platform && ! '$kiln' models show demo@2 --json | grep -q '\"stage\"'"
}

suite_rules() {
  check "archive refused while an alias points at the version" code 1 k models archive demo@3
  says "alias" || fails=$((fails + 1))
  check "delete refused while an alias points at the version" code 1 k models delete demo@3
  check "archive version 1" code 0 k models archive demo@1
  check "an archived version cannot be aliased" code 1 k models alias demo@1 canary
  check "restore, then alias works" bash -c "'$kiln' models archive demo@1 --restore >/dev/null && '$kiln' models alias demo@1 canary >/dev/null"
  check "delete alias" code 0 k models alias --delete demo canary
  check "delete version 1" code 0 k models delete demo@1
  check "deleted version is gone" code 1 k models show demo@1
  check "version numbers are never reused (next is 4)" \
    bash -c "'$kiln' models register demo.kiln --name demo --json | grep -q '\"version\": 4'"
  check "delete keeps an artifact another version still uses" \
    bash -c "'$kiln' models delete demo@4 >/dev/null && '$kiln' models export demo@2 -o e2.kiln >/dev/null"
}

suite_bad_input() {
  local before
  before=$(fingerprint)
  check "invalid model name -> 1" code 1 k models register demo.kiln --name 'bad name!'
  says "invalid model name" || fails=$((fails + 1))
  check "name with @ -> 1" code 1 k models register demo.kiln --name 'a@b'
  check "invalid alias -> 1" code 1 k models alias demo@2 '9lives'
  check "reserved alias latest -> 1" code 1 k models alias demo@2 latest
  check "unknown version -> 1, named" code 1 k models show demo@99
  says "no version 99" || fails=$((fails + 1))
  check "unknown alias -> 1, named" code 1 k models show demo@nope
  says "no alias 'nope'" || fails=$((fails + 1))
  check "unknown model -> 1" code 1 k models show ghost@1
  says "no model named 'ghost'" || fails=$((fails + 1))
  check "not a model file -> 1" bash -c "echo 'hello' >junk.bin; '$kiln' models register junk.bin --name demo 2>err.txt; [ \$? -eq 1 ]"
  check "tampered package -> 1" bash -c "cp demo.kiln t.kiln; printf 'X' | dd of=t.kiln bs=1 seek=200 conv=notrunc 2>/dev/null; '$kiln' models register t.kiln --name demo 2>err.txt; [ \$? -eq 1 ]"
  check "unknown parent version -> 1" code 1 k models register demo.kiln --name demo --parent 77
  check "unknown run -> 1" code 1 k models register demo.kiln --name demo --run 0123456789abcdef0123456789abcdef
  check "bad YAML config -> 1 with a line number" bash -c "printf 'model:\n  a: [1, 2\n' >bad.yaml; '$kiln' models register demo.kiln --name demo --config bad.yaml 2>err.txt; [ \$? -eq 1 ] && grep -q 'line' err.txt"
  check "usage errors -> 2" code 2 k models register demo.kiln
  local after
  after=$(fingerprint)
  check "nothing was changed by the refused commands" test "$before" = "$after"
}

artifact_path() { # sha
  echo "$art/sha256/${1:0:2}/$1"
}

suite_integrity() {
  local sha
  sha=$($py -c "import json; print(json.load(open('v2.json'))['package_sha256'])")
  cp "$(artifact_path "$sha")" saved.art
  chmod u+w "$(artifact_path "$sha")"
  printf 'Z' | dd of="$(artifact_path "$sha")" bs=1 seek=100 conv=notrunc 2>/dev/null
  rm -f x.kiln
  check "an altered artifact is refused on export" code 1 k models export demo@2 -o x.kiln
  says "corrupt" || fails=$((fails + 1))
  check "and nothing is written" test ! -e x.kiln
  check "store check reports it and exits 1" code 1 k store check
  rm "$(artifact_path "$sha")"
  check "a missing artifact is refused on export" code 1 k models export demo@2 -o x.kiln
  check "re-registering the same package repairs the store" \
    bash -c "'$kiln' models register demo.kiln --name repair >/dev/null && '$kiln' models export demo@2 -o x.kiln >/dev/null && cmp -s x.kiln demo.kiln"
  check "store check is clean" code 0 k store check
}

suite_runs() {
  local run1 run2
  run1=$(k runs log --experiment churn --name baseline --param lr=0.1 --param depth=6 \
    --metric auc=0.81@1 --metric auc=0.84@2 --metric loss=0.3 --artifact model_config.yaml)
  run2=$(k runs log --experiment churn --param lr=0.05 --param depth=8 --metric auc=0.86@1 --json |
    $py -c "import json,sys; print(json.load(sys.stdin)['run_id'])")
  check "runs log prints a 32-hex run id" bash -c "[[ '$run1' =~ ^[0-9a-f]{32}$ ]] && [[ '$run2' =~ ^[0-9a-f]{32}$ ]]"
  check "runs show has params, metric history and the artifact" \
    bash -c "'$kiln' runs show $run1 --json >run.json && $py -c \"import json; d=json.load(open('run.json')); assert d['params']=={'depth':'6','lr':'0.1'} and [p['value'] for p in d['metrics']['auc']]==[0.81,0.84] and d['artifacts'][0]['path']=='model_config.yaml' and d['status']=='FINISHED'\""
  check "runs list filters by experiment" \
    bash -c "[ \"\$('$kiln' runs list --experiment churn --json | $py -c 'import json,sys; print(len(json.load(sys.stdin)))')\" = 2 ]"
  check "runs compare puts params and metrics side by side" \
    bash -c "'$kiln' runs compare $run1 $run2 --json >c.json && $py -c \"import json; d=json.load(open('c.json')); assert d['params']['lr']==['0.1','0.05'] and d['metrics']['auc']==[0.84,0.86] and d['metrics']['loss']==[0.3,None]\""
  check "a param never changes (-> 1)" code 1 k runs log --run "$run1" --param lr=0.2
  check "more metrics go to an existing run" code 0 k runs log --run "$run1" --metric auc=0.85@3 --status FINISHED
  check "register with a training-run reference" \
    bash -c "'$kiln' models register demo.kiln --name demo --run $run1 --dataset s3://b/train.parquet --parent 2 --json >rr.json && v=\$($py -c \"import json; print(json.load(open('rr.json'))['version'])\") && '$kiln' models show demo@\$v --json | $py -c \"import json,sys; d=json.load(sys.stdin); assert d['run_id']=='$run1' and d['parent_version']==2 and d['dataset']=='s3://b/train.parquet'\""
  check "unknown run -> 1" code 1 k runs show 0123456789abcdef0123456789abcdef
  check "bad metric value -> 2" code 2 k runs log --experiment churn --metric auc=abc
  check "non-finite metric -> 1" code 1 k runs log --experiment churn --metric auc=nan
}

set_schema() { # version
  if [ "$backend" = sqlite ]; then
    $py -c "import sqlite3; c=sqlite3.connect('$home/registry.db'); c.execute(\"UPDATE kiln_meta SET value='$1' WHERE key='schema'\"); c.commit()"
  else
    pg_psql "$KILN_STORE" "UPDATE kiln_meta SET value='$1' WHERE key='schema'" >/dev/null
  fi
}

suite_corrupt_db() {
  [ "$backend" = sqlite ] || return 0
  local bad=$dir/corrupt-home sum
  mkdir -p "$bad"
  head -c 8192 /dev/urandom >"$bad/registry.db"
  sum=$(sha256sum "$bad/registry.db")
  check "a corrupt database file -> 1 with a clear error" code 1 k models list --home "$bad"
  says "not a valid SQLite registry database" || fails=$((fails + 1))
  check "and the file is untouched, nothing created beside it" \
    bash -c "[ \"\$(sha256sum '$bad/registry.db')\" = '$sum' ] && [ -z \"\$(ls '$bad' | grep -v '^registry.db$' | grep -v '^artifacts$')\" ]"
  # a real registry cut short mid-file
  cp "$home/registry.db" "$bad/registry.db" 2>/dev/null && truncate -s 4096 "$bad/registry.db"
  check "a truncated database is refused (exit 1), not half-read" code 1 k store check --home "$bad"
}

suite_schema() {
  check "store migrate reports the schema is current" bash -c "'$kiln' store migrate | grep -q 'up to date'"
  set_schema 99
  check "a store with a newer schema is refused: upgrade kiln" code 1 k models list
  says "upgrade kiln" || fails=$((fails + 1))
  set_schema 3
  check "the store works again" code 0 k models list
}

register_many() { # writer id
  local i
  for i in $(seq 1 25); do
    "$kiln" models register demo.kiln --name busy --tag "writer=$1" --tag "i=$i" --json >>"writer$1.out" 2>>"writer$1.err" ||
      echo "writer $1 registration $i failed" >>"writer$1.err"
  done
}

suite_concurrency() {
  local w
  rm -f writer*.out writer*.err
  for w in 1 2 3 4 5 6 7 8; do register_many "$w" & done
  wait
  check "8 writers x 25: no registration failed" bash -c "! cat writer*.err | grep -q . || { head -5 writer*.err; false; }"
  check "versions are exactly 1..200, unique and gap-free" \
    bash -c "cat writer*.out | $py -c \"import sys,json,re; v=sorted(int(x) for x in re.findall(r'\\\"version\\\": (\\d+)', sys.stdin.read())); assert v==list(range(1,201)), v[:5]\""
  check "the registry lists all 200" \
    bash -c "'$kiln' models show busy --json | $py -c \"import json,sys; d=json.load(sys.stdin); assert [v['version'] for v in d['versions']]==list(range(1,201))\""
}

suite_crash() {
  local i op pid
  "$kiln" models register demo.kiln --name crashy --alias production >/dev/null
  for i in $(seq 1 24); do
    case $((i % 3)) in
    0) op=(models register other.kiln --name crashy --tag "i=$i") ;;
    1) op=(models alias "crashy@latest" production) ;;
    2) op=(models delete "crashy@$((i / 3 + 1))") ;;
    esac
    "$kiln" "${op[@]}" >/dev/null 2>&1 &
    pid=$!
    sleep "0.0$((RANDOM % 9))"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  # a write interrupted before its rename leaves a temporary file; make one for certain
  echo partial >"$art/sha256/00.tmp.crash" 2>/dev/null || true
  check "after SIGKILLs the store check is clean (orphans allowed)" code 0 k store check
  check "every version left is exportable" \
    bash -c "for v in \$('$kiln' models show crashy --json | $py -c 'import json,sys; print(\" \".join(str(v[\"version\"]) for v in json.load(sys.stdin)[\"versions\"]))'); do '$kiln' models export crashy@\$v -o c.kiln >/dev/null || exit 1; done"
  check "gc --grace 0 removes orphans" code 0 k store gc --grace 0
  check "then check lists no orphans" \
    bash -c "'$kiln' store check --json | $py -c \"import json,sys; d=json.load(sys.stdin); assert d['ok'] and not d['orphans'] and not d['temporary_files']\""
}

run_backend() {
  backend=$1
  home=$dir/$backend/home
  art=$home/artifacts
  mkdir -p "$home"
  export KILN_HOME=$home KILN_USER=tester
  suite_basics
  suite_rules
  suite_bad_input
  suite_integrity
  suite_runs
  suite_corrupt_db
  suite_schema
  suite_concurrency
  suite_crash
}

started_pg=0
backend=setup
( run_backend sqlite; exit $((fails > 255 ? 255 : fails)) )
sqlite_fails=$?

if [ -z "${KILN_TEST_PG_URL:-}" ]; then
  pg_start "$dir" || { echo "FAIL PostgreSQL did not start"; exit 1; }
  started_pg=1
fi
pg_url=$(pg_new_db "kiln_registry_$$") || { echo "FAIL cannot create a PostgreSQL database"; exit 1; }
( export KILN_STORE=$pg_url; run_backend postgres; exit $((fails > 255 ? 255 : fails)) )
pg_fails=$?
[ "$started_pg" = 1 ] && pg_stop
echo "sqlite: $sqlite_fails failed; postgres: $pg_fails failed"
[ "$sqlite_fails" -eq 0 ] && [ "$pg_fails" -eq 0 ]
