"""``serve``'s typed settings, and the checks made before the server starts.

No Starlette, no uvicorn here: the CLI builds a :class:`ServeSettings` and hands it to
:func:`chatwoot_health.serve.run`.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr

from chatwoot_health.check import CheckOptions
from chatwoot_health.report.options import ReportSettings

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787
DEFAULT_PREFIX = "/admin/chatwoot-health"
SECRET_FILE_NAME = ".chatwoot-health-secret"
SESSION_LIFETIME = timedelta(hours=12)
MAX_SECRET_FILE_BYTES = 4096


class ServeError(Exception):
    """The server cannot start; the message is one sentence (exit UNKNOWN)."""


@dataclass(frozen=True)
class ServeSettings:
    """Everything ``serve`` needs. ``report`` is what the CLI's ``report`` is given (so the API
    answers with the CLI's bytes); ``check`` is how a run is made (None: Chatwoot is not
    configured, so nothing can run)."""

    report: ReportSettings
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    prefix: str = DEFAULT_PREFIX
    #: The break-glass credential: compared in constant time, never sent to Chatwoot.
    admin_token: SecretStr | None = None
    #: Signs the session cookie; None = generated once into the artifacts directory.
    secret_key: SecretStr | None = None
    metrics_public: bool = False
    #: The identity provider: a token is admitted if its user administers ``account_id`` here.
    chatwoot_url: str | None = None
    account_id: int | None = None
    timeout: float = 5.0
    session_lifetime: timedelta = SESSION_LIFETIME
    #: Sign-in attempts allowed per client address per minute.
    login_attempts_per_minute: int = 5
    #: How "Run check now" (and the scheduler) run ``check``; None = Chatwoot not configured.
    check: CheckOptions | None = None
    #: Seconds between two liveness probes of the scheduler (a full check runs every
    #: ``report.interval``).
    liveness_interval: float = 30.0

    @property
    def artifacts_dir(self) -> Path:
        return self.report.artifacts_dir

    @property
    def chatwoot_sign_in(self) -> bool:
        return self.chatwoot_url is not None and self.account_id is not None


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def refusal(settings: ServeSettings) -> str | None:
    """Why the server must not start, or None. Off loopback, someone must be able to sign in,
    and only an administrator: a configured credential is the only gate there is."""
    if is_loopback(settings.host):
        return None
    if settings.admin_token is None and not settings.chatwoot_sign_in:
        return (
            f"refusing to listen on {settings.host}: set CHATWOOT_HEALTH_ADMIN_TOKEN or "
            "CHATWOOT_BASE_URL and CHATWOOT_ACCOUNT_ID so that only administrators can sign in "
            "(or listen on 127.0.0.1 behind a reverse proxy)"
        )
    return None


def session_secret(settings: ServeSettings) -> str:
    """``CHATWOOT_HEALTH_SECRET_KEY``, else the secret generated once into a 0600 file beside the
    artifacts (so sessions survive a restart). Raises :class:`ServeError`."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    from chatwoot_health.fileio import NotReadable, read_regular

    path = settings.artifacts_dir / SECRET_FILE_NAME
    try:
        settings.artifacts_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise ServeError(
            f"cannot create the session secret {path} ({exc.strerror or exc}): make the artifacts "
            "directory writable or set CHATWOOT_HEALTH_SECRET_KEY"
        ) from None
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
    try:
        text = read_regular(os.fspath(path), MAX_SECRET_FILE_BYTES).decode("ascii").strip()
    except (NotReadable, OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not a small ASCII file"
        raise ServeError(f"cannot read the session secret {path}: {reason}") from None
    if len(text) < 32:
        raise ServeError(
            f"the session secret {path} is shorter than 32 characters: delete it to generate one"
        )
    return text
