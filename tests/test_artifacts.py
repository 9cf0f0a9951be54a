"""The artifact of ``check``: its name, its schema, and atomic writes under concurrency."""

from __future__ import annotations

import json
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chatwoot_health.artifacts.store import load_artifact
from chatwoot_health.check import CheckOutcome
from chatwoot_health.cli import main
from chatwoot_health.models.artifact import Artifact
from chatwoot_health.state import ExitCode
from tests.factory import artifact_files
from tests.fixtures_chatwoot import NOW, CheckCli, CheckEnv, Unreachable, run_core
from tests.servers.chatwoot_server import ChatwootServer

NAME = re.compile(r"^\d{8}T\d{6}Z-[0-9a-z]+\.json$")


def test_the_file_name_is_the_utc_time_of_the_run_and_a_suffix(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    outcome = run_core(chatwoot, tmp_path)
    assert outcome.path is not None
    assert outcome.path.parent == tmp_path / "2026-11"  # the directory of its UTC month
    assert NAME.match(outcome.path.name), outcome.path.name
    assert outcome.path.name.startswith("20261127T004500Z-")
    assert load_artifact(outcome.path) == outcome.artifact


def test_the_cli_names_files_after_the_run(check_cli: CheckCli, env: CheckEnv) -> None:
    result = check_cli()
    assert result.exit_code == 0
    (path,) = env.artifacts()
    assert NAME.match(path.name), path.name
    checked_at = json.loads(path.read_text())["checked_at"]  # 2026-11-27T00:45:00.123Z
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", checked_at)
    stamp = checked_at[:19].replace("-", "").replace(":", "") + "Z"
    assert path.name.startswith(stamp + "-")


def _schema(runner: CliRunner) -> dict[str, Any]:
    result = runner.invoke(main, ["schema"], catch_exceptions=False)
    assert result.exit_code == 0
    schema: dict[str, Any] = json.loads(result.stdout)
    return schema


def _validate(schema: dict[str, Any], instance: dict[str, Any]) -> None:
    """jsonschema when it is installed (it is not a dependency); the pydantic model otherwise."""
    try:
        import jsonschema  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - depends on the environment
        Artifact.model_validate_json(json.dumps(instance))
        return
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema).validate(instance)


def _scenarios(server: ChatwootServer, tmp_path: Path) -> list[CheckOutcome]:
    outcomes = [run_core(server, tmp_path)]  # everything filled in
    server.behaviour.role = "agent"
    server.behaviour.api = "degraded"
    outcomes.append(run_core(server, tmp_path, agent_health_url=None))  # skipped probes
    server.behaviour.role = "administrator"
    server.behaviour.everything_404 = True
    outcomes.append(run_core(server, tmp_path))  # unknown, every section null
    outcomes.append(run_core(Unreachable(), tmp_path))  # down
    return outcomes


def test_artifacts_validate_against_the_published_schema(
    runner: CliRunner, chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    schema = _schema(runner)
    outcomes = _scenarios(chatwoot, tmp_path)
    assert [outcome.artifact.status.value for outcome in outcomes] == [
        "ok",
        "degraded",
        "unknown",
        "down",
    ]
    for outcome in outcomes:
        assert outcome.path is not None
        _validate(schema, json.loads(outcome.path.read_text()))


def test_the_shipped_schema_file_is_what_the_schema_command_prints(runner: CliRunner) -> None:
    import chatwoot_health

    shipped = Path(chatwoot_health.__file__).parent / "schema" / "artifact-v1.json"
    assert json.loads(shipped.read_text()) == _schema(runner), (
        "regenerate it: chatwoot-health schema > chatwoot_health/schema/artifact-v1.json"
    )


def test_the_schema_rejects_what_is_not_an_artifact(
    runner: CliRunner, chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    pytest.importorskip("jsonschema")
    import jsonschema

    schema = _schema(runner)
    outcome = run_core(chatwoot, tmp_path)
    assert outcome.path is not None
    good = json.loads(outcome.path.read_text())
    for broken in (
        {**good, "status": "fine"},
        {**good, "schema_version": 2},
        {key: value for key, value in good.items() if key != "checks"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(broken)


def test_a_file_where_the_directory_should_be_is_a_write_error(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "artifacts"
    blocker.write_text("")
    outcome = run_core(chatwoot, blocker)
    assert outcome.exit_code is ExitCode.UNKNOWN
    assert outcome.path is None
    assert outcome.write_error == f"cannot write to {blocker}: File exists"
    assert outcome.artifact.status.value == "ok"  # the run itself was fine


def test_fifty_concurrent_runs_never_show_a_reader_half_a_file(
    chatwoot: ChatwootServer, tmp_path: Path
) -> None:
    directory = tmp_path / "artifacts"
    directory.mkdir()
    month = directory / "2026-11"  # the runs' month: all made it at once, none failed
    runs = 50
    start = threading.Barrier(runs + 1)
    done = threading.Event()
    seen: set[str] = set()
    parsed_while_writing = 0
    invalid: list[str] = []

    def read_until_done() -> None:
        nonlocal parsed_while_writing
        start.wait()
        while True:
            finished = done.is_set()  # one last pass after the writers are done
            try:
                listed = os.listdir(month)
            except FileNotFoundError:  # not made yet by the first run
                listed = []
            for name in listed:
                if not name.endswith(".json"):
                    continue
                raw = (month / name).read_bytes()
                try:
                    json.loads(raw)
                except ValueError:
                    invalid.append(f"{name}: {raw[:80]!r}")
                seen.add(name)
                parsed_while_writing += not finished
            if finished:
                return

    def one_run(_: int) -> CheckOutcome:
        start.wait()
        # The same ``now`` for all, so every name shares its stamp. Liveness only (3 requests a
        # run) keeps 50 runs sharing one GIL with the server quick; the write path is the same.
        return run_core(
            chatwoot, directory, liveness_only=True, agent_health_url=None, timeout=30.0
        )

    reader = threading.Thread(target=read_until_done)
    reader.start()
    try:
        with ThreadPoolExecutor(max_workers=runs) as pool:
            outcomes = list(pool.map(one_run, range(runs)))
    finally:
        done.set()
        reader.join()
    assert invalid == []
    assert [outcome.exit_code for outcome in outcomes] == [ExitCode.OK] * runs
    names = sorted(os.listdir(month))
    assert len(names) == runs
    assert all(NAME.match(name) and name.startswith("20261127T004500Z-") for name in names)
    assert sorted(outcome.path.name for outcome in outcomes if outcome.path) == names
    assert seen == set(names)
    assert parsed_while_writing > 0  # the reader really raced the writers
    assert len(chatwoot.requests_to("/api")) == runs
    assert outcomes[0].artifact.checked_at == NOW


# --------------------------------------------------------------------------- the fast read


def test_the_fast_record_has_the_models_names_types_and_defaults() -> None:
    """RunRecord (msgspec) mirrors Artifact (pydantic) field for field where it has the field."""
    import msgspec

    from chatwoot_health.artifacts.fast import (
        AgentRecord,
        AgentsRecord,
        CheckRecord,
        ConversationRecord,
        RunRecord,
    )
    from chatwoot_health.models.artifact import (
        Agents,
        AgentSummary,
        Artifact,
        CheckResult,
        ConversationCounts,
    )

    pairs = [
        (RunRecord, Artifact),
        (CheckRecord, CheckResult),
        (ConversationRecord, ConversationCounts),
        (AgentsRecord, Agents),
        (AgentRecord, AgentSummary),
    ]
    for record, model in pairs:
        for field in msgspec.structs.fields(record):
            assert field.name in model.model_fields, (record.__name__, field.name)
            default = model.model_fields[field.name].default
            if field.default is not msgspec.NODEFAULT and not callable(default):
                assert field.default == default, (record.__name__, field.name)


def test_the_fast_record_reads_what_the_model_reads(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from chatwoot_health.artifacts.fast import RunRecord
    from chatwoot_health.artifacts.store import load_artifact, parse_record
    from chatwoot_health.demo import generate

    generate(tmp_path, datetime(2026, 11, 27, 12, tzinfo=UTC), seed=3)
    files = artifact_files(tmp_path)
    assert len(files) > 7000
    kinds = set()
    for path in files[::7] + files[-200:]:
        model = load_artifact(path)
        record = parse_record(path.read_bytes())
        assert isinstance(record, RunRecord)
        assert (record.checked_at, record.status, record.instance) == (
            model.checked_at, model.status.value, model.instance)  # fmt: skip
        assert [msgspec_check(c) for c in record.checks] == [msgspec_check(c) for c in model.checks]
        assert record.liveness == model.liveness and record.latencies == model.latencies
        assert (record.conversations is None) == (model.conversations is None)
        if record.conversations and model.conversations:
            assert record.conversations.pending == model.conversations.pending
        kinds.add(model.liveness)
    assert kinds == {"up", "down"}


def msgspec_check(check: object) -> tuple[object, ...]:
    names = ("name", "ok", "status_code", "duration_ms", "error", "skipped", "skip_reason", "state")
    return tuple(getattr(check, name) for name in names)


@pytest.mark.parametrize(
    "payload",
    [
        b'{"schema_version": 1, "checked',
        b"not json at all",
        b'["a list"]',
        b'{"schema_version": 2}',
        b'{"schema_version": 1}',
        b'{"schema_version":1,"checked_at":"2026-11-27T12:00:00","status":"ok","instance":"x",'
        b'"checks":[],"tool_version":"t"}',
    ],
    ids=["truncated", "not-json", "list", "version", "shape", "naive-time"],
)
def test_the_fast_read_rejects_what_the_model_rejects_with_its_message(payload: bytes) -> None:
    from chatwoot_health.artifacts.store import parse_artifact, parse_record

    with pytest.raises(ValueError) as model_error:
        parse_artifact(payload)
    with pytest.raises(ValueError) as record_error:
        parse_record(payload)
    assert str(record_error.value) == str(model_error.value)
