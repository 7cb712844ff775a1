"""A chunk that fails on every delivery goes to the dead-letter stream after MAX_DELIVERIES, its
leads fail as `dead_letter`, other jobs keep flowing, and an operator can replay it."""

import signal

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared import keys
from shared.settings import Settings
from tests.conftest import auth
from tests.job_checks import ADMIN, ADMIN_ID, history_rows, submit_job, summary
from tests.worker_processes import (
    WorkerPool,
    isolated,
    job_fields,
    pending_entries,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    run_ops,
    stream_length,
    wait_for_jobs,
    wait_until,
    worker_pool,  # noqa: F401 - fixture
)

POISON_LEADS = list(range(1, 151))
HEALTHY_LEADS = list(range(201, 501))


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=100, max_deliveries=2)


async def poison_run(
    client: TestClient, redis: Redis, settings: Settings, workers: WorkerPool
) -> tuple[str, str]:
    """Run a job whose chunks always fail next to a healthy job, with one worker, to the end."""
    poison = await submit_job(client, POISON_LEADS)
    faulty = workers.start(
        settings, "faulty", WORKER_FAULT_POINT="apply_error", WORKER_FAULT_JOB=poison
    )
    healthy = await submit_job(client, HEALTHY_LEADS)
    assert await wait_for_jobs(redis, [poison, healthy])
    faulty.signal(signal.SIGTERM)
    assert await faulty.wait_exit() == 0
    return poison, healthy


async def test_poison_dead_lettered(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    poison, healthy = await poison_run(client, redis, settings, workers)

    poisoned = await job_fields(redis, poison)
    failures = await redis.lrange(keys.job_failures(poison), 0, -1)
    exit_code, dead_letters = await run_ops(settings, "dead-letters", "list")

    assert poisoned["status"] == "completed"
    assert poisoned["failed_leads"] == str(len(POISON_LEADS))
    assert poisoned["successful_leads"] == "0"
    assert sorted(failures) == sorted(f"{lead_id}:dead_letter".encode() for lead_id in POISON_LEADS)
    assert await history_rows(db, poison) == 0
    assert (await job_fields(redis, healthy))["successful_leads"] == str(len(HEALTHY_LEADS))
    assert exit_code == 0
    assert sorted(
        (entry["job"], entry["chunk"], entry["deliveries"], entry["leads"])
        for entry in dead_letters
    ) == [
        (poison, "0", "3", 100),
        (poison, "1", "3", 50),
    ]
    assert len(workers.started[0].events("chunk_failed")) == 4
    assert await stream_length(redis, settings) == 0
    assert await pending_entries(redis, settings) == 0


async def test_dead_letters_outlive_redis(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    """Dead-lettered leads stay listed as failures once the job's Redis state has expired."""
    poison, _ = await poison_run(client, redis, settings, workers)
    await redis.delete(keys.job(poison), keys.job_chunks(poison), keys.job_failures(poison))

    response = await client.get(
        f"/api/crm/jobs/{poison}/failures?limit=1000", headers=auth(ADMIN_ID, ADMIN)
    )
    body = await response.json()
    markers = await db.fetchval(
        "SELECT count(*) FROM crm_bulk_job_chunks WHERE job_id = $1 AND dead_lettered", poison
    )

    assert response.status == 200
    assert markers == 2
    assert body["total"] == len(POISON_LEADS)
    assert sorted(item["lead_id"] for item in body["failed_details"]) == POISON_LEADS


async def test_dead_letter_replayed(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    poison, _ = await poison_run(client, redis, settings, workers)
    workers.start(settings, "fixed")
    _, dead_letters = await run_ops(settings, "dead-letters", "list")

    replies = [
        await run_ops(settings, "dead-letters", "replay", entry["entry_id"])
        for entry in dead_letters
    ]

    async def replayed() -> bool:
        row = await summary(db, poison)
        return row is not None and row["failed_leads"] == 0

    assert [exit_code for exit_code, _ in replies] == [0, 0]
    assert await wait_until(replayed)
    fields = await job_fields(redis, poison)
    assert fields["successful_leads"] == str(len(POISON_LEADS))
    assert fields["failed_leads"] == "0"
    assert await redis.llen(keys.job_failures(poison)) == 0
    assert await history_rows(db, poison) == len(POISON_LEADS)
    assert (await summary(db, poison))["successful_leads"] == len(POISON_LEADS)
    assert (await run_ops(settings, "dead-letters", "list"))[1] == []


async def test_replay_unknown_entry(settings: Settings, redis: Redis) -> None:
    exit_code, answer = await run_ops(settings, "dead-letters", "replay", "1-1")

    assert exit_code == 1
    assert answer is None
