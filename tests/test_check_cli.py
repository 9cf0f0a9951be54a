"""``chatwoot-health check`` end to end: real sockets, Click, exact exit codes and messages.

Every invocation goes through ``check_cli``, which fails the test if the API token or any secret of
the example bodies (profile tokens, inbox secrets) appears in stdout, stderr or an artifact.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from chatwoot_health.cli import main
from tests.factory import artifact_files
from tests.fixtures_chatwoot import (
    CheckCli,
    CheckEnv,
    assert_no_secrets,
    check_of,
    fake_token,
    only_artifact,
    pick,
)
from tests.servers.chatwoot_server import AGENT_PATH, ChatwootServer, closed_port, secret_values

REFUSED = "connection refused: is the service running and the URL right?"
RESULT_KEYS = ("ok", "status_code", "error", "path", "state")


def first_line(text: str) -> str:
    """The table's headline (the first line of stdout is the Nagios status line)."""
    return text.splitlines()[1] if text else ""


# --------------------------------------------------------------------------- liveness


def test_stock_chatwoot_falls_back_from_rails_health_to_health(
    check_cli: CheckCli, env: CheckEnv
) -> None:
    result = check_cli()
    assert result.exit_code == 0
    assert first_line(result.stdout) == f"Chatwoot {env.server.url}: ✓ OK"
    artifact = only_artifact(env)
    assert artifact["status"] == "ok"
    assert pick(check_of(artifact, "rails_health"), *RESULT_KEYS) == {
        "ok": True, "status_code": 200, "error": None, "path": "/health", "state": "up",
    }  # fmt: skip
    assert [r.status for r in env.server.requests_to("/rails/health")] == [404]
    assert env.server.requests_to("/up") == []
    assert result.stderr == ""  # quiet when all is well: cron mails nothing


def test_an_old_instance_without_health_uses_api(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.behaviour.health = False
    result = check_cli()
    assert result.exit_code == 0
    assert pick(check_of(only_artifact(env), "rails_health"), *RESULT_KEYS) == {
        "ok": True, "status_code": 200, "error": None, "path": "/api", "state": "up",
    }  # fmt: skip


def test_404_everywhere_is_a_configuration_problem(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.behaviour.everything_404 = True  # e.g. CHATWOOT_BASE_URL names another site
    result = check_cli()
    assert result.exit_code == 3
    artifact = only_artifact(env)
    assert artifact["status"] == "unknown"
    assert pick(check_of(artifact, "rails_health"), *RESULT_KEYS) == {
        "ok": None,
        "status_code": 404,
        "error": "no liveness path: /rails/health, /health and /api all answered 404, a "
        "configuration problem, not an outage: is CHATWOOT_BASE_URL the Chatwoot URL? Pin a "
        "path with CHATWOOT_HEALTH_PATH",
        "path": None,
        "state": "no_path",
    }
    assert first_line(result.stdout) == f"Chatwoot {env.server.url}: ? UNKNOWN"
    assert "configuration problem" in result.stdout


def test_a_pinned_health_path_disables_the_fallback(check_cli: CheckCli, env: CheckEnv) -> None:
    env.set("CHATWOOT_HEALTH_PATH", "/rails/health")
    result = check_cli()
    assert result.exit_code == 3
    artifact = only_artifact(env)
    assert artifact["status"] == "unknown"
    assert pick(check_of(artifact, "rails_health"), *RESULT_KEYS) == {
        "ok": None,
        "status_code": 404,
        "error": "404 on /rails/health: CHATWOOT_HEALTH_PATH names a path this Chatwoot does "
        "not serve (try /health or /api)",
        "path": "/rails/health",
        "state": "no_path",
    }
    assert env.server.requests_to("/health") == []


def test_a_pinned_path_is_the_only_liveness_request(check_cli: CheckCli, env: CheckEnv) -> None:
    result = check_cli("--health-path", "/api")
    assert result.exit_code == 0
    assert check_of(only_artifact(env), "rails_health")["path"] == "/api"
    assert env.server.requests_to("/rails/health") == []
    assert env.server.requests_to("/health") == []
    assert len(env.server.requests_to("/api")) == 1


def test_a_502_page_on_the_liveness_path_is_down(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.fault("/health", "502")
    result = check_cli()
    assert result.exit_code == 2
    artifact = only_artifact(env)
    assert artifact["status"] == "down"
    assert pick(check_of(artifact, "rails_health"), *RESULT_KEYS) == {
        "ok": False,
        "status_code": 502,
        "error": "502 an HTML error page from /health",
        "path": "/health",
        "state": "down",
    }
    assert first_line(result.stdout) == f"Chatwoot {env.server.url}: ✗ DOWN"


def test_a_server_that_is_down_exits_critical(check_cli: CheckCli, env: CheckEnv) -> None:
    env.set("CHATWOOT_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    result = check_cli()
    assert result.exit_code == 2
    artifact = only_artifact(env)
    assert artifact["status"] == "down"
    assert pick(check_of(artifact, "rails_health"), *RESULT_KEYS) == {
        "ok": False, "status_code": None, "error": REFUSED, "path": "/rails/health",
        "state": "down",
    }  # fmt: skip
    assert [artifact[key] for key in ("conversations", "inboxes", "agents", "profile")] == [
        None,
        None,
        None,
        None,
    ]
    assert REFUSED in result.stdout


def test_a_server_slower_than_the_timeout_is_down(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.behaviour.delay = 10.0
    env.server.behaviour.path_delays[AGENT_PATH] = 0.0
    result = check_cli("--timeout", "0.3")
    assert result.exit_code == 2
    artifact = only_artifact(env)
    assert artifact["status"] == "down"
    for name in ("rails_health", "api_services", "profile", "conversations", "inboxes", "agents"):
        assert check_of(artifact, name)["error"] == "timed out after 0.3 s", name
    assert check_of(artifact, "agent_sdk")["state"] == "online"
    assert artifact["duration_ms"] < 5000  # gave up at the timeout, not at the answers


# --------------------------------------------------------------------------- readiness


def test_api_reporting_failing_is_degraded(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.behaviour.api = "degraded"
    result = check_cli()
    assert result.exit_code == 1
    artifact = only_artifact(env)
    assert artifact["status"] == "degraded"
    assert check_of(artifact, "rails_health")["ok"] is True
    api = check_of(artifact, "api_services")
    assert pick(api, *RESULT_KEYS, "detail") == {
        "ok": False,
        "status_code": 200,
        "error": "Chatwoot reports queue_services=failing (Redis)",
        "path": "/api",
        "state": "failing",
        "detail": {"data_services": "ok", "queue_services": "failing", "version": "4.15.0"},
    }
    assert first_line(result.stdout) == f"Chatwoot {env.server.url}: ! DEGRADED"


def test_api_answering_500_is_degraded(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.behaviour.api = "500"
    result = check_cli()
    assert result.exit_code == 1
    artifact = only_artifact(env)
    assert artifact["status"] == "degraded"
    assert pick(check_of(artifact, "api_services"), *RESULT_KEYS) == {
        "ok": False, "status_code": 500, "error": "500 an HTML error page from /api",
        "path": "/api", "state": "failing",
    }  # fmt: skip
    assert check_of(artifact, "rails_health")["path"] == "/health"


# --------------------------------------------------------------------------- token and account


def test_a_bad_token_is_critical_and_says_which_variable(
    check_cli: CheckCli, env: CheckEnv
) -> None:
    wrong = fake_token()
    env.set("CHATWOOT_API_TOKEN", wrong)
    result = check_cli()
    assert result.exit_code == 2
    artifact = only_artifact(env)
    assert artifact["status"] == "degraded"  # Chatwoot itself is up; the token is rejected
    for name in ("profile", "conversations", "inboxes", "agents"):
        assert pick(check_of(artifact, name), "ok", "status_code", "error", "state") == {
            "ok": False,
            "status_code": 401,
            "error": "401 Invalid Access Token: check CHATWOOT_API_TOKEN",
            "state": "rejected",
        }, name
    assert "401 Invalid Access Token: check CHATWOOT_API_TOKEN" in result.stdout
    assert first_line(result.stdout) == (
        f"Chatwoot {env.server.url}: ! DEGRADED — ✗ CRITICAL: the token or account was rejected"
    )
    for text in (result.stdout, result.stderr, env.artifacts()[0].read_text()):
        assert_no_secrets(text, [wrong], "output")
    sent = {r.headers.get("api_access_token") for r in env.server.requests if "/v1/" in r.path}
    assert sent == {wrong}


def test_an_account_the_user_is_not_member_of_is_critical(
    check_cli: CheckCli, env: CheckEnv
) -> None:
    env.set("CHATWOOT_ACCOUNT_ID", "2")
    result = check_cli()
    assert result.exit_code == 2
    artifact = only_artifact(env)
    assert check_of(artifact, "profile")["ok"] is True
    assert check_of(artifact, "agents")["error"] == (
        "401 You are not authorized to access this account: check CHATWOOT_ACCOUNT_ID (2)"
    )
    assert artifact["account_id"] == 2


def test_an_unknown_account_is_critical(check_cli: CheckCli, env: CheckEnv) -> None:
    env.set("CHATWOOT_ACCOUNT_ID", "99")
    result = check_cli()
    assert result.exit_code == 2
    artifact = only_artifact(env)
    assert pick(check_of(artifact, "conversations"), "ok", "status_code", "error") == {
        "ok": False,
        "status_code": 404,
        "error": "404 Resource could not be found: check CHATWOOT_ACCOUNT_ID (99)",
    }


def test_an_agent_token_skips_the_reports_and_stays_ok(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.behaviour.role = "agent"
    result = check_cli()
    assert result.exit_code == 0
    artifact = only_artifact(env)
    assert artifact["status"] == "ok"
    activity = check_of(artifact, "inbox_activity")
    assert pick(activity, "ok", "skipped", "skip_reason") == {
        "ok": None, "skipped": True, "skip_reason": "token lacks report permission",
    }  # fmt: skip
    assert artifact["inbox_activity"] is None
    assert "token lacks report permission" in result.stdout


# --------------------------------------------------------------------------- broken answers


def test_a_429_is_retried_once_then_succeeds(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.fault("/api/v1/profile", "429", times=1)
    result = check_cli()
    assert result.exit_code == 0
    assert check_of(only_artifact(env), "profile")["ok"] is True
    assert [r.status for r in env.server.requests_to("/api/v1/profile")] == [429, 200]


@pytest.mark.parametrize(
    ("path", "kind", "name", "error"),
    [
        ("/api/v1/accounts/1/agents", "502", "agents",
         "502 an HTML error page from /api/v1/accounts/1/agents"),
        ("/api/v1/accounts/1/agents", "not_json", "agents",
         "200 but the body is not JSON (HTML): is CHATWOOT_BASE_URL the Chatwoot URL and not a "
         "proxy or login page?"),
        ("/api/v1/accounts/1/inboxes", "oversized", "inboxes", "response larger than 5 MB"),
        ("/api/v1/profile", "hang_up", "profile",
         "the server closed the connection or broke HTTP: Server disconnected without sending a "
         "response."),
    ],
)  # fmt: skip
def test_a_broken_answer_is_degraded_with_a_clear_error(
    check_cli: CheckCli, env: CheckEnv, path: str, kind: str, name: str, error: str
) -> None:
    env.server.fault(path, kind)  # type: ignore[arg-type]
    result = check_cli()
    assert result.exit_code == 1
    artifact = only_artifact(env)
    assert artifact["status"] == "degraded"
    assert pick(check_of(artifact, name), "ok", "error") == {"ok": False, "error": error}
    assert artifact[name] is None
    assert error in result.stdout


def test_one_slow_endpoint_times_out_and_the_rest_is_kept(
    check_cli: CheckCli, env: CheckEnv
) -> None:
    env.server.behaviour.path_delays["/api/v1/accounts/1/agents"] = 10.0
    result = check_cli("--timeout", "0.3")
    assert result.exit_code == 1
    artifact = only_artifact(env)
    assert check_of(artifact, "agents")["error"] == "timed out after 0.3 s"
    assert artifact["agents"] is None
    assert artifact["conversations"] == {"open": 12, "pending": 3, "resolved": 47, "snoozed": 5}


# --------------------------------------------------------------------------- the AI agent


def test_agent_online(check_cli: CheckCli, env: CheckEnv) -> None:
    result = check_cli()
    assert result.exit_code == 0
    agent = check_of(only_artifact(env), "agent_sdk")
    assert pick(agent, "ok", "status_code", "error", "state") == {
        "ok": True, "status_code": 200, "error": None, "state": "online",
    }  # fmt: skip
    (request,) = env.server.requests_to(AGENT_PATH)
    assert "api_access_token" not in request.headers


def test_agent_slow_is_degraded(check_cli: CheckCli, env: CheckEnv) -> None:
    env.set("AGENT_HEALTH_SLOW_AFTER", "0.2")
    env.server.behaviour.path_delays[AGENT_PATH] = 0.4
    result = check_cli()
    assert result.exit_code == 1
    artifact = only_artifact(env)
    assert artifact["status"] == "degraded"
    agent = check_of(artifact, "agent_sdk")
    assert pick(agent, "ok", "status_code", "state") == {
        "ok": False, "status_code": 200, "state": "slow",
    }  # fmt: skip
    seconds = agent["duration_ms"] / 1000
    assert agent["error"] == f"answered after {seconds:.1f} s (slow: over 0.2 s)"
    assert 400 <= agent["duration_ms"] < 2000


def test_agent_answering_503_is_offline(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.behaviour.agent_status = 503
    result = check_cli()
    assert result.exit_code == 1
    agent = check_of(only_artifact(env), "agent_sdk")
    assert pick(agent, "ok", "status_code", "error", "state") == {
        "ok": False, "status_code": 503, "error": "503 from AGENT_HEALTH_URL", "state": "offline",
    }  # fmt: skip


def test_agent_down_is_offline(check_cli: CheckCli, env: CheckEnv) -> None:
    env.set("AGENT_HEALTH_URL", f"http://127.0.0.1:{closed_port()}/health")
    result = check_cli()
    assert result.exit_code == 1
    artifact = only_artifact(env)
    assert artifact["status"] == "degraded"
    assert pick(check_of(artifact, "agent_sdk"), "ok", "error", "state") == {
        "ok": False, "error": REFUSED, "state": "offline",
    }  # fmt: skip


def test_agent_not_configured_is_skipped(check_cli: CheckCli, env: CheckEnv) -> None:
    env.unset("AGENT_HEALTH_URL")
    result = check_cli()
    assert result.exit_code == 0
    agent = check_of(only_artifact(env), "agent_sdk")
    assert pick(agent, "ok", "skipped", "skip_reason", "state") == {
        "ok": None, "skipped": True, "skip_reason": "AGENT_HEALTH_URL not set",
        "state": "not_configured",
    }  # fmt: skip
    assert env.server.requests_to(AGENT_PATH) == []


# --------------------------------------------------------------------------- output


def test_format_json_prints_the_artifact(check_cli: CheckCli, env: CheckEnv) -> None:
    result = check_cli("--format", "json")
    assert result.exit_code == 0
    (path,) = env.artifacts()
    printed = json.loads(result.stdout)
    assert printed == json.loads(path.read_text())
    assert (printed["schema_version"], printed["status"]) == (1, "ok")
    assert printed["conversations"] == {"open": 12, "pending": 3, "resolved": 47, "snoozed": 5}
    assert printed["agents"]["online"] == 1


def test_no_artifact_writes_nothing(check_cli: CheckCli, env: CheckEnv) -> None:
    result = check_cli("--no-artifact", "--format", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["status"] == "ok"
    assert not env.artifacts_dir.exists()
    assert result.stderr == ""


def test_liveness_only_needs_no_token(check_cli: CheckCli, env: CheckEnv) -> None:
    env.unset("CHATWOOT_API_TOKEN")
    env.unset("CHATWOOT_ACCOUNT_ID")
    result = check_cli("--liveness-only")
    assert result.exit_code == 0
    artifact = only_artifact(env)
    assert [check["name"] for check in artifact["checks"]] == [
        "rails_health",
        "api_services",
        "agent_sdk",
    ]
    assert all(not r.path.startswith(("/api/v1", "/api/v2")) for r in env.server.requests)


def test_an_unwritable_artifacts_directory_is_unknown(
    check_cli: CheckCli, env: CheckEnv, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the directory should be\n")
    env.set("CHATWOOT_HEALTH_ARTIFACTS_DIR", str(blocker))
    result = check_cli()
    assert result.exit_code == 3
    assert result.stderr == (
        f"chatwoot-health: UNKNOWN - artifact not written: cannot write to {blocker}: File exists\n"
    )
    assert first_line(result.stdout) == f"Chatwoot {env.server.url}: ✓ OK"
    assert blocker.read_text() == "a file where the directory should be\n"


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("CHATWOOT_BASE_URL", None,
         "CHATWOOT_BASE_URL is not set: the Chatwoot URL to probe, e.g. https://chat.example.com"),
        ("CHATWOOT_BASE_URL", "chat.example.com",
         "CHATWOOT_BASE_URL: 'chat.example.com' is not an http(s) URL, e.g. "
         "https://chat.example.com"),
        ("CHATWOOT_BASE_URL", "https://user:pw@chat.example.com",
         "CHATWOOT_BASE_URL: the URL must not carry credentials; use the token variable instead"),
        ("CHATWOOT_ACCOUNT_ID", "abc", "CHATWOOT_ACCOUNT_ID: 'abc' is not a whole number"),
        ("CHATWOOT_ACCOUNT_ID", "0", "CHATWOOT_ACCOUNT_ID: '0' must be a positive whole number"),
        ("CHATWOOT_ACCOUNT_ID", None,
         "CHATWOOT_ACCOUNT_ID is not set: the authenticated probes need it (or use "
         "--liveness-only)"),
        ("CHATWOOT_API_TOKEN", None,
         "CHATWOOT_API_TOKEN is not set: the authenticated probes need it (or use "
         "--liveness-only)"),
        ("CHATWOOT_HEALTH_PATH", "health",
         "CHATWOOT_HEALTH_PATH: 'health' must be a path starting with '/', e.g. /health"),
        ("CHATWOOT_HEALTH_TIMEOUT", "soon",
         "CHATWOOT_HEALTH_TIMEOUT: 'soon' is not a duration: use a number and a unit, e.g. 90s, "
         "5m, 24h, 7d or 2w"),
    ],
)  # fmt: skip
def test_a_bad_setting_exits_unknown_with_one_line(
    check_cli: CheckCli, env: CheckEnv, variable: str, value: str | None, message: str
) -> None:
    if value is None:
        env.unset(variable)
    else:
        env.set(variable, value)
    result = check_cli()
    assert result.exit_code == 3
    assert result.stderr == f"chatwoot-health: {message}\n"
    assert result.stdout == ""
    assert env.server.requests == []
    assert env.artifacts() == []


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["check", "--xyzzy"],
         "chatwoot-health: No such option '--xyzzy' (see chatwoot-health check --help)"),
        (["check", "--format", "xml"],
         "chatwoot-health: Invalid value for '--format': 'xml' is not one of 'table', 'json' "
         "(see chatwoot-health check --help)"),
        (["check", "--timeout", "0"],
         "chatwoot-health: CHATWOOT_HEALTH_TIMEOUT (option): '0' must be between 0 and 3600 "
         "seconds"),
        (["check", "--account-id", "-1"],
         "chatwoot-health: CHATWOOT_ACCOUNT_ID (option): '-1' must be a positive whole number"),
        (["frobnicate"],
         "chatwoot-health: No such command 'frobnicate' (see chatwoot-health --help)"),
        (["check", "extra"],
         "chatwoot-health: Got unexpected extra argument (extra) "
         "(see chatwoot-health check --help)"),
    ],
)  # fmt: skip
def test_usage_errors_exit_unknown(
    runner: CliRunner, env: CheckEnv, args: list[str], line: str
) -> None:
    """Every usage error is one line (no usage block), exit 3: a CI log or cron's mail shows
    its first line, and that is the whole reason."""
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 3
    assert result.stderr == f"{line}\n"
    assert env.server.requests == []


def _write_config(path: Path, **values: str) -> Path:
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in values.items()))
    return path


def test_config_file_fills_what_env_and_flags_leave_open(
    check_cli: CheckCli, env: CheckEnv, tmp_path: Path
) -> None:
    config = _write_config(
        tmp_path / "chatwoot-health.toml",
        CHATWOOT_BASE_URL=f"http://127.0.0.1:{closed_port()}",  # env wins
        CHATWOOT_HEALTH_PATH="/api",  # only here: file beats the default
        CHATWOOT_HEALTH_ARTIFACTS_DIR=str(tmp_path / "from-file"),
    )
    env.unset("CHATWOOT_HEALTH_ARTIFACTS_DIR")
    result = check_cli(group_args=["--config", str(config)])
    assert result.exit_code == 0
    (path,) = artifact_files(tmp_path / "from-file")
    assert check_of(json.loads(path.read_text()), "rails_health")["path"] == "/api"


def test_env_beats_the_config_file(check_cli: CheckCli, env: CheckEnv, tmp_path: Path) -> None:
    config = _write_config(
        tmp_path / "c.toml", CHATWOOT_HEALTH_ARTIFACTS_DIR=str(tmp_path / "from-file")
    )
    env.set("CHATWOOT_HEALTH_CONFIG", str(config))  # the file named by the environment
    result = check_cli()
    assert result.exit_code == 0
    assert len(env.artifacts()) == 1
    assert not (tmp_path / "from-file").exists()


def test_a_flag_beats_env_and_file(check_cli: CheckCli, env: CheckEnv, tmp_path: Path) -> None:
    config = _write_config(
        tmp_path / "c.toml",
        CHATWOOT_HEALTH_ARTIFACTS_DIR=str(tmp_path / "from-file"),
        CHATWOOT_BASE_URL=f"http://127.0.0.1:{closed_port()}",
    )
    env.set("CHATWOOT_BASE_URL", f"http://127.0.0.1:{closed_port()}")
    result = check_cli(
        "--artifacts-dir", str(tmp_path / "from-flag"), "--base-url", env.server.url,
        group_args=["--config", str(config)],
    )  # fmt: skip
    assert result.exit_code == 0
    assert len(artifact_files(tmp_path / "from-flag")) == 1
    assert env.artifacts() == []
    assert not (tmp_path / "from-file").exists()


def test_the_default_artifacts_directory_is_relative_to_the_working_directory(
    check_cli: CheckCli, env: CheckEnv, tmp_cwd: os.PathLike[str]
) -> None:
    env.unset("CHATWOOT_HEALTH_ARTIFACTS_DIR")
    result = check_cli()
    assert result.exit_code == 0
    (path,) = artifact_files(Path(tmp_cwd) / "artifacts" / "ops" / "chatwoot-health")
    assert json.loads(path.read_text())["status"] == "ok"
    assert result.stderr == ""
    verbose = check_cli("--verbose")
    directory = Path(tmp_cwd) / "artifacts" / "ops" / "chatwoot-health"
    (second,) = set(artifact_files(directory)) - {path}
    written = Path("artifacts/ops/chatwoot-health") / second.relative_to(directory)
    assert verbose.stderr == f"chatwoot-health: artifact: {written}\n"
    assert second.parent.name == f"{second.name[:4]}-{second.name[4:6]}"  # its UTC month


def test_a_bad_value_in_the_config_file_names_the_file(
    check_cli: CheckCli, env: CheckEnv, tmp_path: Path
) -> None:
    config = _write_config(tmp_path / "c.toml", CHATWOOT_HEALTH_TIMEOUT="0")
    result = check_cli(group_args=["--config", str(config)])
    assert result.exit_code == 3
    assert result.stderr == (
        "chatwoot-health: CHATWOOT_HEALTH_TIMEOUT (config file): '0' must be between 0 and 3600 "
        "seconds\n"
    )


def test_a_missing_config_file_is_unknown(
    check_cli: CheckCli, env: CheckEnv, tmp_path: Path
) -> None:
    result = check_cli(group_args=["--config", str(tmp_path / "nope.toml")])
    assert result.exit_code == 3
    assert result.stderr == f"chatwoot-health: config file {tmp_path / 'nope.toml'} not found\n"


# --------------------------------------------------------------------------- the process


def test_check_never_imports_supabase(env: CheckEnv) -> None:
    code = (
        "import sys\n"
        "from chatwoot_health.cli import main\n"
        "try:\n"
        "    main(['check', '--no-artifact'])\n"
        "except SystemExit as exc:\n"
        "    status = exc.code\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('supabase', 'postgrest', 'gotrue', 'supabase_auth', 'realtime', 'storage3'))\n"
        "print('EXIT', status, 'SUPABASE', 'supabase' in sys.modules, loaded)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.splitlines()[-1] == "EXIT 0 SUPABASE False []", done.stderr
    assert_no_secrets(done.stdout + done.stderr, env.secrets(), "subprocess output")
    assert len(env.server.requests) == 19


def test_python_dash_m_shows_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chatwoot_health", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Usage: python -m chatwoot_health [OPTIONS] COMMAND [ARGS]...")
    assert "Exit codes (Nagios): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN." in done.stdout
    assert "  check " in done.stdout and "  prune " in done.stdout


def test_the_redaction_grep_looks_for_real_secrets(chatwoot: ChatwootServer) -> None:
    import httpx

    assert sorted(secret_values()) == sorted([
        "q3vJ8xKfYy2bT9nZrW4pLmC7", "sT1u5yQ2mN8vX4cR7bK9dF3h",  # profile tokens
        "b7Yq2Lk9Xw4Rt6Zp1Nc8Vm3S", "d5Fh8Jk2Lq9Wz4Xc", "hQ4kZt8mWc2Rv6Ny1Pb9Xs3L",  # API inbox
        "Lx3vQk9wPz7mTn2rYb5cHd4s", "Qm8dTz3kV6rWp1yN5sJx2cL9",  # web widget
    ])  # fmt: skip
    headers = {"api_access_token": chatwoot.token}
    with httpx.Client(base_url=chatwoot.url, headers=headers) as client:
        served = client.get("/api/v1/profile").text + client.get("/api/v1/accounts/1/inboxes").text
    assert all(secret in served for secret in secret_values())  # the tool does receive them


def test_the_server_fixture_is_a_real_chatwoot_lookalike(chatwoot: ChatwootServer) -> None:
    """The stand-in itself: Chatwoot's documented bodies and headers (what the tests rely on)."""
    import httpx

    with httpx.Client(base_url=chatwoot.url) as client:
        assert client.get("/rails/health").status_code == 404
        assert client.get("/up").status_code == 404
        assert client.get("/health").json() == {"status": "woot"}
        assert client.get("/api/v1/profile").json() == {
            "errors": ["You need to sign in or sign up before continuing."]
        }
        wrong = client.get("/api/v1/profile", headers={"api_access_token": "nope"})
        assert (wrong.status_code, wrong.json()) == (401, {"error": "Invalid Access Token"})
        bearer = client.get(
            "/api/v1/profile", headers={"Authorization": f"Bearer {chatwoot.token}"}
        )
        assert bearer.status_code == 401  # Chatwoot ignores Authorization: Bearer
        hyphen = client.get("/api/v1/profile", headers={"Api-Access-Token": chatwoot.token})
        assert hyphen.status_code == 200
        chatwoot.fault("/health", "429", times=1)
        throttled = client.get("/health")
        assert (throttled.status_code, throttled.text) == (429, "Retry later\n")
        assert throttled.headers["content-type"] == "text/plain"
        assert "retry-after" not in throttled.headers
        assert client.get("/health").status_code == 200
        no_type = client.get(
            "/api/v2/accounts/1/reports", headers={"api_access_token": chatwoot.token}
        )
        assert no_type.status_code == 500


def test_a_proxy_answering_403_on_liveness_is_a_configuration_problem(
    check_cli: CheckCli, env: CheckEnv
) -> None:
    """Down means no connection, a timeout, TLS or a 5xx; a 403 means something else answers."""
    env.server.fault("/rails/health", "403")
    result = check_cli()
    assert result.exit_code == 3
    artifact = only_artifact(env)
    assert artifact["status"] == "unknown"
    liveness = check_of(artifact, "rails_health")
    assert (liveness["ok"], liveness["state"], liveness["status_code"]) == (None, "no_path", 403)
    assert liveness["error"].endswith(
        "— /rails/health answered 403, not a health check: a proxy or login in front of "
        "Chatwoot? Pin a path with CHATWOOT_HEALTH_PATH"
    )
    assert env.server.requests_to("/health") != []  # all candidates are asked at once


def test_api_as_liveness_must_be_chatwoots_status_json(check_cli: CheckCli, env: CheckEnv) -> None:
    env.server.behaviour.health = False  # an instance older than 4.11: /api is the fallback
    env.server.fault("/api", "not_json")
    result = check_cli()
    assert result.exit_code == 3
    liveness = check_of(only_artifact(env), "rails_health")
    assert (liveness["ok"], liveness["path"], liveness["state"]) == (None, "/api", "no_path")
    assert liveness["error"] == (
        "200 on /api but not Chatwoot's status JSON (no data_services/queue_services): is "
        "CHATWOOT_BASE_URL the Chatwoot URL, not a proxy or login page?"
    )


def test_tls_failure_is_down_with_an_actionable_error(check_cli: CheckCli, env: CheckEnv) -> None:
    """https:// against the plain-HTTP test server: a real failed TLS handshake."""
    env.set("CHATWOOT_BASE_URL", env.server.url.replace("http://", "https://"))
    result = check_cli("--liveness-only", "--timeout", "3")
    assert result.exit_code == 2
    liveness = check_of(only_artifact(env), "rails_health")
    assert liveness["ok"] is False and liveness["state"] == "down"
    assert liveness["error"].startswith("TLS error: ")
