"""``serve`` over real sockets: uvicorn on 127.0.0.1 and the Chatwoot-like server.

Who gets in (administrator, agent, wrong token, break-glass while Chatwoot is down), what every
route does without a session (listed from the app's router, so a new route cannot slip through),
CSRF, a tampered or expired cookie, the security headers, bad queries, the API's bytes against
the CLI's, 20 concurrent clients, "run check now", metrics, health and the incident log.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from starlette.routing import Route

from chatwoot_health.alerts import Alert, Severity
from chatwoot_health.cli import main
from chatwoot_health.notify import default_state_path, notify
from chatwoot_health.serve import ServeSettings, run
from chatwoot_health.serve.app import RANGES
from tests.factory import artifact_files
from tests.serve_support import (
    AT,
    AT_ISO,
    BREAK_GLASS,
    PREFIX,
    Clock,
    LiveServer,
    csrf_of,
    serve_settings,
    sign_in,
    start,
    write_history,
)
from tests.servers.chatwoot_server import ChatwootServer, closed_port

DASHBOARD = f"{PREFIX}/"


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("serve") / "artifacts"
    directory.mkdir()
    write_history(directory)
    return directory


@pytest.fixture
def live(history: Path) -> Iterator[LiveServer]:
    server = start(serve_settings(history))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def admin(live: LiveServer) -> Iterator[httpx.Client]:
    with live.client() as client:
        assert sign_in(client, BREAK_GLASS).status_code == 303
        yield client


def session_cookie(response: httpx.Response) -> str:
    header = response.headers.get("set-cookie", "")
    assert header.startswith("chatwoot_health_session="), header
    return header


# ----------------------------------------------------------------------------- access


def test_every_route_refuses_an_anonymous_request(live: LiveServer) -> None:
    public = {"login", "healthz", "prefix"}
    seen = set()
    with live.client() as client:
        for route in live.app.routes:
            assert isinstance(route, Route)
            access = getattr(route.endpoint, "access", None)
            assert access in ("public", "page", "api", "metrics"), f"{route.path}: no access"
            seen.add(route.name)
            if access == "public":
                assert route.name in public, f"{route.path} is public"
                continue
            for method in sorted(route.methods or ()):
                if method == "HEAD":
                    continue
                answer = client.request(method, route.path)
                if access == "page":
                    assert answer.status_code == 303, (method, route.path)
                    assert answer.headers["location"] == f"{PREFIX}/login"
                else:
                    assert answer.status_code == 401, (method, route.path)
                    assert answer.json() == {"error": "sign in first"}
    assert {"dashboard", "run", "state", "incidents", "json", "csv", "metrics"} <= seen


def test_break_glass_signs_in_with_a_hardened_session(live: LiveServer) -> None:
    with live.client() as client:
        answer = sign_in(client, BREAK_GLASS)
        assert answer.status_code == 303
        assert answer.headers["location"] == DASHBOARD
        cookie = session_cookie(answer)
        assert "httponly" in cookie.lower()
        assert "samesite=strict" in cookie.lower()
        assert "max-age=43200" in cookie.lower()
        assert "secure" not in cookie.lower()  # plain http on loopback
        payload = cookie.split("=", 1)[1].split(".", 1)[0]
        data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
        assert set(data) == {"who", "via", "role", "exp", "csrf"}
        assert BREAK_GLASS not in json.dumps(data)
        page = client.get(DASHBOARD)
        assert page.status_code == 200
        assert 'data-metric="uptime.percent"' in page.text


def test_secure_cookie_when_the_proxy_says_https(live: LiveServer) -> None:
    with live.client(headers={"X-Forwarded-Proto": "https"}) as client:
        form = client.get(f"{PREFIX}/login")
        assert "secure" in session_cookie(form).lower()


def test_security_headers_and_a_page_without_inline_style(admin: httpx.Client) -> None:
    page = admin.get(DASHBOARD)
    policy = page.headers["content-security-policy"]
    nonce = policy.split("'nonce-", 1)[1].split("'", 1)[0]
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert ' style="' not in page.text
    data = page.text.count('<script type="application/json"')
    code = page.text.count(f'<script nonce="{nonce}">')
    assert (data, code) == (2, 2)
    assert page.text.count("<script") == data + code  # no script runs without the nonce
    assert page.text.count(f'<style nonce="{nonce}">') == 2
    again = admin.get(DASHBOARD).headers["content-security-policy"]
    assert again != policy  # a nonce per response
    for path in (f"{PREFIX}/login", "/healthz", f"{PREFIX}/report.json"):
        assert admin.get(path).headers["x-frame-options"] == "DENY"


# ----------------------------------------------------------------------------- Chatwoot as identity


@pytest.fixture
def with_chatwoot(history: Path, chatwoot: ChatwootServer) -> Iterator[LiveServer]:
    server = start(serve_settings(history, chatwoot.url))
    try:
        yield server
    finally:
        server.stop()


def test_administrator_agent_and_wrong_token(
    with_chatwoot: LiveServer, chatwoot: ChatwootServer, api_token: str
) -> None:
    chatwoot.behaviour.role = "agent"
    with with_chatwoot.client() as client:
        refused = sign_in(client, api_token)
        assert refused.status_code == 403
        assert "is an agent of account 1, not an administrator" in refused.text
        assert client.get(DASHBOARD).status_code == 303
    with with_chatwoot.client() as client:
        wrong = sign_in(client, "not-the-token-at-all-xyz")
        assert wrong.status_code == 401
        assert "not accepted" in wrong.text
        assert "not-the-token-at-all-xyz" not in wrong.text
    chatwoot.behaviour.role = "administrator"
    with with_chatwoot.client() as client:
        admitted = sign_in(client, api_token)
        assert admitted.status_code == 303
        assert api_token not in admitted.headers.get("set-cookie", "")
        profile = chatwoot.requests_to("/api/v1/profile")[-1]
        assert profile.headers["api_access_token"] == api_token
        # The session outlives Chatwoot: stop it, and the page still answers.
        chatwoot.stop()
        assert client.get(DASHBOARD).status_code == 200
    assert not any(r.headers.get("api_access_token") == BREAK_GLASS for r in chatwoot.requests)


def test_break_glass_works_while_chatwoot_is_down(history: Path, api_token: str) -> None:
    down = f"http://127.0.0.1:{closed_port()}"
    server = start(serve_settings(history, down))
    try:
        with server.client() as client:
            refused = sign_in(client, api_token)
            assert refused.status_code == 503
            assert "only the break-glass credential" in refused.text
            assert sign_in(client, BREAK_GLASS).status_code == 303
            assert client.get(DASHBOARD).status_code == 200
    finally:
        server.stop()


def test_sign_in_attempts_are_rate_limited(live: LiveServer) -> None:
    with live.client() as client:
        codes = [sign_in(client, f"wrong-{n}-abcdefghijkl").status_code for n in range(5)]
        assert codes == [401] * 5
        limited = sign_in(client, BREAK_GLASS)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 60


# ----------------------------------------------------------------------------- CSRF and cookies


def test_state_changing_requests_need_the_csrf_token(admin: httpx.Client) -> None:
    assert admin.post(f"{PREFIX}/run").status_code == 403
    assert admin.post(f"{PREFIX}/run", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert admin.post(f"{PREFIX}/logout", data={"csrf_token": "forged"}).status_code == 403
    assert admin.get(DASHBOARD).status_code == 200  # still signed in
    token = csrf_of(admin.get(DASHBOARD).text)
    assert admin.post(f"{PREFIX}/logout", data={"csrf_token": token}).status_code == 303
    assert admin.get(DASHBOARD).status_code == 303


def test_login_without_csrf_is_403(live: LiveServer) -> None:
    with live.client() as client:
        client.get(f"{PREFIX}/login")
        answer = client.post(f"{PREFIX}/login", data={"token": BREAK_GLASS})
        assert answer.status_code == 403
        assert client.get(DASHBOARD).status_code == 303


@pytest.mark.parametrize("how", ["flipped", "truncated", "forged", "garbage"])
def test_a_tampered_cookie_means_signed_out(admin: httpx.Client, how: str) -> None:
    from itsdangerous import TimestampSigner

    value = admin.cookies["chatwoot_health_session"]
    if how == "flipped":
        payload, rest = value.split(".", 1)
        data = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
        data["who"] = "mallory"
        value = base64.b64encode(json.dumps(data).encode()).decode() + "." + rest
    elif how == "truncated":
        value = value[:-3]
    elif how == "forged":
        value = TimestampSigner("another key" * 4).sign(b"eyJ3aG8iOiAieCJ9").decode()
    else:
        value = "\x7f%%%not-a-cookie"
    admin.cookies.clear()
    admin.cookies.set("chatwoot_health_session", value)
    assert admin.get(f"{PREFIX}/report.json").status_code == 401
    page = admin.get(DASHBOARD)
    assert page.status_code == 303
    assert page.headers["location"] == f"{PREFIX}/login"


def test_a_session_expires_after_12_hours(history: Path) -> None:
    clock = Clock()
    server = start(serve_settings(history), clock)
    try:
        with server.client() as client:
            assert sign_in(client, BREAK_GLASS).status_code == 303
            clock.now = AT + timedelta(hours=11, minutes=59)
            assert client.get(f"{PREFIX}/state").status_code == 200
            clock.now = AT + timedelta(hours=12)
            assert client.get(f"{PREFIX}/state").status_code == 401
    finally:
        server.stop()


# ----------------------------------------------------------------------------- the API


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("window=fortnight", "window: 'fortnight' is not a duration"),
        ("window=0h", "window: "),
        ("at=yesterday", "at: "),
        ("at=", "at: "),
        ("at=99999-01-01T00:00:00Z", "at: "),
    ],
)
def test_a_bad_window_or_at_is_400_with_the_reason(
    admin: httpx.Client, query: str, reason: str
) -> None:
    for path in ("report.json", "report.csv"):
        answer = admin.get(f"{PREFIX}/{path}?{query}")
        assert answer.status_code == 400
        assert answer.text.startswith(reason)
        assert answer.text.count("\n") == 1


@pytest.mark.parametrize(
    ("fmt", "args"),
    [("json", []), ("json", ["--window", "24h"]), ("csv", []), ("csv", ["--window", "7d"])],
)
def test_the_api_answers_with_the_cli_bytes(
    admin: httpx.Client, history: Path, fmt: str, args: list[str]
) -> None:
    cli = CliRunner().invoke(
        main,
        ["report", "--artifacts-dir", str(history), "--at", AT_ISO, "--format", fmt, *args],
        catch_exceptions=False,
    )
    query = f"at={AT_ISO}" + (f"&window={args[1]}" if args else "")
    answer = admin.get(f"{PREFIX}/report.{fmt}?{query}")
    assert answer.status_code == 200
    assert answer.content == cli.stdout_bytes
    assert answer.headers["x-chatwoot-health-exit-code"] == str(cli.exit_code)
    media = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    assert answer.headers["content-type"] == media


def test_twenty_concurrent_clients(live: LiveServer, admin: httpx.Client) -> None:
    cookies = dict(admin.cookies)
    bodies: list[tuple[int, bytes]] = []
    lock = threading.Lock()

    def fetch() -> None:
        with live.client(cookies=cookies) as client:
            answer = client.get(f"{PREFIX}/report.json", timeout=30)
            with lock:
                bodies.append((answer.status_code, answer.content))

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [code for code, _ in bodies] == [200] * 20
    assert len({body for _, body in bodies}) == 1  # one computation, shared
    assert time.perf_counter() - started < 20


def test_reports_are_computed_one_at_a_time_on_one_thread(history: Path) -> None:
    """Two 30-day reports at once held two windows in two malloc arenas (issue #11): every
    report is computed on the one report thread, which ends with the server."""

    def report_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name.startswith("chatwoot-health-report")]

    assert report_threads() == []
    live = start(serve_settings(history))
    try:
        with live.client(timeout=60) as admin:
            assert sign_in(admin, BREAK_GLASS).status_code == 303
            cookies = dict(admin.cookies)
        paths = [DASHBOARD] + [
            f"{PREFIX}/report.{fmt}?window={window}" for fmt in ("json", "csv") for window in RANGES
        ]
        codes: list[int] = []

        def fetch(path: str) -> None:
            with live.client(cookies=cookies, timeout=60) as client:
                codes.append(client.get(path).status_code)

        threads = [threading.Thread(target=fetch, args=(path,)) for path in paths]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        assert codes == [200] * len(paths)
        assert len(report_threads()) == 1
    finally:
        live.stop()
    assert report_threads() == []


def test_no_artifacts_yet(tmp_path: Path) -> None:
    server = start(serve_settings(tmp_path / "empty"))
    try:
        with server.client() as client:
            assert sign_in(client, BREAK_GLASS).status_code == 303
            page = client.get(DASHBOARD)
            assert page.status_code == 503
            assert "does not exist" in page.text
            assert client.get(f"{PREFIX}/report.json").status_code == 503
    finally:
        server.stop()


# ----------------------------------------------------------------------------- run check now


def test_run_check_now_writes_an_artifact_and_refuses_a_second_run(
    tmp_path: Path, chatwoot: ChatwootServer, api_token: str
) -> None:
    directory = tmp_path / "artifacts"
    directory.mkdir()
    clock = Clock()
    server = start(serve_settings(directory, chatwoot.url, api_token), clock)
    try:
        with server.client() as client:
            assert sign_in(client, BREAK_GLASS).status_code == 303
            page = client.get(DASHBOARD)
            assert page.status_code == 200
            assert "no artifacts in" in page.text
            token = csrf_of(page.text)
            chatwoot.behaviour.delay = 0.6
            first = client.post(f"{PREFIX}/run", headers={"X-CSRF-Token": token})
            assert first.status_code == 202
            second = client.post(f"{PREFIX}/run", headers={"X-CSRF-Token": token})
            assert second.status_code == 409
            assert second.json() == {"error": "a run is in progress"}
            deadline = time.monotonic() + 20
            while client.get(f"{PREFIX}/state").json()["run"]["running"]:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            state = client.get(f"{PREFIX}/state").json()
            assert state["run"]["exit_code"] == 0, state
            assert len(artifact_files(directory)) == 1
            chatwoot.behaviour.delay = 0.0
            clock.now = AT + timedelta(seconds=1)
            page = client.get(DASHBOARD)
            assert 'data-metric="uptime.percent"' in page.text
    finally:
        server.stop()


def test_run_without_chatwoot_configured_is_503(admin: httpx.Client) -> None:
    token = csrf_of(admin.get(DASHBOARD).text)
    answer = admin.post(f"{PREFIX}/run", headers={"X-CSRF-Token": token})
    assert answer.status_code == 503
    assert "CHATWOOT_BASE_URL" in answer.json()["error"]


# ----------------------------------------------------------------------------- metrics, health


def test_metrics_need_a_session_unless_public(history: Path, admin: httpx.Client) -> None:
    answer = admin.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    text = answer.text
    for line in (
        "chatwoot_health_up 1.0",
        'chatwoot_health_uptime_ratio{window="24h"}',
        'chatwoot_health_coverage_ratio{window="7d"}',
        "chatwoot_health_pending_conversations 3.0",
        'chatwoot_health_open_alerts{severity="critical"}',
        "chatwoot_health_last_run_age_seconds 60.0",
    ):
        assert line in text, line
    server = start(serve_settings(history, metrics_public=True))
    try:
        with server.client() as client:
            assert client.get("/metrics").status_code == 200
            assert client.get(f"{PREFIX}/report.json").status_code == 401
    finally:
        server.stop()


def test_healthz_is_public(live: LiveServer) -> None:
    with live.client() as client:
        answer = client.get("/healthz")
        assert answer.status_code == 200
        assert answer.json() == {"status": "ok", "last_tick_age_seconds": 0.0}


def test_a_pruned_month_is_not_remembered(tmp_path: Path) -> None:
    """The version lists each month directory; one deleted whole (``prune``) leaves no listing
    behind in a server that runs for months, and the version moves."""
    import shutil

    from chatwoot_health.serve.reports import ReportService
    from tests.factory import series, utc, write_all

    directory = tmp_path / "artifacts"
    write_history(directory)
    write_all(directory, series(utc(2026, 10, 31, 23, 50), 2))
    months = sorted(path for path in directory.iterdir() if path.is_dir())
    assert [month.name for month in months] == ["2026-10", "2026-11"]
    service = ReportService(serve_settings(directory), Clock(), lambda: 0)
    before = service.version()
    assert sorted(service._folders) == ["", *(month.name for month in months)]
    shutil.rmtree(months[0])
    assert service.version() != before
    assert sorted(service._folders) == ["", *(month.name for month in months[1:])]


# ----------------------------------------------------------------------------- incidents


def test_the_incident_log_newest_first(tmp_path: Path) -> None:
    directory = tmp_path / "artifacts"
    directory.mkdir()
    write_history(directory, hours=4)
    state = default_state_path(directory)
    down = Alert(name="service_down", severity=Severity.CRITICAL, title="Service Down",
                 message="Rails health check failed 2 runs in a row")  # fmt: skip
    queue = Alert(name="high_queue", severity=Severity.WARNING, title="High Queue",
                  message="pending > 10")  # fmt: skip
    instance = "https://chat.example.com"
    notify(state, [down], AT - timedelta(hours=3), instance)
    notify(state, [], AT - timedelta(hours=2, minutes=40), instance)
    notify(state, [queue], AT - timedelta(minutes=30), instance)
    server = start(serve_settings(directory))
    try:
        with server.client() as client:
            assert sign_in(client, BREAK_GLASS).status_code == 303
            page = client.get(f"{PREFIX}/incidents?range=24h")
            assert page.status_code == 200
            text = page.text
            assert text.index("High Queue") < text.index("Service Down")
            assert "ongoing" in text
            assert "20 min" in text
            assert client.get(f"{PREFIX}/incidents?range=1y").status_code == 400
    finally:
        server.stop()


# ----------------------------------------------------------------------------- start-up


def test_refuses_a_public_bind_without_an_admin_credential(
    history: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bare = serve_settings(history, host="0.0.0.0", admin_token=None)
    assert isinstance(bare, ServeSettings)
    assert run(bare) == 3
    err = capsys.readouterr().err
    assert err.startswith("chatwoot-health: refusing to listen on 0.0.0.0")
    assert err.count("\n") == 1


def test_the_cli_refuses_a_public_bind_and_bad_settings(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["serve", "--host", "0.0.0.0", "--artifacts-dir", str(tmp_path)]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 3
    assert result.stderr.startswith("chatwoot-health: refusing to listen on 0.0.0.0: set ")
    assert result.stderr.count("\n") == 1
    result = runner.invoke(main, ["serve", "--port", "99999"], catch_exceptions=False)
    assert result.exit_code == 3
    assert "CHATWOOT_HEALTH_PORT (option): '99999' is not a TCP port" in result.stderr
    short = runner.invoke(
        main, ["serve"], env={"CHATWOOT_HEALTH_ADMIN_TOKEN": "Qx7-tiny"}, catch_exceptions=False
    )
    assert short.exit_code == 3
    assert "CHATWOOT_HEALTH_ADMIN_TOKEN: is shorter than 16 characters" in short.stderr
    assert "Qx7-tiny" not in short.stderr


def test_check_and_report_never_load_the_web_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys, chatwoot_health.cli, chatwoot_health.check, chatwoot_health.report.run\n"
        "web = ('starlette', 'uvicorn', 'prometheus_client', 'multipart', 'itsdangerous')\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in web)\n"
        "loaded += sorted(m for m in sys.modules if m.startswith('chatwoot_health.serve'))\n"
        "print(loaded)\n"
    )
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True
    )
    assert out.stdout.strip() == "[]"
