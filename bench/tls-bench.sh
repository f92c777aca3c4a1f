#!/usr/bin/env bash
# HTTPS: the example service (./stellane serve, TLS on OpenSSL, i.e. BoringSSL through netty-tcnative)
# next to nginx (Debian's, scripts/nginx.sh) and, to show what OpenSSL buys, the same service on the
# JDK's TLS engine. All serve GET /plaintext with one throwaway certificate (ECDSA P-256, made here and
# deleted on exit), TLS 1.3 and 1.2. Each server is pinned to CPU 1 (one worker; nginx worker_processes 1),
# wrk to CPU 0 with one thread; servers alternate, every other round in reverse order. Two loads per
# server and round:
#   keep-alive   wrk, CONNECTIONS connections kept open: the cost of TLS records on requests;
#   handshakes   wrk with `Connection: close`: every request on a new connection, so a new handshake.
#                wrk keeps the last connection's TLS session and offers it on the next one, so where the
#                server issues session tickets (all three do, as configured by default: the script
#                checks) these are TLS 1.3 resumptions: a fresh X25519 exchange each, no certificate
#                signature. The connections the kernel accepted during the run are counted (TCP
#                PassiveOpens, machine-wide, so other traffic adds to it) to show one per request.
# For each: req/s (handshakes/s) and the server's CPU time per request (utime + stime from /proc over
# the measured run, nginx's master and worker together), which moves less than req/s with the VM's
# speed; and wrk's own CPU use, since wrk doing TLS on one CPU can be the limit rather than the server.
# Then the medians and the ratios to nginx.
#
#   bench/tls-bench.sh                                   # 3 rounds of 15 s, 64 connections; warm-up 2 x 3 s, handshakes 3 s
#   DURATION=2 WARMUP=1 ROUNDS=1 bench/tls-bench.sh      # a smoke run
#
# Environment: DURATION, WARMUP (seconds), ROUNDS, CONNECTIONS (64), TRANSPORT (epoll; nio, io_uring),
# SERVERS ("stellane stellane-jdk nginx"; the ratios need nginx).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DURATION="${DURATION:-15}"
WARMUP="${WARMUP:-3}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-64}"
TRANSPORT="${TRANSPORT:-epoll}"
SERVERS="${SERVERS:-stellane stellane-jdk nginx}"
URL_PATH=/plaintext
NGINX=/usr/sbin/nginx

"$ROOT/scripts/wrk.sh"
"$ROOT/scripts/nginx.sh"
for tool in wrk taskset curl openssl python3 ps; do
  command -v "$tool" >/dev/null || { echo "tls-bench: $tool not found" >&2; exit 1; }
done
"$ROOT/stellane" build >/dev/null 2>&1 || "$ROOT/stellane" build

WORK="$(mktemp -d "${TMPDIR:-/tmp}/tls-bench.XXXXXX")"
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK" # the key with it
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# the certificate: ECDSA P-256 (what most sites serve), its key PKCS#8 as Stellane reads it, for a day
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 600 "$WORK/key.pem"

# The service's own stellane.toml with a [server.tls] table naming the engine: "openssl" rather than
# "auto", which would fall back to the JDK's silently where BoringSSL does not load.
for engine in openssl jdk; do
  { cat "$ROOT/stellane.toml"
    printf '\n[server.tls]\ncertificate = "%s"\nprivate_key = "%s"\nengine = "%s"\n' "$WORK/cert.pem" "$WORK/key.pem" "$engine"
  } >"$WORK/stellane-$engine.toml"
done

# nginx with a private config; as root its worker drops to nobody, which then needs its temporary
# directories and a way through $WORK to them. keepalive_requests: nginx closes a connection after 1000
# requests by default, which would put handshakes into the keep-alive load.
mkdir -p "$WORK/nginx/temp"
nginx_user=""
if [[ $(id -u) -eq 0 ]]; then
  nginx_user="user nobody $(id -gn nobody);"
  chown -R nobody "$WORK/nginx/temp"
  chmod 711 "$WORK" "$WORK/nginx"
fi
write_nginx_config() { # PORT
  cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
$nginx_user
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/temp/client_body;
    proxy_temp_path $WORK/nginx/temp/proxy;
    fastcgi_temp_path $WORK/nginx/temp/fastcgi;
    uwsgi_temp_path $WORK/nginx/temp/uwsgi;
    scgi_temp_path $WORK/nginx/temp/scgi;
    keepalive_requests 1000000000;
    server {
        listen 127.0.0.1:$1 ssl;
        ssl_certificate $WORK/cert.pem;
        ssl_certificate_key $WORK/key.pem;
        ssl_protocols TLSv1.3 TLSv1.2;
        location = $URL_PATH {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
EOF
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# launch NAME PORT: runs that server in the foreground of this (background) subshell, pinned to CPU 1;
# every step execs, so the PID the caller sees ends up the server's own (the JVM, nginx's master)
launch() {
  case "$1" in
    stellane | stellane-jdk)
      local engine=openssl
      [[ "$1" == stellane-jdk ]] && engine=jdk
      rm -rf "$WORK/data-$1"
      cd "$ROOT"
      exec taskset -c 1 ./stellane serve --config "$WORK/stellane-$engine.toml" --host 127.0.0.1 --port "$2" \
        --management-port 0 --backend "$TRANSPORT" --data-dir "$WORK/data-$1" ;;
    nginx)
      write_nginx_config "$2"
      exec taskset -c 1 "$NGINX" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" ;;
    *) echo "tls-bench: unknown server $1 (stellane, stellane-jdk, nginx)" >&2; exit 2 ;;
  esac
}

# start_server NAME: sets SERVER_PID and PORT once the server answers over HTTPS
start_server() {
  local i
  PORT="$(free_port)"
  launch "$1" "$PORT" >"$WORK/$1.log" 2>&1 &
  SERVER_PID=$!
  for i in $(seq 1 300); do
    if [[ "$(curl -sk -o /dev/null -w '%{http_code}' --max-time 2 "https://127.0.0.1:$PORT$URL_PATH")" == 200 ]]; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { echo "tls-bench: $1 exited during its start:" >&2; server_log "$1"; exit 1; }
    sleep 0.2
  done
  echo "tls-bench: $1 did not answer https://127.0.0.1:$PORT$URL_PATH with 200 within 60 s:" >&2
  server_log "$1"
  exit 1
}

server_log() {
  tail -n 20 "$WORK/$1.log" >&2
  [[ $1 != nginx ]] || tail -n 20 "$WORK/nginx/error.log" >&2
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=""
}

# the server's CPU time so far, in clock ticks: utime + stime of its process and its children's (nginx's worker)
cpu_ticks() {
  local p s=0
  for p in "$SERVER_PID" $(ps -o pid= --ppid "$SERVER_PID"); do
    s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$s"
}
HZ="$(getconf CLK_TCK)"

# connections the kernel has accepted (TCP PassiveOpens), machine-wide
passive_opens() {
  awk '/^Tcp:/ {if (!n) {for (i = 1; i <= NF; i++) if ($i == "PassiveOpens") c = i; n = 1} else print $c}' /proc/net/snmp
}

# What the server negotiates with OpenSSL's defaults (wrk's library), and whether it resumes a session:
# a request that reads the session ticket, then a second connection offering it.
tls_facts() {
  local req='GET /plaintext HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' first second
  first="$(printf "$req" | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -sess_out "$WORK/session.pem" -ign_eof 2>/dev/null \
    | sed -n 's/^New, \(.*\), Cipher is \(.*\)/\1 \2/p')"
  second="$(printf "$req" | timeout 10 openssl s_client -connect "127.0.0.1:$PORT" -sess_in "$WORK/session.pem" -ign_eof 2>/dev/null \
    | sed -n 's/^\(New\|Reused\),.*/\1/p')"
  rm -f "$WORK/session.pem"
  echo "${first:-?} session $( [[ $second == Reused ]] && echo resumed || echo "not resumed")"
}

# run_wrk SECONDS [wrk options]: prints "requests/sec requests errors wrk_cpu_seconds"
run_wrk() {
  local seconds=$1 out
  shift
  out="$( { TIMEFORMAT='wrk-cpu %U %S'; time taskset -c 0 wrk -t1 -c"$CONNECTIONS" -d"$seconds"s "$@" "https://127.0.0.1:$PORT$URL_PATH"; } 2>&1)" || true # judged below, with its output
  if ! grep -q ' requests in ' <<<"$out" || grep -q "Non-2xx" <<<"$out"; then
    echo "tls-bench: wrk failed or saw non-2xx responses:" >&2
    echo "$out" >&2
    exit 1
  fi
  awk '/^Requests\/sec:/ {rps = $2} / requests in / {n = $1} /Socket errors:/ {e = $4 + $6 + $8 + $10}
       /^wrk-cpu / {cpu = $2 + $3} END {print rps, n, e + 0, cpu}' <<<"$out"
}

# measure NAME KIND [wrk options]: warms up, measures, records and prints one line
declare -A RPS CPU
measure() {
  local name=$1 kind=$2 t0 t1 o0 o1 rps n errors wcpu us conns
  shift 2
  [[ -n $(run_wrk "$WARMUP" "$@") ]] || exit 1
  # keep-alive: a second warm-up, since new connections after the first make the JIT recompile
  [[ $kind == handshakes || -n $(run_wrk "$WARMUP" "$@") ]] || exit 1
  t0="$(cpu_ticks)" o0="$(passive_opens)"
  read -r rps n errors wcpu <<<"$(run_wrk "$DURATION" "$@")"
  [[ -n $rps ]] || exit 1 # run_wrk said why
  t1="$(cpu_ticks)" o1="$(passive_opens)"
  us="$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v n="$n" 'BEGIN {printf "%.1f", t / hz * 1e6 / n}')"
  conns=$((o1 - o0))
  RPS[$name/$kind]="${RPS[$name/$kind]:-} $rps"
  CPU[$name/$kind]="${CPU[$name/$kind]:-} $us"
  printf 'round %d  %-13s %-10s %10.0f req/s  %8s us CPU/request  wrk CPU %3.0f%%  %7d connections  %d errors\n' \
    "$round" "$name" "$kind" "$rps" "$us" "$(awk -v c="$wcpu" -v d="$DURATION" 'BEGIN {print c / d * 100}')" "$conns" "$errors"
  if [[ $kind == handshakes ]] && ((conns < n * 9 / 10)); then
    echo "tls-bench: WARNING: $name accepted $conns connections for $n requests: not one handshake per request" >&2
  fi
}

median() { tr ' ' '\n' | awk 'NF' | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "HTTPS GET $URL_PATH, $CONNECTIONS connections, ${DURATION}s (+ warm-up ${WARMUP}s) x $ROUNDS rounds, $TRANSPORT," \
  "server on CPU 1, wrk on CPU 0 ($(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2), $(openssl version | cut -d' ' -f1-2))"
for round in $(seq 1 "$ROUNDS"); do
  order="$SERVERS"
  if (( round % 2 == 0 )); then
    order="$(tr ' ' '\n' <<<"$SERVERS" | awk 'NF' | tac | tr '\n' ' ')"
  fi
  for name in $order; do
    start_server "$name"
    if ((round == 1)); then
      engine="$(sed -n 's/.*TLS on: engine \([^,]*\),.*/\1/p' "$WORK/$name.log")"
      echo "$name: $(tls_facts)${engine:+, engine $engine}"
    fi
    measure "$name" keep-alive
    measure "$name" handshakes -H 'Connection: close'
    stop_server
  done
done

echo
echo "server        load         median req/s   / nginx   us CPU/request   / nginx   (median of $ROUNDS rounds)"
for kind in keep-alive handshakes; do
  base_rps="$(median <<<"${RPS[nginx/$kind]:-}")"
  base_cpu="$(median <<<"${CPU[nginx/$kind]:-}")"
  for name in $SERVERS; do
    awk -v n="$name" -v k="$kind" -v r="$(median <<<"${RPS[$name/$kind]}")" -v c="$(median <<<"${CPU[$name/$kind]}")" \
      -v br="${base_rps:-0}" -v bc="${base_cpu:-0}" \
      'BEGIN {printf "%-13s %-10s %14.0f   %7s   %14.1f   %7s\n", n, k, r, br ? sprintf("%.2f", r / br) : "n/a", c, bc ? sprintf("%.2f", c / bc) : "n/a"}'
  done
done
