#!/usr/bin/env bash
# Makes sure Debian's nginx is installed at /usr/sbin/nginx, for scripts/cluster.sh (its balancer) and the
# test that drives it (ClusterScriptTest). Idempotent: does nothing when the binary is already there.
# Installing needs root (apt-get); without it, says what to run instead and fails.
#
# The package would start the system's nginx service (port 80) from its install script; it is kept from
# doing so the way Debian provides, a policy-rc.d answering 101, put in place for the install when none
# exists. cluster.sh never uses that service: it runs its own nginx with a private config.
set -euo pipefail

bin=/usr/sbin/nginx
policy=/usr/sbin/policy-rc.d
if [[ -x $bin ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "nginx.sh: $bin is missing and installing it needs root; run as root:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends nginx" >&2
    exit 1
fi
command -v apt-get >/dev/null || { echo "nginx.sh: $bin is missing and there is no apt-get to install it with" >&2; exit 1; }
echo "nginx.sh: installing nginx (the balancer of scripts/cluster.sh)" >&2
if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\n# scripts/nginx.sh: no service starts while nginx is installed\nexit 101\n' >"$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
fi
export DEBIAN_FRONTEND=noninteractive
# apt's progress goes to stderr so that callers reading our stdout see nothing from it
apt-get -qq -o DPkg::Lock::Timeout=300 update >&2
apt-get -qq -y -o DPkg::Lock::Timeout=300 install --no-install-recommends nginx >&2
if [[ ! -x $bin ]]; then
    echo "nginx.sh: apt-get finished but $bin is still missing" >&2
    exit 1
fi
