"""The ``report --notify`` sink: post each text once to the Slack-compatible ``ALERT_WEBHOOK_URL``
as ``{"text": …}``, within the Supabase timeout, and report failures as lines (never raise).

Its own HTTP client, so no Supabase key can ever travel with a post; the answer (it only says
"ok") is read for at most :data:`WEBHOOK_READ_LIMIT` bytes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import httpx

from chatwoot_health.httpbody import BoundedTransport
from chatwoot_health.redact import redact_url

WEBHOOK_READ_LIMIT = 64 * 1024  # bytes of a webhook's answer read (then discarded)


def _one_line(text: str, limit: int = 240) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class WebhookSink:
    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._client: httpx.Client | None = None

    def post(self, posts: Sequence[tuple[str, str]]) -> list[str]:
        """Post each ``(alert name, text)``; the failures, one scrubbed line each."""
        errors: list[str] = []
        if not posts:
            return errors
        if self._client is None:
            transport = BoundedTransport(timeout=self.timeout, json_checked=False)
            self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), transport=transport)
        url = self.url
        for name, text in posts:
            try:
                with self._client.stream("POST", url, json={"text": text}) as response:
                    _discard(response)
            except httpx.TimeoutException:
                errors.append(f"{name}: webhook did not answer in {self.timeout:g} s")
            except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
                # Scrub the URL (a secret) before cutting the line, never after.
                problem = redact_url(_one_line(str(exc).replace(url, "ALERT_WEBHOOK_URL"), 400))
                errors.append(
                    f"{name}: webhook unreachable ({_one_line(problem) or type(exc).__name__})"
                )
            else:
                if not response.is_success:
                    errors.append(f"{name}: webhook answered HTTP {response.status_code}")
        return [redact_url(_one_line(e.replace(url, "ALERT_WEBHOOK_URL"), 400)) for e in errors]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _discard(response: httpx.Response) -> None:
    """Read at most :data:`WEBHOOK_READ_LIMIT` bytes of a webhook's answer within the request's
    deadline; the status already told whether the post was taken."""
    seen = 0
    with contextlib.suppress(httpx.HTTPError):
        for chunk in response.iter_raw():
            seen += len(chunk)
            if seen >= WEBHOOK_READ_LIMIT:
                break
