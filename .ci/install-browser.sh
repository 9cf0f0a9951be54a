#!/usr/bin/env bash
# Install what the browser tests (tests/test_dashboard_browser.py, pytest -m browser) and
# benchmarks/bench_dashboard.py need, if it is not there yet. Idempotent; needs root on Debian.
#   - Debian's Chromium at /usr/bin/chromium (Playwright drives it with executable_path; a
#     test tool's own browser download does not work here);
#   - axe-core from npm into node_modules/ at the repository root (not saved to package.json,
#     no lock file), injected into the page by the accessibility test.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

if [ -x /usr/bin/chromium ]; then
    echo "install-browser: chromium already installed"
else
    if [ "$(id -u)" -ne 0 ]; then
        echo "install-browser: /usr/bin/chromium is missing; run this script as root (apt-get)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y chromium
fi

if [ -f "$root/node_modules/axe-core/axe.min.js" ]; then
    echo "install-browser: axe-core already installed"
else
    (cd "$root" && npm install --no-save --no-package-lock axe-core@4)
fi

echo "install-browser: chromium $(dpkg-query -W -f='${Version}' chromium 2>/dev/null || echo '?')"
echo "install-browser: axe-core $(node -p "require('$root/node_modules/axe-core/package.json').version")"
