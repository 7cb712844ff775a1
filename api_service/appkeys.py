"""Typed keys for the resources stored on the aiohttp application."""

import asyncpg
from aiohttp import web
from redis.asyncio import Redis

from api_service.catalog import CatalogCache
from shared.job_store import JobStore
from shared.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
REDIS = web.AppKey("redis", Redis)
DB_POOL = web.AppKey("db_pool", asyncpg.Pool)
JOB_STORE = web.AppKey("job_store", JobStore)
CATALOG = web.AppKey("catalog", CatalogCache)
