"""Operator command for the job stream: worker liveness and backlog, and dead letters.

    python -m tools.ops status
    python -m tools.ops dead-letters list [--limit N]
    python -m tools.ops dead-letters replay <entry_id>

Settings come from the same environment variables as the services (REDIS_URL, STREAM_KEY,
CONSUMER_GROUP). The output is JSON on stdout. An error exits 1 with a message on stderr.

A replay moves the dead letter back to the job stream, marked as a replay, with its original
request sequence number: leads changed by a newer request since then are left as they are. The
worker applies it and replaces the chunk's `dead_letter` failures with the real outcome.
"""

import argparse
import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared import keys
from shared.job_store import load_lua
from shared.settings import Settings, get_settings

DEFAULT_LIST_LIMIT = 100
SCAN_BATCH = 500
ENTRY_FIELDS = ("job", "chunk", "seq", "user", "origin_id", "deliveries", "dead_at", "reason")


class OpsError(RuntimeError):
    """Error for a request the command cannot carry out, with the reason in its message."""


def _text(value: bytes | str | None) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def _decoded(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {key.decode(): value.decode() for key, value in raw.items()}


def _iso(epoch: str | None) -> str | None:
    if not epoch:
        return None
    return datetime.fromtimestamp(float(epoch), UTC).isoformat(timespec="seconds")


async def group_info(redis: Redis, settings: Settings) -> dict[str, Any] | None:
    """Return the XINFO GROUPS entry of our group, or None when the stream or group is missing."""
    try:
        groups = await redis.xinfo_groups(settings.stream_key)
    except ResponseError:
        # "no such key": the stream does not exist yet, or was lost.
        return None
    for group in groups:
        if _text(group["name"]) == settings.consumer_group:
            return group
    return None


def consumer_lag(group: dict[str, Any], stream_length: int) -> tuple[int, str]:
    """Return the count of entries not yet delivered to the group, and its source.

    The source is XINFO's lag on Redis 7 when Redis can tell. Otherwise the count is estimated as
    the entries neither delivered nor pending, since processed entries are deleted.
    """
    lag = group.get("lag")
    if lag is not None:
        return int(lag), "xinfo"
    return max(0, stream_length - int(group["pending"])), "estimated"


async def live_workers(redis: Redis, settings: Settings) -> list[dict[str, Any]]:
    """Return the heartbeat hashes of this stream's workers that beat within their TTL."""
    workers = []
    async for key in redis.scan_iter(match=f"{keys.WORKER_PREFIX}*", count=SCAN_BATCH):
        fields = _decoded(await redis.hgetall(key))
        if fields.get("stream") != settings.stream_key:
            continue
        fields["last_seen"] = _iso(fields.get("last_seen")) or ""
        fields["started_at"] = _iso(fields.get("started_at")) or ""
        workers.append(fields)
    return sorted(workers, key=lambda worker: worker["consumer"])


async def status(redis: Redis, settings: Settings) -> dict[str, Any]:
    """Return the stream's backlog, its group's consumers and the live workers."""
    stream_length = await redis.xlen(settings.stream_key)
    group = await group_info(redis, settings)
    body: dict[str, Any] = {
        "stream": settings.stream_key,
        "group": settings.consumer_group,
        "group_exists": group is not None,
        "stream_length": stream_length,
        "pending": 0,
        "lag": stream_length,
        "lag_source": "estimated",
        "dead_letters": await redis.xlen(keys.dead_letters(settings.stream_key)),
        "unsummarised_jobs": await redis.zcard(keys.unsummarised_jobs(settings.stream_key)),
        "workers": await live_workers(redis, settings),
        "consumers": [],
    }
    if group is None:
        return body

    body["pending"] = int(group["pending"])
    body["lag"], body["lag_source"] = consumer_lag(group, stream_length)
    consumers = await redis.xinfo_consumers(settings.stream_key, settings.consumer_group)
    body["consumers"] = [
        {
            "name": _text(consumer["name"]),
            "pending": consumer["pending"],
            "idle_ms": consumer["idle"],
        }
        for consumer in consumers
    ]
    return body


def describe_dead_letter(entry_id: bytes, raw: dict[bytes, bytes]) -> dict[str, Any]:
    fields = _decoded(raw)
    entry: dict[str, Any] = {"entry_id": entry_id.decode()}
    entry.update({name: fields[name] for name in ENTRY_FIELDS if name in fields})
    entry["dead_at"] = _iso(fields.get("dead_at"))
    entry["leads"] = len(fields["ids"].split(",")) if fields.get("ids") else 0
    return entry


async def list_dead_letters(redis: Redis, settings: Settings, limit: int) -> list[dict[str, Any]]:
    entries = await redis.xrange(keys.dead_letters(settings.stream_key), count=limit)
    return [describe_dead_letter(entry_id, raw) for entry_id, raw in entries]


async def replay_dead_letter(redis: Redis, settings: Settings, entry_id: str) -> dict[str, Any]:
    """Move one dead letter back to the job stream (see replay_dead_letter.lua)."""
    dead_stream = keys.dead_letters(settings.stream_key)
    found = await redis.xrange(dead_stream, entry_id, entry_id, count=1)
    if not found:
        raise OpsError(f"dead letter {entry_id} not found in {dead_stream} (see dead-letters list)")
    job_id = _text(found[0][1].get(b"job"))
    if not job_id:
        raise OpsError(f"dead letter {entry_id} has no job field and cannot be replayed")

    script = redis.register_script(load_lua("replay_dead_letter"))
    reply = _text(
        await script(keys=[dead_stream, settings.stream_key, keys.job(job_id)], args=[entry_id])
    )
    if reply == "missing_entry":
        raise OpsError(f"dead letter {entry_id} not found in {dead_stream} (see dead-letters list)")
    if reply == "missing_job":
        raise OpsError(f"job {job_id} has expired, so dead letter {entry_id} was kept as it is")
    return {"replayed": entry_id, "job_id": job_id, "new_entry_id": reply}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.ops", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "status", help="live workers, stream length, pending entries and consumer lag"
    )

    dead = commands.add_parser(
        "dead-letters", help="list or replay chunks that failed on every delivery"
    )
    actions = dead.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list")
    listing.add_argument("--limit", type=int, default=DEFAULT_LIST_LIMIT)
    replay = actions.add_parser("replay")
    replay.add_argument("entry_id")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace, settings: Settings) -> Any:
    redis = Redis.from_url(settings.redis_url)
    try:
        if args.command == "status":
            return await status(redis, settings)
        if args.action == "list":
            return await list_dead_letters(redis, settings, args.limit)
        return await replay_dead_letter(redis, settings, args.entry_id)
    finally:
        await redis.aclose()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        output = asyncio.run(run(args, get_settings()))
    except OpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(orjson.dumps(output, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
