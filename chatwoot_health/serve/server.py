"""Start uvicorn with the app: refuse an unsafe bind first, then serve until SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from datetime import timedelta
from typing import TYPE_CHECKING

from chatwoot_health.serve.settings import ServeError, ServeSettings, refusal
from chatwoot_health.state import ExitCode
from chatwoot_health.timeutil import utc_now

if TYPE_CHECKING:
    from chatwoot_health.serve.runner import BackgroundScheduler

log = logging.getLogger("chatwoot_health.serve")
STOP = (signal.SIGTERM, signal.SIGINT)


def serve(settings: ServeSettings) -> int:
    import uvicorn

    from chatwoot_health.serve.app import create_app

    why = refusal(settings)
    if why is not None:
        _say(why)
        return int(ExitCode.UNKNOWN)
    if settings.admin_token is None and not settings.chatwoot_sign_in:
        _say(
            "nobody can sign in: set CHATWOOT_HEALTH_ADMIN_TOKEN, or CHATWOOT_BASE_URL and "
            "CHATWOOT_ACCOUNT_ID (only /healthz will answer)"
        )
    try:
        app = create_app(settings, clock=utc_now, scheduler=scheduler(settings))
    except ServeError as exc:
        _say(str(exc))
        return int(ExitCode.UNKNOWN)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s: %(message)s")
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        proxy_headers=True,  # X-Forwarded-Proto/-For, from forwarded_allow_ips only
        server_header=False,
        ws="none",
        # SIGTERM: out within 10 s — open requests get 4 s, a run in progress app.STOP_SECONDS
        timeout_graceful_shutdown=4,
        log_config=None,
    )
    server = uvicorn.Server(config)
    where = f"http://{settings.host}:{settings.port}{settings.prefix}/"
    log.info("chatwoot-health serve: listening on %s", where)
    # uvicorn handles SIGTERM/SIGINT while it runs (a graceful shutdown) and raises the signal
    # again once it has stopped; a requested stop is a normal end (exit 0), not "interrupted".
    previous = {}
    if threading.current_thread() is threading.main_thread():
        previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP}
    try:
        server.run()
    except SystemExit:  # uvicorn exits 1 when it cannot bind: "could not serve" is UNKNOWN
        return int(ExitCode.UNKNOWN)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return int(ExitCode.OK) if server.started else int(ExitCode.UNKNOWN)


def scheduler(settings: ServeSettings) -> BackgroundScheduler | None:
    """The background checks, when Chatwoot is configured (else "Run check now" says why)."""
    from chatwoot_health.serve.runner import BackgroundScheduler

    if settings.check is None:
        return None
    return BackgroundScheduler(
        settings.check,
        utc_now,
        settings.report.interval,
        timedelta(seconds=settings.liveness_interval),
    )


def _say(message: str) -> None:
    from chatwoot_health.redact import printable, redact_url

    print(f"chatwoot-health: {printable(redact_url(message))}", file=sys.stderr)
