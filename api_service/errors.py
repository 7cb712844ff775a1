"""The API's error type and the middleware that renders every error as the contract's JSON body."""

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import redis.exceptions
import asyncpg
from aiohttp import web

from shared.logs import get_logger
from shared.messages import Language, message, pick_language

log = get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID = web.RequestKey("request_id", str)


class ApiError(Exception):
    """An error answered to the caller: status, error code, message key and extra body fields."""

    def __init__(
        self,
        status: int,
        error: str,
        message_key: str | None = None,
        *,
        values: dict[str, object] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.message_key = message_key or error
        self.values = values or {}
        self.extra = extra or {}
        self.headers = headers or {}

    def to_response(self, language: Language) -> web.Response:
        body = {
            "success": False,
            "error": self.error,
            "message": message(self.message_key, language, **self.values),
            **self.extra,
        }
        return json_response(body, status=self.status, headers=self.headers)


def json_response(body: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Serialise with orjson, several times faster than the json module for large bodies."""
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def request_language(request: web.Request) -> Language:
    return pick_language(request.headers.get("Accept-Language"))


HTTP_ERRORS = {404: "not_found", 405: "method_not_allowed"}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id, log it, and turn every exception into the contract's error body."""
    request_id = request.headers.get("X-Request-ID") or secrets.token_hex(8)
    request[REQUEST_ID] = request_id
    language = request_language(request)
    started = time.perf_counter()

    try:
        response = await handler(request)
    except ApiError as error:
        response = error.to_response(language)
    except web.HTTPException as error:
        code = HTTP_ERRORS.get(error.status)
        if code is None:
            raise
        response = ApiError(error.status, code).to_response(language)
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError, asyncpg.PostgresConnectionStatusError) as error:
        log.error("dependency_unavailable", request_id=request_id, path=request.path, error=repr(error))
        response = ApiError(
            503, "service_unavailable", values={"retry_after": 5}, extra={"retry_after": 5},
            headers={"Retry-After": "5"},
        ).to_response(language)
    except Exception:
        log.exception("request_failed", request_id=request_id, path=request.path)
        response = ApiError(500, "internal_error").to_response(language)

    response.headers["X-Request-ID"] = request_id
    log.debug(
        "request_done",
        request_id=request_id,
        method=request.method,
        path=request.path,
        status=response.status,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
    )
    return response
