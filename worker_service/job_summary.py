"""Durable job summaries in PostgreSQL, kept after a finished job's Redis state expires.

The script that records a job's last chunk also adds the job to the stream's unsummarised set,
scored by the finish time. The worker then writes the summary and removes the member. A worker
that dies in between leaves the member behind, and the housekeeping sweep of any worker writes
the summary once the member is older than the sweep's minimum age.
"""

import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared import keys
from shared.job_store import JobStore
from shared.logs import get_logger
from worker_service.retry import TRANSIENT_DB_ERRORS, TRANSIENT_REDIS_ERRORS, retry_transient

log = get_logger(__name__)

FINAL_STATUSES = frozenset({"completed", "cancelled", "failed"})
SWEEP_BATCH = 100

UPSERT_SUMMARY_SQL = """
INSERT INTO crm_bulk_jobs
    (job_id, user_id, estado, observaciones, status, total_leads, successful_leads, failed_leads,
     cancelled_leads, request_seq, error_message, created_at, started_at, completed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (job_id) DO UPDATE SET
    status = EXCLUDED.status,
    successful_leads = EXCLUDED.successful_leads,
    failed_leads = EXCLUDED.failed_leads,
    cancelled_leads = EXCLUDED.cancelled_leads,
    error_message = EXCLUDED.error_message,
    started_at = EXCLUDED.started_at,
    completed_at = EXCLUDED.completed_at
"""


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromtimestamp(float(value), UTC)


async def save_summary(pool: asyncpg.Pool, fields: dict[str, str]) -> None:
    """Upsert the summary of a job from its Redis hash, which is harmless to repeat."""
    await pool.execute(
        UPSERT_SUMMARY_SQL,
        fields["job_id"],
        int(fields["user_id"]),
        fields["estado"],
        fields.get("observaciones") or None,
        fields["status"],
        int(fields["total_leads"]),
        int(fields.get("successful_leads", 0)),
        int(fields.get("failed_leads", 0)),
        int(fields.get("cancelled_leads", 0)),
        int(fields["request_seq"]),
        fields.get("error_message") or None,
        _timestamp(fields["created_at"]),
        _timestamp(fields.get("started_at")),
        _timestamp(fields.get("completed_at")),
    )


class SummaryWriter:
    """Writer of the summaries of one stream's finished jobs."""

    def __init__(self, pool: asyncpg.Pool, store: JobStore) -> None:
        self.pool = pool
        self.store = store
        self.pending_key = keys.unsummarised_jobs(store.stream_key)

    async def write(self, job_id: str, bound: Any) -> bool:
        """Store a finished job's summary and clear its mark, or return False if none is stored."""
        redis = self.store.redis
        stored = await retry_transient(
            lambda: self.store.read(job_id, failures_limit=0),
            TRANSIENT_REDIS_ERRORS,
            bound,
            "redis_retry",
        )
        if stored is None:
            # Its retention ended before any worker wrote the summary: nothing is left to write.
            bound.error("job_summary_lost")
            await redis.zrem(self.pending_key, job_id)
            return False

        fields, _ = stored
        if fields["status"] not in FINAL_STATUSES:
            bound.error("job_summary_not_finished", status=fields["status"])
            await redis.zrem(self.pending_key, job_id)
            return False

        await retry_transient(
            lambda: save_summary(self.pool, fields), TRANSIENT_DB_ERRORS, bound, "database_retry"
        )
        await retry_transient(
            lambda: redis.zrem(self.pending_key, job_id),
            TRANSIENT_REDIS_ERRORS,
            bound,
            "redis_retry",
        )
        bound.info(
            "job_finished",
            status=fields["status"],
            total_leads=int(fields["total_leads"]),
            successful_leads=int(fields["successful_leads"]),
            failed_leads=int(fields["failed_leads"]),
            cancelled_leads=int(fields["cancelled_leads"]),
        )
        return True

    async def sweep(self, consumer: str, min_age_s: float) -> int:
        """Write the summaries left unwritten for `min_age_s` and return how many were written.

        The minimum age keeps the sweep from redoing the write of a worker finishing a job now.
        """
        members = await self.store.redis.zrangebyscore(
            self.pending_key, "-inf", time.time() - min_age_s, start=0, num=SWEEP_BATCH
        )
        written = 0
        for member in members:
            job_id = member.decode()
            bound = log.bind(job_id=job_id, consumer=consumer)
            if await self.write(job_id, bound):
                written += 1
        return written
