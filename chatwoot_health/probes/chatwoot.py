"""The Chatwoot and AI-agent probes.

All probes of a run share one ``httpx.AsyncClient`` and run concurrently. Requests are memoised by
path within a run (``/api`` serves both liveness fallback and readiness), and the liveness
candidates are asked at once, the first non-404 in preference order winning: a stock Chatwoot
costs one round trip, not three.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import SecretStr

from chatwoot_health.httpbody import ACCEPT_ENCODING
from chatwoot_health.models.artifact import (
    Agents,
    AgentSummary,
    CheckResult,
    ConversationCounts,
    Inbox,
    InboxHour,
    Profile,
    Reprobe,
)
from chatwoot_health.probes.http import Fetched, get, looks_like_html

LIVENESS_PATHS = ("/rails/health", "/health", "/api")
TOKEN_HEADER = "api_access_token"  # Chatwoot's; Authorization: Bearer is not accepted
CONVERSATION_STATUSES = ("open", "pending", "resolved", "snoozed")
AGENT_STATES = ("online", "busy", "offline")
# Chatwoot allows 100 report requests a minute; each probed inbox costs 2. At one run every 5
# minutes, 40 inboxes (80 requests) a run stay under it; more inboxes are probed in turns.
MAX_REPORT_INBOXES = 40
REPORT_CONCURRENCY = 8  # report requests in flight at once
ROTATION_SLOT_SECONDS = 300  # the turn of inboxes advances once per slot of the run's time


@dataclass(frozen=True)
class ProbeSettings:
    base_url: str
    api_token: SecretStr | None
    account_id: int | None
    health_path: str | None
    agent_health_url: str | None
    timeout: float
    agent_slow: float
    agent_timeout: float
    retry_429_after: float = 1.0
    liveness_only: bool = False
    run_timeout: float = 60.0  # the whole run's deadline; unfinished probes are failed


@dataclass
class ProbeData:
    """What the probes of one run found, beside their check results."""

    checks: list[CheckResult] = field(default_factory=list)
    profile: Profile | None = None
    conversations: ConversationCounts | None = None
    inboxes: list[Inbox] | None = None
    agents: Agents | None = None
    inbox_activity: list[InboxHour] | None = None
    auth_rejected: bool = False
    #: Every liveness probe of the run when the first failed (see :meth:`_Run.confirm`).
    reprobes: list[Reprobe] | None = None


def _no_streak() -> datetime | None:
    return None


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Confirmation:
    """How a failed liveness probe is confirmed: re-probe every ``retry_interval`` seconds
    until the failure has lasted ``down_after`` seconds (CHATWOOT_HEALTH_RETRY_INTERVAL and
    CHATWOOT_HEALTH_DOWN_AFTER).

    ``streak_since`` says when the current streak of failures began in earlier runs (None: it
    begins now); it is asked only once a probe has failed. ``clock`` and ``sleep`` are seams for
    tests.
    """

    retry_interval: float
    down_after: float
    streak_since: Callable[[], datetime | None] = _no_streak
    clock: Callable[[], datetime] = _utc_now
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep


def _reprobe(at: datetime, result: CheckResult) -> Reprobe:
    return Reprobe(
        at=at,
        ok=result.ok,
        status_code=result.status_code,
        duration_ms=result.duration_ms,
        error=result.error,
    )


class _Run:
    def __init__(
        self,
        client: httpx.AsyncClient,
        settings: ProbeSettings,
        now: datetime,
        confirmation: Confirmation | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.now = now
        self.confirmation = confirmation
        self.data = ProbeData()
        self._memo: dict[str, asyncio.Task[Fetched]] = {}
        self._report_slots = asyncio.Semaphore(REPORT_CONCURRENCY)

    # ------------------------------------------------------------------ plumbing

    def fetch(
        self,
        path: str,
        params: dict[str, str | int] | None = None,
        auth: bool = False,
        slots: asyncio.Semaphore | None = None,
    ) -> Awaitable[Fetched]:
        key = path + "?" + "&".join(f"{k}={v}" for k, v in sorted((params or {}).items()))
        if key not in self._memo:
            headers = {}
            if auth and self.settings.api_token is not None:
                headers[TOKEN_HEADER] = self.settings.api_token.get_secret_value()
            request = get(
                self.client,
                path,
                timeout=self.settings.timeout,
                headers=headers,
                params=params,
                retry_429_after=self.settings.retry_429_after,
            )
            self._memo[key] = asyncio.ensure_future(
                request if slots is None else _limited(slots, request)
            )
        return self._memo[key]

    def account_path(self, suffix: str, version: str = "v1") -> str:
        return f"/api/{version}/accounts/{self.settings.account_id}{suffix}"

    def problem(self, fetched: Fetched, *, scoped: bool) -> str:
        """An actionable one-line description of a failed answer."""
        if fetched.error:
            return fetched.error
        code = fetched.status_code
        message = fetched.api_error()
        if code == 401:
            lowered = (message or "").lower()
            if "invalid access token" in lowered:
                return f"401 {message}: check CHATWOOT_API_TOKEN"
            if "sign in" in lowered:
                return (
                    "401 no token reached Chatwoot: check CHATWOOT_API_TOKEN, or a proxy that "
                    "drops the api_access_token header"
                )
            if "access this account" in lowered:
                return f"401 {message}: check CHATWOOT_ACCOUNT_ID ({self.settings.account_id})"
            if "suspended" in lowered:
                return f"401 {message}: account {self.settings.account_id} is suspended"
            if "this action" in lowered:
                return f"401 {message}: the token's user lacks the permission"
            return f"401 {message or 'Unauthorized'}: check CHATWOOT_API_TOKEN"
        if code == 404 and scoped:
            return (
                f"404 {message or 'Not Found'}: check CHATWOOT_ACCOUNT_ID "
                f"({self.settings.account_id})"
            )
        if code == 429:
            return "429 rate limited by Chatwoot (Retry later), also after one retry"
        if code is not None and code >= 500:
            kind = "an HTML error page" if looks_like_html(fetched) else "a server error"
            detail = f": {message}" if message else ""
            return f"{code} {kind} from {fetched.path}{detail}"
        if code is not None and 200 <= code < 300 and not fetched.is_json:
            return (
                f"{code} but the body is not JSON ({'HTML' if looks_like_html(fetched) else 'text'}"
                "): is CHATWOOT_BASE_URL the Chatwoot URL and not a proxy or login page?"
            )
        if code is not None and 300 <= code < 400:
            return f"{code} redirect from {fetched.path}: use the final URL in CHATWOOT_BASE_URL"
        return f"{code} {message or 'unexpected answer'} from {fetched.path}"

    def rejected(self, fetched: Fetched) -> bool:
        """The token or the account was refused (CRITICAL), as opposed to a missing permission."""
        if fetched.status_code == 404:
            return True
        if fetched.status_code != 401:
            return False
        return "this action" not in (fetched.api_error() or "").lower()

    # ------------------------------------------------------------------ probes

    async def rails_health(self, fresh: bool = False) -> CheckResult:
        """The liveness verdict; ``fresh``: ask again (a re-probe), not the run's memo."""
        pinned = self.settings.health_path
        paths = (pinned,) if pinned else LIVENESS_PATHS
        started = time.perf_counter()
        fetch = self._fetch_fresh if fresh else self.fetch
        answers = await asyncio.gather(*(fetch(path) for path in paths))
        for path, fetched in zip(paths, answers, strict=True):
            if fetched.status_code == 404 and not pinned:
                continue  # not this candidate: the next one in preference order
            return self._liveness(path, fetched)
        return CheckResult(
            name="rails_health",
            ok=None,
            state="no_path",
            status_code=404,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
            error="no liveness path: /rails/health, /health and /api all answered 404, a "
            "configuration problem, not an outage: is CHATWOOT_BASE_URL the Chatwoot URL? Pin a "
            "path with CHATWOOT_HEALTH_PATH",
        )

    def _fetch_fresh(self, path: str) -> Awaitable[Fetched]:
        return get(
            self.client,
            path,
            timeout=self.settings.timeout,
            retry_429_after=self.settings.retry_429_after,
        )

    async def confirm(self, first: CheckResult, started: datetime) -> CheckResult:
        """Confirm a failed liveness probe (Nagios' soft state): re-probe every
        ``retry_interval`` until liveness answers again or it has been failing for ``down_after``
        — counted from the first failure of the streak, which an earlier run may have seen — so
        that ``service_down`` starts in this run. Every probe is recorded in ``reprobes``; the
        result is the last one's (the run's final liveness verdict)."""
        plan = self.confirmation
        assert plan is not None
        since = min(plan.streak_since() or started, started)
        down_after = timedelta(seconds=plan.down_after)
        retry = timedelta(seconds=plan.retry_interval)
        # The confirmation's own deadline (it extends CHATWOOT_HEALTH_RUN_TIMEOUT): the last
        # probe is due by since + down_after ≤ started + down_after, and takes at most a timeout.
        deadline = started + down_after + retry + timedelta(seconds=self.settings.timeout)
        probes = [_reprobe(started, first)]
        result, previous, last_failed = first, started, started
        while last_failed - since < down_after:
            now = plan.clock()
            due = min(previous + retry, since + down_after)
            wait = max(0.0, (due - now).total_seconds())
            if now + timedelta(seconds=wait + self.settings.timeout) > deadline:
                break  # cannot be confirmed in time (a clock that jumped): leave it to next run
            await plan.sleep(wait)
            previous = plan.clock()
            result = await self.rails_health(fresh=True)
            probes.append(_reprobe(previous, result))
            if result.ok is not False:
                break  # it answers again (a blip), or cannot be judged: not an outage
            last_failed = previous
        self.data.reprobes = probes
        return result

    def _liveness(self, path: str, fetched: Fetched) -> CheckResult:
        """The verdict of the liveness path that answered (a 404 only when the path is pinned)."""
        base = {
            "name": "rails_health",
            "path": path,
            "status_code": fetched.status_code,
            "duration_ms": fetched.duration_ms,
        }
        code = fetched.status_code
        if code is not None and 200 <= code < 300:
            ok, state, error = _api_liveness(fetched) if path == "/api" else (True, "up", None)
            return CheckResult(**base, ok=ok, state=state, error=error)
        if code == 404:  # the pinned path does not exist
            return CheckResult(
                **base,
                ok=None,
                state="no_path",
                error=f"404 on {path}: CHATWOOT_HEALTH_PATH names a path this Chatwoot "
                "does not serve (try /health or /api)",
            )
        if code is not None and code < 500:
            # A redirect, 401, 403, 405…: something answers, but not a health check. That
            # is a configuration problem (a proxy, a login page), not an outage.
            return CheckResult(
                **base,
                ok=None,
                state="no_path",
                error=f"{self.problem(fetched, scoped=False)} — {path} answered {code}, "
                "not a health check: a proxy or login in front of Chatwoot? Pin a path with "
                "CHATWOOT_HEALTH_PATH",
            )
        # No connection, a timeout, TLS, or a 5xx: down.
        return CheckResult(
            **base, ok=False, state="down", error=self.problem(fetched, scoped=False)
        )

    async def api_services(self) -> CheckResult:
        fetched = await self.fetch("/api")
        base = {
            "name": "api_services",
            "path": "/api",
            "status_code": fetched.status_code,
            "duration_ms": fetched.duration_ms,
        }
        ok_answer = fetched.status_code is not None and 200 <= fetched.status_code < 300
        if not ok_answer or not isinstance(fetched.body, dict):
            return CheckResult(
                **base, ok=False, state="failing", error=self.problem(fetched, scoped=False)
            )
        body = fetched.body
        if "data_services" not in body or "queue_services" not in body:
            return CheckResult(
                **base,
                ok=False,
                state="failing",
                error=f"{fetched.status_code} but /api has no data_services/"
                "queue_services: is CHATWOOT_BASE_URL the Chatwoot URL?",
            )
        detail: dict[str, str | int | float | bool | None] = {
            "data_services": str(body["data_services"]),
            "queue_services": str(body["queue_services"]),
            "version": str(body.get("version")) if body.get("version") is not None else None,
        }
        failing = _failing_services(fetched)
        if failing:
            return CheckResult(
                **base,
                ok=False,
                state="failing",
                detail=detail,
                error=f"Chatwoot reports {failing}",
            )
        return CheckResult(**base, ok=True, state="ok", detail=detail)

    async def profile(self) -> CheckResult:
        fetched = await self.fetch("/api/v1/profile", auth=True)
        result = self._failed("profile", fetched, scoped=False)
        if result:
            return result
        body = fetched.body
        if not isinstance(body, dict) or not isinstance(body.get("id"), int):
            return self._shape_error("profile", fetched, "a user object")
        role = availability = None
        for account in body.get("accounts") or []:
            if isinstance(account, dict) and account.get("id") == self.settings.account_id:
                role = account.get("role")
                availability = account.get("availability_status") or account.get("availability")
        if role is None:
            role = body.get("role")
        self.data.profile = Profile(
            user_id=body["id"],
            name=str(body.get("available_name") or body.get("name") or ""),
            role=str(role) if role is not None else None,
            availability=str(availability) if availability is not None else None,
        )
        return _ok("profile", fetched)

    async def conversations(self) -> CheckResult:
        started = time.perf_counter()
        answers = await asyncio.gather(
            *(
                self.fetch(self.account_path("/conversations/meta"), {"status": status}, True)
                for status in CONVERSATION_STATUSES
            )
        )
        duration = round((time.perf_counter() - started) * 1000, 1)
        counts: dict[str, int] = {}
        for status, fetched in zip(CONVERSATION_STATUSES, answers, strict=True):
            failed = self._failed("conversations", fetched, scoped=True)
            if failed:
                return failed.model_copy(update={"duration_ms": duration})
            meta = fetched.body.get("meta") if isinstance(fetched.body, dict) else None
            if not isinstance(meta, dict) or not isinstance(meta.get("all_count"), int):
                return self._shape_error("conversations", fetched, "{meta: {all_count}}")
            counts[status] = meta["all_count"]
        self.data.conversations = ConversationCounts(**counts)
        return CheckResult(name="conversations", ok=True, status_code=200, duration_ms=duration)

    async def _inbox_list(self) -> tuple[CheckResult, list[Inbox] | None]:
        fetched = await self.fetch(self.account_path("/inboxes"), auth=True)
        failed = self._failed("inboxes", fetched, scoped=True)
        if failed:
            return failed, None
        payload = fetched.body.get("payload") if isinstance(fetched.body, dict) else None
        if not isinstance(payload, list):
            return self._shape_error("inboxes", fetched, "{payload: [...]}"), None
        inboxes: list[Inbox] = []
        for item in payload:
            if isinstance(item, dict) and isinstance(item.get("id"), int):
                inboxes.append(
                    Inbox(
                        id=item["id"],
                        name=str(item.get("name") or f"inbox {item['id']}"),
                        channel_type=str(item.get("channel_type") or "unknown"),
                    )
                )
        return _ok("inboxes", fetched), inboxes

    async def inboxes(self) -> CheckResult:
        result, inboxes = await self._inbox_task
        self.data.inboxes = inboxes
        return result

    async def agents(self) -> CheckResult:
        fetched = await self.fetch(self.account_path("/agents"), auth=True)
        failed = self._failed("agents", fetched, scoped=True)
        if failed:
            return failed
        if not isinstance(fetched.body, list):
            return self._shape_error("agents", fetched, "a list of agents")
        tally: Counter[str] = Counter()
        members: list[AgentSummary] = []
        for item in fetched.body:
            if not isinstance(item, dict):
                continue
            state = str(item.get("availability_status") or "offline")
            state = state if state in AGENT_STATES else "offline"
            tally[state] += 1
            members.append(
                AgentSummary(
                    name=str(item.get("available_name") or item.get("name") or "?"),
                    role=str(item["role"]) if item.get("role") else None,
                    availability=state,
                )
            )
        self.data.agents = Agents(
            online=tally["online"], busy=tally["busy"], offline=tally["offline"], members=members
        )
        return _ok("agents", fetched)

    async def inbox_activity(self) -> CheckResult:
        _listing, inboxes = await self._inbox_task
        if inboxes is None:
            return CheckResult(
                name="inbox_activity",
                ok=None,
                skipped=True,
                skip_reason="needs the inbox list, which failed",
            )
        current = self.now.replace(minute=0, second=0, microsecond=0)
        previous = current - timedelta(hours=1)
        params_base: dict[str, str | int] = {
            "type": "inbox",
            "since": int(previous.timestamp()),
            "until": int((current + timedelta(hours=1)).timestamp()),
            "group_by": "hour",
        }
        total = len(inboxes)
        inboxes = _inboxes_in_turn(inboxes, self.now)
        started = time.perf_counter()
        jobs = []
        for inbox in inboxes:
            for metric in ("incoming_messages_count", "avg_first_response_time"):
                params = {**params_base, "metric": metric, "id": inbox.id}
                path = self.account_path("/reports", "v2")
                jobs.append(self.fetch(path, params, True, slots=self._report_slots))
        answers = await asyncio.gather(*jobs)
        duration = round((time.perf_counter() - started) * 1000, 1)
        for fetched in answers:
            if fetched.status_code == 401 and "this action" in (fetched.api_error() or "").lower():
                return CheckResult(
                    name="inbox_activity",
                    ok=None,
                    skipped=True,
                    status_code=401,
                    duration_ms=duration,
                    skip_reason="token lacks report permission",
                )
            failed = self._failed("inbox_activity", fetched, scoped=True)
            if failed:
                return failed.model_copy(update={"duration_ms": duration})
            if not isinstance(fetched.body, list):
                return self._shape_error("inbox_activity", fetched, "a time series list")
        self.data.inbox_activity = _buckets(inboxes, answers, (previous, current))
        return CheckResult(
            name="inbox_activity",
            ok=True,
            status_code=200,
            duration_ms=duration,
            detail={"inboxes": total, "inboxes_probed": len(inboxes)},
        )

    async def agent_sdk(self) -> CheckResult:
        url = self.settings.agent_health_url
        if not url:
            return CheckResult(
                name="agent_sdk",
                ok=None,
                skipped=True,
                state="not_configured",
                skip_reason="AGENT_HEALTH_URL not set",
            )
        fetched = await get(
            self.client,
            url,
            url=url,
            timeout=self.settings.agent_timeout,
            retry_429_after=self.settings.retry_429_after,
        )
        base = {
            "name": "agent_sdk",
            "status_code": fetched.status_code,
            "duration_ms": fetched.duration_ms,
        }
        if fetched.status_code is not None and 200 <= fetched.status_code < 300:
            if fetched.duration_ms > self.settings.agent_slow * 1000:
                return CheckResult(
                    **base,
                    ok=False,
                    state="slow",
                    error=f"answered after {fetched.duration_ms / 1000:.1f} s "
                    f"(slow: over {self.settings.agent_slow:g} s)",
                )
            return CheckResult(**base, ok=True, state="online")
        error = fetched.error or f"{fetched.status_code} from AGENT_HEALTH_URL"
        if (
            fetched.status_code is not None
            and fetched.status_code >= 500
            and looks_like_html(fetched)
        ):
            error += " (an HTML error page)"
        return CheckResult(**base, ok=False, state="offline", error=error)

    # ------------------------------------------------------------------ helpers

    def _failed(self, name: str, fetched: Fetched, *, scoped: bool) -> CheckResult | None:
        code = fetched.status_code
        if code is not None and 200 <= code < 300 and fetched.is_json:
            return None
        if self.rejected(fetched) and fetched.error is None:
            self.data.auth_rejected = True
        return CheckResult(
            name=name,
            ok=False,
            status_code=code,
            duration_ms=fetched.duration_ms,
            error=self.problem(fetched, scoped=scoped),
            state="rejected" if self.rejected(fetched) and fetched.error is None else None,
        )

    def _shape_error(self, name: str, fetched: Fetched, expected: str) -> CheckResult:
        return CheckResult(
            name=name,
            ok=False,
            status_code=fetched.status_code,
            duration_ms=fetched.duration_ms,
            error=f"{fetched.status_code} but the JSON is not {expected}: is this a Chatwoot API?",
        )

    async def run(self) -> ProbeData:
        probes: list[Callable[[], Awaitable[CheckResult]]] = [self.rails_health, self.api_services]
        if not self.settings.liveness_only:
            self._inbox_task = asyncio.ensure_future(self._inbox_list())
            probes += [
                self.profile,
                self.conversations,
                self.inboxes,
                self.agents,
                self.inbox_activity,
            ]
        probes.append(self.agent_sdk)
        started = self.confirmation.clock() if self.confirmation else self.now
        # Each probe's method is named like its check: a probe still running at the deadline is
        # recorded under that name as failed, and the run (and its artifact) goes on.
        tasks = {probe.__name__: asyncio.ensure_future(probe()) for probe in probes}
        confirming = (
            asyncio.ensure_future(self._confirm_if_down(tasks["rails_health"], started))
            if self.confirmation is not None
            else None
        )
        _done, late = await asyncio.wait(tasks.values(), timeout=self.settings.run_timeout)
        checks: list[CheckResult] = []
        for name, task in tasks.items():
            if task in late:
                checks.append(
                    CheckResult(
                        name=name,
                        ok=False,
                        error=f"run deadline of {self.settings.run_timeout:g} s exceeded "
                        "(CHATWOOT_HEALTH_RUN_TIMEOUT)",
                    )
                )
            else:
                checks.append(task.result())
        if late:
            helpers: list[asyncio.Future[Any] | None] = [*self._memo.values()]
            helpers.append(getattr(self, "_inbox_task", None))
            unfinished = [*late, *(job for job in helpers if job and not job.done())]
            for job in unfinished:
                job.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        if confirming is not None:
            if tasks["rails_health"] in late:
                confirming.cancel()
            final = (await asyncio.gather(confirming, return_exceptions=True))[0]
            if isinstance(final, CheckResult):
                checks = [final if check.name == "rails_health" else check for check in checks]
        self.data.checks = checks
        return self.data

    async def _confirm_if_down(
        self, first: asyncio.Future[CheckResult], started: datetime
    ) -> CheckResult | None:
        """Beside the other probes: once the first liveness probe has failed, confirm it."""
        result = await asyncio.shield(first)
        if result.ok is not False:
            return None  # up, or not judged: a healthy run pays nothing more
        return await self.confirm(result, started)


async def _limited(slots: asyncio.Semaphore, request: Awaitable[Fetched]) -> Fetched:
    async with slots:
        return await request


def _inboxes_in_turn(inboxes: list[Inbox], now: datetime) -> list[Inbox]:
    """At most :data:`MAX_REPORT_INBOXES` inboxes, taking turns across runs: which ones follows
    from the run's time (its rotation slot), so no state is kept between runs."""
    if len(inboxes) <= MAX_REPORT_INBOXES:
        return inboxes
    ordered = sorted(inboxes, key=lambda inbox: inbox.id)
    slot = int(now.timestamp()) // ROTATION_SLOT_SECONDS
    first = slot * MAX_REPORT_INBOXES % len(ordered)
    return [ordered[(first + i) % len(ordered)] for i in range(MAX_REPORT_INBOXES)]


def _api_liveness(fetched: Fetched) -> tuple[bool | None, str, str | None]:
    """(ok, state, error) when ``/api`` answered 2xx as the liveness path: up only if it is
    Chatwoot's status JSON and reports no failing service."""
    body = fetched.body if isinstance(fetched.body, dict) else {}
    if "data_services" not in body or "queue_services" not in body:
        return (
            None,
            "no_path",
            f"{fetched.status_code} on /api but not Chatwoot's status JSON (no "
            "data_services/queue_services): is CHATWOOT_BASE_URL the Chatwoot URL, not a proxy "
            "or login page?",
        )
    failing = _failing_services(fetched)
    if failing:
        return False, "down", f"/api reports {failing}"
    return True, "up", None


def _ok(name: str, fetched: Fetched) -> CheckResult:
    return CheckResult(
        name=name, ok=True, status_code=fetched.status_code, duration_ms=fetched.duration_ms
    )


def _failing_services(fetched: Fetched) -> str:
    """What ``/api`` says is not ``ok`` (PostgreSQL, Redis)."""
    body = fetched.body if isinstance(fetched.body, dict) else {}
    labels = {"data_services": "PostgreSQL", "queue_services": "Redis"}
    failing = [
        f"{key}={body.get(key)} ({labels[key]})"
        for key in ("data_services", "queue_services")
        if key in body and body.get(key) != "ok"
    ]
    return ", ".join(failing)


def _buckets(
    inboxes: list[Inbox], answers: Sequence[Fetched], hours: tuple[datetime, ...]
) -> list[InboxHour]:
    """The hourly buckets of each inbox, from its two time series (``answers`` holds, per inbox in
    order, incoming messages then first-response times)."""
    buckets: list[InboxHour] = []
    for index, inbox in enumerate(inboxes):
        incoming = _series(answers[2 * index].body)
        response = _series(answers[2 * index + 1].body)
        for hour in hours:
            key = int(hour.timestamp())
            count_value, _ = incoming.get(key, (0.0, 0))
            avg, events = response.get(key, (0.0, 0))
            buckets.append(
                InboxHour(
                    inbox_id=inbox.id,
                    channel_type=inbox.channel_type,
                    hour=hour,
                    incoming_messages=int(count_value),
                    avg_first_response_seconds=avg if events else None,
                    first_response_count=events,
                )
            )
    return buckets


def _series(body: Any) -> dict[int, tuple[float, int]]:
    """``[{value, timestamp, count?}]`` → {timestamp: (value, count)}; tolerant of strings/null."""
    series: dict[int, tuple[float, int]] = {}
    for point in body if isinstance(body, list) else []:
        if not isinstance(point, dict):
            continue
        try:
            stamp = int(point["timestamp"])
            value = float(point.get("value") or 0)
            count = int(point.get("count") or 0)
        except (KeyError, TypeError, ValueError):
            continue
        series[stamp] = (value, count)
    return series


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying context, built once per process: loading the CA bundle costs
    50-100 ms, as much as a whole run against a nearby Chatwoot."""
    return httpx.create_ssl_context()


async def run_probes(
    settings: ProbeSettings,
    now: datetime,
    transport: httpx.AsyncBaseTransport | None = None,
    confirmation: Confirmation | None = None,
) -> ProbeData:
    """Run every probe concurrently with one client; never raises for network trouble.

    ``transport``: a seam for tests (``httpx.MockTransport``); by default the real one, with the
    verifying TLS context and the environment's proxies. ``confirmation``: re-probe a failed
    liveness probe until it is confirmed or answers again (None: one probe).
    """
    async with _client(settings, transport) as client:
        return await _Run(client, settings, now.astimezone(UTC), confirmation).run()


async def probe_liveness(
    settings: ProbeSettings, now: datetime, transport: httpx.AsyncBaseTransport | None = None
) -> CheckResult:
    """The liveness probe alone — the paths and the verdict of a run's ``rails_health`` —
    bounded by the run deadline; ``serve`` asks it between two full checks."""
    async with _client(settings, transport) as client:
        probe = _Run(client, settings, now.astimezone(UTC)).rails_health()
        try:
            return await asyncio.wait_for(probe, settings.run_timeout)
        except TimeoutError:
            return CheckResult(
                name="rails_health",
                ok=False,
                error=f"run deadline of {settings.run_timeout:g} s exceeded "
                "(CHATWOOT_HEALTH_RUN_TIMEOUT)",
            )


def _client(
    settings: ProbeSettings, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """The one client of a run: the verifying TLS context and the environment's proxies unless
    ``transport`` (a test's) is given."""
    return httpx.AsyncClient(
        base_url=settings.base_url,
        headers={
            "User-Agent": "chatwoot-health",
            "Accept": "application/json",
            "Accept-Encoding": ACCEPT_ENCODING,  # only what the bounded reader decodes
        },
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        follow_redirects=False,
        verify=_tls_context() if transport is None else True,  # a given transport brings its own
        transport=transport,
    )
