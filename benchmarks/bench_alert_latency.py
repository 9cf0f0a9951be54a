"""How long an outage takes to reach a person, and what a healthy ``check`` pays for alerts.

    python benchmarks/bench_alert_latency.py [--phases 1,8,15,22,29] [--rounds 15] [--skip-latency]

(a) The default settings scaled down ×10: ``check`` as a whole process every 30 s (the default
    schedule is 5 min), ``CHATWOOT_HEALTH_RETRY_INTERVAL=3s`` (30 s), ``DOWN_AFTER=12s`` (2 min),
    against the Chatwoot stand-in of the tests with a real HTTP receiver as the channel
    (``ALERT_WEBHOOK_URL``). Chatwoot's liveness paths start answering 500 at a chosen phase after
    a scheduled run began; the latency is from that instant to the ``service_down`` message
    arriving at the receiver (and the same for the resolution). One trial per phase, all
    trials at once (each with its own server, receiver, artifacts and state).
(b) The shipped crontab's schedule (``*/5`` with the defaults): computed, not waited for — the
    worst case is one interval + DOWN_AFTER + RETRY_INTERVAL = 5 min + 2 min + 30 s; the scaled
    measurement × 10 is printed beside it (the fixed costs — process start, the probes — do not
    scale, so the real figure is a little below 10 × the scaled one).
(c) The cost of alert evaluation in a healthy run over 30 days of history (the demo's 7,488
    artifacts ending now): whole ``check`` processes, A with a channel configured (evaluation and
    the state database), B with ``--no-notify``, ``--rounds`` pairs each run in a random order
    after a warm-up of each; the median of each, the median of the pairs' differences (budget
    50 ms) and of their ratios, in wall time and in CPU time (user + system: steadier on a busy
    machine). ``--before DIR`` adds the code of an earlier checkout to every round (``A0``).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _harness import (
    Ran,
    add_before,
    checkout,
    cli,
    env_for,
    interleaved,
    machine,
    paired,
    run,
)

from tests.fixtures_chatwoot import fake_token
from tests.servers.chatwoot_server import MEMBER_ACCOUNT, ChatwootServer
from tests.servers.receiver import Receiver

SCALE = 10
INTERVAL, RETRY, DOWN_AFTER = 30.0, 3.0, 12.0  # the defaults (300, 30, 120 s) ÷ SCALE
LIVENESS_PATHS = ("/rails/health", "/up", "/health")
EVALUATION_BUDGET_MS = 50.0


def check_command() -> list[str]:
    return cli("check", "--no-color")


def check_env(
    server: ChatwootServer, artifacts: Path, before: Path | None = None, **extra: str
) -> dict[str, str]:
    """``check``'s environment against ``server`` (this checkout's code, or ``before``'s)."""
    settings = {
        "HOME": str(artifacts.parent),
        "CHATWOOT_BASE_URL": server.url,
        "CHATWOOT_API_TOKEN": server.token,
        "CHATWOOT_ACCOUNT_ID": str(MEMBER_ACCOUNT),
        "AGENT_HEALTH_URL": server.agent_url,
        "CHATWOOT_HEALTH_ARTIFACTS_DIR": str(artifacts),
    }
    return env_for({**settings, **extra}, before)


# ------------------------------------------------------------------------ (a) and (b): latency


@dataclass
class Trial:
    phase: float
    down_after_s: float | None = None  # outage start → service_down received
    resolved_after_s: float | None = None  # recovery → resolution received
    messages: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def run_trial(trial: Trial, root: Path) -> None:
    """Healthy runs, an outage beginning ``phase`` s after a scheduled run, recovery."""
    artifacts = root / f"phase-{trial.phase:g}" / "artifacts"
    artifacts.mkdir(parents=True)
    with ChatwootServer(fake_token()) as server, Receiver() as receiver:
        env = check_env(
            server,
            artifacts,
            CHATWOOT_HEALTH_INTERVAL=f"{INTERVAL:g}s",
            CHATWOOT_HEALTH_RETRY_INTERVAL=f"{RETRY:g}s",
            CHATWOOT_HEALTH_DOWN_AFTER=f"{DOWN_AFTER:g}s",
            CHATWOOT_HEALTH_TIMEOUT="2",
            ALERT_WEBHOOK_URL=receiver.url(),
        )
        running: list[subprocess.Popen[str]] = []
        stop = threading.Event()
        start = time.monotonic()

        def schedule() -> None:  # cron: a new process at every tick, overlapping if it must
            tick = 0
            while not stop.is_set():
                running.append(
                    subprocess.Popen(
                        check_command(),
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                        text=True,
                    )
                )
                tick += 1
                stop.wait(max(0.0, start + tick * INTERVAL - time.monotonic()))

        scheduler = threading.Thread(target=schedule, daemon=True)
        scheduler.start()

        def wait_for(count: int, limit: float) -> float | None:
            deadline = time.monotonic() + limit
            while time.monotonic() < deadline:
                if len(receiver.received) >= count:
                    return time.monotonic()
                time.sleep(0.02)
            return None

        # Two healthy runs first (the state database begins healthy), then the outage.
        outage_at = start + 2 * INTERVAL + trial.phase
        time.sleep(max(0.0, outage_at - time.monotonic()))
        for path in LIVENESS_PATHS:
            server.fault(path, "500")
        worst = INTERVAL + DOWN_AFTER + RETRY
        received = wait_for(1, worst + 20)
        if received is not None:
            trial.down_after_s = received - outage_at
        else:
            trial.errors.append("no service_down message")
        recovered_at = time.monotonic()
        with server._lock:  # the faults end: Chatwoot answers again
            server.behaviour.faults.clear()
        resolved = wait_for(2, INTERVAL + 20)
        if resolved is not None:
            trial.resolved_after_s = resolved - recovered_at
        stop.set()
        scheduler.join()
        for process in running:
            process.wait(timeout=60)
        trial.messages = [post.json()["text"].split("\n", 1)[0] for post in receiver.received]


def latency(phases: list[float]) -> None:
    print(
        f"(a) defaults ÷ {SCALE}: check every {INTERVAL:g} s, RETRY_INTERVAL {RETRY:g} s, "
        f"DOWN_AFTER {DOWN_AFTER:g} s; outage = liveness answering 500"
    )
    trials = [Trial(phase) for phase in phases]
    with tempfile.TemporaryDirectory() as tmp:
        threads = [threading.Thread(target=run_trial, args=(trial, Path(tmp))) for trial in trials]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    bound = INTERVAL + DOWN_AFTER + RETRY
    for trial in trials:
        down = f"{trial.down_after_s:5.1f} s" if trial.down_after_s is not None else "  —  "
        back = f"{trial.resolved_after_s:5.1f} s" if trial.resolved_after_s is not None else " — "
        print(
            f"  outage {trial.phase:4.1f} s after a run began: service_down after {down}, "
            f"resolution {back} after recovery; messages: {len(trial.messages)}"
            + (f"; {trial.errors}" if trial.errors else "")
        )
    measured = [t.down_after_s for t in trials if t.down_after_s is not None]
    if measured:
        print(
            f"  worst {max(measured):.1f} s, best {min(measured):.1f} s; the bound interval + "
            f"DOWN_AFTER + RETRY_INTERVAL = {bound:g} s (+ one run's probing time)"
        )
        print(
            f"(b) the shipped crontab (*/5, defaults): computed worst case 5 min + 2 min + 30 s = "
            f"{bound * SCALE / 60:g} min; the scaled worst × {SCALE} = "
            f"{max(measured) * SCALE / 60:.1f} min (fixed costs scaled too: an overestimate)"
        )
    exact = all(
        t.messages[:1] == ["🔴 CRITICAL Chatwoot Alert: Service Down"] and len(t.messages) == 2
        for t in trials
    )
    print(f"  exactly one service_down and one resolution in every trial: {exact}")


# ------------------------------------------------------------------------ (c): evaluation cost


def evaluation_cost(rounds: int, before: Path | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp, ChatwootServer(fake_token()) as server:
        artifacts = Path(tmp) / "artifacts"
        demo = run(cli("demo", "--dir", str(artifacts)), env_for({"NO_COLOR": "1"}))
        files = len(list(artifacts.rglob("*.json")))
        if demo.code not in (0, 1, 2) or files == 0:
            raise SystemExit(f"demo failed: {demo.stderr}")
        with Receiver() as receiver:
            env = check_env(server, artifacts, ALERT_WEBHOOK_URL=receiver.url())
            variants = {
                "A evaluation + notify": (check_command(), env),
                "B --no-notify": ([*check_command(), "--no-notify"], env),
            }
            if before is not None:  # the code of --before, on its own copy of the history
                copy = Path(tmp) / "before"
                shutil.copytree(artifacts, copy)
                for database in copy.glob(".chatwoot-health.db*"):  # its own index and state
                    database.unlink()
                earlier = check_env(server, copy, before, ALERT_WEBHOOK_URL=receiver.url())
                variants["A0 before"] = (check_command(), earlier)

            def timed(command: list[str], environ: dict[str, str]) -> Callable[[], Ran]:
                def once() -> Ran:
                    done = run(command, environ)
                    if done.code == 3 or done.stderr.strip():
                        raise SystemExit(f"{command}: exit {done.code}: {done.stderr}")
                    return done

                return once

            measured = interleaved(
                {name: timed(*variant) for name, variant in variants.items()}, rounds, seed=10
            )
    print(
        f"(c) a healthy check over 30 days of history ({files} artifacts), whole processes, "
        f"{rounds} interleaved pairs (random order in each):"
    )
    for kind in ("wall", "cpu"):
        times = {name: [getattr(ran, kind) for ran in rans] for name, rans in measured.items()}
        b_times = times["B --no-notify"]
        print(f"  {kind:4s}: B (--no-notify) median {statistics.median(b_times) * 1000:.1f} ms")
        for name in ("A evaluation + notify", "A0 before"):
            if name not in times:
                continue
            difference, ratio = paired(times[name], b_times)
            verdict = "within" if difference * 1000 < EVALUATION_BUDGET_MS else "OVER"
            print(
                f"        {name}: median {statistics.median(times[name]) * 1000:.1f} ms; minus B, "
                f"median of the rounds {difference * 1000:+.1f} ms ({verdict} the "
                f"{EVALUATION_BUDGET_MS:g} ms budget), ratio {ratio:.3f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--phases", default="1,8,15,22,29")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--skip-latency", action="store_true")
    add_before(parser, "(c) on a copy of the history, in the same rounds")
    args = parser.parse_args()
    print(machine())
    evaluation_cost(args.rounds, checkout(args.before))
    if not args.skip_latency:
        latency([float(phase) for phase in args.phases.split(",")])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
