"""kill -9 of a worker at each point of a chunk's life: another worker finishes the job with exact
counts, and every successful lead has exactly one history row and one outbox row."""

import signal

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.settings import Settings
from tests.job_checks import (
    expected_failures,
    history_leads,
    history_rows,
    outbox_rows,
    submit_job,
    summary,
)
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


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=100)


@pytest.mark.parametrize(
    "point", ["before_transaction", "inside_transaction", "after_commit", "after_ack"]
)
async def test_kill_at_point(
    point: str,
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    job_id = await submit_job(client, LEAD_IDS)
    doomed = workers.start(settings, "doomed", WORKER_FAULT_POINT=point)
    assert await doomed.wait_exit() == -signal.SIGKILL

    workers.start(settings, "survivor")
    assert await wait_for_jobs(redis, [job_id])

    fields = await job_fields(redis, job_id)
    failed = expected_failures(LEAD_IDS)
    assert fields["status"] == "completed"
    assert int(fields["failed_leads"]) == failed
    assert int(fields["successful_leads"]) == len(LEAD_IDS) - failed
    assert await history_rows(db, job_id) == len(LEAD_IDS) - failed
    assert await history_leads(db, job_id) == len(LEAD_IDS) - failed
    assert await outbox_rows(db, job_id) == len(LEAD_IDS) - failed
    assert await stream_length(redis, settings) == 0
    assert await pending_entries(redis, settings) == 0


async def test_summary_after_crash(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    """A worker killed after recording a job's only chunk, before its summary, leaves the summary
    to another worker."""
    job_id = await submit_job(client, LEAD_IDS[:50])
    doomed = workers.start(settings, "doomed", WORKER_FAULT_POINT="after_ack")
    assert await doomed.wait_exit() == -signal.SIGKILL
    assert await summary(db, job_id) is None

    workers.start(settings, "survivor")

    async def summarised() -> bool:
        return await summary(db, job_id) is not None

    assert await wait_until(summarised)
    row = await summary(db, job_id)
    assert row["status"] == "completed"
    assert row["successful_leads"] == 50
