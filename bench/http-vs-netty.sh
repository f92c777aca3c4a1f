#!/usr/bin/env bash
# Stellane next to the raw Netty peer on the same transport (io.stellane.benchmarks.peer.NettyPeer), with
# bench/http-bench.sh: GET /plaintext, /plaintext pipelined 16 deep, /json. Two Stellane
# servers: stellane-app is TechEmpowerApp (the two routes and nothing else, like the peer), and
# stellane-service is the full example service of ./stellane serve (metrics observer, request journal,
# work stealing, database), so the framework's cost and its features' cost show apart; its management
# listener takes any free port (the harness hands out one port per server).
# usage: bench/http-vs-netty.sh [TRANSPORT=epoll] [extra http-bench.sh options, e.g. --rounds 3]
# BEFORE=DIR adds stellane-app-before and stellane-service-before, built from the checkout in DIR (e.g. a
# `git worktree add DIR <commit>`): a change's before and after, side by side in the same run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
transport=${1:-epoll}
(($#)) && shift
"$root/scripts/wrk.sh"
"$root/stellane" build >/dev/null 2>&1 || "$root/stellane" build
java="$("$root/stellane" java)/bin/java --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow"
before=()
if [[ -n ${BEFORE:-} ]]; then
    "$BEFORE/stellane" build >/dev/null 2>&1 || "$BEFORE/stellane" build
    before_data=$(mktemp -d "${TMPDIR:-/tmp}/stellane-bench-before.XXXXXX")
    # older checkouts serve metrics on the public port and have no --management-port
    mgmt=$(grep -q -- --management-port "$BEFORE/stellane" && echo "--management-port 0" || true)
    before=(stellane-app-before="$java -cp '$BEFORE/examples/target/classes:$BEFORE/examples/target/lib/*' io.stellane.examples.TechEmpowerApp \$PORT $transport"
            stellane-service-before="cd $(printf %q "$BEFORE") && ./stellane serve --port \$PORT $mgmt --backend $transport --data-dir $before_data")
fi
tsv=${TSV:-$(mktemp)}
data=$(mktemp -d "${TMPDIR:-/tmp}/stellane-bench.XXXXXX") # the service's database and journal
trap 'rm -rf "$data" ${before_data:+"$before_data"}' EXIT
for run in "/plaintext 1" "/plaintext 16" "/json 1"; do
    read -r path depth <<<"$run"
    "$root/bench/http-bench.sh" --path "$path" --pipeline "$depth" --tsv "$tsv" "$@" \
        stellane-app="$java -cp '$root/examples/target/classes:$root/examples/target/lib/*' io.stellane.examples.TechEmpowerApp \$PORT $transport" \
        stellane-service="cd $(printf %q "$root") && ./stellane serve --port \$PORT --management-port 0 --backend $transport --data-dir $data" \
        "${before[@]}" \
        netty-$transport="$java -cp $root/stellane-benchmarks/target/benchmarks.jar io.stellane.benchmarks.peer.NettyPeer \$PORT $transport"
    echo
done
echo "results (path pipeline conns duration rounds name rps p50 p99 errors ratio): $tsv"
cat "$tsv"
