"""Request and response bodies of the API, as pydantic models.

The handlers build their bodies with these models and the OpenAPI document is generated from
them, so the document cannot drift from what the API returns.
"""

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictStr

MAX_BIGINT = 2**63 - 1

LeadId = Annotated[int, Field(gt=0, le=MAX_BIGINT)]

JobStatus = Literal["queued", "processing", "completed", "failed", "cancelled"]
JOB_STATUSES: tuple[str, ...] = get_args(JobStatus)

Timestamp = Annotated[str, Field(description="`YYYY-MM-DD HH:MM:SS` in the configured time zone.")]


class ResponseBody(BaseModel):
    """A response body: optional fields left unset are omitted, required nullable ones stay null."""

    def body(self) -> dict[str, Any]:
        fields = type(self).model_fields
        present = {
            name: _wire(getattr(self, name))
            for name, field in fields.items()
            if getattr(self, name) is not None or field.is_required()
        }
        present.update(self.model_extra or {})
        if "success" in present:
            present = {"success": present.pop("success"), **present}
        return present


def _wire(value: object) -> object:
    """Convert a field value for the wire, dropping unset optional fields of nested bodies too."""
    if isinstance(value, ResponseBody):
        return value.body()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_wire(item) for item in value]
    return value


class BulkStatusRequest(BaseModel):
    """Body of both bulk endpoints. Unknown fields are ignored, as the original system did."""

    model_config = ConfigDict(extra="ignore")

    lead_ids: list[LeadId | Annotated[str, Field(pattern=r"^[0-9]{1,19}$")]] = Field(
        description="Lead ids, as JSON integers or strings of digits; duplicates are removed.",
        min_length=1,
    )
    estado: StrictStr = Field(description="Target state; aliases and any case are accepted.")
    observaciones: StrictStr | None = Field(default=None, description="Note stored in the history.")


class LeadFailure(BaseModel):
    lead_id: int
    error: str = Field(description="Why the lead was not changed, in the request's language.")


class JobAccepted(ResponseBody):
    success: Literal[True] = True
    job_id: str
    status: Literal["queued"] = "queued"
    total_leads: int = Field(description="Distinct lead ids accepted.")
    message: str
    check_status_url: str
    duplicates_removed: int | None = None
    valid_leads_count: int | None = None
    error_rate: str | None = Field(
        default=None, description='Share of leads expected to fail, e.g. "20.0%".'
    )
    validation_warnings: list[LeadFailure] | None = None


class JobSummary(ResponseBody):
    """A job's counts and timestamps; `processed_leads` is successful + failed at every read."""

    job_id: str
    user_id: int = Field(description="The user who submitted the job.")
    status: JobStatus
    estado: str
    total_leads: int
    processed_leads: int
    successful_leads: int
    failed_leads: int
    cancelled_leads: int | None = Field(
        default=None,
        description="Leads skipped by a cancellation; present once a cancel is requested.",
    )
    superseded_leads: int | None = Field(
        default=None,
        description=(
            "Successful leads that a later accepted request had already changed: they keep the"
            " later estado and get no history or outbox row from this job. Absent when zero."
        ),
    )
    progress_percent: float
    created_at: Timestamp
    started_at: Timestamp | None
    completed_at: Timestamp | None
    error_message: str | None = Field(
        default=None, description="Why a failed job could not be done."
    )


class JobProgress(JobSummary):
    success: Literal[True] = True
    failed_details: list[LeadFailure] = Field(
        description="Failed leads, capped inline; see failed_details_url."
    )
    failed_details_truncated: bool | None = None
    failed_details_url: str | None = None


class JobCancelled(JobProgress):
    message: str


class JobList(ResponseBody):
    success: Literal[True] = True
    jobs: list[JobSummary] = Field(description="Newest first.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last one."
    )


class JobFailures(ResponseBody):
    success: Literal[True] = True
    job_id: str
    total: int = Field(description="The job's failed_leads.")
    offset: int
    limit: int
    failed_details: list[LeadFailure]


class SyncLeadFailure(BaseModel):
    lead_id: int
    success: Literal[False] = False
    message: str


class SyncResult(ResponseBody):
    success: bool
    error: str | None = Field(
        default=None, description="`no_leads_updated` in the 400 response, when no lead changed."
    )
    message: str
    updated: int
    failed: int
    total: int
    estado_nuevo: str
    failed_leads: list[SyncLeadFailure]
    duplicates_removed: int | None = None


class Health(ResponseBody):
    status: Literal["ok"] = "ok"


class Readiness(ResponseBody):
    status: Literal["ready"] = "ready"
    checks: dict[str, Literal["ok"]]


class InvalidValue(BaseModel):
    position: int = Field(description="Zero-based position in lead_ids.")
    value: Any = Field(description="The value sent, or its JSON text shortened to 40 characters.")


class ErrorBody(ResponseBody):
    """Every error: a stable code and a message in the request's language, plus named fields."""

    model_config = ConfigDict(extra="allow")

    success: Literal[False] = False
    error: str = Field(description="Stable error code.")
    message: str = Field(description="Spanish by default, English with `Accept-Language: en`.")


class BadRequestError(ErrorBody):
    """A rejected body or parameter; which named fields appear depends on `error`."""

    estados_validos: list[str] | None = Field(default=None, description="With invalid_estado.")
    invalid_values: list[InvalidValue] | None = Field(
        default=None, description="With invalid_lead_ids."
    )
    received: int | None = Field(
        default=None, description="With too_many_leads: distinct ids received."
    )
    max_leads: int | None = None
    max_chars: int | None = None
    repeated_key: str | None = None
    parameter: str | None = Field(
        default=None, description="With invalid_query: the parameter rejected."
    )


class PayloadTooLargeError(ErrorBody):
    max_bytes: int | None = None
    max_leads: int | None = None
    received: int | None = None


class JobFinishedError(ErrorBody):
    error: Literal["job_finished"] = "job_finished"
    status: JobStatus = Field(description="The status the job finished with.")


class RetryLaterError(ErrorBody):
    retry_after: int = Field(description="Seconds to wait, as in the Retry-After header.")


class MethodNotAllowedError(ErrorBody):
    error: Literal["method_not_allowed"] = "method_not_allowed"
    allowed_methods: list[str]


class NotReadyError(ErrorBody):
    error: Literal["not_ready"] = "not_ready"
    unreachable: list[Literal["redis", "postgresql"]]
