#!/usr/bin/env bash
# A Stellane cluster on this machine, everything on 127.0.0.1: a private PostgreSQL (scripts/postgres.sh)
# holding the users every node shares, N example-service nodes (./stellane serve, each with its own data
# directory and management port), and nginx balancing over them. docs/OPERATIONS.md, "A cluster on one
# machine", says how to use it.
#
# usage: scripts/cluster.sh start [N] | stop | status | env | kill NODE | restart NODE
#   start [N]     N nodes (default 3): installs nginx if missing (root, apt-get; PostgreSQL likewise
#                 through postgres.sh), builds Stellane if stale (as ./stellane serve does), starts
#                 PostgreSQL, the nodes on free ports (each answering /health before the next step), then
#                 nginx on a free port; prints the URLs and PIDs. Refuses while a cluster runs here.
#   stop          nginx, then the nodes (SIGTERM, SIGKILL after STELLANE_CLUSTER_STOP_TIMEOUT seconds),
#                 then PostgreSQL, each by the PID recorded at start; removes the state directory
#   status        what runs, with PIDs and URLs; exit 0 when everything does
#   env           export lines: balancer, node and PostgreSQL URLs, PIDs:  eval "$(scripts/cluster.sh env)"
#   kill NODE     SIGKILL one node (node-2, or 2) by its recorded PID: a crash
#   restart NODE  start a node again with its config, data directory, ports and node id (stopping it
#                 gracefully first if it runs); ./stellane serve rebuilds first if the sources changed
#
# State: $STELLANE_CLUSTER_DIR, by default ${TMPDIR:-/tmp}/stellane-cluster-<uid>-<checksum of this
# checkout's path>: node-<i>/{stellane.toml,node.log,data/}, nginx/{nginx.conf,error.log,access.log},
# postgres/ (STELLANE_PG_DIR). As root the directory must lie under a world-searchable path (PostgreSQL
# runs as `postgres`, nginx's workers as `nobody`).
# Environment: STELLANE_CLUSTER_RECOVERY=mmap|postgres (the nodes' request journal), JAVA_OPTS and
# STELLANE_RUNTIME_* (passed to every node), STELLANE_CLUSTER_START_TIMEOUT (seconds a node may take to
# answer /health, default 120), STELLANE_CLUSTER_STOP_TIMEOUT (default 30), STELLANE_CLUSTER_SERVE (an
# executable run instead of `./stellane serve` with the same arguments; nothing is built then).
# Processes are only ever signalled by the PIDs recorded here, after checking that the PID still runs
# this cluster's command line; never by name.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly MARKER=.stellane-cluster
dir=${STELLANE_CLUSTER_DIR:-${TMPDIR:-/tmp}/stellane-cluster-$(id -u)-$(printf %s "$root" | cksum | cut -d' ' -f1)}
start_timeout=${STELLANE_CLUSTER_START_TIMEOUT:-120}
stop_timeout=${STELLANE_CLUSTER_STOP_TIMEOUT:-30}

# The nodes' request journal. mmap: each node its own, under its data directory (a killed node's
# pending requests are replayed when it restarts). postgres: one journal in the cluster's PostgreSQL,
# a dead node's requests adopted by another within lease + lease/2 (docs/SCALING.md).
recovery=${STELLANE_CLUSTER_RECOVERY:-postgres}

log() { echo "cluster.sh: $*" >&2; }
die() { log "$*"; exit 1; }
is_root() { [[ $(id -u) == 0 ]]; }

node_dir() { echo "$dir/$1"; }
nodes() { [[ -f $dir/nodes ]] && cat "$dir/nodes"; return 0; }
read_file() { [[ -f $1 ]] && cat "$1"; return 0; }

# Whether PID runs and its command line contains NEEDLE (a path only this cluster's process has): a
# recorded PID is signalled only after this check, so a PID the system reused is left alone.
owned() {
    local pid=$1 needle=$2
    [[ $pid =~ ^[0-9]+$ && -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$needle"
}
# Whether PID runs: exists and is no zombie (an ended process whose parent has not reaped it, which in
# a container without an init may take forever).
is_alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != Z ]]
}
node_needle() { echo "$(node_dir "$1")/stellane.toml"; }
nginx_needle() { echo "$dir/nginx/nginx.conf"; }
node_pid() { read_file "$(node_dir "$1")/pid"; }
node_running() { owned "$(node_pid "$1")" "$(node_needle "$1")"; }
nginx_running() { owned "$(read_file "$dir/nginx/pid")" "$(nginx_needle)"; }
pg_pid() { [[ -f $dir/postgres/data/postmaster.pid ]] && head -n 1 "$dir/postgres/data/postmaster.pid"; return 0; }
pg_running() { [[ -d $dir/postgres ]] && STELLANE_PG_DIR=$dir/postgres "$root/scripts/postgres.sh" status; }

# The status code of GET PATH on 127.0.0.1:PORT, or nothing; bash's /dev/tcp, so no curl is needed.
http_status() {
    timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" "$2" >&3
        read -r _ code _ <&3 && printf %s "$code"' _ "$1" "$2" 2>/dev/null || true
}

# A random port below Linux's ephemeral range that nothing accepts connections on, for nginx (the nodes
# bind port 0 and report theirs); starting nginx retries with another when it still cannot bind it.
free_port() {
    local p i
    for i in $(seq 1 100); do
        p=$((20000 + RANDOM % 12000))
        if ! timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p" 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}

# Sends SIG to each PID, waits up to TIMEOUT seconds for all to end, then SIGKILLs the rest.
# Arguments: SIG TIMEOUT PID...
signal_and_wait() {
    local sig=$1 timeout=$2 pid i alive=()
    shift 2
    (($#)) || return 0
    kill "-$sig" "$@" 2>/dev/null || true
    for i in $(seq 1 $((timeout * 10))); do
        alive=()
        for pid in "$@"; do is_alive "$pid" && alive+=("$pid"); done
        ((${#alive[@]})) || return 0
        sleep 0.1
    done
    log "PID(s) ${alive[*]} still running after ${timeout}s; sending SIGKILL"
    kill -KILL "${alive[@]}" 2>/dev/null || true
    for i in $(seq 1 50); do
        alive=()
        for pid in "$@"; do is_alive "$pid" && alive+=("$pid"); done
        ((${#alive[@]})) || return 0
        sleep 0.1
    done
}

# The PIDs whose parent is PID (nginx's workers), from /proc: no procps needed.
children_of() {
    local stat rest
    for stat in /proc/[0-9]*/stat; do
        rest=$(cat "$stat" 2>/dev/null) || continue
        rest=${rest##*) } # after the command name, which may hold spaces: "state ppid ..."
        rest=${rest#* }
        if [[ ${rest%% *} == "$1" ]]; then
            stat=${stat#/proc/}
            echo "${stat%/stat}"
        fi
    done
}

check_dir_is_ours() {
    [[ -d $dir ]] || return 0
    [[ -e $dir/$MARKER || -z $(ls -A "$dir") ]] ||
        die "$dir exists and was not made by this script; refusing to use or delete it (set STELLANE_CLUSTER_DIR)"
}

# ---------------------------------------------------------------- nodes

write_node_config() { # NAME
    local name=$1 nd
    nd=$(node_dir "$name")
    {
        echo "# $name of the cluster in $dir, written by scripts/cluster.sh at start; ports come as flags."
        echo "[runtime]"
        echo "# Nodes share the machine's CPUs: pinning would put worker i of every node on the same CPU."
        echo "enable_cpu_affinity = false"
        echo
        echo "[runtime.recovery]"
        echo "enabled = true"
        case $recovery in
            mmap)
                echo "backend = \"mmap\"                  # this node's own journal, under its data directory" ;;
            postgres)
                echo "backend = \"postgres\"              # one journal for the cluster"
                echo "url = \"$pg_url\""
                echo "user = \"$pg_user\""
                echo "node_id = \"$name\""
                echo "lease = \"5s\"                       # a dead node's requests are adopted within lease + lease/2" ;;
        esac
        echo
        echo "[server]"
        echo "host = \"127.0.0.1\""
        echo "# every request comes from nginx, one address"
        echo "max_connections_per_address = 10000"
        echo
        echo "[management]"
        echo "host = \"127.0.0.1\""
        echo
        echo "[database]                          # the users: one PostgreSQL for every node"
        echo "url = \"$pg_url\""
        echo "user = \"$pg_user\""
    } >"$nd/stellane.toml"
}

# Starts node NAME in the background on PORT and MANAGEMENT_PORT (0: any free one) and records its PID.
# setsid: its own session, so a Ctrl-C meant for this script does not reach it. `./stellane serve` (and
# setsid, not being a group leader here) exec, so the PID recorded is the JVM's.
launch_node() { # NAME PORT MANAGEMENT_PORT
    local name=$1 nd
    nd=$(node_dir "$name")
    stat -c %s "$nd/node.log" 2>/dev/null >"$nd/log-offset" || echo 0 >"$nd/log-offset"
    setsid "${serve[@]}" --config "$nd/stellane.toml" --data-dir "$nd/data" --port "$2" --management-port "$3" \
        </dev/null >>"$nd/node.log" 2>&1 &
    echo $! >"$nd/pid"
}

# Waits until node NAME has printed its banner (its ports) and answers GET /health with 200.
await_node() { # NAME
    local name=$1 nd pid offset deadline port="" mport="" banner code=""
    nd=$(node_dir "$name")
    pid=$(node_pid "$name")
    offset=$(<"$nd/log-offset")
    deadline=$((SECONDS + start_timeout))
    while :; do
        if ! is_alive "$pid"; then
            tail -c +"$((offset + 1))" "$nd/node.log" | tail -n 20 >&2
            log "$name (PID $pid) exited during its start (log above, $nd/node.log)"
            return 1
        fi
        if [[ -z $port ]]; then
            banner=$(tail -c +"$((offset + 1))" "$nd/node.log")
            if [[ $banner =~ serving\ http://127\.0\.0\.1:([0-9]+)/ ]]; then
                port=${BASH_REMATCH[1]}
                [[ $banner =~ management\ http://127\.0\.0\.1:([0-9]+)/ ]] && mport=${BASH_REMATCH[1]}
                owned "$pid" "$(node_needle "$name")" || { log "PID $pid is not $name's JVM"; return 1; }
            fi
        fi
        if [[ -n $port ]]; then
            code=$(http_status "$port" /health)
            if [[ $code == 200 ]]; then
                echo "$port" >"$nd/port"
                echo "$mport" >"$nd/management-port"
                return 0
            fi
        fi
        if ((SECONDS >= deadline)); then
            log "$name (PID $pid) did not answer /health with 200 within ${start_timeout}s (last: ${code:-no answer});" \
                "its log: $nd/node.log"
            return 1
        fi
        sleep 0.2
    done
}

stop_nodes() { # NAME...
    local name pids=()
    for name in "$@"; do
        if node_running "$name"; then pids+=("$(node_pid "$name")"); fi
    done
    signal_and_wait TERM "$stop_timeout" "${pids[@]}"
}

# ---------------------------------------------------------------- nginx

# POST, PATCH and LOCK are retried on another node only when the request never reached the first
# (connection refused or timed out): nginx's default without `non_idempotent`. A POST that reached a
# node which then died may sit in that node's journal and be answered by recovery later; a second copy
# on another node would create the user twice unless the client sent an Idempotency-Key, so the client
# gets the 502 and decides (retrying with the same Idempotency-Key is safe). GET, PUT and DELETE are
# retried on errors, timeouts, 502 and 503 (a node draining or whose database or journal is down).
write_nginx_config() { # PORT
    local port=$1 name nd user=""
    nd=$dir/nginx
    if is_root; then
        # workers drop to nobody; only the temporary files need to be theirs
        user="user nobody $(id -gn nobody);"
        chown -R nobody "$nd/temp"
    fi
    {
        cat <<EOF
# Written by scripts/cluster.sh; run as: nginx -p $nd -c $nd/nginx.conf -e $nd/error.log
daemon off;
$user
worker_processes 1;
pid $nd/nginx.pid;
error_log $nd/error.log notice;
events { worker_connections 1024; }
http {
    log_format upstream '\$remote_addr [\$time_local] "\$request" \$status \$body_bytes_sent '
                        'upstream \$upstream_addr \$upstream_status \$upstream_response_time';
    access_log $nd/access.log upstream;
    client_body_temp_path $nd/temp/client_body;
    proxy_temp_path $nd/temp/proxy;
    fastcgi_temp_path $nd/temp/fastcgi;
    uwsgi_temp_path $nd/temp/uwsgi;
    scgi_temp_path $nd/temp/scgi;
    client_max_body_size 4m;                    # the nodes' server.max_body_size

    upstream stellane {
EOF
        while IFS= read -r name; do
            echo "        server 127.0.0.1:$(<"$(node_dir "$name")/port") max_fails=1 fail_timeout=5s;  # $name"
        done < <(nodes)
        cat <<EOF
        keepalive 32;
        # shorter than the nodes' idle_timeout (30s): a node never closes a connection nginx is reusing
        keepalive_timeout 20s;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://stellane;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$http_host;
            proxy_connect_timeout 1s;
            # no non_idempotent: see scripts/cluster.sh (write_nginx_config) and docs/OPERATIONS.md
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_timeout 10s;
        }
    }
}
EOF
    } >"$nd/nginx.conf"
}

start_nginx() {
    local nd=$dir/nginx attempt port pid i
    mkdir -p "$nd/temp"
    chmod 711 "$nd"
    for attempt in 1 2 3 4 5; do
        port=$(free_port) || die "found no free TCP port on 127.0.0.1 for nginx"
        write_nginx_config "$port"
        /usr/sbin/nginx -t -q -p "$nd" -c "$nd/nginx.conf" -e "$nd/error.log" ||
            die "nginx rejects its config $nd/nginx.conf (see above)"
        setsid /usr/sbin/nginx -p "$nd" -c "$nd/nginx.conf" -e "$nd/error.log" </dev/null >>"$nd/error.log" 2>&1 &
        pid=$!
        echo "$pid" >"$nd/pid"
        for i in $(seq 1 100); do
            is_alive "$pid" || break
            if [[ $(http_status "$port" /health) == 200 ]]; then
                echo "$port" >"$nd/port"
                return 0
            fi
            sleep 0.1
        done
        if is_alive "$pid"; then
            tail -n 20 "$nd/error.log" >&2
            die "nginx (PID $pid) does not answer /health through its upstream on port $port (log above)"
        fi
        if grep -q 'Address already in use' "$nd/error.log"; then
            log "port $port was taken; trying another"; continue
        fi
        tail -n 20 "$nd/error.log" >&2
        die "nginx did not start (log above, $nd/error.log)"
    done
    die "nginx could not bind a port in 5 tries ($nd/error.log)"
}

stop_nginx() {
    nginx_running || return 0
    local pid workers
    pid=$(read_file "$dir/nginx/pid")
    workers=$(children_of "$pid")
    # QUIT: graceful, the workers finish their requests; the workers too in case the master is SIGKILLed
    signal_and_wait QUIT "$stop_timeout" "$pid"
    # shellcheck disable=SC2086
    signal_and_wait KILL 5 $(for w in $workers; do is_alive "$w" && echo "$w"; done)
}

# ---------------------------------------------------------------- commands

# Stops whatever of the cluster still runs; removes the state directory unless told to keep it.
teardown() { # [keep]
    local names
    mapfile -t names < <(nodes)
    stop_nginx
    stop_nodes "${names[@]}"
    if [[ -d $dir/postgres ]]; then
        STELLANE_PG_DIR=$dir/postgres "$root/scripts/postgres.sh" stop || log "PostgreSQL did not stop cleanly"
    fi
    if [[ ${1:-} != keep ]]; then
        rm -rf "$dir"
    fi
}

anything_running() {
    local name
    nginx_running && return 0
    while IFS= read -r name; do node_running "$name" && return 0; done < <(nodes)
    pg_running >/dev/null 2>&1
}

cmd_start() {
    local n=${1:-3} i name pg_env pids=()
    [[ $n =~ ^[0-9]+$ ]] && ((n >= 1 && n <= 64)) || die "start N: N must be a number from 1 to 64, not '$n'"
    case $recovery in
        mmap | postgres) ;;
        *) die "STELLANE_CLUSTER_RECOVERY=$recovery: allowed are mmap (each node its own journal) and postgres (one journal for the cluster)" ;;
    esac
    check_dir_is_ours
    if [[ -d $dir ]]; then
        anything_running && die "a cluster is already running in $dir (scripts/cluster.sh status); stop it first"
        log "removing the remains of an earlier cluster in $dir"
        teardown
    fi
    "$root/scripts/nginx.sh"
    if [[ -n ${STELLANE_CLUSTER_SERVE:-} ]]; then
        serve=("$STELLANE_CLUSTER_SERVE")
    else
        serve=("$root/stellane" serve)
        # the launcher builds what is stale before it runs anything: once here, not in N nodes at once
        "$root/stellane" serve --help >/dev/null
    fi

    mkdir -p "$dir"
    chmod 711 "$dir" # PostgreSQL (as postgres) and nginx's workers (as nobody) reach their parts through it
    touch "$dir/$MARKER"
    echo "$recovery" >"$dir/recovery"
    # a failed or interrupted start stops what it started and keeps the logs
    trap 'log "start failed; stopping what was started (logs kept in $dir; scripts/cluster.sh stop removes them)"; teardown keep' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM

    pg_env=$(STELLANE_PG_DIR=$dir/postgres "$root/scripts/postgres.sh" start)
    pg_url=$(sed -n "s/^export STELLANE_TEST_PG_URL=//p" <<<"$pg_env")
    pg_user=$(sed -n "s/^export STELLANE_TEST_PG_USER=//p" <<<"$pg_env")
    pg_url=${pg_url//\'/} pg_user=${pg_user//\'/}

    for i in $(seq 1 "$n"); do
        name=node-$i
        echo "$name" >>"$dir/nodes"
        mkdir -m 700 -p "$(node_dir "$name")"
        write_node_config "$name"
    done
    # node-1 alone first: it creates the users table, which nodes creating it at once could race on
    log "starting node-1 of $n (recovery: $recovery)..."
    launch_node node-1 0 0
    await_node node-1
    if ((n > 1)); then
        log "starting node-2$( ((n > 2)) && echo "..node-$n")..."
        for i in $(seq 2 "$n"); do launch_node "node-$i" 0 0; done
        for i in $(seq 2 "$n"); do await_node "node-$i"; done
    fi
    start_nginx
    trap - EXIT INT TERM
    cmd_status
    echo "eval \"\$(scripts/cluster.sh env)\" sets these as variables; scripts/cluster.sh stop ends it all."
}

need_cluster() {
    [[ -f $dir/$MARKER ]] || die "no cluster in $dir: run 'scripts/cluster.sh start'"
}

# http://127.0.0.1:<port in FILE>/, or - before the port is known
url_in() { local p; p=$(read_file "$1"); if [[ -n $p ]]; then echo "http://127.0.0.1:$p/"; else echo -; fi; }

cmd_status() {
    need_cluster
    local name nd all=0 state pg_port
    echo "cluster in $dir (recovery: $(read_file "$dir/recovery"))"
    if nginx_running; then state=running; else state=down; all=1; fi
    printf '  %-9s %-8s pid %-8s %s   logs: %s\n' balancer "$state" "$(read_file "$dir/nginx/pid")" \
        "$(url_in "$dir/nginx/port")" "$dir/nginx/"
    while IFS= read -r name; do
        nd=$(node_dir "$name")
        if node_running "$name"; then state=running; else state=down; all=1; fi
        printf '  %-9s %-8s pid %-8s %s   management %s   log: %s\n' "$name" "$state" "$(node_pid "$name")" \
            "$(url_in "$nd/port")" "$(url_in "$nd/management-port")" "$nd/node.log"
    done < <(nodes)
    if pg_running; then state=running; else state=down; all=1; fi
    pg_port=$(read_file "$dir/postgres/port")
    printf '  %-9s %-8s pid %-8s %s\n' postgres "$state" "$(pg_pid)" \
        "${pg_port:+jdbc:postgresql://127.0.0.1:$pg_port/stellane_test (user stellane)}"
    return "$all"
}

cmd_env() {
    need_cluster
    local name nd var
    printf 'export STELLANE_CLUSTER_DIR=%q\n' "$dir"
    printf 'export STELLANE_CLUSTER_URL=%q\n' "http://127.0.0.1:$(read_file "$dir/nginx/port")"
    printf 'export STELLANE_CLUSTER_NGINX_PID=%q\n' "$(read_file "$dir/nginx/pid")"
    printf 'export STELLANE_CLUSTER_NODES=%s\n' "$(nodes | paste -sd, -)" # node-1,node-2,...
    while IFS= read -r name; do
        nd=$(node_dir "$name")
        var=STELLANE_CLUSTER_NODE_${name#node-}
        printf 'export %s_URL=%q\n' "$var" "http://127.0.0.1:$(read_file "$nd/port")"
        printf 'export %s_MANAGEMENT_URL=%q\n' "$var" "http://127.0.0.1:$(read_file "$nd/management-port")"
        printf 'export %s_PID=%q\n' "$var" "$(node_pid "$name")"
    done < <(nodes)
    printf 'export STELLANE_CLUSTER_PG_URL=%q\n' "jdbc:postgresql://127.0.0.1:$(read_file "$dir/postgres/port")/stellane_test"
    printf 'export STELLANE_CLUSTER_PG_USER=%q\n' stellane
    printf 'export STELLANE_CLUSTER_PG_PID=%q\n' "$(pg_pid)"
}

node_arg() { # NODE ("node-2" or "2") -> node-2, or dies
    local name=${1:-}
    [[ -n $name ]] || die "name a node: $(nodes | paste -sd' ' -)"
    [[ $name =~ ^[0-9]+$ ]] && name=node-$name
    grep -qxF -- "$name" "$dir/nodes" || die "no node '$1' in this cluster; its nodes: $(nodes | paste -sd' ' -)"
    echo "$name"
}

cmd_kill() {
    need_cluster
    local name pid
    name=$(node_arg "${1:-}")
    node_running "$name" || die "$name is not running"
    pid=$(node_pid "$name")
    kill -KILL "$pid"
    while is_alive "$pid"; do sleep 0.05; done
    log "$name (PID $pid) killed with SIGKILL; 'scripts/cluster.sh restart $name' starts it again"
}

cmd_restart() {
    need_cluster
    local name nd
    name=$(node_arg "${1:-}")
    nd=$(node_dir "$name")
    [[ -s $nd/port ]] || die "$name never started (no port recorded); scripts/cluster.sh start makes a new cluster"
    if node_running "$name"; then
        log "stopping $name (PID $(node_pid "$name"))..."
        stop_nodes "$name"
    fi
    if [[ -n ${STELLANE_CLUSTER_SERVE:-} ]]; then serve=("$STELLANE_CLUSTER_SERVE"); else serve=("$root/stellane" serve); fi
    printf '\n--- %s: restarted by scripts/cluster.sh ---\n' "$(date -u +%FT%TZ)" >>"$nd/node.log"
    # the same ports, so nginx's upstream needs no change
    launch_node "$name" "$(<"$nd/port")" "$(<"$nd/management-port")"
    await_node "$name" || die "$name did not come back (its log: $nd/node.log)"
    log "$name restarted: PID $(node_pid "$name"), http://127.0.0.1:$(<"$nd/port")/"
}

cmd_stop() {
    [[ -d $dir ]] || { log "no cluster in $dir"; return 0; }
    check_dir_is_ours
    teardown
    log "stopped the cluster and removed $dir"
}

case ${1:-} in
    start) cmd_start "${2:-3}" ;;
    stop) cmd_stop ;;
    status) cmd_status ;;
    env) cmd_env ;;
    kill) cmd_kill "${2:-}" ;;
    restart) cmd_restart "${2:-}" ;;
    *)
        echo "usage: scripts/cluster.sh start [N] | stop | status | env | kill NODE | restart NODE" >&2
        exit 2 ;;
esac
