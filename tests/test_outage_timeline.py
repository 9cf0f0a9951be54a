"""The outage timeline end to end: the Chatwoot stand-in goes down, ``chatwoot-health check`` runs
as cron would (a subprocess, the schedule shortened through the settings), and a real HTTP
receiver (ALERT_WEBHOOK_URL) and a real SMTP server (CHATWOOT_HEALTH_NOTIFY=mailto://…) count
what reaches people. Loopback only.

Schedule: CHATWOOT_HEALTH_INTERVAL 6 s, RETRY_INTERVAL 1 s, DOWN_AFTER 4 s (the defaults are
5 min, 30 s and 2 min: the same timeline, fifty times slower).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from email.header import decode_header, make_header
from pathlib import Path

import pytest

from tests.factory import artifact_files
from tests.servers.chatwoot_server import MEMBER_ACCOUNT, ChatwootServer
from tests.servers.receiver import Receiver
from tests.servers.smtp import SmtpServer

TOKEN = "outage-timeline-token-0123456789"
INTERVAL, RETRY, DOWN_AFTER = 6.0, 1.0, 4.0
ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    ended: float  # time.time() when the process had exited: every delivery happened before


@dataclass
class Timeline:
    server: ChatwootServer
    receiver: Receiver
    smtp: SmtpServer
    directory: Path

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "LC_ALL", "TZ")}
        return {
            **keep,
            "PYTHONPATH": str(ROOT),
            "CHATWOOT_BASE_URL": self.server.url,
            "CHATWOOT_API_TOKEN": TOKEN,
            "CHATWOOT_ACCOUNT_ID": str(MEMBER_ACCOUNT),
            "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(self.directory),
            "CHATWOOT_HEALTH_INTERVAL": f"{INTERVAL:g}s",
            "CHATWOOT_HEALTH_RETRY_INTERVAL": f"{RETRY:g}",
            "CHATWOOT_HEALTH_DOWN_AFTER": f"{DOWN_AFTER:g}s",
            "CHATWOOT_HEALTH_TIMEOUT": "2",
            "ALERT_WEBHOOK_URL": self.receiver.url(),
            "CHATWOOT_HEALTH_NOTIFY": self.smtp.mailto(),
        }

    def start(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "chatwoot_health", "check"],
            env=self.env(),
            cwd=self.directory.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )

    def check(self) -> Run:
        return finish(self.start())

    def down(self, times: int | None = None) -> None:
        self.server.fault("/health", "502", times)

    def up(self) -> None:
        self.server.behaviour.faults.pop("/health", None)

    def messages(self) -> list[str]:
        """Each delivered message's id (webhook) and subject (mail), as ``<alert> <kind>``."""
        ids = [r.json()["id"] for r in self.receiver.received]
        return [" ".join(i.split("/")[2::2]) for i in ids]

    def mails(self) -> list[str]:
        """Each mail's subject, decoded (it carries an emoji, so it is MIME-encoded)."""
        return [str(make_header(decode_header(str(m["Subject"])))) for m in self.smtp.messages]

    def latest(self) -> dict[str, object]:
        path = artifact_files(self.directory)[-1]
        loaded: dict[str, object] = json.loads(path.read_text())
        return loaded


def finish(process: subprocess.Popen[str]) -> Run:
    stdout, stderr = process.communicate(timeout=60)
    return Run(process.returncode, stdout, stderr, time.time())


@pytest.fixture
def line(tmp_path: Path) -> Iterator[Timeline]:
    with (
        ChatwootServer(TOKEN) as server,
        Receiver() as receiver,
        SmtpServer() as smtp,
    ):
        yield Timeline(server, receiver, smtp, tmp_path / "artifacts")


def wait_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.monotonic()))


def nagios(stdout: str) -> tuple[str, str]:
    """As Nagios reads a plugin's output: the first line, split at `` | ``."""
    text, _, perfdata = stdout.splitlines()[0].partition(" | ")
    return text, perfdata


def first_failed_probe(artifact: dict[str, object]) -> float:
    reprobes = artifact["reprobes"]
    assert isinstance(reprobes, list) and reprobes[0]["ok"] is False
    return datetime.fromisoformat(reprobes[0]["at"].replace("Z", "+00:00")).timestamp()


def test_an_outage_is_notified_once_and_its_end_once(line: Timeline) -> None:
    start = time.monotonic()
    healthy = line.check()
    assert (healthy.code, healthy.stderr) == (0, "")  # quiet: cron mails nothing
    assert nagios(healthy.stdout)[0].startswith("CHATWOOT OK - liveness up in ")

    line.down()  # the outage begins between two runs
    wait_until(start + INTERVAL)
    outage = line.check()
    artifact = line.latest()
    assert outage.code == 2, outage.stderr
    text, perfdata = nagios(outage.stdout)
    assert text == "CHATWOOT CRITICAL - liveness down: 502 an HTML error page from /health"
    assert "rails_health=" in perfdata and "pending=3;10;20;0" in perfdata
    assert outage.stderr.splitlines()[0].startswith(
        "chatwoot-health: CRITICAL - liveness down: 502 an HTML error page from /health (since "
    )
    assert "confirmed after 4 seconds; notified: service_down)" in outage.stderr
    assert line.messages() == ["service_down start"]
    assert len(line.mails()) == 1 and "Service Down" in line.mails()[0]
    # Delivered within DOWN_AFTER + RETRY_INTERVAL + 5 s of the first failed probe.
    assert outage.ended - first_failed_probe(artifact) <= DOWN_AFTER + RETRY + 5

    line.up()
    wait_until(start + 2 * INTERVAL)
    recovered = line.check()
    assert recovered.code == 0 and "resolved: service_down" not in recovered.stderr
    assert line.messages() == ["service_down start", "service_down resolve"]
    assert len(line.mails()) == 2 and "RESOLVED" in line.mails()[1]

    wait_until(start + 3 * INTERVAL)
    assert line.check().stderr == ""
    assert len(line.receiver.received) == 2 and len(line.smtp.messages) == 2


def test_a_blip_shorter_than_down_after_notifies_no_one(line: Timeline) -> None:
    line.down(times=1)  # the first probe fails, the re-probe a second later answers
    run = line.check()
    assert (run.code, run.stderr) == (0, "")
    reprobes = line.latest()["reprobes"]
    assert isinstance(reprobes, list) and [r["ok"] for r in reprobes] == [False, True]
    assert line.latest()["status"] == "ok"
    assert line.receiver.received == [] and line.smtp.messages == []


def test_flapping_every_run_is_no_storm(line: Timeline) -> None:
    """Down at every run's first probe, up a retry later: each run records its blip, none is an
    outage, no one is paged."""
    for _ in range(4):
        line.down(times=1)
        assert line.check().code == 0
    assert line.receiver.received == [] and line.smtp.messages == []


def test_two_checks_in_the_same_second_notify_once(line: Timeline) -> None:
    """Overlapping cron runs (a slow run, a manual one) on an installation that has run
    before: the state database lets one of them start the episode."""
    assert line.check().code == 0
    line.down()
    runs = [finish(process) for process in [line.start(), line.start()]]
    assert [run.code for run in runs] == [2, 2], [run.stderr for run in runs]
    assert line.messages() == ["service_down start"]
    assert len(line.smtp.messages) == 1
