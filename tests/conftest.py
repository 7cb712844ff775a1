"""Fixtures: a throwaway PostgreSQL database and Redis database per run, wiped before each test.

The servers come from REDIS_URL and DATABASE_URL (set by `.ci/run`, or by `make test` after it
starts the embedded servers). Tests create and drop their own database on that PostgreSQL server
and use Redis database 9, which they flush.
"""

import os
import secrets
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import jwt
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from api_service.app import create_app
from shared.db import create_pool
from shared.migrate import apply_migrations
from shared.settings import Settings

TEST_REDIS_DB = 9
TEST_SECRET = "test-secret-with-enough-length-for-hs256"

SEED_LEADS_SQL = """
INSERT INTO crm_leads (id, proveedor_id, cliente_id, proveedor_lead_id, nombre, telefono, producto, precio)
SELECT g,
       101 + g % 20,
       CASE WHEN g % 50 = 5 THEN 2 WHEN g <= 10000 THEN 1 ELSE 1 + g % 50 END,
       'PRV' || (101 + g % 20) || '-' || g,
       'Lead ' || g, '+52 55 ' || lpad(g::text, 8, '0'), 'Producto ' || g % 7, 100 + g % 900
FROM generate_series(1, $1::int) AS g
WHERE g % 1000 <> 999
"""

TABLES = "crm_leads, crm_lead_status_history, crm_notifications, crm_bulk_job_chunks, crm_bulk_jobs"


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def _redis_test_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme == "unix":
        # urlunsplit would drop the empty authority and write `unix:/path`.
        return f"unix://{parts.path}?db={TEST_REDIS_DB}"
    return urlunsplit(parts._replace(path=f"/{TEST_REDIS_DB}"))


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    name = f"crm_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server_url, name)

    conn = await asyncpg.connect(url)
    await apply_migrations(conn)
    await conn.close()

    yield url

    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture(scope="session")
def redis_url() -> str:
    return _redis_test_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path) -> Settings:
    return Settings(
        app_env="development",
        database_url=database_url,
        redis_url=redis_url,
        jwt_secret=TEST_SECRET,
        chunk_size=100,
        db_pool_min=1,
        db_pool_max=4,
        worker_block_ms=50,
        claim_idle_ms=1000,
        worker_heartbeat_file=str(tmp_path / "heartbeat"),
        log_format="console",
        shutdown_grace_s=5,
    )


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    await client.flushdb()
    yield client
    await client.aclose()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings)
    await pool.execute(f"TRUNCATE {TABLES}")
    yield pool
    await pool.close()


@pytest.fixture
async def leads(db: asyncpg.Pool) -> int:
    """Leads 1..20000 without ids ending in 999; 1..10000 belong to client 1 except id % 50 == 5."""
    await db.execute(SEED_LEADS_SQL, 20000)
    return await db.fetchval("SELECT count(*) FROM crm_leads")


@pytest.fixture
async def client(settings: Settings, redis: Redis, db: asyncpg.Pool) -> AsyncIterator[TestClient]:
    app = create_app(settings)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client


def make_token(user_id: int | str = 1, roles: list[str] | None = None, ttl_s: int = 3600, **claims: object) -> str:
    now = int(time.time())
    payload: dict[str, object] = {"sub": str(user_id), "roles": roles or ["cliente"], "iat": now, "exp": now + ttl_s}
    payload.update(claims)
    return jwt.encode(payload, TEST_SECRET, algorithm="HS256")


def auth(user_id: int | str = 1, roles: list[str] | None = None, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(user_id, roles)}", **headers}
