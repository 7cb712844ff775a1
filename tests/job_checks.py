"""Submitting jobs through the API and checking what a finished job left in PostgreSQL."""

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import auth

SUBMIT_URL = "/api/crm/leads/bulk-status-async"
ADMIN_ID = 9000
ADMIN = ["admin"]


async def submit_job(
    client: TestClient,
    lead_ids: list[int],
    estado: str = "aprobado",
    user_id: int = ADMIN_ID,
    roles: list[str] | None = None,
) -> str:
    """Submit an async job and return its id, failing the test unless it is accepted."""
    headers = auth(user_id, roles or ADMIN)
    response = await client.post(
        SUBMIT_URL, json={"lead_ids": lead_ids, "estado": estado}, headers=headers
    )
    body = await response.json()
    assert response.status == 202, body
    return body["job_id"]


async def history_rows(db: asyncpg.Pool, job_id: str) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM crm_lead_status_history WHERE job_id = $1", job_id
    )


async def history_leads(db: asyncpg.Pool, job_id: str) -> int:
    return await db.fetchval(
        "SELECT count(DISTINCT lead_id) FROM crm_lead_status_history WHERE job_id = $1", job_id
    )


async def outbox_rows(db: asyncpg.Pool, job_id: str) -> int:
    return await db.fetchval(
        "SELECT count(*) FROM crm_notifications WHERE payload->>'job_id' = $1", job_id
    )


async def summary(db: asyncpg.Pool, job_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM crm_bulk_jobs WHERE job_id = $1", job_id)


def expected_failures(lead_ids: list[int], user_id: int = ADMIN_ID) -> int:
    """Count the seeded leads that fail for `user_id`.

    Ids ending in 999 do not exist. A client may not change another client's lead, and among
    ids 1..10000 those with id % 50 == 5 belong to client 2.
    """
    missing = sum(1 for lead_id in lead_ids if lead_id % 1000 == 999)
    if user_id == ADMIN_ID:
        return missing
    forbidden = sum(1 for lead_id in lead_ids if lead_id % 1000 != 999 and lead_id % 50 == 5)
    return missing + forbidden
