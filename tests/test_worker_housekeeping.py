"""Housekeeping: stale consumers removed only when they have no pending entry, and expired jobs
pruned from the job listing indexes."""

import asyncio
import time

import asyncpg
import pytest
from redis.asyncio import Redis

from shared import keys
from shared.job_store import JobStore
from shared.settings import Settings
from tests.worker_processes import isolated, private_redis_server, private_redis_url  # noqa: F401 - fixtures
from worker_service.consumer import StreamConsumer
from worker_service.housekeeping import Housekeeper
from worker_service.job_summary import SummaryWriter


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, stale_consumer_idle_ms=1000)


def housekeeper(redis: Redis, db: asyncpg.Pool, settings: Settings) -> Housekeeper:
    store = JobStore(redis, settings.stream_key, settings.consumer_group)
    return Housekeeper(redis, settings, "keeper", SummaryWriter(db, store))


async def consumer_names(redis: Redis, settings: Settings) -> list[str]:
    consumers = await redis.xinfo_consumers(settings.stream_key, settings.consumer_group)
    return sorted(consumer["name"].decode() for consumer in consumers)


async def test_stale_consumers(redis: Redis, db: asyncpg.Pool, settings: Settings) -> None:
    holder = StreamConsumer(redis, settings.stream_key, settings.consumer_group, "holder")
    await holder.ensure_group()
    entry_id = (await redis.xadd(settings.stream_key, {"job": "x"})).decode()
    await redis.xreadgroup(settings.consumer_group, "holder", {settings.stream_key: ">"})
    for name in ("idle", "beating"):
        await redis.xgroup_createconsumer(settings.stream_key, settings.consumer_group, name)
    await redis.hset(keys.worker("beating"), "consumer", "beating")
    await asyncio.sleep(1.2)

    removed = await housekeeper(redis, db, settings).remove_stale_consumers()
    after_first = await consumer_names(redis, settings)
    await redis.xack(settings.stream_key, settings.consumer_group, entry_id)
    await housekeeper(redis, db, settings).remove_stale_consumers()

    assert removed == 1
    assert after_first == ["beating", "holder"]
    assert await consumer_names(redis, settings) == ["beating"]


async def test_expired_jobs_pruned(redis: Redis, db: asyncpg.Pool, settings: Settings) -> None:
    past = time.time() - 10
    for job_id in ("bulk_gone_1", "bulk_kept_1"):
        await redis.zadd(keys.ALL_JOBS, {job_id: 1})
        await redis.zadd(keys.user_jobs(7), {job_id: 1})
        await redis.zadd(keys.EXPIRING_JOBS, {f"7:{job_id}": past})
    await redis.hset(keys.job("bulk_kept_1"), "status", "completed")
    await redis.expire(keys.job("bulk_kept_1"), 300)

    pruned = await housekeeper(redis, db, settings).prune_expired_jobs()
    rescheduled = await redis.zscore(keys.EXPIRING_JOBS, "7:bulk_kept_1")

    assert pruned == 1
    assert await redis.zrange(keys.ALL_JOBS, 0, -1) == [b"bulk_kept_1"]
    assert await redis.zrange(keys.user_jobs(7), 0, -1) == [b"bulk_kept_1"]
    assert rescheduled > time.time()
