"""Application factory: middlewares, routes and the resources each request uses."""

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import orjson
from aiohttp import web
from redis.asyncio import Redis

from api_service.appkeys import CATALOG, DB_POOL, JOB_STORE, REDIS, SETTINGS
from api_service.auth import auth_middleware
from api_service.catalog import CatalogCache
from api_service.errors import error_middleware
from api_service.metrics import METRICS, ApiMetrics, metrics_middleware
from api_service.openapi import build_document
from api_service.routes import API_BASE, SUBMIT_PATH, setup_routes
from api_service.views.docs import OPENAPI_BODY
from shared.db import create_pool
from shared.job_store import JobStore
from shared.logs import get_logger
from shared.settings import Settings

log = get_logger(__name__)

# Exceptions that connecting to a PostgreSQL server that is down or refusing connections raises.
POSTGRES_CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def redis_context(app: web.Application) -> AsyncIterator[None]:
    """Create the Redis client. It connects on first use, so the API starts while Redis is down."""
    settings = app[SETTINGS]
    redis = Redis.from_url(settings.redis_url, health_check_interval=30)
    app[REDIS] = redis
    app[JOB_STORE] = JobStore(redis, settings.stream_key, settings.consumer_group)
    yield
    await redis.aclose()


async def postgres_context(app: web.Application) -> AsyncIterator[None]:
    """Open the pool; while PostgreSQL is down, start with an empty pool that connects on demand.

    The API then starts, /readyz reports PostgreSQL as unreachable and requests get 503 until it is
    back, instead of the process failing to start.
    """
    settings = app[SETTINGS]
    try:
        pool = await create_pool(settings)
    except POSTGRES_CONNECT_ERRORS as error:
        log.error("postgres_unavailable_at_start", error=repr(error))
        pool = await create_pool(settings, min_size=0)
    app[DB_POOL] = pool
    yield
    await pool.close()


async def catalog_context(app: web.Application) -> AsyncIterator[None]:
    """Load the state catalog before serving, then keep it fresh in the background."""
    cache = app[CATALOG]
    try:
        await cache.refresh(app[DB_POOL])
    except POSTGRES_CONNECT_ERRORS as error:
        log.error(
            "catalog_unavailable_at_start", error=repr(error), states=len(cache.current.states)
        )
    task = asyncio.create_task(cache.refresh_forever(app[DB_POOL]))
    yield
    task.cancel()


def create_app(settings: Settings) -> web.Application:
    prefix = settings.normalized_prefix
    metrics = ApiMetrics.create()
    app = web.Application(
        middlewares=[
            metrics_middleware(metrics, f"{prefix}{SUBMIT_PATH}"),
            error_middleware(settings.max_body_bytes),
            auth_middleware(settings, f"{prefix}{API_BASE}"),
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CATALOG] = CatalogCache()
    app[METRICS] = metrics
    app[OPENAPI_BODY] = orjson.dumps(build_document(settings))
    app.cleanup_ctx.extend([redis_context, postgres_context, catalog_context])
    setup_routes(app, prefix)
    return app
