"""Query string parameters of the job endpoints: each one parsed strictly, or a 400 naming it."""

import re

from aiohttp import web

from api_service.errors import ApiError
from shared.models import JOB_STATUSES

# At most ten digits: large enough for any offset, small enough that int() stays cheap.
DIGITS = re.compile(r"[0-9]{1,10}")


def invalid_query(parameter: str, message_key: str, **values: object) -> ApiError:
    return ApiError(
        400, "invalid_query", message_key, values=values, extra={"parameter": parameter}
    )


def single_query(request: web.Request, name: str) -> str:
    """Return a parameter's single value, or "" when absent. A repeated parameter is a 400."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise invalid_query(name, "invalid_query_repeated", name=name)
    return values[0] if values else ""


def int_query(request: web.Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    """Return an integer parameter within [minimum, maximum], or `default` when absent or empty."""
    raw = single_query(request, name)
    if raw == "":
        return default

    value = int(raw) if DIGITS.fullmatch(raw) else None
    if value is None or not minimum <= value <= maximum:
        raise invalid_query(
            name, "invalid_query_integer", name=name, minimum=minimum, maximum=maximum
        )
    return value


def status_query(request: web.Request) -> str | None:
    """Return the `status` filter: one of the job statuses, or None when absent or empty."""
    raw = single_query(request, "status")
    if raw == "":
        return None
    if raw not in JOB_STATUSES:
        raise invalid_query("status", "invalid_query_status", allowed=", ".join(JOB_STATUSES))
    return raw
