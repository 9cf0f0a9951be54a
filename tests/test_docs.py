"""The README is a contract: its commands, options, variables and exit codes match the CLI."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from chatwoot_health.cli import main
from chatwoot_health.config import CONFIG_FILE_ENV, DEBUG_ENV, SETTINGS
from chatwoot_health.state import ExitCode

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def command_section(name: str) -> str:
    start = README.index(f"### `chatwoot-health {name}`")
    end = README.find("\n### ", start + 1)
    stop = README.find("\n## ", start + 1)
    ends = [e for e in (end, stop) if e != -1]
    return README[start : min(ends) if ends else None]


@pytest.mark.parametrize("name", sorted(main.commands))
def test_every_command_and_option_is_documented(name: str) -> None:
    command = main.commands[name]
    assert command.help, f"{name} has no help"
    text = command_section(name)
    for param in command.params:
        if isinstance(param, click.Option):
            for opt in param.opts:
                if opt.startswith("--"):
                    assert f"`{opt}" in text, f"{name} {opt} missing from README"
            assert param.help, f"{name} {param.opts} has no help"


def test_documented_options_exist() -> None:
    for name, command in main.commands.items():
        text = command_section(name)
        known = {opt for p in command.params for opt in getattr(p, "opts", [])}
        for opt in re.findall(r"^\| `(--[a-z-]+)", text, re.MULTILINE):
            assert opt in known, f"README documents {name} {opt}, which does not exist"


def test_environment_table_matches_settings() -> None:
    rows = re.findall(
        r"^\| `([A-Z_]+)` \| (.+?) \| (.+?) \|$", section("Environment variables"), re.MULTILINE
    )
    documented = {env: (default, meaning) for env, default, meaning in rows}
    for setting in SETTINGS:
        assert setting.env in documented, f"{setting.env} is not in the README"
        default = f"`{setting.default}`" if setting.default not in (None, "") else "—"
        assert documented[setting.env] == (default, setting.help)
    extra = set(documented) - {s.env for s in SETTINGS} - {CONFIG_FILE_ENV, DEBUG_ENV, "NO_COLOR"}
    assert not extra, f"README documents unknown variables {extra}"


def test_exit_codes_table() -> None:
    rows = re.findall(r"^\| (\d) \| ([A-Z]+) \|", section("Exit codes"), re.MULTILINE)
    assert [(int(code), name) for code, name in rows] == [(c.value, c.name) for c in ExitCode]


def test_quick_start_has_two_commands_and_ci_runs_the_second() -> None:
    block = section("Quick start").split("```sh\n", 1)[1].split("```", 1)[0]
    commands = [line for line in block.splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].startswith("pip install . && chatwoot-health ")
    assert commands[1] in (ROOT / ".ci" / "run").read_text().splitlines()


def test_usage_errors_exit_unknown(runner: click.testing.CliRunner) -> None:
    result = runner.invoke(main, ["no-such-command"])
    assert result.exit_code == ExitCode.UNKNOWN
    result = runner.invoke(main, ["report", "--window"])
    assert result.exit_code == ExitCode.UNKNOWN
    assert "Option '--window' requires an argument" in result.stderr


def test_readme_has_no_placeholders_and_its_artifact_example_is_valid() -> None:
    import json

    from chatwoot_health.models.artifact import Artifact

    assert "PERFORMANCE-NUMBERS" not in README
    block = section("Files").split("```json\n", 1)[1].split("```", 1)[0]
    artifact = Artifact.model_validate(json.loads(block))
    assert artifact.check("inbox_activity").skipped  # type: ignore[union-attr]


def test_format_choices_are_the_renderer_registries() -> None:
    """The CLI lists the formats itself (importing the renderers would slow `check`'s start)."""
    from chatwoot_health.cli import REPORT_FORMATS
    from chatwoot_health.render.check import RENDERERS as CHECK_RENDERERS
    from chatwoot_health.render.report import RENDERERS as REPORT_RENDERERS

    assert list(REPORT_RENDERERS) == REPORT_FORMATS
    check_choices = next(p for p in main.commands["check"].params if p.name == "fmt")
    assert list(check_choices.type.choices) == list(CHECK_RENDERERS)  # type: ignore[attr-defined]
