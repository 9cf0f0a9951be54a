"""The I/O edge to Supabase: read the SLA/approval rows; list, insert and resolve notification
rows. Only the PostgREST calls live here: which alerts start and resolve, their texts and their
delivery are :mod:`chatwoot_health.report.notifications`' business.

Everything here goes through the official ``supabase`` client (PostgREST underneath), imported
lazily in :class:`SupabaseSource` because importing it costs ~0.3 s and a report without Supabase
configured must not pay for it. Every failure becomes a :class:`SupabaseError` whose text is one
actionable line without the key, so the report can show it as the section's error and go on.

Reads use keyset pagination (``id > last``, ordered by ``id``, pages of 1,000) and stop only on an
empty page: Supabase silently caps a select (1,000 rows by default, sometimes less), so a short
page proves nothing.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pydantic
from pydantic import BaseModel, TypeAdapter

from chatwoot_health.httpbody import BodyError, BoundedTransport
from chatwoot_health.models.rows import (
    ApprovalRow,
    DecisionRow,
    NewNotification,
    NotificationRow,
)
from chatwoot_health.models.settings import SupabaseSettings
from chatwoot_health.redact import redact_url

if TYPE_CHECKING:
    from supabase import Client

MIGRATION = "supabase/migrations/20261127000000_chatwoot_health.sql"
PAGE_SIZE = 1000
RETRY_PAUSE = 0.2  # seconds before the single retry of a read
# One table read stops with an error past either bound (a server that pages forever, or tiny
# pages): twice the busiest month seen (50,000 decisions), in pages of 500 rows or more.
MAX_ROWS = 100_000
MAX_PAGES = 200

_Row = TypeVar("_Row", bound=BaseModel)
_T = TypeVar("_T")


class SupabaseError(Exception):
    """Supabase could not be read or written; ``str(exc)`` is one actionable line, never the key."""


class _Failure(Exception):
    """Internal: a failed request, classified, before it is turned into a SupabaseError."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@functools.cache
def _list_adapter(model: type[BaseModel]) -> TypeAdapter[list[Any]]:
    """One validator call per page rather than one per row (a quarter faster)."""
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def _utc_text(moment: datetime) -> str:
    """Full precision (a millisecond cut would move the window's edge) and no ``+`` to escape."""
    if moment.tzinfo is None:
        raise ValueError("Supabase filters need timezone-aware datetimes")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _one_line(text: str, limit: int = 240) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


class SupabaseSource:
    """Reads ``decision_log``/``approvals_history`` and writes ``notifications`` of one project.

    Use it as a context manager (or call :meth:`close`) so the HTTP connections are released.
    """

    def __init__(self, settings: SupabaseSettings) -> None:
        self._settings = settings
        self._key = settings.key.get_secret_value()
        self._host = urlsplit(settings.url).netloc or settings.url
        self._local = threading.local()  # the last HTTP status seen by this thread
        # The client's own ``postgrest_client_timeout`` is deprecated in supabase 2.34 (it warns
        # and truncates 0.5 s to 0), so the timeout lives on an httpx client we own; the client's
        # retries (up to 3, sleeping 1 + 2 + 4 s) are off in favour of our single quick retry.
        # Its transport bounds every answer (decoded size, JSON shape) and every request's total
        # time (SUPABASE_TIMEOUT), and all of them together by the budget.
        self._until = time.monotonic() + settings.budget
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.timeout),
            event_hooks={"response": [self._remember_status]},
            transport=BoundedTransport(timeout=settings.timeout, until=self._until),
        )
        try:
            from supabase import ClientOptions, SupabaseException, create_client

            options = ClientOptions(
                httpx_client=self._http,
                postgrest_client_retry=False,
                auto_refresh_token=False,
                persist_session=False,
            )
            try:
                self._client: Client = create_client(settings.url, self._key, options)
            except SupabaseException as exc:
                message = f"Supabase settings rejected: {exc.message}"
                raise SupabaseError(self._scrub(message)) from None
            except ValueError as exc:  # e.g. a URL httpx cannot use
                message = f"Supabase settings rejected: {_one_line(str(exc))}"
                raise SupabaseError(self._scrub(message)) from None
        except BaseException:
            self._http.close()
            raise

    # -- lifecycle ------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SupabaseSource:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- reads ----------------------------------------------------------------------------------

    def decisions(self, start: datetime, end: datetime) -> list[DecisionRow]:
        """Rows whose message arrived in ``(start, end]`` (every section's window rule),
        filtered on the server."""
        low, high = _utc_text(start), _utc_text(end)
        table = self._settings.decision_log
        return self._fetch_all(
            table,
            DecisionRow,
            lambda query: query.gt("message_received_at", low).lte("message_received_at", high),
        )

    def approvals(self, start: datetime, end: datetime) -> list[ApprovalRow]:
        """Every approval in the queue at some instant of ``[start, end]``.

        That is ``requested_at <= end`` and (``resolved_at`` null or ``> start``): enough to
        replay the queue length at each change point of the window.
        """
        low, high = _utc_text(start), _utc_text(end)
        table = self._settings.approvals_history
        return self._fetch_all(
            table,
            ApprovalRow,
            lambda query: query.lte("requested_at", high).or_(
                f'resolved_at.is.null,resolved_at.gt."{low}"'
            ),
        )

    def pending_approvals(self) -> int:
        """Approvals not resolved yet, counted by the server (``Prefer: count=exact``)."""
        from postgrest.types import CountMethod

        table = self._settings.approvals_history

        def request() -> Any:
            return (
                self._client.table(table)
                .select("id", count=CountMethod.exact)
                .is_("resolved_at", "null")
                .limit(1)
                .execute()
            )

        response = self._call(table, request, read=True)
        if response.count is None:
            raise SupabaseError(
                f"Supabase did not return a row count for table {table} (Content-Range missing)"
            )
        return int(response.count)

    def open_notifications(self) -> list[NotificationRow]:
        return self._fetch_all(
            self._settings.notifications,
            NotificationRow,
            lambda query: query.is_("resolved_at", "null"),
        )

    # -- notifications --------------------------------------------------------------------------

    def insert_notification(self, row: NewNotification) -> bool:
        """Record an alert's start; False when another run already holds its ``dedup_key`` open
        (the partial unique index on open keys refused this insert)."""
        table = self._settings.notifications
        values = {**row.model_dump(exclude={"created_at"}), "created_at": _utc_text(row.created_at)}
        try:
            self._call(table, lambda: self._client.table(table).insert(values).execute())
        except _DuplicateOpen:
            return False
        return True

    def resolve_notification(self, row_id: int, resolved_at: datetime) -> bool:
        """Mark an open row resolved; False when another run resolved it first."""
        table = self._settings.notifications

        def resolve() -> Any:
            return (
                self._client.table(table)
                .update({"resolved_at": _utc_text(resolved_at)})
                .eq("id", row_id)
                .is_("resolved_at", "null")
                .execute()
            )

        return bool(self._call(table, resolve).data)

    # -- machinery ------------------------------------------------------------------------------

    def _fetch_all(self, table: str, model: type[_Row], where: Callable[[Any], Any]) -> list[_Row]:
        """Keyset pagination until an empty page: a short page may just be the server's cap."""
        rows: list[_Row] = []
        last_id: Any = None
        for _ in range(MAX_PAGES):

            def page(after: Any = last_id) -> Any:
                query = where(self._client.table(table).select("*"))
                if after is not None:
                    query = query.gt("id", after)
                return query.order("id").limit(PAGE_SIZE).execute()

            data = self._call(table, page, read=True).data
            if not data:
                return rows
            try:
                parsed: list[_Row] = _list_adapter(model).validate_python(data)
            except pydantic.ValidationError as exc:
                raise SupabaseError(self._bad_rows(table, exc)) from None
            next_id = getattr(parsed[-1], "id")  # noqa: B009 - every row model has an id
            if last_id is not None and next_id <= last_id:
                raise SupabaseError(
                    f"table {table}: Supabase ignored the id filter or order (id {next_id} "
                    f"after {last_id}); is SUPABASE_URL a PostgREST API?"
                )
            rows.extend(parsed)
            last_id = next_id
            if len(rows) > MAX_ROWS:
                raise SupabaseError(self._too_many(table, f"more than {MAX_ROWS:,} rows"))
        raise SupabaseError(self._too_many(table, f"more than {MAX_PAGES} pages"))

    def _too_many(self, table: str, what: str) -> str:
        return (
            f"table {table}: {what} in the window, the most one report reads; narrow the window "
            "(or is SUPABASE_URL answering pages without end?)"
        )

    def _bad_rows(self, table: str, exc: pydantic.ValidationError) -> str:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return _one_line(f"table {table} has unexpected data: column {where}: {first['msg']}")

    def _call(self, table: str, request: Callable[[], _T], *, read: bool = False) -> _T:
        """Run one request; retry a read once after a refused connection or a 5xx."""
        attempts = 2 if read else 1
        for attempt in range(attempts):
            try:
                return self._attempt(table, request)
            except _DuplicateOpen:
                raise
            except _Failure as failure:
                if failure.retryable and attempt + 1 < attempts:
                    time.sleep(RETRY_PAUSE)
                    continue
                raise SupabaseError(self._scrub(str(failure))) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, table: str, request: Callable[[], _T]) -> _T:
        from postgrest import APIError

        self._local.status = None
        try:
            return request()
        except APIError as exc:
            raise self._classify_api_error(table, exc) from None
        except BodyError as exc:
            raise _Failure(
                f"Supabase at {self._host} sent an answer that was refused: {exc}",
                retryable=False,
            ) from None
        except httpx.TimeoutException:
            if time.monotonic() >= self._until:
                raise _Failure(
                    f"Supabase requests took more than {self._settings.budget:g} s in all, the "
                    "budget of one report",
                    retryable=False,
                ) from None
            raise _Failure(
                f"Supabase at {self._host} did not answer within {self._settings.timeout:g} s "
                "(SUPABASE_TIMEOUT)",
                retryable=False,
            ) from None
        except httpx.ConnectError as exc:
            reason = "connection refused" if "refused" in str(exc).lower() else _one_line(str(exc))
            raise _Failure(
                f"cannot connect to Supabase at {self._host} ({reason}): check SUPABASE_URL",
                retryable=True,
            ) from None
        except httpx.HTTPError as exc:
            problem = _one_line(str(exc)) or type(exc).__name__
            raise _Failure(
                f"request to Supabase at {self._host} failed: {type(exc).__name__}: {problem}",
                retryable=isinstance(exc, httpx.TransportError),
            ) from None
        except (ValueError, pydantic.ValidationError):  # a 2xx body that is not PostgREST JSON
            status = self._local.status
            raise _Failure(
                f"Supabase at {self._host} answered HTTP {status} with a body that is not "
                "PostgREST JSON: check SUPABASE_URL",
                retryable=False,
            ) from None

    def _classify_api_error(self, table: str, exc: Any) -> Exception:
        code = str(exc.code or "")
        message = _one_line(str(exc.message or ""))
        status: int | None = self._local.status
        if code.isdigit() and len(code) == 3:  # postgrest-py's stand-in for a non-JSON body
            status = int(code)
            non_json = True
        else:
            non_json = False
        if code == "23505":
            return _DuplicateOpen(message)
        rejected = code.startswith("PGRST30") or "invalid api key" in message.lower()
        if rejected or status in (401, 403):
            why = message or f"HTTP {status}"
            return _Failure(
                f"Supabase rejected SUPABASE_KEY ({why}): use the project's service_role key "
                "from Project Settings → API",
                retryable=False,
            )
        if code in ("PGRST205", "42P01") or status == 404:
            return _Failure(
                f"table {table} not found: apply {MIGRATION}{self._renamed(table)}", retryable=False
            )
        if non_json:
            return _Failure(
                f"Supabase at {self._host} answered HTTP {status} with a page that is not "
                "PostgREST JSON (a proxy or gateway error?): try again later or check SUPABASE_URL",
                retryable=status is not None and status >= 500,
            )
        hint = f" ({_one_line(str(exc.hint))})" if exc.hint else ""
        label = f"{code}: " if code else ""
        where = f"HTTP {status}, " if status else ""
        return _Failure(
            f"Supabase error on table {table} ({where}{label}{message or 'no message'}){hint}",
            retryable=status is not None and status >= 500,
        )

    def _renamed(self, table: str) -> str:
        """A table name that differs from the default may just be a wrong override."""
        for default in ("decision_log", "approvals_history", "notifications"):
            if getattr(self._settings, default) == table and table != default:
                return f" (or fix CHATWOOT_HEALTH_TABLE_{default.upper()})"
        return ""

    def _remember_status(self, response: httpx.Response) -> None:
        self._local.status = response.status_code

    def _scrub(self, text: str) -> str:
        line = _one_line(text, limit=400)
        line = line.replace(self._key, "[SUPABASE_KEY]") if self._key else line
        return redact_url(line)


class _DuplicateOpen(_Failure):
    """The partial unique index refused a second open row: another run already notified."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)
