"""Hostile HTTP answers (issue #8): from Chatwoot, the AI agent, Supabase and a webhook.

Each end-to-end case runs the real CLI as a child against :mod:`tests.hostile.hostile_server` and
asserts the contract: the run still writes its artifact with that probe failed and one clear
error, no traceback, peak RSS under 150 MB, wall time within the timeout settings. The fast unit
tests at the end pin the bounded reader and the JSON limits themselves.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from chatwoot_health.httpbody import (
    MAX_BODY_BYTES,
    MAX_JSON_VALUES,
    BodyError,
    BoundedReader,
    check_json,
    decode_json,
)
from chatwoot_health.models.artifact import Inbox
from chatwoot_health.probes.chatwoot import MAX_REPORT_INBOXES, _inboxes_in_turn
from chatwoot_health.probes.http import get
from tests.factory import artifact, artifact_files, write_all
from tests.hostile.hostile_server import (
    ACCOUNT,
    TOKEN,
    HostileServer,
    body,
    endless,
    gzip_bomb,
    gzipped,
    pages_forever,
    trickle,
)
from tests.hostile.support import Outcome, assert_one_line_error, run_cli

AGENTS = f"/api/v1/accounts/{ACCOUNT}/agents"
INBOXES = f"/api/v1/accounts/{ACCOUNT}/inboxes"
META = f"/api/v1/accounts/{ACCOUNT}/conversations/meta"
REPORTS = f"/api/v2/accounts/{ACCOUNT}/reports"
GB = 1024 * 1024 * 1024


@pytest.fixture(scope="session")
def bomb() -> bytes:
    """1 GB of zeros, gzipped (~1 MB): built once per session."""
    return gzip_bomb(GB)


@pytest.fixture
def server() -> Iterator[HostileServer]:
    with HostileServer() as started:
        yield started


def check(server: HostileServer, tmp_path: Path, **env: str) -> tuple[Outcome, dict[str, Any]]:
    """``check`` against ``server``; the outcome and the one artifact it wrote."""
    artifacts = tmp_path / "artifacts"
    settings = {
        "CHATWOOT_BASE_URL": server.url,
        "CHATWOOT_API_TOKEN": TOKEN,
        "CHATWOOT_ACCOUNT_ID": str(ACCOUNT),
        "AGENT_HEALTH_URL": server.url + "/agent/health",
        "CHATWOOT_HEALTH_TIMEOUT": "3",
        **env,
    }
    outcome = run_cli(
        ["check", "--artifacts-dir", str(artifacts), "--format", "json"],
        env=settings,
        cwd=tmp_path,
    )
    files = artifact_files(artifacts)
    assert len(files) == 1, (outcome.code, outcome.stderr[-2000:])
    return outcome, json.loads(files[0].read_text())


def check_of(artifact: dict[str, Any], name: str) -> dict[str, Any]:
    return next(check for check in artifact["checks"] if check["name"] == name)


def assert_failed_probe(
    outcome: Outcome,
    artifact: dict[str, Any],
    name: str,
    error: str,
    *,
    code: int = 1,
    max_seconds: float = 20.0,
) -> None:
    assert_one_line_error(outcome, code, max_seconds=max_seconds)
    failed = check_of(artifact, name)
    assert failed["ok"] is False
    assert failed["error"] == error
    others = [c for c in artifact["checks"] if c["name"] != name and c["ok"] is False]
    assert others == [], others


# -- Chatwoot and the agent: the JSON limits ----------------------------------------------------


def test_json_nested_10000_levels_fails_the_probe(server: HostileServer, tmp_path: Path) -> None:
    server.answer(AGENTS, body(b"[" * 10_000 + b"]" * 10_000))
    outcome, artifact = check(server, tmp_path)
    assert_failed_probe(
        outcome, artifact, "agents", "JSON answer refused: nested deeper than 64 levels"
    )
    assert artifact["status"] == "degraded" and artifact["agents"] is None


def test_a_5000_digit_integer_fails_the_probe(server: HostileServer, tmp_path: Path) -> None:
    server.answer(META, body(b'{"meta": {"all_count": ' + b"9" * 5000 + b"}}"))
    outcome, artifact = check(server, tmp_path)
    assert_failed_probe(
        outcome,
        artifact,
        "conversations",
        "JSON answer refused: an integer longer than 40 digits",
    )


@pytest.mark.parametrize("literal", [b"NaN", b"1e999"])  # the rest: unit tests below
def test_non_finite_numbers_fail_the_probe(
    server: HostileServer, tmp_path: Path, literal: bytes
) -> None:
    server.answer(REPORTS, body(b'[{"value": 1, "timestamp": ' + literal + b"}]"))
    outcome, artifact = check(server, tmp_path)
    expected = (
        "JSON answer refused: a number out of range (exponent of 300 or more)"
        if literal == b"1e999"
        else "JSON answer refused: NaN or Infinity is not a JSON number"
    )
    assert_failed_probe(outcome, artifact, "inbox_activity", expected)


def test_an_answer_that_expands_in_memory_is_refused(server: HostileServer, tmp_path: Path) -> None:
    # 4.5 MB, under the size cap, that json.loads would turn into 1.5 million lists
    server.answer(AGENTS, body(b"[" + b"[]," * 1_500_000 + b"[]]"))
    outcome, artifact = check(server, tmp_path)
    assert_failed_probe(
        outcome, artifact, "agents", f"JSON answer refused: more than {MAX_JSON_VALUES:,} values"
    )


# -- Chatwoot: size while decoding, time ------------------------------------------------------


def test_a_gzip_bomb_is_capped_while_decoding(
    server: HostileServer, tmp_path: Path, bomb: bytes
) -> None:
    server.answer("/api/v1/profile", body(bomb, encoding="gzip"))
    outcome, artifact = check(server, tmp_path)
    assert_failed_probe(outcome, artifact, "profile", "response larger than 5 MB")


def test_gzip_inside_gzip_is_capped_at_every_layer(
    server: HostileServer, tmp_path: Path, bomb: bytes
) -> None:
    server.answer(INBOXES, body(gzipped(bomb), encoding="gzip, gzip"))
    outcome, artifact = check(server, tmp_path)
    assert_failed_probe(outcome, artifact, "inboxes", "response larger than 5 MB")
    assert check_of(artifact, "inbox_activity")["skipped"] is True


def test_an_unsupported_encoding_is_refused(server: HostileServer, tmp_path: Path) -> None:
    server.answer(AGENTS, body(b"\x00" * 100, encoding="br"))
    outcome, artifact = check(server, tmp_path)
    assert_failed_probe(
        outcome,
        artifact,
        "agents",
        "response uses Content-Encoding 'br', which is not supported (gzip, deflate or none)",
    )


def test_an_endless_answer_stops_at_the_cap(server: HostileServer, tmp_path: Path) -> None:
    server.answer(AGENTS, endless())
    outcome, artifact = check(server, tmp_path)
    assert_failed_probe(outcome, artifact, "agents", "response larger than 5 MB")


def test_a_byte_a_second_ends_at_the_request_timeout(server: HostileServer, tmp_path: Path) -> None:
    server.answer(AGENTS, trickle())
    outcome, artifact = check(server, tmp_path, CHATWOOT_HEALTH_TIMEOUT="2")
    assert_failed_probe(outcome, artifact, "agents", "timed out after 2 s", max_seconds=8)


def test_the_agent_trickling_its_answer_is_offline_at_its_timeout(
    server: HostileServer, tmp_path: Path
) -> None:
    server.answer("/agent/health", trickle(headers_too=True))
    outcome, artifact = check(
        server, tmp_path, AGENT_HEALTH_TIMEOUT="2", AGENT_HEALTH_SLOW_AFTER="1"
    )
    assert_failed_probe(outcome, artifact, "agent_sdk", "timed out after 2 s", max_seconds=8)
    assert check_of(artifact, "agent_sdk")["state"] == "offline"


def test_the_run_deadline_fails_unfinished_probes_and_keeps_the_artifact(
    server: HostileServer, tmp_path: Path
) -> None:
    server.answer(AGENTS, trickle())
    outcome, artifact = check(
        server, tmp_path, CHATWOOT_HEALTH_TIMEOUT="30", CHATWOOT_HEALTH_RUN_TIMEOUT="2"
    )
    assert_failed_probe(
        outcome,
        artifact,
        "agents",
        "run deadline of 2 s exceeded (CHATWOOT_HEALTH_RUN_TIMEOUT)",
        max_seconds=8,
    )
    assert artifact["conversations"] is not None  # the finished probes kept their findings


def test_1000_inboxes_cost_a_bounded_number_of_report_requests(tmp_path: Path) -> None:
    with HostileServer(inboxes=1000) as server:
        outcome, artifact = check(server, tmp_path)
        reports = server.hits[REPORTS]
    assert_one_line_error(outcome, 0, max_seconds=15)
    activity = check_of(artifact, "inbox_activity")
    assert activity["ok"] is True
    assert activity["detail"] == {"inboxes": 1000, "inboxes_probed": MAX_REPORT_INBOXES}
    assert reports == 2 * MAX_REPORT_INBOXES < 100  # Chatwoot's report limit a minute
    assert len(artifact["inboxes"]) == 1000
    assert len({row["inbox_id"] for row in artifact["inbox_activity"]}) == MAX_REPORT_INBOXES


def test_inboxes_take_turns_across_runs() -> None:
    inboxes = [Inbox(id=i, name=f"{i}", channel_type="x") for i in range(1000, 0, -1)]
    start = datetime(2026, 11, 27, tzinfo=UTC)
    seen: set[int] = set()
    for run in range(1000 // MAX_REPORT_INBOXES):
        now = start + timedelta(minutes=5 * run, seconds=7)
        chosen = _inboxes_in_turn(inboxes, now)
        assert len(chosen) == MAX_REPORT_INBOXES
        assert chosen == _inboxes_in_turn(inboxes, now)  # no state: the time decides
        seen.update(inbox.id for inbox in chosen)
    assert seen == set(range(1, 1001))
    assert _inboxes_in_turn(inboxes[:5], start) == inboxes[:5]


# -- Supabase -----------------------------------------------------------------------------------

AT = datetime(2026, 11, 27, 20, 0, tzinfo=UTC)


def report(server: HostileServer, tmp_path: Path, **env: str) -> tuple[Outcome, dict[str, Any]]:
    history = tmp_path / "artifacts"
    write_all(history, [artifact(AT - timedelta(minutes=5 * i)) for i in range(1, 7)])
    settings = {
        "SUPABASE_URL": server.url,
        "SUPABASE_KEY": "hostile-supabase-key-0123456789",
        "SUPABASE_TIMEOUT": "2",
        "CHATWOOT_HEALTH_CACHE_DIR": str(tmp_path / "cache"),
        **env,
    }
    outcome = run_cli(
        ["report", "--artifacts-dir", str(history), "--at", AT.isoformat(), "--format", "json"],
        env=settings,
        cwd=tmp_path,
    )
    assert outcome.stdout, outcome.stderr[-2000:]
    return outcome, json.loads(outcome.stdout)


def assert_supabase_error(
    outcome: Outcome, data: dict[str, Any], error: str, **bounds: Any
) -> None:
    assert_one_line_error(outcome, 1, **bounds)
    assert error in data["sla"]["error"], data["sla"]["error"]
    assert "supabase_unavailable" in [alert["name"] for alert in data["alerts"]]
    assert "hostile-supabase-key" not in outcome.stdout + outcome.stderr


def test_supabase_answering_pages_forever_stops_at_the_row_bound(
    server: HostileServer, tmp_path: Path
) -> None:
    server.answer("/rest/v1/decision_log", pages_forever())
    outcome, data = report(server, tmp_path)
    # The 100,000 rows held when the bound trips cost ~150 MB here (the audit: 8 GB, then a
    # MemoryError); real rows with every column cost more, hence the looser bound.
    assert_supabase_error(
        outcome, data, "table decision_log: more than 100,000 rows", max_rss_mb=300
    )


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (endless(), "answer that was refused: response larger than 5 MB"),
        (body(b"[" * 10_000 + b"]" * 10_000), "nested deeper than 64 levels"),
        (trickle(), "did not answer within 2 s (SUPABASE_TIMEOUT)"),
        (trickle(headers_too=True), "did not answer within 2 s (SUPABASE_TIMEOUT)"),
    ],
    ids=["endless", "nested", "byte-a-second", "headers-a-byte-a-second"],
)
def test_a_hostile_supabase_answer_is_a_clear_section_error(
    server: HostileServer, tmp_path: Path, answer: Any, error: str
) -> None:
    server.answer("/rest/v1/decision_log", answer)
    outcome, data = report(server, tmp_path)
    assert_supabase_error(outcome, data, error, max_seconds=12)


def test_a_supabase_gzip_bomb_is_capped_while_decoding(
    server: HostileServer, tmp_path: Path, bomb: bytes
) -> None:
    server.answer("/rest/v1/decision_log", body(bomb, encoding="gzip"))
    outcome, data = report(server, tmp_path)
    assert_supabase_error(outcome, data, "response larger than 5 MB")


def test_the_supabase_budget_bounds_all_requests_together(server: HostileServer) -> None:
    from chatwoot_health.models.settings import SupabaseSettings
    from chatwoot_health.sources.supabase import SupabaseError, SupabaseSource

    def slow_page(conn: Any, request: Any) -> None:
        time.sleep(0.4)
        pages_forever(rows_per_page=1)(conn, request)

    server.answer("/rest/v1/decision_log", slow_page)
    settings = SupabaseSettings(url=server.url, key=SecretStr("k" * 30), timeout=5, budget=1.5)
    started = time.monotonic()
    with SupabaseSource(settings) as source, pytest.raises(SupabaseError) as raised:
        source.decisions(AT - timedelta(days=1), AT)
    assert time.monotonic() - started < 3
    assert str(raised.value) == (
        "Supabase requests took more than 1.5 s in all, the budget of one report"
    )


# -- webhooks ---------------------------------------------------------------------------------


def post_webhook(server: HostileServer, path: str) -> tuple[str | None, float]:
    """One message through the engine's ``ALERT_WEBHOOK_URL`` channel, with a 2 s deadline."""
    from chatwoot_health.notify.channels import send, webhook_channel
    from chatwoot_health.notify.messages import Message

    (channel,) = webhook_channel(server.url + path + "?token=s3cret")
    message = Message("chatwoot-health/x/service_down/t/start", "start", "service_down", "x", "y")
    started = time.monotonic()
    problem = send(channel, message, deadline=2)
    return problem, time.monotonic() - started


def test_a_webhook_streaming_an_endless_answer_is_read_a_little(server: HostileServer) -> None:
    server.answer("/hook", endless(b"ok" * 32_768))
    problem, seconds = post_webhook(server, "/hook")
    assert problem is None and seconds < 2


@pytest.mark.parametrize("headers_too", [False, True])
def test_a_webhook_answering_a_byte_a_second_ends_at_the_timeout(
    server: HostileServer, headers_too: bool
) -> None:
    server.answer("/hook", trickle(b"o" * 1000, headers_too=headers_too))
    problem, seconds = post_webhook(server, "/hook")
    if headers_too:
        assert problem == "no answer within 2 s"
    else:  # the answer's status came in time; its body is not waited for
        assert problem is None
    assert seconds < 3.5


# -- unit: the bounded reader and the JSON step -------------------------------------------------


def decode(data: bytes, encoding: str, limit: int = MAX_BODY_BYTES, piece: int = 4096) -> bytes:
    reader = BoundedReader(encoding, limit)
    out: list[bytes] = []
    for i in range(0, len(data), piece):
        out.extend(reader.feed(data[i : i + piece]))
    out.extend(reader.finish())
    return b"".join(out)


def test_the_reader_decodes_what_httpx_would() -> None:
    text = json.dumps({"a": list(range(5000))}).encode()
    assert decode(text, "") == text
    assert decode(text, "identity") == text
    assert decode(gzip.compress(text), "gzip") == text
    assert decode(gzip.compress(gzip.compress(text)), "gzip, gzip") == text
    assert decode(zlib.compress(text), "deflate") == text
    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    assert decode(raw_deflate.compress(text) + raw_deflate.flush(), "deflate") == text
    assert decode(gzip.compress(text) + b"trailing junk", "gzip") == text


@pytest.mark.parametrize(
    ("data", "encoding", "error"),
    [
        (b"x" * 2049, "", "response larger than 2 KB"),
        (gzip.compress(bytes(10_000_000)), "gzip", "response larger than 2 KB"),
        (
            gzip.compress(gzip.compress(bytes(10_000_000))),
            "gzip, gzip",
            "response larger than 2 KB",
        ),
        (b"not gzip", "gzip", "response has a broken gzip encoding"),
        (b"", "gzip, gzip, gzip, gzip", "response has 4 layers of Content-Encoding"),
        (b"", "zstd", "response uses Content-Encoding 'zstd', which is not supported"),
    ],
)
def test_the_reader_refuses(data: bytes, encoding: str, error: str) -> None:
    with pytest.raises(BodyError) as raised:
        decode(data, encoding, limit=2048)
    assert str(raised.value).startswith(error)


def test_a_bomb_costs_one_piece_of_memory_not_its_size() -> None:
    reader = BoundedReader("gzip", limit=GB)
    compressed = gzip.compress(bytes(50_000_000))
    pieces = reader.feed(compressed[:1000])  # 1 KB of input may hold megabytes
    assert pieces and max(len(piece) for piece in pieces) <= 64 * 1024


@pytest.mark.parametrize(
    "text",
    [
        b'{"a": [1, 2.5, -3e10, true, false, null], "b": {"c": "[[[[NaN Infinity"}}',
        b'"' + b"[" * 100 + b'"',
        b"[" * 64 + b"]" * 64,
        b"1" * 40,
        b"0.1234567890123456789012345678901234567890123456789",
        b"1e-400",
        b'  {"escaped \\" [[[": 1}',
    ],
)
def test_ordinary_json_passes(text: bytes) -> None:
    assert decode_json(text) == json.loads(text)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        (b"[" * 65 + b"]" * 65, "nested deeper than 64 levels"),
        (b"{" + b'"a":{' * 65 + b"}" * 66, "nested deeper than 64 levels"),
        (b"1" * 41, "an integer longer than 40 digits"),
        (b"[-" + b"1" * 41 + b"]", "an integer longer than 40 digits"),
        (b"[NaN]", "NaN or Infinity"),
        (b'{"a": Infinity}', "NaN or Infinity"),
        (b"[-Infinity]", "NaN or Infinity"),
        (b"[1e400]", "exponent of 300 or more"),
        (b"[" + b"0," * MAX_JSON_VALUES + b"0]", "more than 200,000 values"),
    ],
)
def test_hostile_json_is_refused_before_it_is_built(text: bytes, error: str) -> None:
    with pytest.raises(BodyError) as raised:
        decode_json(text)
    assert error in str(raised.value)


def test_html_is_not_json_rather_than_refused() -> None:
    with pytest.raises(ValueError) as raised:
        check_json(b"<html>" + b"," * 300_000)
    assert not isinstance(raised.value, BodyError)


def test_the_async_get_reports_a_refusal_with_the_status() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/bomb":
            bomb = httpx.ByteStream(gzip.compress(bytes(20_000_000)))
            return httpx.Response(200, stream=bomb, headers={"content-encoding": "gzip"})
        return httpx.Response(200, stream=httpx.ByteStream(b'{"n": NaN}'))

    async def fetch(path: str) -> Any:
        transport = httpx.MockTransport(handler)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await get(client, path, timeout=5)

    bombed = asyncio.run(fetch("/bomb"))
    assert (bombed.status_code, bombed.error) == (200, "response larger than 5 MB")
    nan = asyncio.run(fetch("/nan"))
    assert nan.error == "JSON answer refused: NaN or Infinity is not a JSON number"
    assert not nan.is_json
