"""The async submission: the 202 body, the stream entries it writes, and pre-validation warnings."""

import io
import re

import asyncpg
import orjson
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared import keys
from shared.settings import Settings
from tests.api_helpers import SUBMIT_URL, api_client, run_worker_until_idle, with_settings
from tests.conftest import auth

JOB_ID = re.compile(r"bulk_[0-9a-f]{16}_[0-9]{10}")


async def post(
    client: TestClient,
    body: object,
    user_id: int = 1,
    roles: list[str] | None = None,
    **headers: str,
):
    response = await client.post(SUBMIT_URL, json=body, headers=auth(user_id, roles, **headers))
    return response, await response.json()


async def test_accepted_body(client: TestClient, leads: int) -> None:
    response, data = await post(client, {"lead_ids": [1, 2, 3], "estado": "aprobado"})

    assert response.status == 202
    assert JOB_ID.fullmatch(data["job_id"])
    assert data == {
        "success": True,
        "job_id": data["job_id"],
        "status": "queued",
        "total_leads": 3,
        "message": "Job encolado para procesamiento",
        "check_status_url": f"/api/crm/jobs/{data['job_id']}",
    }
    assert response.headers["Location"] == data["check_status_url"]
    assert response.headers["Retry-After"] == "1"


async def test_accepted_job_ids_differ(client: TestClient) -> None:
    job_ids = set()
    for _ in range(5):
        _, data = await post(client, {"lead_ids": [1], "estado": "aprobado"})
        job_ids.add(data["job_id"])

    assert len(job_ids) == 5


async def test_accepted_stream_entries(
    client: TestClient, redis: Redis, settings: Settings
) -> None:
    lead_ids = list(range(1, 251))
    _, data = await post(
        client, {"lead_ids": lead_ids, "estado": "en tránsito", "observaciones": " Ruta 5 "}
    )
    entries = await redis.xrange(settings.stream_key)
    job = await redis.hgetall(keys.job(data["job_id"]))

    assert [fields[b"chunk"] for _, fields in entries] == [b"0", b"1", b"2"]
    assert entries[2][1][b"ids"] == ",".join(map(str, range(201, 251))).encode()
    assert {fields[b"estado"] for _, fields in entries} == {b"EN_TRANSITO"}
    assert {fields[b"obs"] for _, fields in entries} == {"Actualización masiva: Ruta 5".encode()}
    assert job[b"status"] == b"queued"
    assert job[b"total_leads"] == b"250"
    assert job[b"chunk_count"] == b"3"
    assert await redis.sismember(keys.user_pending_jobs(1), data["job_id"]) == 1


async def test_duplicates_removed(client: TestClient, redis: Redis, settings: Settings) -> None:
    _, data = await post(client, {"lead_ids": [3, 1, 3, 2, 1, "3"], "estado": "aprobado"})
    entries = await redis.xrange(settings.stream_key)

    assert data["total_leads"] == 3
    assert data["duplicates_removed"] == 3
    assert entries[0][1][b"ids"] == b"3,1,2"


async def test_warning_singular(client: TestClient, leads: int) -> None:
    response, data = await post(client, {"lead_ids": [1, 2, 5], "estado": "aprobado"})

    assert response.status == 202
    assert data["message"] == "Job encolado. 1 lead puede fallar."
    assert data["valid_leads_count"] == 2
    assert data["error_rate"] == "33.3%"
    assert data["validation_warnings"] == [{"lead_id": 5, "error": "Sin permiso"}]


async def test_warning_plural(client: TestClient, leads: int) -> None:
    _, data = await post(client, {"lead_ids": [999, 1, 2, 3, 5], "estado": "aprobado"})

    assert data["message"] == "Job encolado. 2 leads pueden fallar."
    assert data["valid_leads_count"] == 3
    assert data["error_rate"] == "40.0%"
    assert data["validation_warnings"] == [
        {"lead_id": 999, "error": "Lead no encontrado"},
        {"lead_id": 5, "error": "Sin permiso"},
    ]


async def test_warning_english(client: TestClient, leads: int) -> None:
    _, data = await post(
        client, {"lead_ids": [1, 5, 999], "estado": "aprobado"}, **{"Accept-Language": "en"}
    )

    assert data["message"] == "Job queued. 2 leads may fail."
    assert data["validation_warnings"] == [
        {"lead_id": 5, "error": "No permission"},
        {"lead_id": 999, "error": "Lead not found"},
    ]


async def test_warning_admin(client: TestClient, leads: int) -> None:
    _, data = await post(client, {"lead_ids": [1, 5, 999], "estado": "aprobado"}, 9000, ["admin"])

    assert data["message"] == "Job encolado. 1 lead puede fallar."
    assert data["validation_warnings"] == [{"lead_id": 999, "error": "Lead no encontrado"}]


async def test_warnings_all_fail(client: TestClient, leads: int) -> None:
    _, data = await post(client, {"lead_ids": [5, 55], "estado": "aprobado"})

    assert data["valid_leads_count"] == 0
    assert data["error_rate"] == "100.0%"


async def test_warnings_skipped_large(
    settings: Settings, redis: Redis, db: asyncpg.Pool, leads: int
) -> None:
    async with api_client(with_settings(settings, prevalidate_max_leads=3)) as client:
        _, small = await post(client, {"lead_ids": [1, 2, 5], "estado": "aprobado"})
        _, large = await post(client, {"lead_ids": [1, 2, 3, 5], "estado": "aprobado"})

    assert small["message"] == "Job encolado. 1 lead puede fallar."
    assert large["message"] == "Job encolado para procesamiento"
    assert "validation_warnings" not in large
    assert "error_rate" not in large


async def test_warned_leads_fail(client: TestClient, settings: Settings, leads: int) -> None:
    _, data = await post(client, {"lead_ids": [1, 5, 999], "estado": "aprobado"})
    await run_worker_until_idle(settings)
    job = await (await client.get(data["check_status_url"], headers=auth(1))).json()

    assert job["status"] == "completed"
    assert (
        sorted(job["failed_details"], key=lambda item: item["lead_id"])
        == data["validation_warnings"]
    )


async def test_prefix_urls(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    async with api_client(with_settings(settings, api_prefix="/paqueteriacz")) as client:
        response = await client.post(
            f"/paqueteriacz{SUBMIT_URL}",
            json={"lead_ids": [1], "estado": "aprobado"},
            headers=auth(1),
        )
        data = await response.json()

    assert response.status == 202
    assert data["check_status_url"] == f"/paqueteriacz/api/crm/jobs/{data['job_id']}"
    assert response.headers["Location"] == data["check_status_url"]


async def test_million_ids(settings: Settings, redis: Redis, db: asyncpg.Pool) -> None:
    body = orjson.dumps({"lead_ids": list(range(1, 1_000_001)), "estado": "aprobado"})
    async with api_client(with_settings(settings, chunk_size=1000)) as client:
        response = await client.post(
            SUBMIT_URL,
            data=io.BytesIO(body),
            headers=auth(9000, ["admin"], **{"Content-Type": "application/json"}),
        )
        data = await response.json()
    entries = await redis.xrange(settings.stream_key, count=1)

    assert response.status == 202
    assert data["total_leads"] == 1_000_000
    assert await redis.xlen(settings.stream_key) == 1000
    assert entries[0][1][b"ids"] == ",".join(map(str, range(1, 1001))).encode()
