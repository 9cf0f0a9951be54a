"""Delivery through real receivers on 127.0.0.1: an SMTP server (aiosmtpd) for Apprise's
mailto://, an HTTP receiver for json:// and the Slack-compatible webhook; every failure is one
scrubbed line."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from chatwoot_health.notify.channels import (
    ChannelError,
    parse_channels,
    send,
    webhook_channel,
)
from chatwoot_health.notify.messages import Message
from tests.servers.receiver import Receiver
from tests.servers.smtp import SmtpServer, free_port

MESSAGE = Message(
    id="chatwoot-health/chat.example.com/service_down/2026-11-27T12:01:00Z/start",
    kind="start",
    alert="service_down",
    title="🔴 CRITICAL Chatwoot Alert: Service Down",
    body="Rails health check failed 2 runs in a row\n\n--\nid: chatwoot-health/x",
)
SECRET = "s3cr3tPassw0rd"


# ------------------------------------------------------------------------------------ parsing


def test_parse_splits_on_commas_and_spaces_and_labels_without_secrets() -> None:
    channels = parse_channels(
        f"mailto://user:{SECRET}@127.0.0.1:25?from=monitor@example.com&to=ops@example.com,"
        f"  json://127.0.0.1:9/hook ntfy://127.0.0.1/alerts"
    )
    assert [c.label for c in channels] == ["mailto #1", "json #2", "ntfy #3"]
    assert SECRET not in repr(channels) and SECRET not in channels[0].key
    assert parse_channels("") == [] and parse_channels(None) == [] and parse_channels(" , ") == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"bogus://user:{SECRET}@host/x", "entry 1 (bogus://…) is not a URL Apprise can use"),
        (f"json://127.0.0.1/x slack://{SECRET}", "entry 2 (slack://…) is not a URL Apprise"),
        (f"https://hooks.example.com/{SECRET}", "entry 1 (https://…) is a plain web address"),
        (f"user:{SECRET}@example.com", "entry 1 is not a URL"),
        ("mailto://", "entry 1 (mailto://…) is not a URL Apprise can use"),
    ],
)
def test_a_url_apprise_cannot_use_is_a_value_error_without_the_secret(
    text: str, expected: str
) -> None:
    with pytest.raises(ChannelError) as raised:
        parse_channels(text)
    assert isinstance(raised.value, ValueError)
    assert expected in str(raised.value)
    assert SECRET not in str(raised.value) and "\n" not in str(raised.value)


def test_apprise_is_imported_only_when_there_is_something_to_parse_or_send() -> None:
    code = (
        "import sys, chatwoot_health.notify as n; "
        "n.parse_channels(''); n.webhook_channel('http://127.0.0.1:9/x'); "
        "print('apprise' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


# ------------------------------------------------------------------------------------ SMTP


def test_mailto_delivers_to_a_real_smtp_server() -> None:
    with SmtpServer() as smtp:
        (channel,) = parse_channels(smtp.mailto())
        assert send(channel, MESSAGE) is None
        (mail,) = smtp.messages
    assert "Service Down" in str(mail["Subject"]) or "Service_Down" in str(mail["Subject"])
    texts = [part.get_payload(decode=True) for part in mail.walk() if not part.is_multipart()]
    assert any(isinstance(t, bytes) and b"id: chatwoot-health/x" in t for t in texts)


def test_smtp_refusing_is_one_line_with_the_reason() -> None:
    with SmtpServer(refuse=True) as smtp:
        (channel,) = parse_channels(smtp.mailto())
        problem = send(channel, MESSAGE)
        assert smtp.messages == []
    assert problem is not None and "\n" not in problem


def test_smtp_down_is_one_line_without_the_password() -> None:
    port = free_port()  # nothing listens
    (channel,) = parse_channels(
        f"mailto://monitor:{SECRET}@127.0.0.1:{port}?from=monitor@example.com"
        "&to=ops@example.com&mode=insecure"
    )
    started = time.monotonic()
    problem = send(channel, MESSAGE, deadline=5)
    assert time.monotonic() - started < 7
    assert problem is not None and SECRET not in problem and "\n" not in problem


# ------------------------------------------------------------------------------------ HTTP


def test_json_apprise_channel_carries_the_id_as_a_field() -> None:
    with Receiver() as receiver:
        (channel,) = parse_channels(receiver.url().replace("http://", "json://"))
        assert send(channel, MESSAGE) is None
        (got,) = receiver.received
    payload = got.json()
    assert payload["id"] == MESSAGE.id
    assert payload["title"] == MESSAGE.title and MESSAGE.body in payload["message"]


def test_slack_compatible_webhook_posts_text_and_id() -> None:
    with Receiver() as receiver:
        (channel,) = webhook_channel(receiver.url())
        assert send(channel, MESSAGE) is None
        (got,) = receiver.received
    assert got.json() == {"text": MESSAGE.text, "id": MESSAGE.id}


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("500", "answered HTTP 500: boom"),
        ("redirect", "answered HTTP 302 (a redirect; not followed)"),
        ("hang", "no answer within 1 s"),
    ],
)
def test_webhook_failures_are_one_line_without_the_url(mode: str, expected: str) -> None:
    with Receiver(mode) as receiver:  # type: ignore[arg-type]
        (channel,) = webhook_channel(receiver.url(f"/services/T000/B000/{SECRET}"))
        started = time.monotonic()
        problem = send(channel, MESSAGE, deadline=1)
        assert time.monotonic() - started < 3
    assert problem == expected


def test_a_receiver_that_trickles_forever_is_bounded_by_the_deadline() -> None:
    with Receiver("trickle") as receiver:
        (channel,) = webhook_channel(receiver.url())
        started = time.monotonic()
        assert send(channel, MESSAGE, deadline=1) is None  # a 200: its endless body is not read
        assert time.monotonic() - started < 1


def test_webhook_down_names_the_variable_not_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/services/{SECRET}"
    (channel,) = webhook_channel(url)
    problem = send(channel, MESSAGE, deadline=2)
    assert problem is not None and problem.startswith("unreachable")
    assert SECRET not in problem and url not in problem


def test_json_apprise_500_is_reported() -> None:
    with Receiver("500") as receiver:
        (channel,) = parse_channels(receiver.url().replace("http://", f"json://u:{SECRET}@"))
        problem = send(channel, MESSAGE, deadline=3)
    assert problem is not None and SECRET not in problem
