"""Periodic chores that keep Redis bounded and summaries complete, run by every worker.

Each chore is idempotent, so several workers may run it at once.
"""

import time

from redis.asyncio import Redis

from shared import keys
from shared.job_store import load_lua
from shared.logs import get_logger
from shared.settings import Settings
from worker_service.job_summary import SummaryWriter

log = get_logger(__name__)

PRUNE_BATCH = 500
# TTL's reply for a key that exists without an expiry (-2 means the key is gone).
KEY_WITHOUT_TTL = -1


class Housekeeper:
    """Runner of the chores: left-over summaries, expired index entries and stale consumers."""

    def __init__(
        self, redis: Redis, settings: Settings, consumer: str, summaries: SummaryWriter
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.consumer = consumer
        self.summaries = summaries
        self._remove_consumer = redis.register_script(load_lua("remove_consumer"))

    async def run_once(self) -> None:
        """Run every chore once and log what they did."""
        summaries = await self.summaries.sweep(self.consumer, self.settings.housekeeping_interval_s)
        pruned = await self.prune_expired_jobs()
        removed = await self.remove_stale_consumers()
        if summaries or pruned or removed:
            log.info(
                "housekeeping_done",
                consumer=self.consumer,
                summaries=summaries,
                jobs_pruned=pruned,
                consumers_removed=removed,
            )

    async def prune_expired_jobs(self) -> int:
        """Remove jobs whose hash has expired from the job listing indexes."""
        members = await self.redis.zrangebyscore(
            keys.EXPIRING_JOBS, "-inf", time.time(), start=0, num=PRUNE_BATCH
        )
        if not members:
            return 0
        entries = [member.decode().split(":", 1) for member in members]

        async with self.redis.pipeline(transaction=False) as pipe:
            for _, job_id in entries:
                pipe.ttl(keys.job(job_id))
            ttls = await pipe.execute()

        pruned = 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for member, (user_id, job_id), ttl in zip(members, entries, ttls, strict=True):
                if ttl > 0:
                    # Still kept (its retention was extended): look again when it expires.
                    pipe.zadd(keys.EXPIRING_JOBS, {member: time.time() + ttl})
                    continue
                if ttl == KEY_WITHOUT_TTL:
                    pipe.zrem(keys.EXPIRING_JOBS, member)
                    continue
                pipe.zrem(keys.user_jobs(int(user_id)), job_id)
                pipe.zrem(keys.ALL_JOBS, job_id)
                pipe.zrem(keys.EXPIRING_JOBS, member)
                pruned += 1
            await pipe.execute()
        return pruned

    async def remove_stale_consumers(self) -> int:
        """Delete consumers idle for STALE_CONSUMER_IDLE_MS with no pending entry or heartbeat."""
        settings = self.settings
        consumers = await self.redis.xinfo_consumers(settings.stream_key, settings.consumer_group)

        removed = 0
        for consumer in consumers:
            name = (
                consumer["name"].decode()
                if isinstance(consumer["name"], bytes)
                else consumer["name"]
            )
            if (
                name == self.consumer
                or consumer["pending"] > 0
                or consumer["idle"] < settings.stale_consumer_idle_ms
            ):
                continue
            if await self.remove_consumer(name):
                log.info(
                    "stale_consumer_removed",
                    consumer=self.consumer,
                    removed_consumer=name,
                    idle_ms=consumer["idle"],
                )
                removed += 1
        return removed

    async def remove_consumer(self, name: str) -> bool:
        """Delete consumer `name` unless it has a live heartbeat or pending entries."""
        settings = self.settings
        script_keys = [settings.stream_key, keys.worker(name)]
        return bool(
            await self._remove_consumer(keys=script_keys, args=[settings.consumer_group, name])
        )
