"""Reading the job stream through the consumer group: new entries, and idle ones claimed from dead workers."""

from dataclasses import dataclass

import redis.exceptions
from redis.asyncio import Redis

from shared.logs import get_logger
from worker_service.chunk import ChunkTask, MalformedEntry

log = get_logger(__name__)


@dataclass
class StreamConsumer:
    redis: Redis
    stream_key: str
    group: str
    name: str
    claim_cursor: str = "0-0"

    async def ensure_group(self) -> None:
        """Create the consumer group from the stream's first entry, so no accepted job is skipped."""
        try:
            await self.redis.xgroup_create(self.stream_key, self.group, id="0", mkstream=True)
            log.info("consumer_group_created", stream=self.stream_key, group=self.group)
        except redis.exceptions.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def read_new(self, count: int, block_ms: int) -> list[ChunkTask]:
        """Read up to `count` entries never delivered to any consumer, waiting up to `block_ms`."""
        reply = await self.redis.xreadgroup(
            self.group, self.name, {self.stream_key: ">"}, count=count, block=block_ms
        )
        if not reply:
            return []
        _, entries = reply[0]
        return await self._decode(entries)

    async def claim_idle(self, min_idle_ms: int, count: int) -> list[ChunkTask]:
        """Take over entries that another consumer has held unacknowledged for `min_idle_ms`.

        XAUTOCLAIM answers two elements on Redis 6.2 and three on 7 (the ids of entries
        deleted meanwhile); on 6.2 a deleted entry comes back with no fields instead.
        """
        reply = await self.redis.xautoclaim(
            self.stream_key, self.group, self.name, min_idle_time=min_idle_ms, start_id=self.claim_cursor, count=count
        )
        next_cursor, entries = reply[0], reply[1]
        self.claim_cursor = next_cursor.decode() if isinstance(next_cursor, bytes) else str(next_cursor)

        deleted = [entry_id for entry_id, fields in entries if not fields]
        if len(reply) > 2:
            deleted.extend(reply[2])
        if deleted:
            await self.redis.xack(self.stream_key, self.group, *deleted)
            log.warning("claimed_entries_deleted", consumer=self.name, entries=len(deleted))

        live = [(entry_id, fields) for entry_id, fields in entries if fields]
        if live:
            log.info("entries_claimed", consumer=self.name, entries=len(live))
        return await self._decode(live)

    async def _decode(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[ChunkTask]:
        tasks = []
        for entry_id, fields in entries:
            try:
                tasks.append(ChunkTask.from_entry(entry_id, fields))
            except MalformedEntry as error:
                # NOTE: a malformed entry is acknowledged and logged, not retried: no retry can decode it.
                log.error("stream_entry_malformed", consumer=self.name, entry_id=entry_id, error=str(error))
                await self.redis.xack(self.stream_key, self.group, entry_id)
        return tasks
