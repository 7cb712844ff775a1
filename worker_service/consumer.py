"""The consumer group as one worker uses it: reading new entries, claiming those of dead workers,
keeping held entries from other workers, and recreating a lost group.

Claims use XAUTOCLAIM, whose reply differs between Redis versions for entries deleted while
pending. Redis 7 drops them from the pending list and lists their ids in a third element.
Redis 6.2 claims them like live entries and returns a nil in their place, without the id, so the
worker then looks them up in its own pending list and acknowledges them.

A live worker keeps a chunk that takes long: every CLAIM_IDLE_MS / 3 it resets the idle time of
the entries it is processing (see touch_entries.lua). Only the entries of a worker that stopped for
CLAIM_IDLE_MS become claimable.
"""

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

import redis.exceptions
from redis.asyncio import Redis

from shared import keys
from shared.job_store import load_lua
from shared.logs import get_logger
from worker_service.chunk import ChunkTask, MalformedEntry

log = get_logger(__name__)

START_CURSOR = "0-0"
# Own pending entries checked when Redis 6.2 returns deleted entries in a claim.
# NOTE: a consumer's pending list is its chunks in flight plus a few failed ones, so 1,000 covers
# the deleted entries in practice. Any beyond it are acknowledged by later claims.
OWN_PENDING_SCAN = 1000

Entry = tuple[bytes, dict[bytes, bytes]]


def is_missing_group(error: redis.exceptions.ResponseError) -> bool:
    """Tell whether the stream or its group is gone (NOGROUP), as after a Redis restart."""
    return str(error).startswith("NOGROUP")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass
class StreamConsumer:
    """One worker's consumer in the job stream's group."""

    redis: Redis
    stream_key: str
    group: str
    name: str
    claim_cursor: str = START_CURSOR

    def __post_init__(self) -> None:
        self._touch = self.redis.register_script(load_lua("touch_entries"))

    async def ensure_group(self) -> None:
        """Create the group from the stream's first entry, so no accepted job is ever skipped."""
        try:
            await self.redis.xgroup_create(self.stream_key, self.group, id="0", mkstream=True)
        except redis.exceptions.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
            return
        log.info(
            "consumer_group_created",
            stream=self.stream_key,
            group=self.group,
            consumer=self.name,
            from_id="0",
        )

    async def recreate_group(self, error: redis.exceptions.ResponseError) -> None:
        """Recreate a lost group from id 0, never from '$', so every entry still in the stream runs.

        A chunk applied before the loss is recognised by its marker when it runs again.
        """
        log.error(
            "consumer_group_missing",
            stream=self.stream_key,
            group=self.group,
            consumer=self.name,
            error=str(error),
        )
        self.claim_cursor = START_CURSOR
        await self.ensure_group()

    async def read_new(self, count: int, block_ms: int) -> list[ChunkTask]:
        """Read up to `count` entries never delivered to any consumer, waiting up to `block_ms`."""
        try:
            reply = await self.redis.xreadgroup(
                self.group, self.name, {self.stream_key: ">"}, count=count, block=block_ms
            )
        except redis.exceptions.ResponseError as error:
            if not is_missing_group(error):
                raise
            await self.recreate_group(error)
            return []

        if not reply:
            return []
        _, entries = reply[0]
        return await self.decode(entries)

    async def read_own_pending(self, after_id: str, count: int) -> tuple[list[ChunkTask], str | None]:
        """Read entries delivered to this consumer name before a restart and never acknowledged.

        Returns the tasks and the id to continue after, or None once the list is exhausted.
        Entries deleted meanwhile come back without fields and are acknowledged here.
        """
        reply = await self.redis.xreadgroup(
            self.group, self.name, {self.stream_key: after_id}, count=count
        )
        entries = reply[0][1] if reply else []
        if not entries:
            return [], None

        deleted = [entry_id for entry_id, fields in entries if not fields]
        if deleted:
            await self.redis.xack(self.stream_key, self.group, *deleted)
        live = [(entry_id, fields) for entry_id, fields in entries if fields]
        tasks = await self.decode(live)
        if tasks:
            log.info("own_pending_resumed", consumer=self.name, entries=len(tasks))

        next_id = _text(entries[-1][0]) if len(entries) == count else None
        return await self.with_delivery_counts(tasks), next_id

    async def claim_idle(
        self, min_idle_ms: int, count: int, held: Collection[str]
    ) -> list[ChunkTask]:
        """Take over entries pending for `min_idle_ms` or more, with their delivery counts.

        `held` lists the entries this worker is processing, which are never treated as deleted.
        """
        try:
            reply = await self.redis.xautoclaim(
                self.stream_key,
                self.group,
                self.name,
                min_idle_time=min_idle_ms,
                start_id=self.claim_cursor,
                count=count,
            )
        except redis.exceptions.ResponseError as error:
            if not is_missing_group(error):
                raise
            await self.recreate_group(error)
            return []

        self.claim_cursor = _text(reply[0])
        entries = reply[1]
        live = [
            (entry_id, fields) for entry_id, fields in entries if entry_id is not None and fields
        ]
        if len(reply) > 2 and reply[2]:
            log.warning("claimed_entries_deleted", consumer=self.name, entries=len(reply[2]))
        if len(live) < len(entries):
            await self.release_deleted({*held, *(_text(entry_id) for entry_id, _ in live)})

        tasks = await self.decode(live)
        if tasks:
            log.info("entries_claimed", consumer=self.name, entries=len(tasks))
        return await self.with_delivery_counts(tasks)

    @property
    def claim_scan_done(self) -> bool:
        """Tell whether the last XAUTOCLAIM reached the end of the pending entries list."""
        return self.claim_cursor == START_CURSOR

    async def release_deleted(self, keep: Collection[str]) -> None:
        """Acknowledge own pending entries that no longer exist in the stream (Redis 6.2)."""
        pending = await self.redis.xpending_range(
            self.stream_key,
            self.group,
            min="-",
            max="+",
            count=OWN_PENDING_SCAN,
            consumername=self.name,
        )
        candidates = [
            _text(row["message_id"]) for row in pending if _text(row["message_id"]) not in keep
        ]
        if not candidates:
            return

        async with self.redis.pipeline(transaction=False) as pipe:
            for entry_id in candidates:
                pipe.xrange(self.stream_key, entry_id, entry_id, count=1)
            found = await pipe.execute()
        deleted = [entry_id for entry_id, rows in zip(candidates, found, strict=True) if not rows]
        if deleted:
            await self.redis.xack(self.stream_key, self.group, *deleted)
            log.warning("claimed_entries_deleted", consumer=self.name, entries=len(deleted))

    async def with_delivery_counts(self, tasks: list[ChunkTask]) -> list[ChunkTask]:
        """Attach each claimed entry's delivery count, read from the pending entries list."""
        if not tasks:
            return tasks
        async with self.redis.pipeline(transaction=False) as pipe:
            for task in tasks:
                pipe.xpending_range(
                    self.stream_key, self.group, min=task.entry_id, max=task.entry_id, count=1
                )
            replies = await pipe.execute()

        counted = []
        for task, rows in zip(tasks, replies, strict=True):
            deliveries = int(rows[0]["times_delivered"]) if rows else task.deliveries
            counted.append(replace(task, deliveries=deliveries))
        return counted

    async def touch(self, entry_ids: Iterable[str], idle_ms: int) -> list[str]:
        """Set the idle time of held entries still owned here and return those others took."""
        ids = list(entry_ids)
        if not ids:
            return []
        claimed_by_others = await self._touch(
            keys=[self.stream_key], args=[self.group, self.name, idle_ms, *ids]
        )
        return [_text(entry_id) for entry_id in claimed_by_others]

    async def decode(self, entries: list[Entry]) -> list[ChunkTask]:
        tasks = []
        for entry_id, fields in entries:
            try:
                tasks.append(ChunkTask.from_entry(entry_id, fields))
            except MalformedEntry as error:
                await self.dead_letter_malformed(_text(entry_id), fields, error)
        return tasks

    async def dead_letter_malformed(
        self, entry_id: str, fields: dict[bytes, bytes], error: MalformedEntry
    ) -> None:
        """Move an entry that cannot be decoded to the dead-letter stream: no retry would help."""
        log.error("stream_entry_malformed", consumer=self.name, entry_id=entry_id, error=str(error))
        dead_fields = {**fields, b"origin_id": entry_id, b"deliveries": 1, b"reason": b"malformed"}
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(keys.dead_letters(self.stream_key), dead_fields)
            pipe.xack(self.stream_key, self.group, entry_id)
            pipe.xdel(self.stream_key, entry_id)
            await pipe.execute()
