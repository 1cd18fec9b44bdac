#!/usr/bin/env bash
# test_slowhttp.sh KILN SCRATCH — Debian's slowhttptest against `kiln serve` on 127.0.0.1: 200
# connections trickling headers (slowloris), then 200 trickling a request body (slow POST),
# each for 8 s, while a normal client keeps asking; the normal client must keep being served
# (at least 95% answered, each within 1 s) and the server must still answer afterwards.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
case $kiln in /*) ;; *) kiln=$PWD/$kiln ;; esac
rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" || exit 1
command -v slowhttptest >/dev/null || { echo "FAIL slowhttptest is not installed (scripts/deps.sh test)"; exit 1; }
py=/usr/bin/python3
pid=
trap '[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null' EXIT
"$kiln" import "$root/examples/demo/model.json" -o demo.kiln >/dev/null || { echo "FAIL import"; exit 1; }
export KILN_HOME=$dir/home
"$kiln" serve --listen 127.0.0.1:0 --model demo=demo.kiln --access-log off \
  --set request_timeout_s=4 --set idle_timeout_s=4 2>serve.err &
pid=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.err | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "FAIL server did not start"; cat serve.err; exit 1; }
fails=0

# probe SECONDS — a normal client: one /predict every 100 ms; prints "answered total worst_ms"
probe() {
  $py - "$port" "$1" "$root/examples/demo/request.json" <<'PY'
import json, sys, time, requests
port, secs, body = int(sys.argv[1]), float(sys.argv[2]), json.load(open(sys.argv[3]))
ok = total = 0
worst = 0.0
end = time.time() + secs
while time.time() < end:
    total += 1
    t = time.time()
    try:
        r = requests.post(f"http://127.0.0.1:{port}/predict", json=body, timeout=2)
        ok += r.status_code == 200
    except requests.RequestException:
        pass
    worst = max(worst, time.time() - t)
    time.sleep(0.1)
print(ok, total, int(worst * 1000))
PY
}

attack() { # name, slowhttptest arguments...
  local name=$1; shift
  slowhttptest "$@" -c 200 -i 2 -r 100 -p 3 -l 8 -o "$name" >"$name.log" 2>&1 &
  local attacker=$!
  sleep 1
  read -r ok total worst < <(probe 6)
  wait "$attacker"
  local held
  held=$(sed 's/\x1b\[[0-9;]*m//g' "$name.log" | grep -o 'connected: *[0-9]*' | grep -o '[0-9]*$' | sort -n | tail -1)
  if [ "${held:-0}" -lt 50 ]; then
    echo "FAIL $name: the attack did not take hold (at most ${held:-0} connections)"; fails=$((fails + 1))
  elif [ "$total" -gt 0 ] && [ $((ok * 100)) -ge $((total * 95)) ] && [ "$worst" -lt 1000 ]; then
    echo "ok   $name: a normal client kept being served ($ok of $total answered, worst ${worst} ms; attacker held up to $held connections)"
  else
    echo "FAIL $name: normal client got $ok of $total, worst ${worst} ms"; fails=$((fails + 1))
  fi
}

attack slow-headers -H -u "http://127.0.0.1:$port/health" -t GET -x 24
attack slow-body -B -u "http://127.0.0.1:$port/predict" -t POST -s 8192 -x 10

read -r ok total worst < <(probe 1)
if [ "$ok" -eq "$total" ] && [ "$total" -gt 0 ]; then echo "ok   the server answers normally afterwards"
else echo "FAIL the server is not answering normally afterwards ($ok of $total)"; fails=$((fails + 1)); fi
kill -TERM "$pid"; wait "$pid"; rc=$?; pid=
if [ "$rc" -eq 0 ]; then echo "ok   SIGTERM exits 0"; else echo "FAIL SIGTERM exit $rc"; fails=$((fails + 1)); fi
echo "$fails failed"
exit "$fails"
