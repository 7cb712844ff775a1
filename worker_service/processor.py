"""Processing of one chunk: decide, apply in PostgreSQL, record progress and acknowledge.

The steps of a chunk's life, and why a crash between any two of them is safe:

1. begin (Redis): skip the chunk if its job is gone or it was already counted.
2. apply (PostgreSQL, one statement): changes leads older than the request, writes history and
   outbox rows, and inserts the chunk marker. A second delivery changes nothing and reads the
   outcome the first one committed.
3. record (Redis, one script): counts the outcome once, then XACK and XDEL.
4. summary (PostgreSQL): for the job's last chunk. The job id stays in the stream's
   unsummarised set until it is written, so another worker writes it after a crash.

Transient PostgreSQL and Redis errors are retried in place with capped backoff, so the worker
keeps the chunk, unacknowledged, through an outage. Any other error leaves the entry pending. It
is claimed again after CLAIM_IDLE_MS, and after MAX_DELIVERIES deliveries the chunk goes to the
dead-letter stream with its leads failed as `dead_letter`.
"""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg

from shared.job_store import ChunkResult, JobStore
from shared.lead_repository import (
    DEAD_LETTER,
    BatchOutcome,
    apply_batch,
    mark_dead_letter,
    replay_batch,
)
from shared.logs import get_logger
from shared.settings import Settings
from worker_service import faults
from worker_service.chunk import ChunkTask
from worker_service.job_summary import SummaryWriter
from worker_service.retry import TRANSIENT_DB_ERRORS, TRANSIENT_REDIS_ERRORS, retry_transient

log = get_logger(__name__)

T = TypeVar("T")


@dataclass
class WorkerStats:
    """Counters published in the worker's heartbeat."""

    chunks_done: int = 0
    leads_done: int = 0
    chunks_failed: int = 0
    dead_letters: int = 0
    retries: int = 0

    def count_retry(self) -> None:
        self.retries += 1


def result_of(outcome: BatchOutcome) -> ChunkResult:
    return ChunkResult(outcome.successful, outcome.failures, superseded=outcome.superseded)


class ChunkProcessor:
    """Chunk applier for one consumer, safe for several concurrent `process` calls."""

    def __init__(
        self, pool: asyncpg.Pool, store: JobStore, settings: Settings, consumer: str
    ) -> None:
        self.pool = pool
        self.store = store
        self.settings = settings
        self.consumer = consumer
        self.stats = WorkerStats()
        self.summaries = SummaryWriter(pool, store)

    async def process(self, task: ChunkTask) -> None:
        """Take one delivered chunk through begin, apply and record, or to the dead letters."""
        started = time.perf_counter()
        bound = log.bind(
            job_id=task.job_id, chunk=task.chunk, consumer=self.consumer, entry_id=task.entry_id
        )

        decision = await self.redis_step(
            lambda: self.store.begin_chunk(
                task.job_id, task.chunk, len(task.lead_ids), replay=task.replay
            ),
            bound,
        )
        if decision == "cancelled":
            # The cancel counted this chunk's leads as cancelled when it found it unstarted.
            bound.info("chunk_cancelled", leads=len(task.lead_ids))
            await self.redis_step(lambda: self.store.ack_entry(task.entry_id), bound)
            self.count_done(task)
            return
        if decision in ("missing", "recorded"):
            bound.warning("chunk_skipped", reason=decision, replay=task.replay)
            await self.redis_step(lambda: self.store.ack_entry(task.entry_id), bound)
            return

        if task.deliveries > self.settings.max_deliveries:
            await self.dead_letter(task, bound, started)
            return

        outcome = await self.apply(task, bound)
        if decision == "replay":
            await self.record_replay(task, result_of(outcome), bound, started)
            return
        # A delivery that lost the race to the chunk's dead letter applied nothing.
        event = "chunk_found_dead_lettered" if outcome.dead_lettered else "chunk_applied"
        await self.record(
            task, result_of(outcome), bound, started, event, first_delivery=outcome.first_delivery
        )

    async def apply(self, task: ChunkTask, bound: Any) -> BatchOutcome:
        """Apply the chunk's one statement, retrying transient failures until it commits."""
        faults.crash_point("before_transaction", task)
        outcome = await retry_transient(
            lambda: self.apply_once(task),
            TRANSIENT_DB_ERRORS,
            bound,
            "chunk_retry",
            self.stats.count_retry,
        )
        faults.crash_point("after_commit", task)
        return outcome

    async def apply_once(self, task: ChunkTask) -> BatchOutcome:
        if faults.FAULT_POINT is not None:
            return await faults.apply_with_fault(self.pool, task)
        if task.replay:
            return await replay_batch(self.pool, task.batch())
        return await apply_batch(self.pool, task.batch())

    async def record(
        self,
        task: ChunkTask,
        result: ChunkResult,
        bound: Any,
        started: float,
        event: str,
        *,
        first_delivery: bool = True,
        dead_letter: bool = False,
    ) -> None:
        """Count the outcome once and acknowledge, then write the summary if it ended the job."""
        settings = self.settings
        finished, _ = await self.redis_step(
            lambda: self.store.record_chunk(
                task.job_id,
                task.user_id,
                task.chunk,
                task.entry_id,
                result,
                settings.job_ttl_completed_s,
                settings.job_ttl_failed_s,
                dead_letter_deliveries=task.deliveries if dead_letter else 0,
            ),
            bound,
        )
        faults.crash_point("after_ack", task)
        self.count_done(task)

        log_method = bound.error if dead_letter else bound.info
        log_method(
            event,
            leads=len(task.lead_ids),
            failed=len(result.failures),
            superseded=result.superseded,
            first_delivery=first_delivery,
            deliveries=task.deliveries,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        if finished:
            await self.summaries.write(task.job_id, bound)

    async def dead_letter(self, task: ChunkTask, bound: Any, started: float) -> None:
        """Give up on a chunk delivered too often: its leads fail as `dead_letter`.

        The dead-letter marker is committed first, so a worker that stalled past CLAIM_IDLE_MS
        cannot apply the chunk afterwards. When a delivery committed the chunk first (only its
        recording failed), that committed outcome is recorded instead.
        """
        committed = await self.db_step(lambda: mark_dead_letter(self.pool, task.batch()), bound)
        if committed is not None:
            await self.record(
                task, result_of(committed), bound, started, "chunk_applied", first_delivery=False
            )
            return

        self.stats.dead_letters += 1
        failures = [(lead_id, DEAD_LETTER) for lead_id in task.lead_ids]
        await self.record(
            task, ChunkResult(0, failures), bound, started, "chunk_dead_lettered", dead_letter=True
        )

    async def record_replay(
        self, task: ChunkTask, result: ChunkResult, bound: Any, started: float
    ) -> None:
        """Replace a replayed chunk's dead-letter outcome, then refresh a finished job's summary."""
        replaced, status = await self.redis_step(
            lambda: self.store.record_replay(
                task.job_id, task.chunk, task.entry_id, result, task.lead_ids
            ),
            bound,
        )
        self.count_done(task)
        bound.info(
            "chunk_replayed",
            replaced=replaced,
            leads=len(task.lead_ids),
            failed=len(result.failures),
            superseded=result.superseded,
            elapsed_ms=round((time.perf_counter() - started) * 1000, 1),
        )
        if replaced and status in ("completed", "cancelled", "failed"):
            await self.summaries.write(task.job_id, bound)

    def count_done(self, task: ChunkTask) -> None:
        self.stats.chunks_done += 1
        self.stats.leads_done += len(task.lead_ids)

    async def redis_step(self, step: Callable[[], Awaitable[T]], bound: Any) -> T:
        return await retry_transient(
            step, TRANSIENT_REDIS_ERRORS, bound, "redis_retry", self.stats.count_retry
        )

    async def db_step(self, step: Callable[[], Awaitable[T]], bound: Any) -> T:
        return await retry_transient(
            step, TRANSIENT_DB_ERRORS, bound, "database_retry", self.stats.count_retry
        )
