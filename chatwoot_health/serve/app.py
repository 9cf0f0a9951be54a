"""The ASGI app: :func:`create_app` builds it from typed settings, so tests drive the same app
in-process or under uvicorn, and ``serve`` only hands it to uvicorn.

Routes (``P`` = the prefix, default ``/admin/chatwoot-health``):

==========================  ======  ==========================================================
``P/``                      GET     the dashboard: ``report --format html`` plus the live block
``P/login``                 GET     the sign-in form (field ``token``); public
``P/login``                 POST    sign in: break-glass or a Chatwoot administrator; public
``P/logout``                POST    sign out (CSRF)
``P/run``                   POST    run one full check now (CSRF); 409 while one runs
``P/state``                 GET     the run state, alerts and a version to poll
``P/incidents``             GET     the alert episodes, newest first (``?range=24h|7d|30d``)
``P/report.json``           GET     ``report --format json`` (``?window=&at=``)
``P/report.csv``            GET     ``report --format csv`` (``?window=&at=``)
``/metrics``                GET     Prometheus exposition; public only if configured
``/healthz``                GET     is the scheduler alive; public
==========================  ======  ==========================================================

Pages answer an anonymous request with a redirect to the sign-in form, the API with 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Literal

import anyio.to_thread
import httpx
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from chatwoot_health.render.context import LiveBlock
from chatwoot_health.render.prometheus import Family
from chatwoot_health.serve.auth import Verdict, sign_in, signed_in, start_session
from chatwoot_health.serve.memory import limit_arenas
from chatwoot_health.serve.reports import Rendered, ReportService
from chatwoot_health.serve.runner import ManualRunner, RunUnavailable, Scheduler
from chatwoot_health.serve.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    RateLimit,
    SecurityHeaders,
    Sessions,
    csrf_token,
    csrf_valid,
    nonce_of,
)
from chatwoot_health.serve.settings import ServeSettings, session_secret

if TYPE_CHECKING:
    from chatwoot_health.serve.store import StorePool

log = logging.getLogger("chatwoot_health.serve")

Clock = Callable[[], datetime]
Access = Literal["public", "page", "api", "metrics"]
Handler = Callable[[Request], Awaitable[Response]]
RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
#: The open page asks ``P/state`` this often: a run that lands shows within about a second.
POLL_SECONDS = 1
REFRESH_SECONDS = 60
#: How often the shared store is asked for other locations' new runs.
STORE_POLL_SECONDS = 2.0
TOAST_SECONDS = 12
#: No request this app accepts carries more (a sign-in form is a few hundred bytes).
MAX_BODY_BYTES = 16 * 1024
EXIT_CODE_HEADER = "X-Chatwoot-Health-Exit-Code"
#: The report's warnings (the lines ``report`` prints on stderr), a JSON list of strings.
WARNINGS_HEADER = "X-Chatwoot-Health-Warnings"
#: Warnings shown on the page and in that header at most (skipped files can be many).
MAX_WARNINGS = 5
#: At shutdown, how long a run in progress may take to finish (uvicorn's graceful shutdown
#: comes first): SIGTERM ends the process within 10 s.
STOP_SECONDS = 5.0


@cache
def templates() -> Environment:
    return Environment(
        loader=PackageLoader("chatwoot_health", "serve/templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


class Urls:
    """The app's own addresses under the prefix."""

    def __init__(self, prefix: str) -> None:
        self.dashboard = prefix + "/"
        self.login, self.logout, self.run = (prefix + p for p in ("/login", "/logout", "/run"))
        self.state, self.incidents = prefix + "/state", prefix + "/incidents"


class Marks:
    """Per-process placeholders in the cached dashboard, replaced in each response by that
    response's CSP nonce, the session's CSRF token and the report's warnings (unguessable, so no
    report text can contain one)."""

    def __init__(self) -> None:
        self.nonce = "nonce" + secrets.token_hex(16)
        self.csrf = "csrf" + secrets.token_hex(16)
        self.warnings = "warnings" + secrets.token_hex(16)

    def fill(self, page: str, nonce: str, csrf: str, warnings: Sequence[str] = ()) -> str:
        notes = "".join(
            f'<p class="live-warning" role="alert">{escape(line)}</p>' for line in shown(warnings)
        )
        page = page.replace(self.nonce, nonce).replace(self.csrf, csrf)
        return page.replace(self.warnings, notes)


def shown(warnings: Sequence[str]) -> list[str]:
    """The first :data:`MAX_WARNINGS` warnings, and how many more there are."""
    if len(warnings) <= MAX_WARNINGS:
        return list(warnings)
    return [*warnings[: MAX_WARNINGS - 1], f"… and {len(warnings) - MAX_WARNINGS + 1} more"]


def live_block(urls: Urls, marks: Marks) -> LiveBlock:
    from chatwoot_health.render.html import script_json

    env = templates()
    common = {"nonce": marks.nonce, "csrf": marks.csrf, "warnings": marks.warnings}
    config = {
        "page_url": urls.dashboard,
        "state_url": urls.state,
        "run_url": urls.run,
        "login_url": urls.login,
        "poll_seconds": POLL_SECONDS,
        "refresh_seconds": REFRESH_SECONDS,
        "toast_seconds": TOAST_SECONDS,
    }
    script = files("chatwoot_health.serve").joinpath("templates/live.js").read_text("utf-8")
    return LiveBlock(
        nonce=marks.nonce,
        head=Markup(env.get_template("live_head.html.j2").render(**common)),
        controls=Markup(
            env.get_template("live_controls.html.j2").render(
                run_url=urls.run, incidents_url=urls.incidents, logout_url=urls.logout, **common
            )
        ),
        body=Markup(env.get_template("live_body.html.j2").render(config=script_json(config))),
        script=Markup(script),
    )


def _fmt(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _iso(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 1:
        return f"{int(delta.total_seconds())} s"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d" if days else "", f"{hours} h" if hours else "", f"{mins} min"]
    return " ".join(part for part in parts if part)


def create_app(
    settings: ServeSettings,
    *,
    clock: Clock,
    transport: httpx.AsyncBaseTransport | None = None,
    scheduler: Scheduler | None = None,
) -> Starlette:
    """The app. ``clock`` is read once per request; ``transport`` (tests) carries the sign-in's
    request to Chatwoot; ``scheduler`` defaults to :class:`ManualRunner` (run on demand only).
    Raises :class:`~chatwoot_health.serve.settings.ServeError` if the session secret cannot be
    read or created."""
    secret = session_secret(settings)
    limit_arenas()  # before the server's threads start (serve.memory)
    runner: Scheduler = scheduler or ManualRunner(settings.check, clock)
    urls = Urls(settings.prefix)
    marks = Marks()
    store = _store_pool(settings)
    reports = ReportService(
        settings, clock, lambda: runner.status().generation, live_block(urls, marks), store
    )
    runner.on_finished(reports.warm)  # the page that notices the run finds it computed
    limiter = RateLimit(settings.login_attempts_per_minute)
    lifetime = settings.session_lifetime.total_seconds()

    def page(name: str, request: Request, status: int = 200, **values: Any) -> HTMLResponse:
        body = templates().get_template(name).render(nonce=nonce_of(request), **values)
        return HTMLResponse(body, status_code=status)

    def message(
        request: Request, title: str, text: str, status: int, tone: str = "red", **extra: Any
    ) -> HTMLResponse:
        values: dict[str, Any] = {"run_url": None, "csrf": "", "links": ()}
        values.update(extra)
        return page("message.html.j2", request, status, title=title, message=text, tone=tone,
                    **values)  # fmt: skip

    def refused(request: Request, access: Access) -> Response | None:
        if access == "public" or (access == "metrics" and settings.metrics_public):
            return None
        if signed_in(request.session, clock()):
            return None
        if access == "page":
            return RedirectResponse(urls.login, status_code=303)
        return JSONResponse({"error": "sign in first"}, status_code=401)

    def guarded(access: Access, handler: Handler) -> Handler:
        async def endpoint(request: Request) -> Response:
            return refused(request, access) or await handler(request)

        endpoint.__name__ = handler.__name__
        endpoint.access = access  # type: ignore[attr-defined]
        return endpoint

    async def submitted_csrf(request: Request) -> str | None:
        header = request.headers.get(CSRF_HEADER)
        if header:
            return header
        try:
            form = await request.form(max_files=0, max_fields=8, max_part_size=4096)
        except Exception:  # a malformed body is no token
            return None
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None

    # ----------------------------------------------------------------------------- pages

    async def dashboard(request: Request) -> Response:
        rendered = await reports.get("html")
        csrf = csrf_token(request)
        if rendered.error is not None:
            return message(
                request,
                "Chatwoot health",
                rendered.error,
                200 if rendered.status == 404 else rendered.status,
                tone="grey" if rendered.status == 404 else "red",
                run_url=urls.run if settings.check is not None else None,
                csrf=csrf,
                links=(("Incident log", urls.incidents),),
            )
        page = marks.fill(rendered.body, nonce_of(request), csrf, rendered.warnings)
        return HTMLResponse(page)

    async def login(request: Request) -> Response:
        if request.method == "GET":
            if signed_in(request.session, clock()):
                return RedirectResponse(urls.dashboard, status_code=303)
            return login_page(request, 200)
        client = request.client.host if request.client else "unknown"
        wait = limiter.attempt(client)
        if wait is not None:
            response = login_page(
                request, 429, "Too many sign-in attempts from this address: wait a minute."
            )
            response.headers["Retry-After"] = str(max(1, int(wait + 0.999)))
            return response
        try:
            form = await request.form(max_files=0, max_fields=8, max_part_size=4096)
        except Exception:
            return login_page(request, 400, "The sign-in form could not be read.")
        sent_csrf = form.get(CSRF_FIELD)
        if not csrf_valid(request, sent_csrf if isinstance(sent_csrf, str) else None):
            return login_page(request, 403, "The form had expired: sign in again.")
        token = form.get("token")
        outcome = await sign_in(settings, token if isinstance(token, str) else "", transport)
        if outcome.verdict is Verdict.ADMITTED:
            start_session(request.session, outcome, clock(), lifetime)
            log.info("sign-in: %s via %s from %s", outcome.who, outcome.via, client)
            return RedirectResponse(urls.dashboard, status_code=303)
        log.info("sign-in refused (%s) from %s", outcome.verdict.value, client)
        tone = "yellow" if outcome.verdict is Verdict.UNREACHABLE else "red"
        return login_page(request, outcome.verdict.value, outcome.message, tone)

    def login_page(request: Request, status: int, text: str = "", tone: str = "red") -> Response:
        return page(
            "login.html.j2",
            request,
            status,
            title="Sign in",
            message=text,
            tone=tone,
            csrf=csrf_token(request),
            login_url=urls.login,
            account_id=settings.account_id,
        )

    async def logout(request: Request) -> Response:
        if not csrf_valid(request, await submitted_csrf(request)):
            return message(request, "Sign out", "The form had expired: reload the page.", 403)
        request.session.clear()
        return RedirectResponse(urls.login, status_code=303)

    async def run(request: Request) -> Response:
        by_script = CSRF_HEADER in request.headers
        if not csrf_valid(request, await submitted_csrf(request)):
            return JSONResponse({"error": "missing or wrong CSRF token"}, status_code=403)
        try:
            started = runner.run_now()
        except RunUnavailable as exc:
            return JSONResponse({"error": str(exc)}, status_code=503)
        if not started:
            return JSONResponse({"error": "a run is in progress"}, status_code=409)
        if by_script:
            return JSONResponse({"started": True}, status_code=202)
        return RedirectResponse(urls.dashboard, status_code=303)

    async def state(request: Request) -> Response:
        status = runner.status()
        default = await reports.latest("json")
        return JSONResponse(
            {
                "version": "-".join(str(part) for part in reports.version()),
                "run": {
                    "running": status.running,
                    "started_at": _iso(status.started_at) or None,
                    "finished_at": _iso(status.finished_at) or None,
                    "exit_code": status.exit_code,
                    "status": status.run_status,
                    "error": status.error,
                },
                "report": {
                    "exit_code": default.exit_code,
                    "error": default.error,
                    "warnings": shown(default.warnings),
                },
                "alerts": default.alerts,
            }
        )

    async def incidents(request: Request) -> Response:
        label = request.query_params.get("range", "24h")
        if label not in RANGES:
            return message(
                request, "Incident log", f"range must be one of {', '.join(RANGES)}", 400
            )
        now = clock()
        episodes, note = await anyio.to_thread.run_sync(
            _episodes, settings, now, RANGES[label], store
        )
        return page(
            "incidents.html.j2",
            request,
            title="Incident log",
            range=label,
            ranges=list(RANGES),
            episodes=episodes,
            note=note,
            dashboard_url=urls.dashboard,
            incidents_url=urls.incidents,
        )

    # ----------------------------------------------------------------------------- API

    def _query(request: Request) -> tuple[timedelta | None, datetime | None] | Response:
        from chatwoot_health.timeutil import parse_duration, parse_instant

        window = at = None
        params = request.query_params
        try:
            if "window" in params:
                window = parse_duration(params["window"])
        except ValueError as exc:
            return Response(f"window: {exc}\n", status_code=400, media_type="text/plain")
        try:
            if "at" in params:
                at = parse_instant(params["at"])
        except ValueError as exc:
            return Response(f"at: {exc}\n", status_code=400, media_type="text/plain")
        return window, at

    async def report_as(request: Request, fmt: str, media_type: str) -> Response:
        query = _query(request)
        if isinstance(query, Response):
            return query
        rendered = await reports.get(fmt, *query)
        if rendered.error is not None:
            return Response(rendered.error + "\n", rendered.status, media_type="text/plain")
        headers = {EXIT_CODE_HEADER: str(rendered.exit_code)}
        if rendered.warnings:  # what the CLI says on stderr; the body stays its stdout
            headers[WARNINGS_HEADER] = json.dumps(shown(rendered.warnings))
        return Response(rendered.body, media_type=media_type, headers=headers)

    async def report_json(request: Request) -> Response:
        return await report_as(request, "json", "application/json")

    async def report_csv(request: Request) -> Response:
        return await report_as(request, "csv", "text/csv; charset=utf-8")

    async def metrics(request: Request) -> Response:
        from chatwoot_health.render.prometheus import exposition

        default = await reports.get("json")
        windows = [(label, await reports.get("json", length)) for label, length in RANGES.items()]
        body, media_type = exposition(
            _families(default, windows, runner.status().probe_ms, clock())
        )
        return Response(body, media_type=media_type)

    async def healthz(request: Request) -> Response:
        tick = runner.last_tick()
        now = clock()
        age = None if tick is None else max(0.0, (now - tick).total_seconds())
        alive = age is not None and age <= runner.stale_after.total_seconds()
        return JSONResponse(
            {"status": "ok" if alive else "stale", "last_tick_age_seconds": age},
            status_code=200 if alive else 503,
        )

    async def to_dashboard(request: Request) -> Response:
        return RedirectResponse(urls.dashboard, status_code=308)

    p = settings.prefix
    routes: list[BaseRoute] = [
        Route(p + "/", guarded("page", dashboard), methods=["GET"], name="dashboard"),
        Route(p + "/login", guarded("public", login), methods=["GET", "POST"], name="login"),
        Route(p + "/logout", guarded("page", logout), methods=["POST"], name="logout"),
        Route(p + "/run", guarded("api", run), methods=["POST"], name="run"),
        Route(p + "/state", guarded("api", state), methods=["GET"], name="state"),
        Route(p + "/incidents", guarded("page", incidents), methods=["GET"], name="incidents"),
        Route(p + "/report.json", guarded("api", report_json), methods=["GET"], name="json"),
        Route(p + "/report.csv", guarded("api", report_csv), methods=["GET"], name="csv"),
        Route("/metrics", guarded("metrics", metrics), methods=["GET"], name="metrics"),
        Route("/healthz", guarded("public", healthz), methods=["GET"], name="healthz"),
    ]
    if p:
        routes.append(Route(p, guarded("public", to_dashboard), methods=["GET"], name="prefix"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        poll: asyncio.Task[None] | None = None
        if store is not None:
            store.open()  # without waiting: a store that is down never keeps the server down
            poll = asyncio.create_task(reports.poll_store(STORE_POLL_SECONDS))
        runner.start()
        try:
            yield
        finally:
            if poll is not None:
                poll.cancel()
            await anyio.to_thread.run_sync(runner.stop, STOP_SECONDS)
            await anyio.to_thread.run_sync(reports.close)
            if store is not None:
                await anyio.to_thread.run_sync(store.close)

    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(SecurityHeaders),
            Middleware(Sessions, secret_key=secret, max_age=int(lifetime)),
        ],
        lifespan=lifespan,
        max_body_size=MAX_BODY_BYTES,
    )
    app.state.settings = settings
    app.state.scheduler = runner
    app.state.reports = reports
    app.state.store = store
    return app


def _store_pool(settings: ServeSettings) -> StorePool | None:
    """The shared store's pool (opened by the lifespan), when CHATWOOT_HEALTH_STORE is set."""
    if settings.report.store is None:
        return None
    from chatwoot_health.serve.store import StorePool

    return StorePool(settings.report.store)


def _families(
    default: Rendered,
    windows: list[tuple[str, Rendered]],
    probe_ms: tuple[tuple[str, float], ...],
    now: datetime,
) -> list[Family]:
    """Parse the cached JSON reports back into the model and take their gauges."""
    from pydantic import ValidationError

    from chatwoot_health.models.report import Report
    from chatwoot_health.render.prometheus import families

    def parsed(rendered: Rendered) -> Report | None:
        if rendered.error is not None:
            return None
        try:
            return Report.model_validate_json(rendered.body)
        except ValidationError:
            log.warning("the JSON report did not parse back into the model")
            return None

    report = parsed(default)
    if report is None:
        return []
    ranges = [(label, item) for label, r in windows if (item := parsed(r)) is not None]
    return families(report, ranges, dict(probe_ms), now)


def _episodes(
    settings: ServeSettings, now: datetime, length: timedelta, shared: StorePool | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """The incident log rows, newest first, from the alert state: the one the hosts share in
    the store when there is one (``check`` keeps it there), else the one beside the artifacts."""
    from chatwoot_health.notify import default_state_path
    from chatwoot_health.notify.state import NotifyStore, StateUnavailable

    note = None
    records = None
    if shared is not None:
        try:
            records = shared.episodes(now - length, now)
        except StateUnavailable as exc:
            note = f"{exc}: the alert state beside the artifacts is shown instead."
    if records is None:
        path = default_state_path(settings.artifacts_dir)
        if not path.is_file():
            return [], note or (
                "No alert has been recorded yet: the alert state is written by the runs."
            )
        try:
            with NotifyStore(path) as local:
                records = local.episodes(now - length, now)
        except StateUnavailable as exc:
            return [], f"The alert state could not be read: {exc}"
    rows = []
    for record in reversed(records):
        deliveries = []
        for delivery in record.deliveries:
            if delivery.delivered_at is not None:
                how = f"delivered {_fmt(delivery.delivered_at)}"
            elif delivery.gave_up_at is not None:
                how = f"given up {_fmt(delivery.gave_up_at)} ({delivery.last_error})"
            elif delivery.last_error:
                how = f"failed {delivery.attempts}× ({delivery.last_error}); retrying"
            else:
                how = "pending"
            deliveries.append(f"{delivery.kind} → {delivery.channel}: {how}")
        rows.append(
            {
                "alert": record.alert,
                "instance": record.instance,
                "severity": record.severity.value,
                "title": record.title,
                "message": record.message,
                "started": _fmt(record.started_at),
                "started_iso": _iso(record.started_at),
                "ended": _fmt(record.ended_at),
                "ended_iso": _iso(record.ended_at),
                "end_reason": record.end_reason.value if record.end_reason else "",
                "duration": _duration(record.duration(now)),
                "deliveries": deliveries,
                "seeded": record.seeded,
            }
        )
    return rows, note
