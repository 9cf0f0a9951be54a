"""A PostgREST protocol stand-in: NOT PostgREST, just the part of its protocol that the supabase
client uses here, served on 127.0.0.1 in front of a real PostgreSQL.

It exists so that the integration tests run the real ``supabase`` client, over real HTTP, against
real SQL semantics (types, NULL, unique indexes, row locks) without Docker or the internet.

Supported on ``/rest/v1/<table>``:

* GET: ``select=*`` or a column list; filters ``col=op.value`` with ``eq, neq, gt, gte, lt, lte,
  is`` (``null``/``true``/``false``); ``or=(…)`` with nested ``and(…)``/``or(…)`` and
  double-quoted values; ``order=col.asc|desc[.nullsfirst|nullslast]``; ``limit``; ``offset``;
  ``Prefer: count=exact`` → ``Content-Range: first-last/total``; a max-rows cap (1,000 by
  default, like Supabase) applied silently.
* POST (insert a JSON object or array) and PATCH (update with the same filters), with
  ``Prefer: return=representation``.
* PostgREST's JSON errors ``{code, message, details, hint}``: unknown table → 404 ``PGRST205``;
  SQL errors → 400 (409 for unique/foreign-key violations) with the SQLSTATE as ``code``; a wrong
  key → 401 ``PGRST301``, or the Supabase gateway's ``{"message": "Invalid API key"}``.

Fault-injection knobs (plain attributes, read per request): ``max_rows``, ``delay`` (seconds to
sleep before answering), ``html_error`` (answer every request with a proxy's HTML 502 page),
``auth_mode`` (``"postgrest"`` or ``"gateway"``). Every request is appended to ``log``.

SQL is built with :mod:`psycopg.sql` (quoted identifiers, values as parameters) only.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
from psycopg import sql

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
OPERATORS = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
IS_VALUES = {"null": "NULL", "true": "TRUE", "false": "FALSE", "unknown": "UNKNOWN"}
RESERVED = {"select", "order", "limit", "offset", "or", "and", "columns", "on_conflict"}
CONFLICT_STATES = {"23505", "23503"}  # PostgREST answers these with 409
HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>cloudflare</center>\r\n"
    b"</body>\r\n</html>\r\n"
)


class ApiError(Exception):
    """An answer in PostgREST's error format."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        details: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {
            "code": code,
            "details": details,
            "hint": hint,
            "message": message,
        }


@dataclass(frozen=True)
class LoggedRequest:
    method: str
    table: str
    query: str
    status: int
    rows: int  # rows in the response body (0 for errors)
    seconds: float = 0.0  # time spent answering, sleep excluded


def _identifier(name: str) -> sql.Identifier:
    if not IDENTIFIER.match(name):
        raise ApiError(
            400,
            "PGRST100",
            f'"{name}" is not a plain column name',
            hint="the stand-in accepts letters, digits and underscores only",
        )
    return sql.Identifier(name)


def _split_top(text: str) -> list[str]:
    """Split on commas outside parentheses and double quotes."""
    parts: list[str] = []
    depth, quoted, escaped, current = 0, False, False, []
    for char in text:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    if depth != 0 or quoted:
        raise ApiError(400, "PGRST100", f"unbalanced parentheses or quotes in {text!r}")
    return parts


def _unquote_value(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _condition(column: str, expression: str) -> tuple[sql.Composable, list[Any]]:
    """``col`` + ``op.value`` → SQL; values travel as parameters of unknown type, so PostgreSQL
    casts them to the column's type like PostgREST does."""
    negate = False
    if expression.startswith("not."):
        negate, expression = True, expression[4:]
    operator, dot, value = expression.partition(".")
    if not dot:
        raise ApiError(400, "PGRST100", f'"failed to parse filter ({expression})"')
    target = _identifier(column)
    if operator == "is":
        literal = IS_VALUES.get(value.lower())
        if literal is None:
            raise ApiError(400, "PGRST100", f'"failed to parse filter (is.{value})"')
        condition: sql.Composable = sql.SQL("{} IS {}").format(target, sql.SQL(literal))
        params: list[Any] = []
    elif operator in OPERATORS:
        condition = sql.SQL("{} {} %s").format(target, sql.SQL(OPERATORS[operator]))
        params = [_unquote_value(value)]
    else:
        raise ApiError(
            400,
            "PGRST100",
            f'"failed to parse filter ({operator}.{value})"',
            hint="the stand-in supports eq, neq, gt, gte, lt, lte, is, or/and",
        )
    if negate:
        condition = sql.SQL("NOT ({})").format(condition)
    return condition, params


def _logic(kind: str, body: str) -> tuple[sql.Composable, list[Any]]:
    """``or=(a.eq.1,and(b.is.null,c.gt.2))`` → SQL: nested and/or trees of filters."""
    parts: list[sql.Composable] = []
    params: list[Any] = []
    for item in _split_top(body):
        item = item.strip()
        match = re.match(r"^(not\.)?(and|or)\((.*)\)$", item, re.S)
        if match:
            condition, more = _logic(match.group(2), match.group(3))
            if match.group(1):
                condition = sql.SQL("NOT ({})").format(condition)
        else:
            column, dot, expression = item.partition(".")
            if not dot:
                raise ApiError(400, "PGRST100", f'"failed to parse logic tree ({item})"')
            condition, more = _condition(column, expression)
        parts.append(sql.SQL("({})").format(condition))
        params.extend(more)
    joiner = sql.SQL(" OR " if kind == "or" else " AND ")
    return joiner.join(parts), params


@dataclass
class _Query:
    table: str
    where: sql.Composable
    params: list[Any]
    select: sql.Composable
    order: sql.Composable
    limit: int | None
    offset: int


class PgRestStandIn:
    """The stand-in server; ``start()`` it, use ``url``/``key``, ``stop()`` it."""

    def __init__(
        self,
        dsn: str,
        key: str = "stand-in-service-role-key",
        max_rows: int = 1000,
        schema: str = "public",
    ) -> None:
        self.dsn = dsn
        self.key = key
        self.schema = schema
        self.max_rows = max_rows
        self.delay = 0.0
        self.html_error = False
        self.auth_mode = "postgrest"
        self.log: list[LoggedRequest] = []
        self.epoch = 0  # bumped by reset(): a request that arrived before is never logged after
        self._lock = threading.Lock()
        self._pool: list[psycopg.Connection[Any]] = []
        self._all: list[psycopg.Connection[Any]] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> PgRestStandIn:
        stand_in = self

        class Handler(_Handler):
            server_state = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True, name="pgrest-stand-in"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self._lock:
            for connection in self._all:
                connection.close()
            self._pool.clear()
            self._all.clear()

    def reset(self) -> None:
        """Back to a well-behaved server with an empty log (between tests)."""
        self.max_rows = 1000
        self.delay = 0.0
        self.html_error = False
        self.auth_mode = "postgrest"
        with self._lock:
            self.epoch += 1
            self.log.clear()

    def requests(self, table: str | None = None, method: str = "GET") -> list[LoggedRequest]:
        with self._lock:
            return [
                entry
                for entry in self.log
                if entry.method == method and (table is None or entry.table == table)
            ]

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection[Any]]:
        with self._lock:
            connection = self._pool.pop() if self._pool else None
        if connection is None or connection.closed:
            connection = psycopg.connect(self.dsn, autocommit=True)
            connection.execute("set time zone 'UTC'")
            with self._lock:
                self._all.append(connection)
        try:
            yield connection
        finally:
            with self._lock:
                if not connection.closed:
                    self._pool.append(connection)

    # -- protocol -------------------------------------------------------------------------------

    def authenticate(self, headers: Any) -> None:
        apikey = headers.get("apikey")
        authorization = headers.get("Authorization")
        bearer_ok = authorization is None or authorization == f"Bearer {self.key}"
        if apikey == self.key and bearer_ok:
            return
        if self.auth_mode == "gateway":
            error = ApiError(
                401,
                None,
                "Invalid API key",
                hint="Double check your Supabase `anon` or `service_role` API key.",
            )
            error.body = {
                "message": "Invalid API key",
                "hint": "Double check your Supabase `anon` or `service_role` API key.",
            }
            raise error
        raise ApiError(401, "PGRST301", "JWT could not be decoded", details="Invalid JWT")

    def parse(self, table: str, query: str) -> _Query:
        if not IDENTIFIER.match(table):
            raise self.missing(table)
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        select: sql.Composable = sql.SQL("*")
        order: sql.Composable = sql.SQL("")
        limit: int | None = None
        offset = 0
        for name, value in parse_qsl(query, keep_blank_values=True):
            if name == "select":
                columns = [column.strip() for column in value.split(",") if column.strip()]
                if columns and columns != ["*"]:
                    select = sql.SQL(", ").join(_identifier(column) for column in columns)
            elif name == "order":
                terms: list[sql.Composable] = []
                for term in value.split(","):
                    column, *modifiers = term.split(".")
                    words = [
                        {
                            "asc": "ASC",
                            "desc": "DESC",
                            "nullsfirst": "NULLS FIRST",
                            "nullslast": "NULLS LAST",
                        }.get(m)
                        for m in modifiers
                    ]
                    if None in words:
                        raise ApiError(400, "PGRST100", f'"failed to parse order ({value})"')
                    terms.append(
                        sql.SQL(" ").join([_identifier(column), *(sql.SQL(w) for w in words if w)])
                    )
                order = sql.SQL(" ORDER BY ") + sql.SQL(", ").join(terms)
            elif name in ("limit", "offset"):
                if not value.isdigit():
                    raise ApiError(400, "PGRST100", f'"failed to parse {name} ({value})"')
                if name == "limit":
                    limit = int(value)
                else:
                    offset = int(value)
            elif name in ("or", "and"):
                if not (value.startswith("(") and value.endswith(")")):
                    raise ApiError(400, "PGRST100", f'"failed to parse logic tree ({value})"')
                condition, more = _logic(name, value[1:-1])
                conditions.append(sql.SQL("({})").format(condition))
                params.extend(more)
            elif name in RESERVED:
                continue
            else:
                condition, more = _condition(name, value)
                conditions.append(condition)
                params.extend(more)
        where = (
            (sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions)) if conditions else sql.SQL("")
        )
        return _Query(table, where, params, select, order, limit, offset)

    def missing(self, table: str) -> ApiError:
        return ApiError(
            404, "PGRST205", f"Could not find the table '{self.schema}.{table}' in the schema cache"
        )

    def relation(self, table: str) -> sql.Composable:
        return sql.Identifier(self.schema, table)

    def get(self, table: str, query: str, prefer: str) -> tuple[int, dict[str, str], bytes, int]:
        parsed = self.parse(table, query)
        cap = self.max_rows
        limit = cap if parsed.limit is None else min(parsed.limit, cap)
        rows_sql = sql.SQL("SELECT {select} FROM {rel}{where}{order} LIMIT %s OFFSET %s").format(
            select=parsed.select, rel=self.relation(table), where=parsed.where, order=parsed.order
        )
        statement = sql.SQL(
            "SELECT count(*), coalesce(json_agg(t), '[]')::text FROM ({rows}) AS t"
        ).format(rows=rows_sql)
        with self.connection() as connection:
            count, body = self.execute(
                connection, table, statement, [*parsed.params, limit, parsed.offset]
            )
            total: int | None = None
            if "count=exact" in prefer:
                counted = sql.SQL("SELECT count(*) FROM {rel}{where}").format(
                    rel=self.relation(table), where=parsed.where
                )
                total = int(self.execute_one(connection, table, counted, parsed.params))
        first = parsed.offset
        span = f"{first}-{first + count - 1}" if count else "*"
        headers = {"Content-Range": f"{span}/{'*' if total is None else total}"}
        status = 206 if total is not None and count < total else 200
        return status, headers, body.encode(), count

    def write(
        self, method: str, table: str, query: str, prefer: str, payload: Any
    ) -> tuple[int, dict[str, str], bytes, int]:
        parsed = self.parse(table, query)
        rows = payload if isinstance(payload, list) else [payload]
        if not rows or not all(isinstance(row, dict) for row in rows):
            raise ApiError(400, "PGRST102", "Empty or invalid json")
        relation = self.relation(table)
        if method == "POST":
            columns: list[str] = []
            for row in rows:
                columns.extend(name for name in row if name not in columns)
            if columns:
                values = sql.SQL(", ").join(
                    sql.SQL("({})").format(sql.SQL(", ").join(sql.Placeholder() for _ in columns))
                    for _ in rows
                )
                change = sql.SQL("INSERT INTO {rel} ({cols}) VALUES {values} RETURNING *").format(
                    rel=relation,
                    cols=sql.SQL(", ").join(_identifier(c) for c in columns),
                    values=values,
                )
                params = [_param(row.get(column)) for row in rows for column in columns]
            else:
                change = sql.SQL("INSERT INTO {rel} DEFAULT VALUES RETURNING *").format(
                    rel=relation
                )
                params = []
            status = 201
        else:  # PATCH
            if len(rows) != 1 or not rows[0]:
                raise ApiError(400, "PGRST102", "PATCH needs one non-empty JSON object")
            assignments = sql.SQL(", ").join(
                sql.SQL("{} = %s").format(_identifier(name)) for name in rows[0]
            )
            change = sql.SQL("UPDATE {rel} SET {assignments}{where} RETURNING *").format(
                rel=relation, assignments=assignments, where=parsed.where
            )
            params = [*(_param(value) for value in rows[0].values()), *parsed.params]
            status = 200
        statement = sql.SQL(
            "WITH changed AS ({change}) "
            "SELECT count(*), coalesce(json_agg(changed), '[]')::text FROM changed"
        ).format(change=change)
        with self.connection() as connection:
            count, body = self.execute(connection, table, statement, params)
        if "return=representation" in prefer:
            return status, {}, body.encode(), count
        return (201 if method == "POST" else 204), {}, b"", count

    def execute(
        self,
        connection: psycopg.Connection[Any],
        table: str,
        statement: sql.Composable,
        params: list[Any],
    ) -> tuple[int, str]:
        try:
            row = connection.execute(statement, params).fetchone()
        except psycopg.errors.UndefinedTable:
            raise self.missing(table) from None
        except psycopg.Error as exc:
            diag = exc.diag
            state = exc.sqlstate or "XX000"
            raise ApiError(
                409 if state in CONFLICT_STATES else 400,
                state,
                diag.message_primary or str(exc),
                diag.message_detail,
                diag.message_hint,
            ) from None
        assert row is not None
        return int(row[0]), str(row[1])

    def execute_one(
        self,
        connection: psycopg.Connection[Any],
        table: str,
        statement: sql.Composable,
        params: list[Any],
    ) -> int:
        try:
            row = connection.execute(statement, params).fetchone()
        except psycopg.errors.UndefinedTable:
            raise self.missing(table) from None
        assert row is not None
        return int(row[0])

    def record(self, entry: LoggedRequest, epoch: int | None = None) -> None:
        with self._lock:
            if epoch is None or epoch == self.epoch:  # not a straggler from an earlier test
                self.log.append(entry)


def _param(value: Any) -> Any:
    """JSON values → parameters; nested JSON stays JSON text."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


class _Handler(BaseHTTPRequestHandler):
    server_state: PgRestStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as two writes: no 40 ms stall

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the tests read the structured log instead

    def do_GET(self) -> None:
        self.handle_api("GET")

    def do_POST(self) -> None:
        self.handle_api("POST")

    def do_PATCH(self) -> None:
        self.handle_api("PATCH")

    def handle_api(self, method: str) -> None:
        state = self.server_state
        epoch = state.epoch
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        table = unquote(parts.path.removeprefix("/rest/v1/")).strip("/")
        if state.delay:
            time.sleep(state.delay)
        began = time.perf_counter()
        # Every request is logged *before* it is answered: a test that asserts on the log right
        # after the client returns must find its request there.
        if state.html_error:
            state.record(LoggedRequest(method, table, parts.query, 502, 0), epoch)
            self.answer(502, {"Content-Type": "text/html"}, HTML_502)
            return
        rows = 0
        try:
            if not parts.path.startswith("/rest/v1/") or "/" in table:
                raise ApiError(404, None, "not found", hint="the stand-in serves /rest/v1/<table>")
            state.authenticate(self.headers)
            prefer = ",".join(self.headers.get_all("Prefer") or [])
            if method == "GET":
                status, headers, body, rows = state.get(table, parts.query, prefer)
            else:
                try:
                    payload = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    raise ApiError(400, "PGRST102", "Empty or invalid json") from None
                status, headers, body, rows = state.write(
                    method, table, parts.query, prefer, payload
                )
        except ApiError as error:
            status, headers, body = error.status, {}, json.dumps(error.body).encode()
        except psycopg.OperationalError:  # its PostgreSQL is gone (stopped by a test): as PostgREST
            status, headers = 503, {}
            body = json.dumps(
                {"code": "PGRST001", "details": None, "hint": None,
                 "message": "Database client error. Retrying the connection."}
            ).encode()  # fmt: skip
        if body or status != 204:
            headers = {"Content-Type": "application/json; charset=utf-8", **headers}
        state.record(
            LoggedRequest(method, table, parts.query, status, rows, time.perf_counter() - began),
            epoch,
        )
        self.answer(status, headers, body)

    def answer(self, status: int, headers: dict[str, str], body: bytes) -> None:
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to answer
