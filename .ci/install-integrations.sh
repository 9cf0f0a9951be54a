#!/usr/bin/env bash
# The monitoring tools the integration tests verify against, installed only if missing
# (idempotent; about 20 MB, ~10 s): nagios4 (`nagios4 -v` on examples/nagios/), promtool (from the
# prometheus package: `promtool check metrics`) and rsync (the launch-gate workflow's copy step).
# Without them those tests skip, saying which tool is absent.
set -euo pipefail

missing=()
command -v nagios4 >/dev/null 2>&1 || missing+=(nagios4-core)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v rsync >/dev/null 2>&1 || missing+=(rsync)
[ "${#missing[@]}" -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "install-integrations: ${missing[*]} missing; run this script as root (apt-get)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
