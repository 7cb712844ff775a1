"""Handlers of the two bulk endpoints: the async job submission and the synchronous batch."""

import secrets
import time

from aiohttp import web

from api_service.accepted_job import AcceptedJob
from api_service.appkeys import CATALOG, DB_POOL, JOB_STORE, SETTINGS
from api_service.auth import Caller, get_caller
from api_service.errors import REQUEST_ID, ApiError, model_response, request_language
from api_service.idempotency import idempotency_claim, read_idempotency_key
from api_service.prevalidation import prevalidate
from api_service.rate_limits import RateLimitExceeded, limits_now
from api_service.request_body import BulkRequest, parse_bulk_body
from shared.job_submission import EnqueueResult, NewJob, encode_chunks
from shared.lead_repository import BatchOutcome, BatchRequest, apply_batch
from shared.logs import get_logger
from shared.messages import Language, lead_error, message
from shared.models import SyncLeadFailure, SyncResult

log = get_logger(__name__)


def new_job_id(now: float) -> str:
    """`bulk_<16 random hex digits>_<unix seconds>`: the original shape, but unguessable."""
    return f"bulk_{secrets.token_hex(8)}_{int(now)}"


async def parse_bulk_request(request: web.Request) -> BulkRequest:
    settings = request.app[SETTINGS]
    return await parse_bulk_body(
        request,
        request.app[CATALOG].current,
        settings.max_body_bytes,
        settings.max_leads_per_job,
        settings.observaciones_max_chars,
    )


def new_job(bulk: BulkRequest, caller: Caller, chunk_size: int, now: float) -> NewJob:
    return NewJob(
        job_id=new_job_id(now),
        user_id=caller.user_id,
        is_admin=caller.is_admin,
        estado=bulk.estado,
        observaciones=bulk.observaciones,
        history_text=bulk.history_text,
        total_leads=len(bulk.lead_ids),
        duplicates_removed=bulk.duplicates_removed,
        chunks=encode_chunks(bulk.lead_ids, chunk_size),
        created_at=now,
    )


async def expected_failures(
    request: web.Request, caller: Caller, lead_ids: list[int]
) -> list[tuple[int, str]]:
    """Pre-validate jobs up to PREVALIDATE_MAX_LEADS; larger ones report failures in the job only."""
    if len(lead_ids) > request.app[SETTINGS].prevalidate_max_leads:
        return []
    return await prevalidate(request.app[DB_POOL], caller, lead_ids)


def rejection_error(result: EnqueueResult) -> ApiError:
    """Return the error for a request that the enqueue script neither accepted nor replayed."""
    if result.outcome == "conflict":
        return ApiError(422, "idempotency_key_reused")
    return RateLimitExceeded(result.limit, result.limit_value, result.retry_after_s)


async def submit_bulk_job(request: web.Request) -> web.Response:
    """POST /api/crm/leads/bulk-status-async: validate, enqueue in one atomic step, respond 202."""
    settings = request.app[SETTINGS]
    caller = get_caller(request)
    idempotency_key = read_idempotency_key(request)
    bulk = await parse_bulk_request(request)
    warnings = await expected_failures(request, caller, bulk.lead_ids)

    now = time.time()
    job = new_job(bulk, caller, settings.chunk_size, now)
    accepted = AcceptedJob(job.job_id, job.total_leads, job.duplicates_removed, warnings)
    claim = None
    if idempotency_key is not None:
        claim = idempotency_claim(
            idempotency_key, job, accepted.record(), settings.idempotency_ttl_s
        )

    result = await request.app[JOB_STORE].enqueue(job, limits_now(settings, now), claim)
    log_submission(request, caller, job, result, len(warnings))
    if result.outcome in ("conflict", "limited"):
        raise rejection_error(result)

    headers: dict[str, str] = {}
    if result.outcome == "replayed":
        accepted = AcceptedJob.from_record(result.job_id, result.record)
        headers["Idempotent-Replayed"] = "true"
    return accepted_response(request, accepted, headers)


def accepted_response(
    request: web.Request, accepted: AcceptedJob, headers: dict[str, str]
) -> web.Response:
    status_url = f"{request.app[SETTINGS].normalized_prefix}/api/crm/jobs/{accepted.job_id}"
    body = accepted.response_body(status_url, request_language(request))
    return model_response(
        body, status=202, headers={"Location": status_url, "Retry-After": "1", **headers}
    )


def log_submission(
    request: web.Request, caller: Caller, job: NewJob, result: EnqueueResult, warnings: int
) -> None:
    """Log one line per submission: the job accepted, the first job replayed, or the rejection."""
    fields = {
        "request_id": request[REQUEST_ID],
        "user_id": caller.user_id,
        "total_leads": job.total_leads,
    }
    if result.outcome == "accepted":
        log.info(
            "job_accepted",
            job_id=job.job_id,
            chunks=len(job.chunks),
            request_seq=result.request_seq,
            warnings=warnings,
            **fields,
        )
    elif result.outcome == "limited":
        log.info(
            "job_rate_limited", limit=result.limit, retry_after_s=result.retry_after_s, **fields
        )
    else:
        log.info("job_idempotency_" + result.outcome, job_id=result.job_id, **fields)


async def update_leads_now(request: web.Request) -> web.Response:
    """POST /api/crm/leads/bulk-status: apply up to SYNC_MAX_LEADS leads in one transaction."""
    settings = request.app[SETTINGS]
    caller = get_caller(request)
    bulk = await parse_bulk_request(request)

    limit = settings.sync_max_leads
    received = len(bulk.lead_ids)
    if received > limit:
        raise ApiError(
            400,
            "too_many_leads",
            values={"limit": limit},
            extra={"received": received, "max_leads": limit},
        )

    request_seq = await request.app[JOB_STORE].next_request_seq()
    batch = BatchRequest(
        lead_ids=bulk.lead_ids,
        estado=bulk.estado,
        request_seq=request_seq,
        actor_user_id=caller.user_id,
        is_admin=caller.is_admin,
        observaciones=bulk.history_text,
    )
    outcome = await apply_batch(request.app[DB_POOL], batch)
    log.info(
        "sync_batch_applied",
        request_id=request[REQUEST_ID],
        user_id=caller.user_id,
        total_leads=outcome.lead_count,
        failed=len(outcome.failures),
        superseded=outcome.superseded,
        request_seq=request_seq,
    )

    body = sync_result(bulk, outcome, request_language(request))
    return model_response(body, status=sync_status(outcome))


def sync_status(outcome: BatchOutcome) -> int:
    """Return 200 when every lead changed, 207 when some did, 400 when none did."""
    if not outcome.failures:
        return 200
    if outcome.successful:
        return 207
    return 400


def sync_result(bulk: BulkRequest, outcome: BatchOutcome, language: Language) -> SyncResult:
    """Build the contract's sync body; a lead superseded by a later request counts as updated."""
    updated = outcome.successful
    return SyncResult(
        success=updated > 0,
        error=None if updated else "no_leads_updated",
        message=message("sync_result", language, updated=updated, total=outcome.lead_count),
        updated=updated,
        failed=len(outcome.failures),
        total=outcome.lead_count,
        estado_nuevo=bulk.estado,
        failed_leads=[
            SyncLeadFailure(lead_id=lead_id, message=lead_error(code, language, sync=True))
            for lead_id, code in outcome.failures
        ],
        duplicates_removed=bulk.duplicates_removed or None,
    )
