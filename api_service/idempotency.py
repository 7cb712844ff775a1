"""The Idempotency-Key header: one job per user and key within IDEMPOTENCY_TTL_S.

The key itself is never stored: Redis keeps its SHA-256, beside the digest of the normalised
request, so a replay is recognised whatever spelling of the same ids and estado it uses.
"""

import hashlib
import re

import orjson
from aiohttp import web

from api_service.errors import ApiError
from shared.job_submission import IdempotencyClaim, NewJob

HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
KEY_PATTERN = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_CHARS}}}")


def read_idempotency_key(request: web.Request) -> str | None:
    """Return the header's value, or None when absent; 400 unless it is one printable ASCII value."""
    values = request.headers.getall(HEADER, [])
    if not values:
        return None
    if len(values) > 1 or not KEY_PATTERN.fullmatch(values[0]):
        raise ApiError(
            400,
            "invalid_idempotency_key",
            values={"limit": MAX_KEY_CHARS},
            extra={"max_chars": MAX_KEY_CHARS},
        )
    return values[0]


def request_digest(job: NewJob) -> str:
    """Return the SHA-256 of the normalised request: canonical estado, observaciones, distinct ids.

    Chunks are hashed with the commas between them, so the digest does not depend on the chunk
    size in force.
    """
    digest = hashlib.sha256(orjson.dumps([job.estado, job.observaciones]))
    for position, chunk in enumerate(job.chunks):
        digest.update(b"," if position else b"\n")
        digest.update(chunk)
    return digest.hexdigest()


def idempotency_claim(key: str, job: NewJob, record: bytes, ttl_s: int) -> IdempotencyClaim:
    return IdempotencyClaim(
        key_digest=hashlib.sha256(key.encode()).hexdigest(),
        request_digest=request_digest(job),
        record=record,
        ttl_s=ttl_s,
    )
