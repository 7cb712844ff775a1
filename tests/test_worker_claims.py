"""Claiming the pending entries of dead consumers, on Redis 6.2 and 7, and never those of a live
one."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.settings import Settings
from tests.job_checks import history_rows, submit_job
from tests.private_servers import REDIS_6, REDIS_7, PrivateRedis
from tests.worker_processes import (
    WorkerPool,
    isolated,
    job_fields,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    wait_for_jobs,
    worker_pool,  # noqa: F401 - fixture
)
from worker_service.consumer import StreamConsumer

STREAM = "crm:test:claims"
GROUP = "claims"


@pytest.fixture(params=[REDIS_6, REDIS_7], ids=["redis6.2", "redis7"])
async def versioned_redis(request: pytest.FixtureRequest) -> AsyncIterator[Redis]:
    server = PrivateRedis(request.param)
    await server.start()
    client = Redis.from_url(server.url())
    yield client
    await client.aclose()
    await server.close()


def chunk_fields(chunk: int) -> dict[str, str]:
    return {
        "job": "bulk_00_1",
        "chunk": str(chunk),
        "seq": "1",
        "user": "1",
        "admin": "1",
        "estado": "APROBADO",
        "obs": "Actualización masiva de estado",
        "ids": f"{chunk * 10 + 1},{chunk * 10 + 2}",
    }


async def consumers(redis: Redis, entries: int) -> tuple[StreamConsumer, StreamConsumer, list[str]]:
    """Return a consumer that read `entries` new entries and died, a live one, and the ids."""
    dead = StreamConsumer(redis, STREAM, GROUP, "dead")
    live = StreamConsumer(redis, STREAM, GROUP, "live")
    await dead.ensure_group()
    ids = [(await redis.xadd(STREAM, chunk_fields(chunk))).decode() for chunk in range(entries)]
    assert len(await dead.read_new(entries, block_ms=10)) == entries
    return dead, live, ids


async def test_claim_live_entries(versioned_redis: Redis) -> None:
    _, live, ids = await consumers(versioned_redis, 3)

    claimed = await live.claim_idle(0, 10, held=[])

    assert [task.entry_id for task in claimed] == ids
    assert [task.deliveries for task in claimed] == [2, 2, 2]


async def test_claim_deleted_entry(versioned_redis: Redis) -> None:
    _, live, ids = await consumers(versioned_redis, 3)
    await versioned_redis.xdel(STREAM, ids[1])

    claimed = await live.claim_idle(0, 10, held=[])
    pending = await versioned_redis.xpending_range(STREAM, GROUP, min="-", max="+", count=10)

    assert [task.entry_id for task in claimed] == [ids[0], ids[2]]
    assert [row["message_id"].decode() for row in pending] == [ids[0], ids[2]]
    assert {row["consumer"].decode() for row in pending} == {"live"}


async def test_touch_keeps_entry(versioned_redis: Redis) -> None:
    dead, live, ids = await consumers(versioned_redis, 1)
    await asyncio.sleep(1.0)

    taken = await dead.touch(ids, 0)
    claimed = await live.claim_idle(800, 10, held=[])
    pending = await versioned_redis.xpending_range(STREAM, GROUP, min="-", max="+", count=10)

    assert taken == []
    assert claimed == []
    assert pending[0]["times_delivered"] == 1


async def test_untouched_entry_claimed(versioned_redis: Redis) -> None:
    _, live, ids = await consumers(versioned_redis, 1)
    await asyncio.sleep(1.0)

    claimed = await live.claim_idle(800, 10, held=[])

    assert [task.entry_id for task in claimed] == ids


async def test_release_hands_over(versioned_redis: Redis) -> None:
    dead, live, ids = await consumers(versioned_redis, 1)

    await dead.touch(ids, 120_000)
    claimed = await live.claim_idle(60_000, 10, held=[])

    assert [task.entry_id for task in claimed] == ids


async def test_touch_reports_claimed(versioned_redis: Redis) -> None:
    dead, live, ids = await consumers(versioned_redis, 1)
    await live.claim_idle(0, 10, held=[])

    assert await dead.touch(ids, 0) == ids


async def test_group_recreated_from_start(versioned_redis: Redis) -> None:
    """A lost group comes back from id 0: entries added before the loss are still read."""
    consumer = StreamConsumer(versioned_redis, STREAM, GROUP, "live")
    await consumer.ensure_group()
    ids = [(await versioned_redis.xadd(STREAM, chunk_fields(chunk))).decode() for chunk in range(2)]
    await versioned_redis.xgroup_destroy(STREAM, GROUP)

    first_read = await consumer.read_new(10, block_ms=10)
    second_read = await consumer.read_new(10, block_ms=10)

    assert first_read == []
    assert [task.entry_id for task in second_read] == ids


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=100)


async def test_slow_chunk_kept(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    """A chunk blocked on a row lock for several CLAIM_IDLE_MS stays with its live worker."""
    lead_ids = list(range(1, 501))
    async with db.acquire() as blocker:
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("SELECT id FROM crm_leads WHERE id = 150 FOR UPDATE")
        job_id = await submit_job(client, lead_ids)
        started = [workers.start(settings, "slow"), workers.start(settings, "other")]
        await asyncio.sleep(settings.claim_idle_ms * 4 / 1000)
        await transaction.rollback()

    assert await wait_for_jobs(redis, [job_id])
    assert (await job_fields(redis, job_id))["successful_leads"] == str(len(lead_ids))
    assert await history_rows(db, job_id) == len(lead_ids)
    assert [worker.events("entries_claimed") for worker in started] == [[], []]
    assert {
        event["deliveries"] for worker in started for event in worker.events("chunk_applied")
    } == {1}
