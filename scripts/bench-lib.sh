# Shared by the bench scripts (sourced, not run): build once, raise the fd limit, start and stop
# a fresh release `parley` on loopback.

# Every connection is a file descriptor in the server and in the load tester. Root with
# CAP_SYS_RESOURCE may raise the hard limit; in a container without it (the project's machine:
# hard limit 20,000) the soft limit goes up to the hard one and that caps one process's
# connections.
raise_fd_limit() {
  ulimit -Hn 1048576 2>/dev/null || true
  ulimit -n "$(ulimit -Hn)"
  local want
  want=$(( $(arg_value users 100 "$@") * $(arg_value devices 1 "$@") ))
  if [ "$want" -gt $(( $(ulimit -n) - 100 )) ]; then
    echo "warning: $want connections, but a process may open only $(ulimit -n) files here" >&2
  fi
}

build_release() {
  if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release --locked --bin parley --bin parley-loadtest >&2
  fi
}

# start_parley DATA_DIR PORT: a release server on 127.0.0.1:PORT with its data in DATA_DIR
# ($BENCH_PARLEY_BIN, to measure another build, else target/release/parley); sets $server to
# its pid. Access tokens live a day, so a cast written before a restart works.
start_parley() {
  PARLEY_SERVER_DATA_DIR="$1" PARLEY_HTTP_LISTEN="127.0.0.1:$2" PARLEY_RTC_UDP_BIND=127.0.0.1:0 \
    PARLEY_ADMIN_EMAIL=bench@example.com PARLEY_ADMIN_PASSWORD=bench-password-1 \
    PARLEY_AUTH_ACCESS_TOKEN_TTL_SECS=86400 RUST_LOG=warn \
    "${BENCH_PARLEY_BIN:-target/release/parley}" serve >>"$1/server.log" 2>&1 &
  server=$!
  for _ in $(seq 200); do
    curl -sf "http://127.0.0.1:$2/healthz" >/dev/null && return 0
    sleep 0.1
  done
  echo "parley did not come up on port $2 (see $1/server.log)" >&2
  return 1
}

stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# arg_value NAME DEFAULT ARGS...: the value given to --NAME in ARGS, or DEFAULT.
arg_value() {
  local name=$1 value=$2
  shift 2
  while [ $# -gt 0 ]; do
    if [ "$1" = "--$name" ] && [ $# -gt 1 ]; then value=$2; fi
    shift
  done
  echo "$value"
}
