"""Job control endpoints: listing, failures, cancellation and the API prefix, with a real worker."""

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared import keys
from shared.settings import Settings
from tests.api_helpers import api_client, run_worker_until_idle, submit, with_settings
from tests.job_checks import history_rows
from tests.conftest import auth
from worker_service.worker import Worker

JOBS_URL = "/api/crm/jobs"
# Leads 1..1000 as client 1: ids with id % 50 == 5 belong to client 2, and 999 does not exist.
FORBIDDEN_IDS = {lead_id for lead_id in range(1, 1001) if lead_id % 50 == 5}
EXPECTED_FAILURES = {
    **{lead_id: "Sin permiso" for lead_id in FORBIDDEN_IDS},
    999: "Lead no encontrado",
}


async def get_json(
    client: TestClient, url: str, user_id: int = 1, **headers: str
) -> tuple[int, dict]:
    response = await client.get(url, headers=auth(user_id, **headers))
    return response.status, await response.json()


async def list_all(client: TestClient, query: str) -> list[list[str]]:
    """Follow next_cursor from the first page to the last; return the job ids of each page."""
    pages: list[list[str]] = []
    cursor = ""
    for _ in range(20):
        status, body = await get_json(client, f"{JOBS_URL}?{query}&cursor={cursor}")
        assert status == 200
        pages.append([job["job_id"] for job in body["jobs"]])
        if body["next_cursor"] is None:
            return pages
        cursor = body["next_cursor"]
    raise AssertionError("the listing never ended")


async def test_list_pages_newest_first(client: TestClient) -> None:
    submitted = [await submit(client, [1, 2]) for _ in range(5)]

    pages = await list_all(client, "limit=2")

    assert pages == [submitted[4:2:-1], submitted[2:0:-1], submitted[:1]]


async def test_list_exact_last_page(client: TestClient) -> None:
    submitted = [await submit(client, [1, 2]) for _ in range(4)]

    pages = await list_all(client, "limit=2")

    assert pages == [submitted[3:1:-1], submitted[1::-1]]


async def test_list_status_filter(client: TestClient) -> None:
    first, middle, last = [await submit(client, [1, 2]) for _ in range(3)]
    await client.delete(f"{JOBS_URL}/{middle}", headers=auth(1))

    cancelled = await list_all(client, "status=cancelled&limit=1")
    queued = await list_all(client, "status=queued&limit=5")

    assert cancelled == [[middle]]
    assert queued == [[last, first]]


async def test_list_summary_fields(client: TestClient) -> None:
    job_id = await submit(client, [1, 2, 3])

    _, body = await get_json(client, JOBS_URL)

    assert body["jobs"] == [
        {
            "job_id": job_id,
            "user_id": 1,
            "status": "queued",
            "estado": "APROBADO",
            "total_leads": 3,
            "processed_leads": 0,
            "successful_leads": 0,
            "failed_leads": 0,
            "progress_percent": 0.0,
            "created_at": body["jobs"][0]["created_at"],
            "started_at": None,
            "completed_at": None,
        }
    ]


async def test_list_prunes_expired(client: TestClient, redis: Redis) -> None:
    remaining = await submit(client, [1, 2])
    expired = await submit(client, [1, 2])
    await redis.delete(keys.job(expired))

    _, body = await get_json(client, JOBS_URL)

    assert [job["job_id"] for job in body["jobs"]] == [remaining]
    assert await redis.zscore(keys.user_jobs(1), expired) is None


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=abc", "limit"),
        ("limit=%C2%B2", "limit"),
        ("limit=-1", "limit"),
        ("status=done", "status"),
        ("cursor=xyz", "cursor"),
        ("cursor=12:bulk_zz_1", "cursor"),
        ("limit=10&limit=20", "limit"),
        ("status=completed&status=queued", "status"),
        ("cursor=&cursor=", "cursor"),
    ],
    ids=[
        "zero",
        "too_big",
        "text",
        "unicode_digit",
        "negative",
        "status",
        "cursor",
        "cursor_shape",
        "repeated_limit",
        "repeated_status",
        "repeated_cursor",
    ],
)
async def test_list_bad_query(client: TestClient, query: str, parameter: str) -> None:
    status, body = await get_json(client, f"{JOBS_URL}?{query}")

    assert status == 400
    assert body["error"] == "invalid_query"
    assert body["parameter"] == parameter
    assert parameter in body["message"]


@pytest.mark.parametrize("path", ["bulk_x:chunks", "nonsense", "bulk_0123456789abcdef_1700000000"])
async def test_unknown_job(client: TestClient, path: str) -> None:
    status, body = await get_json(client, f"{JOBS_URL}/{path}")

    assert status == 404
    assert body["error"] == "job_not_found"


async def test_chunks_key_not_a_job(client: TestClient) -> None:
    job_id = await submit(client, [1, 2])

    status, _ = await get_json(client, f"{JOBS_URL}/{job_id}:chunks")

    assert status == 404


async def test_completed_without_failures(
    client: TestClient, settings: Settings, leads: int
) -> None:
    job_id = await submit(client, [1, 2, 3])
    await run_worker_until_idle(settings)

    _, body = await get_json(client, f"{JOBS_URL}/{job_id}")

    assert body["status"] == "completed"
    assert body["failed_details"] == []
    assert "failed_details_truncated" not in body


@pytest.fixture
async def small_inline(settings: Settings, redis: Redis, db: asyncpg.Pool, leads: int) -> Settings:
    return with_settings(settings, failed_details_inline_max=5)


async def page_failures(
    client: TestClient, job_id: str, limit: int, language: str = "es"
) -> tuple[dict, list]:
    """Read every failure page by page; return the first page's body and all failures."""
    first: dict = {}
    failures: list = []
    for page in range(50):
        status, body = await get_json(
            client,
            f"{JOBS_URL}/{job_id}/failures?offset={page * limit}&limit={limit}",
            **{"Accept-Language": language},
        )
        assert status == 200
        first = first or body
        if not body["failed_details"]:
            return first, failures
        failures.extend(body["failed_details"])
    raise AssertionError("the failures never ended")


async def test_failures_truncated_inline(small_inline: Settings) -> None:
    async with api_client(small_inline) as client:
        job_id = await submit(client, list(range(1, 1001)))
        await run_worker_until_idle(small_inline)
        _, body = await get_json(client, f"{JOBS_URL}/{job_id}")

    assert body["failed_leads"] == len(EXPECTED_FAILURES)
    assert len(body["failed_details"]) == 5
    assert body["failed_details_truncated"] is True
    assert body["failed_details_url"] == f"{JOBS_URL}/{job_id}/failures?offset=5"


async def test_failures_paged(small_inline: Settings) -> None:
    async with api_client(small_inline) as client:
        job_id = await submit(client, list(range(1, 1001)))
        await run_worker_until_idle(small_inline)
        first, failures = await page_failures(client, job_id, limit=7)

    assert first["total"] == len(EXPECTED_FAILURES)
    assert first["offset"] == 0
    assert first["limit"] == 7
    assert {item["lead_id"]: item["error"] for item in failures} == EXPECTED_FAILURES
    assert len(failures) == len(EXPECTED_FAILURES)


async def test_failures_english(small_inline: Settings) -> None:
    async with api_client(small_inline) as client:
        job_id = await submit(client, list(range(1, 1001)))
        await run_worker_until_idle(small_inline)
        _, failures = await page_failures(client, job_id, limit=100, language="en")

    assert {item["error"] for item in failures} == {"No permission", "Lead not found"}


async def test_failures_after_redis_expiry(small_inline: Settings, redis: Redis) -> None:
    async with api_client(small_inline) as client:
        job_id = await submit(client, list(range(1, 1001)))
        await run_worker_until_idle(small_inline)
        await redis.delete(keys.job(job_id), keys.job_chunks(job_id), keys.job_failures(job_id))
        status, body = await get_json(client, f"{JOBS_URL}/{job_id}")
        _, failures = await page_failures(client, job_id, limit=10)

    assert status == 200
    assert body["status"] == "completed"
    assert body["successful_leads"] == 1000 - len(EXPECTED_FAILURES)
    assert len(body["failed_details"]) == 5
    assert {item["lead_id"]: item["error"] for item in failures} == EXPECTED_FAILURES


@pytest.mark.parametrize(
    "query", ["offset=-1", "offset=x", "limit=0", "limit=1001", "offset=1&offset=2"]
)
async def test_failures_bad_query(client: TestClient, query: str) -> None:
    job_id = await submit(client, [1, 2])

    status, body = await get_json(client, f"{JOBS_URL}/{job_id}/failures?{query}")

    assert status == 400
    assert body["error"] == "invalid_query"


async def test_cancel_before_worker(
    client: TestClient, settings: Settings, db: asyncpg.Pool, leads: int
) -> None:
    job_id = await submit(client, list(range(1, 1001)))

    response = await client.delete(f"{JOBS_URL}/{job_id}", headers=auth(1))
    cancelled = await response.json()
    await run_worker_until_idle(settings)
    _, done = await get_json(client, f"{JOBS_URL}/{job_id}")

    assert response.status == 200
    assert cancelled["status"] == "cancelled"
    assert cancelled["message"] == "Cancelación registrada: los lotes pendientes se omitirán"
    assert cancelled["cancelled_leads"] == 1000
    assert cancelled["processed_leads"] == 0
    assert cancelled["completed_at"] is not None
    assert cancelled["started_at"] is None
    assert done["status"] == "cancelled"
    assert done["cancelled_leads"] == 1000
    assert done["processed_leads"] == 0
    assert done["completed_at"] is not None
    assert (
        await db.fetchval("SELECT count(*) FROM crm_lead_status_history WHERE job_id = $1", job_id)
        == 0
    )


async def test_cancel_midway(
    client: TestClient, settings: Settings, db: asyncpg.Pool, leads: int
) -> None:
    job_id = await submit(client, list(range(1, 1001)))
    worker = Worker(settings, burst=True)
    await worker.start()
    try:
        first_chunks = await worker.consumer.read_new(3, 100)
        for task in first_chunks:
            await worker.processor.process(task)
        response = await client.delete(f"{JOBS_URL}/{job_id}", headers=auth(1))
        await worker.run()
    finally:
        await worker.close()
    _, done = await get_json(client, f"{JOBS_URL}/{job_id}")

    applied = sum(len(task.lead_ids) for task in first_chunks)
    history = await db.fetchval(
        "SELECT count(*) FROM crm_lead_status_history WHERE job_id = $1", job_id
    )
    assert response.status == 200
    assert done["status"] == "cancelled"
    assert done["processed_leads"] == applied
    assert done["cancelled_leads"] == 1000 - applied
    assert history == done["successful_leads"]


async def test_cancel_with_chunk_in_flight(
    client: TestClient, settings: Settings, db: asyncpg.Pool, leads: int
) -> None:
    """A job reads `cancelled` only once its chunk in flight is counted, so its counts are final."""
    job_id = await submit(client, list(range(1, 1001)))
    worker = Worker(settings, burst=True)
    await worker.start()
    try:
        [held] = await worker.consumer.read_new(1, 100)
        await worker.processor.store.begin_chunk(held.job_id, held.chunk, len(held.lead_ids))
        first = await client.delete(f"{JOBS_URL}/{job_id}", headers=auth(1))
        pending = await first.json()
        second = await client.delete(f"{JOBS_URL}/{job_id}", headers=auth(1))
        await worker.processor.process(held)
        _, finished = await get_json(client, f"{JOBS_URL}/{job_id}")
        await worker.run()
    finally:
        await worker.close()
    _, after_run = await get_json(client, f"{JOBS_URL}/{job_id}")

    held_leads = len(held.lead_ids)
    assert first.status == 200
    assert pending["status"] == "processing"
    assert pending["cancelled_leads"] == 1000 - held_leads
    assert pending["completed_at"] is None
    assert second.status == 200
    assert finished["status"] == "cancelled"
    assert finished["processed_leads"] == held_leads
    assert finished["cancelled_leads"] == 1000 - held_leads
    assert finished["completed_at"] is not None
    assert after_run == finished
    assert await history_rows(db, job_id) == finished["successful_leads"]


async def test_cancel_completed_conflict(
    client: TestClient, settings: Settings, leads: int
) -> None:
    job_id = await submit(client, [1, 2, 3])
    await run_worker_until_idle(settings)

    response = await client.delete(
        f"{JOBS_URL}/{job_id}", headers=auth(1, **{"Accept-Language": "en"})
    )
    body = await response.json()

    assert response.status == 409
    assert body["error"] == "job_finished"
    assert body["status"] == "completed"
    assert body["message"] == "A finished job cannot be cancelled (status: completed)"


async def test_cancel_twice_conflict(client: TestClient) -> None:
    job_id = await submit(client, [1, 2, 3])
    await client.delete(f"{JOBS_URL}/{job_id}", headers=auth(1))

    response = await client.delete(f"{JOBS_URL}/{job_id}", headers=auth(1))
    body = await response.json()

    assert response.status == 409
    assert body["status"] == "cancelled"


@pytest.fixture
async def prefixed(settings: Settings, redis: Redis, db: asyncpg.Pool, leads: int) -> Settings:
    return with_settings(settings, api_prefix="/paqueteriacz/", failed_details_inline_max=0)


async def test_prefix_status_url(prefixed: Settings) -> None:
    async with api_client(prefixed) as client:
        response = await client.post(
            "/paqueteriacz/api/crm/leads/bulk-status-async",
            json={"lead_ids": [1, 5], "estado": "aprobado"},
            headers=auth(1),
        )
        accepted = await response.json()
        status, job = await get_json(client, accepted["check_status_url"])

    assert response.status == 202
    assert accepted["check_status_url"] == f"/paqueteriacz/api/crm/jobs/{accepted['job_id']}"
    assert response.headers["Location"] == accepted["check_status_url"]
    assert status == 200
    assert job["job_id"] == accepted["job_id"]


async def test_prefix_failures_url(prefixed: Settings) -> None:
    async with api_client(prefixed) as client:
        job_id = await submit(client, [1, 5], prefix="/paqueteriacz")
        await run_worker_until_idle(prefixed)
        _, job = await get_json(client, f"/paqueteriacz/api/crm/jobs/{job_id}")
        status, failures = await get_json(client, job["failed_details_url"])

    assert job["failed_details_url"] == f"/paqueteriacz/api/crm/jobs/{job_id}/failures?offset=0"
    assert status == 200
    assert failures["failed_details"] == [{"lead_id": 5, "error": "Sin permiso"}]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/crm/jobs", 404),
        ("/paqueteriacz/api/crm/jobs", 200),
        ("/paqueteriacz/healthz", 200),
        ("/healthz", 200),
        ("/paqueteriacz/api/openapi.json", 200),
    ],
    ids=["unprefixed_api", "prefixed_api", "prefixed_health", "root_health", "prefixed_openapi"],
)
async def test_prefix_routes(prefixed: Settings, path: str, expected: int) -> None:
    async with api_client(prefixed) as client:
        status, _ = await get_json(client, path)

    assert status == expected
