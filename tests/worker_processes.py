"""Workers run as real processes for the crash tests, with settings passed as environment variables.

Each test gets its own stream and consumer group. The tests also run against a Redis server of
their own, because other test runs on the machine flush the shared database 9 at the start of
each of their tests, which would delete a running job. The `redis_url` fixture below does this.
"""

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from shared import keys
from shared.settings import Settings
from tests.private_servers import PrivateRedis

ROOT = Path(__file__).resolve().parent.parent
FAULT_VARIABLES = ("WORKER_FAULT_POINT", "WORKER_FAULT_JOB")
WAIT_TIMEOUT_S = 60.0
POLL_INTERVAL_S = 0.1
FINAL_STATUSES = {"completed", "cancelled", "failed"}


def isolated(settings: Settings, **changes: Any) -> Settings:
    """Return `settings` with a stream and group of their own, fast claims and housekeeping."""
    suffix = secrets.token_hex(4)
    values = {
        **settings.model_dump(),
        "stream_key": f"crm:test:{suffix}:stream",
        "consumer_group": f"crm-test-{suffix}",
        "claim_idle_ms": 1000,
        "housekeeping_interval_s": 1.0,
        "worker_heartbeat_ttl_s": 3,
        "rate_limit_pending_jobs": 0,
        "log_format": "json",
        **changes,
    }
    return Settings(**values)


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """Return the environment that gives a process `settings`, plus `extra` variables."""
    env = {name: value for name, value in os.environ.items() if name not in FAULT_VARIABLES}
    for name, value in settings.model_dump().items():
        if value is None:
            env.pop(name.upper(), None)
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, list):
            value = json.dumps(value)
        env[name.upper()] = str(value)
    env.update(extra)
    return env


class WorkerProcess:
    """A `python -m worker_service` child process, writing its JSON log lines to a file."""

    def __init__(self, settings: Settings, log_path: Path, name: str, **extra_env: str) -> None:
        self.name = name
        self.log_path = log_path
        env = settings_env(settings.model_copy(update={"consumer_name": name}), **extra_env)
        self.log_file = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "worker_service"],
            cwd=ROOT,
            env=env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def signal(self, signum: int) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signum)

    async def wait_exit(self, timeout_s: float = WAIT_TIMEOUT_S) -> int | None:
        """Wait for the process to end and return its exit code (negative for a signal) or None."""
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL_S)
        return self.process.poll()

    def stop_now(self) -> None:
        """Kill the process if it still runs, and close its log."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.log_file.close()

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Return the process's structured log events, or only those called `name`."""
        found = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            event = json.loads(line)
            if name is None or event.get("event") == name:
                found.append(event)
        return found


class WorkerPool:
    """Worker processes of one test, killed at its end if still running."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[WorkerProcess] = []

    def start(self, settings: Settings, label: str = "worker", **extra_env: str) -> WorkerProcess:
        name = f"{label}-{len(self.started)}-{secrets.token_hex(3)}"
        worker = WorkerProcess(settings, self.folder / f"{name}.log", name, **extra_env)
        self.started.append(worker)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            worker.stop_now()


# The fixtures below are imported by the test modules that use them, under their own names, so
# that a test's `redis_url` and `own_redis` arguments resolve to them and not to conftest's.


@pytest.fixture(name="own_redis", scope="module")
async def private_redis_server() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis()
    await server.start()
    yield server
    await server.close()


@pytest.fixture(name="redis_url", scope="module")
def private_redis_url(own_redis: PrivateRedis) -> str:
    return own_redis.url(9)


@pytest.fixture(name="workers")
def worker_pool(tmp_path: Path) -> Iterator[WorkerPool]:
    pool = WorkerPool(tmp_path)
    yield pool
    pool.stop_all()


async def wait_until(
    check: Callable[[], Awaitable[bool]], timeout_s: float = WAIT_TIMEOUT_S
) -> bool:
    """Poll `check` until it is true or `timeout_s` passes, and return its last result."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(POLL_INTERVAL_S)
    return await check()


async def job_fields(redis: Redis, job_id: str) -> dict[str, str]:
    raw = await redis.hgetall(keys.job(job_id))
    return {key.decode(): value.decode() for key, value in raw.items()}


async def wait_for_jobs(
    redis: Redis, job_ids: list[str], timeout_s: float = WAIT_TIMEOUT_S
) -> bool:
    """Wait until every job has a final status."""

    async def all_final() -> bool:
        async with redis.pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(keys.job(job_id), "status")
            statuses = await pipe.execute()
        return all(status is not None and status.decode() in FINAL_STATUSES for status in statuses)

    return await wait_until(all_final, timeout_s)


async def stream_length(redis: Redis, settings: Settings) -> int:
    return await redis.xlen(settings.stream_key)


async def pending_entries(redis: Redis, settings: Settings) -> int:
    summary = await redis.xpending(settings.stream_key, settings.consumer_group)
    return summary["pending"]


async def worker_counter(redis: Redis, name: str, counter: str) -> int:
    value = await redis.hget(keys.worker(name), counter)
    return int(value) if value is not None else 0


async def run_ops(settings: Settings, *args: str) -> tuple[int, Any]:
    """Run `python -m tools.ops` with `settings` and return its exit code and JSON output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.ops",
        *args,
        cwd=ROOT,
        env=settings_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=WAIT_TIMEOUT_S)
    answer = json.loads(stdout) if stdout.strip() else None
    return process.returncode or 0, answer
