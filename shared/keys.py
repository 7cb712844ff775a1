"""Redis key names, in one place, each with the reason for its lifetime.

Job keys live until the job finishes, then expire after the retention set for its final status
(JOB_TTL_COMPLETED_S or JOB_TTL_FAILED_S). Everything else is either bounded by a TTL or by the
number of jobs still kept.
"""

# Global counter that gives each accepted request (async job or sync call) its sequence number.
# A lead keeps the number of the last request applied to it, so this key never expires.
REQUEST_SEQ = "crm:request_seq"

# Sorted set of every kept job id scored by creation time, for the admins' job listing.
# Members are removed after the job's hash expires (see EXPIRING_JOBS below).
ALL_JOBS = "crm:jobs"


# Prefix of the job hashes; the enqueue script reads the pending jobs' hashes through it.
JOB_PREFIX = "crm:job:"


def job(job_id: str) -> str:
    """Hash with a job's parameters, status, counters and timestamps."""
    return f"{JOB_PREFIX}{job_id}"


def job_chunks(job_id: str) -> str:
    """Hash of chunk number to outcome; a chunk counts in progress only once it is recorded here."""
    return f"crm:job:{job_id}:chunks"


def job_failures(job_id: str) -> str:
    """List of `lead_id:code` entries, one per failed lead, in the order chunks finished."""
    return f"crm:job:{job_id}:failures"


def user_jobs(user_id: int) -> str:
    """Sorted set of one user's kept job ids scored by creation time."""
    return f"crm:user:{user_id}:jobs"


def user_pending_jobs(user_id: int) -> str:
    """Set of one user's queued or processing job ids, for the pending-jobs rate limit.

    Enqueue adds a job and the record of its last chunk removes it. The enqueue script also
    drops members whose hash is gone or no longer queued or processing, so the set stays bounded.
    """
    return f"crm:user:{user_id}:pending"


def user_daily_usage(user_id: int, day: str) -> str:
    """Hash of the jobs and leads one user submitted on `day` (YYYYMMDD in the configured zone),
    for the per-day rate limits. It expires once the day is over."""
    return f"crm:user:{user_id}:usage:{day}"


def user_cooldown(user_id: int) -> str:
    """String holding a user's last job id, expiring when the cooldown between jobs ends."""
    return f"crm:user:{user_id}:cooldown"


def idempotency(user_id: int, key_digest: str) -> str:
    """Hash with the job first created with an Idempotency-Key, the digest of its request and the
    record of its 202 response. It expires after IDEMPOTENCY_TTL_S (24 hours)."""
    return f"crm:idem:{user_id}:{key_digest}"


# Sorted set of `<user_id>:<job_id>` for finished jobs, scored by the unix time their hash
# expires. Workers use it to drop expired jobs from ALL_JOBS and the user indexes, so its size
# is the number of jobs still kept.
EXPIRING_JOBS = "crm:jobs:expiring"


def unsummarised_jobs(stream_key: str) -> str:
    """Sorted set of finished job ids, scored by finish time, whose PostgreSQL summary is not
    written yet. A member outlives a worker that crashed before writing the summary, so that
    another worker of the stream writes it."""
    return f"{stream_key}:unsummarised"


def dead_letters(stream_key: str) -> str:
    """Stream of chunks that failed on every delivery, kept until an operator handles them."""
    return f"{stream_key}:dead"


# Prefix of the worker heartbeat hashes, for listing live workers with SCAN.
WORKER_PREFIX = "crm:worker:"


def worker(consumer: str) -> str:
    """Hash with a live worker's heartbeat and counters. It expires WORKER_HEARTBEAT_TTL_S after
    the last beat, so a dead worker drops out by itself."""
    return f"{WORKER_PREFIX}{consumer}"
