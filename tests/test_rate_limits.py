"""Per-user rate limits on job submission, enforced in Redis whatever the number of API processes."""

import asyncio
import time

import asyncpg
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from api_service.rate_limits import PENDING_RETRY_S, limits_now
from shared import keys
from shared.settings import Settings
from tests.api_helpers import SUBMIT_URL, api_client, run_worker_until_idle, with_settings
from tests.conftest import auth

NO_LIMITS = {
    "rate_limit_pending_jobs": 0,
    "rate_limit_jobs_per_day": 0,
    "rate_limit_leads_per_day": 0,
    "rate_limit_cooldown_s": 0,
}


async def post(client: TestClient, lead_ids: list[int], user_id: int = 1, **headers: str):
    response = await client.post(
        SUBMIT_URL,
        json={"lead_ids": lead_ids, "estado": "aprobado"},
        headers=auth(user_id, **headers),
    )
    return response, await response.json()


def limited(settings: Settings, **limits: int) -> Settings:
    return with_settings(settings, **{**NO_LIMITS, **limits})


async def test_pending_jobs(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    async with api_client(limited(settings, rate_limit_pending_jobs=2)) as client:
        statuses = [(await post(client, [1]))[0].status for _ in range(2)]
        response, data = await post(client, [1])

    assert statuses == [202, 202]
    assert response.status == 429
    assert data["error"] == "rate_limit_exceeded"
    assert (
        data["message"]
        == f"Límite de 2 jobs pendientes superado; reintenta en {PENDING_RETRY_S} segundos"
    )
    assert data["retry_after"] == PENDING_RETRY_S
    assert data["limit"] == "pending_jobs"
    assert response.headers["Retry-After"] == str(PENDING_RETRY_S)
    assert await redis.scard(keys.user_pending_jobs(1)) == 2


async def test_pending_released_finished(
    settings: Settings, redis: Redis, db: asyncpg.Pool, leads: int
) -> None:
    async with api_client(limited(settings, rate_limit_pending_jobs=1)) as client:
        first, _ = await post(client, [1])
        rejected, _ = await post(client, [2])
        await run_worker_until_idle(settings)
        after, _ = await post(client, [3])

    assert first.status == 202
    assert rejected.status == 429
    assert after.status == 202


async def test_pending_released_cancelled(
    settings: Settings, redis: Redis, db: asyncpg.Pool
) -> None:
    async with api_client(limited(settings, rate_limit_pending_jobs=1)) as client:
        _, first = await post(client, [1])
        rejected, _ = await post(client, [2])
        cancelled = await client.delete(first["check_status_url"], headers=auth(1))
        after, _ = await post(client, [3])

    assert rejected.status == 429
    assert cancelled.status == 200
    assert after.status == 202
    assert await redis.sismember(keys.user_pending_jobs(1), first["job_id"]) == 0


async def test_pending_stale_member(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    await redis.sadd(keys.user_pending_jobs(1), "bulk_0000000000000000_1")
    async with api_client(limited(settings, rate_limit_pending_jobs=1)) as client:
        response, _ = await post(client, [1])

    assert response.status == 202
    assert await redis.scard(keys.user_pending_jobs(1)) == 1


async def test_jobs_per_day(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    custom = limited(settings, rate_limit_jobs_per_day=2)
    async with api_client(custom) as client:
        statuses = [(await post(client, [1]))[0].status for _ in range(2)]
        before = limits_now(custom, time.time()).day_left_s
        response, data = await post(client, [1], **{"Accept-Language": "en"})
        after = limits_now(custom, time.time()).day_left_s

    assert statuses == [202, 202]
    assert response.status == 429
    assert data["limit"] == "jobs_per_day"
    assert after <= data["retry_after"] <= before
    assert (
        data["message"]
        == f"Limit of 2 jobs per day exceeded; retry in {data['retry_after']} seconds"
    )
    assert response.headers["Retry-After"] == str(data["retry_after"])


async def test_leads_per_day(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    async with api_client(limited(settings, rate_limit_leads_per_day=25)) as client:
        first, _ = await post(client, list(range(1, 21)))
        rejected, data = await post(client, list(range(1, 11)))
        fits, _ = await post(client, list(range(1, 6)))
        full, _ = await post(client, [1])

    assert first.status == 202
    assert rejected.status == 429
    assert data["limit"] == "leads_per_day"
    assert data["message"].startswith("Límite de 25 leads por día superado; reintenta en ")
    assert fits.status == 202
    assert full.status == 429


async def test_cooldown(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    async with api_client(limited(settings, rate_limit_cooldown_s=600)) as client:
        first, _ = await post(client, [1])
        response, data = await post(client, [1])
        other_user, _ = await post(client, [1], user_id=2)

    assert first.status == 202
    assert response.status == 429
    assert data["limit"] == "cooldown"
    assert 1 <= data["retry_after"] <= 600
    assert (
        data["message"]
        == f"Límite de un job cada 600 segundos superado; reintenta en {data['retry_after']} segundos"
    )
    assert other_user.status == 202


async def test_limits_off(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    async with api_client(limited(settings)) as client:
        statuses = [(await post(client, [1]))[0].status for _ in range(12)]

    assert statuses == [202] * 12


async def test_default_pending_limit(client: TestClient, settings: Settings) -> None:
    statuses = [
        (await post(client, [1]))[0].status for _ in range(settings.rate_limit_pending_jobs + 1)
    ]

    assert settings.rate_limit_pending_jobs == 10
    assert statuses == [202] * 10 + [429]


async def test_limits_per_user(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    async with api_client(limited(settings, rate_limit_jobs_per_day=1)) as client:
        first, _ = await post(client, [1], user_id=1)
        second, _ = await post(client, [1], user_id=1)
        other_user, _ = await post(client, [1], user_id=2)

    assert first.status == 202
    assert second.status == 429
    assert other_user.status == 202


async def test_replay_not_limited(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    async with api_client(limited(settings, rate_limit_pending_jobs=1)) as client:
        first, first_data = await post(client, [1], **{"Idempotency-Key": "k-1"})
        replay, replay_data = await post(client, [1], **{"Idempotency-Key": "k-1"})
        other, _ = await post(client, [2], **{"Idempotency-Key": "k-2"})

    assert first.status == 202
    assert replay.status == 202
    assert replay_data["job_id"] == first_data["job_id"]
    assert other.status == 429


async def test_rejected_writes_nothing(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    async with api_client(limited(settings, rate_limit_jobs_per_day=1)) as client:
        await post(client, [1, 2])
        await post(client, [3], **{"Idempotency-Key": "k-1"})
        usage = await redis.hgetall(keys.user_daily_usage(1, limits_now(settings, time.time()).day))

    assert await redis.xlen(settings.stream_key) == 1
    assert await redis.zcard(keys.user_jobs(1)) == 1
    assert usage == {b"jobs": b"1", b"leads": b"2"}
    assert [key async for key in redis.scan_iter(match="crm:idem:*")] == []


async def test_two_instances(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    custom = limited(settings, rate_limit_pending_jobs=3)
    async with api_client(custom) as first, api_client(custom) as second:
        clients = [first, second] * 10
        replies = await asyncio.gather(*(post(client, [1]) for client in clients))
    statuses = sorted(response.status for response, _ in replies)

    assert statuses == [202] * 3 + [429] * 17
    assert await redis.scard(keys.user_pending_jobs(1)) == 3
    assert await redis.xlen(settings.stream_key) == 3


async def test_two_instances_daily(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    custom = limited(settings, rate_limit_leads_per_day=100)
    async with api_client(custom) as first, api_client(custom) as second:
        clients = [first, second] * 10
        replies = await asyncio.gather(*(post(client, list(range(1, 31))) for client in clients))
    accepted = [response.status for response, _ in replies].count(202)

    assert accepted == 3
    assert await redis.xlen(settings.stream_key) == 3
