"""Rendering of a stored job as the contract's progress body."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.messages import Language, lead_error

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


def format_timestamp(epoch: str | float | None, zone: ZoneInfo) -> str | None:
    """Render epoch seconds as `YYYY-MM-DD HH:MM:SS` in `zone`; None until the moment happens."""
    if epoch in (None, ""):
        return None
    return datetime.fromtimestamp(float(epoch), zone).strftime(TIMESTAMP_FORMAT)


def parse_failure(entry: str) -> tuple[int, str]:
    lead_id, _, code = entry.partition(":")
    return int(lead_id), code


def render_failures(entries: list[str], language: Language) -> list[dict[str, Any]]:
    failures = (parse_failure(entry) for entry in entries)
    return [{"lead_id": lead_id, "error": lead_error(code, language)} for lead_id, code in failures]


def render_job(
    fields: dict[str, str],
    failures: list[str],
    *,
    language: Language,
    zone: ZoneInfo,
    inline_limit: int,
    failures_url: str,
) -> dict[str, Any]:
    """Build the progress body; processed_leads is successful + failed by construction."""
    total = int(fields["total_leads"])
    successful = int(fields.get("successful_leads", 0))
    failed = int(fields.get("failed_leads", 0))
    processed = successful + failed
    status = fields["status"]

    body: dict[str, Any] = {
        "success": True,
        "job_id": fields["job_id"],
        "status": status,
        "total_leads": total,
        "processed_leads": processed,
        "successful_leads": successful,
        "failed_leads": failed,
        "estado": fields["estado"],
        "progress_percent": round(processed / total * 100, 2) if total else 100.0,
        "created_at": format_timestamp(fields.get("created_at"), zone),
        "started_at": format_timestamp(fields.get("started_at"), zone),
        "completed_at": format_timestamp(fields.get("completed_at"), zone),
    }
    if status == "cancelled":
        body["cancelled_leads"] = int(fields.get("cancelled_leads", 0))
    if fields.get("error_message"):
        body["error_message"] = fields["error_message"]
    if failed:
        body["failed_details"] = render_failures(failures, language)
        if failed > inline_limit:
            body["failed_details_truncated"] = True
            body["failed_details_url"] = failures_url
    return body


def render_summary(fields: dict[str, str], zone: ZoneInfo) -> dict[str, Any]:
    """A job's entry in the job listing: the progress body without failure details."""
    total = int(fields["total_leads"])
    processed = int(fields.get("successful_leads", 0)) + int(fields.get("failed_leads", 0))
    return {
        "job_id": fields["job_id"],
        "status": fields["status"],
        "estado": fields["estado"],
        "total_leads": total,
        "processed_leads": processed,
        "successful_leads": int(fields.get("successful_leads", 0)),
        "failed_leads": int(fields.get("failed_leads", 0)),
        "progress_percent": round(processed / total * 100, 2) if total else 100.0,
        "created_at": format_timestamp(fields.get("created_at"), zone),
        "completed_at": format_timestamp(fields.get("completed_at"), zone),
    }
