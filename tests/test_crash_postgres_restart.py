"""PostgreSQL restarted in the middle of a job: the worker keeps the chunk unacknowledged, retries
with backoff, and the job completes with exact counts once the server is back."""

from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.migrate import apply_migrations
from shared.settings import Settings
from tests.conftest import SEED_LEADS_SQL
from tests.job_checks import submit_job
from tests.private_servers import PrivatePostgres
from tests.worker_processes import (
    WorkerPool,
    isolated,
    job_fields,
    pending_entries,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    stream_length,
    wait_for_jobs,
    wait_until,
    worker_pool,  # noqa: F401 - fixture
)

LEAD_IDS = list(range(1, 1001))
WAITING_ON_LOCK_SQL = "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"


@pytest.fixture(scope="module")
async def own_postgres() -> AsyncIterator[PrivatePostgres]:
    server = PrivatePostgres()
    server.initdb()
    await server.start()
    conn = await asyncpg.connect(server.dsn())
    await conn.execute("CREATE DATABASE crm")
    await conn.close()

    conn = await asyncpg.connect(server.dsn("crm"))
    await apply_migrations(conn)
    await conn.execute(SEED_LEADS_SQL, 2000)
    await conn.close()
    yield server
    await server.close()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=100)


async def test_postgres_restart(
    client: TestClient,
    redis: Redis,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
    own_postgres: PrivatePostgres,
) -> None:
    dsn = own_postgres.dsn("crm")
    worker_settings = settings.model_copy(update={"database_url": dsn})
    blocker = await asyncpg.connect(dsn)
    await blocker.execute("BEGIN; SELECT id FROM crm_leads WHERE id = 150 FOR UPDATE")

    job_id = await submit_job(client, LEAD_IDS)
    worker = workers.start(worker_settings)

    async def chunk_waits() -> bool:
        # Another session: pg_stat_activity keeps its first snapshot for the rest of a transaction.
        observer = await asyncpg.connect(dsn)
        try:
            return await observer.fetchval(WAITING_ON_LOCK_SQL) > 0
        finally:
            await observer.close()

    assert await wait_until(chunk_waits)
    await own_postgres.stop()

    async def retrying() -> bool:
        return len(worker.events("chunk_retry")) > 0

    assert await wait_until(retrying)
    await own_postgres.start()
    blocker.terminate()
    assert await wait_for_jobs(redis, [job_id])

    fields = await job_fields(redis, job_id)
    check = await asyncpg.connect(dsn)
    history = await check.fetchval(
        "SELECT count(*) FROM crm_lead_status_history WHERE job_id = $1", job_id
    )
    outbox = await check.fetchval(
        "SELECT count(*) FROM crm_notifications WHERE payload->>'job_id' = $1", job_id
    )
    await check.close()
    assert fields["status"] == "completed"
    assert fields["successful_leads"] == "999"
    assert fields["failed_leads"] == "1"
    assert history == 999
    assert outbox == 999
    assert await stream_length(redis, settings) == 0
    assert await pending_entries(redis, settings) == 0
