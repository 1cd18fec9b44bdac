#!/usr/bin/env bash
# quickstart.sh — the README's first command: install what is missing, build, and run the main
# job: import the bundled demo model (XGBoost, breast-cancer data) into a .kiln package and
# score the bundled CSV with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build
make release
./build/kiln import examples/demo/model.json -o build/demo.kiln
./build/kiln inspect build/demo.kiln | head -n 12
./build/kiln predict build/demo.kiln --input examples/demo/patients.csv \
    --output build/demo-predictions.csv
echo
echo "first predictions (build/demo-predictions.csv):"
head -n 6 build/demo-predictions.csv
