"""``check``: run the probes, judge the run, write the artifact, return an exit code.

The flow is probe → measurement (:class:`CheckResult`) → rule (:func:`judge`) → result (the
artifact's ``status``) → exit code. No Click here and no ``sys.exit``.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx

from chatwoot_health import __version__
from chatwoot_health.artifacts.store import ArtifactWriteError, index_written, write_artifact
from chatwoot_health.models.artifact import Artifact, CheckResult, RunStatus
from chatwoot_health.probes.chatwoot import ProbeData, ProbeSettings, run_probes
from chatwoot_health.state import RUN_STATES, ExitCode, State


@dataclass(frozen=True)
class CheckOptions:
    probes: ProbeSettings
    artifacts_dir: Path
    write: bool = True


@dataclass(frozen=True)
class CheckOutcome:
    artifact: Artifact
    exit_code: ExitCode
    path: Path | None = None
    write_error: str | None = None
    auth_rejected: bool = False


def judge(checks: list[CheckResult]) -> RunStatus:
    """down: liveness failed; unknown: no liveness path; degraded: anything else failed."""
    liveness = next((check for check in checks if check.name == "rails_health"), None)
    if liveness is not None and liveness.state == "no_path":
        return RunStatus.UNKNOWN
    if liveness is not None and liveness.ok is False:
        return RunStatus.DOWN
    if any(check.ok is False for check in checks if not check.skipped):
        return RunStatus.DEGRADED
    return RunStatus.OK


def exit_code_for(status: RunStatus, auth_rejected: bool) -> ExitCode:
    """The run's state as an exit code; a rejected token or account is CRITICAL (unless the
    run could not be judged at all)."""
    state = RUN_STATES[status]
    if auth_rejected and status is not RunStatus.UNKNOWN:
        state = State.CRITICAL
    return state.exit_code


def build_artifact(
    data: ProbeData, settings: ProbeSettings, now: datetime, duration_ms: float
) -> Artifact:
    return Artifact(
        checked_at=now,
        status=judge(data.checks),
        instance=settings.base_url,
        account_id=settings.account_id,
        duration_ms=duration_ms,
        checks=data.checks,
        profile=data.profile,
        conversations=data.conversations,
        inboxes=data.inboxes,
        agents=data.agents,
        inbox_activity=data.inbox_activity,
        tool_version=__version__,
    )


def run_check(
    options: CheckOptions, now: datetime, transport: httpx.AsyncBaseTransport | None = None
) -> CheckOutcome:
    """Probe, judge, write the artifact. ``transport`` is a seam for tests; the CLI never sets
    it (see :func:`~chatwoot_health.probes.chatwoot.run_probes`)."""
    started = time.perf_counter()
    data = asyncio.run(run_probes(options.probes, now, transport))
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    artifact = build_artifact(data, options.probes, now, duration_ms)
    code = exit_code_for(artifact.status, data.auth_rejected)
    if not options.write:
        return CheckOutcome(artifact, code, auth_rejected=data.auth_rejected)
    try:
        path = write_artifact(options.artifacts_dir, artifact)
    except ArtifactWriteError as exc:
        # The run's result is lost: UNKNOWN — unless Chatwoot is down, which must still page.
        lost = code if code is ExitCode.CRITICAL else ExitCode.UNKNOWN
        return CheckOutcome(artifact, lost, write_error=str(exc), auth_rejected=data.auth_rejected)
    index_written(path)  # the report after this one reads the run from the index
    return CheckOutcome(artifact, code, path=path, auth_rejected=data.auth_rejected)
