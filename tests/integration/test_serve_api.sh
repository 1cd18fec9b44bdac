#!/usr/bin/env bash
# test_serve_api.sh KILN SCRATCH — `kiln serve` over real HTTP on 127.0.0.1: imports the demo
# XGBoost model, starts one server with tight limits (64 KiB bodies, 100-row batches, 2 s idle
# timeout, model control on) and a second without model control, runs serve_api_cases.py (the
# seed's /health and /predict against `kiln predict`, /models/NAME/predict, bad input and hostile
# traffic, X-Request-Id and the access log, OIP v2, /openapi.json against router.c), then checks
# that SIGTERM stops both servers with exit 0 and, under ASan/UBSan, with no sanitizer report.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
case $kiln in /*) ;; *) kiln=$PWD/$kiln ;; esac
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
py=/usr/bin/python3
: "${ASAN_OPTIONS:=detect_leaks=1:abort_on_error=1}"
: "${UBSAN_OPTIONS:=print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS UBSAN_OPTIONS
fails=0 checks=0
check() { # description, command...
  local what=$1; shift
  checks=$((checks + 1))
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done; }
trap cleanup EXIT

"$kiln" import "$root/examples/demo/model.json" -o demo.kiln >/dev/null || { echo "FAIL import"; exit 1; }
export KILN_HOME=$dir/home # a registry of its own: no API keys, so no authentication

# start_server NAME ARGS... — starts kiln serve on a free port; sets $port and $pid.
start_server() {
  local name=$1; shift
  "$kiln" serve --listen 127.0.0.1:0 --model demo=demo.kiln "$@" 2>"$name.err" &
  pid=$!
  pids+=("$pid")
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/.*"msg":"listening on http:\/\/127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$name.err" | head -1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ] || return 1
  for _ in $(seq 50); do
    $py -c "import requests,sys; sys.exit(requests.get('http://127.0.0.1:$port/health', timeout=2).status_code != 200)" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

stop_server() { # pid name — SIGTERM, wait at most 15 s, expect exit 0
  local p=$1 rc
  kill -TERM "$p" 2>/dev/null || return 1
  for _ in $(seq 150); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$p" 2>/dev/null; then echo "  $2 did not stop within 15 s of SIGTERM"; return 1; fi
  wait "$p"; rc=$?
  [ "$rc" -eq 0 ] || { echo "  $2 exited $rc; its stderr ends:"; tail -20 "$2.err" | sed 's/^/  /'; }
  [ "$rc" -eq 0 ]
}

no_sanitizer_report() { # name
  ! grep -q "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$1.err" || {
    grep -m5 -A10 "ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:" "$1.err" | sed 's/^/  /'
    return 1; }
}

check "server starts on a free port (port 0) and answers /health" \
  start_server main --access-log access.log --set max_body_bytes=65536 --set max_batch_rows=100 \
  --set idle_timeout_s=2 --allow-model-control
main_pid=$pid main_port=$port
check "a second server without --allow-model-control starts" \
  start_server second --access-log off
second_pid=$pid second_port=$port
if [ -z "$main_port" ] || [ -z "$second_port" ]; then
  echo "servers did not start; stderr:"; tail -5 main.err second.err
  exit 1
fi

# The cases print their own ok/FAIL lines; count them into ours.
t0=$(date +%s)
timeout 120 $py "$root/tests/integration/serve_api_cases.py" \
  --url "http://127.0.0.1:$main_port" --url2 "http://127.0.0.1:$second_port" \
  --access-log access.log --kiln "$kiln" --model demo.kiln --csv "$root/examples/demo/patients.csv" \
  --router "$root/src/serve/router.c" --idle 2 --max-body 65536 --max-rows 100 >cases.txt 2>&1
cases_rc=$?
cat cases.txt
checks=$((checks + $(grep -c '^ok \|^FAIL ' cases.txt)))
fails=$((fails + $(grep -c '^FAIL ' cases.txt)))
check "python cases finished (exit 0 or 1, not a crash or timeout: rc=$cases_rc)" \
  test "$cases_rc" -le 1 -a "$(grep -c 'checks passed' cases.txt)" -eq 1
echo "  cases took $(( $(date +%s) - t0 )) s"

check "main server still alive after the hostile cases" kill -0 "$main_pid"
check "SIGTERM stops the main server with exit 0" stop_server "$main_pid" main
check "SIGTERM stops the second server with exit 0" stop_server "$second_pid" second
check "main server: no sanitizer report" no_sanitizer_report main
check "second server: no sanitizer report" no_sanitizer_report second
check "main server logged 'stopped' as JSON" grep -q '"msg":"stopped"' main.err

echo "$((checks - fails))/$checks checks passed"
[ "$fails" -eq 0 ]
