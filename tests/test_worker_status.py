"""Worker liveness: the heartbeat hash and file, and `python -m tools.ops status`."""

import signal
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared import keys
from shared.settings import Settings
from tests.job_checks import submit_job
from tests.worker_processes import (
    WorkerPool,
    isolated,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    run_ops,
    wait_for_jobs,
    wait_until,
    worker_counter,
    worker_pool,  # noqa: F401 - fixture
)
from tools.ops import consumer_lag
from worker_service.consumer import StreamConsumer


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=100)


async def test_status_lists_worker(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    worker = workers.start(settings)
    job_id = await submit_job(client, list(range(1, 301)))
    assert await wait_for_jobs(redis, [job_id])

    async def counted() -> bool:
        return await worker_counter(redis, worker.name, "chunks_done") == 3

    assert await wait_until(counted)
    exit_code, status = await run_ops(settings, "status")
    ttl = await redis.ttl(keys.worker(worker.name))

    assert exit_code == 0
    assert [
        (entry["consumer"], entry["chunks_done"], entry["leads_done"])
        for entry in status["workers"]
    ] == [(worker.name, "3", "300")]
    assert status["stream_length"] == 0
    assert status["pending"] == 0
    assert status["lag"] == 0
    assert status["lag_source"] == "xinfo"
    assert 0 < ttl <= settings.worker_heartbeat_ttl_s
    assert Path(settings.worker_heartbeat_file).exists()


async def test_stopped_worker_leaves(
    client: TestClient, redis: Redis, db: asyncpg.Pool, settings: Settings, workers: WorkerPool
) -> None:
    worker = workers.start(settings)

    async def beating() -> bool:
        return await redis.exists(keys.worker(worker.name)) == 1

    assert await wait_until(beating)
    worker.signal(signal.SIGTERM)
    assert await worker.wait_exit() == 0
    _, status = await run_ops(settings, "status")

    assert status["workers"] == []
    assert status["consumers"] == []


async def test_status_backlog(
    client: TestClient, redis: Redis, db: asyncpg.Pool, leads: int, settings: Settings
) -> None:
    await submit_job(client, list(range(1, 501)))
    consumer = StreamConsumer(redis, settings.stream_key, settings.consumer_group, "reader")
    await consumer.ensure_group()
    await consumer.read_new(2, block_ms=10)

    _, status = await run_ops(settings, "status")

    assert status["stream_length"] == 5
    assert status["pending"] == 2
    assert status["lag"] == 3
    assert status["consumers"][0]["name"] == "reader"


def test_lag_estimated() -> None:
    """Without XINFO's lag (Redis 6.2), the entries neither delivered nor pending are counted."""
    assert consumer_lag({"pending": 2}, 5) == (3, "estimated")
    assert consumer_lag({"pending": 2, "lag": None}, 5) == (3, "estimated")
    assert consumer_lag({"pending": 2, "lag": 7}, 9) == (7, "xinfo")
