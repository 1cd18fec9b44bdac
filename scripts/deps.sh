#!/usr/bin/env bash
# deps.sh — installs the Debian packages Kiln needs, and only those that are missing.
#   scripts/deps.sh build   compilers and libraries to build kiln
#   scripts/deps.sh test    + what the test suite uses (Python ML libraries, clang sanitizers)
#   scripts/deps.sh bench   + XGBoost's C library for the benchmarks
set -euo pipefail

BUILD_PKGS=(build-essential cmake pkg-config libjson-c-dev libsodium-dev libpq-dev libsqlite3-dev libmicrohttpd-dev libyaml-dev libcurl4-openssl-dev libssl-dev libgnutls28-dev libhiredis-dev)
TEST_PKGS=(libcmocka-dev clang libclang-rt-14-dev python3 python3-numpy python3-pandas
           python3-scipy python3-sklearn python3-joblib python3-xgboost postgresql python3-requests prometheus
           python3-jwt python3-cryptography redis-server openssl slowhttptest curl)
BENCH_PKGS=(libxgboost-dev time)

want=("${BUILD_PKGS[@]}")
case "${1:-build}" in
  build) ;;
  test) want+=("${TEST_PKGS[@]}") ;;
  bench) want+=("${TEST_PKGS[@]}" "${BENCH_PKGS[@]}") ;;
  *) echo "usage: $0 build|test|bench" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
