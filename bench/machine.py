"""Description of the measuring environment: the machine, the software versions and the server settings."""

import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from redis.asyncio import Redis

from shared.logs import get_logger
from tools.devstack import database_connection

log = get_logger(__name__)

PACKAGES = ("aiohttp", "asyncpg", "redis", "hiredis", "orjson", "uvloop", "structlog")
POSTGRES_SETTINGS = ("shared_buffers", "synchronous_commit", "fsync", "wal_level", "max_wal_size", "checkpoint_timeout")


@dataclass
class Environment:
    machine: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    postgres_settings: dict[str, str] = field(default_factory=dict)


def proc_lines(name: str) -> list[str]:
    """Read the lines of a /proc file; none where /proc is missing, and the page then shows `unknown`."""
    try:
        return Path("/proc", name).read_text().splitlines()
    except OSError as error:
        log.warning("proc_unreadable", file=name, error=str(error))
        return []


def cpu_model() -> str:
    for line in proc_lines("cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def memory_total() -> str:
    for line in proc_lines("meminfo"):
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def load_average() -> str:
    last_minute, last_5_minutes, last_15_minutes = os.getloadavg()
    return f"{last_minute:.2f} / {last_5_minutes:.2f} / {last_15_minutes:.2f}"


def describe_machine() -> dict[str, str]:
    return {
        "CPUs (nproc)": str(len(os.sched_getaffinity(0))),
        "CPU model": cpu_model(),
        "memory": memory_total(),
        "kernel": platform.release(),
    }


def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


async def describe_environment(redis: Redis, database_url: str) -> Environment:
    """Read versions from the running servers and the installed packages."""
    environment = Environment(machine=describe_machine())
    environment.versions["Python"] = sys.version.split()[0]

    async with database_connection(database_url) as conn:
        environment.versions["PostgreSQL"] = await conn.fetchval("SHOW server_version")
        for name in POSTGRES_SETTINGS:
            environment.postgres_settings[name] = await conn.fetchval(f"SHOW {name}")

    info = await redis.info("server")
    environment.versions["Redis"] = str(info.get("redis_version", "unknown"))
    for name in PACKAGES:
        environment.versions[name] = package_version(name)
    return environment
