# Sourced by benches/wrk.sh and benches/callgrind.sh: a private redis-server on a free port, in a
# temp dir, no persistence (as support/src/redis.rs starts one for the tests), stopped on exit.
# After `start_redis`, REDIS_PORT and REDIS_URL name it.

# A TCP port on 127.0.0.1 that nothing listens on (bash's /dev/tcp: a refused connect), below
# the kernel's ephemeral range, so that no client connection (wrk's, the pool's) holds it.
free_port() {
  local low=10000 high port
  high=$(awk '{ print $1 - 1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32767)
  for _ in $(seq 1 50); do
    port=$(( (RANDOM << 15 | RANDOM) % (high - low) + low ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

start_redis() {
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "needs redis-server: apt-get install redis-server (macOS: brew install redis)" >&2
    return 1
  fi
  REDIS_DIR=$(mktemp -d -t ats-bench-redis.XXXXXX)
  for _ in 1 2 3 4 5; do
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
      --dir "$REDIS_DIR" >"$REDIS_DIR/log" 2>&1 &
    REDIS_PID=$!
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
    for _ in $(seq 1 200); do
      if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then
        return 0
      fi
      kill -0 "$REDIS_PID" 2>/dev/null || break # exited (port taken meanwhile): next port
      sleep 0.05
    done
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  done
  echo "redis-server did not start: $(cat "$REDIS_DIR/log")" >&2
  REDIS_PID=
  return 1
}

stop_redis() {
  if [ -n "${REDIS_PID:-}" ]; then
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=
  fi
  if [ -n "${REDIS_DIR:-}" ]; then
    rm -rf "$REDIS_DIR"
    REDIS_DIR=
  fi
}
