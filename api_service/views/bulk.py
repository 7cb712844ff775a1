"""Handlers of the two bulk endpoints: the async job submission and the synchronous batch."""

import secrets
import time

import asyncpg
from aiohttp import web

from api_service.appkeys import CATALOG, DB_POOL, JOB_STORE, SETTINGS
from api_service.auth import Caller, get_caller
from api_service.errors import REQUEST_ID, ApiError, json_response, request_language
from api_service.request_body import BulkRequest, parse_json_object, read_body, validate_bulk_request
from shared.job_store import NewJob
from shared.lead_repository import FORBIDDEN, NOT_FOUND, BatchRequest, apply_batch
from shared.logs import get_logger
from shared.messages import Language, lead_error, message

log = get_logger(__name__)

PREVALIDATE_SQL = "SELECT id, cliente_id FROM crm_leads WHERE id = ANY($1::bigint[])"


def new_job_id(now: float) -> str:
    """`bulk_<16 random hex digits>_<unix seconds>`: the original shape, but unguessable."""
    return f"bulk_{secrets.token_hex(8)}_{int(now)}"


def split_chunks(lead_ids: list[int], chunk_size: int) -> list[str]:
    """Comma-separated lead ids per chunk, the stream entry's compact encoding."""
    return [",".join(map(str, lead_ids[start : start + chunk_size])) for start in range(0, len(lead_ids), chunk_size)]


async def parse_bulk_request(request: web.Request, max_leads: int) -> BulkRequest:
    settings = request.app[SETTINGS]
    body = await read_body(request, settings.max_body_bytes)
    data = parse_json_object(body)
    return validate_bulk_request(data, request.app[CATALOG].current, max_leads, settings.observaciones_max_chars)


async def prevalidate(pool: asyncpg.Pool, caller: Caller, lead_ids: list[int]) -> list[tuple[int, str]]:
    """Report the leads that will fail (missing, or of another client) with one query."""
    rows = await pool.fetch(PREVALIDATE_SQL, lead_ids)
    owners = {row["id"]: row["cliente_id"] for row in rows}

    warnings = []
    for lead_id in lead_ids:
        if lead_id not in owners:
            warnings.append((lead_id, NOT_FOUND))
        elif not caller.is_admin and owners[lead_id] != caller.user_id:
            warnings.append((lead_id, FORBIDDEN))
    return warnings


def accepted_body(
    job: NewJob, status_url: str, warnings: list[tuple[int, str]], language: Language
) -> dict[str, object]:
    body: dict[str, object] = {
        "success": True,
        "job_id": job.job_id,
        "status": "queued",
        "total_leads": job.total_leads,
        "message": message("job_queued", language),
        "check_status_url": status_url,
    }
    if job.duplicates_removed:
        body["duplicates_removed"] = job.duplicates_removed
    if warnings:
        count = len(warnings)
        key = "job_queued_warning_one" if count == 1 else "job_queued_warning_many"
        body["message"] = message(key, language, count=count)
        body["valid_leads_count"] = job.total_leads - count
        body["error_rate"] = f"{count / job.total_leads * 100:.1f}%"
        body["validation_warnings"] = [
            {"lead_id": lead_id, "error": lead_error(code, language)} for lead_id, code in warnings
        ]
    return body


async def submit_bulk_job(request: web.Request) -> web.Response:
    """POST /api/crm/leads/bulk-status-async: validate, enqueue in one atomic step, answer 202."""
    settings = request.app[SETTINGS]
    caller = get_caller(request)
    bulk = await parse_bulk_request(request, settings.max_leads_per_job)

    warnings: list[tuple[int, str]] = []
    if len(bulk.lead_ids) <= settings.prevalidate_max_leads:
        warnings = await prevalidate(request.app[DB_POOL], caller, bulk.lead_ids)

    now = time.time()
    job = NewJob(
        job_id=new_job_id(now),
        user_id=caller.user_id,
        is_admin=caller.is_admin,
        estado=bulk.estado,
        observaciones=bulk.observaciones,
        history_text=bulk.history_text,
        total_leads=len(bulk.lead_ids),
        duplicates_removed=bulk.duplicates_removed,
        chunks=split_chunks(bulk.lead_ids, settings.chunk_size),
        created_at=now,
    )
    request_seq = await request.app[JOB_STORE].enqueue(job)
    log.info(
        "job_accepted",
        request_id=request[REQUEST_ID],
        job_id=job.job_id,
        user_id=caller.user_id,
        total_leads=job.total_leads,
        chunks=len(job.chunks),
        request_seq=request_seq,
        warnings=len(warnings),
    )

    status_url = f"{settings.normalized_prefix}/api/crm/jobs/{job.job_id}"
    body = accepted_body(job, status_url, warnings, request_language(request))
    return json_response(body, status=202, headers={"Location": status_url, "Retry-After": "1"})


async def update_leads_now(request: web.Request) -> web.Response:
    """POST /api/crm/leads/bulk-status: apply up to SYNC_MAX_LEADS leads in one transaction."""
    settings = request.app[SETTINGS]
    caller = get_caller(request)
    language = request_language(request)
    bulk = await parse_bulk_request(request, settings.max_leads_per_job)

    limit = settings.sync_max_leads
    if len(bulk.lead_ids) > limit:
        raise ApiError(
            400, "too_many_leads", values={"limit": limit}, extra={"received": len(bulk.lead_ids), "max_leads": limit}
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

    updated = outcome.successful
    total = outcome.lead_count
    body: dict[str, object] = {
        "success": updated > 0,
        "message": message("sync_result", language, updated=updated, total=total),
        "updated": updated,
        "failed": len(outcome.failures),
        "total": total,
        "estado_nuevo": bulk.estado,
        "failed_leads": [
            {"lead_id": lead_id, "success": False, "message": lead_error(code, language, sync=True)}
            for lead_id, code in outcome.failures
        ],
    }
    if bulk.duplicates_removed:
        body["duplicates_removed"] = bulk.duplicates_removed

    status = 200 if not outcome.failures else 207 if updated else 400
    return json_response(body, status=status)
