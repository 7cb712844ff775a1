"""Bounded Redis after 1,000 jobs of 1,000 leads: the stream has no processed entry left, every
job key has a TTL, and Redis memory is its baseline plus the kept jobs, then back at the baseline
once their retention ends."""

import asyncio
import time

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared import keys
from shared.job_store import JobStore
from shared.settings import Settings
from tests.conftest import SEED_LEADS_SQL
from tests.job_checks import submit_job
from tests.worker_processes import (
    WorkerPool,
    isolated,
    pending_entries,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    stream_length,
    wait_until,
    worker_pool,  # noqa: F401 - fixture
)
from worker_service.housekeeping import Housekeeper
from worker_service.job_summary import SummaryWriter

JOBS = 1000
LEADS_PER_JOB = 1000
SUBMITTERS = 8
INDEXES = (keys.ALL_JOBS, keys.user_jobs(9000), keys.EXPIRING_JOBS)
# Allocator and client-buffer noise between two used_memory readings.
MEMORY_SLACK_BYTES = 256 * 1024
# Per key, the keyspace's dict entry, expiry entry and bucket share, which MEMORY USAGE leaves out.
KEY_OVERHEAD_BYTES = 128


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=250)


async def used_memory(redis: Redis) -> int:
    return int((await redis.info("memory"))["used_memory"])


async def job_keys(redis: Redis) -> list[bytes]:
    return [key async for key in redis.scan_iter(match=f"{keys.JOB_PREFIX}*", count=1000)]


async def key_bytes(redis: Redis, names: list[bytes] | tuple[str, ...]) -> int:
    sizes = [await redis.execute_command("MEMORY", "USAGE", name, "SAMPLES", "0") for name in names]
    return sum(size or 0 for size in sizes)


async def submit_jobs(client: TestClient, count: int) -> list[str]:
    lead_ids = list(range(1, LEADS_PER_JOB + 1))
    numbers = list(range(count))
    job_ids: list[str] = []

    async def submitter() -> None:
        while numbers:
            number = numbers.pop()
            job_ids.append(
                await submit_job(client, lead_ids, estado=["APROBADO", "CONFIRMADO"][number % 2])
            )

    await asyncio.gather(*(submitter() for _ in range(SUBMITTERS)))
    return job_ids


async def wait_summarised(db: asyncpg.Pool, count: int) -> bool:
    async def summarised() -> bool:
        return (
            await db.fetchval("SELECT count(*) FROM crm_bulk_jobs WHERE status = 'completed'")
            == count
        )

    return await wait_until(summarised, timeout_s=240)


async def end_retention(redis: Redis, db: asyncpg.Pool, settings: Settings) -> None:
    """Make every kept job expire now, and prune the listing indexes as workers do."""
    for key in await job_keys(redis):
        await redis.pexpire(key, 1)
    members = await redis.zrange(keys.EXPIRING_JOBS, 0, -1)
    if members:
        await redis.zadd(keys.EXPIRING_JOBS, {member: time.time() - 1 for member in members})
    await asyncio.sleep(0.1)

    store = JobStore(redis, settings.stream_key, settings.consumer_group)
    keeper = Housekeeper(redis, settings, "memory-test", SummaryWriter(db, store))
    while await keeper.prune_expired_jobs():
        pass


async def test_memory_bounded(
    client: TestClient, redis: Redis, db: asyncpg.Pool, settings: Settings, workers: WorkerPool
) -> None:
    await db.execute(SEED_LEADS_SQL, LEADS_PER_JOB)
    workers.start(settings, "first")
    workers.start(settings, "second")

    # A first job loads the scripts and opens the connections, which stay for the process's life.
    await submit_jobs(client, 1)
    assert await wait_summarised(db, 1)
    await end_retention(redis, db, settings)
    baseline = await used_memory(redis)

    job_ids = await submit_jobs(client, JOBS)
    assert await wait_summarised(db, JOBS + 1)
    kept_keys = await job_keys(redis)
    ttls = [await redis.ttl(key) for key in kept_keys]
    kept_bytes = (
        await key_bytes(redis, kept_keys)
        + await key_bytes(redis, INDEXES)
        + len(kept_keys) * KEY_OVERHEAD_BYTES
    )
    with_jobs = await used_memory(redis)

    assert len(job_ids) == JOBS
    assert await stream_length(redis, settings) == 0
    assert await pending_entries(redis, settings) == 0
    assert await redis.zcard(keys.unsummarised_jobs(settings.stream_key)) == 0
    assert len(kept_keys) >= 2 * JOBS
    assert min(ttls) > 0
    assert with_jobs - baseline <= kept_bytes + MEMORY_SLACK_BYTES

    await end_retention(redis, db, settings)

    assert await job_keys(redis) == []
    assert [await redis.zcard(index) for index in INDEXES] == [0, 0, 0]
    assert await used_memory(redis) - baseline <= MEMORY_SLACK_BYTES
