#!/usr/bin/env bash
# Instructions per cookie-store operation, by callgrind (stable where wall-clock is not).
#
#   bash benches/callgrind_cookie.sh [case ...]
#
# Builds benches/tools/callgrind_cookie.rs (release, line tables) and runs every case twice under
# `valgrind --tool=callgrind`, with N1 and N2 iterations; prints (Ir(N2) - Ir(N1)) / (N2 - N1),
# the instructions of one operation with the setup cancelled out. Needs valgrind.
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-200}
N2=${N2:-1200}
export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
cargo build --release --quiet --bin callgrind_cookie
bin="${CARGO_TARGET_DIR:-target}/release/callgrind_cookie"
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  cases=(seal-counter open-counter seal-10 open-10 seal-signed open-signed incr-ours incr-theirs incr-bare)
fi
out=$(mktemp -d)
ir() {
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1.$2" "$bin" "$1" "$2" >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out/cg.$1.$2"
}
printf '%-14s %12s\n' case 'Ir/op'
for c in "${cases[@]}"; do
  a=$(ir "$c" "$N1")
  b=$(ir "$c" "$N2")
  printf '%-14s %12d\n' "$c" $(( (b - a) / (N2 - N1) ))
done
echo "(callgrind outputs in $out)"
