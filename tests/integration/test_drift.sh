#!/usr/bin/env bash
# test_drift.sh KILN SCRATCH — drift statistics against scipy on identical data: compiles
# drift_driver.c against the libkilncore.a next to KILN (same compiler and sanitizers as that
# build, read from its CMakeCache.txt), then drift_cases.py generates seeded samples with numpy
# and compares the driver's numbers with scipy.stats.ks_2samp, wasserstein_distance,
# scipy.spatial.distance.jensenshannon(base=2), chisquare, kstwobign and a numpy PSI.
set -uo pipefail
kiln=$1 dir=$2
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$(dirname "$kiln")" && pwd)
rm -rf "$dir" && mkdir -p "$dir" || exit 1
cache=$bin/CMakeCache.txt
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$cache" 2>/dev/null)
san=$(sed -n 's/^KILN_SANITIZE:[A-Z]*=//p' "$cache" 2>/dev/null)
fuzz=$(sed -n 's/^KILN_FUZZ:[A-Z]*=//p' "$cache" 2>/dev/null)
flags=()
[ -n "$san" ] && flags+=("-fsanitize=$san" -fno-omit-frame-pointer)
[ "$fuzz" = ON ] && flags+=(-fsanitize=fuzzer-no-link)
# shellcheck disable=SC2046
"${cc:-cc}" -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 "${flags[@]}" -I "$root/src" \
    $(pkg-config --cflags json-c) -o "$dir/drift_driver" "$root/tests/integration/drift_driver.c" \
    "$bin/libkilncore.a" $(pkg-config --libs json-c libsodium libpq sqlite3 yaml-0.1 libmicrohttpd) \
    -lm -lpthread || { echo "FAIL: cannot build drift_driver"; exit 1; }
exec /usr/bin/python3 "$root/tests/integration/drift_cases.py" "$dir/drift_driver" "$dir"
