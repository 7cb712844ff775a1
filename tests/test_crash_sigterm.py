"""SIGTERM: the worker stops reading, finishes or hands over its chunks within SHUTDOWN_GRACE_S,
exits 0, and another worker finishes the job with nothing lost or applied twice."""

import signal

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.settings import Settings
from tests.job_checks import history_rows, submit_job
from tests.worker_processes import (
    WorkerPool,
    isolated,
    job_fields,
    pending_entries,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    stream_length,
    wait_for_jobs,
    wait_until,
    worker_pool,  # noqa: F401 - fixture
)

WAITING_ON_LOCK_SQL = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=50, shutdown_grace_s=5)


async def test_sigterm_mid_job(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    stopped, survivor = workers.start(settings, "stopped"), workers.start(settings, "survivor")

    async def both_started() -> bool:
        """Each worker has its signal handlers, so SIGTERM is a graceful stop, not a kill."""
        return all(worker.events("worker_started") for worker in (stopped, survivor))

    assert await wait_until(both_started)
    job_id = await submit_job(client, list(range(1, 20001)))

    async def under_way() -> bool:
        if not stopped.events("chunk_applied"):
            return False
        return int((await job_fields(redis, job_id)).get("chunks_done", 0)) >= 10

    assert await wait_until(under_way)
    stopped.signal(signal.SIGTERM)
    status_at_stop = (await job_fields(redis, job_id))["status"]
    assert await stopped.wait_exit() == 0
    assert await wait_for_jobs(redis, [job_id])

    applied = [
        event["chunk"] for worker in (stopped, survivor) for event in worker.events("chunk_applied")
    ]
    consumers = await redis.xinfo_consumers(settings.stream_key, settings.consumer_group)
    assert status_at_stop == "processing"
    assert sorted(applied) == list(range(400))
    assert len(survivor.events("chunk_applied")) > 0
    assert stopped.events("chunks_abandoned") == []
    assert len(stopped.events("worker_stopped")) == 1
    assert (await job_fields(redis, job_id))["successful_leads"] == str(20000 - 20)
    assert await history_rows(db, job_id) == 20000 - 20
    assert await stream_length(redis, settings) == 0
    assert await pending_entries(redis, settings) == 0
    assert [consumer["name"].decode() for consumer in consumers] == [survivor.name]


async def test_sigterm_hands_over(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    """A chunk still blocked when the grace period ends is cancelled and handed over at once."""
    quick = settings.model_copy(update={"shutdown_grace_s": 1.0})
    patient = settings.model_copy(update={"claim_idle_ms": 120_000})
    async with db.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT id FROM crm_leads WHERE id = 75 FOR UPDATE")
        job_id = await submit_job(client, list(range(1, 501)))
        stopped = workers.start(quick, "stopped")

        async def chunk_waits() -> bool:
            return await db.fetchval(WAITING_ON_LOCK_SQL) > 0

        assert await wait_until(chunk_waits)
        stopped.signal(signal.SIGTERM)
        assert await stopped.wait_exit() == 0
        await transaction.rollback()

    workers.start(patient, "patient")
    assert await wait_for_jobs(redis, [job_id])
    assert [event["chunks"] for event in stopped.events("chunks_abandoned")] == [1]
    assert [event["entries"] for event in stopped.events("entries_released")] == [1]
    assert (await job_fields(redis, job_id))["successful_leads"] == "500"
    assert await history_rows(db, job_id) == 500
    assert await stream_length(redis, settings) == 0
    assert await pending_entries(redis, settings) == 0
