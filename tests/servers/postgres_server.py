"""Start and stop a throwaway real PostgreSQL server (used by the fixtures and the benchmark).

The server lives in a fresh temporary directory, listens on a free loopback port with its unix
socket inside that directory, trusts local connections and runs with durability off (it holds
only test data). PostgreSQL refuses to run as root, so when this process is root the server runs
as the ``postgres`` system user (which Debian's package creates) through ``runuser``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import shlex
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[2]
MIGRATION = ROOT / "supabase" / "migrations" / "20261127000000_chatwoot_health.sql"
INSTALL_HINT = "run .ci/install-system-deps.sh (as root) to install PostgreSQL"
DATABASE = "chatwoot_health"


class PostgresUnavailable(RuntimeError):
    """PostgreSQL is not installed or would not start; the message says what to do."""


def find_bindir() -> Path | None:
    """The directory holding initdb, pg_ctl and postgres: PATH first, then Debian's layout."""
    on_path = shutil.which("initdb")
    if on_path:
        bindir = Path(on_path).resolve().parent
        if (bindir / "pg_ctl").exists() and (bindir / "postgres").exists():
            return bindir
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: (
            int(Path(path).parent.parent.name) if Path(path).parent.parent.name.isdigit() else 0
        ),
    )
    for candidate in reversed(candidates):
        bindir = Path(candidate).parent
        if (bindir / "pg_ctl").exists() and (bindir / "postgres").exists():
            return bindir
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    base: Path
    port: int
    run_as: list[str] = field(default_factory=list)
    dbname: str = DATABASE

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def _run(self, *args: str, timeout: float = 60) -> None:
        if self.run_as[-1:] == ["-c"]:  # su takes the command as one shell string
            command = [*self.run_as, shlex.join(args)]
        else:
            command = [*self.run_as, *args]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            log = self.base / "postgres.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise PostgresUnavailable(
                f"{' '.join(args[:2])} failed ({result.returncode}): "
                f"{result.stderr.strip() or result.stdout.strip()}\n{tail}"
            )

    def pause(self) -> None:
        """Fast shutdown, keeping the data: :meth:`resume` starts it again on the same port."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def resume(self) -> None:
        """Start the paused server again, with its data, on the same port."""
        self._run(*self._start_command())

    def _start_command(self) -> list[str]:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=50 "
            "-c TimeZone=UTC"
        )
        log = str(self.base / "postgres.log")
        pg_ctl = str(self.bindir / "pg_ctl")
        return [
            pg_ctl,
            "-D",
            str(self.datadir),
            "-l",
            log,
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        ]

    def stop(self) -> None:
        """Fast shutdown, then remove every file; safe to call twice."""
        if (self.datadir / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable, subprocess.TimeoutExpired):
                self._run(
                    str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w", "stop"
                )
        shutil.rmtree(self.base, ignore_errors=True)


def _run_as_for(base: Path) -> list[str]:
    """PostgreSQL refuses root: hand the directory to ``postgres`` and run through runuser."""
    if os.geteuid() != 0:
        return []
    try:
        entry = pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            f"running as root but there is no 'postgres' system user; {INSTALL_HINT}"
        ) from None
    os.chown(base, entry.pw_uid, entry.pw_gid)
    runuser = shutil.which("runuser")
    if runuser:
        return [runuser, "-u", "postgres", "--"]
    su = shutil.which("su")
    if su:
        return [su, "postgres", "-s", "/bin/sh", "-c"]
    raise PostgresUnavailable("running as root and neither runuser nor su is available")


def start_postgres(dbname: str = DATABASE, migrate: bool = True) -> PostgresServer:
    """initdb + start + create the database (+ apply the shipped migration); caller stops it."""
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            f"PostgreSQL (initdb/pg_ctl/postgres) not found on PATH or in "
            f"/usr/lib/postgresql/*/bin; {INSTALL_HINT}"
        )
    base = Path(tempfile.mkdtemp(prefix="chatwoot-health-pg-"))
    server = PostgresServer(bindir=bindir, base=base, port=free_port(), dbname=dbname)
    try:
        server.run_as = _run_as_for(base)
        initdb = [
            str(bindir / "initdb"), "-D", str(server.datadir), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-locale", "--no-sync",
        ]  # fmt: skip
        steps = [initdb, server._start_command()]
        for step in steps:
            server._run(*step)
        admin = f"postgresql://postgres@127.0.0.1:{server.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
        if migrate:
            apply_migration(server.dsn)
    except BaseException:
        server.stop()
        raise
    atexit.register(server.stop)  # also on Ctrl-C or a failing session: no stray server
    return server


def apply_migration(dsn: str) -> None:
    """Apply the shipped migration exactly as a user would (a file of plain SQL)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(MIGRATION.read_text())
