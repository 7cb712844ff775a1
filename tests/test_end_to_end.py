"""The main job end to end: submit through the API, run a worker, read progress and rows."""

import asyncpg
from aiohttp.test_utils import TestClient

from shared.settings import Settings
from tests.conftest import auth
from worker_service.worker import Worker


async def run_worker_until_idle(settings: Settings) -> Worker:
    worker = Worker(settings, burst=True)
    await worker.start()
    try:
        await worker.run()
    finally:
        await worker.close()
    return worker


async def test_seed_example_completes(client: TestClient, settings: Settings, db: asyncpg.Pool, leads: int) -> None:
    body = {"lead_ids": list(range(1, 11)), "estado": "aprobado", "observaciones": "Procesamiento masivo de campaña"}
    response = await client.post("/api/crm/leads/bulk-status-async", json=body, headers=auth(1))
    accepted = await response.json()

    assert response.status == 202
    assert accepted["status"] == "queued"
    assert accepted["total_leads"] == 10
    assert accepted["check_status_url"] == f"/api/crm/jobs/{accepted['job_id']}"
    assert response.headers["Location"] == accepted["check_status_url"]

    queued = await (await client.get(accepted["check_status_url"], headers=auth(1))).json()
    assert queued["status"] == "queued"

    await run_worker_until_idle(settings)

    done = await (await client.get(accepted["check_status_url"], headers=auth(1))).json()
    assert done["status"] == "completed"
    assert done["processed_leads"] == 10
    assert done["successful_leads"] == 9
    assert done["failed_leads"] == 1
    assert done["failed_details"] == [{"lead_id": 5, "error": "Sin permiso"}]
    assert done["progress_percent"] == 100.0
    assert done["completed_at"] is not None

    history = await db.fetch("SELECT lead_id, estado_nuevo, observaciones, job_id FROM crm_lead_status_history ORDER BY lead_id")
    assert [row["lead_id"] for row in history] == [1, 2, 3, 4, 6, 7, 8, 9, 10]
    assert {row["observaciones"] for row in history} == {"Actualización masiva: Procesamiento masivo de campaña"}
    assert {row["job_id"] for row in history} == {accepted["job_id"]}
    assert await db.fetchval("SELECT count(*) FROM crm_notifications") == 9
    assert await db.fetchval("SELECT estado_actual FROM crm_leads WHERE id = 5") == "EN_ESPERA"


async def test_large_job_accounting(client: TestClient, settings: Settings, db: asyncpg.Pool, leads: int) -> None:
    lead_ids = list(range(1, 15001))
    response = await client.post(
        "/api/crm/leads/bulk-status-async", json={"lead_ids": lead_ids, "estado": "EN TRÁNSITO"}, headers=auth(9000, ["admin"])
    )
    job_id = (await response.json())["job_id"]

    await run_worker_until_idle(settings)

    done = await (await client.get(f"/api/crm/jobs/{job_id}", headers=auth(9000, ["admin"]))).json()
    missing = sum(1 for lead_id in lead_ids if lead_id % 1000 == 999)
    assert done["status"] == "completed"
    assert done["successful_leads"] + done["failed_leads"] == done["total_leads"] == 15000
    assert done["failed_leads"] == missing
    assert await db.fetchval("SELECT count(*) FROM crm_lead_status_history WHERE job_id = $1", job_id) == 15000 - missing
    assert await db.fetchval("SELECT count(*) FROM crm_notifications WHERE payload->>'job_id' = $1", job_id) == 15000 - missing
    assert await db.fetchval("SELECT count(*) FROM crm_leads WHERE estado_actual = 'EN_TRANSITO'") == 15000 - missing
