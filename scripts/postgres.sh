#!/usr/bin/env bash
# A throwaway PostgreSQL for the tests: installs Debian's postgresql package if it is missing, runs a
# private cluster on 127.0.0.1 at a free port with trust authentication, and creates stellane_test.
#
# usage: scripts/postgres.sh start|stop|env|status
#   start   install if needed (root only), then start the cluster, or reuse the one already running in
#           the same directory; prints export lines on stdout, progress on stderr:
#               eval "$(scripts/postgres.sh start)"
#   env     print the export lines of the running cluster (fails if it is not running)
#   stop    stop the cluster through the PID in its postmaster.pid and remove its directory; a no-op
#           when there is none
#   status  exit 0 when the cluster is running, 1 when not
#
# The cluster lives in $STELLANE_PG_DIR, by default ${TMPDIR:-/tmp}/stellane-pg-<uid>-<checksum of this
# checkout's path> (one per checkout, so worktrees do not share one). As root, the server runs as the
# `postgres` system user that the package creates (PostgreSQL refuses to run as root).
# STELLANE_PG_DURABLE=1 keeps PostgreSQL's own fsync and commit settings (benchmarks); by default the
# throwaway cluster skips them.
# Exported: STELLANE_TEST_PG_URL, STELLANE_TEST_PG_USER, STELLANE_TEST_PG_PASSWORD, STELLANE_PG_DIR.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly DB=stellane_test PG_SUPERUSER=stellane MARKER=.stellane-pg
dir=${STELLANE_PG_DIR:-${TMPDIR:-/tmp}/stellane-pg-$(id -u)-$(printf %s "$root" | cksum | cut -d' ' -f1)}
data=$dir/data

log() { echo "postgres.sh: $*" >&2; }
die() { log "$*"; exit 1; }
is_root() { [[ $(id -u) == 0 ]]; }
now() { echo "${EPOCHREALTIME/[.,]/}"; } # microseconds
since() { local us=$(($(now) - $1)); printf '%d.%01ds' $((us / 1000000)) $((us % 1000000 / 100000)); }

# Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<major>/bin; take the newest.
find_bin() {
    local b
    if [[ -n ${PG_BIN:-} ]]; then
        [[ -x $PG_BIN/pg_ctl ]] || die "PG_BIN=$PG_BIN has no pg_ctl"
        echo "$PG_BIN"; return 0
    fi
    for b in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5,5nr); do
        if [[ -x $b/initdb && -x $b/pg_ctl && -x $b/postgres && -x $b/createdb ]]; then
            echo "$b"; return 0
        fi
    done
    return 1
}

install_pg() {
    is_root || die "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl) and installing it needs root:" \
        "run this script as root, or 'sudo apt-get install -y postgresql' once"
    command -v apt-get >/dev/null || die "PostgreSQL is not installed and there is no apt-get to install it with"
    log "installing Debian's postgresql package..."
    local t0 out
    t0=$(now)
    out=$(mktemp)
    if ! { apt-get -qq -o DPkg::Lock::Timeout=300 update &&
        DEBIAN_FRONTEND=noninteractive apt-get -qq -y -o DPkg::Lock::Timeout=300 \
            install --no-install-recommends postgresql; } >"$out" 2>&1; then
        cat "$out" >&2; rm -f "$out"
        die "apt-get install postgresql failed (output above)"
    fi
    rm -f "$out"
    log "installed postgresql in $(since "$t0")"
}

# Runs a command as the owner of the cluster: `postgres` when we are root, else ourselves.
as_owner() {
    if is_root; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

running() {
    [[ -f $data/postmaster.pid ]] || return 1
    local bin
    bin=$(find_bin) || return 1
    as_owner "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1
}

print_env() {
    local port
    port=$(<"$dir/port")
    printf 'export STELLANE_TEST_PG_URL=%q\n' "jdbc:postgresql://127.0.0.1:$port/$DB"
    printf 'export STELLANE_TEST_PG_USER=%q\n' "$PG_SUPERUSER"
    printf 'export STELLANE_TEST_PG_PASSWORD=%q\n' ""
    printf 'export STELLANE_PG_DIR=%q\n' "$dir"
}

# A random port below Linux's ephemeral range that nothing accepts connections on; the start loop
# retries with another if the server still cannot bind it.
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

# The directory must be ours (marker) or new/empty before we use or delete it.
check_dir_is_ours() {
    [[ -d $dir ]] || return 0
    [[ -e $dir/$MARKER || -z $(ls -A "$dir") ]] ||
        die "$dir exists and was not made by this script; refusing to use or delete it (set STELLANE_PG_DIR)"
}

# Stops the server whose PID is in postmaster.pid: pg_ctl first, then the PID itself, after checking
# that this PID is a postgres running in our data directory. Never looks processes up by name.
stop_server() {
    [[ -f $data/postmaster.pid ]] || return 0
    local bin pid i
    if bin=$(find_bin) && as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1; then
        return 0
    fi
    pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    if [[ -d /proc/$pid && $(readlink -f "/proc/$pid/cwd" 2>/dev/null) == "$(readlink -f "$data")" ]]; then
        log "pg_ctl could not stop PID $pid; sending SIGINT (fast shutdown)"
        kill -INT "$pid" 2>/dev/null || true
        for i in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || return 0
            sleep 0.1
        done
        log "PID $pid still running after 30s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
}

cmd_start() {
    local bin t0 port attempt
    check_dir_is_ours
    bin=$(find_bin) || { install_pg; bin=$(find_bin) || die "postgresql installed, but no /usr/lib/postgresql/*/bin/pg_ctl found"; }
    if running; then
        log "reusing the running cluster in $dir (port $(<"$dir/port"))"
        print_env; return 0
    fi
    t0=$(now)
    # a leftover of a crashed run: start again from nothing
    stop_server
    rm -rf "$dir"
    mkdir -p "$dir"
    chmod 700 "$dir"
    touch "$dir/$MARKER"
    if is_root; then
        id postgres >/dev/null 2>&1 || die "no 'postgres' system user (it comes with Debian's postgresql package)"
        chown postgres: "$dir"
        as_owner test -w "$dir" ||
            die "the postgres user cannot reach $dir: set TMPDIR or STELLANE_PG_DIR to a directory under a world-searchable path such as /tmp"
    fi
    if ! as_owner "$bin/initdb" -D "$data" -U "$PG_SUPERUSER" --auth=trust --encoding=UTF8 --locale=C --no-sync \
        >"$dir/initdb.log" 2>&1; then
        cat "$dir/initdb.log" >&2
        die "initdb failed (output above)"
    fi
    # Only reachable from this machine; tuned for throwaway test data, not durability.
    cat >>"$data/postgresql.conf" <<EOF

# --- scripts/postgres.sh: throwaway test cluster ---
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
max_connections = 200
shared_buffers = 32MB
# the journal table churns like a queue: autovacuum looks at it every second, not every minute
autovacuum_naptime = 1s
EOF
    if [[ ${STELLANE_PG_DURABLE:-0} != 1 ]]; then
        printf 'fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n' >>"$data/postgresql.conf"
    fi
    for attempt in 1 2 3 4 5; do
        port=$(free_port) || die "found no free TCP port on 127.0.0.1"
        if as_owner "$bin/pg_ctl" -D "$data" -l "$dir/postgres.log" -o "-p $port" -w -t 60 start >/dev/null 2>&1; then
            break
        fi
        if grep -q 'could not bind\|could not create any TCP/IP sockets' "$dir/postgres.log" 2>/dev/null; then
            log "port $port was taken; trying another"; port=""; continue
        fi
        tail -n 20 "$dir/postgres.log" >&2 || true
        die "the server did not start (log above, $dir/postgres.log)"
    done
    [[ -n $port ]] || die "the server could not bind a port in 5 tries ($dir/postgres.log)"
    echo "$port" >"$dir/port"
    as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U "$PG_SUPERUSER" "$DB" ||
        die "createdb $DB failed"
    print_env >"$dir/env"
    log "started PostgreSQL $("$bin/postgres" --version | sed -E 's/.*\(PostgreSQL\) ([^ ]+).*/\1/') on 127.0.0.1:$port in $(since "$t0") ($dir)"
    print_env
}

cmd_stop() {
    [[ -d $dir ]] || { log "no cluster in $dir"; return 0; }
    check_dir_is_ours
    stop_server
    rm -rf "$dir"
    log "stopped and removed $dir"
}

cmd_env() {
    running || die "no PostgreSQL running in $dir: run 'scripts/postgres.sh start'"
    print_env
}

case ${1:-} in
    start) cmd_start ;;
    stop) cmd_stop ;;
    env) cmd_env ;;
    status) running ;;
    *)
        echo "usage: scripts/postgres.sh start|stop|env|status" >&2
        exit 2 ;;
esac
