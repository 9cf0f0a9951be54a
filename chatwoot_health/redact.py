"""What may leave the process: secrets redacted, remote text made safe for a terminal.

:func:`redact_url` is the one redaction step for every message that may contain a URL (config
errors, probe errors, Supabase and webhook errors, the last-resort handler): it removes the
userinfo (``user:password@``) and the values of query parameters that look like credentials from
every URL in a text, and replaces any secret registered with :func:`register_secret` (the API
token, the Supabase key, the webhook URL) wherever it appears.

:func:`printable` is the one step that makes a remote string (an inbox name, an error body) safe
to write to a terminal: no escape sequences, no control characters.
"""

from __future__ import annotations

import re
from typing import Any, TypeVar

from pydantic import BaseModel

REDACTED = "***"

# scheme://authority[/path][?query][#fragment]; stops at whitespace, quotes and brackets so that
# a URL inside a repr() or a sentence is found without its surroundings.
_URL = re.compile(r"""(?i)\b([a-z][a-z0-9+.\-]*://)([^\s'"<>`]+)""")
# A query or fragment parameter whose name says it is a credential.
_SECRET_PARAM = re.compile(
    r"(?i)([?&#;]"
    r"[^=&#;\s]*(?:token|key|secret|pass|pwd|auth|sig|session|credential|jwt|code|bearer)"
    r"[^=&#;\s]*=)([^&#;\s]*)"
)

_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Redact ``value`` wherever it appears in a text passed to :func:`redact_url` from now on."""
    if value and len(value) >= 8:  # a short "secret" would shred every message that has it
        _secrets.add(value)


def _redact_one(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    # The authority ends at the first '/', '?' or '#'; its userinfo ends at its LAST '@'.
    end = len(rest)
    for stop in "/?#":
        position = rest.find(stop)
        if position != -1:
            end = min(end, position)
    authority, tail = rest[:end], rest[end:]
    if "@" in authority:
        authority = REDACTED + "@" + authority.rpartition("@")[2]
    tail = _SECRET_PARAM.sub(lambda m: m.group(1) + REDACTED, tail)
    return scheme + authority + tail


def redact_url(text: str) -> str:
    """``text`` with every URL's userinfo and credential-like query values replaced by ``***``.

    >>> redact_url("bad URL 'https://user:pass@host:99999/x?api_key=k&page=2'")
    "bad URL 'https://***@host:99999/x?api_key=***&page=2'"
    """
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _URL.sub(_redact_one, text)


# C0 controls, DEL and C1 controls; an ESC sequence (CSI ``ESC [ … final``, OSC/DCS/APC/PM/SOS
# ``ESC ] … BEL|ST``, or a two-character ``ESC x``) is removed as a whole so that no fragment of
# it (``[2J``) is left behind.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"  # CSI
    r"|\x1b[\]PX^_][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # OSC, DCS, SOS, PM, APC
    r"|\x9b[0-?]*[ -/]*[@-~]?"  # 8-bit CSI
    r"|[\x9d\x90\x98\x9e\x9f][^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"  # 8-bit OSC, DCS, …
    r"|\x1b[ -~]?"  # any other ESC x
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_CONTROL_KEEP_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def printable(text: str, *, multiline: bool = False) -> str:
    """``text`` without terminal escape sequences and control characters.

    A tab or a line break becomes a space (``multiline`` keeps ``\\n``); any other control
    character is replaced by ``?`` so that its presence stays visible.
    """
    if text.isprintable() and "\x1b" not in text:
        return text  # the common case, fast
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = text.replace("\r\n", "\n")
    control = _CONTROL_KEEP_NEWLINE if multiline else _CONTROL
    return control.sub(lambda m: " " if m.group() in "\t\n\r" else "?", text)


_Model = TypeVar("_Model")


def printable_fields(value: _Model, multiline: frozenset[str] = frozenset()) -> _Model:
    """A copy of a (pydantic) model with :func:`printable` applied to every string in it, nested
    models, lists and dicts included; fields named in ``multiline`` keep their line breaks.

    The terminal renderers call this once on what they render, so no remote string (an inbox
    name, an error body) can reach the terminal raw, whichever field it travels in.
    """
    return _walk(value, multiline, False)  # type: ignore[no-any-return]


def _walk(value: Any, multiline: frozenset[str], keep_lines: bool) -> Any:
    if type(value) is str:  # not a StrEnum: its members are ours
        return printable(value, multiline=keep_lines)
    if isinstance(value, BaseModel):
        changes = {}
        for name in type(value).model_fields:
            old = getattr(value, name)
            new = _walk(old, multiline, name in multiline)
            if new is not old:
                changes[name] = new
        return value.model_copy(update=changes) if changes else value
    if isinstance(value, list | tuple):
        items = [_walk(item, multiline, keep_lines) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return type(value)(items)
    if isinstance(value, dict):
        pairs = {
            _walk(key, multiline, False): _walk(item, multiline, keep_lines)
            for key, item in value.items()
        }
        if all(k in value and pairs[k] is value[k] for k in pairs) and len(pairs) == len(value):
            return value
        return pairs
    return value
