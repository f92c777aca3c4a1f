#!/usr/bin/env bash
# CPU time a server spends per request, next to other servers in the same run. On a shared VM whose
# speed moves by tens of percent from one minute to the next, requests per second swing with it; the
# server's own CPU time per request (utime + stime of its process, from /proc) moves much less, and a
# server pinned to one CPU and saturated serves at the inverse of it.
#
#   bench/cpu-per-request.sh [--path /plaintext] [--pipeline 16] [--lua FILE] [--conns 64] [--rounds 2] \
#       NAME='command with $PORT' [NAME='...' ...]
#
# Each round starts every server in turn (pinned to CPU 1, wrk to CPU 0), waits until the path answers,
# loads it for 5 s, then measures 10 s. The command must run the server in its own process (exec, not a
# child): that process's CPU time is what is counted. Prints one line per server and round, then the
# mean per server and its ratio to the first server's.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
path=/plaintext pipeline=1 lua="" conns=64 rounds=2
names=() cmds=()
while (($#)); do
    case $1 in
        --path) path=$2; shift 2 ;;
        --pipeline) pipeline=$2; shift 2 ;;
        --lua) lua=$2; shift 2 ;;
        --conns) conns=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        *=*) names+=("${1%%=*}"); cmds+=("${1#*=}"); shift ;;
        *) echo "cpu-per-request: unknown argument $1" >&2; exit 2 ;;
    esac
done
((${#names[@]})) || { echo "cpu-per-request: no server given (NAME='command with \$PORT')" >&2; exit 2; }
"$here/../scripts/wrk.sh"
hz=$(getconf CLK_TCK)
srv=""
trap '[[ -z $srv ]] || kill "$srv" 2>/dev/null || true' EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

declare -A sum
for ((r = 1; r <= rounds; r++)); do
    for i in "${!names[@]}"; do
        port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        cmd=${cmds[$i]//\$PORT/$port}
        taskset -c 1 bash -c "exec $cmd" >/dev/null 2>&1 &
        srv=$!
        for _ in $(seq 1 300); do curl -s -o /dev/null "http://127.0.0.1:$port$path" && break; sleep 0.2; done
        args=(-t1 "-c$conns" -d5s)
        [[ -n $lua ]] && args+=(-s "$lua")
        ((pipeline == 1)) || args+=(-s "$here/pipeline.lua")
        url="http://127.0.0.1:$port$path"
        extra=()
        ((pipeline == 1)) || extra=(-- "$pipeline")
        taskset -c 0 wrk "${args[@]}" "$url" "${extra[@]}" >/dev/null
        before=$(ticks "$srv")
        args[2]=-d10s
        out=$(taskset -c 0 wrk "${args[@]}" "$url" "${extra[@]}")
        after=$(ticks "$srv")
        kill "$srv"; wait "$srv" 2>/dev/null || true; srv=""
        reqs=$(awk '/requests in/ {print $1}' <<<"$out")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
        us=$(python3 -c "print(round(($after - $before) / $hz * 1e6 / $reqs, 3))")
        printf 'round %d  %-20s %10.0f req/s  %8.3f us CPU/request\n' "$r" "${names[$i]}" "$rps" "$us"
        sum[${names[$i]}]=$(python3 -c "print(${sum[${names[$i]}]:-0} + $us)")
    done
done
first=${names[0]}
echo "mean over $rounds rounds ($path, pipeline $pipeline, $conns connections):"
for n in "${names[@]}"; do
    python3 -c "m = ${sum[$n]} / $rounds; f = ${sum[$first]} / $rounds; print(f'  {\"$n\":20s} {m:8.3f} us CPU/request   {m / f:5.2f} x $first')"
done
