#!/usr/bin/env bash
# HTTP/2 over cleartext with prior knowledge (h2c): Stellane's TechEmpowerApp next to the raw Netty HTTP/2
# peer (io.stellane.benchmarks.peer.NettyH2Peer: Http2FrameCodec and one handler), both on the same
# transport, loaded by h2load (scripts/h2load.sh) with GET /plaintext, 100 streams in flight on each of a
# few connections. Each server is pinned to CPU 1 (one worker, one event loop), h2load to CPU 0 with one
# thread; servers alternate, every other round in reverse order (on this VM a run right after another is
# faster). Prints req/s, the server's CPU time per request (utime + stime from /proc over the measured
# run: it moves less than req/s with the VM's speed) and h2load's own CPU use (near 100%: the load
# generator, not the server, was the limit) per server and round, then the medians and the ratios to Netty.
#
#   bench/h2-bench.sh                                   # 5 rounds of 15 s, 2 x 3 s warm-up, 4 connections
#   DURATION=2 WARMUP=1 ROUNDS=1 bench/h2-bench.sh      # a smoke run
#
# Environment: DURATION, WARMUP (seconds), ROUNDS, CONNECTIONS (4), STREAMS (100: Stellane's default
# http2_max_concurrent_streams, which the peer advertises too), TRANSPORT (epoll; nio, io_uring).
# BEFORE=DIR also runs stellane-before, TechEmpowerApp built from the checkout in DIR (e.g. a
# `git worktree add DIR <commit>`; it must serve h2c), interleaved with the others.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-5}"
CONNECTIONS="${CONNECTIONS:-4}"
STREAMS="${STREAMS:-100}"
TRANSPORT="${TRANSPORT:-epoll}"
URL_PATH=/plaintext

"$ROOT/scripts/h2load.sh"
for tool in h2load taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "h2-bench: $tool not found" >&2; exit 1; }
done
"$ROOT/stellane" build >/dev/null 2>&1 || "$ROOT/stellane" build
JAVA="$("$ROOT/stellane" java)/bin/java"
JVM=(--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow)
if [[ -n "${BEFORE:-}" ]]; then
  "$BEFORE/stellane" build >/dev/null 2>&1 || "$BEFORE/stellane" build
fi

SERVERS="stellane netty-h2"
[[ -z "${BEFORE:-}" ]] || SERVERS="stellane stellane-before netty-h2"

# launch NAME PORT: runs that server in the foreground of this (background) subshell, pinned to CPU 1
launch() {
  local cp
  case "$1" in
    stellane) cp="$ROOT/examples/target/classes:$ROOT/examples/target/lib/*" ;;
    stellane-before) cp="$BEFORE/examples/target/classes:$BEFORE/examples/target/lib/*" ;;
    netty-h2)
      exec taskset -c 1 "$JAVA" "${JVM[@]}" -cp "$ROOT/stellane-benchmarks/target/benchmarks.jar" \
        io.stellane.benchmarks.peer.NettyH2Peer "$2" "$TRANSPORT" ;;
  esac
  exec taskset -c 1 "$JAVA" "${JVM[@]}" -cp "$cp" io.stellane.examples.TechEmpowerApp "$2" "$TRANSPORT"
}

WORK="$(mktemp -d "${TMPDIR:-/tmp}/h2-bench.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME: starts it, sets SERVER_PID (the JVM's: launch execs) and PORT once it answers over h2c
start_server() {
  local i
  PORT="$(free_port)"
  launch "$1" "$PORT" >"$WORK/$1.log" 2>&1 &
  SERVER_PID=$!
  for i in $(seq 1 300); do
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --http2-prior-knowledge --max-time 2 "http://127.0.0.1:$PORT$URL_PATH")" == 200 ]]; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "h2-bench: $1 exited during its start:" >&2; tail -n 20 "$WORK/$1.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "h2-bench: $1 did not answer $URL_PATH over h2c with 200 within 60 s:" >&2
  tail -n 20 "$WORK/$1.log" >&2
  exit 1
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# the server's CPU time so far (utime + stime, all its threads), in clock ticks
cpu_ticks() {
  awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"
}
HZ="$(getconf CLK_TCK)"

# run_h2load SECONDS: prints "requests/sec succeeded h2load_cpu_seconds"; fails on any failed, errored or
# non-2xx request. h2load speaks h2c with prior knowledge to an http:// URL by default (-p h2c).
run_h2load() {
  local out
  out="$( { TIMEFORMAT='h2load-cpu %U %S'; time taskset -c 0 h2load -t 1 -c "$CONNECTIONS" -m "$STREAMS" -D "$1" \
    "http://127.0.0.1:$PORT$URL_PATH"; } 2>&1)" || true # judged below, with its output
  if ! grep -q '^Application protocol: h2c' <<<"$out" \
      || ! awk '/^requests:/ {bad = $10 + $12 + $14} /^status codes:/ {bad += $5 + $7 + $9} END {exit bad != 0}' <<<"$out"; then
    echo "h2-bench: h2load saw errors or no h2c:" >&2
    echo "$out" >&2
    exit 1
  fi
  awk '/^finished in/ {rps = $4} /^requests:/ {n = $8} /^h2load-cpu / {cpu = $2 + $3} END {print rps, n, cpu}' <<<"$out"
}

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "h2c GET $URL_PATH, $CONNECTIONS connections x $STREAMS streams, ${DURATION}s (+2 x ${WARMUP}s warm-up) x $ROUNDS rounds," \
  "$TRANSPORT, server on CPU 1, h2load on CPU 0 ($(h2load --version | head -n 1))"
declare -A RPS CPU
for round in $(seq 1 "$ROUNDS"); do
  order="$SERVERS"
  if (( round % 2 == 0 )); then
    order="$(tr ' ' '\n' <<<"$SERVERS" | tac | tr '\n' ' ')"
  fi
  for name in $order; do
    start_server "$name"
    # two warm-ups: the second run's new connections make the JIT recompile what it compiled without them
    [[ -n $(run_h2load "$WARMUP") && -n $(run_h2load "$WARMUP") ]] || exit 1 # run_h2load said why
    t0="$(cpu_ticks)"
    read -r rps n h2cpu <<<"$(run_h2load "$DURATION")"
    [[ -n $rps ]] || exit 1
    t1="$(cpu_ticks)"
    stop_server
    us="$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$n" 'BEGIN {printf "%.3f", t / hz * 1e6 / n}')"
    RPS[$name]="${RPS[$name]:-} $rps"
    CPU[$name]="${CPU[$name]:-} $us"
    printf 'round %d  %-16s %12.0f req/s  %8s us CPU/request  h2load CPU %3.0f%%\n' "$round" "$name" "$rps" "$us" \
      "$(awk -v c="$h2cpu" -v d="$DURATION" 'BEGIN {print c / d * 100}')"
  done
done

echo
echo "server            median req/s   / netty-h2   us CPU/request   / netty-h2   (median of $ROUNDS rounds)"
base_rps="$(median <<<"${RPS[netty-h2]}")"
base_cpu="$(median <<<"${CPU[netty-h2]}")"
for name in $SERVERS; do
  rps="$(median <<<"${RPS[$name]}")"
  cpu="$(median <<<"${CPU[$name]}")"
  awk -v n="$name" -v r="$rps" -v c="$cpu" -v br="$base_rps" -v bc="$base_cpu" \
    'BEGIN {printf "%-16s %13.0f   %10.2f   %14.3f   %10.2f\n", n, r, r / br, c, c / bc}'
done
