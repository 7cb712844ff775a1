"""A Redis without persistence restarted: the stream and its group are gone. The worker gets
NOGROUP, logs an error and recreates the group from id 0, so entries added before it noticed
are processed too."""

import signal

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.settings import Settings
from tests.job_checks import history_rows, submit_job
from tests.private_servers import PrivateRedis
from tests.worker_processes import (
    WorkerPool,
    isolated,
    job_fields,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    wait_for_jobs,
    worker_pool,  # noqa: F401 - fixture
)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=100)


async def test_group_lost(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
    own_redis: PrivateRedis,
) -> None:
    worker = workers.start(settings)
    before = await submit_job(client, list(range(1, 201)))
    assert await wait_for_jobs(redis, [before])

    # Paused, the worker cannot recreate the group before the next job's entries arrive.
    worker.signal(signal.SIGSTOP)
    await own_redis.restart()
    after = await submit_job(client, list(range(201, 501)))
    worker.signal(signal.SIGCONT)

    assert await wait_for_jobs(redis, [after])
    missing = worker.events("consumer_group_missing")
    created = worker.events("consumer_group_created")
    assert (await job_fields(redis, after))["successful_leads"] == "300"
    assert await history_rows(db, after) == 300
    assert {event["level"] for event in missing} == {"error"}
    assert {event["from_id"] for event in created} == {"0"}
    assert len(created) >= 2
