#!/usr/bin/env bash
# Install PostgreSQL (server binaries: initdb, pg_ctl, postgres) for the Supabase integration
# tests, if it is not there yet. Idempotent; needs root on Debian (apt-get). The tests start
# their own throwaway server on a free loopback port (tests/servers/postgres_server.py), so the
# cluster that Debian's package may create is not used and need not be running.
set -euo pipefail

have_postgres() {
    if command -v initdb >/dev/null 2>&1; then
        return 0
    fi
    local candidate
    for candidate in /usr/lib/postgresql/*/bin/initdb; do
        [ -x "$candidate" ] && return 0
    done
    return 1
}

if have_postgres; then
    echo "install-postgres: PostgreSQL already installed"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "install-postgres: PostgreSQL is missing; run this script as root (apt-get)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends postgresql

if ! have_postgres; then
    echo "install-postgres: apt-get installed postgresql but no initdb was found" >&2
    exit 1
fi
echo "install-postgres: installed $(ls -d /usr/lib/postgresql/*/bin | tail -n 1)"
