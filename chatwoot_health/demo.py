"""``demo``: a realistic 30-day artifact history, written through the real artifact model.

It contains an outage, a latency spike, a queue backlog, a silent channel and a monitoring gap,
so that a newcomer sees every section and alert without a Chatwoot instance.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import stat
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from chatwoot_health import __version__
from chatwoot_health.artifacts.store import (
    ArtifactDirectory,
    ArtifactWriteError,
    DirectoryError,
    write_artifact,
)
from chatwoot_health.check import judge
from chatwoot_health.models.artifact import (
    Agents,
    AgentSummary,
    Artifact,
    CheckResult,
    ConversationCounts,
    Inbox,
    InboxHour,
    Profile,
    RunStatus,
)
from chatwoot_health.render.context import RenderContext
from chatwoot_health.render.report import RENDERERS
from chatwoot_health.report.build import build_report
from chatwoot_health.report.options import ReportOptions
from chatwoot_health.state import ExitCode
from chatwoot_health.timeutil import EARLIEST, iso

MARKER = ".chatwoot-health-demo"
INSTANCE = "https://chat.example.com"
INTERVAL = timedelta(minutes=5)
HOUR = timedelta(hours=1)
INBOXES = [
    Inbox(id=6, name="support@example.com", channel_type="Channel::Email"),
    Inbox(id=3, name="Website", channel_type="Channel::WebWidget"),
    Inbox(id=10, name="SMS", channel_type="Channel::TwilioSms"),
    Inbox(id=8, name="WhatsApp Sales", channel_type="Channel::Whatsapp"),
]
# messages per busy hour, average first response (minutes)
PROFILE = {6: (6.0, 18.0), 3: (4.5, 8.0), 10: (2.5, 5.0), 8: (2.0, 11.0)}


class DemoError(Exception):
    pass


@dataclass(frozen=True)
class DemoResult:
    text: str
    exit_code: ExitCode
    written: int
    at: str


@dataclass(frozen=True)
class Scenario:
    end: datetime

    @property
    def start(self) -> datetime:
        return self.end - timedelta(days=30)

    def in_outage(self, t: datetime) -> bool:
        begin = (self.end - timedelta(days=9)).replace(hour=15, minute=0, second=0, microsecond=0)
        return begin <= t < begin + timedelta(minutes=50)

    def in_gap(self, t: datetime) -> bool:
        return self.end - timedelta(days=16) <= t < self.end - timedelta(days=12)

    def in_spike(self, t: datetime) -> bool:
        begin = (self.end - timedelta(days=3)).replace(hour=18, minute=0, second=0, microsecond=0)
        return begin <= t < begin + timedelta(hours=2)

    def backlog(self, t: datetime) -> bool:
        return self.end - t <= timedelta(minutes=45)

    def sms_silent(self, t: datetime) -> bool:
        return self.end - t <= timedelta(hours=30)


@functools.lru_cache(maxsize=8192)
def _hourly_messages(inbox_id: int, hour: datetime, scenario: Scenario, seed: int) -> int:
    if inbox_id == 10 and scenario.sms_silent(hour):
        return 0
    rng = random.Random(f"{seed}:{inbox_id}:{hour.isoformat()}")
    busy = hour.weekday() < 5 and 13 <= hour.hour < 22  # roughly 9–5 in New York
    rate = PROFILE[inbox_id][0] * (1.0 if busy else 0.15)
    return max(0, round(rng.gauss(rate, rate / 3)))


@functools.lru_cache(maxsize=8192)
def _response_seconds(inbox_id: int, hour: datetime, seed: int) -> float:
    rng = random.Random(f"{seed}:frt:{inbox_id}:{hour.isoformat()}")
    return round(PROFILE[inbox_id][1] * 60 * rng.uniform(0.7, 1.3), 1)


def _bucket(
    inbox: Inbox, hour: datetime, now: datetime, scenario: Scenario, seed: int
) -> InboxHour:
    full = _hourly_messages(inbox.id, hour, scenario, seed)
    elapsed = min(1.0, max(0.0, (now - hour) / HOUR))
    messages = int(full * elapsed)
    responses = int(messages * 0.8)
    avg = _response_seconds(inbox.id, hour, seed) if responses else None
    return InboxHour(
        inbox_id=inbox.id,
        channel_type=inbox.channel_type,
        hour=hour,
        incoming_messages=messages,
        avg_first_response_seconds=avg,
        first_response_count=responses,
    )


def make_artifact(t: datetime, scenario: Scenario, rng: random.Random, seed: int) -> Artifact:
    """One run of the demo history. ``rng`` is drawn in a fixed order (checks, queue, run
    duration), so a seed always writes the same files."""
    spike = scenario.in_spike(t)

    def ms(base: float) -> float:
        value = rng.lognormvariate(0, 0.35) * base
        if spike:
            value *= rng.uniform(18, 45)
        return round(value, 1)

    if scenario.in_outage(t):
        return _outage_run(t, ms)
    checks = _healthy_checks(ms)
    conversations = _conversations(t, scenario, rng)
    agents = _agents(t)
    current = t.replace(minute=0, second=0, microsecond=0)
    activity = [
        _bucket(inbox, hour, t, scenario, seed)
        for inbox in INBOXES
        for hour in (current - HOUR, current)
    ]
    availability = agents.members[0].availability
    return Artifact(
        checked_at=t,
        status=RunStatus.OK,
        instance=INSTANCE,
        account_id=1,
        duration_ms=ms(260),
        checks=checks,
        profile=Profile(
            user_id=1, name="Alex Admin", role="administrator", availability=availability
        ),
        conversations=conversations,
        inboxes=INBOXES,
        agents=agents,
        inbox_activity=activity,
        tool_version=__version__,
    )


def _outage_run(t: datetime, ms: Callable[[float], float]) -> Artifact:
    """A run during the outage: every Chatwoot probe gets the proxy's 502, the AI agent is up."""
    page = "502 an HTML error page"
    checks = [
        _probe(ms, "rails_health", 40, 502, error=f"{page} from /health", path="/rails/health",
               state="down"),
        _probe(ms, "api_services", 40, 502, error=f"{page} from /api", state="failing"),
        *(_probe(ms, name, 40, 502, error=page)
          for name in ("profile", "conversations", "inboxes", "agents")),
        CheckResult(name="inbox_activity", ok=None, skipped=True,
                    skip_reason="needs the inbox list, which failed"),
        _probe(ms, "agent_sdk", 280, state="online"),
    ]  # fmt: skip
    return Artifact(
        checked_at=t,
        status=judge(checks),
        instance=INSTANCE,
        account_id=1,
        checks=checks,
        tool_version=__version__,
        duration_ms=ms(60),
    )


def _healthy_checks(ms: Callable[[float], float]) -> list[CheckResult]:
    services: Detail = {"data_services": "ok", "queue_services": "ok", "version": "4.15.0"}
    return [
        _probe(ms, "rails_health", 45, path="/health", state="up"),
        _probe(ms, "api_services", 60, path="/api", state="ok", detail=services),
        _probe(ms, "profile", 120),
        _probe(ms, "conversations", 180),
        _probe(ms, "inboxes", 110),
        _probe(ms, "agents", 100),
        _probe(ms, "inbox_activity", 240, detail={"inboxes": len(INBOXES)}),
        _probe(ms, "agent_sdk", 280, state="online"),
    ]


Detail = dict[str, str | int | float | bool | None]


def _probe(
    ms: Callable[[float], float],
    name: str,
    typical_ms: float,
    status: int = 200,
    *,
    error: str | None = None,
    path: str | None = None,
    state: str | None = None,
    detail: Detail | None = None,
) -> CheckResult:
    """A probe's result: ok when it answered 2xx, with a duration drawn around ``typical_ms``."""
    return CheckResult(
        name=name,
        ok=200 <= status < 300,
        status_code=status,
        duration_ms=ms(typical_ms),
        error=error,
        path=path,
        state=state,
        detail=detail,
    )


def _conversations(t: datetime, scenario: Scenario, rng: random.Random) -> ConversationCounts:
    pending = rng.randint(14, 17) if scenario.backlog(t) else rng.randint(1, 6)
    return ConversationCounts(
        open=rng.randint(9, 15),
        pending=pending,
        resolved=rng.randint(40, 55),
        snoozed=rng.randint(0, 2),
    )


def _agents(t: datetime) -> Agents:
    """Two of three agents at work on weekday afternoons (UTC), everyone offline otherwise."""
    local_busy = t.weekday() < 5 and 13 <= t.hour < 22
    states = ["online" if local_busy else "offline", "busy" if local_busy else "offline", "offline"]
    names = [("Alex Admin", "administrator"), ("Sam Reviewer", "agent"), ("Kim", "agent")]
    members = [
        AgentSummary(name=n, role=r, availability=s)
        for (n, r), s in zip(names, states, strict=True)
    ]
    return Agents(
        online=states.count("online"),
        busy=states.count("busy"),
        offline=states.count("offline"),
        members=members,
    )


def generate(directory: Path, end: datetime, seed: int) -> int:
    scenario = Scenario(end)
    rng = random.Random(seed)
    t = scenario.start + INTERVAL
    written = 0
    while t <= end:
        jitter = timedelta(seconds=rng.uniform(0, 4))
        if not scenario.in_gap(t):
            artifact = make_artifact(t + jitter, scenario, rng, seed)
            try:
                write_artifact(directory, artifact, durable=False)
            except ArtifactWriteError as exc:
                raise DemoError(str(exc)) from None
            written += 1
        t += INTERVAL
    return written


def _prepare(directory: Path) -> None:
    """Make ``directory`` ready: new, empty, or a previous demo (whose artifact files go)."""
    try:
        if directory.exists() and not directory.is_dir():
            raise DemoError(f"{directory} exists and is not a directory")
        if directory.exists() and any(directory.iterdir()):
            if not (directory / MARKER).exists():
                raise DemoError(f"{directory} is not empty and holds no demo: choose another --dir")
            listing = ArtifactDirectory(directory)
            names, _misnamed = listing.scan()
            for _stamp, name in names:
                path = listing.file(name)
                # Only regular files: a directory or a link named like an artifact stays.
                if stat.S_ISREG(os.lstat(path).st_mode):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
            for month in listing.months:
                with contextlib.suppress(OSError):  # emptied: the new history makes its own
                    os.rmdir(directory / month)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / MARKER).write_text("written by `chatwoot-health demo`\n")
    except OSError as exc:
        raise DemoError(f"cannot write to {directory}: {exc.strerror or exc}") from None
    except DirectoryError as exc:
        raise DemoError(str(exc)) from None


def run_demo(directory: Path, now: datetime, seed: int, colour: bool) -> DemoResult:
    if now - timedelta(days=31) < EARLIEST:
        raise DemoError(f"--at {iso(now)} is too early: the 30-day history must start after 1970")
    _prepare(directory)
    # Finish the history a little before "now" so that the report reads it as fresh.
    end = now - timedelta(seconds=30)
    written = generate(directory, end, seed)
    outcome = build_report(ReportOptions(artifacts_dir=directory, now=now))
    text = RENDERERS["table"](outcome.report, RenderContext(detailed=True, colour=colour))
    return DemoResult(text=text, exit_code=outcome.exit_code, written=written, at=iso(now))
