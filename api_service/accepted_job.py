"""The 202 response to a job submission, and its record kept with an Idempotency-Key for replays.

The record contains error codes, not texts, so a replay is rendered in the language of the
replaying request.
"""

from dataclasses import dataclass

import orjson

from shared.messages import Language, lead_error, message
from shared.models import JobAccepted, LeadFailure


@dataclass(frozen=True)
class AcceptedJob:
    """The facts a 202 response reports about a job: its size and the leads expected to fail."""

    job_id: str
    total_leads: int
    duplicates_removed: int
    warnings: list[tuple[int, str]]

    def record(self) -> bytes:
        return orjson.dumps(
            {
                "total_leads": self.total_leads,
                "duplicates_removed": self.duplicates_removed,
                "warnings": self.warnings,
            }
        )

    @classmethod
    def from_record(cls, job_id: str, record: bytes) -> "AcceptedJob":
        data = orjson.loads(record)
        warnings = [(int(lead_id), str(code)) for lead_id, code in data["warnings"]]
        return cls(job_id, int(data["total_leads"]), int(data["duplicates_removed"]), warnings)

    def response_body(self, status_url: str, language: Language) -> JobAccepted:
        """Build the contract's 202 body; with warnings, the message counts the leads that may fail."""
        body = JobAccepted(
            job_id=self.job_id,
            total_leads=self.total_leads,
            message=message("job_queued", language),
            check_status_url=status_url,
            duplicates_removed=self.duplicates_removed or None,
        )
        if not self.warnings:
            return body

        count = len(self.warnings)
        key = "job_queued_warning_one" if count == 1 else "job_queued_warning_many"
        body.message = message(key, language, count=count)
        body.valid_leads_count = self.total_leads - count
        body.error_rate = f"{count / self.total_leads * 100:.1f}%"
        body.validation_warnings = [
            LeadFailure(lead_id=lead_id, error=lead_error(code, language))
            for lead_id, code in self.warnings
        ]
        return body
