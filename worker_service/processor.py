"""Processing of one chunk: decide, apply in PostgreSQL, record progress, acknowledge."""

import asyncio
import random
import time

import asyncpg

from shared.job_store import ChunkResult, JobStore
from shared.lead_repository import BatchOutcome, apply_batch
from shared.logs import get_logger
from shared.settings import Settings
from worker_service.chunk import ChunkTask
from worker_service.job_summary import save_summary

log = get_logger(__name__)

# Errors after which the same statement can succeed: a lost or refused connection, a server
# shutting down, a deadlock or serialization failure between concurrent chunks.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.InterfaceError,
)
RETRY_BASE_S = 0.1
RETRY_MAX_S = 10.0


def backoff_delay(attempt: int) -> float:
    """Capped exponential backoff with full jitter, so retrying workers do not move in step."""
    return random.uniform(0, min(RETRY_MAX_S, RETRY_BASE_S * 2**attempt))


class ChunkProcessor:
    """Applies chunks for one consumer; safe to run several `process` calls concurrently."""

    def __init__(self, pool: asyncpg.Pool, store: JobStore, settings: Settings, consumer: str) -> None:
        self.pool = pool
        self.store = store
        self.settings = settings
        self.consumer = consumer
        self.chunks_done = 0
        self.leads_done = 0
        self.stopping = asyncio.Event()

    async def process(self, task: ChunkTask) -> None:
        started = time.perf_counter()
        bound = log.bind(job_id=task.job_id, chunk=task.chunk, consumer=self.consumer, entry_id=task.entry_id)

        decision = await self.store.begin_chunk(task.job_id, task.chunk)
        if decision in ("missing", "recorded"):
            bound.warning("chunk_skipped", reason=decision)
            await self.store.ack_entry(task.entry_id)
            return

        if decision == "cancelled":
            result = ChunkResult(successful=0, failures=[], cancelled=len(task.lead_ids))
            first_delivery = True
        else:
            outcome = await self.apply_with_retry(task, bound)
            result = ChunkResult(outcome.successful, outcome.failures, superseded=outcome.superseded)
            first_delivery = outcome.first_delivery

        finished, status = await self.store.record_chunk(
            task.job_id,
            task.user_id,
            task.chunk,
            task.entry_id,
            result,
            self.settings.job_ttl_completed_s,
            self.settings.job_ttl_failed_s,
        )
        self.chunks_done += 1
        self.leads_done += len(task.lead_ids)
        bound.info(
            "chunk_cancelled" if decision == "cancelled" else "chunk_applied",
            leads=len(task.lead_ids),
            failed=len(result.failures),
            superseded=result.superseded,
            first_delivery=first_delivery,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        )

        if finished:
            await self.finish_job(task.job_id, status, bound)

    async def apply_with_retry(self, task: ChunkTask, bound) -> BatchOutcome:  # type: ignore[no-untyped-def]
        """Apply the chunk, retrying transient failures until it commits or the worker stops."""
        attempt = 0
        while True:
            try:
                return await apply_batch(self.pool, task.batch())
            except TRANSIENT_ERRORS as error:
                if self.stopping.is_set() and attempt > 0:
                    raise
                delay = backoff_delay(attempt)
                bound.warning("chunk_retry", attempt=attempt + 1, delay_s=round(delay, 3), error=repr(error))
                attempt += 1
                await asyncio.sleep(delay)

    async def finish_job(self, job_id: str, status: str, bound) -> None:  # type: ignore[no-untyped-def]
        """Keep the finished job's summary in PostgreSQL beyond its Redis retention."""
        stored = await self.store.read(job_id, failures_limit=0)
        if stored is None:
            bound.error("job_summary_missing", status=status)
            return
        fields, _ = stored
        await save_summary(self.pool, fields)
        bound.info(
            "job_finished",
            status=status,
            total_leads=int(fields["total_leads"]),
            successful_leads=int(fields["successful_leads"]),
            failed_leads=int(fields["failed_leads"]),
            cancelled_leads=int(fields["cancelled_leads"]),
        )
