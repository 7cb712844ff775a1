"""Floors measured from bare loops, without the services: what the servers allow on their own.

- (a) is the worker's chunk statement, APPLY_BATCH_SQL, sent exactly as apply_batch sends it.
- (a') is the same chunk work as four plain set-based statements in one transaction per chunk:
  lock in id order, update, history insert, outbox insert.
- (c) parses a submission body with orjson and appends its chunk entries to a stream with one
  minimal Lua script, which measured faster here than one pipeline of XADD commands.

Floor (b), a bare aiohttp handler, runs as its own process: see bench.bare_server.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass

import asyncpg
import orjson
from redis.asyncio import Redis

from shared.lead_repository import APPLY_BATCH_SQL

FLOOR_STREAM_KEY = "crm-bench:floor:stream"

# ARGV: 1 job id, 2 request sequence, 3 user id, 4 estado, 5 history text, 6.. the chunks.
# The entries have the fields the API's enqueue script writes, and nothing else is written.
APPEND_CHUNKS_LUA = """
for i = 6, #ARGV do
    redis.call('XADD', KEYS[1], '*', 'job', ARGV[1], 'chunk', i - 6, 'seq', ARGV[2], 'user', ARGV[3],
        'admin', 1, 'estado', ARGV[4], 'obs', ARGV[5], 'ids', ARGV[i])
end
return #ARGV - 5
"""

LOCK_SQL = """
SELECT id, proveedor_id, proveedor_lead_id, estado_actual
FROM crm_leads
WHERE id = ANY($1::bigint[])
ORDER BY id
FOR UPDATE
"""

UPDATE_SQL = """
UPDATE crm_leads
SET estado_actual = $2, updated_at = now(), last_request_seq = $3
WHERE id = ANY($1::bigint[])
"""

HISTORY_SQL = """
INSERT INTO crm_lead_status_history
    (lead_id, estado_anterior, estado_nuevo, actor_user_id, observaciones, job_id, request_seq)
SELECT lead_id, estado_anterior, $3, $4, $5, $6, $7
FROM unnest($1::bigint[], $2::text[]) AS changed (lead_id, estado_anterior)
"""

OUTBOX_SQL = """
INSERT INTO crm_notifications (user_id, type, event_type, related_lead_id, payload)
SELECT proveedor_id, 'status_updated', 'SEND_TO_PROVIDER', lead_id,
       jsonb_build_object(
           'lead_id', lead_id,
           'proveedor_lead_id', proveedor_lead_id,
           'estado_anterior', estado_anterior,
           'estado_nuevo', $5::text,
           'observaciones', $6::text,
           'actor_user_id', $7::bigint,
           'updated_at', now(),
           'job_id', $8::text,
           'bulk_update', true)
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[])
     AS changed (lead_id, proveedor_id, proveedor_lead_id, estado_anterior)
WHERE proveedor_id IS NOT NULL
"""


@dataclass(frozen=True)
class ChunkedJob:
    """The work of one job as the worker receives it: chunks of lead ids and the request's fields."""

    job_id: str
    chunks: list[list[int]]
    estado: str
    request_seq: int
    actor_user_id: int
    observaciones: str

    @classmethod
    def split(cls, job_id: str, lead_ids: Sequence[int], chunk_size: int, **fields: object) -> "ChunkedJob":
        chunks = [list(lead_ids[start : start + chunk_size]) for start in range(0, len(lead_ids), chunk_size)]
        return cls(job_id=job_id, chunks=chunks, **fields)  # type: ignore[arg-type]

    @property
    def lead_count(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


ChunkStep = Callable[[asyncpg.Connection, ChunkedJob, int, list[int]], Awaitable[None]]


async def worker_statement(conn: asyncpg.Connection, job: ChunkedJob, index: int, lead_ids: list[int]) -> None:
    """Floor (a): one chunk, with the arguments in the order apply_batch passes them."""
    await conn.fetch(
        APPLY_BATCH_SQL,
        lead_ids,
        job.estado,
        job.request_seq,
        True,
        job.actor_user_id,
        job.observaciones,
        job.job_id,
        index,
    )


async def four_statements(conn: asyncpg.Connection, job: ChunkedJob, index: int, lead_ids: list[int]) -> None:
    """Floor (a'): one chunk as lock, update, history insert and outbox insert in one transaction."""
    async with conn.transaction():
        rows = await conn.fetch(LOCK_SQL, lead_ids)
        found = [row["id"] for row in rows]
        previous = [row["estado_actual"] for row in rows]

        await conn.execute(UPDATE_SQL, found, job.estado, job.request_seq)
        await conn.execute(
            HISTORY_SQL, found, previous, job.estado, job.actor_user_id, job.observaciones, job.job_id, job.request_seq
        )
        await conn.execute(
            OUTBOX_SQL,
            found,
            [row["proveedor_id"] for row in rows],
            [row["proveedor_lead_id"] for row in rows],
            previous,
            job.estado,
            job.observaciones,
            job.actor_user_id,
            job.job_id,
        )


async def _drain(conn: asyncpg.Connection, job: ChunkedJob, chunks: Iterator[tuple[int, list[int]]], step: ChunkStep) -> None:
    for index, lead_ids in chunks:
        await step(conn, job, index, lead_ids)


async def run_sql_floor(dsn: str, job: ChunkedJob, step: ChunkStep, connections: int) -> float:
    """Apply every chunk with `connections` connections taking chunks in turn; return the seconds taken."""
    conns = [await asyncpg.connect(dsn) for _ in range(connections)]
    try:
        chunks = iter(enumerate(job.chunks))
        started = time.perf_counter()
        await asyncio.gather(*(_drain(conn, job, chunks, step) for conn in conns))
        return time.perf_counter() - started
    finally:
        for conn in conns:
            await conn.close()


class EnqueueFloor:
    """Floor (c): parse a body with orjson, split it into chunks, append them with one script call."""

    def __init__(self, redis: Redis, chunk_size: int, request_seq: int, user_id: int) -> None:
        self.redis = redis
        self.chunk_size = chunk_size
        self.request_seq = request_seq
        self.user_id = user_id
        self.append_chunks = redis.register_script(APPEND_CHUNKS_LUA)

    async def measure(self, body: bytes) -> float:
        """Return the seconds taken; the floor's stream is deleted afterwards, untimed."""
        started = time.perf_counter()
        data = orjson.loads(body)
        lead_ids = data["lead_ids"]
        size = self.chunk_size
        # orjson writes `[1,2,3]`: without its brackets, the chunk's comma-separated ids.
        chunks = [orjson.dumps(lead_ids[start : start + size])[1:-1] for start in range(0, len(lead_ids), size)]
        await self.append_chunks(
            keys=[FLOOR_STREAM_KEY],
            args=["bulk_floor", self.request_seq, self.user_id, data["estado"], "Actualización masiva de estado", *chunks],
        )
        elapsed = time.perf_counter() - started

        await self.redis.unlink(FLOOR_STREAM_KEY)
        return elapsed
