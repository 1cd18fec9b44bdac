#!/usr/bin/env bash
# test_security_guide.sh KILN SCRATCH — runs the lock-down commands of docs/security.md (the
# block between <!-- guide:begin --> and <!-- guide:end -->) as written, with /etc/kiln and
# /var/lib/kiln moved into the scratch directory and the listen address moved to 127.0.0.1
# port 0, then checks what the guide promises: HTTPS only, 200 for the predictor key, 401
# without credentials, 403 for the viewer key, an unsigned package refused, the audit log
# intact, and no key or secret in anything Kiln wrote.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
rm -rf "$dir" && mkdir -p "$dir/etc" "$dir/home" && cd "$dir" || exit 1
export PATH="$(cd "$(dirname "$kiln")" && pwd):$PATH" KILN_USER=guide
unset KILN_HOME KILN_STORE KILN_ARTIFACTS KILN_CONFIG KILN_ARTIFACT_KEY KILN_ARTIFACT_KEY_FILE
fails=0 pid=
check() { # description, command...
  local what=$1; shift
  if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fails=$((fails + 1)); fi
}
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap stop EXIT

sed -n '/<!-- guide:begin -->/,/<!-- guide:end -->/p' "$root/docs/security.md" |
  sed -e '1,2d' -e '$d' | sed -e '$d' \
      -e "s#/etc/kiln#$dir/etc#g" -e "s#/var/lib/kiln#$dir/home#g" \
      -e 's#listen: 0.0.0.0:8443#listen: 127.0.0.1:0#' \
      -e 's#^\(kiln serve .*\) &$#\1 2>server.log \& echo $! >server.pid#' >guide.sh
check "the guide block was found and ends by starting the server" \
  grep -q 'server.pid' guide.sh
cp "$root/examples/demo/model.json" "$root/examples/demo/request.json" etc/
bash -e guide.sh >guide.out 2>&1
check "every command of the guide succeeds" test $? -eq 0
pid=$(cat etc/server.pid 2>/dev/null)
url=
for _ in $(seq 1 100); do
  url=$(grep -o 'listening on https://127.0.0.1:[0-9]*' etc/server.log 2>/dev/null | sed 's/listening on //')
  [ -n "$url" ] && break
  sleep 0.1
done
check "the server listens on HTTPS" test -n "$url"
[ -z "$url" ] && { cat guide.out etc/server.log 2>/dev/null | tail -20; exit 1; }

cd etc || exit 1
export KILN_HOME=$dir/home KILN_ARTIFACT_KEY_FILE=$dir/etc/artifact.key
code() { # expected status, curl arguments...
  local want=$1; shift
  [ "$(curl -s -o out.json -w '%{http_code}' --cacert server.pem "$@")" = "$want" ]
}
predict=(-d @request.json "${url/127.0.0.1/localhost}/models/churn/predict")
check "the predictor key gets a prediction (200)" \
  code 200 -H "Authorization: Bearer $(cat shop-app.key)" "${predict[@]}"
check "… and the answer is a prediction of model churn" grep -q '"model":"churn"' out.json
check "no credentials: 401" code 401 "${predict[@]}"
check "HTTPS answers carry HSTS, nosniff and no-store" bash -c "curl -s -D - -o /dev/null \
  --cacert server.pem '${url/127.0.0.1/localhost}/health' | tr -d '\r' | grep -c \
  -e '^Strict-Transport-Security: max-age=31536000' -e '^X-Content-Type-Options: nosniff' \
  -e '^Cache-Control: no-store' | grep -qx 3"
check "the viewer key: 403" code 403 -H "Authorization: Bearer $(cat grafana.key)" "${predict[@]}"
check "the viewer key reads /metrics" code 200 -H "X-API-Key: $(cat grafana.key)" \
  "${url/127.0.0.1/localhost}/metrics"
check "plain HTTP gets no answer" \
  bash -c "! curl -s -m 3 -o /dev/null '${url/https/http}/health'"
check "the certificate names localhost (the client verified it)" \
  bash -c "curl -s -o /dev/null --cacert server.pem -H 'X-API-Key: $(cat grafana.key)' '${url/127.0.0.1/localhost}/health'"
kiln import model.json -o plain.kiln >/dev/null 2>&1
check "an unsigned package is refused by the registry" \
  bash -c "! kiln models register plain.kiln --name plain --require-signed --trusted-keys trusted/ 2>/dev/null"
check "the stored package is encrypted (no plaintext package magic)" \
  bash -c "! grep -rqa KILNMODL '$dir/home/artifacts'"
check "kiln audit verify passes" bash -c "kiln audit verify >/dev/null"
check "kiln audit head prints the newest record's number and hash" \
  bash -c "kiln audit head | grep -Eq '^[0-9]+ [0-9a-f]{64}$'"
stop
secrets=("$(cat shop-app.key)" "$(cat grafana.key)" "$(od -An -tx1 artifact.key | tr -d ' \n')")
check "no API key or artifact key in anything Kiln wrote" \
  bash -c "! grep -rqaF -e '${secrets[0]}' -e '${secrets[1]}' -e '${secrets[2]}' ../guide.out server.log '$dir/home'"
echo "$fails failed"
exit $((fails > 100 ? 100 : fails))
