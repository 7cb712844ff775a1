"""Worker liveness: a Redis hash with a TTL and the worker's counters, and a file for the
container health check. The file is touched even while Redis is down: the process is alive."""

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

from redis.asyncio import Redis

from shared import __version__, keys
from shared.settings import Settings


class Heartbeat:
    """Liveness publisher of one worker, reading `counters` at every beat."""

    def __init__(
        self,
        redis: Redis,
        settings: Settings,
        consumer: str,
        counters: Callable[[], dict[str, int]],
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.consumer = consumer
        self.counters = counters
        self.key = keys.worker(consumer)
        self.started_at = time.time()

    @property
    def interval_s(self) -> float:
        """Beat period, a third of the TTL, so one late beat does not make a live worker look dead."""
        return self.settings.worker_heartbeat_ttl_s / 3

    async def beat(self) -> None:
        Path(self.settings.worker_heartbeat_file).touch()

        fields: dict[str, str | int | float] = {
            "consumer": self.consumer,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "version": __version__,
            "stream": self.settings.stream_key,
            "group": self.settings.consumer_group,
            "started_at": round(self.started_at, 3),
            "last_seen": round(time.time(), 3),
            **self.counters(),
        }
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self.key, mapping=fields)
            pipe.expire(self.key, self.settings.worker_heartbeat_ttl_s)
            await pipe.execute()

    async def remove(self) -> None:
        """Drop the heartbeat at a clean stop, so the worker leaves the live list at once."""
        await self.redis.delete(self.key)
