"""Fault injection seams for the crash tests, inert unless WORKER_FAULT_POINT is set.

`WORKER_FAULT_POINT=<point>` makes the worker kill itself with SIGKILL when a chunk reaches that
point of its life, as a crash or `kill -9` would. `WORKER_FAULT_JOB=<job_id>` limits it to one
job. Both are read once at import, so in production each seam costs one comparison.

Points: before_transaction, inside_transaction (statement done, COMMIT not sent), after_commit
(committed, not acknowledged), after_ack (counted and acknowledged, summary not written), and
apply_error, which raises instead of killing, to make a chunk fail on every delivery.
"""

import os
import signal

import asyncpg

from shared.lead_repository import BatchOutcome, apply_batch
from shared.logs import get_logger
from worker_service.chunk import ChunkTask

log = get_logger(__name__)

POINTS = frozenset(
    {"before_transaction", "inside_transaction", "after_commit", "after_ack", "apply_error"}
)
FAULT_POINT = os.environ.get("WORKER_FAULT_POINT") or None
FAULT_JOB = os.environ.get("WORKER_FAULT_JOB") or None


class InjectedFault(RuntimeError):
    """The failure that the apply_error fault point raises."""


def armed(point: str, job_id: str) -> bool:
    return FAULT_POINT == point and (FAULT_JOB is None or FAULT_JOB == job_id)


def crash_point(point: str, task: ChunkTask) -> None:
    """Kill this process at once when `point` is the armed fault point."""
    if FAULT_POINT is None or not armed(point, task.job_id):
        return
    log.warning(
        "fault_injected", point=point, job_id=task.job_id, chunk=task.chunk, entry_id=task.entry_id
    )
    os.kill(os.getpid(), signal.SIGKILL)


async def apply_with_fault(pool: asyncpg.Pool, task: ChunkTask) -> BatchOutcome:
    """Apply the chunk with a fault point armed: raise, or die inside an open transaction."""
    if armed("apply_error", task.job_id):
        raise InjectedFault(f"injected failure for chunk {task.chunk} of {task.job_id}")
    if not armed("inside_transaction", task.job_id):
        return await apply_batch(pool, task.batch())

    async with pool.acquire() as conn:
        transaction = conn.transaction()
        await transaction.start()
        outcome = await apply_batch(conn, task.batch())
        crash_point("inside_transaction", task)
        await transaction.commit()
        return outcome
