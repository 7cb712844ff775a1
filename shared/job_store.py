"""Bulk jobs in Redis: enqueueing a job with its chunks, and recording chunk progress.

Every write is one Lua script, so each step is atomic: a job's hash and all its stream entries
appear together, and a chunk's counters, failures, acknowledgement and removal from the stream
happen together and at most once per chunk.
"""

import time
from dataclasses import dataclass

from redis.asyncio import Redis

from shared import keys

# Stream entry fields: job id, chunk number, request sequence number, actor, admin flag (0/1),
# canonical estado, history text and the comma-separated lead ids.
ENQUEUE_JOB_LUA = """
local seq = redis.call('INCR', KEYS[2])
local chunk_count = #ARGV - 10
redis.call('HSET', KEYS[3],
    'job_id', ARGV[1], 'user_id', ARGV[2], 'is_admin', ARGV[3], 'estado', ARGV[4],
    'observaciones', ARGV[5], 'total_leads', ARGV[7], 'created_at', ARGV[8],
    'duplicates_removed', ARGV[9], 'status', 'queued', 'request_seq', seq,
    'chunk_count', chunk_count, 'chunks_done', 0, 'successful_leads', 0, 'failed_leads', 0,
    'cancelled_leads', 0, 'superseded_leads', 0)
for i = 11, #ARGV do
    redis.call('XADD', KEYS[1], '*', 'job', ARGV[1], 'chunk', i - 11, 'seq', seq,
        'user', ARGV[2], 'admin', ARGV[3], 'estado', ARGV[4], 'obs', ARGV[6], 'ids', ARGV[i])
end
local score = math.floor(tonumber(ARGV[8]) * 1000)
redis.call('ZADD', KEYS[4], score, ARGV[1])
redis.call('ZADD', KEYS[5], score, ARGV[1])
redis.call('SADD', KEYS[6], ARGV[1])
return seq
"""

# Returns 'missing' (no job hash), 'recorded' (chunk already counted), 'cancelled' or 'run'.
BEGIN_CHUNK_LUA = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'missing' end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 'recorded' end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'cancelled' then return 'cancelled' end
if status == 'queued' then
    redis.call('HSET', KEYS[1], 'status', 'processing', 'started_at', ARGV[2])
end
return 'run'
"""

# Counts a chunk once (HSETNX on the chunk number), finishes the job after its last chunk,
# then acknowledges and deletes the stream entry whether or not the chunk was new.
# Returns {1 if the job finished with this chunk else 0, job status}.
RECORD_CHUNK_LUA = """
local finished = 0
local status = redis.call('HGET', KEYS[1], 'status')
if status and redis.call('HSETNX', KEYS[2], ARGV[1], ARGV[5] .. ':' .. ARGV[6] .. ':' .. ARGV[7]) == 1 then
    redis.call('HINCRBY', KEYS[1], 'successful_leads', ARGV[5])
    redis.call('HINCRBY', KEYS[1], 'failed_leads', ARGV[6])
    redis.call('HINCRBY', KEYS[1], 'cancelled_leads', ARGV[7])
    redis.call('HINCRBY', KEYS[1], 'superseded_leads', ARGV[8])
    for i = 12, #ARGV, 500 do
        redis.call('RPUSH', KEYS[3], unpack(ARGV, i, math.min(i + 499, #ARGV)))
    end
    local done = redis.call('HINCRBY', KEYS[1], 'chunks_done', 1)
    if done >= tonumber(redis.call('HGET', KEYS[1], 'chunk_count')) then
        local ttl = tonumber(ARGV[10])
        if status == 'cancelled' then
            ttl = tonumber(ARGV[11])
        else
            status = 'completed'
        end
        if redis.call('HEXISTS', KEYS[1], 'started_at') == 0 then
            redis.call('HSET', KEYS[1], 'started_at', ARGV[9])
        end
        redis.call('HSET', KEYS[1], 'status', status, 'completed_at', ARGV[9])
        redis.call('EXPIRE', KEYS[1], ttl)
        redis.call('EXPIRE', KEYS[2], ttl)
        redis.call('EXPIRE', KEYS[3], ttl)
        redis.call('SREM', KEYS[5], ARGV[2])
        finished = 1
    end
end
redis.call('XACK', KEYS[4], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[4], ARGV[4])
return {finished, status or 'missing'}
"""

# Marks a queued or processing job cancelled; returns the status it had (false when missing).
CANCEL_JOB_LUA = """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return false end
if status == 'queued' or status == 'processing' then
    redis.call('HSET', KEYS[1], 'status', 'cancelled', 'cancel_requested_at', ARGV[1])
end
return status
"""


@dataclass(frozen=True)
class NewJob:
    """A validated job ready to enqueue; `chunks` holds comma-separated lead ids per chunk."""

    job_id: str
    user_id: int
    is_admin: bool
    estado: str
    observaciones: str | None
    history_text: str
    total_leads: int
    duplicates_removed: int
    chunks: list[str]
    created_at: float


@dataclass(frozen=True)
class ChunkResult:
    """A chunk's outcome as recorded in progress."""

    successful: int
    failures: list[tuple[int, str]]
    cancelled: int = 0
    superseded: int = 0


class JobStore:
    """Reads and writes job state in Redis; one instance per process, sharing its client."""

    def __init__(self, redis: Redis, stream_key: str, consumer_group: str) -> None:
        self.redis = redis
        self.stream_key = stream_key
        self.consumer_group = consumer_group
        self._enqueue = redis.register_script(ENQUEUE_JOB_LUA)
        self._begin_chunk = redis.register_script(BEGIN_CHUNK_LUA)
        self._record_chunk = redis.register_script(RECORD_CHUNK_LUA)
        self._cancel = redis.register_script(CANCEL_JOB_LUA)

    async def enqueue(self, job: NewJob) -> int:
        """Write the job hash and all its chunk entries atomically; return its request sequence."""
        script_keys = [
            self.stream_key,
            keys.REQUEST_SEQ,
            keys.job(job.job_id),
            keys.user_jobs(job.user_id),
            keys.ALL_JOBS,
            keys.user_pending_jobs(job.user_id),
        ]
        args: list[str | int | float] = [
            job.job_id,
            job.user_id,
            int(job.is_admin),
            job.estado,
            job.observaciones or "",
            job.history_text,
            job.total_leads,
            repr(job.created_at),
            job.duplicates_removed,
            "",
            *job.chunks,
        ]
        return int(await self._enqueue(keys=script_keys, args=args))

    async def next_request_seq(self) -> int:
        """Take a sequence number for a request applied outside the stream (the sync endpoint)."""
        return int(await self.redis.incr(keys.REQUEST_SEQ))

    async def begin_chunk(self, job_id: str, chunk: int) -> str:
        """Mark the job processing; return whether the chunk should run, see BEGIN_CHUNK_LUA."""
        result = await self._begin_chunk(
            keys=[keys.job(job_id), keys.job_chunks(job_id)],
            args=[chunk, repr(time.time())],
        )
        return result.decode() if isinstance(result, bytes) else str(result)

    async def record_chunk(
        self,
        job_id: str,
        user_id: int,
        chunk: int,
        entry_id: str,
        result: ChunkResult,
        ttl_completed_s: int,
        ttl_cancelled_s: int,
    ) -> tuple[bool, str]:
        """Count a chunk's outcome once, ack and delete its entry; return (job finished, status)."""
        script_keys = [
            keys.job(job_id),
            keys.job_chunks(job_id),
            keys.job_failures(job_id),
            self.stream_key,
            keys.user_pending_jobs(user_id),
        ]
        failures = [f"{lead_id}:{code}" for lead_id, code in result.failures]
        args: list[str | int] = [
            chunk,
            job_id,
            self.consumer_group,
            entry_id,
            result.successful,
            len(result.failures),
            result.cancelled,
            result.superseded,
            repr(time.time()),
            ttl_completed_s,
            ttl_cancelled_s,
            *failures,
        ]
        finished, status = await self._record_chunk(keys=script_keys, args=args)
        return bool(finished), status.decode() if isinstance(status, bytes) else str(status)

    async def ack_entry(self, entry_id: str) -> None:
        """Acknowledge and delete an entry whose job no longer exists."""
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream_key, self.consumer_group, entry_id)
            pipe.xdel(self.stream_key, entry_id)
            await pipe.execute()

    async def cancel(self, job_id: str) -> str | None:
        """Request cancellation; return the status the job had, or None when it does not exist."""
        status = await self._cancel(keys=[keys.job(job_id)], args=[repr(time.time())])
        if status is None:
            return None
        return status.decode() if isinstance(status, bytes) else str(status)

    async def read(self, job_id: str, failures_limit: int) -> tuple[dict[str, str], list[str]] | None:
        """Return the job hash and its first `failures_limit` failure entries, or None when missing."""
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.job(job_id))
            if failures_limit > 0:
                pipe.lrange(keys.job_failures(job_id), 0, failures_limit - 1)
            replies = await pipe.execute()

        fields = replies[0]
        if not fields:
            return None
        failures = replies[1] if failures_limit > 0 else []
        decoded = {key.decode(): value.decode() for key, value in fields.items()}
        return decoded, [entry.decode() for entry in failures]

    async def read_failures(self, job_id: str, offset: int, limit: int) -> list[str]:
        entries = await self.redis.lrange(keys.job_failures(job_id), offset, offset + limit - 1)
        return [entry.decode() for entry in entries]
