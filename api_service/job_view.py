"""Rendering of a stored job (its Redis hash or its PostgreSQL summary) as the contract's bodies."""

from datetime import datetime
from zoneinfo import ZoneInfo

from shared.messages import Language, lead_error
from shared.models import JobProgress, JobSummary, LeadFailure

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_timestamp(epoch: str | float | None, zone: ZoneInfo) -> str | None:
    """Render epoch seconds as `YYYY-MM-DD HH:MM:SS` in `zone`; None until the moment happens."""
    if epoch in (None, ""):
        return None
    return datetime.fromtimestamp(float(epoch), zone).strftime(TIMESTAMP_FORMAT)


def parse_failure(entry: str) -> tuple[int, str]:
    """Split a stored `lead_id:code` failure entry."""
    lead_id, _, code = entry.partition(":")
    return int(lead_id), code


def render_failures(entries: list[str], language: Language) -> list[LeadFailure]:
    failures = (parse_failure(entry) for entry in entries)
    return [
        LeadFailure(lead_id=lead_id, error=lead_error(code, language)) for lead_id, code in failures
    ]


def _count(fields: dict[str, str], name: str) -> int:
    return int(fields.get(name) or 0)


def summary_fields(fields: dict[str, str], zone: ZoneInfo) -> dict[str, object]:
    """Return the fields shared by every job body; processed_leads is successful + failed."""
    total = _count(fields, "total_leads")
    successful = _count(fields, "successful_leads")
    failed = _count(fields, "failed_leads")
    processed = successful + failed
    status = fields["status"]

    summary: dict[str, object] = {
        "job_id": fields["job_id"],
        "user_id": int(fields["user_id"]),
        "status": status,
        "estado": fields["estado"],
        "total_leads": total,
        "processed_leads": processed,
        "successful_leads": successful,
        "failed_leads": failed,
        "progress_percent": round(processed / total * 100, 2) if total else 100.0,
        "created_at": format_timestamp(fields.get("created_at"), zone),
        "started_at": format_timestamp(fields.get("started_at"), zone),
        "completed_at": format_timestamp(fields.get("completed_at"), zone),
        "error_message": fields.get("error_message") or None,
    }
    if status == "cancelled" or fields.get("cancel_requested_at"):
        summary["cancelled_leads"] = _count(fields, "cancelled_leads")
    superseded = _count(fields, "superseded_leads")
    if superseded:
        summary["superseded_leads"] = superseded
    return summary


def render_summary(fields: dict[str, str], zone: ZoneInfo) -> JobSummary:
    """Render a job's entry in the job listing: counts and timestamps, no failure details."""
    return JobSummary.model_validate(summary_fields(fields, zone))


def render_job(
    fields: dict[str, str],
    failures: list[str],
    *,
    language: Language,
    zone: ZoneInfo,
    inline_limit: int,
    failures_url: str,
) -> JobProgress:
    """Render the progress body with at most `inline_limit` failures inline and a link to the rest."""
    body = summary_fields(fields, zone)
    body["failed_details"] = render_failures(failures[:inline_limit], language)
    if _count(fields, "failed_leads") > inline_limit:
        body["failed_details_truncated"] = True
        body["failed_details_url"] = failures_url
    return JobProgress.model_validate(body)
