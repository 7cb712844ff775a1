"""The job listing: a user's kept jobs (every job for admins), newest first, a page at a time.

Jobs are indexed in Redis sorted sets scored by creation time in milliseconds. A cursor is the
score and id of the last job of a page, so pages stay stable while new jobs arrive. Jobs created
in the same millisecond are ordered by id, because Redis orders equal scores that way.
"""

import re
from dataclasses import dataclass

from redis.asyncio import Redis

from api_service.query_params import invalid_query
from shared import keys
from shared.logs import get_logger

log = get_logger(__name__)

CURSOR_PATTERN = re.compile(r"([0-9]{1,16}):(bulk_[0-9a-f]{8,64}_[0-9]{1,12})")
BATCH = 100
# Maximum index entries examined per request, so that a status filter matching few jobs cannot
# make one request walk a whole index. The page then ends early and its cursor continues the walk.
SCAN_MAX = 2000

LISTING_FIELDS = (
    "job_id",
    "user_id",
    "status",
    "estado",
    "total_leads",
    "successful_leads",
    "failed_leads",
    "cancelled_leads",
    "error_message",
    "created_at",
    "started_at",
    "completed_at",
)


@dataclass(frozen=True)
class Cursor:
    """Position in an index: the score (creation time in ms) and id of a job."""

    score: int
    job_id: str

    def encode(self) -> str:
        return f"{self.score}:{self.job_id}"


@dataclass(frozen=True)
class JobPage:
    jobs: list[dict[str, str]]
    next_cursor: str | None


def parse_cursor(raw: str) -> Cursor | None:
    """Decode a `next_cursor` given back by the caller; None for the first page."""
    if raw == "":
        return None
    match = CURSOR_PATTERN.fullmatch(raw)
    if match is None:
        raise invalid_query("cursor", "invalid_query_cursor")
    return Cursor(int(match.group(1)), match.group(2))


def _cursors(reply: list[tuple[bytes, float]]) -> list[Cursor]:
    return [Cursor(int(score), member.decode()) for member, score in reply]


async def _entries_after(
    redis: Redis, index: str, cursor: Cursor | None, count: int
) -> list[Cursor]:
    """Up to `count` index entries after `cursor`, newest first."""
    if cursor is None:
        reply = await redis.zrevrangebyscore(
            index, "+inf", "-inf", start=0, num=count, withscores=True
        )
        return _cursors(reply)

    async with redis.pipeline(transaction=False) as pipe:
        pipe.zrevrangebyscore(index, cursor.score, cursor.score, withscores=True)
        pipe.zrevrangebyscore(
            index, f"({cursor.score}", "-inf", start=0, num=count, withscores=True
        )
        same_ms, older = await pipe.execute()
    later_ties = [entry for entry in _cursors(same_ms) if entry.job_id < cursor.job_id]
    return (later_ties + _cursors(older))[:count]


async def _read_jobs(redis: Redis, entries: list[Cursor]) -> list[dict[str, str] | None]:
    """Read the listing fields of each job, or None for a job whose hash has expired."""
    async with redis.pipeline(transaction=False) as pipe:
        for entry in entries:
            pipe.hmget(keys.job(entry.job_id), LISTING_FIELDS)
        replies = await pipe.execute()

    jobs: list[dict[str, str] | None] = []
    for values in replies:
        if values[0] is None:
            jobs.append(None)
            continue
        jobs.append(
            {
                name: value.decode()
                for name, value in zip(LISTING_FIELDS, values, strict=True)
                if value
            }
        )
    return jobs


async def list_page(
    redis: Redis, index: str, cursor: Cursor | None, limit: int, status: str | None
) -> JobPage:
    """Return one page of at most `limit` jobs after `cursor`, filtered by `status` when given.

    The scan looks for one job beyond the page, so the last page returns `next_cursor: null`.
    """
    found: list[tuple[Cursor, dict[str, str]]] = []
    position = cursor
    scanned = 0
    while len(found) <= limit and scanned < SCAN_MAX:
        entries = await _entries_after(redis, index, position, BATCH)
        if not entries:
            return JobPage([fields for _, fields in found], None)
        scanned += len(entries)

        jobs = await _read_jobs(redis, entries)
        await _drop_expired(
            redis,
            index,
            [entry.job_id for entry, job in zip(entries, jobs, strict=True) if job is None],
        )
        for entry, job in zip(entries, jobs, strict=True):
            position = entry
            if job is None or (status is not None and job["status"] != status):
                continue
            found.append((entry, job))
            if len(found) > limit:
                break

    if len(found) > limit:
        return JobPage([fields for _, fields in found[:limit]], found[limit - 1][0].encode())
    next_cursor = position.encode() if position is not None else None
    return JobPage([fields for _, fields in found], next_cursor)


async def _drop_expired(redis: Redis, index: str, job_ids: list[str]) -> None:
    """Remove index entries whose job hash has expired, so later pages do not read them again."""
    if not job_ids:
        return
    await redis.zrem(index, *job_ids)
    log.info("job_index_pruned", index=index, jobs=len(job_ids))
