"""The outage timeline under ``chatwoot-health serve`` (a subprocess, configured through the
environment as systemd would, the schedule shortened): the Chatwoot stand-in stops between two
full checks, the liveness tick notices, a full check confirms it with ``check``'s rule, and a real
HTTP receiver (ALERT_WEBHOOK_URL) gets exactly one ``service_down`` and, once the stand-in is
back, exactly one resolution. Also: cron's ``check`` and ``serve`` on one directory page once,
and SIGTERM in the middle of a run ends the process within 10 s without a partial artifact.
Loopback only.

Schedule: CHATWOOT_HEALTH_INTERVAL 1 h (only the first full check is scheduled: the rest come
from the liveness tick), LIVENESS_INTERVAL 1 s, RETRY_INTERVAL 1 s, DOWN_AFTER 4 s (the defaults
are 5 min, 30 s, 30 s and 2 min).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from chatwoot_health.artifacts.store import FILE_NAME
from chatwoot_health.models.artifact import Artifact
from tests.factory import artifact_files
from tests.servers.chatwoot_server import MEMBER_ACCOUNT, ChatwootServer, closed_port
from tests.servers.receiver import Receiver

TOKEN = "serve-timeline-token-0123456789"
LIVENESS, RETRY, DOWN_AFTER = 1.0, 1.0, 4.0
ROOT = Path(__file__).resolve().parent.parent


def wait_for(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {within:g} s"
        time.sleep(0.05)


@dataclass
class Line:
    chatwoot: ChatwootServer
    receiver: Receiver
    directory: Path
    port: int = 0
    processes: list[subprocess.Popen[str]] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        return {
            **keep,
            "PYTHONPATH": str(ROOT),
            "CHATWOOT_BASE_URL": f"http://127.0.0.1:{self.port}",
            "CHATWOOT_API_TOKEN": TOKEN,
            "CHATWOOT_ACCOUNT_ID": str(MEMBER_ACCOUNT),
            "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(self.directory),
            "CHATWOOT_HEALTH_INTERVAL": "1h",
            "CHATWOOT_HEALTH_LIVENESS_INTERVAL": f"{LIVENESS:g}",
            "CHATWOOT_HEALTH_RETRY_INTERVAL": f"{RETRY:g}",
            "CHATWOOT_HEALTH_DOWN_AFTER": f"{DOWN_AFTER:g}s",
            "CHATWOOT_HEALTH_TIMEOUT": "1",
            "CHATWOOT_HEALTH_SECRET_KEY": "k" * 40,
            "ALERT_WEBHOOK_URL": self.receiver.url(),
            **extra,
        }

    def spawn(self, *args: str, **extra: str) -> subprocess.Popen[str]:
        """``chatwoot-health ARGS`` as cron or systemd starts it (no TTY, stdin /dev/null)."""
        process = subprocess.Popen(
            [sys.executable, "-m", "chatwoot_health", *args],
            env=self.env(**extra),
            cwd=self.directory.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.processes.append(process)
        return process

    def serve(self, **extra: str) -> tuple[subprocess.Popen[str], str]:
        port = closed_port()
        process = self.spawn("serve", "--port", str(port), **extra)
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            assert process.poll() is None, process.communicate()[1]
            try:
                return httpx.get(url + "/healthz", timeout=1, trust_env=False).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(healthy, 15, "serve answering /healthz")
        return process, url

    def check(self) -> subprocess.Popen[str]:
        return self.spawn("check")

    def stop_chatwoot(self) -> float:
        self.chatwoot.stop()
        return time.monotonic()

    def start_chatwoot(self) -> float:
        self.chatwoot.start(self.port)
        return time.monotonic()

    def messages(self) -> list[str]:
        """Each delivered message as ``<alert> <kind>``."""
        ids = [r.json()["id"] for r in self.receiver.received]
        return [" ".join(i.split("/")[2::2]) for i in ids]

    def runs(self) -> list[Artifact]:
        found = [Artifact.model_validate_json(p.read_bytes()) for p in self.artifact_files()]
        return sorted(found, key=lambda artifact: artifact.checked_at)

    def artifact_files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []  # before the first run
        return [p for p in artifact_files(self.directory) if FILE_NAME.match(p.name)]


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Line]:
    with ChatwootServer(TOKEN) as chatwoot, Receiver() as receiver:
        found = Line(chatwoot, receiver, tmp_path / "artifacts", chatwoot.port)
        try:
            yield found
        finally:
            for process in found.processes:
                if process.poll() is None:
                    process.kill()
                process.communicate(timeout=10)


def test_an_outage_between_two_full_checks_is_notified_once_and_its_end_once(
    line: Line,
) -> None:
    process, _ = line.serve()
    wait_for(lambda: len(line.runs()) == 1, 15, "the first scheduled run")
    assert line.runs()[0].status == "ok"

    stopped = line.stop_chatwoot()  # the outage begins between two full checks
    wait_for(lambda: line.messages() != [], DOWN_AFTER + LIVENESS + 5, "service_down")
    took = time.monotonic() - stopped
    assert line.messages() == ["service_down start"]
    assert took <= DOWN_AFTER + LIVENESS + 5
    time.sleep(3 * LIVENESS)  # failed ticks after the confirmed outage: no second message
    assert line.messages() == ["service_down start"]
    assert [run.status for run in line.runs()] == ["ok", "down"]
    reprobes = line.runs()[-1].reprobes
    assert reprobes is not None and all(probe.ok is False for probe in reprobes)

    line.start_chatwoot()
    wait_for(lambda: len(line.messages()) == 2, LIVENESS + 5, "the resolution")
    time.sleep(3 * LIVENESS)
    assert line.messages() == ["service_down start", "service_down resolve"]
    assert [run.status for run in line.runs()] == ["ok", "down", "ok"]

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and TOKEN not in stderr


def test_cron_and_serve_on_one_directory_page_once(line: Line) -> None:
    """cron's ``check`` and ``serve``'s tick both see the outage and both confirm it; the
    state database beside the artifacts lets one of them start the episode."""
    line.serve()
    wait_for(lambda: len(line.runs()) == 1, 15, "the first scheduled run")
    line.stop_chatwoot()
    cron = line.check()  # cron's run, at the same moment serve's tick notices
    _, stderr = cron.communicate(timeout=30)
    assert cron.returncode == 2, stderr
    wait_for(lambda: len(line.runs()) == 3, DOWN_AFTER + LIVENESS + 5, "serve's run")
    time.sleep(2 * LIVENESS)
    assert [run.status for run in line.runs()] == ["ok", "down", "down"]
    assert line.messages() == ["service_down start"]

    line.start_chatwoot()
    wait_for(lambda: len(line.messages()) == 2, LIVENESS + 5, "the resolution")
    cron = line.check()
    assert cron.communicate(timeout=30)[1] == "" and cron.returncode == 0
    time.sleep(2 * LIVENESS)
    assert line.messages() == ["service_down start", "service_down resolve"]


def test_sigterm_in_the_middle_of_a_run_exits_within_10_s_without_a_partial_artifact(
    line: Line,
) -> None:
    """The first scheduled run finds Chatwoot down and confirms over 60 s; SIGTERM arrives
    while it re-probes. The process is gone within 10 s and every artifact file is whole."""
    line.chatwoot.fault("/health", "502")
    process, _ = line.serve(CHATWOOT_HEALTH_DOWN_AFTER="60s")
    wait_for(lambda: len(line.chatwoot.requests_to("/health")) >= 3, 15, "a run re-probing")
    assert line.runs() == []  # mid-run: nothing written yet
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=15)
    assert time.monotonic() - sent <= 10
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    leftovers = [
        p.name
        for p in line.directory.rglob("*")
        if p.is_file() and not p.name.startswith(".chatwoot")
    ]
    assert all(FILE_NAME.match(name) for name in leftovers), leftovers
    for run in line.runs():  # complete: each parses as a whole artifact
        assert run.status == "down"
        assert json.loads(run.to_json())["checked_at"]
