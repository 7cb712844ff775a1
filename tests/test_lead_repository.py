"""The one-statement batch apply: request order, second deliveries, per-lead failures and lock
order."""

import asyncio
import random

import asyncpg

from shared.db import create_pool
from shared.lead_repository import (
    DEAD_LETTER,
    BatchRequest,
    apply_batch,
    find_chunk_outcome,
    mark_dead_letter,
    replay_batch,
)
from shared.settings import Settings
from tests.job_checks import history_rows, outbox_rows

HISTORY_TEXT = "Actualización masiva de estado"


def batch(
    lead_ids: list[int], estado: str, seq: int, user_id: int = 9000, **job: object
) -> BatchRequest:
    return BatchRequest(
        lead_ids=lead_ids,
        estado=estado,
        request_seq=seq,
        actor_user_id=user_id,
        is_admin=user_id == 9000,
        observaciones=HISTORY_TEXT,
        **job,  # type: ignore[arg-type]
    )


async def states(db: asyncpg.Pool, lead_ids: list[int]) -> list[str]:
    rows = await db.fetch(
        "SELECT estado_actual FROM crm_leads WHERE id = ANY($1::bigint[]) ORDER BY id", lead_ids
    )
    return [row["estado_actual"] for row in rows]


async def test_older_request_superseded(db: asyncpg.Pool, leads: int) -> None:
    await apply_batch(db, batch([1, 2, 3], "CONFIRMADO", seq=20))

    outcome = await apply_batch(db, batch([1, 2, 3, 4], "APROBADO", seq=10))
    history = await db.fetchval(
        "SELECT count(*) FROM crm_lead_status_history WHERE request_seq = 10"
    )
    outbox = await db.fetchval("SELECT count(*) FROM crm_notifications WHERE related_lead_id = 4")

    assert outcome.superseded == 3
    assert outcome.successful == 4
    assert await states(db, [1, 2, 3, 4]) == ["CONFIRMADO", "CONFIRMADO", "CONFIRMADO", "APROBADO"]
    assert history == 1
    assert outbox == 1


async def test_newer_request_applies(db: asyncpg.Pool, leads: int) -> None:
    await apply_batch(db, batch([1], "CONFIRMADO", seq=10))
    await apply_batch(db, batch([1], "EN_TRANSITO", seq=11))

    rows = await db.fetch(
        "SELECT estado_anterior, estado_nuevo FROM crm_lead_status_history"
        " WHERE lead_id = 1 ORDER BY id"
    )

    assert [tuple(row) for row in rows] == [
        ("EN_ESPERA", "CONFIRMADO"),
        ("CONFIRMADO", "EN_TRANSITO"),
    ]


async def test_failure_codes(db: asyncpg.Pool, leads: int) -> None:
    outcome = await apply_batch(db, batch([4, 5, 6, 999], "APROBADO", seq=1, user_id=1))

    assert outcome.failures == [(5, "forbidden"), (999, "not_found")]
    assert outcome.successful == 2
    assert await states(db, [4, 5, 6]) == ["APROBADO", "EN_ESPERA", "APROBADO"]


async def test_chunk_second_delivery(db: asyncpg.Pool, leads: int) -> None:
    chunk = batch([4, 5, 6, 999], "APROBADO", seq=3, user_id=1, job_id="bulk_ab_1", chunk=0)
    first = await apply_batch(db, chunk)

    second = await apply_batch(db, chunk)

    assert first.first_delivery is True
    assert second.first_delivery is False
    assert second.failures == first.failures
    assert second.successful == first.successful
    assert await history_rows(db, "bulk_ab_1") == 2
    assert await outbox_rows(db, "bulk_ab_1") == 2


async def test_chunk_outcome_lookup(db: asyncpg.Pool, leads: int) -> None:
    await apply_batch(db, batch([1, 999], "APROBADO", seq=3, job_id="bulk_cd_1", chunk=4))

    stored = await find_chunk_outcome(db, "bulk_cd_1", 4)
    missing = await find_chunk_outcome(db, "bulk_cd_1", 5)

    assert stored is not None
    assert stored.failures == [(999, "not_found")]
    assert missing is None


async def test_dead_letter_blocks_late_delivery(db: asyncpg.Pool, leads: int) -> None:
    """A worker that stalled past the claim and applies the chunk after its dead letter changes
    nothing and gets the dead-letter outcome."""
    chunk = batch([1, 2, 3], "APROBADO", seq=5, job_id="bulk_dl_1", chunk=0)

    stored_first = await mark_dead_letter(db, chunk)
    late = await apply_batch(db, chunk)

    assert stored_first is None
    assert late.dead_lettered is True
    assert late.first_delivery is False
    assert late.failures == [(1, DEAD_LETTER), (2, DEAD_LETTER), (3, DEAD_LETTER)]
    assert await states(db, [1, 2, 3]) == ["EN_ESPERA"] * 3
    assert await history_rows(db, "bulk_dl_1") == 0
    assert await outbox_rows(db, "bulk_dl_1") == 0


async def test_dead_letter_after_commit(db: asyncpg.Pool, leads: int) -> None:
    """A chunk that a delivery committed keeps that outcome: no dead-letter marker replaces it."""
    chunk = batch([1, 999], "APROBADO", seq=5, job_id="bulk_dl_2", chunk=1)
    await apply_batch(db, chunk)

    stored = await mark_dead_letter(db, chunk)
    marker = await find_chunk_outcome(db, "bulk_dl_2", 1)

    assert stored is not None
    assert stored.failures == [(999, "not_found")]
    assert stored.dead_lettered is False
    assert marker is not None and marker.dead_lettered is False


async def test_dead_letter_waits_for_open_delivery(
    settings: Settings, db: asyncpg.Pool, leads: int
) -> None:
    """A dead letter racing an uncommitted delivery waits for it and then takes its outcome."""
    chunk = batch([4, 5, 6], "CONFIRMADO", seq=5, job_id="bulk_dl_3", chunk=0)
    conn = await asyncpg.connect(settings.database_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        await apply_batch(conn, chunk)
        marking = asyncio.create_task(mark_dead_letter(db, chunk))
        await asyncio.sleep(0.3)
        waited = not marking.done()
        await transaction.commit()
        stored = await marking
    finally:
        await conn.close()

    assert waited is True
    assert stored is not None and stored.successful == 3
    assert await states(db, [4, 5, 6]) == ["CONFIRMADO"] * 3
    assert await history_rows(db, "bulk_dl_3") == 3


async def test_dead_letter_after_rollback(
    settings: Settings, db: asyncpg.Pool, leads: int
) -> None:
    chunk = batch([4, 5, 6], "CONFIRMADO", seq=5, job_id="bulk_dl_4", chunk=0)
    conn = await asyncpg.connect(settings.database_url)
    try:
        transaction = conn.transaction()
        await transaction.start()
        await apply_batch(conn, chunk)
        marking = asyncio.create_task(mark_dead_letter(db, chunk))
        await asyncio.sleep(0.3)
        await transaction.rollback()
        stored = await marking
    finally:
        await conn.close()

    marker = await find_chunk_outcome(db, "bulk_dl_4", 0)
    assert stored is None
    assert marker is not None and marker.dead_lettered is True
    assert await states(db, [4, 5, 6]) == ["EN_ESPERA"] * 3


async def test_replay_replaces_dead_letter(db: asyncpg.Pool, leads: int) -> None:
    chunk = batch([1, 2, 999], "APROBADO", seq=5, job_id="bulk_dl_5", chunk=2)
    await mark_dead_letter(db, chunk)

    replayed = await replay_batch(db, chunk)
    again = await replay_batch(db, chunk)
    marker = await find_chunk_outcome(db, "bulk_dl_5", 2)

    assert replayed.first_delivery is True
    assert replayed.failures == [(999, "not_found")]
    assert again.first_delivery is False
    assert again.failures == [(999, "not_found")]
    assert marker is not None and marker.dead_lettered is False
    assert await states(db, [1, 2]) == ["APROBADO", "APROBADO"]
    assert await history_rows(db, "bulk_dl_5") == 2


async def test_overlapping_batches(settings: Settings, db: asyncpg.Pool, leads: int) -> None:
    """Concurrent batches over the same leads, listed in opposite orders, never deadlock."""
    pool = await create_pool(settings, min_size=8, max_size=8)
    lead_ids = list(range(1, 301))
    requests = []
    for seq in range(1, 41):
        ordered = sorted(lead_ids, reverse=seq % 2 == 0)
        if seq % 3 == 0:
            random.Random(seq).shuffle(ordered)
        requests.append(batch(ordered, ["APROBADO", "CONFIRMADO"][seq % 2], seq))

    try:
        outcomes = await asyncio.gather(*(apply_batch(pool, request) for request in requests))
    finally:
        await pool.close()

    assert [outcome.successful for outcome in outcomes] == [300] * 40
    assert set(await states(db, lead_ids)) == {"APROBADO"}
    assert await db.fetchval("SELECT max(last_request_seq) FROM crm_leads WHERE id <= 300") == 40
