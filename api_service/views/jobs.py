"""Handlers of the job endpoints: progress, listing, failures and cancellation."""

from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from api_service.appkeys import DB_POOL, JOB_STORE, SETTINGS
from api_service.auth import Caller, get_caller
from api_service.errors import REQUEST_ID, ApiError, json_response, request_language
from api_service.job_view import render_failures, render_job, render_summary
from shared import keys
from shared.logs import get_logger

log = get_logger(__name__)

SUMMARY_SQL = """
SELECT job_id, user_id, estado, status, total_leads, successful_leads, failed_leads, cancelled_leads,
       error_message, extract(epoch FROM created_at) AS created_at,
       extract(epoch FROM started_at) AS started_at, extract(epoch FROM completed_at) AS completed_at
FROM crm_bulk_jobs
WHERE job_id = $1
"""

FAILURES_SQL = """
SELECT failed.id, failed.code
FROM crm_bulk_job_chunks AS chunk,
     unnest(chunk.failed_ids, chunk.failed_codes) AS failed (id, code)
WHERE chunk.job_id = $1
ORDER BY chunk.chunk, failed.id
OFFSET $2 LIMIT $3
"""

LIST_FIELDS = ("job_id", "user_id", "status", "estado", "total_leads", "successful_leads", "failed_leads",
               "created_at", "completed_at")
MAX_PAGE = 1000


def _not_found() -> ApiError:
    return ApiError(404, "job_not_found")


def _visible(fields: dict[str, Any], caller: Caller) -> bool:
    return caller.is_admin or int(fields["user_id"]) == caller.user_id


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SETTINGS].timezone)


def _int_query(request: web.Request, name: str, default: int, minimum: int, maximum: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not minimum <= int(raw) <= maximum:
        raise ApiError(400, "invalid_query", values={"name": name, "minimum": minimum, "maximum": maximum})
    return int(raw)


async def _load_summary(request: web.Request, job_id: str) -> dict[str, str] | None:
    """Read a job whose Redis state has expired from its durable summary."""
    row = await request.app[DB_POOL].fetchrow(SUMMARY_SQL, job_id)
    if row is None:
        return None
    return {key: ("" if value is None else str(value)) for key, value in dict(row).items()}


async def _find_job(request: web.Request, job_id: str, failures_limit: int) -> tuple[dict[str, str], list[str] | None]:
    """Return the job's fields and inline failures (None when only the summary is left); 404 otherwise."""
    caller = get_caller(request)
    stored = await request.app[JOB_STORE].read(job_id, failures_limit)
    if stored is not None:
        fields, failures = stored
        if _visible(fields, caller):
            return fields, failures
        raise _not_found()

    summary = await _load_summary(request, job_id)
    if summary is None or not _visible(summary, caller):
        raise _not_found()
    return summary, None


async def _failures_from_database(request: web.Request, job_id: str, offset: int, limit: int) -> list[str]:
    rows = await request.app[DB_POOL].fetch(FAILURES_SQL, job_id, offset, limit)
    return [f"{row['id']}:{row['code']}" for row in rows]


async def get_job(request: web.Request) -> web.Response:
    """GET /api/crm/jobs/{job_id}: the job's progress, failures inline up to the configured cap."""
    settings = request.app[SETTINGS]
    job_id = request.match_info["job_id"]
    inline_limit = settings.failed_details_inline_max
    fields, failures = await _find_job(request, job_id, inline_limit)

    if failures is None:
        failures = await _failures_from_database(request, job_id, 0, inline_limit)

    body = render_job(
        fields,
        failures,
        language=request_language(request),
        zone=_zone(request),
        inline_limit=inline_limit,
        failures_url=f"{settings.normalized_prefix}/api/crm/jobs/{job_id}/failures?offset={inline_limit}",
    )
    return json_response(body)


async def get_job_failures(request: web.Request) -> web.Response:
    """GET /api/crm/jobs/{job_id}/failures: every failed lead, a page at a time."""
    job_id = request.match_info["job_id"]
    offset = _int_query(request, "offset", 0, 0, 2**31 - 1)
    limit = _int_query(request, "limit", 100, 1, MAX_PAGE)
    fields, failures = await _find_job(request, job_id, 0)

    if failures is None:
        page = await _failures_from_database(request, job_id, offset, limit)
    else:
        page = await request.app[JOB_STORE].read_failures(job_id, offset, limit)

    body = {
        "success": True,
        "job_id": job_id,
        "total": int(fields.get("failed_leads") or 0),
        "offset": offset,
        "limit": limit,
        "failed_details": render_failures(page, request_language(request)),
    }
    return json_response(body)


async def cancel_job(request: web.Request) -> web.Response:
    """DELETE /api/crm/jobs/{job_id}: skip the chunks not yet applied; 409 once the job finished."""
    job_id = request.match_info["job_id"]
    store = request.app[JOB_STORE]
    await _find_job(request, job_id, 0)

    previous = await store.cancel(job_id)
    if previous is None or previous not in ("queued", "processing"):
        raise ApiError(409, "job_finished", values={"status": previous or "completed"}, extra={"status": previous})

    log.info("job_cancel_requested", request_id=request[REQUEST_ID], job_id=job_id, previous_status=previous)
    fields, failures = await _find_job(request, job_id, request.app[SETTINGS].failed_details_inline_max)
    body = render_summary(fields, _zone(request))
    body.update({"success": True, "status": "cancelled"})
    return json_response(body)


def _parse_cursor(raw: str | None) -> tuple[str, str | None]:
    """A cursor is `<score>:<job_id>` of the last job of the previous page."""
    if not raw:
        return "+inf", None
    score, _, job_id = raw.partition(":")
    if not score.isdigit() or not job_id:
        raise ApiError(400, "invalid_query", values={"name": "cursor", "minimum": "", "maximum": ""})
    return score, job_id


async def list_jobs(request: web.Request) -> web.Response:
    """GET /api/crm/jobs: the caller's kept jobs (all jobs for admins), newest first."""
    caller = get_caller(request)
    redis = request.app[JOB_STORE].redis
    limit = _int_query(request, "limit", 20, 1, 100)
    status_filter = request.query.get("status") or None
    index_key = keys.ALL_JOBS if caller.is_admin else keys.user_jobs(caller.user_id)
    max_score, after_job = _parse_cursor(request.query.get("cursor"))

    jobs: list[dict[str, Any]] = []
    next_cursor = None
    scanned = 0
    while len(jobs) < limit and scanned < 10_000:
        batch = await redis.zrevrangebyscore(index_key, max_score, "-inf", start=0, num=limit * 2 + 1, withscores=True)
        batch = [(member.decode(), int(score)) for member, score in batch]
        if after_job is not None:
            batch = [(job_id, score) for job_id, score in batch if not (str(score) == max_score and job_id >= after_job)]
        if not batch:
            break
        scanned += len(batch)

        async with redis.pipeline(transaction=False) as pipe:
            for job_id, _ in batch:
                pipe.hmget(keys.job(job_id), LIST_FIELDS)
            rows = await pipe.execute()

        for (job_id, score), values in zip(batch, rows, strict=True):
            max_score, after_job = str(score), job_id
            if values[0] is None:
                await redis.zrem(index_key, job_id)
                continue
            fields = {name: value.decode() for name, value in zip(LIST_FIELDS, values, strict=True) if value is not None}
            if status_filter and fields["status"] != status_filter:
                continue
            jobs.append(render_summary(fields, _zone(request)))
            if len(jobs) == limit:
                next_cursor = f"{score}:{job_id}"
                break

    return json_response({"success": True, "jobs": jobs, "next_cursor": next_cursor})
