"""The systemd unit: hardened, and valid to systemd itself (``systemd-analyze verify``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent.parent / "deploy" / "chatwoot-health.service"
INSTALLED_AT = "/usr/local/bin/chatwoot-health"


def directives() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key, []).append(value)
    return found


def test_the_unit_is_hardened() -> None:
    unit = directives()
    assert unit["ExecStart"] == [f"{INSTALLED_AT} serve --host 127.0.0.1 --port 8787"]
    assert unit["Restart"] == ["on-failure"]
    for key in ("User", "EnvironmentFile", "WorkingDirectory"):
        assert unit[key][0]
    for key in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert unit[key] == ["yes"], key
    assert unit["ProtectSystem"] == ["strict"]
    # The only writable place holds the artifacts (and the session secret beside them).
    assert unit["ReadWritePaths"] == ["/var/lib/chatwoot-health"]
    artifacts = next(v for v in unit["Environment"] if v.startswith("CHATWOOT_HEALTH_ARTIFACTS"))
    assert artifacts.split("=", 1)[1].startswith("/var/lib/chatwoot-health/")
    assert unit["CapabilityBoundingSet"] == [""]


def test_systemd_analyze_verify_accepts_it(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed (the unit is checked where systemd is)")
    # verify checks that ExecStart's program exists: point it at one that does here.
    program = shutil.which("chatwoot-health") or sys.executable
    copy = tmp_path / UNIT.name
    copy.write_text(UNIT.read_text().replace(INSTALLED_AT, program))
    result = subprocess.run(
        [tool, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stderr.splitlines() if UNIT.name in line] == []
