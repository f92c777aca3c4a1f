# shellcheck shell=bash
# Sourced (not run) by `./stellane test` before Maven: installs Chromium and nginx when missing (root, for
# DashboardBrowserTest and ClusterScriptTest), starts a private throwaway PostgreSQL through
# scripts/postgres.sh, exports STELLANE_TEST_PG_URL / _USER / _PASSWORD for PostgresUserRepositoryTest,
# and stops and removes it when the sourcing shell exits (normally, by error, Ctrl-C, TERM or HUP).
#
#   source scripts/test-env.sh && mvn verify      # the caller must not `exec` Maven: exec skips the EXIT trap
#
# Each run gets its own cluster directory (mktemp), so concurrent test runs never share or stop each
# other's server. If STELLANE_TEST_PG_URL is already set, that database is used and nothing is started.
# Replaces the caller's EXIT, INT, TERM and HUP traps.

"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/chromium.sh" && export STELLANE_CHROMIUM=/usr/bin/chromium # dashboard e2e test
"$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/nginx.sh" || true # ClusterScriptTest's balancer, before its clock runs; the test says what is missing
if [[ -n ${STELLANE_TEST_PG_URL:-} ]]; then
    echo "test-env: using the PostgreSQL at $STELLANE_TEST_PG_URL (STELLANE_TEST_PG_URL was set)" >&2
else
    _stellane_pg_script=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/postgres.sh
    STELLANE_PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/stellane-pg-XXXXXX") || return 1
    export STELLANE_PG_DIR
    # EXIT runs on every way out once the signals below turn into a normal exit
    trap '"$_stellane_pg_script" stop || true' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
    if _stellane_pg_env=$("$_stellane_pg_script" start); then
        eval "$_stellane_pg_env"
        unset _stellane_pg_env
    else
        echo "test-env: could not start PostgreSQL for the tests (see above)" >&2
        return 1
    fi
fi
