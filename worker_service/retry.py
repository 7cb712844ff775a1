"""Retrying a step that failed for a reason that passes: backoff, and which errors qualify."""

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import redis.exceptions

T = TypeVar("T")

RETRY_BASE_S = 0.1
RETRY_MAX_S = 10.0

# PostgreSQL errors after which the same statement can succeed: a lost or refused connection,
# a server shutting down or starting up, exhausted resources, a deadlock or serialization
# failure between concurrent chunks. Data errors are not here: no retry fixes them.
TRANSIENT_DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
    asyncpg.exceptions.TransactionRollbackError,
    asyncpg.InterfaceError,
)

# Redis errors of an unreachable or restarting server. redis-py reconnects on the next call.
TRANSIENT_REDIS_ERRORS: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    OSError,
)


def describe(error: BaseException) -> str:
    """Format an error as `Type: message` for logs, since some print only their type in repr()."""
    return f"{type(error).__name__}: {error}"


def backoff_delay(attempt: int) -> float:
    """Return a capped exponential backoff with full jitter, so workers do not retry in step."""
    return random.uniform(0, min(RETRY_MAX_S, RETRY_BASE_S * 2**attempt))


async def retry_transient(
    step: Callable[[], Awaitable[T]],
    errors: tuple[type[BaseException], ...],
    log: Any,
    event: str,
    on_retry: Callable[[], None] | None = None,
) -> T:
    """Run `step` until it succeeds, sleeping with backoff after each error of `errors`.

    Other errors propagate. There is no attempt limit: a worker keeps its chunk through an
    outage, and the shutdown grace period cancels the wait when the worker stops.
    """
    attempt = 0
    while True:
        try:
            return await step()
        except errors as error:
            delay = backoff_delay(attempt)
            log.warning(event, attempt=attempt + 1, delay_s=round(delay, 3), error=describe(error))
            if on_retry is not None:
                on_retry()
            attempt += 1
            await asyncio.sleep(delay)
