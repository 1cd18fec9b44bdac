#!/usr/bin/env bash
# quickstart.sh — the README's first command: install what is missing, build, register the
# bundled demo model (XGBoost, breast-cancer data) in the embedded SQLite registry, and serve it
# on http://127.0.0.1:8080 (the seed's /predict and /health, /models/demo/predict, the Open
# Inference Protocol under /v2). Ctrl-C stops the server.
#
# Environment: KILN_HOME (registry and artifacts; default ~/.kiln), KILN_LISTEN (default
# 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
make release
kiln=./build/kiln
# Register the demo once: a re-run serves what is already there.
if ! $kiln models show demo@production >/dev/null 2>&1; then
    $kiln models register examples/demo/model.json --name demo --alias production \
        --description "XGBoost breast-cancer classifier (30 features), bundled demo"
fi
$kiln models show demo@production
cat <<'TXT'

Try, from another terminal:
  curl -s localhost:8080/health
  curl -s localhost:8080/predict -H 'Content-Type: application/json' -d @examples/demo/request.json
  curl -s localhost:8080/v2/models/demo
TXT
exec $kiln serve --serve demo@production --listen "${KILN_LISTEN:-127.0.0.1:8080}"
