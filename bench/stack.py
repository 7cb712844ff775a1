"""The stack under test: servers, the prepared crm_bench database, Redis database 8, and the services.

The bench never shares state with the tests or the development stack. It has its own PostgreSQL
database, crm_bench, kept between runs so the demo leads load once. It uses Redis database 8
with its own stream key and consumer group, and embedded servers in their own folder when
REDIS_URL or DATABASE_URL is unset.
"""

import asyncio
import os
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import redis.exceptions
from redis.asyncio import Redis

from bench.services import Service, ServiceError, free_port, spawn, stop, wait_http_ok
from shared import keys
from shared.logs import get_logger
from shared.settings import Settings
from tools.demo_data import DemoSettings, lead_count, load_demo_data
from tools.devstack import database_connection, migrate, stack_servers
from tools.embedded_postgres import ensure_database
from tools.make_token import create_token

log = get_logger(__name__)

BENCH_DATABASE = "crm_bench"
BENCH_REDIS_DB = 8
BENCH_LEADS = 1_000_000
STREAM_KEY = "crm-bench:bulk:stream"
CONSUMER_GROUP = "crm-bench-workers"
ADMIN_USER_ID = 9000
CLIENT_USER_ID = 1
TOKEN_TTL_S = 6 * 3600
REGISTER_TIMEOUT_S = 60.0

# Settings the bench passes to every service explicitly, so the page can state them.
RECORDED_SETTINGS = (
    "chunk_size",
    "worker_concurrency",
    "worker_read_count",
    "db_pool_min",
    "db_pool_max",
    "prevalidate_max_leads",
    "max_leads_per_job",
    "sync_max_leads",
    "failed_details_inline_max",
    "log_level",
)

# Token settings that would make the bench's own HS256 tokens invalid if inherited.
DROPPED_VARIABLES = ("JWT_ISSUER", "JWT_AUDIENCE", "JWT_ALGORITHMS", "JWT_PUBLIC_KEY", "API_PREFIX", "CONSUMER_NAME")

# Jobs, their listings (crm:jobs and crm:jobs:expiring), per-user sets and idempotency keys.
JOB_KEY_PATTERNS = ("crm:job:*", "crm:jobs*", "crm:user:*", "crm:idem:*")

RESET_SQL = "TRUNCATE crm_lead_status_history, crm_notifications, crm_bulk_job_chunks, crm_bulk_jobs"


def with_redis_db(url: str, db: int) -> str:
    """Point a redis:// or unix:// URL at database db."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        # Built by hand: urlunsplit drops the empty host of unix:///path.
        return f"unix://{parts.path}?db={db}"
    return urlunsplit(parts._replace(path=f"/{db}"))


@dataclass
class Stack:
    """Server URLs, the settings given to every service, and the bench's own Redis client."""

    redis_url: str
    database_url: str
    redis: Redis
    run_dir: Path
    service_settings: dict[str, object]
    jwt_secret: str
    embedded: list[str]

    def service_env(self, overrides: Mapping[str, object] | None = None) -> dict[str, str]:
        """Build a service's environment: ours without the token options, plus the bench's settings."""
        env = {name: value for name, value in os.environ.items() if name not in DROPPED_VARIABLES}
        env.update({
            "APP_ENV": "production",
            "JWT_SECRET": self.jwt_secret,
            "REDIS_URL": self.redis_url,
            "DATABASE_URL": self.database_url,
            "API_HOST": "127.0.0.1",
            "STREAM_KEY": STREAM_KEY,
            "CONSUMER_GROUP": CONSUMER_GROUP,
            "LOG_FORMAT": "json",
            "RATE_LIMIT_PENDING_JOBS": "0",
            "RATE_LIMIT_JOBS_PER_DAY": "0",
            "RATE_LIMIT_LEADS_PER_DAY": "0",
            "RATE_LIMIT_COOLDOWN_S": "0",
            "WORKER_HEARTBEAT_FILE": str(self.run_dir / "worker-heartbeat"),
        })  # fmt: skip
        env.update({name.upper(): str(value) for name, value in self.service_settings.items()})
        env.update({name.upper(): str(value) for name, value in (overrides or {}).items()})
        return env

    def token(self, user_id: int, roles: list[str]) -> str:
        settings = Settings(
            app_env="production", jwt_secret=self.jwt_secret, jwt_algorithms=["HS256"], jwt_issuer=None, jwt_audience=None
        )
        return create_token(settings, user_id, roles, TOKEN_TTL_S)

    def admin_token(self) -> str:
        return self.token(ADMIN_USER_ID, ["admin"])


async def prepare_database(server_url: str) -> str:
    """Create crm_bench if missing, migrate it, and load the demo leads unless they are there."""
    dsn = await ensure_database(server_url, BENCH_DATABASE)
    await migrate(dsn)

    async with database_connection(dsn) as conn:
        existing = await lead_count(conn)
        if existing == BENCH_LEADS:
            log.info("bench_leads_reused", leads=existing)
            return dsn
        log.info("bench_leads_loading", existing=existing, wanted=BENCH_LEADS)
        await load_demo_data(conn, BENCH_LEADS, DemoSettings().demo_seed, force=existing > 0)
    return dsn


async def align_request_seq(redis: Redis, dsn: str) -> None:
    """Raise the Redis sequence above every lead's, else a fresh Redis would make each job superseded."""
    async with database_connection(dsn) as conn:
        top = int(await conn.fetchval("SELECT coalesce(max(last_request_seq), 0) FROM crm_leads"))

    current = int(await redis.get(keys.REQUEST_SEQ) or 0)
    if top > current:
        await redis.set(keys.REQUEST_SEQ, top)
        log.info("request_seq_aligned", previous=current, now=top)


async def clear_jobs(redis: Redis) -> None:
    """Remove every job, its stream entries and listings from database 8; keep the sequence counter."""
    for pattern in JOB_KEY_PATTERNS:
        batch: list[bytes] = []
        async for key in redis.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await redis.unlink(*batch)
                batch = []
        if batch:
            await redis.unlink(*batch)

    if await redis.exists(STREAM_KEY):
        await redis.xtrim(STREAM_KEY, maxlen=0, approximate=False)


async def reset_tables(stack: Stack) -> None:
    """Empty the tables a job appends to and vacuum crm_leads, so every run starts from the same state."""
    await clear_jobs(stack.redis)
    async with database_connection(stack.database_url) as conn:
        await conn.execute(RESET_SQL)
        await conn.execute("VACUUM ANALYZE crm_leads")
        try:
            await conn.execute("CHECKPOINT")
        except asyncpg.InsufficientPrivilegeError as error:
            log.warning("checkpoint_skipped", reason=str(error))


def service_settings() -> dict[str, object]:
    """Read the service settings the bench passes on, from this environment or their defaults."""
    settings = Settings(app_env="development")
    return {name: getattr(settings, name) for name in RECORDED_SETTINGS}


@asynccontextmanager
async def open_stack(data_dir: Path, run_dir: Path) -> AsyncIterator[Stack]:
    """Start or reach the servers, prepare crm_bench and Redis database 8, and close all afterwards."""
    embedded = [name for name, variable in (("Redis", "REDIS_URL"), ("PostgreSQL", "DATABASE_URL")) if not os.environ.get(variable)]
    async with stack_servers(data_dir) as urls:
        database_url = await prepare_database(urls.database_url)
        redis_url = with_redis_db(urls.redis_url, BENCH_REDIS_DB)
        redis = Redis.from_url(redis_url)
        try:
            await align_request_seq(redis, database_url)
            await clear_jobs(redis)
            yield Stack(
                redis_url=redis_url,
                database_url=database_url,
                redis=redis,
                run_dir=run_dir,
                service_settings=service_settings(),
                jwt_secret=secrets.token_urlsafe(32),
                embedded=embedded,
            )
            await clear_jobs(redis)
        finally:
            await redis.aclose()


@dataclass(frozen=True)
class Api:
    service: Service
    base_url: str


@asynccontextmanager
async def running_api(stack: Stack, **overrides: object) -> AsyncIterator[Api]:
    """Run `python -m api_service` on a free loopback port until the block ends."""
    port = free_port()
    env = stack.service_env({"api_port": port, **overrides})
    service = await spawn(f"api-{port}", ["-m", "api_service"], env, stack.run_dir)
    try:
        base_url = f"http://127.0.0.1:{port}"
        await wait_http_ok(f"{base_url}/readyz", service)
        yield Api(service=service, base_url=base_url)
    finally:
        await stop([service])


async def blocked_readers(client: Redis) -> int:
    """Connections to database 8 whose last command is XREADGROUP: one per worker waiting for entries.

    Redis creates a consumer only when XREADGROUP delivers to it, so the group's consumer list
    cannot tell that an idle worker is ready.
    """
    clients = await client.client_list()
    return sum(1 for entry in clients if str(entry.get("db")) == str(BENCH_REDIS_DB) and entry.get("cmd") == "xreadgroup")


async def wait_reading(stack: Stack, services: list[Service]) -> None:
    """Wait until every worker is reading the stream, so timing starts with all of them ready."""
    deadline = time.monotonic() + REGISTER_TIMEOUT_S
    while time.monotonic() < deadline:
        for service in services:
            service.check_alive()
        if await blocked_readers(stack.redis) >= len(services):
            return
        await asyncio.sleep(0.1)
    raise ServiceError(f"{len(services)} workers were not all reading within {REGISTER_TIMEOUT_S} s; see {stack.run_dir}")


@asynccontextmanager
async def running_workers(stack: Stack, count: int, **overrides: object) -> AsyncIterator[list[Service]]:
    """Run count `python -m worker_service` processes, each with its own consumer name."""
    tag = secrets.token_hex(3)
    names = [f"bench-{tag}-{index}" for index in range(1, count + 1)]
    services: list[Service] = []
    try:
        for name in names:
            env = stack.service_env({**overrides, "consumer_name": name})
            services.append(await spawn(f"worker-{name}", ["-m", "worker_service"], env, stack.run_dir))
        await wait_reading(stack, services)
        yield services
    finally:
        await stop(services)
        await forget_consumers(stack.redis, names)


async def forget_consumers(client: Redis, names: list[str]) -> None:
    """Drop stopped workers from the group, so its consumer list does not grow run after run."""
    for name in names:
        try:
            await client.xgroup_delconsumer(STREAM_KEY, CONSUMER_GROUP, name)
        except redis.exceptions.ResponseError as error:
            log.warning("consumer_not_deleted", consumer=name, error=str(error))
