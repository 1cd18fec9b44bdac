#!/usr/bin/env bash
# bench/serve/run.sh — the serving benchmark: one run, one machine, one load setting (wrk) against
#   nginx        nginx returning a fixed JSON prediction (the loopback ceiling)
#   kiln         kiln serve: POST /predict, a 100-tree depth-6 XGBoost model, the seed's body
#   kiln-oip     the same model through the Open Inference Protocol: POST /v2/models/demo/infer
#   kiln-batch   batches of 64 rows: POST /models/demo/predict {"instances": [...]}
#   fastapi      the seed's FastAPI app (Debian's uvicorn, one worker) serving an equivalent
#                scikit-learn GradientBoostingClassifier (100 trees, depth 6)
#   nginx-tls    the nginx row over HTTPS (TLS 1.3, the same self-signed P-256 certificate)
#   kiln-secure  the kiln row locked down: HTTPS, an API key on every request, rate limits on
#                (high enough never to refuse): what security costs, against nginx-tls
# and prints a markdown table (also written to $BENCH_OUT/serve.md): requests/s, p50, p99, server
# CPU per request (utime+stime of the server and its children, from /proc), and the ratios
# Kiln/nginx and Kiln/FastAPI at the same connection count.
#
#   bash bench/serve/run.sh
# Environment:
#   BENCH_DURATION  seconds per wrk run (default 10)
#   BENCH_CONNS     connection counts, one wrk run each (default "32 64")
#   BENCH_THREADS   wrk threads (default 2)
#   BENCH_WARMUP    seconds of unmeasured load before each target's runs (default 1; 0 = none)
#   BENCH_TARGETS   subset of "nginx kiln kiln-nomon fastapi secure" to run (default all; secure
#                   = nginx-tls and kiln-secure; kiln = the three
#                   kiln rows; kiln-nomon = /predict and the batch with metrics off, the
#                   monitoring overhead)
#   BENCH_OUT       output directory (default bench/out); models are cached in $BENCH_OUT/serve
#   KILN_BUILD      build directory holding kiln (default build); KILN overrides the binary
#   PYTHON          Debian's interpreter with xgboost, scikit-learn, fastapi, uvicorn
#                   (default /usr/bin/python3)
#   NGINX, WRK      binaries (default /usr/sbin/nginx, wrk)
#   SEED_UVICORN_ARGS  extra uvicorn flags for the seed app (default none: uvicorn's defaults,
#                   access log included, written to a file)
# Every server listens on 127.0.0.1 on a free random port and is stopped on exit.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${KILN_BUILD:-$root/build}
kiln=${KILN:-$build/kiln}
out=${BENCH_OUT:-$root/bench/out}
dur=${BENCH_DURATION:-10}
dur=${dur%s}
conns=${BENCH_CONNS:-32 64}
threads=${BENCH_THREADS:-2}
warmup=${BENCH_WARMUP:-1}
targets=${BENCH_TARGETS:-nginx kiln kiln-nomon fastapi secure}
py=${PYTHON:-/usr/bin/python3}
nginx=${NGINX:-/usr/sbin/nginx}
wrk=${WRK:-wrk}
hz=$(getconf CLK_TCK)

[[ $dur =~ ^[0-9]+$ && $dur -ge 1 && $dur -le 600 ]] || {
    echo "serve bench: BENCH_DURATION must be 1..600 seconds" >&2
    exit 2
}
[[ $threads =~ ^[0-9]+$ && $threads -ge 1 ]] || {
    echo "serve bench: BENCH_THREADS must be a positive integer" >&2
    exit 2
}
for c in $conns; do
    [[ $c =~ ^[0-9]+$ && $c -ge $threads ]] || {
        echo "serve bench: each of BENCH_CONNS must be an integer >= BENCH_THREADS ($threads)" >&2
        exit 2
    }
done
command -v "$wrk" >/dev/null || {
    echo "serve bench: wrk not found (apt-get install wrk)" >&2
    exit 1
}

work=$out/serve
mkdir -p "$work"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-serve-bench.XXXXXX")
server_pid=
wrk_pid=

# Stops the running server: SIGTERM, up to 5 s to exit, then SIGKILL (its children too).
stop_server() {
    local pid=$server_pid i kids
    server_pid=
    [[ -n $pid ]] || return 0
    kids=$(descendants "$pid" | tail -n +2)
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    # shellcheck disable=SC2086
    [[ -z $kids ]] || kill -KILL $kids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    [[ -z $wrk_pid ]] || kill -TERM "$wrk_pid" 2>/dev/null || true
    stop_server
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The pid and every descendant of it, one a line (from the parent ids in /proc/*/stat).
descendants() {
    local -A kids=()
    local f s pid ppid
    for f in /proc/[0-9]*/stat; do
        { s=$(<"$f"); } 2>/dev/null || continue
        pid=${s%% *}
        s=${s##*) }
        ppid=${s#* }
        ppid=${ppid%% *}
        kids[$ppid]+="$pid "
    done
    local queue=("$1") p
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        echo "$p"
        # shellcheck disable=SC2206
        [[ -z ${kids[$p]:-} ]] || queue+=(${kids[$p]})
    done
}

# CPU clock ticks used so far by the pid and its descendants: utime+stime, plus cutime+cstime
# (the time of children that already exited and were reaped).
cpu_ticks() {
    local t=0 p s
    local -a f
    for p in $(descendants "$1"); do
        { s=$(<"/proc/$p/stat"); } 2>/dev/null || continue
        s=${s##*) }
        read -r -a f <<<"$s"
        # after "pid (comm) ": f[0] is field 3 (state); utime..cstime are fields 14..17
        t=$((t + f[11] + f[12] + f[13] + f[14]))
    done
    echo "$t"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local p i
    for ((i = 0; i < 100; i++)); do
        p=$((20000 + RANDOM % 40000))
        port_in_use "$p" || {
            echo "$p"
            return 0
        }
    done
    echo "serve bench: no free port found" >&2
    return 1
}

# Waits (at most $3 seconds) until the server $2 accepts on port $1; fails if it exits first.
wait_ready() {
    local port=$1 pid=$2 deadline=$((SECONDS + $3))
    while ((SECONDS < deadline)); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_in_use "$port" && return 0
        sleep 0.1
    done
    return 1
}

# Trains the two models and writes the request bodies, once (cached in $work).
models() {
    local f stale=0
    for f in xgb.json gbc.joblib predict.json infer.json batch.json; do
        [[ -f $work/$f && $work/$f -nt $here/make_models.py ]] || stale=1
    done
    if ((stale)); then
        echo "serve bench: training the benchmark models (deterministic, about 20 s)" >&2
        "$py" "$here/make_models.py" "$work"
    fi
}

# Results, one per run: "target|conns|rows per request|status" where status is "ok REQ DUR_US
# P50_US P99_US TICKS ERRORS" or a message (skipped/failed).
results=()

# Checks one request with curl; prints the answer; fails on a status other than 200.
check_request() { # url body-file label
    local code
    local -a auth=()
    [[ -z ${BENCH_AUTH:-} ]] || auth=(-H "Authorization: Bearer $BENCH_AUTH")
    code=$(curl -sS -k -m 10 -o "$tmp/answer" -w '%{http_code}' -X POST "${auth[@]}" \
        -H 'Content-Type: application/json' --data-binary "@$2" "$1") || code=000
    printf '  %-11s %s -> HTTP %s %s\n' "$3" "${1#http*://127.0.0.1:*/}" "$code" \
        "$(head -c 160 "$tmp/answer" 2>/dev/null | tr -d '\n')" >&2
    [[ $code == 200 ]]
}

# Runs wrk against one endpoint for every connection count and records the rows.
bench_target() { # target url body-file rows-per-request
    local target=$1 url=$2 body=$3 rows=$4 c t0 t1 line
    if ! check_request "$url" "$body" "$target"; then
        for c in $conns; do results+=("$target|$c|$rows|failed: the check request did not answer 200"); done
        return 0
    fi
    if ((warmup > 0)); then
        BENCH_BODY=$body "$wrk" -t"$threads" -c"${conns%% *}" -d"${warmup}s" -s "$here/post.lua" \
            "$url" >/dev/null 2>&1 || true
    fi
    for c in $conns; do
        t0=$(cpu_ticks "$server_pid")
        # wrk runs in the background so that a signal interrupts the wait and stops everything
        BENCH_BODY=$body "$wrk" -t"$threads" -c"$c" -d"${dur}s" --timeout 5s --latency \
            -s "$here/post.lua" "$url" >"$tmp/wrk.out" 2>&1 &
        wrk_pid=$!
        if ! wait "$wrk_pid"; then
            wrk_pid=
            results+=("$target|$c|$rows|failed: wrk exited with an error")
            sed 's/^/    /' "$tmp/wrk.out" >&2
            continue
        fi
        wrk_pid=
        t1=$(cpu_ticks "$server_pid")
        line=$(grep '^BENCH ' "$tmp/wrk.out" || true)
        if [[ -z $line ]]; then
            results+=("$target|$c|$rows|failed: no statistics from wrk")
            continue
        fi
        # BENCH requests= duration_us= p50_us= p99_us= connect= read= write= status= timeout=
        local -a v
        read -r -a v <<<"$(sed 's/[a-z0-9_]*=//g; s/^BENCH //' <<<"$line")"
        local errors=$((v[4] + v[5] + v[6] + v[7] + v[8]))
        results+=("$target|$c|$rows|ok ${v[0]} ${v[1]} ${v[2]} ${v[3]} $((t1 - t0)) $errors")
        printf '  %-11s c=%-3s %s requests, p50 %s us, p99 %s us, %s errors\n' \
            "$target" "$c" "${v[0]}" "${v[2]}" "${v[3]}" "$errors" >&2
    done
}

skip_target() { # target rows message
    local c
    for c in $conns; do results+=("$1|$c|$2|$3"); done
}

# A self-signed P-256 certificate for 127.0.0.1, once per run (nginx-tls and kiln-secure).
make_cert() {
    [[ -f $tmp/tls/cert.pem ]] && return 0
    mkdir -p "$tmp/tls"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
        -keyout "$tmp/tls/key.pem" -out "$tmp/tls/cert.pem" 2>/dev/null
}

run_nginx() { # target name, "tls" for HTTPS
    local target=${1:-nginx} tls=${2:-} port d=$tmp/${1:-nginx} listen scheme=http
    port=$(free_port)
    mkdir -p "$d"
    listen="listen 127.0.0.1:$port;"
    if [[ $tls == tls ]]; then
        make_cert
        listen="listen 127.0.0.1:$port ssl; ssl_certificate $tmp/tls/cert.pem;
        ssl_certificate_key $tmp/tls/key.pem; ssl_protocols TLSv1.3;"
        scheme=https
    fi
    cat >"$d/nginx.conf" <<EOF
# nginx.conf — written by bench/serve/run.sh: a fixed JSON prediction, the loopback ceiling.
worker_processes auto;
daemon off;
master_process on;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/json;
    keepalive_requests 1000000;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
    server {
        $listen
        location / { return 200 '{"prediction":1.0,"confidence":0.97}'; }
    }
}
EOF
    "$nginx" -p "$d" -e "$d/error.log" -c "$d/nginx.conf" >"$d/stdout.log" 2>&1 &
    server_pid=$!
    if ! wait_ready "$port" "$server_pid" 10; then
        cat "$d/error.log" "$d/stdout.log" >&2 2>/dev/null || true
        stop_server
        skip_target "$target" 1 "failed: nginx did not start"
        return 0
    fi
    bench_target "$target" "$scheme://127.0.0.1:$port/predict" "$work/predict.json" 1
    stop_server
}

# kiln locked down as docs/security.md says: HTTPS, a predictor key on every request (checked
# against the registry's argon2id hash once, then from the cache), rate limits evaluated on
# every request.
run_kiln_secure() {
    [[ -x $kiln ]] || return 0
    make_cert
    local port home=$tmp/secure-home key
    port=$(free_port)
    mkdir -p "$home"
    key=$(KILN_HOME=$home "$kiln" keys create --name bench --role predictor 2>/dev/null)
    KILN_HOME=$home "$kiln" serve --listen "127.0.0.1:$port" --model "demo=$work/model-ref.kiln" \
        --set tls_cert_file="$tmp/tls/cert.pem" --set tls_key_file="$tmp/tls/key.pem" \
        --set rate_limit_predictor=1000000/s --set rate_limit_per_address=1000000/s \
        >"$tmp/kiln-secure.log" 2>&1 &
    server_pid=$!
    if [[ -z $key ]] || ! wait_ready "$port" "$server_pid" 30; then
        tail -n 20 "$tmp/kiln-secure.log" >&2 || true
        stop_server
        skip_target kiln-secure 1 "failed: kiln serve did not start"
        return 0
    fi
    BENCH_AUTH=$key bench_target kiln-secure "https://127.0.0.1:$port/predict" \
        "$work/predict.json" 1
    stop_server
}

run_kiln() {
    if [[ ! -x $kiln ]] || ! "$kiln" serve --help >/dev/null 2>&1; then
        skip_target kiln 1 "skipped: kiln serve not built"
        skip_target kiln-oip 1 "skipped: kiln serve not built"
        skip_target kiln-batch 64 "skipped: kiln serve not built"
        return 0
    fi
    [[ $work/model.kiln -nt $work/xgb.json ]] ||
        "$kiln" import "$work/xgb.json" -o "$work/model.kiln" >&2
    # the monitored package: reference statistics for online drift
    [[ -f $work/reference.csv ]] || "$py" "$here/make_models.py" "$work" >&2
    [[ $work/model-ref.kiln -nt $work/xgb.json ]] ||
        "$kiln" import "$work/xgb.json" -o "$work/model-ref.kiln" --reference "$work/reference.csv" >&2
    local port
    port=$(free_port)
    # monitoring fully on: metrics, data quality, online drift, feedback memory, 1% prediction log
    "$kiln" serve --listen "127.0.0.1:$port" --model "demo=$work/model-ref.kiln" \
        --set prediction_log_rate=0.01 --set prediction_log_dir="$tmp/predlog" \
        >"$tmp/kiln.log" 2>&1 &
    server_pid=$!
    if ! wait_ready "$port" "$server_pid" 30; then
        tail -n 20 "$tmp/kiln.log" >&2 || true
        stop_server
        skip_target kiln 1 "failed: kiln serve did not start"
        skip_target kiln-oip 1 "failed: kiln serve did not start"
        skip_target kiln-batch 64 "failed: kiln serve did not start"
        return 0
    fi
    local base="http://127.0.0.1:$port"
    bench_target kiln "$base/predict" "$work/predict.json" 1
    bench_target kiln-oip "$base/v2/models/demo/infer" "$work/infer.json" 1
    bench_target kiln-batch "$base/models/demo/predict" "$work/batch.json" 64
    stop_server
}

# The /predict and batch rows again with monitoring off (no metrics, no feedback, no drift
# reference, no prediction log): kiln / kiln-nomon and kiln-batch / kiln-nomon-batch are what
# monitoring costs.
run_kiln_nomon() {
    [[ -x $kiln ]] || return 0
    local port
    port=$(free_port)
    "$kiln" serve --listen "127.0.0.1:$port" --model "demo=$work/model.kiln" --set metrics=false \
        --set feedback=false \
        >"$tmp/kiln-nomon.log" 2>&1 &
    server_pid=$!
    if ! wait_ready "$port" "$server_pid" 30; then
        stop_server
        skip_target kiln-nomon 1 "failed: kiln serve did not start"
        skip_target kiln-nomon-batch 64 "failed: kiln serve did not start"
        return 0
    fi
    bench_target kiln-nomon "http://127.0.0.1:$port/predict" "$work/predict.json" 1
    bench_target kiln-nomon-batch "http://127.0.0.1:$port/models/demo/predict" "$work/batch.json" 64
    stop_server
}

run_fastapi() {
    local port
    port=$(free_port)
    # shellcheck disable=SC2086
    SEED_MODEL=$work/gbc.joblib "$py" -m uvicorn seed_app:app --app-dir "$here" \
        --host 127.0.0.1 --port "$port" --workers 1 ${SEED_UVICORN_ARGS:-} \
        >"$tmp/fastapi.log" 2>&1 &
    server_pid=$!
    if ! wait_ready "$port" "$server_pid" 60; then
        tail -n 20 "$tmp/fastapi.log" >&2 || true
        stop_server
        skip_target fastapi 1 "failed: the seed app did not start"
        return 0
    fi
    bench_target fastapi "http://127.0.0.1:$port/predict" "$work/predict.json" 1
    stop_server
}

models
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "serve bench: wrk -t$threads, ${dur}s per run, connections: $conns" >&2
for t in $targets; do
    case $t in
    nginx) run_nginx ;;
    kiln) run_kiln ;;
    kiln-nomon) run_kiln_nomon ;;
    fastapi) run_fastapi ;;
    secure)
        run_nginx nginx-tls tls
        run_kiln_secure
        ;;
    *)
        echo "serve bench: unknown target '$t' (nginx, kiln, kiln-nomon, fastapi, secure)" >&2
        exit 2
        ;;
    esac
done

# requests/s of one target at one connection count (empty when it did not run).
rps_of() { # target conns
    local r
    for r in "${results[@]}"; do
        IFS='|' read -r t c _ s <<<"$r"
        if [[ $t == "$1" && $c == "$2" && $s == ok* ]]; then
            awk -v n="$(cut -d' ' -f2 <<<"$s")" -v d="$(cut -d' ' -f3 <<<"$s")" \
                'BEGIN { printf "%.1f", n / (d / 1e6) }'
            return 0
        fi
    done
}

cpu_model=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //' || true)
table=$tmp/serve.md
{
    echo "## Serving: Kiln vs nginx and the seed's FastAPI app"
    echo
    echo "\`bash bench/serve/run.sh\` — $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs" \
        "(${cpu_model:-unknown CPU}), load generator on the same machine:" \
        "$("$wrk" -v 2>&1 | head -n1 | cut -d' ' -f1-2), $threads threads, ${dur} s per run," \
        "keep-alive, POST bodies from bench/serve/make_models.py (30 features; batch = 64 rows)." \
        "Load average before the run: $load_before (anything else running skews every row)."
    echo
    echo "| target | connections | requests/s | rows/s | p50 ms | p99 ms | server CPU µs/request | × nginx | × FastAPI | errors |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for r in "${results[@]}"; do
        IFS='|' read -r t c rows s <<<"$r"
        if [[ $s != ok* ]]; then
            echo "| $t | $c | $s | | | | | | | |"
            continue
        fi
        read -r _ n d p50 p99 ticks errs <<<"$s"
        ng=$(rps_of nginx "$c")
        [[ $t == kiln-secure ]] && ng=$(rps_of nginx-tls "$c")
        fa=$(rps_of fastapi "$c")
        kiln_row=0
        [[ $t == kiln* ]] && kiln_row=1
        awk -v t="$t" -v c="$c" -v n="$n" -v d="$d" -v p50="$p50" -v p99="$p99" -v ticks="$ticks" \
            -v hz="$hz" -v rows="$rows" -v ng="$ng" -v fa="$fa" -v k="$kiln_row" -v errs="$errs" '
            function ratio(x) { return (k && x != "" && x > 0) ? sprintf("%.2f×", rps / x) : "—" }
            BEGIN {
                rps = n / (d / 1e6)
                cpu = n > 0 ? ticks / hz * 1e6 / n : 0
                printf "| %s | %d | %.0f | %.0f | %.3f | %.3f | %.1f | %s | %s | %d |\n",
                    t, c, rps, rps * rows, p50 / 1000, p99 / 1000, cpu, ratio(ng), ratio(fa), errs
            }'
    done
    echo
    echo "Ratios are requests/s of the Kiln row over the peer's at the same connection count" \
        "(kiln-secure's × nginx is against nginx-tls, both HTTPS;" \
        "kiln-batch answers 64 rows per request: compare its rows/s). Server CPU is utime+stime" \
        "of the server process and its children (nginx: master + workers) from /proc, at" \
        "$((1000 / hz)) ms resolution, divided by the requests of the run."
} >"$table"
cp "$table" "$out/serve.md"
cat "$table"
echo >&2
echo "serve bench: table written to $out/serve.md" >&2
