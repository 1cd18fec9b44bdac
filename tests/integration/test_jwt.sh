#!/usr/bin/env bash
# test_jwt.sh KILN SCRATCH — the JWT verifier against an independent implementation: compiles
# jwt_driver.c against the libkilncore.a next to KILN (same compiler and sanitizers as that
# build, read from its CMakeCache.txt), then jwt_cases.py mints tokens with PyJWT
# (python3-jwt, python3-cryptography) and checks every verdict and reason.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$(dirname "$kiln")" && pwd)
rm -rf "$dir" && mkdir -p "$dir" || exit 1
/usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null ||
    { echo "FAIL: needs python3-jwt and python3-cryptography (scripts/deps.sh test)"; exit 1; }
cache=$bin/CMakeCache.txt
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache" 2>/dev/null)
san=$(sed -n 's/^KILN_SANITIZE:[A-Z]*=//p' "$cache" 2>/dev/null)
fuzz=$(sed -n 's/^KILN_FUZZ:[A-Z]*=//p' "$cache" 2>/dev/null)
flags=()
[ -n "$san" ] && flags+=("-fsanitize=$san" -fno-omit-frame-pointer)
[ "$fuzz" = ON ] && flags+=(-fsanitize=fuzzer-no-link)
# shellcheck disable=SC2046
"${cc:-cc}" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 "${flags[@]}" -I "$root/src" \
    -o "$dir/jwt_driver" "$root/tests/integration/jwt_driver.c" \
    "$bin/libkilncore.a" $(pkg-config --libs json-c libcrypto) \
    -lm -lpthread || { echo "FAIL: cannot build jwt_driver"; exit 1; }
exec /usr/bin/python3 "$root/tests/integration/jwt_cases.py" "$dir/jwt_driver" "$dir"
