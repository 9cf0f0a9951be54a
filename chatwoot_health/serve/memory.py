"""Keeping a process that runs for months at a flat size (issue #11).

A report over 30 days builds its runs' objects, computes and drops them: Python frees them, but
glibc's malloc keeps the freed pages mapped for reuse — in one arena per thread that ever
allocated at once, each growing to the largest report it computed. Two measures, both no-ops
where the C library is not glibc:

- :func:`limit_arenas` caps the arenas (``M_ARENA_MAX``) before the server's threads start, so
  the report thread, the run thread and the scheduler share two instead of one each;
- :func:`release_memory` hands the freed pages back to the system (``malloc_trim``) after each
  run and each report computed (a few milliseconds).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

#: mallopt's parameter number for the arena cap (glibc's malloc.h).
M_ARENA_MAX = -8
#: The main thread's arena and one more: the worker threads share it.
ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.malloc_trim, libc.mallopt  # noqa: B018 — glibc only
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(count: int = ARENAS) -> bool:
    """Cap malloc's arenas (once, before the threads start); False where that is not glibc."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(M_ARENA_MAX, count))


def release_memory() -> None:
    """After a run or a report: give malloc's free pages back to the system. (Reading artifacts
    no longer ends with ``gc.freeze()`` unless the caller exits after it — the command line's
    ``report`` — so there is nothing to unfreeze here.)"""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
