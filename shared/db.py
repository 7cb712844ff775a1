"""PostgreSQL connection pool for both services."""

import asyncpg
import orjson

from shared.settings import Settings


async def _init_connection(conn: asyncpg.Connection) -> None:
    """Encode and decode jsonb with orjson, which is several times faster than json."""
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda value: b"\x01" + orjson.dumps(value),
        decoder=lambda data: orjson.loads(data[1:]),
        schema="pg_catalog",
        format="binary",
    )


async def create_pool(settings: Settings, **overrides: object) -> asyncpg.Pool:
    """Open a pool sized from settings; the caller owns it and must close it."""
    options: dict[str, object] = {
        "min_size": settings.db_pool_min,
        "max_size": max(settings.db_pool_max, settings.db_pool_min),
        "init": _init_connection,
        "command_timeout": 60,
    }
    options.update(overrides)
    pool = await asyncpg.create_pool(settings.database_url, **options)
    assert pool is not None
    return pool
