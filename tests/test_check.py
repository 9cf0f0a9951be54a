"""``run_check`` against the Chatwoot stand-in: what each probe finds, and how a run is judged.

Core level (no Click): a fixed ``now``, a short 429 back-off. The end-to-end CLI scenarios, with
their exit codes and output, are in ``test_check_cli.py``.
"""

from __future__ import annotations

import errno
import socket
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from chatwoot_health.check import exit_code_for
from chatwoot_health.models.artifact import (
    Agents,
    AgentSummary,
    ConversationCounts,
    Inbox,
    InboxHour,
    Profile,
    RunStatus,
)
from chatwoot_health.probes.http import describe_transport_error
from chatwoot_health.state import ExitCode
from tests.fixtures_chatwoot import NOW, Unreachable, run_core
from tests.servers.chatwoot_server import (
    AGENT_PATH,
    DEFAULT_COUNTS,
    ChatwootServer,
    first_response,
    incoming_messages,
)

INBOXES = "/api/v1/accounts/1/inboxes"
AGENTS = "/api/v1/accounts/1/agents"
META = "/api/v1/accounts/1/conversations/meta"
REPORTS = "/api/v2/accounts/1/reports"
REFUSED = "connection refused: is the service running and the URL right?"


def test_stock_chatwoot_every_section_is_filled(chatwoot: ChatwootServer, tmp_path: Path) -> None:
    outcome = run_core(chatwoot, tmp_path)
    artifact = outcome.artifact
    assert outcome.exit_code is ExitCode.OK
    assert artifact.status is RunStatus.OK
    assert [(c.name, c.ok, c.state) for c in artifact.checks] == [
        ("rails_health", True, "up"),
        ("api_services", True, "ok"),
        ("profile", True, None),
        ("conversations", True, None),
        ("inboxes", True, None),
        ("agents", True, None),
        ("inbox_activity", True, None),
        ("agent_sdk", True, "online"),
    ]
    liveness = artifact.check("rails_health")
    assert liveness is not None
    assert (liveness.path, liveness.status_code, liveness.error) == ("/health", 200, None)
    api = artifact.check("api_services")
    assert api is not None
    assert api.detail == {"data_services": "ok", "queue_services": "ok", "version": "4.15.0"}
    assert artifact.profile == Profile(
        user_id=1, name="Alex Admin", role="administrator", availability="online"
    )
    assert artifact.instance == chatwoot.url
    assert artifact.account_id == 1
    assert artifact.checked_at == NOW


def test_conversation_counts_map_each_status_to_its_own_request(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    chatwoot.behaviour.counts = {"open": 21, "pending": 4, "resolved": 133, "snoozed": 2}
    outcome = run_core(chatwoot, tmp_path)
    assert outcome.artifact.conversations == ConversationCounts(
        open=21, pending=4, resolved=133, snoozed=2
    )
    statuses = sorted(request.query["status"] for request in chatwoot.requests_to(META))
    assert statuses == ["open", "pending", "resolved", "snoozed"]


def test_inboxes_keep_only_id_name_and_channel(chatwoot: ChatwootServer, tmp_path: Path) -> None:
    outcome = run_core(chatwoot, tmp_path)
    assert outcome.artifact.inboxes == [
        Inbox(id=5, name="CRM Bridge", channel_type="Channel::Api"),
        Inbox(id=3, name="Website", channel_type="Channel::WebWidget"),
        Inbox(id=8, name="WhatsApp Sales", channel_type="Channel::Whatsapp"),
        Inbox(id=6, name="support@example.com", channel_type="Channel::Email"),
    ]
    dumped = outcome.artifact.model_dump(mode="json")["inboxes"]
    assert {tuple(sorted(inbox)) for inbox in dumped} == {("channel_type", "id", "name")}


def test_agents_are_counted_by_availability(chatwoot: ChatwootServer, tmp_path: Path) -> None:
    outcome = run_core(chatwoot, tmp_path)
    assert outcome.artifact.agents == Agents(
        online=1,
        busy=1,
        offline=1,
        members=[
            AgentSummary(name="Alex Admin", role="administrator", availability="online"),
            AgentSummary(name="Sam Reviewer", role="agent", availability="busy"),
            AgentSummary(name="Kim", role="agent", availability="offline"),
        ],
    )


def test_inbox_activity_has_the_previous_and_the_current_hour_of_every_inbox(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    outcome = run_core(chatwoot, tmp_path)
    current = NOW.replace(minute=0, second=0, microsecond=0)
    previous = current - timedelta(hours=1)
    channels = {5: "Channel::Api", 3: "Channel::WebWidget", 8: "Channel::Whatsapp",
                6: "Channel::Email"}  # fmt: skip
    expected = []
    for inbox_id, channel in channels.items():
        for hour in (previous, current):
            stamp = int(hour.timestamp())
            average, events = first_response(inbox_id, stamp)
            expected.append(
                InboxHour(
                    inbox_id=inbox_id,
                    channel_type=channel,
                    hour=hour,
                    incoming_messages=incoming_messages(inbox_id, stamp),
                    avg_first_response_seconds=average if events else None,
                    first_response_count=events,
                )
            )
    assert outcome.artifact.inbox_activity == expected
    # The fixture data covers an hour without first responses (average null, never 0).
    assert any(bucket.avg_first_response_seconds is None for bucket in expected)
    reports = chatwoot.requests_to(REPORTS)
    assert len(reports) == 8
    assert {(r.query["metric"], r.query["id"]) for r in reports} == {
        (metric, str(inbox_id))
        for metric in ("incoming_messages_count", "avg_first_response_time")
        for inbox_id in channels
    }
    for request in reports:
        assert (request.query["type"], request.query["group_by"]) == ("inbox", "hour")
        assert int(request.query["since"]) == int(previous.timestamp())
        assert int(request.query["until"]) == int((current + timedelta(hours=1)).timestamp())


def test_an_agent_token_skips_inbox_activity_without_failing_the_run(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    chatwoot.behaviour.role = "agent"
    outcome = run_core(chatwoot, tmp_path)
    activity = outcome.artifact.check("inbox_activity")
    assert activity is not None
    assert (activity.ok, activity.skipped, activity.status_code, activity.skip_reason) == (
        None,
        True,
        401,
        "token lacks report permission",
    )
    assert outcome.artifact.inbox_activity is None
    assert outcome.artifact.status is RunStatus.OK
    assert outcome.exit_code is ExitCode.OK
    assert outcome.artifact.profile is not None
    assert outcome.artifact.profile.role == "agent"


def test_old_instance_uses_api_as_liveness_and_asks_it_once(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    chatwoot.behaviour.health = False
    outcome = run_core(chatwoot, tmp_path)
    liveness = outcome.artifact.check("rails_health")
    assert liveness is not None
    assert (liveness.ok, liveness.path, liveness.status_code) == (True, "/api", 200)
    assert outcome.exit_code is ExitCode.OK
    assert len(chatwoot.requests_to("/api")) == 1  # liveness and readiness share the answer


def test_a_deployment_that_routes_rails_health_uses_it(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    chatwoot.behaviour.rails_health = True
    outcome = run_core(chatwoot, tmp_path)
    liveness = outcome.artifact.check("rails_health")
    assert liveness is not None
    assert (liveness.ok, liveness.path) == (True, "/rails/health")


def test_old_instance_with_failing_redis_is_down(chatwoot: ChatwootServer, tmp_path: Path) -> None:
    # Without /health, /api is the liveness path, and it only counts when both services are ok.
    chatwoot.behaviour.health = False
    chatwoot.behaviour.api = "degraded"
    outcome = run_core(chatwoot, tmp_path)
    liveness = outcome.artifact.check("rails_health")
    assert liveness is not None
    assert (liveness.ok, liveness.path, liveness.error) == (
        False,
        "/api",
        "/api reports queue_services=failing (Redis)",
    )
    assert outcome.artifact.status is RunStatus.DOWN
    assert outcome.exit_code is ExitCode.CRITICAL


def test_without_a_token_chatwoot_says_sign_in(chatwoot: ChatwootServer, tmp_path: Path) -> None:
    outcome = run_core(chatwoot, tmp_path, api_token=None)
    profile = outcome.artifact.check("profile")
    assert profile is not None
    assert profile.error == (
        "401 no token reached Chatwoot: check CHATWOOT_API_TOKEN, or a proxy that drops the "
        "api_access_token header"
    )
    assert outcome.exit_code is ExitCode.CRITICAL


def test_a_suspended_account_is_rejected(chatwoot: ChatwootServer, tmp_path: Path) -> None:
    outcome = run_core(chatwoot, tmp_path, account_id=3)
    conversations = outcome.artifact.check("conversations")
    assert conversations is not None
    assert conversations.error == "401 Account is suspended: account 3 is suspended"
    assert conversations.state == "rejected"
    assert outcome.exit_code is ExitCode.CRITICAL


def test_a_429_is_retried_once_after_a_pause(chatwoot: ChatwootServer, tmp_path: Path) -> None:
    chatwoot.fault(AGENTS, "429", times=1)
    outcome = run_core(chatwoot, tmp_path, retry_429_after=0.2)
    agents = outcome.artifact.check("agents")
    assert agents is not None
    assert (agents.ok, agents.status_code, agents.error) == (True, 200, None)
    first, second = chatwoot.requests_to(AGENTS)
    assert (first.status, second.status) == (429, 200)
    assert first.answered is not None
    assert second.arrived - first.answered >= 0.2
    assert outcome.exit_code is ExitCode.OK


def test_two_429s_in_a_row_are_an_error(chatwoot: ChatwootServer, tmp_path: Path) -> None:
    chatwoot.fault(AGENTS, "429", times=2)
    outcome = run_core(chatwoot, tmp_path)
    agents = outcome.artifact.check("agents")
    assert agents is not None
    assert (agents.ok, agents.status_code, agents.error) == (
        False,
        429,
        "429 rate limited by Chatwoot (Retry later), also after one retry",
    )
    assert [request.status for request in chatwoot.requests_to(AGENTS)] == [429, 429]
    assert outcome.artifact.agents is None
    assert outcome.artifact.status is RunStatus.DEGRADED
    assert outcome.exit_code is ExitCode.WARNING


def test_one_throttled_status_is_retried_and_the_counts_stay_right(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    chatwoot.fault(META, "429", times=1)
    outcome = run_core(chatwoot, tmp_path)
    assert outcome.artifact.conversations == ConversationCounts(**DEFAULT_COUNTS)
    assert sorted(request.status or 0 for request in chatwoot.requests_to(META)) == [
        200,
        200,
        200,
        200,
        429,
    ]


def test_a_slow_endpoint_times_out_alone(chatwoot: ChatwootServer, tmp_path: Path) -> None:
    chatwoot.behaviour.path_delays[AGENTS] = 10.0
    outcome = run_core(chatwoot, tmp_path, timeout=0.3)
    agents = outcome.artifact.check("agents")
    assert agents is not None
    assert (agents.ok, agents.status_code, agents.error) == (False, None, "timed out after 0.3 s")
    assert agents.duration_ms is not None
    assert 300 <= agents.duration_ms < 5000  # gave up at the timeout, not at the answer
    assert outcome.artifact.status is RunStatus.DEGRADED
    assert outcome.exit_code is ExitCode.WARNING


def test_the_token_travels_only_in_the_header_and_only_to_chatwoot_api(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    run_core(chatwoot, tmp_path)
    assert len(chatwoot.requests) == 19
    for request in chatwoot.requests:
        assert chatwoot.token not in request.path
        assert all(chatwoot.token not in value for value in request.query.values())
        assert "authorization" not in request.headers
        if request.path.startswith(("/api/v1/", "/api/v2/")):
            assert request.headers["api_access_token"] == chatwoot.token
        else:
            assert "api_access_token" not in request.headers, request.path
            assert all(chatwoot.token not in value for value in request.headers.values())


def test_probes_run_concurrently_and_reports_wait_only_for_the_inbox_list(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    chatwoot.behaviour.delay = 0.5
    outcome = run_core(chatwoot, tmp_path)
    assert outcome.exit_code is ExitCode.OK
    first_wave = [r for r in chatwoot.requests if r.path != REPORTS]
    reports = chatwoot.requests_to(REPORTS)
    assert len(first_wave) == 11 and len(reports) == 8
    first_answer = min(r.answered for r in chatwoot.requests if r.answered is not None)
    # Every request of the first round trip was sent before any answer came back …
    assert all(request.arrived < first_answer for request in first_wave)
    # … and every report request right after the inbox list, all at once.
    (inbox_list,) = chatwoot.requests_to(INBOXES)
    assert inbox_list.answered is not None
    first_report_answer = min(r.answered for r in reports if r.answered is not None)
    assert all(inbox_list.answered <= r.arrived < first_report_answer for r in reports)
    assert chatwoot.max_in_flight() >= 11


@pytest.mark.parametrize(
    ("kind", "error"),
    [
        ("502", "502 an HTML error page from /api/v1/profile"),
        ("500", "500 a server error from /api/v1/profile: Internal Server Error"),
        (
            "not_json",
            "200 but the body is not JSON (HTML): is CHATWOOT_BASE_URL the Chatwoot URL and not a "
            "proxy or login page?",
        ),
        ("oversized", "response larger than 5 MB"),
        (
            "hang_up",
            "the server closed the connection or broke HTTP: Server disconnected without sending "
            "a response.",
        ),
    ],
)
def test_a_broken_answer_becomes_an_actionable_error(
    chatwoot: ChatwootServer, tmp_path: Path, kind: str, error: str
) -> None:
    chatwoot.fault("/api/v1/profile", kind)  # type: ignore[arg-type]
    outcome = run_core(chatwoot, tmp_path)
    profile = outcome.artifact.check("profile")
    assert profile is not None
    assert (profile.ok, profile.error) == (False, error)
    assert outcome.artifact.profile is None
    assert outcome.artifact.status is RunStatus.DEGRADED
    assert outcome.exit_code is ExitCode.WARNING


def test_a_broken_inbox_list_skips_the_per_inbox_reports(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    chatwoot.fault(INBOXES, "oversized")
    outcome = run_core(chatwoot, tmp_path)
    activity = outcome.artifact.check("inbox_activity")
    assert activity is not None
    assert (activity.skipped, activity.skip_reason) == (True, "needs the inbox list, which failed")
    assert (outcome.artifact.inboxes, outcome.artifact.inbox_activity) == (None, None)
    assert chatwoot.requests_to(REPORTS) == []
    assert outcome.exit_code is ExitCode.WARNING


def test_the_ai_agent_answering_with_an_error_page_is_offline(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    chatwoot.fault(AGENT_PATH, "502")
    outcome = run_core(chatwoot, tmp_path)
    agent = outcome.artifact.check("agent_sdk")
    assert agent is not None
    assert (agent.ok, agent.state, agent.status_code, agent.error) == (
        False,
        "offline",
        502,
        "502 from AGENT_HEALTH_URL (an HTML error page)",
    )
    assert outcome.exit_code is ExitCode.WARNING


def test_a_server_that_is_down_refuses_every_probe(tmp_path: Path) -> None:
    outcome = run_core(Unreachable(), tmp_path)
    assert outcome.artifact.status is RunStatus.DOWN
    assert outcome.exit_code is ExitCode.CRITICAL
    assert [(check.name, check.ok, check.error) for check in outcome.artifact.checks] == [
        (name, False, REFUSED)
        for name in ("rails_health", "api_services", "profile", "conversations", "inboxes",
                     "agents")
    ] + [("inbox_activity", None, None), ("agent_sdk", False, REFUSED)]  # fmt: skip


def test_refused_connections_are_named_from_the_cause_chain() -> None:
    try:
        try:
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed")
        except ConnectionRefusedError as refused:
            raise OSError("All connection attempts failed") from refused
    except OSError as wrapped:
        error = httpx.ConnectError("All connection attempts failed")
        error.__cause__ = wrapped
    assert describe_transport_error(error, 5) == REFUSED


def test_dns_failures_are_named_from_the_cause_chain() -> None:
    error = httpx.ConnectError("[Errno -2] Name or service not known")
    error.__cause__ = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    assert describe_transport_error(error, 5) == "cannot resolve the host name (DNS): check the URL"


def test_other_connect_errors_keep_their_text() -> None:
    error = httpx.ConnectError("Network is unreachable")
    assert describe_transport_error(error, 5) == "cannot connect: Network is unreachable"


@pytest.mark.parametrize(
    ("status", "rejected", "code"),
    [
        (RunStatus.OK, False, ExitCode.OK),
        (RunStatus.DEGRADED, False, ExitCode.WARNING),
        (RunStatus.DEGRADED, True, ExitCode.CRITICAL),
        (RunStatus.DOWN, False, ExitCode.CRITICAL),
        (RunStatus.UNKNOWN, False, ExitCode.UNKNOWN),
        (RunStatus.UNKNOWN, True, ExitCode.UNKNOWN),
    ],
)
def test_exit_codes(status: RunStatus, rejected: bool, code: ExitCode) -> None:
    assert exit_code_for(status, rejected) is code
