#!/usr/bin/env bash
# test_tls.sh KILN SCRATCH — HTTPS for `kiln serve` on 127.0.0.1: makes a throwaway CA, server
# certificates (SAN 127.0.0.1 / localhost) and client certificates with the openssl CLI, starts
# one HTTPS server and one mutual-TLS server (TLS 1.3 only), and checks: predict over HTTPS
# verified against the CA, plain HTTP to the TLS port gets nothing, TLS 1.0 / 1.1 refused (the
# same openssl client is first shown to speak them to `openssl s_server`), certificate reload on
# SIGHUP (new connections see the new certificate, a keep-alive connection opened before goes
# on, a broken or mismatched certificate keeps the old one, an RSA one after ECDSA ones works),
# mTLS (no client certificate or one from another CA: refused; the right one: 200), client CA
# reload on SIGHUP (a new CA takes over, a broken one keeps the current one), encrypted private
# keys with tls_key_password_file (right, wrong and missing passphrase), bad TLS settings refused
# at start, and that SIGTERM stops both servers with exit 0 and, under ASan/UBSan, no sanitizer
# report.
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

command -v openssl >/dev/null || { echo "FAIL the openssl CLI is needed"; exit 1; }
"$kiln" import "$root/examples/demo/model.json" -o demo.kiln >/dev/null || { echo "FAIL import"; exit 1; }
export KILN_HOME=$dir/home # a registry of its own: no API keys, so no authentication

# ---- throwaway PKI --------------------------------------------------------------------------
ossl() { openssl "$@" 2>>openssl.log; }
mkca() { # NAME
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
    -out "$1.pem" -days 2 -subj "/CN=kiln test $1"
}
mkcert() { # NAME CA EXT [KEY-ARGS] — an ECDSA P-256 key unless told otherwise
  local keyargs=(-newkey ec -pkeyopt ec_paramgen_curve:P-256)
  [ $# -gt 3 ] && keyargs=(-newkey "$4")
  ossl req "${keyargs[@]}" -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" &&
    ossl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -out "$1.pem" \
      -days 2 -extfile "$3"
}
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
printf 'extendedKeyUsage=clientAuth\n' >client.ext
pki() {
  mkca ca && mkca otherca && mkcert server1 ca server.ext && mkcert server2 ca server.ext &&
    mkcert server3 ca server.ext rsa:2048 && mkcert client ca client.ext &&
    mkcert rogue otherca client.ext && mkca newca && mkcert newclient newca client.ext
}
check "openssl makes a CA, server and client certificates" pki || exit 1
cp server1.pem cert.pem && cp server1.key key.pem && cp ca.pem clientca.pem

# start_server NAME ARGS... — starts kiln serve on a free port; sets $port and $pid.
start_server() {
  local name=$1; shift
  "$kiln" serve --listen 127.0.0.1:0 --model demo=demo.kiln --access-log off "$@" 2>"$name.err" &
  pid=$!
  pids+=("$pid")
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/.*"msg":"listening on https:\/\/127\.0\.0\.1:\([0-9]*\)".*/\1/p' "$name.err" | head -1)
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  [ -n "$port" ]
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

refused_at_start() { # NAME EXPECTED-MESSAGE ARGS... — exits 1 at once, naming the problem
  local name=$1 want=$2; shift 2
  timeout 10 "$kiln" serve --listen 127.0.0.1:0 --model demo=demo.kiln "$@" >/dev/null 2>"$name.err"
  local rc=$?
  [ "$rc" -eq 1 ] && grep -q "$want" "$name.err" || { echo "  rc=$rc: $(tail -2 "$name.err")"; return 1; }
}

check "HTTPS server starts (listening on https://)" \
  start_server tls --set tls_cert_file=cert.pem --set tls_key_file=key.pem
tls_pid=$pid tls_port=$port
check "mTLS server (TLS 1.3 only) starts" \
  start_server mtls --set tls_cert_file=server1.pem --set tls_key_file=server1.key \
  --set tls_client_ca_file=clientca.pem --set tls_min_version=1.3
mtls_pid=$pid mtls_port=$port
if [ -z "$tls_port" ] || [ -z "$mtls_port" ]; then
  echo "servers did not start; stderr:"; tail -5 tls.err mtls.err
  exit 1
fi

# ---- old protocol versions: the client can speak them, kiln refuses them --------------------
old_client() { # VERSION-FLAG PORT [S_CLIENT-ARGS...] — 0 when a handshake completed
  local v=$1 p=$2; shift 2
  timeout 5 openssl s_client -connect "127.0.0.1:$p" "$v" -cipher 'DEFAULT:@SECLEVEL=0' "$@" \
    </dev/null 2>&1 | grep -q '^New, TLSv1\(\.[0-9]\)*, Cipher is [A-Z]'
}
ossl_port=$($py -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
openssl s_server -accept "127.0.0.1:$ossl_port" -cert server1.pem -key server1.key \
  -cipher 'DEFAULT:@SECLEVEL=0' -www -quiet >/dev/null 2>&1 &
pids+=("$!"); ossl_pid=$!
for _ in $(seq 50); do timeout 2 bash -c "echo >/dev/tcp/127.0.0.1/$ossl_port" 2>/dev/null && break; sleep 0.1; done
not_old_client() { ! old_client "$@"; }
for v in 1 1_1; do
  if old_client "-tls$v" "$ossl_port"; then
    check "TLS ${v/_/.} refused by kiln (the same client speaks it to openssl s_server)" \
      not_old_client "-tls$v" "$tls_port"
  else
    echo "skip TLS ${v/_/.} control: this OpenSSL cannot offer it even at SECLEVEL=0"
    check "TLS ${v/_/.} refused by kiln" not_old_client "-tls$v" "$tls_port"
  fi
done
check "TLS 1.2 accepted by the HTTPS server (control)" old_client -tls1_2 "$tls_port"
check "TLS 1.3 with the client certificate accepted by the mTLS server (control)" \
  old_client -tls1_3 "$mtls_port" -cert client.pem -key client.key
check "TLS 1.2 (with the client certificate) refused by the TLS-1.3-only server" \
  not_old_client -tls1_2 "$mtls_port" -cert client.pem -key client.key
kill "$ossl_pid" 2>/dev/null

# ---- the rest, from Python ------------------------------------------------------------------
timeout 150 $py "$root/tests/integration/tls_cases.py" --port "$tls_port" --pid "$tls_pid" \
  --mtls-port "$mtls_port" --mtls-pid "$mtls_pid" --dir "$dir" --log tls.err \
  --mtls-log mtls.err --kiln "$kiln" >cases.txt 2>&1
cases_rc=$?
cat cases.txt
checks=$((checks + $(grep -c '^ok \|^FAIL ' cases.txt)))
fails=$((fails + $(grep -c '^FAIL ' cases.txt)))
check "python cases finished (exit 0 or 1, not a crash or timeout: rc=$cases_rc)" \
  test "$cases_rc" -le 1 -a "$(grep -c 'checks passed' cases.txt)" -eq 1

# ---- settings that must stop the server at start -------------------------------------------
check "cert without key refused" refused_at_start bad1 "go together" --set tls_cert_file=cert.pem
check "client CA without cert refused" refused_at_start bad2 "needs tls_cert_file" \
  --set tls_client_ca_file=ca.pem
check "key password file without cert refused" refused_at_start bad2p \
  "tls_key_password_file needs tls_cert_file" --set tls_key_password_file=ca.pem
check "tls_min_version 1.1 refused" refused_at_start bad3 "expected 1.2 or 1.3" \
  --set tls_cert_file=server1.pem --set tls_key_file=server1.key --set tls_min_version=1.1
check "a key that does not match the certificate refused" refused_at_start bad4 "does not match" \
  --set tls_cert_file=server1.pem --set tls_key_file=server2.key
check "a missing certificate file refused" refused_at_start bad5 "cannot read" \
  --set tls_cert_file=nope.pem --set tls_key_file=server1.key

check "HTTPS server still alive" kill -0 "$tls_pid"
check "SIGTERM stops the HTTPS server with exit 0" stop_server "$tls_pid" tls
check "SIGTERM stops the mTLS server with exit 0" stop_server "$mtls_pid" mtls
check "HTTPS server: no sanitizer report" no_sanitizer_report tls
check "mTLS server: no sanitizer report" no_sanitizer_report mtls

echo "$((checks - fails))/$checks checks passed"
[ "$fails" -eq 0 ]
