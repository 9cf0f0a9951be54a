#!/usr/bin/env bash
# Everything the test suite needs from the operating system, installed only if missing
# (idempotent; apt-get needs root on Debian): PostgreSQL for the Supabase integration tests,
# Chromium and axe-core (npm) for the dashboard's browser tests, nagios4, promtool and rsync for
# the integration tests. (The benchmarks want jq too;
# install it by hand: apt-get install jq.)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v npm >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-system-deps: npm is missing; run this script as root (apt-get)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends nodejs npm
fi
bash "$here/install-postgres.sh"
bash "$here/install-browser.sh"
bash "$here/install-integrations.sh"
