"""A deadlock between a chunk and another transaction: the chunk is retried and commits once."""

import asyncio

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.db import create_pool
from shared.job_store import JobStore
from shared.settings import Settings
from tests.job_checks import history_rows, submit_job
from tests.worker_processes import (
    isolated,
    job_fields,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    wait_until,
)
from worker_service.consumer import StreamConsumer
from worker_service.processor import ChunkProcessor

WAITING_ON_LOCK_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=100)


async def test_deadlock_retried(
    client: TestClient, redis: Redis, db: asyncpg.Pool, leads: int, settings: Settings
) -> None:
    job_id = await submit_job(client, list(range(1, 101)))
    consumer = StreamConsumer(redis, settings.stream_key, settings.consumer_group, "deadlock-test")
    await consumer.ensure_group()
    [task] = await consumer.read_new(1, block_ms=100)

    # The chunk's session detects the deadlock after 2 s, before the blocking one would (60 s).
    pool = await create_pool(
        settings, min_size=1, max_size=2, server_settings={"deadlock_timeout": "2s"}
    )
    processor = ChunkProcessor(
        pool,
        JobStore(redis, settings.stream_key, settings.consumer_group),
        settings,
        "deadlock-test",
    )
    try:
        async with db.acquire() as blocker:
            transaction = blocker.transaction()
            await transaction.start()
            await blocker.execute("SET LOCAL deadlock_timeout = '60s'")
            await blocker.execute("SELECT id FROM crm_leads WHERE id = 50 FOR UPDATE")
            chunk = asyncio.create_task(processor.process(task))

            async def chunk_waits() -> bool:
                return await db.fetchval(WAITING_ON_LOCK_SQL) > 0

            assert await wait_until(chunk_waits, timeout_s=30)
            await blocker.execute("SELECT id FROM crm_leads WHERE id = 10 FOR UPDATE")
            await transaction.rollback()
        await asyncio.wait_for(chunk, timeout=60)
    finally:
        await pool.close()

    assert processor.stats.retries == 1
    assert (await job_fields(redis, job_id))["status"] == "completed"
    assert await history_rows(db, job_id) == 100
