"""The command line: parse options into typed objects, call the core, print, exit.

Only this module imports Click. Usage errors are one line and exit 3 (UNKNOWN), never 2, which
means CRITICAL.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from chatwoot_health import __version__
from chatwoot_health.config import CHECK_KEYS, ConfigError, check_settings, debug_wanted, resolve
from chatwoot_health.redact import printable, redact_url
from chatwoot_health.state import ExitCode
from chatwoot_health.timeutil import format_duration, parse_duration, parse_instant, utc_now

if TYPE_CHECKING:
    from chatwoot_health.check import CheckOptions
    from chatwoot_health.models.alert import Severity
    from chatwoot_health.models.report import Report
    from chatwoot_health.models.settings import CheckSettings

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class MonitoringCommand(click.Command):
    """A command whose usage errors (a bad value, a missing or unknown option) are one line on
    stderr and exit UNKNOWN (3): misuse must never read as CRITICAL, and a CI gate's log or
    cron's mail shows the whole reason, not Click's four-line usage block."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError as exc:  # a bare group: its help, as Click's
            exc.exit_code = ExitCode.UNKNOWN
            raise
        except click.UsageError as exc:
            raise usage_error(exc, ctx) from None


class MonitoringGroup(MonitoringCommand, click.Group):
    """A group of :class:`MonitoringCommand`; an unknown command is one line, exit 3, too."""

    command_class = MonitoringCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.exceptions.NoArgsIsHelpError:
            raise  # a bare subgroup (`chatwoot-health store`): its help, as above
        except click.UsageError as exc:
            raise usage_error(exc, ctx) from None
        except BrokenPipeError:
            # Click would turn this into exit 1 (WARNING); `run` makes it a quiet UNKNOWN.
            raise OutputClosed from None


class OutputClosed(Exception):
    """stdout was closed by its reader (``chatwoot-health report | head -1``)."""


class ParsedType(click.ParamType):  # type: ignore[type-arg]
    """Text through one of :mod:`chatwoot_health.timeutil`'s parsers; a value already of
    ``kind`` (a default, a test) passes as it is."""

    def __init__(self, name: str, parse: Callable[[str], object], kind: type) -> None:
        self.name = name
        self.parse = parse
        self.kind = kind

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, self.kind):
            return value
        try:
            return self.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class PercentType(click.ParamType):  # type: ignore[type-arg]
    """A finite percentage from 0 to 100 (``click.FloatRange`` lets NaN through)."""

    name = "percent"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not (math.isfinite(number) and 0 <= number <= 100):
            self.fail(f"{value!r} is not a percentage from 0 to 100", param, ctx)
        return number


class OneLineError(click.ClickException):
    """A bad value told in one line (no usage block), exit 3: a CI gate's log shows why."""

    exit_code = int(ExitCode.UNKNOWN)

    def show(self, file: Any = None) -> None:
        click.echo(one_line(self.format_message()), err=True, file=file)


def usage_error(exc: click.UsageError, ctx: click.Context) -> OneLineError:
    """Click's usage error in one line that names the command's help, e.g. ``chatwoot-health:
    Missing option '--older-than' (see chatwoot-health prune --help)``: the whole reason in the
    one line a CI log or cron's mail shows first."""
    where: click.Context | None = exc.ctx or ctx
    names: list[str] = []
    while where is not None and where.parent is not None:  # the root is the program's name
        names.insert(0, where.info_name or "")
        where = where.parent
    command = " ".join(["chatwoot-health", *names])
    return OneLineError(f"{exc.format_message().removesuffix('.')} (see {command} --help)")


class OneLineChoice(click.Choice):  # type: ignore[type-arg]
    """A choice (listed in ``--help``, completed by the shell) refused in one line."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            return super().convert(value, param, ctx)
        except click.BadParameter:
            name = param.opts[0] if param is not None and param.opts else "value"
            raise OneLineError(
                f"{name}: {str(value)[:100]!r} is not one of {', '.join(self.choices)}"
            ) from None


DURATION = ParsedType("duration", parse_duration, timedelta)
INSTANT = ParsedType("timestamp", parse_instant, datetime)
PERCENT = PercentType()


def one_line(message: str) -> str:
    """A diagnostic as it is shown: credentials redacted, no control characters (it may quote a
    remote answer, a hostile setting or argument), so it stays one line."""
    return f"chatwoot-health: {printable(redact_url(message))}"


def say(message: str) -> None:
    """One diagnostic line on stderr."""
    click.echo(one_line(message), err=True)


def fail(message: str, code: ExitCode = ExitCode.UNKNOWN) -> NoReturn:
    say(message)
    sys.exit(int(code))


def write_output(text: str, output: Path | None) -> None:
    if output is None:
        if not _stdout_open():
            fail("cannot write the report: stdout is closed (write it with -o FILE)")
        try:
            click.echo(text, nl=False)
        except BrokenPipeError:
            raise  # the reader went away (``| head -1``): exit 3 quietly
        except OSError as exc:  # ``> /dev/full``, a full disk, a quota: one line, exit 3
            _quiet_stdout()  # what is still buffered cannot be written either
            fail(f"cannot write the report to stdout: {exc.strerror or exc}")
        return
    from chatwoot_health.fileio import WriteError, write_text_atomic

    try:
        write_text_atomic(output, text)
    except WriteError as exc:
        fail(str(exc))


def settings(
    ctx: click.Context, flags: dict[str, Any], keys: Sequence[str] | None = None
) -> dict[str, Any]:
    config_file = ctx.find_root().params.get("config")
    warnings: list[str] = []
    try:
        values = resolve(
            flags, config_file=config_file, keys=tuple(keys) if keys else None, warnings=warnings
        )
    except ConfigError as exc:
        fail(str(exc))
    for line in warnings:
        say(line)
    return values


def _stdout_open() -> bool:
    """False when the process started with stdout closed (``>&-``): Python then has no
    ``sys.stdout``, and Click would drop the output without a word."""
    if sys.stdout is None:
        return False
    try:
        os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):
        # No descriptor of its own (a test runner's buffer) is open; a closed one is not.
        return not isinstance(sys.stdout, io.TextIOWrapper) or not sys.stdout.closed
    return True


def _stdout_shown() -> bool:
    """stdout reaches a person as it is written: a terminal or a pipe (a CI log, cron's mail,
    ``| less``), or a test runner's buffer — not a file, ``/dev/null`` or a socket."""
    import stat

    try:
        mode = os.fstat(sys.stdout.fileno()).st_mode
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return True
    return stat.S_ISFIFO(mode) or sys.stdout.isatty()


def colour_wanted(stream: Any, no_color: bool) -> bool:
    if no_color or os.environ.get("NO_COLOR"):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


REPORT_FORMATS = [
    "table",
    "json",
    "csv",
    "html",
    "markdown",
    "nagios",
    "prometheus",
    "badge",
    "shields",
]
FC = TypeVar("FC", bound=Callable[..., Any])

# Options that several commands share, declared once.
artifacts_dir_option = click.option(
    "--artifacts-dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Artifacts directory [env: CHATWOOT_HEALTH_ARTIFACTS_DIR].",
)


def format_option(choices: list[str], help: str) -> Callable[[FC], FC]:
    """``--format``: one choice per renderer of the command's registry, ``table`` by default."""
    return click.option(
        "--format", "fmt", type=click.Choice(choices), default="table", show_default=True, help=help
    )


no_color_option = click.option(
    "--no-color", is_flag=True, help="Never colour the output [env: NO_COLOR]."
)


@click.group(cls=MonitoringGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="chatwoot-health")
@click.option(
    "--config",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="CHATWOOT_HEALTH_CONFIG",
    default=None,
    help="TOML file with settings (keys as the environment variable names).",
)
@click.option(
    "--debug",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=lambda ctx, param, value: _DEBUG.append(True) if value else None,
    help="On an unexpected error, print the traceback [env: CHATWOOT_HEALTH_DEBUG].",
)
def main(config: Path | None) -> None:
    """Is our Chatwoot healthy, and are we meeting the response-time SLA?

    Exit codes (Nagios): 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    """


@main.command(context_settings=CONTEXT)
@click.option("--base-url", metavar="URL", help="Chatwoot base URL [env: CHATWOOT_BASE_URL].")
@click.option("--account-id", metavar="ID", help="Account id [env: CHATWOOT_ACCOUNT_ID].")
@click.option(
    "--health-path",
    metavar="PATH",
    help="Pin the liveness path, no fallback [env: CHATWOOT_HEALTH_PATH].",
)
@click.option(
    "--agent-health-url", metavar="URL", help="AI agent health URL [env: AGENT_HEALTH_URL]."
)
@click.option(
    "--token-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Read the API token from this file [env: CHATWOOT_API_TOKEN_FILE].",
)
@click.option(
    "--timeout",
    metavar="SECONDS",
    help="Per-probe timeout [env: CHATWOOT_HEALTH_TIMEOUT; default 5].",
)
@artifacts_dir_option
@format_option(["table", "json"], "table: a short summary; json: the artifact.")
@click.option("--no-artifact", is_flag=True, help="Dry run: probe and print, write nothing.")
@click.option(
    "--liveness-only",
    is_flag=True,
    help="Only the unauthenticated probes (no token or account needed).",
)
@click.option(
    "--no-notify",
    is_flag=True,
    help="A quick manual look: no re-probing of a failed liveness probe, no alerts judged or "
    "sent (sent by default to CHATWOOT_HEALTH_NOTIFY and ALERT_WEBHOOK_URL).",
)
@click.option(
    "--verbose", "-v", is_flag=True, help="Also say on stderr where the artifact went, and more."
)
@no_color_option
@click.pass_context
def check(
    ctx: click.Context,
    base_url: str | None,
    account_id: str | None,
    health_path: str | None,
    agent_health_url: str | None,
    token_file: Path | None,
    timeout: str | None,
    artifacts_dir: Path | None,
    fmt: str,
    no_artifact: bool,
    liveness_only: bool,
    no_notify: bool,
    verbose: bool,
    no_color: bool,
) -> None:
    """Probe Chatwoot and the AI agent; write one JSON artifact; notify; exit 0/1/2/3.

    A failed liveness probe is re-probed every CHATWOOT_HEALTH_RETRY_INTERVAL until it answers
    or has failed for CHATWOOT_HEALTH_DOWN_AFTER (then service_down starts in this run). Quiet
    on stderr when all is well (cron mails only trouble); otherwise the first line says what
    failed.
    """
    from chatwoot_health.check import check_view, run_check
    from chatwoot_health.config import ALERT_KEYS, check_alerting
    from chatwoot_health.render.check import RENDERERS, headline

    # Flags arrive as text and go through the same parsers as the environment. Only the
    # settings `check` uses are read: a typo in a report-only variable must not break cron.
    flags = {
        "base_url": base_url,
        "account_id": account_id,
        "health_path": health_path,
        "agent_health_url": agent_health_url,
        "api_token_file": token_file,
        "timeout": timeout,
        "artifacts_dir": artifacts_dir,
    }
    notifying = not (no_notify or no_artifact)
    values = settings(ctx, flags, CHECK_KEYS + (ALERT_KEYS if notifying else ()))
    try:
        typed = check_settings(values, liveness_only)
        alerting = check_alerting(values, typed) if notifying else None
    except ConfigError as exc:
        fail(str(exc))
    # A recorded run confirms a failed liveness probe and notifies; a manual look
    # (--no-notify, --no-artifact) answers at once.
    options = dataclasses.replace(
        check_options(typed, not no_artifact, confirm=notifying), alerting=alerting
    )
    outcome = run_check(options, utc_now())
    view = check_view(outcome, options)
    click.echo(RENDERERS[fmt](view, colour_wanted(sys.stdout, no_color)), nl=False)
    if outcome.exit_code is not ExitCode.OK:
        say(headline(view))  # the first line of cron's mail: what failed and why
    lines = outcome.problems + (outcome.notified.failures if outcome.notified else [])
    if verbose:
        if outcome.path is not None:
            lines.insert(0, f"artifact: {outcome.path}")
        if outcome.notified is not None:
            lines += outcome.notified.notices
            lines += [f"delivered {item}" for item in outcome.notified.delivered]
    for line in lines:
        say(line)
    sys.exit(int(outcome.exit_code))


def check_options(typed: CheckSettings, write: bool = True, confirm: bool = False) -> CheckOptions:
    """How ``check`` (and ``serve``'s runs) probe: the probes' part of the settings, field by
    field (the rest keep their defaults); with ``confirm``, a failed liveness probe is re-probed
    until it answers or has failed for DOWN_AFTER."""
    from chatwoot_health.check import CheckOptions
    from chatwoot_health.probes.chatwoot import ProbeSettings

    shared = {f.name for f in dataclasses.fields(ProbeSettings)} & set(vars(typed))
    probes = ProbeSettings(**{name: getattr(typed, name) for name in shared})
    return CheckOptions(
        probes=probes,
        artifacts_dir=typed.artifacts_dir,
        write=write,
        retry_interval=typed.retry_interval if confirm else None,
        down_after=typed.down_after,
        location=typed.location or None,
        store=typed.store if write else None,
    )


@main.command(context_settings=CONTEXT)
@click.option(
    "--older-than",
    type=DURATION,
    required=True,
    metavar="DURATION",
    help="Delete artifacts older than this, e.g. 90d.",
)
@artifacts_dir_option
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@click.pass_context
def prune(
    ctx: click.Context, older_than: timedelta, artifacts_dir: Path | None, dry_run: bool
) -> None:
    """Delete old artifact files (only files named like artifacts)."""
    from chatwoot_health.prune import prune as run_prune

    values = settings(ctx, {"artifacts_dir": artifacts_dir}, ["artifacts_dir", "store"])
    directory: Path = values["artifacts_dir"]
    from chatwoot_health.artifacts.store import DirectoryError

    now = utc_now()
    try:
        result = run_prune(directory, older_than, now, dry_run)
    except DirectoryError as exc:
        fail(str(exc))
    verb = "would delete" if dry_run else "deleted"
    count = len(result.matched) if dry_run else result.deleted
    stale = f"; {verb} {len(result.stale_temp)} stale temporary file(s)"
    stale = stale if result.stale_temp else ""
    moved = f"; {'would move' if dry_run else 'moved'} {len(result.moved)} into month directories"
    moved = moved if result.moved else ""
    # The files' summary first: they are gone whatever the store does next.
    click.echo(
        f"{verb} {count} artifact(s) older than {format_duration(older_than)} "
        f"in {directory}; {result.kept} kept{stale}{moved}"
    )
    for line in result.misnamed:
        say(line)
    for error in result.errors:
        say(str(error))
    if values["store"] is not None:
        _prune_store(values["store"], now - older_than, dry_run)
    sys.exit(int(ExitCode.UNKNOWN if result.errors else ExitCode.OK))


@main.group(cls=MonitoringGroup, context_settings=CONTEXT)
def store() -> None:
    """The shared PostgreSQL store (CHATWOOT_HEALTH_STORE) of several probe hosts."""


@store.command("migrate", context_settings=CONTEXT)
@click.pass_context
def store_migrate(ctx: click.Context) -> None:
    """Create or update the store's schema (idempotent; the same SQL as
    supabase/migrations/20261201000000_health_runs.sql)."""
    from chatwoot_health.store.db import StoreError, describe, migrate

    values = settings(ctx, {}, ["store"])
    dsn: str | None = values["store"]
    if dsn is None:
        fail("CHATWOOT_HEALTH_STORE is not set: the postgresql:// URL of the store to migrate")
    try:
        version = migrate(dsn)
    except StoreError as exc:
        fail(str(exc))
    click.echo(f"the store {describe(dsn)} is at schema version {version}")
    sys.exit(int(ExitCode.OK))


def _prune_store(dsn: str, before: datetime, dry_run: bool) -> None:
    """The store's whole months before ``before``: dropped partitions, one line."""
    from chatwoot_health.store import db, runs

    try:
        connection = db.connect(dsn)
        try:
            done = runs.prune(connection, dsn, before, dry_run)
        finally:
            connection.close()
    except db.StoreError as exc:
        fail(str(exc))
    verb = "would drop" if dry_run else "dropped"
    names = ", ".join(done.dropped) or "no partition"
    click.echo(f"store {db.describe(dsn)}: {verb} {names}; {done.deleted} row(s) of the default")


@main.command(context_settings=CONTEXT)
@click.option("--rebuild", is_flag=True, help="Drop the run index and index every file again.")
@click.option("--check", "compare", is_flag=True, help="Compare the index with the files.")
@artifacts_dir_option
@click.pass_context
def index(ctx: click.Context, rebuild: bool, compare: bool, artifacts_dir: Path | None) -> None:
    """The run index: rebuild it, or compare it with the files (exit 1 if they differ)."""
    from chatwoot_health.artifacts import reindex
    from chatwoot_health.artifacts.store import DirectoryError

    if rebuild == compare:
        fail("give one of --rebuild or --check")
    values = settings(ctx, {"artifacts_dir": artifacts_dir}, ["artifacts_dir"])
    directory: Path = values["artifacts_dir"]
    try:
        if rebuild:
            done = reindex.rebuild(directory)
            click.echo(
                f"indexed {done.indexed} run(s) of {done.files} file(s) in {done.path}"
                + (f"; {done.unindexable} not valid artifacts" if done.unindexable else "")
            )
            sys.exit(int(ExitCode.OK))
        found = reindex.compare(directory)
    except (DirectoryError, reindex.IndexCommandError) as exc:
        fail(str(exc))
    if found.path is None:
        click.echo(f"no run index for {directory} yet: the next report makes it")
        sys.exit(1)
    for line in found.differences[:50]:
        click.echo(line)
    if len(found.differences) > 50:
        click.echo(f"… and {len(found.differences) - 50} more")
    verdict = "consistent" if found.consistent else f"{len(found.differences)} difference(s)"
    click.echo(f"{found.rows} row(s), {found.files} file(s) in {found.path}: {verdict}")
    sys.exit(0 if found.consistent else 1)


@main.command(context_settings=CONTEXT)
def schema() -> None:
    """Print the artifact's JSON Schema (schema version 1)."""
    from chatwoot_health.models.artifact import json_schema

    click.echo(json.dumps(json_schema(), indent=2))


@main.command(context_settings=CONTEXT)
@click.option(
    "--window",
    type=DURATION,
    metavar="DURATION",
    help="24h, 7d, 30d, <N>h or <N>d for every section [default: each section's own: "
    "uptime and response time 30d, channels 24h, SLA 7d].",
)
@click.option(
    "--at",
    type=INSTANT,
    metavar="TIMESTAMP",
    help="Evaluate as of this instant (ISO 8601) [default: now].",
)
@format_option(
    REPORT_FORMATS,
    "table: the status card; json, csv: data; html: dashboard; markdown: the card, failing "
    "criteria and sections (a CI job summary); nagios: plugin output with perfdata; prometheus: "
    "exposition format (textfile collector); badge: SVG; shields: shields.io endpoint JSON.",
)
@click.option("--detailed", is_flag=True, help="table: every section and the alert list.")
@click.option(
    "--output",
    "-o",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write here instead of stdout (a file atomically; a FIFO or /dev/stdout in place).",
)
@artifacts_dir_option
@click.option(
    "--interval",
    type=DURATION,
    metavar="DURATION",
    help="How often `check` runs [env: CHATWOOT_HEALTH_INTERVAL; default 5m].",
)
@click.option(
    "--min-uptime",
    type=PERCENT,
    metavar="PCT",
    help="Uptime below PCT is CRITICAL (launch gate: --window 7d --min-uptime 100).",
)
@click.option(
    "--fail-on",
    type=OneLineChoice(["warning", "critical"]),
    default="warning",
    show_default=True,
    help="The least severe alert that fails the run; critical: warnings are shown, exit 0.",
)
@click.option(
    "--notify",
    is_flag=True,
    help="Notify alert starts/resolutions like `check` does (same channels and state; "
    "recorded in Supabase when configured).",
)
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="Nothing on stderr but errors: no failing-criteria lines (the output and the exit "
    "code still carry them); for cron jobs that write pages and badges.",
)
@no_color_option
@click.pass_context
def report(
    ctx: click.Context,
    window: timedelta | None,
    at: datetime | None,
    fmt: str,
    detailed: bool,
    output: Path | None,
    artifacts_dir: Path | None,
    interval: timedelta | None,
    min_uptime: float | None,
    fail_on: str,
    notify: bool,
    quiet: bool,
    no_color: bool,
) -> None:
    """Uptime, latency, queue, SLA, channels, agents and alerts; exit 0/1/2/3."""
    from chatwoot_health.artifacts.store import DirectoryError
    from chatwoot_health.config import report_settings
    from chatwoot_health.models.alert import Severity
    from chatwoot_health.report.build import NoData
    from chatwoot_health.report.options import ReportOptions
    from chatwoot_health.report.run import run_report

    values = settings(ctx, {"artifacts_dir": artifacts_dir, "interval": interval})
    try:
        typed = report_settings(values)
    except ConfigError as exc:
        fail(str(exc))
    options = ReportOptions.of(typed, at or utc_now(), window, min_uptime, live=at is None)
    try:
        result = run_report(
            options,
            typed,
            fmt=fmt,
            detailed=detailed,
            colour=output is None and colour_wanted(sys.stdout, no_color),
            notify=notify,
            fail_on=Severity(fail_on),
            freeze_gc=True,  # the process exits after the report
        )
    except (NoData, DirectoryError) as exc:
        fail(str(exc))
    for line in result.diagnostics:
        say(line)
    write_output(result.text, output)
    if result.report is not None:
        _gate(result.report, Severity(fail_on), fmt, output, quiet)
    if output is not None and not quiet and sys.stderr.isatty():  # cron: success says nothing
        click.echo(f"report: {output}", err=True)
    sys.exit(int(result.exit_code))


def _gate(report: Report, fail_on: Severity, fmt: str, output: Path | None, quiet: bool) -> None:
    """The failing criteria on stderr unless stdout already shows them to a person (or
    ``--quiet``); under GitHub Actions, the annotations and the job summary."""
    from chatwoot_health.report.gate import GitHubActions, gate_output

    github = None
    if os.environ.get("GITHUB_ACTIONS") == "true":
        summary = os.environ.get("GITHUB_STEP_SUMMARY") or None
        github = GitHubActions(Path(summary) if summary else None)
    gate = gate_output(report, fail_on, github)
    # Every format that can carries the failing criteria (the card's lines, Markdown's list,
    # Nagios' long output, the JSON's alerts[].criterion, the CSV's gate rows, the page); when
    # the output goes to a file (-o, `> file`, /dev/null) no one reads it as it is written, so
    # the lines are repeated on stderr — always, for the formats that cannot hold them (the
    # badges, the exposition format). --quiet (cron's page and badge jobs) leaves them to the
    # output and the exit code.
    carried = fmt not in ("prometheus", "badge", "shields")
    shown = quiet or (carried and output is None and _stdout_shown())
    for line in [*([] if shown else gate.criteria), *gate.annotations]:
        click.echo(line, err=True)
    for line in gate.warnings:
        say(line)


@main.command(context_settings=CONTEXT)
@click.option(
    "--host",
    metavar="ADDRESS",
    help="Listen on this address [env: CHATWOOT_HEALTH_HOST; default 127.0.0.1].",
)
@click.option(
    "--port",
    metavar="PORT",
    help="Listen on this TCP port [env: CHATWOOT_HEALTH_PORT; default 8787].",
)
@artifacts_dir_option
@click.pass_context
def serve(
    ctx: click.Context, host: str | None, port: str | None, artifacts_dir: Path | None
) -> None:
    """The live admin dashboard, its API and /metrics over HTTP, until stopped.

    With CHATWOOT_BASE_URL it also runs `check` every CHATWOOT_HEALTH_INTERVAL (artifacts,
    confirmation and notifications as cron's) and probes liveness every
    CHATWOOT_HEALTH_LIVENESS_INTERVAL in between.
    """
    from chatwoot_health.config import check_alerting, report_settings
    from chatwoot_health.serve import ServeSettings
    from chatwoot_health.serve import run as run_serve

    values = settings(ctx, {"host": host, "port": port, "artifacts_dir": artifacts_dir})
    try:
        check = None
        if values["base_url"] is not None:  # runs need Chatwoot; without a token, liveness only
            full = values["api_token"] is not None and values["account_id"] is not None
            # check as cron runs it: confirmation, alerts, the same channels and state
            typed_check = check_settings(values, liveness_only=not full)
            check = dataclasses.replace(
                check_options(typed_check, confirm=True),
                alerting=check_alerting(values, typed_check),
            )
        typed = ServeSettings(
            report=report_settings(values),
            host=values["host"],
            port=values["port"],
            prefix=values["prefix"],
            admin_token=values["admin_token"],
            secret_key=values["secret_key"],
            metrics_public=values["metrics_public"],
            chatwoot_url=values["base_url"],
            account_id=values["account_id"],
            timeout=values["timeout"],
            check=check,
            liveness_interval=values["liveness_interval"],
        )
    except ConfigError as exc:
        fail(str(exc))
    sys.exit(run_serve(typed))


@main.command(context_settings=CONTEXT)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("demo-artifacts"),
    show_default=True,
    help="Where to write the sample history (empty, new, or a previous demo).",
)
@click.option("--at", type=INSTANT, metavar="TIMESTAMP", help="End of the history [default: now].")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@no_color_option
def demo(directory: Path, at: datetime | None, seed: int, no_color: bool) -> None:
    """Write a realistic 30-day history and print its detailed report (no Chatwoot needed)."""
    from chatwoot_health.demo import DemoError, run_demo

    try:
        result = run_demo(
            directory, at or utc_now(), seed, colour=colour_wanted(sys.stdout, no_color)
        )
    except DemoError as exc:
        fail(str(exc))
    click.echo(result.text, nl=False)
    click.echo(
        f"\nwrote {result.written} artifacts to {directory}; the report's exit code "
        f"would be {int(result.exit_code)} ({result.exit_code.name}). Try:\n"
        f"  chatwoot-health report --artifacts-dir {directory} --at {result.at} "
        "--format html -o dashboard.html",
        err=True,
    )
    sys.exit(int(ExitCode.OK))


#: One example line in every command's ``--help`` (a test walks them all).
EXAMPLES = {
    "check": "chatwoot-health check --token-file /etc/chatwoot-health/token",
    "report": "chatwoot-health report --window 7d --min-uptime 100 --fail-on critical",
    "demo": "chatwoot-health demo --dir demo-artifacts --at 2026-11-27T12:00:00Z",
    "prune": "chatwoot-health prune --older-than 90d --dry-run",
    "index": "chatwoot-health index --check",
    "schema": "chatwoot-health schema > artifact-v1.json",
    "serve": "chatwoot-health serve --host 127.0.0.1 --port 8787",
    "store": "chatwoot-health store migrate  # with CHATWOOT_HEALTH_STORE=postgresql://…",
}
main.epilog = "\b\nExample:\n  chatwoot-health report --detailed"
for _name, _example in EXAMPLES.items():
    if _name in main.commands:
        main.commands[_name].epilog = f"\b\nExample:\n  {_example}"
store_migrate.epilog = f"\b\nExample:\n  {EXAMPLES['store']}"

#: Set by the global ``--debug`` flag (a list, so the option's callback can set it).
_DEBUG: list[bool] = []
INTERNAL_ERROR = (
    "internal error: {kind}: {message} — this is a bug; please report it "
    "(run with --debug for the traceback)"
)


def run(args: Sequence[str] | None = None) -> NoReturn:
    """The console entry point and the last resort: every way out is an exit code and, on
    failure, one line on stderr.

    - a usage error exits 3 (UNKNOWN) with one line (any other Click error: Click's message);
    - an unexpected exception exits 3 with one line naming it as a bug (the traceback only with
      ``--debug`` or ``CHATWOOT_HEALTH_DEBUG``) — never 1, which Nagios would read as WARNING;
    - Ctrl-C exits 3 with "interrupted"; a closed stdout (``report | head -1``) exits 3 quietly.

    The interpreter's teardown is skipped: a 30-day report leaves about a million small objects
    behind, and freeing them one by one at exit costs ~0.2 s and serves no one. Output is flushed,
    then the process ends with the command's exit code.
    """
    from chatwoot_health.fileio import install_signal_handlers

    install_signal_handlers()  # SIGTERM/SIGINT/SIGHUP: exit 3, never leaving a partial file
    code = _invoke(list(sys.argv[1:] if args is None else args))
    try:
        if sys.stdout is not None:  # None: started with stdout closed (`>&-`)
            sys.stdout.flush()
    except OSError:  # the reader went away (BrokenPipeError) or the disk is full
        code = code or int(ExitCode.UNKNOWN)
    with contextlib.suppress(OSError):
        sys.stderr.flush()
    os._exit(code)


def _invoke(args: list[str]) -> int:
    try:
        try:
            result = main.main(args=args, standalone_mode=False)
        except click.Abort as exc:
            if isinstance(exc.__context__, EOFError):
                raise EOFError from None
            raise KeyboardInterrupt from None
        # standalone_mode=False returns the exit code of --help/--version, else the command's
        # return value (our commands end with sys.exit, so that is None).
        return result if isinstance(result, int) else 0
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        _stderr(f"chatwoot-health: {printable(redact_url(str(exc.code)))}\n")
        return int(ExitCode.UNKNOWN)
    except click.ClickException as exc:
        buffer = io.StringIO()
        exc.show(file=buffer)
        _stderr(printable(redact_url(buffer.getvalue()), multiline=True))
        # "Could not check" is UNKNOWN, whatever Click's own code (2 for usage, 1 otherwise).
        return int(ExitCode.UNKNOWN)
    except KeyboardInterrupt:
        _stderr("\nchatwoot-health: interrupted\n")
        return int(ExitCode.UNKNOWN)
    except (OutputClosed, BrokenPipeError):
        _quiet_stdout()
        return int(ExitCode.UNKNOWN)
    except Exception as exc:  # the last resort, by design
        if _DEBUG or debug_wanted():
            import traceback  # only here: ~1 ms of every run otherwise

            trace = "".join(traceback.format_exception(exc))
            _stderr(printable(redact_url(trace), multiline=True))
        message = " ".join(printable(redact_url(str(exc))).split())
        if len(message) > 300:
            message = message[:299] + "…"
        line = INTERNAL_ERROR.format(kind=type(exc).__name__, message=message or "(no message)")
        _stderr(f"chatwoot-health: {line}\n")
        return int(ExitCode.UNKNOWN)


def _stderr(text: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # stderr closed: the exit code is all we have
        sys.stderr.write(text)
        sys.stderr.flush()


def _quiet_stdout() -> None:
    """Point stdout at /dev/null so that no later flush raises on the closed pipe."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
