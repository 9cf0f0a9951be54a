"""examples/launch-gate.yml runs: its ``run:`` steps (all but the install), in order, as GitHub's
runner would (``bash --noprofile --norc -eo pipefail``), with a generated 7-day history on a
stand-in monitoring host — real ``rsync``, ``ssh`` replaced by a shim that runs the remote command
here — and a local Chatwoot-like server for the ``check`` step."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.factory import artifact, artifact_files, write_all
from tests.servers.chatwoot_server import ChatwootServer

yaml = pytest.importorskip("yaml", reason="PyYAML (the test extra) reads the workflow")
pytestmark = pytest.mark.skipif(
    shutil.which("rsync") is None, reason="rsync is not installed (.ci/install-integrations.sh)"
)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "launch-gate.yml"
SKIPPED_STEPS = {"install"}  # pip install .: the package under test is already importable

#: ssh as rsync calls it (options, [user@]host, the remote command): the command runs here.
SSH_SHIM = """#!/usr/bin/env python3
import subprocess, sys
args = sys.argv[1:]
with_value = {"-i", "-o", "-l", "-p", "-F", "-J"}
while args and args[0].startswith("-"):
    option = args.pop(0)
    if option in with_value:
        args.pop(0)
host, command = args[0], args[1:]
assert host in ("ci@monitor.example.com", "monitor.example.com"), host
sys.exit(subprocess.call(" ".join(command), shell=True))
"""


def the_workflow() -> dict[str, object]:
    data = yaml.safe_load(WORKFLOW.read_text())
    assert isinstance(data, dict)
    return data


def substitute(text: str, values: dict[str, str]) -> str:
    """``${{ vars.X }}`` and ``${{ secrets.X }}`` as the runner fills them in."""
    return re.sub(r"\$\{\{\s*(?:vars|secrets)\.(\w+)\s*\}\}", lambda m: values[m.group(1)], text)


@dataclass
class StepResult:
    id: str
    code: int
    stdout: str
    stderr: str


def run_steps(workdir: Path, env: dict[str, str], values: dict[str, str]) -> list[StepResult]:
    job = the_workflow()["jobs"]["gate"]  # type: ignore[index]
    job_env = {k: substitute(str(v), values) for k, v in job.get("env", {}).items()}
    results = []
    for step in job["steps"]:
        if "run" not in step or step.get("id") in SKIPPED_STEPS:
            continue
        step_env = {k: substitute(str(v), values) for k, v in step.get("env", {}).items()}
        done = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
            cwd=workdir,
            env={**env, **job_env, **step_env},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        results.append(StepResult(step["id"], done.returncode, done.stdout, done.stderr))
        if done.returncode != 0:
            break  # as the runner does: the job stops at the first failed step
    return results


@pytest.fixture
def stage(tmp_path: Path, api_token: str) -> tuple[Path, dict[str, str], dict[str, str]]:
    server = ChatwootServer(api_token).start()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text(SSH_SHIM)
    (bin_dir / "chatwoot-health").write_text(
        f'#!/bin/sh\nexec {sys.executable} -m chatwoot_health "$@"\n'
    )
    for shim in bin_dir.iterdir():
        shim.chmod(0o755)
    home = tmp_path / "home"
    home.mkdir()
    workdir = tmp_path / "checkout"
    workdir.mkdir()
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": str(home),
        "PYTHONPATH": str(ROOT),
        "NO_PROXY": "127.0.0.1,localhost",
        "GITHUB_ACTIONS": "true",
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
    }
    values = {
        "CHATWOOT_BASE_URL": server.url,
        "MONITOR_HOST": "monitor.example.com",
        "MONITOR_USER": "ci",
        "MONITOR_ARTIFACTS": str(tmp_path / "monitor" / "artifacts"),
        "MONITOR_SSH_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n",
        "MONITOR_KNOWN_HOSTS": "monitor.example.com ssh-ed25519 AAAAC3Nza",
    }
    yield workdir, env, values
    server.stop()


def monitoring_host(directory: Path, *, outage: bool) -> None:
    """Seven days and an hour of runs every 5 minutes up to a minute ago; with ``outage``, two
    failed runs three days ago (uptime 99.9 %, under the gate's 100 %)."""
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    count = (7 * 24 + 1) * 12
    runs = [
        artifact(now - timedelta(minutes=5) * i, up=not (outage and i in (864, 865)))
        for i in range(count)
    ]
    write_all(directory, runs)


def test_the_gate_passes_without_an_outage(
    stage: tuple[Path, dict[str, str], dict[str, str]],
) -> None:
    workdir, env, values = stage
    monitoring_host(Path(values["MONITOR_ARTIFACTS"]), outage=False)
    results = run_steps(workdir, env, values)
    assert [(r.id, r.code) for r in results] == [("check", 0), ("fetch", 0), ("gate", 0)], results
    copied = artifact_files(workdir / "artifacts/ops/chatwoot-health")
    assert len(copied) == (7 * 24 + 1) * 12
    gate = results[-1]
    assert "::error" not in gate.stderr
    assert "Chatwoot Status — ✓ Operational" in gate.stdout
    assert "Chatwoot: OK" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    key = Path(env["HOME"]) / ".ssh" / "monitor_key"
    assert key.stat().st_mode & 0o777 == 0o600


def test_the_gate_fails_on_an_outage_with_an_annotation(
    stage: tuple[Path, dict[str, str], dict[str, str]],
) -> None:
    workdir, env, values = stage
    monitoring_host(Path(values["MONITOR_ARTIFACTS"]), outage=True)
    results = run_steps(workdir, env, values)
    assert [(r.id, r.code) for r in results] == [("check", 0), ("fetch", 0), ("gate", 2)], results
    gate = results[-1]
    errors = [line for line in gate.stderr.splitlines() if line.startswith("::error")]
    assert errors == [
        "::error title=chatwoot-health%3A Uptime Below Target::CRITICAL uptime_below_target: "
        "measured uptime 99.901 %25; threshold ≥ 100 %25 (--min-uptime); window 7d"
    ]
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "## ✗ Chatwoot: CRITICAL" in summary
    assert "uptime\\_below\\_target: measured uptime 99.901 %" in summary


def test_no_evidence_is_unknown(stage: tuple[Path, dict[str, str], dict[str, str]]) -> None:
    """The monitoring host has no artifacts (cron never ran): the copy succeeds, the gate says
    so in one line and exits 3."""
    workdir, env, values = stage
    Path(values["MONITOR_ARTIFACTS"]).mkdir(parents=True)
    results = run_steps(workdir, env, values)
    assert [(r.id, r.code) for r in results] == [("check", 0), ("fetch", 0), ("gate", 3)]
    assert results[-1].stderr == (
        "chatwoot-health: no artifacts in artifacts/ops/chatwoot-health: run `chatwoot-health "
        "check` first (or `chatwoot-health demo` to see a sample)\n"
    )


def test_the_check_step_fails_when_chatwoot_is_down(
    stage: tuple[Path, dict[str, str], dict[str, str]],
) -> None:
    from tests.servers.chatwoot_server import closed_port

    workdir, env, values = stage
    values["CHATWOOT_BASE_URL"] = f"http://127.0.0.1:{closed_port()}"
    # `check` re-probes a failed liveness until the failure has lasted DOWN_AFTER (2 min).
    env.update(CHATWOOT_HEALTH_DOWN_AFTER="1", CHATWOOT_HEALTH_RETRY_INTERVAL="0.2")
    results = run_steps(workdir, env, values)
    assert [(r.id, r.code) for r in results] == [("check", 2)]
