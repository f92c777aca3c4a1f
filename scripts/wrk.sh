#!/usr/bin/env bash
# Makes sure the benchmarks' load generator, Debian's wrk, is installed (and taskset, which pins it).
# Idempotent: does nothing when both are there. Installing needs root (apt-get); without it, says what
# to run instead and fails.
set -euo pipefail

if command -v wrk >/dev/null && command -v taskset >/dev/null; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "wrk.sh: wrk or taskset is missing and installing them needs root; run as root:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends wrk util-linux" >&2
    exit 1
fi
echo "wrk.sh: installing wrk (the benchmarks' load generator)" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update >&2
apt-get install -y --no-install-recommends wrk util-linux >&2
command -v wrk >/dev/null || { echo "wrk.sh: apt-get finished but wrk is still missing" >&2; exit 1; }
