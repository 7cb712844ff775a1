"""Per-user rate limits on job submission: the limits in force now, and the 429 that rejects.

The limits are enforced inside the enqueue script (shared/lua/enqueue_job.lua), so any number
of API processes agree. Days are calendar days in the configured time zone.
"""

import math
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from api_service.errors import ApiError
from shared.job_submission import RateLimits
from shared.messages import Language, message
from shared.settings import Settings

# NOTE: nothing tells when a pending job will finish, so this retry hint is an estimate that suits
# jobs of a few thousand leads. A client may also poll its pending jobs.
PENDING_RETRY_S = 15
DAY_FORMAT = "%Y%m%d"


def limits_now(settings: Settings, now: float) -> RateLimits:
    """Return the configured limits with the current day and the seconds left in it."""
    zone = ZoneInfo(settings.timezone)
    local = datetime.fromtimestamp(now, zone)
    next_midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return RateLimits(
        pending_jobs=settings.rate_limit_pending_jobs,
        jobs_per_day=settings.rate_limit_jobs_per_day,
        leads_per_day=settings.rate_limit_leads_per_day,
        cooldown_s=settings.rate_limit_cooldown_s,
        day=local.strftime(DAY_FORMAT),
        day_left_s=max(1, math.ceil(next_midnight.timestamp() - now)),
        pending_retry_s=PENDING_RETRY_S,
    )


class RateLimitExceeded(ApiError):
    """429 naming the limit reached, in the request's language, and when to retry."""

    def __init__(self, limit: str, limit_value: int, retry_after_s: int) -> None:
        super().__init__(
            429,
            "rate_limit_exceeded",
            values={"retry_after": retry_after_s},
            extra={"retry_after": retry_after_s, "limit": limit, "limit_value": limit_value},
            headers={"Retry-After": str(retry_after_s)},
        )
        self.limit = limit
        self.limit_value = limit_value

    def to_response(self, language: Language) -> web.Response:
        self.values["limit"] = message(f"rate_limit_{self.limit}", language, limit=self.limit_value)
        return super().to_response(language)
