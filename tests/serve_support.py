"""``serve`` under a real uvicorn on 127.0.0.1, in a thread, with the sign-in helpers."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette

from chatwoot_health.check import CheckOptions
from chatwoot_health.config import report_settings, resolve
from chatwoot_health.models.artifact import InboxHour
from chatwoot_health.probes.chatwoot import ProbeSettings
from chatwoot_health.serve.app import create_app
from chatwoot_health.serve.runner import Scheduler
from chatwoot_health.serve.settings import ServeSettings
from tests.factory import series, write_all
from tests.servers.chatwoot_server import MEMBER_ACCOUNT

PREFIX = "/admin/chatwoot-health"
BREAK_GLASS = "break-glass-credential-0123456789"
SECRET_KEY = "s" * 48
#: The history's last run is at AT - 1 minute; "now" is AT.
AT = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
AT_ISO = "2026-11-27T12:00:00Z"


def write_history(directory: Path, hours: int = 30) -> None:
    """A day and more of runs every 5 minutes, with a 20-minute outage 3 hours ago."""
    start = AT - timedelta(hours=hours) + timedelta(minutes=4)
    before = series(start, hours * 12 - 40)
    outage = series(before[-1].checked_at + timedelta(minutes=5), 4, up=False)
    after = series(outage[-1].checked_at + timedelta(minutes=5), 36, ms=140.0)
    # Two channels' traffic over the last hours, so the page has share bars.
    hours = [AT.replace(minute=0) - timedelta(hours=h) for h in range(1, 6)]
    activity = [
        InboxHour(
            inbox_id=inbox,
            channel_type=kind,
            hour=hour,
            incoming_messages=3 * inbox,
            avg_first_response_seconds=300.0,
            first_response_count=2,
        )
        for hour in hours
        for inbox, kind in ((1, "Channel::Email"), (2, "Channel::WebWidget"))
    ]
    last = after[-1].model_copy(update={"inbox_activity": activity})
    write_all(directory, [*before, *outage, *after[:-1], last])


def serve_settings(
    artifacts_dir: Path, chatwoot_url: str | None = None, token: str | None = None, **extra: object
) -> ServeSettings:
    values = resolve({"artifacts_dir": artifacts_dir}, env={})
    check = None
    if chatwoot_url is not None:
        probes = ProbeSettings(
            base_url=chatwoot_url,
            api_token=SecretStr(token) if token else None,
            account_id=MEMBER_ACCOUNT,
            health_path=None,
            agent_health_url=None,
            timeout=2.0,
            agent_slow=5.0,
            agent_timeout=10.0,
            liveness_only=False,
            run_timeout=10.0,
        )
        check = CheckOptions(probes=probes, artifacts_dir=artifacts_dir)
    settings = ServeSettings(
        report=report_settings(values),
        admin_token=SecretStr(BREAK_GLASS),
        secret_key=SecretStr(SECRET_KEY),
        chatwoot_url=chatwoot_url,
        account_id=MEMBER_ACCOUNT if chatwoot_url else None,
        timeout=2.0,
        check=check,
    )
    return replace(settings, **extra)  # type: ignore[arg-type]


class Clock:
    """The app's clock: fixed unless moved, so reports are reproducible."""

    def __init__(self, now: datetime = AT) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class LiveServer:
    app: Starlette
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.servers[0].sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, trust_env=False, **kwargs)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        assert not self.thread.is_alive(), "uvicorn did not stop"


def start(
    settings: ServeSettings,
    clock: Callable[[], datetime] | None = None,
    scheduler: Scheduler | None = None,
) -> LiveServer:
    app = create_app(settings, clock=clock or Clock(), scheduler=scheduler)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws="none",
        http="h11",
        lifespan="on",
        timeout_graceful_shutdown=5,
        log_config=None,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn failed to start"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.01)
    return LiveServer(app, server, thread)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1)


def sign_in(client: httpx.Client, token: str) -> httpx.Response:
    form = client.get(f"{PREFIX}/login")
    assert form.status_code == 200
    return client.post(f"{PREFIX}/login", data={"token": token, "csrf_token": csrf_of(form.text)})
