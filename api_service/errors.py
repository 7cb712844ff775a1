"""The API's error type and the middleware that renders every error as the contract's JSON body."""

import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import orjson
import redis.exceptions
from aiohttp import web
from pydantic import BaseModel

from shared.logs import get_logger
from shared.messages import Language, message, pick_language
from shared.models import ErrorBody, ResponseBody

log = get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

REQUEST_ID = web.RequestKey("request_id", str)

# A caller's X-Request-ID is echoed and logged only when it cannot forge or flood log lines.
REQUEST_ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")

RETRY_AFTER_S = 5

# Errors meaning Redis or PostgreSQL cannot be reached right now: the request may succeed later.
# asyncpg reports a refused connection as a plain OSError, and TimeoutError is an OSError too.
DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    OSError,
)


class ApiError(Exception):
    """An error returned to the caller: status, error code, message key and extra body fields."""

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
        body = ErrorBody(
            error=self.error,
            message=message(self.message_key, language, **self.values),
            **self.extra,
        )
        return json_response(body.body(), status=self.status, headers=self.headers)


def json_response(
    body: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Serialise with orjson, several times faster than the json module for large bodies."""
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def model_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Return a response model's body, the model that the OpenAPI document describes."""
    body = model.body() if isinstance(model, ResponseBody) else model.model_dump(mode="json")
    return json_response(body, status=status, headers=headers)


def request_language(request: web.Request) -> Language:
    return pick_language(request.headers.get("Accept-Language"))


def service_unavailable() -> ApiError:
    return ApiError(
        503,
        "service_unavailable",
        values={"retry_after": RETRY_AFTER_S},
        extra={"retry_after": RETRY_AFTER_S},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def from_http_exception(error: web.HTTPException, max_body_bytes: int | None) -> ApiError:
    """Translate aiohttp's errors (unknown route, wrong method, oversized body) to the contract."""
    if isinstance(error, web.HTTPMethodNotAllowed):
        allowed = sorted(error.allowed_methods)
        return ApiError(
            405,
            "method_not_allowed",
            values={"method": error.method, "allowed": ", ".join(allowed)},
            extra={"allowed_methods": allowed},
            headers={"Allow": ", ".join(allowed)},
        )
    if error.status == 404:
        return ApiError(404, "not_found")
    if error.status == 413:
        limit = max_body_bytes or 0
        return ApiError(
            413, "payload_too_large", values={"limit": limit}, extra={"max_bytes": limit}
        )
    if error.status >= 500:
        return ApiError(500, "internal_error")
    return ApiError(error.status, "bad_request")


def _request_id(request: web.Request) -> str:
    sent_id = request.headers.get("X-Request-ID", "")
    return sent_id if REQUEST_ID_PATTERN.fullmatch(sent_id) else secrets.token_hex(8)


def error_middleware(max_body_bytes: int | None = None) -> Handler:
    """Give each request an id and turn every exception into the contract's error body.

    Exception text never reaches the caller: it is logged with the request id instead.
    """

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = _request_id(request)
        request[REQUEST_ID] = request_id
        language = request_language(request)
        started = time.perf_counter()

        try:
            response = await handler(request)
        except ApiError as error:
            response = error.to_response(language)
        except web.HTTPException as error:
            response = _http_exception_response(error, max_body_bytes, language)
        except DEPENDENCY_ERRORS as error:
            log.error(
                "dependency_unavailable",
                request_id=request_id,
                path=request.path,
                error=repr(error),
            )
            response = service_unavailable().to_response(language)
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

    return middleware


def _http_exception_response(
    error: web.HTTPException, max_body_bytes: int | None, language: Language
) -> web.StreamResponse:
    """Pass redirects and other non-errors through, and render errors in the contract's body."""
    if error.status < 400:
        return error
    return from_http_exception(error, max_body_bytes).to_response(language)
