"""Idempotency-Key: one job per user and key, and replays get the response of the first request."""

import asyncio
import hashlib

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared import keys
from shared.settings import Settings
from tests.api_helpers import SUBMIT_URL
from tests.conftest import auth

BODY = {"lead_ids": list(range(1, 251)), "estado": "aprobado", "observaciones": "Campaña"}


async def post(client: TestClient, body: object, key: str, user_id: int = 1, language: str = "es"):
    headers = auth(user_id, **{"Idempotency-Key": key, "Accept-Language": language})
    response = await client.post(SUBMIT_URL, json=body, headers=headers)
    return response, await response.json()


async def job_count(redis: Redis) -> int:
    return len(
        [
            key
            async for key in redis.scan_iter(match=f"{keys.JOB_PREFIX}*", count=1000)
            if key.count(b":") == 2
        ]
    )


async def test_replay_same_job(client: TestClient, redis: Redis, settings: Settings) -> None:
    first, first_data = await post(client, BODY, "order-7")
    again, again_data = await post(client, BODY, "order-7")

    assert first.status == 202
    assert again.status == 202
    assert again_data == first_data
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await job_count(redis) == 1
    assert await redis.xlen(settings.stream_key) == 3


async def test_replay_normalised_body(client: TestClient, redis: Redis) -> None:
    spelled = {
        "lead_ids": [str(lead_id) for lead_id in range(1, 251)] + [1, 2],
        "estado": "  Aprobado ",
        "observaciones": "Campaña",
    }
    _, first = await post(client, BODY, "order-7")
    response, again = await post(client, spelled, "order-7")

    assert response.status == 202
    assert again["job_id"] == first["job_id"]
    assert await job_count(redis) == 1


async def test_replay_first_warnings(client: TestClient, db: asyncpg.Pool, leads: int) -> None:
    body = {"lead_ids": [1, 5, 999], "estado": "aprobado"}
    _, first = await post(client, body, "order-7")
    await db.execute("UPDATE crm_leads SET cliente_id = 1 WHERE id = 5")
    _, again = await post(client, body, "order-7", language="en")

    assert again["job_id"] == first["job_id"]
    assert again["message"] == "Job queued. 2 leads may fail."
    assert again["validation_warnings"] == [
        {"lead_id": 5, "error": "No permission"},
        {"lead_id": 999, "error": "Lead not found"},
    ]


@pytest.mark.parametrize(
    "other",
    [
        {**BODY, "estado": "cancelado"},
        {**BODY, "observaciones": "Otra"},
        {**BODY, "lead_ids": list(range(1, 252))},
        {**BODY, "lead_ids": list(range(250, 0, -1))},
    ],
    ids=["estado", "observaciones", "one_more_lead", "other_order"],
)
async def test_key_reused(
    client: TestClient, redis: Redis, settings: Settings, other: dict
) -> None:
    await post(client, BODY, "order-7")
    response, data = await post(client, other, "order-7")

    assert response.status == 422
    assert data["error"] == "idempotency_key_reused"
    assert data["message"] == "La Idempotency-Key ya se usó con un cuerpo distinto"
    assert await job_count(redis) == 1
    assert await redis.xlen(settings.stream_key) == 3


async def test_key_per_user(client: TestClient, redis: Redis) -> None:
    _, first = await post(client, BODY, "order-7", user_id=1)
    _, second = await post(client, BODY, "order-7", user_id=2)

    assert second["job_id"] != first["job_id"]
    assert await job_count(redis) == 2


async def test_other_keys_new_jobs(client: TestClient, redis: Redis) -> None:
    _, first = await post(client, BODY, "order-7")
    _, second = await post(client, BODY, "order-8")
    response = await client.post(SUBMIT_URL, json=BODY, headers=auth(1))

    assert response.status == 202
    assert second["job_id"] != first["job_id"]
    assert await job_count(redis) == 3


async def test_key_stored_hashed(client: TestClient, redis: Redis, settings: Settings) -> None:
    _, data = await post(client, BODY, "order-7")
    stored = keys.idempotency(1, hashlib.sha256(b"order-7").hexdigest())
    ttl = await redis.ttl(stored)

    assert await redis.hget(stored, "job_id") == data["job_id"].encode()
    assert settings.idempotency_ttl_s - 60 < ttl <= settings.idempotency_ttl_s
    assert [key async for key in redis.scan_iter(match="*order-7*")] == []


async def test_concurrent_one_job(
    client: TestClient, redis: Redis, settings: Settings, leads: int
) -> None:
    replies = await asyncio.gather(*(post(client, BODY, "burst-1") for _ in range(20)))
    statuses = [response.status for response, _ in replies]
    job_ids = {data["job_id"] for _, data in replies}
    entries = await redis.xrange(settings.stream_key)

    assert statuses == [202] * 20
    assert len(job_ids) == 1
    assert await job_count(redis) == 1
    assert len(entries) == 3
    assert {fields[b"job"].decode() for _, fields in entries} == job_ids
    assert sum(1 for response, _ in replies if "Idempotent-Replayed" in response.headers) == 19


@pytest.mark.parametrize(
    "key",
    ["k" * 256, "clave-ñ", "tab\there", ""],
    ids=["too_long", "not_ascii", "control", "empty"],
)
async def test_key_invalid(client: TestClient, redis: Redis, settings: Settings, key: str) -> None:
    headers = auth(1, **{"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    response = await client.post(SUBMIT_URL, json=BODY, headers=headers)
    data = await response.json()

    assert response.status == 400
    assert data["error"] == "invalid_idempotency_key"
    assert data["message"] == (
        "Idempotency-Key inválida: debe ser un solo valor de 1 a 255 caracteres ASCII imprimibles"
    )
    assert await redis.xlen(settings.stream_key) == 0


async def test_key_repeated_header(client: TestClient) -> None:
    headers = [
        ("Authorization", auth(1)["Authorization"]),
        ("Idempotency-Key", "a"),
        ("Idempotency-Key", "b"),
    ]
    response = await client.post(SUBMIT_URL, json=BODY, headers=headers)

    assert response.status == 400


async def test_key_at_limit(client: TestClient) -> None:
    response, _ = await post(client, BODY, "k" * 255)

    assert response.status == 202
