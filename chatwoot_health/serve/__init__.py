"""``chatwoot-health serve``: the live admin dashboard, an ASGI app (Starlette) under uvicorn.

The app is a library (:func:`chatwoot_health.serve.app.create_app`); :func:`run` only checks the
settings and hands the app to uvicorn. Starlette and uvicorn are imported by ``serve`` alone:
``check`` and ``report`` never load them.
"""

from __future__ import annotations

from chatwoot_health.serve.settings import ServeError, ServeSettings

__all__ = ["ServeError", "ServeSettings", "run"]


def run(settings: ServeSettings) -> int:
    """Serve until stopped; the exit code (3 = could not start, with one line on stderr)."""
    from chatwoot_health.serve.server import serve

    return serve(settings)
