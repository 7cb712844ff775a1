"""A worker restarted under the same consumer name resumes its own pending chunks at once."""

import asyncpg
from redis.asyncio import Redis

from shared.settings import Settings
from tests.conftest import auth
from worker_service.worker import Worker


async def test_restart_resumes_own_pending(client, settings: Settings, redis: Redis, db: asyncpg.Pool, leads: int) -> None:
    named = settings.model_copy(update={"consumer_name": "restart-test", "claim_idle_ms": 3_600_000})
    response = await client.post(
        "/api/crm/leads/bulk-status-async",
        json={"lead_ids": list(range(1, 301)), "estado": "confirmado"},
        headers=auth(9000, ["admin"]),
    )
    job_id = (await response.json())["job_id"]

    # Deliver every chunk to the consumer without processing it, as a worker killed mid-read would.
    await redis.xgroup_create(settings.stream_key, settings.consumer_group, id="0", mkstream=True)
    delivered = await redis.xreadgroup(settings.consumer_group, "restart-test", {settings.stream_key: ">"}, count=100)
    assert len(delivered[0][1]) == 3

    worker = Worker(named, burst=True)
    await worker.start()
    try:
        await worker.run()
    finally:
        await worker.close()

    done = await (await client.get(f"/api/crm/jobs/{job_id}", headers=auth(9000, ["admin"]))).json()
    assert done["status"] == "completed"
    assert done["processed_leads"] == 300
    assert await db.fetchval("SELECT count(*) FROM crm_lead_status_history WHERE job_id = $1", job_id) == 300
