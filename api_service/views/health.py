"""Liveness and readiness probes."""

import asyncio

from aiohttp import web

from api_service.appkeys import DB_POOL, REDIS
from api_service.errors import json_response

PROBE_TIMEOUT_S = 2.0


async def healthz(request: web.Request) -> web.Response:
    """The process is alive and its event loop answers."""
    return json_response({"status": "ok"})


async def _probe(check) -> bool:  # type: ignore[no-untyped-def]
    try:
        await asyncio.wait_for(check(), PROBE_TIMEOUT_S)
    except Exception:  # noqa: BLE001 - any failure means not ready
        return False
    return True


async def readyz(request: web.Request) -> web.Response:
    """Redis and PostgreSQL both answer; 503 naming the ones that do not."""
    redis_ok = await _probe(request.app[REDIS].ping)
    postgres_ok = await _probe(lambda: request.app[DB_POOL].fetchval("SELECT 1"))
    unreachable = [name for name, ok in (("redis", redis_ok), ("postgresql", postgres_ok)) if not ok]
    status = 503 if unreachable else 200
    return json_response({"status": "ready" if not unreachable else "unavailable", "unreachable": unreachable}, status=status)
