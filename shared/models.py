"""Request and response bodies of the API, as pydantic models.

The handlers validate with these models and the OpenAPI document is generated from them.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

MAX_BIGINT = 2**63 - 1

LeadId = Annotated[int, Field(gt=0, le=MAX_BIGINT)]


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
    error: str


class JobAccepted(BaseModel):
    success: Literal[True] = True
    job_id: str
    status: Literal["queued"] = "queued"
    total_leads: int
    message: str
    check_status_url: str
    duplicates_removed: int | None = None
    valid_leads_count: int | None = None
    error_rate: str | None = None
    validation_warnings: list[LeadFailure] | None = None


JobStatus = Literal["queued", "processing", "completed", "failed", "cancelled"]


class JobProgress(BaseModel):
    success: Literal[True] = True
    job_id: str
    status: JobStatus
    total_leads: int
    processed_leads: int
    successful_leads: int
    failed_leads: int
    cancelled_leads: int | None = None
    estado: str
    progress_percent: float
    created_at: str
    started_at: str | None
    completed_at: str | None
    error_message: str | None = None
    failed_details: list[LeadFailure] | None = None
    failed_details_truncated: bool | None = None
    failed_details_url: str | None = None


class SyncLeadFailure(BaseModel):
    lead_id: int
    success: Literal[False] = False
    message: str


class SyncResult(BaseModel):
    success: bool
    message: str
    updated: int
    failed: int
    total: int
    estado_nuevo: str
    failed_leads: list[SyncLeadFailure]
    duplicates_removed: int | None = None


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="allow")

    success: Literal[False] = False
    error: str
    message: str
