"""The quorum rule as one probe host may act on it (issue #14), pure: runs built in memory, no
store, no processes (tests/test_store_quorum*.py run the same rule through real hosts).

A host's view of the other locations may be a round old (hosts that run at the same instant read
each other "as of" their own start), its own run is fresh. So: a host that sees Chatwoot down
never clears the quorum's ``service_down``, a host that sees it up never starts it, and a run
that found it down lowers its exit code to WARNING unless the quorum raised the outage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chatwoot_health import alerts, check
from chatwoot_health.models.alert import Alert
from chatwoot_health.models.artifact import Artifact
from chatwoot_health.state import ExitCode
from chatwoot_health.store.send import Peers
from tests.factory import artifact

T0 = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
ROUND = timedelta(minutes=5)
DOWN_AFTER = timedelta(minutes=2)


def run(at: datetime, location: str, up: bool = True, error: str = "HTTP 503") -> Artifact:
    return artifact(at, up=up, error=error).model_copy(update={"location": location})


def rounds(pattern: dict[str, str], error: str = "HTTP 503") -> list[Artifact]:
    """``{"a": "DDu", …}``: one run per round and location, the last round at T0 — a at T0, b a
    second later, c two seconds later (so c judges last and sees a's and b's runs of the round,
    a judges first and sees b's and c's previous round). ``u`` up; ``d`` down; ``D`` down, a
    failure held over DOWN_AFTER (a failed run DOWN_AFTER before it too)."""
    found: list[Artifact] = []
    for offset, location in enumerate(sorted(pattern)):
        marks = pattern[location]
        for step, mark in enumerate(marks):
            at = T0 - ROUND * (len(marks) - 1 - step) + timedelta(seconds=offset)
            if mark == "D":
                found.append(run(at - DOWN_AFTER, location, False, error))
            found.append(run(at, location, mark == "u", error))
    return sorted(found, key=lambda a: a.checked_at)


def moment(runs: list[Artifact], location: str) -> datetime:
    """When ``location``'s latest run began: the moment it judges at."""
    return max(found.checked_at for found in runs if found.location == location)


def seen(runs: list[Artifact], now: datetime) -> dict[str, datetime]:
    """Every location's latest run up to ``now`` (the store's ``last_seen``)."""
    return {found.location or "": found.checked_at for found in runs if found.checked_at <= now}


def judged_by(
    location: str, runs: list[Artifact], *, probe_host: bool = True
) -> tuple[list[Alert], frozenset[str]]:
    """``location``'s rules after its latest run, over the runs of every location the store
    holds by then."""
    now = moment(runs, location)
    evidence = alerts.Evidence(
        now,
        [found for found in runs if found.checked_at <= now],
        interval=ROUND,
        down_after=DOWN_AFTER,
        location=location,
        last_seen=seen(runs, now),
        probe_host=probe_host,
    )
    return alerts.evaluate(evidence)


def names(active: list[Alert]) -> list[str]:
    return [alert.name for alert in active]


# --------------------------------------------------------------------------- never clears


@pytest.mark.parametrize("probe_host", [True, False])
def test_a_host_that_sees_chatwoot_down_never_clears_the_outage(probe_host: bool) -> None:
    """a's run at T0 is down; b's and c's runs of this round (down too) come a second later, so
    a counts their previous round (up): 1 of 3 down in its view, which is no recovery."""
    runs = rounds({"a": "uDD", "b": "uud", "c": "uud"})
    active, judged = judged_by("a", runs, probe_host=probe_host)
    assert "service_down" not in names(active)
    assert "service_down" not in judged  # neither raised nor cleared: another host's call
    assert "health_check_failed" in judged  # the rest of the liveness rule is judged as ever
    # The mirror: a host whose own run is up, the quorum not down, has seen the recovery.
    active, judged = judged_by("a", rounds({"a": "Duu", "b": "Duu", "c": "Duu"}))
    assert names(active) == [] and "service_down" in judged


# --------------------------------------------------------------------------- never starts


def _after_recovery() -> list[Artifact]:
    """Chatwoot is back: a's run at T0 is up, b's and c's of this round (up) come a second
    later, so a counts their previous round (down, confirmed): 2 of 3 down in its view."""
    return rounds({"a": "DDu", "b": "DDu", "c": "DDu"})


def test_a_probe_host_that_sees_chatwoot_up_never_starts_the_outage() -> None:
    active, judged = judged_by("a", _after_recovery(), probe_host=True)
    assert "service_down" not in names(active)
    assert "service_down" not in judged  # neither started nor cleared here
    # c, which judges last, sees every run of the recovered round: nothing either.
    active, judged = judged_by("c", _after_recovery(), probe_host=True)
    assert "service_down" not in names(active) and "service_down" in judged


def test_a_report_shows_the_quorums_verdict_as_it_is() -> None:
    """``report`` is no probe host: the same runs, judged as they are, show the outage."""
    active, judged = judged_by("a", _after_recovery(), probe_host=False)
    assert "service_down" in names(active) and "service_down" in judged


def test_check_judges_as_a_probe_host_with_the_store() -> None:
    """``check`` passes its own runs (the files) and the others' (the store, up to its moment):
    it is a probe host. Without the store (no peers) it judges its own runs alone."""
    runs = [found for found in _after_recovery() if found.checked_at <= T0]
    own = [found for found in runs if found.location == "a"]
    others = [found for found in runs if found.location != "a"]
    alerting = check.Alerting(interval=ROUND)
    peers = Peers("a", others, seen(runs, T0))
    active, judged = check.judge_alerts(own, T0, DOWN_AFTER, alerting, None, peers)
    assert "service_down" not in names(active) and "service_down" not in judged
    active, judged = check.judge_alerts(own, T0, DOWN_AFTER, alerting)
    assert "service_down" not in names(active) and "service_down" in judged


# --------------------------------------------------------------------------- the exit code


def _exit_code(pattern: dict[str, str], host: str) -> ExitCode:
    """``host``'s exit code after its latest run (down: CRITICAL by itself), once judged."""
    runs = rounds(pattern)
    now = moment(runs, host)
    active, _judged = judged_by(host, runs)
    [latest] = [found for found in runs if found.location == host and found.checked_at == now]
    assert latest.liveness == "down"
    return alerts.quorum_exit_code(ExitCode.CRITICAL, "down", False, active, seen(runs, now))


def test_a_run_down_alone_exits_warning() -> None:
    """No page from one host: c's network fails while a and b reach Chatwoot
    (location_degraded), or a runs first in the round of an outage the others have not seen."""
    assert _exit_code({"a": "uuu", "b": "uuu", "c": "uDD"}, "c") is ExitCode.WARNING
    assert _exit_code({"a": "uuD", "b": "uu", "c": "uu"}, "a") is ExitCode.WARNING


def test_the_quorums_outage_or_its_warning_keeps_the_run_critical() -> None:
    """c judges last, with a's and b's runs of the round: the quorum raised it."""
    assert _exit_code({"a": "uuD", "b": "uuD", "c": "uuD"}, "c") is ExitCode.CRITICAL
    assert _exit_code({"a": "uud", "b": "uud", "c": "uud"}, "c") is ExitCode.CRITICAL


def test_the_exit_code_is_lowered_only_by_a_quorum_of_several_locations() -> None:
    several = {"a": T0, "b": T0 - timedelta(seconds=1)}
    lowered = alerts.quorum_exit_code(ExitCode.CRITICAL, "down", False, [], several)
    assert lowered is ExitCode.WARNING
    for last_seen in (None, {"a": T0}):  # one location: its own run is the verdict
        kept = alerts.quorum_exit_code(ExitCode.CRITICAL, "down", False, [], last_seen)
        assert kept is ExitCode.CRITICAL
    # A rejected token is CRITICAL by itself; a run not down, or not CRITICAL, is not this rule's.
    assert alerts.quorum_exit_code(ExitCode.CRITICAL, "down", True, [], several) is (
        ExitCode.CRITICAL
    )
    assert alerts.quorum_exit_code(ExitCode.CRITICAL, "up", False, [], several) is (
        ExitCode.CRITICAL
    )
    assert alerts.quorum_exit_code(ExitCode.UNKNOWN, "down", False, [], several) is (
        ExitCode.UNKNOWN
    )


# --------------------------------------------------------------------------- location_degraded


def test_location_degraded_quotes_each_locations_error_whole() -> None:
    """The error travels as data, not parsed back out of a message: parentheses and all."""
    error = "HTTP 502 (Bad Gateway) from the proxy (squid)"
    runs = rounds({"a": "uuu", "b": "uuu", "c": "uDD"}, error)
    active, _judged = judged_by("c", runs)
    [degraded] = [alert for alert in active if alert.name == "location_degraded"]
    assert f"from c only (c: {error}) while a, b reach Chatwoot" in degraded.message
