"""Order across workers, with three worker processes and overlapping jobs and sync calls on the
same leads in quick succession. Every lead ends in the state of the last request that listed it,
and its history follows the order in which the requests were accepted."""

import random

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.job_store import JobStore
from shared.lead_repository import BatchRequest, apply_batch
from shared.settings import Settings
from tests.job_checks import ADMIN_ID, submit_job
from tests.worker_processes import (
    WorkerPool,
    isolated,
    job_fields,
    private_redis_server,  # noqa: F401 - fixture
    private_redis_url,  # noqa: F401 - fixture
    wait_for_jobs,
    worker_pool,  # noqa: F401 - fixture
)

ROUNDS = 200
LEAD_POOL = 600
JOB_LEADS = 150
SYNC_LEADS = 40
STATES = [
    "EN_ESPERA",
    "CONTACTADO",
    "APROBADO",
    "CONFIRMADO",
    "EN_TRANSITO",
    "EN_BODEGA",
    "CANCELADO",
]

HISTORY_SQL = """
SELECT lead_id, estado_anterior, estado_nuevo, request_seq
FROM crm_lead_status_history
ORDER BY lead_id, id
"""


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return isolated(settings, chunk_size=50)


async def sync_call(db: asyncpg.Pool, store: JobStore, lead_ids: list[int], estado: str) -> int:
    seq = await store.next_request_seq()
    batch = BatchRequest(
        lead_ids=lead_ids,
        estado=estado,
        request_seq=seq,
        actor_user_id=ADMIN_ID,
        is_admin=True,
        observaciones="Actualización masiva de estado",
    )
    await apply_batch(db, batch)
    return seq


async def test_order_across_workers(
    client: TestClient,
    redis: Redis,
    db: asyncpg.Pool,
    leads: int,
    settings: Settings,
    workers: WorkerPool,
) -> None:
    rng = random.Random(4)
    store = JobStore(redis, settings.stream_key, settings.consumer_group)
    for label in ("first", "second", "third"):
        workers.start(settings, label)

    requests: list[tuple[int, list[int], str]] = []
    job_ids = []
    for _ in range(ROUNDS):
        start = rng.randrange(0, LEAD_POOL - JOB_LEADS)
        job_leads = list(range(start + 1, start + JOB_LEADS + 1))
        rng.shuffle(job_leads)
        estado = rng.choice(STATES)
        job_id = await submit_job(client, job_leads, estado=estado)
        job_ids.append(job_id)
        requests.append((int((await job_fields(redis, job_id))["request_seq"]), job_leads, estado))

        sync_leads = rng.sample(range(1, LEAD_POOL + 1), SYNC_LEADS)
        estado = rng.choice(STATES)
        requests.append((await sync_call(db, store, sync_leads, estado), sync_leads, estado))

    assert await wait_for_jobs(redis, job_ids, timeout_s=120)

    state_of_seq = {seq: estado for seq, _, estado in requests}
    last_request: dict[int, int] = {}
    listed_by: dict[int, set[int]] = {}
    for seq, lead_ids, _ in requests:
        for lead_id in lead_ids:
            last_request[lead_id] = max(seq, last_request.get(lead_id, 0))
            listed_by.setdefault(lead_id, set()).add(seq)

    rows = await db.fetch(
        "SELECT id, estado_actual, last_request_seq FROM crm_leads WHERE id = ANY($1::bigint[])",
        list(last_request),
    )
    final = {row["id"]: (row["estado_actual"], row["last_request_seq"]) for row in rows}
    expected = {lead_id: (state_of_seq[seq], seq) for lead_id, seq in last_request.items()}
    assert [seq for seq, _, _ in requests] == sorted(seq for seq, _, _ in requests)
    assert final == expected

    history: dict[int, list[asyncpg.Record]] = {}
    for row in await db.fetch(HISTORY_SQL):
        history.setdefault(row["lead_id"], []).append(row)
    broken = [
        lead_id
        for lead_id, lead_rows in history.items()
        if not history_in_order(lead_rows, state_of_seq, listed_by[lead_id])
    ]
    assert broken == []
    assert {lead_id: lead_rows[-1]["estado_nuevo"] for lead_id, lead_rows in history.items()} == {
        lead_id: state for lead_id, (state, _) in expected.items()
    }


def history_in_order(
    rows: list[asyncpg.Record], state_of_seq: dict[int, str], listed_by: set[int]
) -> bool:
    """Check a lead's history rows in insertion order.

    Their request numbers increase and belong to requests that listed the lead, each new state
    is the state of its request, and each previous state is the state before it.
    """
    previous_state, previous_seq = "EN_ESPERA", 0
    for row in rows:
        seq = row["request_seq"]
        if seq <= previous_seq or seq not in listed_by:
            return False
        if row["estado_nuevo"] != state_of_seq[seq] or row["estado_anterior"] != previous_state:
            return False
        previous_state, previous_seq = row["estado_nuevo"], seq
    return True
