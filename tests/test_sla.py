"""SLA compliance with hand-computed answers (09:00–17:00 America/New_York, Mon–Fri, 15 min).

The week of Monday 2026-01-12 is in EST; "Mon 10:00" below means 2026-01-12 10:00 EST.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chatwoot_health.metrics.business_hours import BusinessCalendar
from chatwoot_health.metrics.channels_common import channel_label
from chatwoot_health.metrics.sla import compute_sla, sla_status
from chatwoot_health.models.report import BreachOut
from chatwoot_health.models.rows import DecisionRow

NY = ZoneInfo("America/New_York")
CAL = BusinessCalendar(tz=NY)
TARGET = timedelta(minutes=15)
START = datetime(2026, 1, 12, 0, 0, tzinfo=NY)  # Monday
END = datetime(2026, 1, 19, 0, 0, tzinfo=NY)  # next Monday
NOW = datetime(2026, 1, 16, 12, 0, tzinfo=NY)  # Friday noon


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[arg-type, misc]


def row(
    conversation_id: int,
    received: datetime,
    decided: datetime | None,
    *,
    channel: str | None = "Channel::Email",
    reason: str | None = None,
) -> DecisionRow:
    return DecisionRow(
        id=conversation_id,
        conversation_id=conversation_id,
        customer_name=f"Customer {conversation_id}",
        channel=channel,
        message_received_at=received,
        decided_at=decided,
        reason=reason,
    )


def test_mixed_week() -> None:
    rows = [
        row(101, ny(2026, 1, 12, 10, 0), ny(2026, 1, 12, 10, 5)),  # 5 min: met
        row(102, ny(2026, 1, 12, 10, 0), ny(2026, 1, 12, 10, 15)),  # exactly 15 min: met
        # Mon 16:50 → Tue 09:20: 10 + 20 = 30 min: breach
        row(103, ny(2026, 1, 12, 16, 50), ny(2026, 1, 13, 9, 20), reason="night", channel="sms"),
        # Tue 10:00 → 10:15:01 = 15 min 1 s: breach, although it rounds to 15.0
        row(104, ny(2026, 1, 13, 10, 0), ny(2026, 1, 13, 10, 15, 1), channel=None),
        row(105, ny(2026, 1, 16, 11, 50), None),  # pending 10 min at noon: in progress
        row(106, ny(2026, 1, 16, 11, 0), None, channel="Channel::WebWidget"),  # pending 60: breach
        row(107, ny(2026, 1, 10, 11, 0), ny(2026, 1, 12, 9, 0)),  # received before the window
        row(108, START, None),  # received exactly at the start: the window before's, excluded
        # a second after the start: 7 min (from 09:00), met
        row(109, START + timedelta(seconds=1), ny(2026, 1, 12, 9, 7)),
    ]
    result = compute_sla(rows, START, END, NOW, CAL, TARGET)
    # met: 101, 102, 109; breaches: 103, 104, 106; in progress: 105.
    assert (result.met, result.breaches, result.total, result.in_progress) == (3, 3, 6, 1)
    assert result.compliance_percent == 50.0  # 3 / 6
    assert result.status == "red"
    # Decided waits 5 + 15 + 30 + (15 + 1/60) + 7 = 72.0166… min over 5 rows = 14.40333… min.
    assert result.avg_response_exact == pytest.approx(14.4033333, abs=1e-6)
    assert result.avg_response_minutes == 14.4  # shown to 0.1 min
    assert result.breach_details == [
        BreachOut(
            conversation_id=106,
            customer_name="Customer 106",
            channel="Live chat",
            wait_minutes=60.0,
            reason=None,
            pending=True,
        ),
        BreachOut(
            conversation_id=103,
            customer_name="Customer 103",
            channel="SMS",
            wait_minutes=30.0,
            reason="night",
            pending=False,
        ),
        BreachOut(
            conversation_id=104,
            customer_name="Customer 104",
            channel="Unknown",
            wait_minutes=15.0,
            reason=None,
            pending=False,
        ),
    ]


def test_pending_over_the_weekend_counts_business_time_only() -> None:
    # Friday 16:55, still pending at Monday 09:05: 5 + 5 = 10 min → in progress, not a breach.
    now = ny(2026, 1, 19, 9, 5)
    result = compute_sla([row(1, ny(2026, 1, 16, 16, 55), None)], START, END, now, CAL, TARGET)
    assert (result.in_progress, result.total, result.breaches) == (1, 0, 0)
    # At Monday 09:11 it has waited 5 + 11 = 16 min → a pending breach.
    result = compute_sla(
        [row(1, ny(2026, 1, 16, 16, 55), None)], START, END, ny(2026, 1, 19, 9, 11), CAL, TARGET
    )
    assert (result.in_progress, result.total, result.breaches) == (0, 1, 1)
    assert result.breach_details[0].wait_minutes == 16.0
    assert result.breach_details[0].pending is True
    assert result.avg_response_minutes is None  # nothing decided yet


def test_decided_after_now_is_pending_at_now() -> None:
    # A report "as of" Tue 10:10 for a message received Tue 10:00 and decided Tue 10:30: at 10:10
    # it had waited 10 min and was still pending → in progress, not a 30-minute breach.
    rows = [row(1, ny(2026, 1, 13, 10, 0), ny(2026, 1, 13, 10, 30))]
    result = compute_sla(rows, START, END, ny(2026, 1, 13, 10, 10), CAL, TARGET)
    assert (result.in_progress, result.total, result.avg_response_minutes) == (1, 0, None)


def test_empty_input_is_grey() -> None:
    result = compute_sla([], START, END, NOW, CAL, TARGET)
    assert result.compliance_percent is None
    assert (result.met, result.total, result.in_progress, result.breaches) == (0, 0, 0, 0)
    assert result.avg_response_minutes is None
    assert result.breach_details == []
    assert result.status == "grey"


def test_only_in_progress_is_grey_but_counted() -> None:
    rows = [row(1, ny(2026, 1, 16, 11, 55), None), row(2, ny(2026, 1, 16, 11, 58), None)]
    result = compute_sla(rows, START, END, NOW, CAL, TARGET)
    assert (result.in_progress, result.total, result.status) == (2, 0, "grey")


def _decided(met: int, breached: int) -> list[DecisionRow]:
    """``met`` rows decided in 5 min and ``breached`` rows decided in 20 min, Tue 10:00."""
    received = ny(2026, 1, 13, 10, 0)
    return [row(i, received, received + timedelta(minutes=5)) for i in range(met)] + [
        row(1000 + i, received, received + timedelta(minutes=20)) for i in range(breached)
    ]


@pytest.mark.parametrize(
    ("met", "breached", "percent", "status"),
    [
        (19, 1, 95.0, "green"),  # exactly 95 %: green
        (20, 0, 100.0, "green"),
        (18, 1, 1800 / 19, "yellow"),  # 94.74 %
        (17, 3, 85.0, "yellow"),  # exactly 85 %: yellow
        (11, 2, 1100 / 13, "red"),  # 84.62 %
        (0, 4, 0.0, "red"),
    ],
)
def test_colours(met: int, breached: int, percent: float, status: str) -> None:
    result = compute_sla(_decided(met, breached), START, END, NOW, CAL, TARGET)
    assert result.compliance_exact == pytest.approx(percent)
    assert result.status == status


def test_status_is_judged_exactly() -> None:
    # 0.95 * 100 is 94.99999999999999 in floats; the colour compares integers instead.
    assert sla_status(95, 100) == "green"
    assert sla_status(17, 20) == "yellow"
    assert sla_status(0, 0) == "grey"


def test_breach_details_order() -> None:
    received = ny(2026, 1, 13, 10, 0)
    rows = [
        row(30, received, received + timedelta(minutes=20)),
        row(10, received, received + timedelta(minutes=20)),  # same wait: by conversation id
        row(20, received, received + timedelta(minutes=45)),  # longest first
        row(40, ny(2026, 1, 16, 11, 30), None),  # pending 30 min at noon
    ]
    result = compute_sla(rows, START, END, NOW, CAL, TARGET)
    assert [d.conversation_id for d in result.breach_details] == [20, 40, 10, 30]
    assert [d.wait_minutes for d in result.breach_details] == [45.0, 30.0, 20.0, 20.0]


def test_wait_minutes_are_rounded_to_a_tenth() -> None:
    received = ny(2026, 1, 13, 10, 0)
    # 16 min 20 s = 16.333… → 16.3
    rows = [row(1, received, received + timedelta(minutes=16, seconds=20))]
    result = compute_sla(rows, START, END, NOW, CAL, TARGET)
    assert result.breach_details[0].wait_minutes == 16.3


def test_result_is_frozen() -> None:
    result = compute_sla([], START, END, NOW, CAL, TARGET)
    with pytest.raises(ValueError):
        result.met = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("raw", "label"),
    [
        ("Channel::Email", "Email"),
        ("Channel::WebWidget", "Live chat"),
        ("Channel::Sms", "SMS"),
        ("Channel::TwilioSms", "SMS"),
        ("Channel::Whatsapp", "WhatsApp"),
        ("Channel::Api", "API"),
        ("Channel::FacebookPage", "Facebook"),
        ("Channel::Instagram", "Instagram"),
        ("Channel::Telegram", "Telegram"),
        ("Channel::Line", "LINE"),
        ("Channel::TwitterProfile", "Twitter"),
        ("Channel::Tiktok", "TikTok"),
        ("email", "Email"),
        ("CHAT", "Live chat"),
        ("live_chat", "Live chat"),
        ("Sms", "SMS"),
        ("whatsapp", "WhatsApp"),
        ("api", "API"),
        ("Channel::Carrier", "Channel::Carrier"),
        ("fax", "fax"),
        (None, "Unknown"),
        ("  ", "Unknown"),
    ],
)
def test_channel_label(raw: str | None, label: str) -> None:
    assert channel_label(raw) == label
