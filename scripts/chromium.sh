#!/usr/bin/env bash
# Makes sure Debian's headless-capable Chromium is installed at /usr/bin/chromium, for the dashboard's
# end-to-end test (DashboardBrowserTest). Idempotent: does nothing when the binary is already there.
# Installing needs root (apt-get); without it, says what to run instead and fails.
#
#   scripts/chromium.sh && export STELLANE_CHROMIUM=/usr/bin/chromium
set -euo pipefail

bin=/usr/bin/chromium
if [[ -x $bin ]]; then
    exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
    echo "chromium.sh: $bin is missing and installing it needs root; run as root:" >&2
    echo "    apt-get update && apt-get install -y --no-install-recommends chromium" >&2
    exit 1
fi
echo "chromium.sh: installing chromium (for the dashboard's browser test)" >&2
export DEBIAN_FRONTEND=noninteractive
# apt's progress goes to stderr so that callers reading our stdout see nothing from it
apt-get update >&2
apt-get install -y --no-install-recommends chromium >&2
if [[ ! -x $bin ]]; then
    echo "chromium.sh: apt-get finished but $bin is still missing" >&2
    exit 1
fi
