"""Handlers of the job endpoints: progress, listing, failures and cancellation.

A job the caller may not see gets the same 404 as a missing one, so that other users' job ids
cannot be probed.
"""

import re
from zoneinfo import ZoneInfo

from aiohttp import web

from api_service.appkeys import DB_POOL, JOB_STORE, SETTINGS
from api_service.auth import Caller, get_caller
from api_service.errors import REQUEST_ID, ApiError, model_response, request_language
from api_service.job_listing import list_page, parse_cursor
from api_service.job_view import render_failures, render_job, render_summary
from api_service.query_params import int_query, single_query, status_query
from shared import keys
from shared.logs import get_logger
from shared.messages import message
from shared.models import JobCancelled, JobFailures, JobList, JobProgress

log = get_logger(__name__)

# The shape of every job id this service or the original system issued. Checking it first keeps
# path text out of Redis key names, where `x:chunks` would address another job's key.
JOB_ID_PATTERN = re.compile(r"bulk_[0-9a-f]{8,64}_[0-9]{1,12}")

ACTIVE_STATUSES = ("queued", "processing")
MAX_OFFSET = 2**31 - 1
FAILURES_PAGE_DEFAULT = 100
FAILURES_PAGE_MAX = 1000
LIST_PAGE_DEFAULT = 20
LIST_PAGE_MAX = 100

SUMMARY_SQL = """
SELECT job_id, user_id, estado, status, total_leads, successful_leads, failed_leads, cancelled_leads,
       error_message, extract(epoch FROM created_at) AS created_at,
       extract(epoch FROM started_at) AS started_at, extract(epoch FROM completed_at) AS completed_at
FROM crm_bulk_jobs
WHERE job_id = $1
"""

# NOTE: while a job is in Redis its failures come in the order chunks were recorded. Once its
# Redis state expires they come from here in chunk order, so pages read across the expiry can
# differ in order.
FAILURES_SQL = """
SELECT failed.id, failed.code
FROM crm_bulk_job_chunks AS chunk,
     unnest(chunk.failed_ids, chunk.failed_codes) AS failed (id, code)
WHERE chunk.job_id = $1
ORDER BY chunk.chunk, failed.id
OFFSET $2 LIMIT $3
"""


def _not_found() -> ApiError:
    return ApiError(404, "job_not_found")


def _visible(fields: dict[str, str], caller: Caller) -> bool:
    return caller.is_admin or int(fields["user_id"]) == caller.user_id


def _zone(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SETTINGS].timezone)


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if not JOB_ID_PATTERN.fullmatch(job_id):
        raise _not_found()
    return job_id


async def _load_summary(request: web.Request, job_id: str) -> dict[str, str] | None:
    """Read a job whose Redis state has expired from its durable summary."""
    row = await request.app[DB_POOL].fetchrow(SUMMARY_SQL, job_id)
    if row is None:
        return None
    return {key: ("" if value is None else str(value)) for key, value in dict(row).items()}


async def _find_job(
    request: web.Request, job_id: str, failures_limit: int
) -> tuple[dict[str, str], list[str] | None]:
    """Return the job's fields and inline failures (None when only its summary is left), or 404."""
    caller = get_caller(request)
    stored = await request.app[JOB_STORE].read(job_id, failures_limit)
    if stored is not None:
        fields, failures = stored
        if not _visible(fields, caller):
            raise _not_found()
        return fields, failures

    summary = await _load_summary(request, job_id)
    if summary is None or not _visible(summary, caller):
        raise _not_found()
    return summary, None


async def _failures_from_database(
    request: web.Request, job_id: str, offset: int, limit: int
) -> list[str]:
    rows = await request.app[DB_POOL].fetch(FAILURES_SQL, job_id, offset, limit)
    return [f"{row['id']}:{row['code']}" for row in rows]


async def get_job(request: web.Request) -> web.Response:
    """GET /api/crm/jobs/{job_id}: the job's progress, failures inline up to the configured cap."""
    job_id = _job_id(request)
    body = await _render_progress(request, job_id)
    return model_response(body)


async def _render_progress(request: web.Request, job_id: str) -> JobProgress:
    """Read a job the caller may see and render its progress body."""
    settings = request.app[SETTINGS]
    inline_limit = settings.failed_details_inline_max
    fields, failures = await _find_job(request, job_id, inline_limit)
    if failures is None:
        failures = await _failures_from_database(request, job_id, 0, inline_limit)

    failures_url = (
        f"{settings.normalized_prefix}/api/crm/jobs/{job_id}/failures?offset={inline_limit}"
    )
    return render_job(
        fields,
        failures,
        language=request_language(request),
        zone=_zone(request),
        inline_limit=inline_limit,
        failures_url=failures_url,
    )


async def get_job_failures(request: web.Request) -> web.Response:
    """GET /api/crm/jobs/{job_id}/failures: every failed lead, a page at a time."""
    job_id = _job_id(request)
    offset = int_query(request, "offset", default=0, minimum=0, maximum=MAX_OFFSET)
    limit = int_query(
        request, "limit", default=FAILURES_PAGE_DEFAULT, minimum=1, maximum=FAILURES_PAGE_MAX
    )
    fields, failures = await _find_job(request, job_id, 0)

    if failures is None:
        page = await _failures_from_database(request, job_id, offset, limit)
    else:
        page = await request.app[JOB_STORE].read_failures(job_id, offset, limit)

    body = JobFailures(
        job_id=job_id,
        total=int(fields.get("failed_leads") or 0),
        offset=offset,
        limit=limit,
        failed_details=render_failures(page, request_language(request)),
    )
    return model_response(body)


def _job_finished(status: str) -> ApiError:
    return ApiError(409, "job_finished", values={"status": status}, extra={"status": status})


async def cancel_job(request: web.Request) -> web.Response:
    """DELETE /api/crm/jobs/{job_id}: skip the chunks not yet applied; 409 once the job finished."""
    job_id = _job_id(request)
    fields, _ = await _find_job(request, job_id, 0)
    if fields["status"] not in ACTIVE_STATUSES:
        raise _job_finished(fields["status"])

    settings = request.app[SETTINGS]
    previous = await request.app[JOB_STORE].cancel(
        job_id, int(fields["user_id"]), settings.job_ttl_failed_s
    )
    if previous not in ACTIVE_STATUSES:
        raise _job_finished(previous or fields["status"])
    log.info(
        "job_cancel_requested",
        request_id=request[REQUEST_ID],
        job_id=job_id,
        previous_status=previous,
    )

    progress = await _render_progress(request, job_id)
    body = JobCancelled(
        **progress.model_dump(), message=message("job_cancelled", request_language(request))
    )
    return model_response(body)


async def list_jobs(request: web.Request) -> web.Response:
    """GET /api/crm/jobs: the caller's kept jobs (every job for admins), newest first."""
    caller = get_caller(request)
    limit = int_query(request, "limit", default=LIST_PAGE_DEFAULT, minimum=1, maximum=LIST_PAGE_MAX)
    status = status_query(request)
    cursor = parse_cursor(single_query(request, "cursor"))
    index = keys.ALL_JOBS if caller.is_admin else keys.user_jobs(caller.user_id)

    page = await list_page(request.app[JOB_STORE].redis, index, cursor, limit, status)
    zone = _zone(request)
    body = JobList(
        jobs=[render_summary(fields, zone) for fields in page.jobs], next_cursor=page.next_cursor
    )
    return model_response(body)
