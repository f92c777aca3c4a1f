#!/usr/bin/env bash
# Request-recovery overhead: POST /effects with 1 KiB bodies against CrashApp (stellane-server's test
# app) with recovery off, on the mmap store and on the rocksdb store (both SyncPolicy.INTERVAL; the
# handler answers at once, so the difference is the journal's cost). The server is pinned to CPU 1
# with one worker, wrk to CPU 0; modes are interleaved round by round so drift hits them alike.
#
#   bench/recovery-bench.sh                      # 5 rounds of 15 s per mode, 2 x 3 s warm-up, 32 connections
#   DURATION=3 WARMUP=1 ROUNDS=1 bench/recovery-bench.sh      # a smoke run
#
# MODES may include "postgres": the shared journal of stellane-cluster on a private PostgreSQL that the
# script starts (scripts/postgres.sh, with PostgreSQL's own fsync and commit settings) on the same
# machine, unpinned, and stops at the end.
#
# Environment: DURATION, WARMUP (seconds), ROUNDS, CONNECTIONS, MODES ("off mmap rocksdb"), SYNC
# (INTERVAL|NONE|ALWAYS), BODY_BYTES, JAVA_HOME (default: the JDK ./stellane finds). Needs wrk, taskset, mvn.
# BEFORE=DIR also runs every mode from the checkout in DIR (e.g. a `git worktree add DIR <commit>`), as
# "<mode>-before", interleaved with the others: a change's before and after in the same run.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-5}"
CONNECTIONS="${CONNECTIONS:-32}"
MODES="${MODES:-off mmap rocksdb}"
SYNC="${SYNC:-INTERVAL}"
"$(dirname "${BASH_SOURCE[0]}")/../scripts/wrk.sh"
JAVA_HOME="$("$(dirname "${BASH_SOURCE[0]}")/../stellane" java)"
export JAVA_HOME
JAVA="$JAVA_HOME/bin/java"

for tool in wrk taskset mvn; do
  command -v "$tool" >/dev/null || { echo "recovery-bench: $tool not found" >&2; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/recovery-bench.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ -n "${PG_DIR:-}" ]]; then
    STELLANE_PG_DIR="$PG_DIR" "$ROOT/scripts/postgres.sh" stop 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

echo "building (test classes and classpath)..." >&2
(cd "$ROOT" && mvn -B -ntp -q -o -pl stellane-server -am test-compile dependency:build-classpath \
  -Dmdep.outputFile="$WORK/cp.txt" -Dmdep.includeScope=test >"$WORK/build.log" 2>&1) \
  || { cat "$WORK/build.log" >&2; exit 1; }
CP="$ROOT/stellane-server/target/test-classes:$ROOT/stellane-server/target/classes:$(cat "$WORK/cp.txt")"
if [[ " $MODES " == *" postgres "* ]]; then
  (cd "$ROOT" && mvn -B -ntp -q -o -pl stellane-cluster -am package -DskipTests -Djacoco.skip=true dependency:build-classpath \
    -Dmdep.outputFile="$WORK/cp-cluster.txt" -Dmdep.includeScope=runtime >"$WORK/build-cluster.log" 2>&1) \
    || { cat "$WORK/build-cluster.log" >&2; exit 1; }
  CP_PG="$CP:$ROOT/stellane-cluster/target/classes:$(cat "$WORK/cp-cluster.txt")"
  # beside $WORK, not in it: the postgres user must reach it
  PG_DIR="$(mktemp -u "${TMPDIR:-/tmp}/recovery-bench-pg.XXXXXX")"
  PG_ENV="$(STELLANE_PG_DIR="$PG_DIR" STELLANE_PG_DURABLE=1 "$ROOT/scripts/postgres.sh" start)"
fi
if [[ -n "${BEFORE:-}" ]]; then
  (cd "$BEFORE" && mvn -B -ntp -q -o -pl stellane-server -am test-compile dependency:build-classpath \
    -Dmdep.outputFile="$WORK/cp-before.txt" -Dmdep.includeScope=test >"$WORK/build-before.log" 2>&1) \
    || { cat "$WORK/build-before.log" >&2; exit 1; }
  CP_BEFORE="$BEFORE/stellane-server/target/test-classes:$BEFORE/stellane-server/target/classes:$(cat "$WORK/cp-before.txt")"
  for mode in $MODES; do
    ALL_MODES="${ALL_MODES:-} $mode $mode-before"
  done
  MODES="$ALL_MODES"
fi

# start_server MODE: starts CrashApp pinned to CPU 1, sets SERVER_PID and PORT
start_server() {
  local mode="${1%-before}" journal="$WORK/journal-$1" cp="$CP" pg=()
  [[ "$1" == *-before ]] && cp="$CP_BEFORE"
  if [[ "$mode" == postgres ]]; then
    cp="$CP_PG"
    pg=(env $(sed -n 's/^export //p' <<<"$PG_ENV" | tr -d "'"))
  fi
  rm -rf "$journal"
  "${pg[@]}" taskset -c 1 "$JAVA" -Dio.netty.leakDetection.level=disabled --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
    -Xms512m -Xmx512m -cp "$cp" io.stellane.server.crash.CrashApp "$mode" "$journal" - - "$SYNC" 1 \
    >"$WORK/server.out" 2>"$WORK/server-$mode.err" &
  SERVER_PID=$!
  PORT=""
  for _ in $(seq 1 300); do
    PORT="$(sed -n 's/^PORT //p' "$WORK/server.out")"
    [[ -n "$PORT" ]] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "server ($mode) died:" >&2; cat "$WORK/server-$mode.err" >&2; exit 1; }
    sleep 0.1
  done
  echo "server ($mode) printed no port" >&2
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

# run_wrk SECONDS: prints "requests/sec requests"
run_wrk() {
  local out
  out="$(taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"$1"s -s "$ROOT/bench/post.lua" "http://127.0.0.1:$PORT/effects")"
  if grep -q "Non-2xx" <<<"$out"; then
    echo "wrk saw non-2xx responses:" >&2
    echo "$out" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ {rps = $2} / requests in / {n = $1} END {print rps, n}' <<<"$out"
}

declare -A RESULTS CPU
for round in $(seq 1 "$ROUNDS"); do
  order="$MODES"
  if (( round % 2 == 0 )); then
    # every other round backwards: on this VM a run right after another runs faster (memory the last
    # one freed is still backed by the host), so a fixed order would favour whichever comes second
    order="$(tr ' ' '\n' <<<"$MODES" | awk 'NF' | tac | tr '\n' ' ')"
  fi
  for mode in $order; do
    start_server "$mode"
    # Two warm-up runs, not one: wrk's new connections after the first make the JIT deoptimize and
    # recompile the hot paths it had compiled without them (uncommon traps on accept and close), and
    # with one CPU that recompilation would otherwise land in the measured run.
    run_wrk "$WARMUP" >/dev/null
    run_wrk "$WARMUP" >/dev/null
    t0="$(cpu_ticks)"
    read -r rps n <<<"$(run_wrk "$DURATION")"
    t1="$(cpu_ticks)"
    stop_server
    # CPU per request moves less than req/s with the VM's speed: the server, pinned to one CPU and
    # saturated, serves at the inverse of it
    us="$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$n" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')"
    RESULTS[$mode]="${RESULTS[$mode]:-} $rps"
    CPU[$mode]="${CPU[$mode]:-} $us"
    printf 'round %d  %-14s %12.0f req/s  %8s us CPU/request\n' "$round" "$mode" "$rps" "$us"
  done
done

echo
echo "mode            mean req/s   ratio to off   us CPU/request   rounds   (sync $SYNC, ${BODY_BYTES:-1024}-byte bodies, $CONNECTIONS connections, ${DURATION}s x $ROUNDS)"
off_mean=""
for mode in $MODES; do
  mean="$(tr ' ' '\n' <<<"${RESULTS[$mode]}" | awk 'NF {s += $1; n++} END {printf "%.0f", s / n}')"
  [[ "$mode" == off ]] && off_mean="$mean"
  if [[ -n "$off_mean" ]]; then
    ratio="$(awk -v a="$mean" -v b="$off_mean" 'BEGIN {printf "%.3f", a / b}')"
  else
    ratio="n/a"
  fi
  cpu="$(tr ' ' '\n' <<<"${CPU[$mode]}" | awk 'NF {s += $1; n++} END {printf "%.2f", s / n}')"
  printf '%-14s %10s   %12s   %14s   %s\n' "$mode" "$mean" "$ratio" "$cpu" "${RESULTS[$mode]}"
done
