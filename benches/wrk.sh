#!/usr/bin/env bash
# End to end over real HTTP: benches/tools/bench_server.rs (WORKERS workers, default 1) in each
# mode, driven by wrk on 127.0.0.1, route by route; prints requests/s and the ratios of issue 22.
#
#   benches/wrk.sh                                  # every mode, 5 s per route
#   WORKERS=2 benches/wrk.sh                        # two server workers
#   DURATION=10 CONNECTIONS=64 benches/wrk.sh
#   MODES="bare ours-memory" benches/wrk.sh
#
# Routes (support/src/handlers.rs): untouched, read, write (increment) with one valid session
# cookie, obtained first with curl and sent on every request (`wrk -H`); new = /write without a
# cookie (every request a new visitor's first write). Bare actix-web gets a cookie of the same
# shape that nothing reads. The Redis modes share one private redis-server on a free port
# (ours: db 0, actix-session: db 1), started and stopped here. On 2 cores the server, wrk and
# redis-server share the CPUs: read the ratios of one run, not the absolute numbers.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/tools/redis.sh

DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-1}
WORKERS=${WORKERS:-1}
export ATS_WORKERS=$WORKERS
read -r -a MODES <<<"${MODES:-bare actix-cookie ours-cookie ours-memory actix-redis ours-redis ours-redis-cached}"
ROUTES=(untouched read write new)

if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing wrk (apt-get install wrk)" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
  else
    echo "needs wrk: apt-get install wrk (Debian/Ubuntu), brew install wrk (macOS)" >&2
    exit 1
  fi
fi
command -v curl >/dev/null 2>&1 || { echo "needs curl: apt-get install curl" >&2; exit 1; }

TARGET=${CARGO_TARGET_DIR:-target}
echo "== cargo build --release --bin bench_server" >&2
cargo build --release --quiet --bin bench_server
BIN="$TARGET/release/bench_server"
LOGS=$(mktemp -d -t ats-wrk.XXXXXX)

SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  stop_redis
  rm -rf "$LOGS"
}
trap cleanup EXIT

for m in "${MODES[@]}"; do
  case "$m" in *redis*) NEED_REDIS=1 ;; esac
done
if [ "${NEED_REDIS:-0}" = 1 ]; then
  start_redis
fi

declare -A RPS
for mode in "${MODES[@]}"; do
  case "$mode" in
    ours-redis | ours-redis-cached) redis="$REDIS_URL/0" ;;
    actix-redis) redis="$REDIS_URL/1" ;;
    *) redis="" ;;
  esac
  # Port 0: the server binds a free port and prints it.
  "$BIN" "$mode" 127.0.0.1:0 $redis >"$LOGS/$mode.log" 2>&1 &
  SERVER_PID=$!
  base=
  for _ in $(seq 1 400); do
    addr=$(sed -n 's/^listening on \([0-9.:]*\) .*/\1/p' "$LOGS/$mode.log" | head -n1)
    if [ -n "$addr" ] && curl -sf -o /dev/null "http://$addr/untouched"; then
      base="http://$addr"
      break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "$mode: server exited: $(cat "$LOGS/$mode.log")" >&2; exit 1; }
    sleep 0.05
  done
  [ -n "$base" ] || { echo "$mode: server did not answer: $(cat "$LOGS/$mode.log")" >&2; exit 1; }
  if [ "$mode" = bare ]; then
    cookie="id=$(printf 'A%.0s' $(seq 1 32))"
  else
    cookie=$(curl -sf -D - -o /dev/null "$base/write" |
      tr -d '\r' | grep -i '^set-cookie:' | head -n1 | sed -E 's/^[^:]*: *//; s/;.*//')
    [ -n "$cookie" ] || { echo "$mode: no session cookie from /write" >&2; exit 1; }
    n=$(curl -sf -H "Cookie: $cookie" "$base/write")
    [ "$n" = 2 ] || { echo "$mode: the cookie was not taken (counter $n, not 2)" >&2; exit 1; }
  fi
  for route in "${ROUTES[@]}"; do
    if [ "$route" = new ]; then
      args=("$base/write")
    else
      args=(-H "Cookie: $cookie" "$base/$route")
    fi
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "${args[@]}")
    rps=$(awk '/^Requests\/sec:/ { print $2 }' <<<"$out")
    if grep -q 'Non-2xx' <<<"$out"; then
      echo "$mode $route: $(grep 'Non-2xx' <<<"$out")" >&2
    fi
    RPS[$mode:$route]=$rps
    echo "$mode $route: $rps requests/s" >&2
  done
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
done

ratio() { # a b -> a/b with 2 decimals, or — when either is missing
  if [ -n "${1:-}" ] && [ -n "${2:-}" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f×", a / b }'; else echo "—"; fi
}
line() { # label key-prefix-a key-prefix-b
  local label=$1 a=$2 b=$3 cells=""
  for route in "${ROUTES[@]}"; do
    cells+=" $(ratio "${RPS[$a:$route]:-}" "${RPS[$b:$route]:-}") |"
  done
  echo "| $label |$cells"
}

echo
echo "## Requests/s over real HTTP (wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $WORKERS server worker(s))"
echo
echo "| mode | untouched | read | write | new |"
echo "|---|---:|---:|---:|---:|"
for mode in "${MODES[@]}"; do
  cells=""
  for route in "${ROUTES[@]}"; do cells+=" ${RPS[$mode:$route]:-—} |"; done
  echo "| $mode |$cells"
done
echo
echo "## Ratios (requests/s; higher is better for the first-named)"
echo
echo "| ratio | untouched | read | write | new | goal |"
echo "|---|---:|---:|---:|---:|---|"
echo "$(line 'ours-cookie / actix-cookie' ours-cookie actix-cookie) ≥ 1.0 |"
echo "$(line 'ours-redis / actix-redis' ours-redis actix-redis) ≥ 1.0 |"
echo "$(line 'ours-redis-cached / actix-redis' ours-redis-cached actix-redis) ≥ 1.0 |"
echo "$(line 'ours-memory / bare' ours-memory bare) ≥ 0.8 |"
echo "$(line 'ours-cookie / bare' ours-cookie bare) ≥ 0.8 |"
echo "$(line 'ours-memory / actix-cookie' ours-memory actix-cookie) (context) |"
