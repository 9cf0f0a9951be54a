"""Nagios / Icinga, Prometheus, badges, secrets from files, completion and help (issue #13)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from chatwoot_health.cli import main
from tests.test_integrations_gate import AT, history, report

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
#: The Monitoring Plugins guidelines' perfdata item: 'label'=value[UOM];[warn];[crit];[min];[max]
PERFDATUM = re.compile(
    r"^(?:'[^'=]+'|[^ '=]+)=(?:U|-?[0-9.]+(?:s|ms|us|%|B|KB|MB|TB|c)?)"
    r"(?:;[0-9.:~@-]*){0,4}$"
)


# ------------------------------------------------------------------------------------- Nagios


def test_nagios_status_line_perfdata_and_long_output(tmp_path: Path, runner: CliRunner) -> None:
    history(tmp_path, pending=15)
    code, out, _ = report(runner, tmp_path, "--format", "nagios", "--min-uptime", "100")
    assert code == 2
    first, *rest = out.splitlines()
    status, perfdata = first.split(" | ")
    assert status == (
        "CHATWOOT CRITICAL - Uptime 99.653% over 24h is below the required 100% (--min-uptime) "
        "(+1 more)"
    )
    items = perfdata.split(" ")
    assert all(PERFDATUM.match(item) for item in items), items
    assert items[0] == "uptime=99.653%;99.9:;100:;0;100"
    assert items[1] == "coverage=100%;90:;;0;100"
    assert items[3] == "p90=0.1s;5;;0"
    assert items[5] == "pending=15;10;20;0"
    assert [item.split("=")[0] for item in items] == [
        "uptime", "coverage", "median", "p90", "p99", "pending",
    ]  # fmt: skip
    assert rest == [
        "CRITICAL uptime_below_target: measured uptime 99.653 %; threshold ≥ 100 % "
        "(--min-uptime); window 24h",
        "WARNING high_queue: measured 15 pending, more than 10 in 287 runs; threshold ≤ 10 "
        "pending within 30 minutes; window the last 1435 minutes",
    ]


def test_nagios_state_word_follows_fail_on(tmp_path: Path, runner: CliRunner) -> None:
    history(tmp_path, down=False, pending=15)
    code, out, _ = report(runner, tmp_path, "--format", "nagios", "--fail-on", "critical")
    assert code == 0
    assert out.startswith(
        "CHATWOOT OK - uptime 100 % over 24h, no critical alert (1 below --fail-on critical) | "
    )


def test_nagios_reason_never_breaks_the_perfdata() -> None:
    from chatwoot_health.render.nagios import clean, perfdatum

    assert clean("a | b\nc\x1b[31m") == "a / b c"
    assert perfdatum("odd label", 1.5, "s", "5", "", 0) == "'odd label'=1.5s;5;;0"
    assert perfdatum("x", None) == "x=U"


@pytest.mark.skipif(shutil.which("nagios4") is None, reason="nagios4 is not installed")
def test_the_nagios_example_passes_nagios_verification(tmp_path: Path) -> None:
    """``nagios4 -v`` on a minimal main file that loads examples/nagios/ with the stock templates
    (generic-host, generic-service) defined as Debian's sample configuration does."""
    (tmp_path / "templates.cfg").write_text(
        """
define timeperiod {
    timeperiod_name 24x7
    alias 24x7
    sunday 00:00-24:00
    monday 00:00-24:00
    tuesday 00:00-24:00
    wednesday 00:00-24:00
    thursday 00:00-24:00
    friday 00:00-24:00
    saturday 00:00-24:00
}
define command {
    command_name notify-none
    command_line /bin/true
}
define command {
    command_name check-host-alive
    command_line $USER1$/check_ping -H $HOSTADDRESS$ -w 3000.0,80% -c 5000.0,100% -p 5
}
define contact {
    contact_name admin
    host_notification_period 24x7
    service_notification_period 24x7
    host_notification_options d,u,r
    service_notification_options w,u,c,r
    host_notification_commands notify-none
    service_notification_commands notify-none
}
define contactgroup {
    contactgroup_name admins
    alias admins
    members admin
}
define host {
    name generic-host
    check_command check-host-alive
    max_check_attempts 10
    check_period 24x7
    notification_interval 0
    notification_period 24x7
    contact_groups admins
    register 0
}
define service {
    name generic-service
    max_check_attempts 3
    check_interval 5
    retry_interval 1
    check_period 24x7
    notification_interval 0
    notification_period 24x7
    contact_groups admins
    register 0
}
"""
    )
    main_cfg = tmp_path / "nagios.cfg"
    main_cfg.write_text(
        f"log_file={tmp_path}/nagios.log\n"
        f"cfg_file={tmp_path}/templates.cfg\n"
        f"cfg_file={EXAMPLES}/nagios/chatwoot-health.cfg\n"
        f"resource_file={EXAMPLES}/nagios/resource.cfg\n"
        f"status_file={tmp_path}/status.dat\n"
        f"temp_file={tmp_path}/nagios.tmp\n"
        f"temp_path={tmp_path}\n"
        f"check_result_path={tmp_path}\n"
        f"lock_file={tmp_path}/nagios.lock\n"
        "illegal_macro_output_chars=`~$&|'\"<>\n"
        f"nagios_user={os.getuid()}\n"
        f"nagios_group={os.getgid()}\n"
    )
    done = subprocess.run(["nagios4", "-v", str(main_cfg)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Total Errors:   0" in done.stdout
    assert "2 services" in done.stdout.replace("Checked ", "")


def test_the_nagios_example_uses_the_token_file_macro() -> None:
    commands = (EXAMPLES / "nagios" / "chatwoot-health.cfg").read_text()
    assert "--token-file $USER6$" in commands
    assert "CHATWOOT_API_TOKEN=" not in commands
    resources = (EXAMPLES / "nagios" / "resource.cfg").read_text()
    assert re.search(r"^\$USER6\$=/", resources, re.MULTILINE)


# ---------------------------------------------------------------------------- secrets in files


@pytest.fixture
def token_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Settings for ``check`` against an address nothing answers (the token is what is tested)."""
    monkeypatch.setenv("CHATWOOT_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CHATWOOT_ACCOUNT_ID", "1")
    monkeypatch.setenv("CHATWOOT_HEALTH_TIMEOUT", "0.5")
    return tmp_path / "token"


def test_token_file_missing_or_empty_is_one_line(token_env: Path, runner: CliRunner) -> None:
    result = runner.invoke(main, ["check", "--no-artifact", "--token-file", str(token_env)])
    assert result.exit_code == 3
    assert result.stderr == (f"chatwoot-health: CHATWOOT_API_TOKEN_FILE ({token_env}) not found\n")
    token_env.write_text("\n")
    token_env.chmod(0o600)
    result = runner.invoke(main, ["check", "--no-artifact", "--token-file", str(token_env)])
    assert result.exit_code == 3
    assert result.stderr == (
        f"chatwoot-health: CHATWOOT_API_TOKEN_FILE ({token_env}): the file is empty\n"
    )


def test_token_file_trailing_newline_stripped_and_world_readable_warned(
    token_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatwoot_health.config import resolve

    token_env.write_text("s3cretTokenValue1234\r\n\n")
    token_env.chmod(0o644)
    warnings: list[str] = []
    values = resolve(
        {"api_token_file": token_env}, keys=("api_token", "base_url"), warnings=warnings
    )
    assert values["api_token"].get_secret_value() == "s3cretTokenValue1234"
    assert warnings == [
        f"CHATWOOT_API_TOKEN_FILE ({token_env}) is readable by every user: chmod o-r it"
    ]
    token_env.chmod(0o640)
    warnings.clear()
    monkeypatch.setenv("CHATWOOT_API_TOKEN_FILE", str(token_env))
    values = resolve({}, keys=("api_token",), warnings=warnings)
    assert values["api_token"].get_secret_value() == "s3cretTokenValue1234"
    assert warnings == []


def test_token_and_token_file_together_are_refused(
    token_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from chatwoot_health.config import ConfigError, resolve

    token_env.write_text("s3cretTokenValue1234\n")
    monkeypatch.setenv("CHATWOOT_API_TOKEN", "anotherTokenValue99")
    with pytest.raises(ConfigError, match=r"^CHATWOOT_API_TOKEN and CHATWOOT_API_TOKEN_FILE are"):
        resolve({"api_token_file": token_env}, keys=("api_token",))


def test_supabase_key_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chatwoot_health.config import resolve

    key = tmp_path / "key"
    key.write_text("service-role-key-value\n")
    key.chmod(0o600)
    monkeypatch.setenv("SUPABASE_KEY_FILE", str(key))
    assert resolve({})["supabase_key"].get_secret_value() == "service-role-key-value"


def test_a_token_from_a_file_is_never_echoed(token_env: Path, runner: CliRunner) -> None:
    token_env.write_text("bad token with spaces\n")
    token_env.chmod(0o600)
    result = runner.invoke(main, ["check", "--no-artifact", "--token-file", str(token_env)])
    assert result.exit_code == 3
    assert "bad token" not in result.stderr
    assert result.stderr.startswith("chatwoot-health: CHATWOOT_API_TOKEN (from its file): ")


# --------------------------------------------------------------------------------- Prometheus


def test_prometheus_textfile_is_written_atomically_with_the_shared_names(
    tmp_path: Path, runner: CliRunner
) -> None:
    from chatwoot_health.render import prometheus

    history(tmp_path / "a")
    target = tmp_path / "chatwoot.prom"
    code, out, err = report(
        runner, tmp_path / "a", "--quiet", "--format", "prometheus", "-o", str(target)
    )
    assert (code, out, err) == (1, "", "")  # --quiet: node_exporter's cron job mails nothing
    text = target.read_text()
    assert f'{prometheus.UPTIME_RATIO}{{window="24h"}} 0.996527777' in text
    assert f'{prometheus.OPEN_ALERTS}{{severity="warning"}} 1.0' in text
    names = set(re.findall(r"^# TYPE (\S+) gauge$", text, re.MULTILINE))
    assert names <= {v for k, v in vars(prometheus).items() if k.isupper() and isinstance(v, str)}
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary left beside it
    for name in names:
        assert re.fullmatch(r"chatwoot_health_[a-z_]+", name)
        assert not name.endswith(("_percent", "_ms", "_minutes"))  # _ratio and _seconds only


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_check_metrics_passes(tmp_path: Path, runner: CliRunner) -> None:
    history(tmp_path, pending=15)
    code, out, _ = report(runner, tmp_path, "--format", "prometheus")
    assert code == 1
    done = subprocess.run(
        ["promtool", "check", "metrics"], input=out, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout + done.stderr == ""  # not even a lint warning


# ------------------------------------------------------------------------------------- badges


def test_svg_badge(tmp_path: Path, runner: CliRunner) -> None:
    import xml.etree.ElementTree as ET

    history(tmp_path)
    code, out, _ = report(runner, tmp_path, "--format", "badge")
    assert code == 1
    svg = ET.fromstring(out)
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.get("role") == "img"
    title = svg.find(f"{ns}title")
    assert title is not None
    assert title.text == "chatwoot: 99.65 % up · WARNING (uptime over 24h)"
    assert svg.get("aria-labelledby") == title.get("id")
    texts = [t.text for t in svg.iter(f"{ns}text")]
    assert texts == ["chatwoot", "99.65 % up · WARNING"]
    fills = [r.get("fill") for r in svg.iter(f"{ns}rect")]
    assert fills == ["#555", "#8a6d00"]


def test_shields_endpoint_json(tmp_path: Path, runner: CliRunner) -> None:
    history(tmp_path, down=False)
    code, out, _ = report(runner, tmp_path, "--format", "shields")
    assert code == 0
    assert json.loads(out) == {
        "schemaVersion": 1,
        "label": "chatwoot",
        "message": "100.00 % up · OK",
        "color": "brightgreen",
    }


def test_crontab_regenerates_both_badges() -> None:
    crontab = (ROOT / "crontab.example").read_text()
    assert "report --quiet --format badge --output /var/www/chatwoot-health/status.svg" in crontab
    assert (
        "report --quiet --format shields --output /var/www/chatwoot-health/status.json" in crontab
    )


# ------------------------------------------------------------------ stdout closed, help, completion


@pytest.mark.parametrize("fmt", ["badge", "nagios", "json"])
def test_a_closed_stdout_is_one_line_and_unknown(tmp_path: Path, fmt: str) -> None:
    directory = history(tmp_path / "a")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chatwoot_health",
            "report",
            "--artifacts-dir",
            str(directory),
            "--at",
            AT,
            "--format",
            fmt,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        preexec_fn=lambda: os.close(1),
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr.decode().splitlines()[-1] == (
        "chatwoot-health: cannot write the report: stdout is closed (write it with -o FILE)"
    )


def _commands() -> list[tuple[str, click.Command]]:
    return [("", main), *sorted(main.commands.items())]


@pytest.mark.parametrize("name,command", _commands(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_help_shows_one_example(runner: CliRunner, name: str, command: click.Command) -> None:
    result = runner.invoke(main, [*([name] if name else []), "--help"])
    assert result.exit_code == 0
    examples = re.findall(r"^  Example:\n    (chatwoot-health .+)$", result.stdout, re.MULTILINE)
    assert len(examples) == 1, f"{name or 'the group'}: {result.stdout}"
    if name:
        assert examples[0].startswith(f"chatwoot-health {name}")


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_as_documented(shell: str) -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"_CHATWOOT_HEALTH_COMPLETE={shell}_source chatwoot-health" in readme
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv[0] = 'chatwoot-health'; "
            "from chatwoot_health.cli import run; run()",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "_CHATWOOT_HEALTH_COMPLETE": f"{shell}_source"},
        check=False,
    )
    assert done.returncode == 0
    assert "_chatwoot_health_completion" in done.stdout


def test_completion_offers_the_fail_on_choices() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.argv[0] = 'chatwoot-health'; "
            "from chatwoot_health.cli import run; run()",
        ],
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "_CHATWOOT_HEALTH_COMPLETE": "bash_complete",
            "COMP_WORDS": "chatwoot-health report --fail-on ",
            "COMP_CWORD": "3",
        },
        check=False,
    )
    assert done.stdout.splitlines() == ["plain,warning", "plain,critical"]
