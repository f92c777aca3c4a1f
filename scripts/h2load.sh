#!/usr/bin/env bash
# Makes sure the HTTP/2 benchmark's load generator, h2load (Debian's nghttp2-client), is installed, and
# taskset, which pins it. Idempotent: does nothing when both are there. Installing needs root (apt-get);
# without it, says what to run instead and fails.
set -euo pipefail

if command -v h2load >/dev/null && command -v taskset >/dev/null; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "h2load.sh: h2load or taskset is missing and installing them needs root; run as root:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends nghttp2-client util-linux" >&2
    exit 1
fi
echo "h2load.sh: installing h2load (nghttp2-client, the HTTP/2 benchmark's load generator)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get -qq -o DPkg::Lock::Timeout=300 update >&2
apt-get -qq -y -o DPkg::Lock::Timeout=300 install --no-install-recommends nghttp2-client util-linux >&2
command -v h2load >/dev/null || { echo "h2load.sh: apt-get finished but h2load is still missing" >&2; exit 1; }
