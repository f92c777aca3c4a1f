#!/usr/bin/env bash
# What a dashboard left open costs the service: wrk on /json of the example app, once alone and once
# while a client polls /stellane/dashboard/data on the management port twice a second (what an open
# dashboard page does).
# Prints requests/s of both and their ratio (with / without; 1.00 = free).
#
#   bench/dashboard-overhead.sh                    # defaults below
#   PORT=9090 MANAGEMENT_PORT=9091 DURATION=30 CONNECTIONS=64 ROUNDS=3 bench/dashboard-overhead.sh
#
# The app must serve the dashboard on its management listener (see docs/OPERATIONS.md); the script
# checks that first. Each round runs baseline, then with the poller, then baseline again, and
# compares the polled run with the mean of the two baselines around it (less drift on a shared box).
# The app is pinned to CPU 1, wrk (one thread) and the poller to CPU 0, like bench/http-bench.sh.
# Needs wrk, curl and taskset. Stops the app and the poller on any exit.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

PORT=${PORT:-18089}
MANAGEMENT_PORT=${MANAGEMENT_PORT:-18090}
DURATION=${DURATION:-10}        # seconds per wrk run
WARMUP=${WARMUP:-5}             # seconds of wrk before the first measured run
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-1}
POLL_INTERVAL=${POLL_INTERVAL:-0.5}
BACKEND=${BACKEND:-auto}

"$(dirname "${BASH_SOURCE[0]}")/../scripts/wrk.sh"
for tool in wrk curl taskset; do
    command -v "$tool" >/dev/null || { echo "dashboard-overhead: $tool is not installed" >&2; exit 1; }
done

base=http://127.0.0.1:$PORT
management=http://127.0.0.1:$MANAGEMENT_PORT
app_pid="" poller_pid=""
data=$(mktemp -d "${TMPDIR:-/tmp}/dashboard-overhead.XXXXXX") # the app's database and journal
log=$(mktemp "${TMPDIR:-/tmp}/dashboard-overhead-XXXXXX.log")
cleanup() {
    [[ -n $poller_pid ]] && kill "$poller_pid" 2>/dev/null && wait "$poller_pid" 2>/dev/null || true
    if [[ -n $app_pid ]] && kill -0 "$app_pid" 2>/dev/null; then
        kill "$app_pid" 2>/dev/null || true
        # graceful stop first; then force, so the port is free for the next run
        for _ in $(seq 50); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$app_pid" 2>/dev/null || true
        wait "$app_pid" 2>/dev/null || true
    fi
    rm -f "$log"
    rm -rf "$data"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for url in "$base" "$management"; do
    if curl -s -o /dev/null --max-time 1 "$url/"; then
        echo "dashboard-overhead: something already listens on $url; pick other ports with PORT= and MANAGEMENT_PORT=" >&2
        exit 1
    fi
done

echo "dashboard-overhead: starting the example app on port $PORT (builds first if stale)" >&2
# The app on CPU 1, wrk and the poller (the clients) on CPU 0, as bench/http-bench.sh pins them.
taskset -c 1 "$root/stellane" serve --port "$PORT" --management-port "$MANAGEMENT_PORT" --backend "$BACKEND" \
    --data-dir "$data" >"$log" 2>&1 &
app_pid=$!
for i in $(seq 600); do   # up to 5 min: the first build is slow
    curl -s -o /dev/null --max-time 1 "$base/health" && break
    if ! kill -0 "$app_pid" 2>/dev/null; then
        echo "dashboard-overhead: the app exited; its output:" >&2; cat "$log" >&2; exit 1
    fi
    ((i == 600)) && { echo "dashboard-overhead: the app did not answer /health" >&2; cat "$log" >&2; exit 1; }
    sleep 0.5
done
status=$(curl -s -o /dev/null -w '%{http_code}' "$management/stellane/dashboard/data")
if [[ $status != 200 ]]; then
    echo "dashboard-overhead: GET $management/stellane/dashboard/data answered $status: the app does not serve the dashboard there" >&2
    echo "  (Dashboard.observe(server, metrics).serveOn(management) before listen; see docs/OPERATIONS.md, \"Dashboard\")" >&2
    exit 1
fi

rps() { # wrk on /json for $1 seconds -> requests/s
    local out
    out=$(taskset -c 0 wrk -t"$THREADS" -c"$CONNECTIONS" -d"${1}s" --latency "$base/json")
    awk '/^Requests\/sec:/ { print $2 }' <<<"$out"
}

# One GET of /data over bash's own /dev/tcp: a curl process per poll would cost the client core more
# (about 30 ms of CPU each) than the dashboard costs the server, and wrk shares that core.
poll_once() {
    local line status=1
    # like the page: the points of the last second only (?since=<ms>), the whole history on its first load
    local now_us=${EPOCHREALTIME/./}
    exec 3<>"/dev/tcp/127.0.0.1/$MANAGEMENT_PORT" || return 1
    printf 'GET /stellane/dashboard/data?since=%d HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' \
        $((now_us / 1000 - 1000)) >&3
    if IFS= read -r -t 2 line <&3 && [[ $line == *" 200 "* ]]; then status=0; fi
    while IFS= read -r -t 2 line <&3; do :; done # the rest, until the server closes
    exec 3<&-
    return $status
}

# polls /data at POLL_INTERVAL for about $1 seconds (bounded: it stops by itself); counts failures.
# Waits with read -t on a FIFO nobody writes: no sleep process either.
poll() {
    local n=$(awk -v d="$1" -v p="$POLL_INTERVAL" 'BEGIN { printf "%d", d / p + 2 }') fails=0 fifo
    fifo=$(mktemp -u "${TMPDIR:-/tmp}/dashboard-poll.XXXXXX") && mkfifo "$fifo" && exec 4<>"$fifo" && rm -f "$fifo"
    for ((k = 0; k < n; k++)); do
        poll_once || fails=$((fails + 1))
        read -r -t "$POLL_INTERVAL" -u 4 _ || true
    done
    exec 4<&-
    echo "dashboard-overhead: poller made $n requests, $fails failed" >&2
}

echo "dashboard-overhead: warming up for ${WARMUP}s" >&2
rps "$WARMUP" >/dev/null

printf '%-6s %14s %14s %14s %8s\n' round "before rps" "polled rps" "after rps" ratio
ratios=()
for ((r = 1; r <= ROUNDS; r++)); do
    before=$(rps "$DURATION")
    taskset -c 0 bash -c "$(declare -f poll poll_once); MANAGEMENT_PORT=$MANAGEMENT_PORT POLL_INTERVAL=$POLL_INTERVAL poll $DURATION" &
    poller_pid=$!
    polled=$(rps "$DURATION")
    wait "$poller_pid" || true
    poller_pid=""
    after=$(rps "$DURATION")
    ratio=$(awk -v p="$polled" -v b="$before" -v a="$after" 'BEGIN { printf "%.3f", p / ((b + a) / 2) }')
    ratios+=("$ratio")
    printf '%-6s %14s %14s %14s %8s\n' "$r" "$before" "$polled" "$after" "$ratio"
done
printf '%s\n' "${ratios[@]}" | awk '{ s += $1; n++ } END { printf "mean ratio (polled / baseline): %.3f over %d round(s)\n", s / n, n }'
