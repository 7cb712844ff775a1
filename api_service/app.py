"""Application factory: middlewares, routes and the resources each request uses."""

import asyncio
from collections.abc import AsyncIterator

from aiohttp import web
from redis.asyncio import Redis

from api_service.appkeys import CATALOG, DB_POOL, JOB_STORE, REDIS, SETTINGS
from api_service.auth import auth_middleware
from api_service.catalog import CatalogCache
from api_service.errors import error_middleware
from api_service.routes import API_BASE, setup_routes
from shared.db import create_pool
from shared.job_store import JobStore
from shared.logs import get_logger
from shared.settings import Settings

log = get_logger(__name__)


async def redis_context(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    redis = Redis.from_url(settings.redis_url, health_check_interval=30, socket_keepalive=True)
    app[REDIS] = redis
    app[JOB_STORE] = JobStore(redis, settings.stream_key, settings.consumer_group)
    yield
    await redis.aclose()


async def postgres_context(app: web.Application) -> AsyncIterator[None]:
    pool = await create_pool(app[SETTINGS])
    app[DB_POOL] = pool
    yield
    await pool.close()


async def catalog_context(app: web.Application) -> AsyncIterator[None]:
    """Load the state catalog before serving, then keep it fresh in the background."""
    cache = app[CATALOG]
    await cache.refresh(app[DB_POOL])
    task = asyncio.create_task(cache.refresh_forever(app[DB_POOL]))
    yield
    task.cancel()


def create_app(settings: Settings) -> web.Application:
    prefix = settings.normalized_prefix
    app = web.Application(
        middlewares=[error_middleware, auth_middleware(settings, f"{prefix}{API_BASE}", frozenset())],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[CATALOG] = CatalogCache()
    app.cleanup_ctx.extend([redis_context, postgres_context, catalog_context])
    setup_routes(app, prefix)
    return app
