"""Bulk jobs in Redis: enqueueing a job with its chunks, and recording chunk progress.

Every write is one Lua script, so each step is atomic: a job's hash and all its stream entries
appear together, and a chunk's counters, failures, acknowledgement and removal from the stream
happen together and at most once per chunk.
"""

import time
from dataclasses import dataclass
from importlib import resources

from redis.asyncio import Redis

from shared import keys
from shared.job_submission import (
    EnqueueResult,
    IdempotencyClaim,
    NewJob,
    RateLimits,
    enqueue_args,
    enqueue_keys,
    parse_enqueue_reply,
)

LUA_FOLDER = resources.files("shared") / "lua"


def load_lua(name: str, *helpers: str) -> str:
    """Read one of the Lua scripts kept beside this module, one file per atomic step, after the
    files of the helper functions it calls."""
    parts = [*helpers, name]
    return "\n".join((LUA_FOLDER / f"{part}.lua").read_text(encoding="utf-8") for part in parts)


@dataclass(frozen=True)
class ChunkResult:
    """A chunk's outcome as recorded in progress."""

    successful: int
    failures: list[tuple[int, str]]
    superseded: int = 0


class JobStore:
    """Reads and writes job state in Redis; one instance per process, sharing its client."""

    def __init__(self, redis: Redis, stream_key: str, consumer_group: str) -> None:
        self.redis = redis
        self.stream_key = stream_key
        self.consumer_group = consumer_group
        self._enqueue = redis.register_script(load_lua("enqueue_job"))
        self._begin_chunk = redis.register_script(load_lua("begin_chunk"))
        self._record_chunk = redis.register_script(load_lua("record_chunk", "end_job"))
        self._record_replay = redis.register_script(load_lua("record_replay"))
        self._cancel = redis.register_script(load_lua("cancel_job", "end_job"))
        self._read = redis.register_script(load_lua("read_job"))

    async def enqueue(
        self, job: NewJob, limits: RateLimits, claim: IdempotencyClaim | None = None
    ) -> EnqueueResult:
        """Replay an idempotent request, reject one over a rate limit, or write the job hash and
        all its chunk entries, in one atomic step (see enqueue_job.lua)."""
        script_keys = enqueue_keys(job, limits, claim, self.stream_key)
        reply = await self._enqueue(keys=script_keys, args=enqueue_args(job, limits, claim))
        return parse_enqueue_reply(reply)

    async def next_request_seq(self) -> int:
        """Take a sequence number for a request applied outside the stream (the sync endpoint)."""
        return int(await self.redis.incr(keys.REQUEST_SEQ))

    async def begin_chunk(
        self, job_id: str, chunk: int, lead_count: int, *, replay: bool = False
    ) -> str:
        """Mark the job processing and return 'run', 'replay', 'cancelled', 'recorded' or 'missing'.

        See begin_chunk.lua. `replay` is set for a dead letter that an operator sent back.
        """
        result = await self._begin_chunk(
            keys=[keys.job(job_id), keys.job_chunks(job_id)],
            args=[chunk, repr(time.time()), int(replay), lead_count],
        )
        return _text(result)

    async def record_chunk(
        self,
        job_id: str,
        user_id: int,
        chunk: int,
        entry_id: str,
        result: ChunkResult,
        ttl_completed_s: int,
        ttl_cancelled_s: int,
        *,
        dead_letter_deliveries: int = 0,
    ) -> tuple[bool, str]:
        """Count a chunk's outcome once, ack and delete its entry, return (job finished, status).

        With `dead_letter_deliveries` > 0 the entry is also copied to the dead-letter stream,
        in the same atomic step, with that delivery count.
        """
        script_keys = [
            keys.job(job_id),
            keys.job_chunks(job_id),
            keys.job_failures(job_id),
            self.stream_key,
            keys.user_pending_jobs(user_id),
            keys.dead_letters(self.stream_key),
            keys.EXPIRING_JOBS,
            keys.unsummarised_jobs(self.stream_key),
        ]
        args: list[str | int] = [
            chunk,
            job_id,
            self.consumer_group,
            entry_id,
            result.successful,
            len(result.failures),
            result.superseded,
            repr(time.time()),
            ttl_completed_s,
            ttl_cancelled_s,
            user_id,
            int(dead_letter_deliveries > 0),
            dead_letter_deliveries,
            *_failure_entries(result),
        ]
        finished, status = await self._record_chunk(keys=script_keys, args=args)
        return bool(finished), _text(status)

    async def record_replay(
        self, job_id: str, chunk: int, entry_id: str, result: ChunkResult, lead_ids: list[int]
    ) -> tuple[bool, str]:
        """Replace a dead-lettered chunk's outcome with its replay's, return (replaced, status)."""
        script_keys = [
            keys.job(job_id),
            keys.job_chunks(job_id),
            keys.job_failures(job_id),
            self.stream_key,
            keys.unsummarised_jobs(self.stream_key),
        ]
        args: list[str | int] = [
            chunk,
            job_id,
            self.consumer_group,
            entry_id,
            result.successful,
            len(result.failures),
            result.superseded,
            repr(time.time()),
            len(lead_ids),
            *lead_ids,
            *_failure_entries(result),
        ]
        replaced, status = await self._record_replay(keys=script_keys, args=args)
        return bool(replaced), _text(status)

    async def ack_entry(self, entry_id: str) -> None:
        """Acknowledge and delete an entry that has nothing left to record."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream_key, self.consumer_group, entry_id)
            pipe.xdel(self.stream_key, entry_id)
            await pipe.execute()

    async def cancel(self, job_id: str, user_id: int, ttl_cancelled_s: int) -> str | None:
        """Cancel a job (see cancel_job.lua); return the status it had, or None when it is missing."""
        script_keys = [
            keys.job(job_id),
            keys.job_chunks(job_id),
            keys.job_failures(job_id),
            keys.user_pending_jobs(user_id),
            keys.EXPIRING_JOBS,
            keys.unsummarised_jobs(self.stream_key),
        ]
        status = await self._cancel(
            keys=script_keys, args=[repr(time.time()), ttl_cancelled_s, user_id, job_id]
        )
        return None if status is None else _text(status)

    async def read(self, job_id: str, failures_limit: int) -> tuple[dict[str, str], list[str]] | None:
        """Return the job hash and its first `failures_limit` failure entries, or None when missing.

        One script call rather than a pipeline: status reads are the hottest path of the API.
        """
        reply = await self._read(
            keys=[keys.job(job_id), keys.job_failures(job_id)], args=[max(failures_limit, 0)]
        )
        if not reply:
            return None

        flat, failures = reply
        fields = {_text(flat[i]): _text(flat[i + 1]) for i in range(0, len(flat), 2)}
        return fields, [_text(entry) for entry in failures]

    async def read_failures(self, job_id: str, offset: int, limit: int) -> list[str]:
        entries = await self.redis.lrange(keys.job_failures(job_id), offset, offset + limit - 1)
        return [entry.decode() for entry in entries]


def _failure_entries(result: ChunkResult) -> list[str]:
    return [f"{lead_id}:{code}" for lead_id, code in result.failures]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
