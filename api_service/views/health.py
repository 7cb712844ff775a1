"""Operations endpoints: liveness, readiness and the Prometheus metrics."""

import asyncio
from collections.abc import Awaitable, Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api_service.appkeys import DB_POOL, REDIS
from api_service.errors import RETRY_AFTER_S, ApiError, model_response
from api_service.metrics import METRICS
from shared.logs import get_logger
from shared.models import Health, Readiness

log = get_logger(__name__)

PROBE_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    """Return 200 while the process is alive and its event loop runs."""
    return model_response(Health())


async def _reachable(name: str, check: Callable[[], Awaitable[object]]) -> bool:
    """Run one dependency's check within PROBE_TIMEOUT_S; any failure means unreachable."""
    try:
        await asyncio.wait_for(check(), PROBE_TIMEOUT_S)
    except Exception as error:  # noqa: BLE001 - whatever the failure, the dependency cannot serve
        log.warning("readiness_check_failed", dependency=name, error=repr(error))
        return False
    return True


async def readyz(request: web.Request) -> web.Response:
    """Return 200 when Redis and PostgreSQL both respond, else 503 naming the unreachable ones."""
    checks = {
        "redis": request.app[REDIS].ping,
        "postgresql": lambda: request.app[DB_POOL].fetchval("SELECT 1"),
    }
    results = await asyncio.gather(*(_reachable(name, check) for name, check in checks.items()))
    unreachable = [name for name, ok in zip(checks, results, strict=True) if not ok]

    if unreachable:
        raise ApiError(
            503,
            "not_ready",
            values={"names": ", ".join(unreachable)},
            extra={"unreachable": unreachable},
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    return model_response(Readiness(checks={name: "ok" for name in checks}))


async def metrics(request: web.Request) -> web.Response:
    """Return this process's metrics in the Prometheus text format."""
    body = generate_latest(request.app[METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
