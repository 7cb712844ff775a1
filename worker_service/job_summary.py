"""Durable job summaries in PostgreSQL, written when a job finishes and its Redis state starts expiring."""

from datetime import UTC, datetime

import asyncpg

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
    """Upsert the summary of a job from its Redis hash; rerunning it is harmless."""
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
