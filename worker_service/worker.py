"""Worker lifecycle: resources, the read and claim loop, the chunk tasks, background chores and
graceful shutdown.

On SIGTERM or SIGINT the worker stops reading and lets in-flight chunks finish within
SHUTDOWN_GRACE_S, each acknowledging what it committed. Then it cancels the rest and marks their
entries long idle, so that other workers claim them at once, and exits 0.
"""

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict

import asyncpg
import redis.exceptions
from redis.asyncio import Redis

from shared.db import create_pool
from shared.job_store import JobStore
from shared.logs import get_logger
from shared.settings import Settings
from worker_service.chunk import ChunkTask
from worker_service.consumer import StreamConsumer
from worker_service.heartbeat import Heartbeat
from worker_service.housekeeping import Housekeeper
from worker_service.processor import ChunkProcessor
from worker_service.retry import (
    TRANSIENT_DB_ERRORS,
    TRANSIENT_REDIS_ERRORS,
    backoff_delay,
    describe,
)

log = get_logger(__name__)

BURST_BLOCK_MS = 100
POOL_CLOSE_TIMEOUT_S = 5.0
# Idle time given to entries handed over at shutdown. It exceeds any worker's CLAIM_IDLE_MS, so
# the next claim of any worker takes them.
RELEASED_IDLE_MS = 30 * 24 * 3600 * 1000


def default_consumer_name() -> str:
    """Return a name unique per process, so two workers never share a pending entries list."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


class Worker:
    """A stream worker applying up to `worker_concurrency` chunks at once."""

    def __init__(self, settings: Settings, *, burst: bool = False) -> None:
        self.settings = settings
        self.burst = burst
        self.name = settings.consumer_name or default_consumer_name()
        self.stop_event = asyncio.Event()
        self.redis: Redis | None = None
        self.pool: asyncpg.Pool | None = None
        self.processor: ChunkProcessor | None = None
        self.consumer: StreamConsumer | None = None
        self.heartbeat: Heartbeat | None = None
        self.housekeeper: Housekeeper | None = None
        self.in_flight: dict[asyncio.Task[None], ChunkTask] = {}
        self.chores: list[asyncio.Task[None]] = []
        self.last_claim = 0.0
        self.read_attempt = 0
        # Where the scan of this consumer's own pending entries continues; None once done.
        self.own_pending_cursor: str | None = "0"

    async def start(self) -> bool:
        """Connect once Redis and PostgreSQL are reachable, or return False if stopped before."""
        settings = self.settings
        self.redis = Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.worker_block_ms / 1000 + 10,
            health_check_interval=30,
        )
        pool_size = settings.worker_concurrency + 1
        if not await self.until_ready(self.open_pool, TRANSIENT_DB_ERRORS, "postgres_unavailable"):
            return False
        assert self.pool is not None

        store = JobStore(self.redis, settings.stream_key, settings.consumer_group)
        self.processor = ChunkProcessor(self.pool, store, settings, self.name)
        self.consumer = StreamConsumer(
            self.redis, settings.stream_key, settings.consumer_group, self.name
        )
        self.heartbeat = Heartbeat(self.redis, settings, self.name, self.counters)
        self.housekeeper = Housekeeper(self.redis, settings, self.name, self.processor.summaries)
        if not await self.until_ready(
            self.consumer.ensure_group, TRANSIENT_REDIS_ERRORS, "redis_unavailable"
        ):
            return False

        self.start_chores()
        log.info(
            "worker_started",
            consumer=self.name,
            stream=settings.stream_key,
            group=settings.consumer_group,
            concurrency=settings.worker_concurrency,
            pool_size=pool_size,
            claim_idle_ms=settings.claim_idle_ms,
            max_deliveries=settings.max_deliveries,
            shutdown_grace_s=settings.shutdown_grace_s,
            burst=self.burst,
        )
        return True

    async def open_pool(self) -> None:
        size = self.settings.worker_concurrency + 1
        self.pool = await create_pool(
            self.settings, max_size=size, min_size=min(self.settings.db_pool_min, size)
        )

    async def until_ready(
        self,
        step: Callable[[], Awaitable[None]],
        errors: tuple[type[BaseException], ...],
        event: str,
    ) -> bool:
        """Retry a start-up step with backoff until it succeeds or a stop is requested."""
        attempt = 0
        while not self.stop_event.is_set():
            try:
                await step()
                return True
            except errors as error:
                delay = backoff_delay(attempt)
                log.warning(
                    event,
                    consumer=self.name,
                    attempt=attempt + 1,
                    delay_s=round(delay, 3),
                    error=describe(error),
                )
                attempt += 1
                await self.sleep_unless_stopped(delay)
        return False

    async def sleep_unless_stopped(self, delay_s: float) -> None:
        try:
            await asyncio.wait_for(self.stop_event.wait(), timeout=delay_s)
        except TimeoutError:
            return

    def counters(self) -> dict[str, int]:
        stats = asdict(self.processor.stats) if self.processor else {}
        return {**stats, "in_flight": len(self.in_flight)}

    def request_stop(self) -> None:
        if not self.stop_event.is_set():
            log.info("worker_stopping", consumer=self.name, in_flight=len(self.in_flight))
        self.stop_event.set()

    async def run(self) -> None:
        """Read and dispatch chunks until stopped, or in burst mode until nothing is left.

        Entries read as the stop arrives are dispatched too: they finish within the grace period
        like the others, so the worker leaves the group holding nothing rather than releasing them.
        """
        while not self.stop_event.is_set():
            tasks = await self.next_tasks()
            if not tasks and self.burst and not self.in_flight:
                break
            for task in tasks:
                self.dispatch(task)

        await self.drain()

    async def next_tasks(self) -> list[ChunkTask]:
        """Claim idle entries of dead consumers now and then, otherwise read new entries."""
        assert self.consumer is not None
        free = await self.wait_for_free_slots()
        if free == 0:
            return []
        try:
            return await self.read_or_claim(self.consumer, free)
        except (*TRANSIENT_REDIS_ERRORS, redis.exceptions.ResponseError) as error:
            delay = backoff_delay(self.read_attempt)
            self.read_attempt += 1
            log.warning(
                "stream_read_failed",
                consumer=self.name,
                attempt=self.read_attempt,
                delay_s=round(delay, 3),
                error=describe(error),
            )
            await self.sleep_unless_stopped(delay)
            return []

    async def read_or_claim(self, consumer: StreamConsumer, free: int) -> list[ChunkTask]:
        settings = self.settings
        if self.own_pending_cursor is not None:
            # A restarted worker with a fixed CONSUMER_NAME resumes its own chunks at once
            # instead of waiting CLAIM_IDLE_MS for another worker to claim them.
            tasks, self.own_pending_cursor = await consumer.read_own_pending(self.own_pending_cursor, free)
            if tasks:
                return tasks

        now = time.monotonic()
        if not consumer.claim_scan_done or now - self.last_claim >= settings.claim_idle_ms / 2000:
            self.last_claim = now
            claimed = await consumer.claim_idle(settings.claim_idle_ms, free, self.held_entries())
            if claimed:
                self.read_attempt = 0
                return claimed

        block_ms = BURST_BLOCK_MS if self.burst else settings.worker_block_ms
        tasks = await consumer.read_new(min(free, settings.worker_read_count), block_ms)
        self.read_attempt = 0
        return tasks

    async def wait_for_free_slots(self) -> int:
        """Wait for a free slot and return how many are free, so no entry waits in memory."""
        concurrency = self.settings.worker_concurrency
        while len(self.in_flight) >= concurrency and not self.stop_event.is_set():
            stop_waiter = asyncio.ensure_future(self.stop_event.wait())
            await asyncio.wait({*self.in_flight, stop_waiter}, return_when=asyncio.FIRST_COMPLETED)
            stop_waiter.cancel()
        if self.stop_event.is_set():
            return 0
        return concurrency - len(self.in_flight)

    def held_entries(self) -> list[str]:
        return [task.entry_id for task in self.in_flight.values()]

    def dispatch(self, task: ChunkTask) -> None:
        handle = asyncio.create_task(self.run_chunk(task))
        self.in_flight[handle] = task
        handle.add_done_callback(self.forget)

    def forget(self, handle: asyncio.Task[None]) -> None:
        self.in_flight.pop(handle, None)

    async def run_chunk(self, task: ChunkTask) -> None:
        assert self.processor is not None
        try:
            await self.processor.process(task)
        except Exception:
            # The entry stays pending: it is claimed again after CLAIM_IDLE_MS, and dead-lettered
            # after MAX_DELIVERIES deliveries.
            self.processor.stats.chunks_failed += 1
            log.exception(
                "chunk_failed",
                job_id=task.job_id,
                chunk=task.chunk,
                consumer=self.name,
                entry_id=task.entry_id,
                deliveries=task.deliveries,
            )

    async def drain(self) -> None:
        """Let in-flight chunks finish within the grace period, then hand the rest to others."""
        if not self.in_flight:
            return
        handles = set(self.in_flight)
        _, unfinished = await asyncio.wait(handles, timeout=self.settings.shutdown_grace_s)
        if not unfinished:
            return

        abandoned = [
            self.in_flight[handle].entry_id for handle in unfinished if handle in self.in_flight
        ]
        for handle in unfinished:
            handle.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        log.warning("chunks_abandoned", consumer=self.name, chunks=len(abandoned))
        await self.release(abandoned)

    async def release(self, entry_ids: list[str]) -> None:
        """Mark held entries long idle, so that another worker claims them without waiting."""
        if not entry_ids or self.consumer is None:
            return
        try:
            await self.consumer.touch(entry_ids, RELEASED_IDLE_MS)
        except (*TRANSIENT_REDIS_ERRORS, redis.exceptions.ResponseError) as error:
            # They are claimed after CLAIM_IDLE_MS instead.
            log.warning(
                "entries_release_failed",
                consumer=self.name,
                entries=len(entry_ids),
                error=describe(error),
            )
            return
        log.info("entries_released", consumer=self.name, entries=len(entry_ids))

    def start_chores(self) -> None:
        assert self.heartbeat is not None and self.housekeeper is not None
        self.chores = [
            asyncio.create_task(
                self.every(self.heartbeat.interval_s, self.heartbeat.beat, "heartbeat_failed")
            ),
            asyncio.create_task(
                self.every(
                    self.settings.claim_idle_ms / 3000, self.keep_entries, "keepalive_failed"
                )
            ),
            asyncio.create_task(
                self.every(
                    self.settings.housekeeping_interval_s,
                    self.housekeeper.run_once,
                    "housekeeping_failed",
                )
            ),
        ]

    async def every(
        self, interval_s: float, chore: Callable[[], Awaitable[None]], failure_event: str
    ) -> None:
        """Run `chore` now and every `interval_s` until cancelled, logging its errors."""
        while True:
            try:
                await chore()
            except Exception as error:  # noqa: BLE001 - a failed chore must not stop the worker
                log.warning(failure_event, consumer=self.name, error=describe(error))
            await asyncio.sleep(interval_s)

    async def keep_entries(self) -> None:
        """Reset the idle time of held entries, so that a slow chunk is not claimed by others."""
        if self.consumer is None:
            return
        claimed_by_others = await self.consumer.touch(self.held_entries(), 0)
        if claimed_by_others:
            # A stall longer than CLAIM_IDLE_MS let another worker claim them. The chunk marker and
            # the sequence guard make the second application change nothing.
            log.warning("entries_claimed_elsewhere", consumer=self.name, entries=claimed_by_others)

    async def close(self) -> None:
        """Stop the chores, leave the live list, close connections and log the final counts."""
        for chore in self.chores:
            chore.cancel()
        await asyncio.gather(*self.chores, return_exceptions=True)

        await self.leave_group()
        if self.pool is not None:
            try:
                await asyncio.wait_for(self.pool.close(), POOL_CLOSE_TIMEOUT_S)
            except TimeoutError:
                log.warning("database_pool_close_timeout", consumer=self.name)
                self.pool.terminate()
        if self.redis is not None:
            await self.redis.aclose()
        log.info("worker_stopped", consumer=self.name, **self.counters())

    async def leave_group(self) -> None:
        """Remove the heartbeat, and this consumer from the group unless it has pending entries."""
        if self.heartbeat is None or self.housekeeper is None:
            return
        try:
            await self.heartbeat.remove()
            await self.housekeeper.remove_consumer(self.name)
        except (*TRANSIENT_REDIS_ERRORS, redis.exceptions.ResponseError) as error:
            # Housekeeping removes this consumer later, once it is idle with no pending entry.
            log.warning("leave_group_failed", consumer=self.name, error=describe(error))
