"""Set-based status changes for a batch of leads: the one write path of the worker and the sync API.

A batch is applied by a single SQL statement, so it commits or fails as a whole without an
explicit transaction block. The statement:

1. locks the batch's leads in id order, so two batches that overlap cannot deadlock on each other;
2. changes `estado_actual` only where the caller may change the lead and the lead's
   `last_request_seq` is older than this request's sequence number;
3. writes one history row and one outbox row per changed lead;
4. for a job chunk, inserts the chunk marker row with the chunk's outcome. The insert has no
   ON CONFLICT clause: when a marker exists, from an earlier delivery or from the chunk's dead
   letter, the unique violation rolls the whole statement back and the stored outcome is returned
   instead. Whichever commits its marker first decides the chunk's outcome.

A lead whose `last_request_seq` is already newer keeps the newer state and gets no history or
outbox row: a later request has superseded this one for that lead. It counts as successful,
since its request was accepted and applied in order; the chunk marker counts it in `superseded`.
"""

from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg

NOT_FOUND = "not_found"
FORBIDDEN = "forbidden"
# A chunk that failed on every delivery and went to the dead-letter stream (set by the worker).
DEAD_LETTER = "dead_letter"

APPLY_BATCH_SQL = """
WITH locked AS (
    SELECT id, cliente_id, proveedor_id, proveedor_lead_id, estado_actual, last_request_seq,
           ($4::boolean OR cliente_id IS NOT DISTINCT FROM $5::bigint) AS allowed
    FROM crm_leads
    WHERE id = ANY($1::bigint[])
    ORDER BY id
    FOR UPDATE
),
changed AS (
    UPDATE crm_leads AS lead
    SET estado_actual = $2, updated_at = now(), last_request_seq = $3
    FROM locked
    WHERE lead.id = locked.id AND locked.allowed AND locked.last_request_seq < $3
    RETURNING lead.id, locked.estado_actual AS estado_anterior, locked.proveedor_id,
              locked.proveedor_lead_id
),
history AS (
    INSERT INTO crm_lead_status_history
        (lead_id, estado_anterior, estado_nuevo, actor_user_id, observaciones, job_id, request_seq)
    SELECT id, estado_anterior, $2, $5, $6, $7, $3
    FROM changed
),
outbox AS (
    INSERT INTO crm_notifications (user_id, type, event_type, related_lead_id, payload)
    SELECT proveedor_id, 'status_updated', 'SEND_TO_PROVIDER', id,
           jsonb_build_object(
               'lead_id', id,
               'proveedor_lead_id', proveedor_lead_id,
               'estado_anterior', estado_anterior,
               'estado_nuevo', $2::text,
               'observaciones', $6::text,
               'actor_user_id', $5::bigint,
               'updated_at', now(),
               'job_id', $7::text,
               'bulk_update', true)
    FROM changed
    WHERE proveedor_id IS NOT NULL
),
outcomes AS (
    SELECT requested.id,
           CASE WHEN locked.id IS NULL THEN 'not_found'
                WHEN NOT locked.allowed THEN 'forbidden'
                ELSE 'superseded' END AS outcome
    FROM unnest($1::bigint[]) AS requested (id)
    LEFT JOIN locked ON locked.id = requested.id
    WHERE locked.id IS NULL OR NOT locked.allowed OR locked.last_request_seq >= $3
),
marker AS (
    INSERT INTO crm_bulk_job_chunks
        (job_id, chunk, request_seq, lead_count, failed_ids, failed_codes, superseded)
    SELECT $7, $8, $3, cardinality($1::bigint[]),
           coalesce(array_agg(id) FILTER (WHERE outcome <> 'superseded'), '{}'),
           coalesce(array_agg(outcome) FILTER (WHERE outcome <> 'superseded'), '{}'),
           count(*) FILTER (WHERE outcome = 'superseded')
    FROM outcomes
    HAVING $7::text IS NOT NULL
)
SELECT id, outcome FROM outcomes
"""

CHUNK_MARKER_SQL = """
SELECT lead_count, failed_ids, failed_codes, superseded, dead_lettered
FROM crm_bulk_job_chunks
WHERE job_id = $1 AND chunk = $2
"""

DEAD_LETTER_MARKER_SQL = """
INSERT INTO crm_bulk_job_chunks
    (job_id, chunk, request_seq, lead_count, failed_ids, failed_codes, dead_lettered)
SELECT $1, $2, $3, cardinality($4::bigint[]), $4::bigint[],
       array_fill('dead_letter'::text, ARRAY[cardinality($4::bigint[])]), true
ON CONFLICT (job_id, chunk) DO NOTHING
RETURNING 1
"""

DELETE_DEAD_LETTER_MARKER_SQL = """
DELETE FROM crm_bulk_job_chunks WHERE job_id = $1 AND chunk = $2 AND dead_lettered
"""


@dataclass(frozen=True)
class BatchRequest:
    """One batch of leads to move to `estado` on behalf of one accepted request."""

    lead_ids: Sequence[int]
    estado: str
    request_seq: int
    actor_user_id: int
    is_admin: bool
    observaciones: str
    job_id: str | None = None
    chunk: int | None = None


@dataclass
class BatchOutcome:
    """Outcome of a batch: the failed leads with their error codes, and the superseded count."""

    lead_count: int
    failures: list[tuple[int, str]] = field(default_factory=list)
    superseded: int = 0
    # False when the chunk marker already existed: an earlier delivery applied this chunk, or it
    # was dead-lettered, and this outcome is the one stored then.
    first_delivery: bool = True
    dead_lettered: bool = False

    @property
    def successful(self) -> int:
        return self.lead_count - len(self.failures)


async def apply_batch(conn: asyncpg.Connection | asyncpg.Pool, batch: BatchRequest) -> BatchOutcome:
    """Apply one batch in one statement; for a job chunk already marked, return the stored outcome.

    On a connection inside a transaction the statement runs in a savepoint, so that a marker
    conflict leaves the transaction usable.
    """
    args = (
        batch.lead_ids,
        batch.estado,
        batch.request_seq,
        batch.is_admin,
        batch.actor_user_id,
        batch.observaciones,
        batch.job_id,
        batch.chunk,
    )
    try:
        if isinstance(conn, asyncpg.Connection) and conn.is_in_transaction():
            async with conn.transaction():
                rows = await conn.fetch(APPLY_BATCH_SQL, *args)
        else:
            rows = await conn.fetch(APPLY_BATCH_SQL, *args)
    except asyncpg.UniqueViolationError:
        if batch.job_id is None:
            raise
        return await load_chunk_outcome(conn, batch.job_id, batch.chunk or 0, len(batch.lead_ids))

    outcome = BatchOutcome(lead_count=len(batch.lead_ids))
    for row in rows:
        if row["outcome"] == "superseded":
            outcome.superseded += 1
        else:
            outcome.failures.append((row["id"], row["outcome"]))
    return outcome


async def load_chunk_outcome(
    conn: asyncpg.Connection | asyncpg.Pool, job_id: str, chunk: int, lead_count: int
) -> BatchOutcome:
    """Read the outcome stored in a chunk's marker by an earlier delivery or by its dead letter."""
    outcome = await find_chunk_outcome(conn, job_id, chunk)
    if outcome is None:
        # The marker vanished between the conflict and this read, which only a manual DELETE does.
        return BatchOutcome(lead_count=lead_count, first_delivery=False)
    return outcome


async def find_chunk_outcome(
    conn: asyncpg.Connection | asyncpg.Pool, job_id: str, chunk: int
) -> BatchOutcome | None:
    """Return the committed outcome of a job chunk, or None when no delivery has applied it."""
    row = await conn.fetchrow(CHUNK_MARKER_SQL, job_id, chunk)
    if row is None:
        return None

    failures = list(zip(row["failed_ids"], row["failed_codes"], strict=True))
    return BatchOutcome(
        lead_count=row["lead_count"],
        failures=failures,
        superseded=row["superseded"],
        first_delivery=False,
        dead_lettered=row["dead_lettered"],
    )


async def mark_dead_letter(
    pool: asyncpg.Pool, batch: BatchRequest
) -> BatchOutcome | None:
    """Insert a chunk's dead-letter marker; when a delivery committed first, return its outcome.

    A delivery still inside its transaction makes the insert wait for it, so the chunk ends either
    applied or dead-lettered, never both. None means the marker is this chunk's outcome now.
    """
    assert batch.job_id is not None and batch.chunk is not None
    inserted = await pool.fetchval(
        DEAD_LETTER_MARKER_SQL, batch.job_id, batch.chunk, batch.request_seq, batch.lead_ids
    )
    if inserted is not None:
        return None

    stored = await find_chunk_outcome(pool, batch.job_id, batch.chunk)
    if stored is None or stored.dead_lettered:
        # Deleted by a replay in between, or marked by an earlier attempt whose recording failed.
        return None
    return stored


async def replay_batch(pool: asyncpg.Pool, batch: BatchRequest) -> BatchOutcome:
    """Apply a replayed dead letter: drop its dead-letter marker and apply it, in one transaction."""
    assert batch.job_id is not None and batch.chunk is not None
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(DELETE_DEAD_LETTER_MARKER_SQL, batch.job_id, batch.chunk)
        return await apply_batch(conn, batch)
