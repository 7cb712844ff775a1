"""Worker lifecycle: resources, the read and claim loops, the chunk tasks, and graceful shutdown."""

import asyncio
import os
import secrets
import socket
import time
from pathlib import Path

import asyncpg
import redis.exceptions
from redis.asyncio import Redis

from shared.db import create_pool
from shared.job_store import JobStore
from shared.logs import get_logger
from shared.settings import Settings
from worker_service.chunk import ChunkTask
from worker_service.consumer import StreamConsumer
from worker_service.processor import ChunkProcessor, backoff_delay

log = get_logger(__name__)

REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


def default_consumer_name() -> str:
    """Unique per process, so two workers never share a pending entries list by accident."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Worker:
    """Reads chunks from the stream and applies them with `concurrency` chunks in flight."""

    def __init__(self, settings: Settings, *, burst: bool = False) -> None:
        self.settings = settings
        self.burst = burst
        self.name = settings.consumer_name or default_consumer_name()
        self.stop_event = asyncio.Event()
        self.redis: Redis | None = None
        self.pool: asyncpg.Pool | None = None
        self.processor: ChunkProcessor | None = None
        self.consumer: StreamConsumer | None = None
        self.in_flight: set[asyncio.Task[None]] = set()
        self.last_claim = 0.0

    async def start(self) -> None:
        settings = self.settings
        self.redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.worker_block_ms / 1000 + 10,
            health_check_interval=30,
        )
        self.pool = await create_pool(settings, max_size=settings.worker_concurrency + 1,
                                      min_size=min(settings.db_pool_min, settings.worker_concurrency + 1))
        store = JobStore(self.redis, settings.stream_key, settings.consumer_group)
        self.processor = ChunkProcessor(self.pool, store, settings, self.name)
        self.consumer = StreamConsumer(self.redis, settings.stream_key, settings.consumer_group, self.name)
        await self.consumer.ensure_group()
        log.info(
            "worker_started",
            consumer=self.name,
            stream=settings.stream_key,
            group=settings.consumer_group,
            concurrency=settings.worker_concurrency,
            burst=self.burst,
        )

    async def close(self) -> None:
        if self.pool is not None:
            await self.pool.close()
        if self.redis is not None:
            await self.redis.aclose()
        processor = self.processor
        log.info(
            "worker_stopped",
            consumer=self.name,
            chunks=processor.chunks_done if processor else 0,
            leads=processor.leads_done if processor else 0,
        )

    def request_stop(self) -> None:
        if not self.stop_event.is_set():
            log.info("worker_stopping", consumer=self.name, in_flight=len(self.in_flight))
        self.stop_event.set()
        if self.processor is not None:
            self.processor.stopping.set()

    async def run(self) -> None:
        """Read and dispatch until stopped (or, in burst mode, until the stream has nothing for us)."""
        assert self.consumer is not None
        attempt = 0
        while not self.stop_event.is_set():
            try:
                tasks = await self.next_tasks()
                attempt = 0
            except REDIS_ERRORS as error:
                delay = backoff_delay(attempt)
                log.warning("redis_unavailable", consumer=self.name, attempt=attempt + 1, delay_s=round(delay, 3), error=repr(error))
                attempt += 1
                await asyncio.sleep(delay)
                continue

            if not tasks and self.burst and not self.in_flight:
                break
            for task in tasks:
                self.dispatch(task)
            self.touch_heartbeat()

        await self.drain()

    async def next_tasks(self) -> list[ChunkTask]:
        """Claim idle entries from dead consumers now and then, otherwise read new entries."""
        assert self.consumer is not None
        free = await self.wait_for_free_slots()

        now = time.monotonic()
        if now - self.last_claim >= self.settings.claim_idle_ms / 2000:
            self.last_claim = now
            claimed = await self.consumer.claim_idle(self.settings.claim_idle_ms, free)
            if claimed:
                return claimed

        block_ms = 100 if self.burst else self.settings.worker_block_ms
        return await self.consumer.read_new(min(free, self.settings.worker_read_count), block_ms)

    async def wait_for_free_slots(self) -> int:
        """Read no more than can start at once, so unstarted entries are never held in memory."""
        while len(self.in_flight) >= self.settings.worker_concurrency:
            await asyncio.wait(self.in_flight, return_when=asyncio.FIRST_COMPLETED)
        return self.settings.worker_concurrency - len(self.in_flight)

    def dispatch(self, task: ChunkTask) -> None:
        handle = asyncio.create_task(self.run_chunk(task))
        self.in_flight.add(handle)
        handle.add_done_callback(self.in_flight.discard)

    async def run_chunk(self, task: ChunkTask) -> None:
        assert self.processor is not None
        try:
            await self.processor.process(task)
        except Exception:
            # The entry stays pending, so it is retried when claimed after CLAIM_IDLE_MS.
            log.exception("chunk_failed", job_id=task.job_id, chunk=task.chunk, consumer=self.name, entry_id=task.entry_id)

    async def drain(self) -> None:
        """Let in-flight chunks finish within the grace period; unfinished ones stay pending for others."""
        if not self.in_flight:
            return
        done, pending = await asyncio.wait(self.in_flight, timeout=self.settings.shutdown_grace_s)
        for handle in pending:
            handle.cancel()
        if pending:
            log.warning("chunks_abandoned", consumer=self.name, chunks=len(pending))

    def touch_heartbeat(self) -> None:
        Path(self.settings.worker_heartbeat_file).touch()
