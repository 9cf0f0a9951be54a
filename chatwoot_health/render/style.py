"""Colour + icon + word: status is never shown by colour alone, and colour only on a TTY."""

from __future__ import annotations

from chatwoot_health.state import State

_ANSI = {
    State.OK: "\033[32m",
    State.WARNING: "\033[33m",
    State.CRITICAL: "\033[31m",
    State.UNKNOWN: "\033[35m",
}
_RESET = "\033[0m"


def badge(state: State, colour: bool, word: str | None = None) -> str:
    text = f"{state.icon} {word or state.word}"
    return f"{_ANSI[state]}{text}{_RESET}" if colour else text
