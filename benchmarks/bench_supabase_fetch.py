"""Fetch time of 50,000 ``decision_log`` rows in the window (50 pages of 1,000).

Runs the real ``supabase`` client through :class:`SupabaseSource` against the PostgREST protocol
stand-in (tests/servers/pgrest_server.py) over a throwaway real PostgreSQL on 127.0.0.1, so the
number covers HTTP, JSON and row parsing but no internet round trips (on a real project add ~one
RTT per page). Standalone: ``python benchmarks/bench_supabase_fetch.py [--rows N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

from _harness import machine  # first: puts the repository (the test servers) on sys.path

START = datetime(2026, 11, 20, tzinfo=UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    print(machine())

    import psycopg
    from pydantic import SecretStr

    from chatwoot_health.sources.supabase import PAGE_SIZE, SupabaseSettings, SupabaseSource
    from tests.servers.pgrest_server import PgRestStandIn
    from tests.servers.postgres_server import start_postgres

    began = time.perf_counter()
    server = start_postgres()
    stand_in = PgRestStandIn(server.dsn).start()
    try:
        with psycopg.connect(server.dsn, autocommit=True) as connection:
            connection.execute(
                "insert into decision_log (id, conversation_id, customer_name, channel,"
                " message_received_at, decided_at, action, grade, reason, webhook_ms,"
                " private_note_ms, approval_ms)"
                " select g, 100000 + g, 'Customer ' || g, 'Channel::Email',"
                " %(start)s + g * interval '10 seconds', %(start)s + g * interval '10 seconds'"
                " + interval '7 minutes', 'approved', 4, null, 300 + g %% 700,"
                " 1200 + g %% 1800, 900 + g %% 1100"
                " from generate_series(1, %(rows)s) as g",
                {"start": START, "rows": args.rows},
            )
        setup = time.perf_counter() - began
        end = START + timedelta(seconds=10 * args.rows + 1)
        settings = SupabaseSettings(url=stand_in.url, key=SecretStr(stand_in.key))
        timings: list[float] = []
        served: list[float] = []
        with SupabaseSource(settings) as source:
            source.decisions(START, START + timedelta(seconds=1))  # warm up: import, connect
            for _ in range(args.repeat):
                stand_in.log.clear()
                t0 = time.perf_counter()
                rows = source.decisions(START, end)
                timings.append(time.perf_counter() - t0)
                served.append(sum(entry.seconds for entry in stand_in.requests("decision_log")))
                if len(rows) != args.rows:
                    print(f"expected {args.rows} rows, got {len(rows)}", file=sys.stderr)
                    return 1
        pages = len(stand_in.requests("decision_log"))
        print(f"setup (PostgreSQL + {args.rows:,} rows): {setup:.2f} s")
        print(
            f"fetch {args.rows:,} decision_log rows in {pages} requests "
            f"({PAGE_SIZE} per page + the empty last page): "
            f"median {statistics.median(timings):.3f} s, best {min(timings):.3f} s "
            f"over {args.repeat} runs"
        )
        print(
            "  of which the stand-in server (SQL + JSON): "
            f"median {statistics.median(served):.3f} s; "
            "the rest is the client (supabase/httpx, JSON, pydantic rows)"
        )
    finally:
        stand_in.stop()
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
