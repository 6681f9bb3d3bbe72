#!/usr/bin/env bash
# Instructions per request, counted by callgrind: stable on a loaded machine, unlike seconds.
#
#   benches/callgrind.sh                      # the default cases below
#   benches/callgrind.sh memory:write bare:write cookie:new
#   ANNOTATE="memory:untouched memory:write" benches/callgrind.sh   # + top inclusive functions
#   REDIS=1 benches/callgrind.sh              # + ours and actix-session on a private redis-server
#   DIFF="bare:untouched memory:untouched" benches/callgrind.sh   # + where the extra Ir go
#   FEATURES=metrics benches/callgrind.sh memory:new memory-prometheus:new   # the metrics feature
#   DIFF="memory:post-read memory:csrf-header" benches/callgrind.sh \
#       bare:post-read memory:post-read memory:csrf-header   # what #[session(csrf)] costs
#
# Each case STORE:WORKLOAD runs benches/tools/callgrind_requests.rs (WARM requests, then MEASURED
# requests inside `measured_requests`) under `valgrind --tool=callgrind
# --toggle-collect=*measured_requests*`, and divides the collected instructions (Ir) by MEASURED.
# The harness's own cost per request (building the request, reading the body) is in every
# number: the `bare` rows show it; the "− bare" column is what the session layer adds.
# Outputs stay in $OUT (default: $CARGO_TARGET_DIR or target, /callgrind) for callgrind_annotate.
#
# Valgrind hides SHA-NI from the program (CPUID), so sha2 runs its software SHA-256 here (about
# 3.5 k Ir a block) where the real CPU may use the SHA extensions; AES-NI and PCLMULQDQ stay on.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/tools/redis.sh

WARM=${WARM:-1000}
MEASURED=${MEASURED:-5000}
TOP=${TOP:-25}
TARGET=${CARGO_TARGET_DIR:-target}
OUT=${OUT:-$TARGET/callgrind}

if ! command -v valgrind >/dev/null 2>&1; then
  echo "needs valgrind: apt-get install valgrind (Debian/Ubuntu)" >&2
  exit 1
fi

if [ $# -gt 0 ]; then
  CASES=("$@")
else
  CASES=(
    bare:untouched bare:read bare:write bare:new
    memory:untouched memory:read memory:write memory:typed memory:new
    cookie:untouched cookie:read cookie:write cookie:new
    actix-cookie:untouched actix-cookie:read actix-cookie:write actix-cookie:new
  )
  if [ "${REDIS:-0}" = 1 ]; then
    CASES+=(redis:untouched redis:read redis:write actix-redis:untouched actix-redis:read actix-redis:write)
  fi
fi

for c in "${CASES[@]}"; do
  case "$c" in
    redis:* | actix-redis:*) NEED_REDIS=1 ;;
  esac
done
if [ "${NEED_REDIS:-0}" = 1 ]; then
  trap stop_redis EXIT
  start_redis
  export REDIS_URL
fi

echo "== cargo build --release --bin callgrind_requests ${FEATURES:+--features $FEATURES}" >&2
cargo build --release --quiet --bin callgrind_requests ${FEATURES:+--features "$FEATURES"}
BIN="$TARGET/release/callgrind_requests"
mkdir -p "$OUT"

declare -A IR
for c in "${CASES[@]}"; do
  store=${c%%:*}
  workload=${c#*:}
  file="$OUT/callgrind.$store.$workload.out"
  valgrind --tool=callgrind --toggle-collect='*measured_requests*' \
    --callgrind-out-file="$file" "$BIN" "$store" "$workload" "$WARM" "$MEASURED" \
    >"$OUT/$store.$workload.log" 2>&1 || {
    echo "$c failed:" >&2
    tail -20 "$OUT/$store.$workload.log" >&2
    exit 1
  }
  total=$(awk '/^summary:/ { print $2 }' "$file")
  IR[$c]=$((total / MEASURED))
  echo "$c: ${IR[$c]} Ir/request" >&2
done

echo
echo "## Instructions per request (callgrind Ir; $MEASURED measured after $WARM warm requests)"
echo
echo "| store | workload | Ir/request | − bare (same workload) |"
echo "|---|---|---:|---:|"
for c in "${CASES[@]}"; do
  store=${c%%:*}
  workload=${c#*:}
  base=bare:$workload
  [ "$workload" = typed ] && base=bare:write
  # The same request as post-read (cookie and X-CSRF-Token header) on another route.
  case "$workload" in csrf-header | flash-untouched) base=bare:post-read ;; esac
  if [ "$store" != bare ] && [ -n "${IR[$base]:-}" ]; then
    extra=$((IR[$c] - IR[$base]))
  else
    extra="—"
  fi
  echo "| $store | $workload | ${IR[$c]} | $extra |"
done

for c in ${ANNOTATE:-}; do
  store=${c%%:*}
  workload=${c#*:}
  file="$OUT/callgrind.$store.$workload.out"
  [ -f "$file" ] || { echo "no $file: add $c to the cases" >&2; continue; }
  echo
  echo "## Top $TOP inclusive functions, $c (Ir over $MEASURED requests)"
  echo
  echo '```'
  # The function lines, without the frames every request runs under (≥ 99.5%: main, block_on,
  # the harness loop), without binary paths, names cut at 170 characters.
  callgrind_annotate --inclusive=yes "$file" 2>/dev/null |
    grep -E '^ *[0-9,]+ +\( *[0-9.]+%\) ' | grep -v 'PROGRAM TOTALS' |
    awk '{ p = $0; sub(/^[^(]*\( */, "", p); sub(/%.*/, "", p); if (p + 0 < 99.5) print }' |
    sed -E 's/ \[[^]]*\]$//; s/\?\?\?://' | cut -c1-170 | head -n "$TOP"
  echo '```'
done

# DIFF="A B": self cost (exclusive Ir) per function of case B minus case A, per request.
annotate_self() {
  callgrind_annotate "$1" 2>/dev/null |
    awk 'match($0, /^ *[0-9,]+ +\( *[0-9.]+%\) +/) && !/PROGRAM TOTALS/ {
      n = $1; gsub(",", "", n); name = substr($0, RLENGTH + 1)
      sub(/ \[[^]]*\]$/, "", name); sub(/^\?\?\?:/, "", name)
      printf "%s\t%s\n", n, name }'
}
if [ -n "${DIFF:-}" ]; then
  read -r a b <<<"$DIFF"
  fa="$OUT/callgrind.${a%%:*}.${a#*:}.out"
  fb="$OUT/callgrind.${b%%:*}.${b#*:}.out"
  if [ -f "$fa" ] && [ -f "$fb" ]; then
    diff_out=$(awk -F'\t' -v n="$MEASURED" '
      FNR == NR { a[$2] += $1; all[$2]; next }
      { b[$2] += $1; all[$2] }
      END {
        for (k in all) { d = (b[k] - a[k]) / n; total += d
          if (d >= 0.5 || d <= -0.5) printf "%.0f\t%s\n", d, substr(k, 1, 150) }
        printf "TOTAL\t%.0f\n", total }' <(annotate_self "$fa") <(annotate_self "$fb"))
    echo
    echo "## Self cost per request, $b − $a: $(grep '^TOTAL' <<<"$diff_out" | cut -f2) Ir; largest differences"
    echo
    echo '```'
    grep -v '^TOTAL' <<<"$diff_out" | sort -t$'\t' -k1,1nr | head -n "$TOP" | sed 's/\t/  /'
    echo '...'
    grep -v '^TOTAL' <<<"$diff_out" | sort -t$'\t' -k1,1n | awk -F'\t' '$1 < -20' | head -n 5 | sed 's/\t/  /'
    echo '```'
  else
    echo "DIFF: run both $a and $b (no $fa or $fb)" >&2
  fi
fi
