"""The shared store's costs (issue #14), against a local PostgreSQL (tests/servers/postgres_server).

    python benchmarks/bench_store.py [--pairs 21] [--size-runs 2000] [--report-runs 7]

(a) ``check``'s added cost for the store write: whole ``check --liveness-only`` processes, then
    whole ``check`` processes (every probe) against the Chatwoot stand-in, A with
    CHATWOOT_HEALTH_STORE set, B without, interleaved (each pair in a random order, after one
    warm-up of each); the median of the pairs' A − B must stay under 50 ms. Wall time is the
    cost a run pays; CPU time (user + system) is printed beside it, steadier on a busy machine.
(b) The store's size per month: ``--size-runs`` demo-like runs (the demo's artifacts, every 5
    minutes) stored in health_runs — pg_total_relation_size of its partitions, indexes and TOAST
    included — against the same runs' artifact files (bytes, and 4 KiB blocks on disk), both
    scaled to a month of one location (8,640 runs).
(c) ``report --format json`` over 30 days from the store (3 locations × 8,640 = 25,920 runs;
    aggregated in SQL, see store.runs.read_report) against the same report from one location's
    files (8,640; the run index warm): ``--report-runs`` pairs, each in a random order; medians
    and the median of the pairs' ratios (the machine is shared: the ratio is the steadier).
"""

from __future__ import annotations

import argparse
import functools
import os
import random
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _harness import Ran, add_before, checkout, cli, env_for, interleaved, paired, run

from chatwoot_health.artifacts.store import write_artifact
from chatwoot_health.demo import Scenario, make_artifact
from chatwoot_health.models.artifact import Artifact
from chatwoot_health.store import db, runs
from chatwoot_health.store.runs import StoredRun
from tests.servers.chatwoot_server import MEMBER_ACCOUNT, ChatwootServer
from tests.servers.postgres_server import start_postgres

LIMIT_MS = 50.0
REPORT_LIMIT_S = 2.0  # the spec's report budget
MONTH = 8640  # runs of one location in 30 days, every 5 minutes
INTERVAL = timedelta(minutes=5)
END = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TOKEN = "Tq8s0aVb3kLm2Np5Rx7Yz9Wd"


def whole(args: list[str], env: dict[str, str], before: Path | None = None) -> Ran:
    """One whole ``chatwoot-health`` process (this checkout's code, or ``before``'s), timed in
    wall and CPU time; a run that failed, or could not use the store, ends the benchmark."""
    ran = run(cli(*args), env_for({"HOME": "/tmp", **env}, before))
    if ran.code not in (0, 1, 2):
        raise SystemExit(f"{args[0]} failed ({ran.code}): {ran.stderr.strip()}")
    if "store" in ran.stderr:
        raise SystemExit(f"{args[0]} could not use the store: {ran.stderr.strip()}")
    return ran


def check_cost(dsn: str, pairs: int, root: Path, before: Path | None = None) -> None:
    with ChatwootServer(TOKEN) as chatwoot:
        base = {
            "CHATWOOT_BASE_URL": chatwoot.url,
            "CHATWOOT_API_TOKEN": chatwoot.token,
            "CHATWOOT_ACCOUNT_ID": str(MEMBER_ACCOUNT),
            "CHATWOOT_HEALTH_LOCATION": "bench",
            "CHATWOOT_HEALTH_INTERVAL": "5m",
        }
        for label, args in (
            ("check --liveness-only", ["check", "--liveness-only"]),
            ("check (every probe)", ["check"]),
        ):
            a_env = {**base, "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(root / f"a-{len(args)}"),
                     "CHATWOOT_HEALTH_STORE": dsn}  # fmt: skip
            b_env = {**base, "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(root / f"b-{len(args)}")}
            variants = {
                "A": functools.partial(whole, args, a_env),
                "B": functools.partial(whole, args, b_env),
            }
            if before is not None:  # the code of --before, with the store, in the same rounds
                a0_env = {**a_env, "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(root / f"a0-{len(args)}")}
                variants["A0 before"] = functools.partial(whole, args, a0_env, before)
            # after a warm-up of each: the store's partitions, the page cache
            pair_costs(label, interleaved(variants, pairs, seed=14), pairs)
    print(f"    ({len(runs_in(dsn))} runs stored)")


def pair_costs(label: str, measured: dict[str, list[Ran]], pairs: int) -> None:
    """The interleaved rounds' medians, and the median of the rounds' differences and ratios
    to B, in wall and in CPU time."""
    print(f"(a) {label}, {pairs} interleaved rounds, A with the store, B without:")
    for kind, attribute in (("wall", "wall"), ("CPU", "cpu")):
        times = {name: [getattr(ran, attribute) for ran in rans] for name, rans in measured.items()}
        b = times["B"]
        print(f"    {kind:4s}: B median {statistics.median(b) * 1000:.1f} ms")
        for name in (n for n in times if n != "B"):
            a = times[name]
            added, ratio = paired(a, b)
            verdict = "met" if added * 1000 < LIMIT_MS else "MISSED"
            print(
                f"          {name}: median {statistics.median(a) * 1000:.1f} ms; minus B, median "
                f"of the rounds {added * 1000:+.1f} ms (limit {LIMIT_MS:.0f} ms: {verdict}), "
                f"ratio {ratio:.3f}"
            )
        if "A0 before" in times:  # the two codes with the store, side by side in each round
            gain = paired(times["A0 before"], times["A"])[0] * 1000
            print(f"          A is cheaper than A0 by {gain:+.1f} ms (median of the rounds)")
    print(f"    load average: {os.getloadavg()[0]:.1f}")


def runs_in(dsn: str) -> list[tuple[object, ...]]:
    connection = db.connect(dsn)
    try:
        return connection.execute("SELECT artifact_id FROM health_runs").fetchall()
    finally:
        connection.close()


def history(location: str, count: int, seed: int) -> list[Artifact]:
    """``count`` demo runs every 5 minutes up to END, at ``location``."""
    scenario = Scenario(END)
    rng = random.Random(seed)
    found = []
    for i in range(count):
        t = END - INTERVAL * (count - 1 - i) + timedelta(seconds=rng.uniform(0, 4))
        artifact = make_artifact(t, scenario, rng, seed)
        found.append(artifact.model_copy(update={"location": location}))
    return found


def store_files(dsn: str, directory: Path, artifacts: list[Artifact]) -> int:
    """Write the files and store the runs (their ids the files' names); the files' bytes."""
    connection = db.connect(dsn, statement_ms=600_000)
    total = 0
    try:
        batch: list[StoredRun] = []
        for artifact in artifacts:
            path = write_artifact(directory, artifact, durable=False)
            total += path.stat().st_size
            batch.append(StoredRun.of(path.name, artifact, artifact.location or ""))
            if len(batch) == 1000:
                runs.write_runs(connection, dsn, batch)
                batch = []
        runs.write_runs(connection, dsn, batch)
    finally:
        connection.close()
    return total


def size(dsn: str, count: int, root: Path) -> None:
    directory = root / "size"
    files = store_files(dsn, directory, history("size", count, seed=7))
    connection = db.connect(dsn)
    try:
        connection.execute("VACUUM ANALYZE health_runs")
        stored = runs.size_bytes(connection)
    finally:
        connection.close()
    blocks = sum(p.stat().st_blocks * 512 for p in directory.rglob("*.json"))
    scale = MONTH / count
    mib = 1024 * 1024
    print(f"(b) {count} runs, scaled to a month of one location ({MONTH} runs):")
    print(f"    store (partitions, indexes, TOAST): {stored / count:.0f} B/run, "
          f"{stored * scale / mib:.1f} MiB/month")  # fmt: skip
    print(f"    artifact files: {files / count:.0f} B/run ({files * scale / mib:.1f} MiB/month), "
          f"on disk {blocks * scale / mib:.1f} MiB/month in 4 KiB blocks")  # fmt: skip
    print(f"    store ÷ files: {stored / files:.2f} (bytes), {stored / blocks:.2f} (on disk)")


def report_times(dsn: str, repeats: int, root: Path) -> None:
    dirs = {name: root / f"loc-{name}" for name in ("a", "b", "c")}
    for seed, (name, directory) in enumerate(dirs.items()):
        store_files(dsn, directory, history(name, MONTH, seed=seed + 1))
    args = ["report", "--format", "json", "--at", END.isoformat(), "--window", "30d"]
    files_env = {"CHATWOOT_HEALTH_ARTIFACTS_DIR": str(dirs["a"]), "CHATWOOT_HEALTH_LOCATION": "a"}
    store_env = {**files_env, "CHATWOOT_HEALTH_STORE": dsn}
    variants = {  # each pair in a random order, after a warm-up: the run index, the caches
        "files": functools.partial(whole, args, files_env),
        "store": functools.partial(whole, args, store_env),
    }
    measured = interleaved(variants, repeats, seed=12)
    from_files = [ran.wall for ran in measured["files"]]
    from_store = [ran.wall for ran in measured["store"]]
    f_med, s_med = statistics.median(from_files), statistics.median(from_store)
    ratio = paired(from_store, from_files)[1]
    verdict = "met" if s_med < REPORT_LIMIT_S else "MISSED"
    print(f"(c) report --window 30d --format json, median of {repeats} interleaved pairs:")
    print(f"    from the store, 3 locations × {MONTH} runs: {s_med:.2f} s "
          f"(min {min(from_store):.2f}); limit {REPORT_LIMIT_S:.0f} s: {verdict}")  # fmt: skip
    print(f"    from one location's files ({MONTH} runs, index warm): {f_med:.2f} s "
          f"(min {min(from_files):.2f})")  # fmt: skip
    per_run = f"{s_med / (3 * MONTH) * 1e6:.0f} µs vs {f_med / MONTH * 1e6:.0f} µs"
    print(f"    store ÷ files: {s_med / f_med:.2f} (median of the pairs' ratios {ratio:.2f}); "
          f"per run: {per_run}")  # fmt: skip
    print(f"    load average at the end: {os.getloadavg()[0]:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=21)
    parser.add_argument("--size-runs", type=int, default=2000)
    parser.add_argument("--report-runs", type=int, default=7)
    parser.add_argument("--skip", default="", help="letters of the parts to skip, e.g. c")
    add_before(parser, "(a), with the store, in the same rounds")
    args = parser.parse_args()
    before = checkout(args.before)
    server = start_postgres(migrate=False)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
            root = Path(tmp)
            for part, dbname in (("a", "check"), ("b", "size"), ("c", "report")):
                if part in args.skip:
                    continue
                dsn = f"postgresql://postgres@127.0.0.1:{server.port}/{dbname}"
                create(server.port, dbname)
                db.migrate(dsn)
                if part == "a":
                    check_cost(dsn, args.pairs, root, before)
                elif part == "b":
                    size(dsn, args.size_runs, root)
                else:
                    report_times(dsn, args.report_runs, root)
                sys.stdout.flush()
    finally:
        server.stop()


def create(port: int, name: str) -> None:
    import psycopg
    from psycopg import sql

    admin = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


if __name__ == "__main__":
    main()
