"""The one redaction step and the one terminal-safety step (chatwoot_health.redact)."""

from __future__ import annotations

import pytest

from chatwoot_health.redact import printable, redact_url, register_secret


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "'https://user:pass@host:99999' has an invalid port",
            "'https://***@host:99999' has an invalid port",
        ),
        ("https://token@host/x", "https://***@host/x"),
        ("postgres://a:b@c@db/x", "postgres://***@db/x"),
        ("GET http://h/p?apikey=k&page=2 failed", "GET http://h/p?apikey=***&page=2 failed"),
        ("http://h/cb#access_token=abc&x=1", "http://h/cb#access_token=***&x=1"),
        ("http://h/p?sig=s;token=t", "http://h/p?sig=***;token=***"),
        ("http://h/users/@me", "http://h/users/@me"),
        ("no url here", "no url here"),
        ("(https://u:p@a/ and https://v:q@b/)", "(https://***@a/ and https://***@b/)"),
    ],
)
def test_redact_url(text: str, expected: str) -> None:
    assert redact_url(text) == expected


def test_registered_secrets_are_redacted_anywhere() -> None:
    register_secret("xoxb-registered-secret-1")
    register_secret("ab")  # too short to be redacted everywhere
    assert redact_url("token xoxb-registered-secret-1 rejected ab") == "token *** rejected ab"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain Inbox ü", "plain Inbox ü"),
        ("a\x1b]52;c;ZXZpbA==\x07b", "ab"),
        ("a\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),
        ("a\x1b[2Jb\x1b[31mc", "abc"),
        ("a\x9b31mb", "ab"),
        ("a\x00b\x7fc\x85d", "a?b?c?d"),
        ("a\tb\nc\rd", "a b c d"),
        ("a\x1b", "a"),
    ],
)
def test_printable(text: str, expected: str) -> None:
    assert printable(text) == expected


def test_printable_multiline_keeps_line_breaks() -> None:
    assert printable("one\r\ntwo\nthree\x1b[2J", multiline=True) == "one\ntwo\nthree"


def test_a_probe_error_is_redacted_before_it_reaches_the_artifact() -> None:
    from chatwoot_health.models.artifact import CheckResult

    check = CheckResult(
        name="agent_sdk", ok=False, error="Redirect for https://u:p@agent/health?token=abc"
    )
    assert check.error == "Redirect for https://***@agent/health?token=***"
