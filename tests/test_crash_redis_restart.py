"""Redis (with its append-only file) restarted in the middle of a job: the worker reconnects and
the job completes with exact counts."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.settings import Settings
from tests.job_checks import history_rows, outbox_rows, submit_job
from tests.private_servers import PrivateRedis
from tests.worker_processes import (
    WorkerPool,
    isolated,
    job_fields,
    pending_entries,
    private_redis_url,  # noqa: F401 - fixture
    stream_length,
    wait_for_jobs,
    wait_until,
    worker_pool,  # noqa: F401 - fixture
)

LEAD_IDS = list(range(1, 1001))
WAITING_ON_LOCK_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


@pytest.fixture(scope="module")
async def own_redis() -> AsyncIterator[PrivateRedis]:
    server = PrivateRedis(appendonly=True)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=100)


async def test_redis_restart(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
    own_redis: PrivateRedis,
) -> None:
    async with db.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT id FROM crm_leads WHERE id = 150 FOR UPDATE")
        job_id = await submit_job(client, LEAD_IDS)
        worker = workers.start(settings)

        async def chunk_waits() -> bool:
            return await db.fetchval(WAITING_ON_LOCK_SQL) > 0

        assert await wait_until(chunk_waits)
        await own_redis.restart()
        await transaction.rollback()

    assert await wait_for_jobs(redis, [job_id])
    fields = await job_fields(redis, job_id)
    assert fields["status"] == "completed"
    assert fields["successful_leads"] == "999"
    assert fields["failed_leads"] == "1"
    assert await history_rows(db, job_id) == 999
    assert await outbox_rows(db, job_id) == 999
    assert await stream_length(redis, settings) == 0
    assert await pending_entries(redis, settings) == 0
    assert len(worker.events("redis_retry")) + len(worker.events("stream_read_failed")) > 0
