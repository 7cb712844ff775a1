"""The development launcher: embedded servers start, respond, migrate and stop cleanly."""

import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import asyncpg
import pytest
import redis.asyncio as aioredis

from shared.migrate import migration_files
from tools.devstack import migrate, stack_servers
from tools.embedded_postgres import embedded_postgres
from tools.embedded_redis import embedded_redis, ping

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_TIMEOUT_S = 120


@pytest.fixture
def server_dir() -> Iterator[Path]:
    """A folder for embedded servers, outside pytest's base temporary folder.

    pytest removes group and other access from /tmp/pytest-of-<user> whenever a session starts,
    and PostgreSQL runs as the pgserver user, which would then lose access to its data.
    """
    path = Path(tempfile.mkdtemp(prefix="crm-devstack-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def processes_mentioning(text: str) -> list[int]:
    """Return the pids of processes whose command line contains text."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            pids.append(int(entry.name))
    return pids


def children_of(parent_pid: int) -> list[int]:
    """Return the pids of the direct children of parent_pid, read from /proc."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name in brackets may contain spaces; the parent pid follows the state field.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == parent_pid:
            pids.append(int(entry.name))
    return pids


def env_without_servers(**extra: str) -> dict[str, str]:
    env = {
        key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "DATABASE_URL"}
    }
    env.update(extra)
    return env


async def test_embedded_servers_lifecycle(server_dir: Path) -> None:
    async with (
        embedded_redis(server_dir / "redis") as redis_server,
        embedded_postgres(server_dir / "pg", "crm") as pg,
    ):
        redis_pid, postgres_pid = redis_server.pid, pg.pid
        assert redis_pid is not None
        assert pid_alive(redis_pid)
        assert pid_alive(postgres_pid)

        assert await ping(redis_server.url)
        client = aioredis.from_url(redis_server.url, decode_responses=True)
        try:
            config = await client.config_get("*")
        finally:
            await client.aclose()
        assert config["port"] == "0"
        assert config["appendonly"] == "yes"
        assert config["appendfsync"] == "everysec"
        assert config["maxmemory-policy"] == "noeviction"

        applied = await migrate(pg.dsn)
        assert applied == [name for name, _ in migration_files()]
        assert await migrate(pg.dsn) == []

        conn = await asyncpg.connect(pg.dsn)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            assert await conn.fetchval("SELECT current_database()") == "crm"
            assert await conn.fetchval("SELECT to_regclass('crm_leads') IS NOT NULL")
        finally:
            await conn.close()

    assert not pid_alive(redis_pid)
    assert not pid_alive(postgres_pid)
    assert processes_mentioning(str(server_dir)) == []


WAIT_FOR_FILE = """
import pathlib, sys, time
ready, done = map(pathlib.Path, sys.argv[1:])
ready.touch()
for _ in range(1200):
    if done.exists():
        break
    time.sleep(0.1)
"""


async def wait_for_file(path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout_s} s"
        await asyncio.sleep(0.1)


async def test_second_launcher_shares_servers(server_dir: Path) -> None:
    data_dir, ready, done = server_dir / "data", server_dir / "ready", server_dir / "done"
    command = [sys.executable, "-m", "tools.devstack", "servers", "--data-dir", str(data_dir), "--"]
    first = await asyncio.create_subprocess_exec(
        *command, sys.executable, "-c", WAIT_FOR_FILE, str(ready), str(done),
        cwd=ROOT,
        env=env_without_servers(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        await wait_for_file(ready, LAUNCH_TIMEOUT_S)

        async with (
            embedded_redis(data_dir / "redis") as redis_server,
            embedded_postgres(data_dir / "pg", "crm") as pg,
        ):
            assert redis_server.pid is None
            assert not pg.owned
            conn = await asyncpg.connect(pg.dsn)
            assert await conn.fetchval("SELECT 1") == 1
            await conn.close()

        assert await ping(redis_server.url)
        assert pid_alive(pg.pid)

        done.touch()
        await asyncio.wait_for(first.wait(), LAUNCH_TIMEOUT_S)
    finally:
        if first.returncode is None:
            first.kill()
            await first.wait()

    assert first.returncode == 0
    assert not pid_alive(pg.pid)
    assert processes_mentioning(str(data_dir)) == []


async def test_urls_set_start_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")

    async with stack_servers(tmp_path) as urls:
        assert urls.redis_url == "redis://127.0.0.1:1/0"
        assert urls.database_url == "postgresql://nobody@127.0.0.1:1/none"

    assert list(tmp_path.iterdir()) == []


async def test_servers_command_exit_code(server_dir: Path) -> None:
    check = (
        "import os, sys; "
        "assert os.environ['REDIS_URL'].startswith('unix://'); "
        "assert '/crm?host=' in os.environ['DATABASE_URL']; "
        "sys.exit(7)"
    )
    command = [
        sys.executable,
        "-m",
        "tools.devstack",
        "servers",
        "--data-dir",
        str(server_dir),
        "--",
        sys.executable,
        "-c",
        check,
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=ROOT,
        env=env_without_servers(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), LAUNCH_TIMEOUT_S)

    assert process.returncode == 7, stderr.decode()
    assert processes_mentioning(str(server_dir)) == []


async def read_until(
    stream: asyncio.StreamReader, marker: bytes, timeout_s: float, log_path: Path
) -> bytes:
    """Read lines until one contains marker; fail after timeout_s, showing the launcher log."""
    seen = b""
    deadline = time.monotonic() + timeout_s
    while marker not in seen:
        remaining = deadline - time.monotonic()
        line = await asyncio.wait_for(stream.readline(), max(remaining, 0.01))
        if not line:
            log_text = log_path.read_text(errors="replace")
            raise AssertionError(f"output ended before {marker!r}; launcher log:\n{log_text}")
        seen += line
    return seen


FAKE_SERVICE = """
import json, os, pathlib, signal, sys, time
name = __spec__.parent
record = {key: os.environ.get(key) for key in ["REDIS_URL", "DATABASE_URL", "APP_ENV", "CONSUMER_NAME"]}
folder = pathlib.Path(os.environ["FAKE_SERVICE_RECORDS"])
(folder / f"{name}-{os.getpid()}.json").write_text(json.dumps(record))
if name == "worker_service" and os.environ.get("FAKE_WORKER_EXIT_CODE"):
    sys.exit(int(os.environ["FAKE_WORKER_EXIT_CODE"]))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
for _ in range(1200):
    time.sleep(0.1)
"""


def fake_services(folder: Path) -> Path:
    """Write stand-in api_service and worker_service packages that record their environment.

    The launcher runs `python -m api_service` from its working directory, so packages there
    take precedence over the real services, whose own tests live elsewhere.
    """
    for name in ["api_service", "worker_service"]:
        package = folder / name
        package.mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "__main__.py").write_text(FAKE_SERVICE)
    return folder


def open_log(path: Path) -> BinaryIO:
    """Open the file receiving the launcher's stderr; the child keeps its own descriptor."""
    return path.open("wb")


async def start_launcher(folder: Path, **env: str) -> asyncio.subprocess.Process:
    """Start `python -m tools.devstack run` with data in folder and fake services."""
    workdir = fake_services(folder / "fakes")
    records = folder / "records"
    records.mkdir()
    launcher_env = env_without_servers(
        PYTHONPATH=str(ROOT),
        DATA_DIR=str(folder / "data"),
        DEMO_LEADS="300",
        FAKE_SERVICE_RECORDS=str(records),
        **env,
    )
    with open_log(folder / "launcher.log") as log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tools.devstack", "run",
            cwd=workdir, env=launcher_env, stdout=asyncio.subprocess.PIPE, stderr=log_file,
        )  # fmt: skip


async def wait_for_records(folder: Path, count: int, timeout_s: float) -> list[dict]:
    """Wait until count fake services have written their environment record; return the records."""
    deadline = time.monotonic() + timeout_s
    while len(list(folder.glob("*.json"))) < count:
        assert time.monotonic() < deadline, f"fewer than {count} services started in {timeout_s} s"
        await asyncio.sleep(0.1)
    return [json.loads(path.read_text()) for path in sorted(folder.glob("*.json"))]


async def stop_launcher(process: asyncio.subprocess.Process) -> None:
    """Kill the launcher if a failed check left it running."""
    if process.returncode is None:
        process.kill()
        await process.wait()


async def test_run_starts_and_stops_everything(server_dir: Path) -> None:
    process = await start_launcher(
        server_dir, WORKERS="2", API_PORT="18080", API_PREFIX="/paqueteriacz"
    )
    try:
        banner = await read_until(
            process.stdout, b"Press Ctrl-C", LAUNCH_TIMEOUT_S, server_dir / "launcher.log"
        )
        assert b"http://localhost:18080/paqueteriacz/api/crm/leads/bulk-status-async" in banner
        assert b"http://localhost:18080/paqueteriacz/api/crm/jobs/<job_id>" in banner

        records = await wait_for_records(server_dir / "records", 3, LAUNCH_TIMEOUT_S)
        children = children_of(process.pid)
        assert len(children) == 4

        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), LAUNCH_TIMEOUT_S)
    finally:
        await stop_launcher(process)

    assert process.returncode == 0
    assert {record["CONSUMER_NAME"] for record in records} == {
        None,
        "devstack-worker-1",
        "devstack-worker-2",
    }
    assert {record["APP_ENV"] for record in records} == {"development"}
    assert all(record["REDIS_URL"].startswith("unix://") for record in records)
    assert all("/crm?host=" in record["DATABASE_URL"] for record in records)
    assert [pid for pid in children if pid_alive(pid)] == []
    assert processes_mentioning(str(server_dir)) == []


async def test_run_stops_when_service_dies(server_dir: Path) -> None:
    process = await start_launcher(server_dir, WORKERS="1", FAKE_WORKER_EXIT_CODE="3")
    try:
        await asyncio.wait_for(process.wait(), LAUNCH_TIMEOUT_S)
    finally:
        await stop_launcher(process)

    assert process.returncode == 1
    assert processes_mentioning(str(server_dir)) == []
