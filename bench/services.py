"""The processes under test: the API, workers and the bare aiohttp server, each logging to a file.

Each child runs in its own session and gets SIGTERM when the bench dies, so an interrupted run
leaves nothing behind. Stopping sends SIGTERM to the child's process group, then SIGKILL.
"""

import asyncio
import ctypes
import ctypes.util
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from shared.logs import get_logger
from tools.processes import stop_processes

log = get_logger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT_S = 60.0
READY_POLL_S = 0.1
STOP_TIMEOUT_S = 30.0
PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A process under test did not start or stopped on its own; the message names its log."""


@dataclass(frozen=True)
class Service:
    name: str
    process: asyncio.subprocess.Process
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def check_alive(self) -> None:
        if self.process.returncode is not None:
            raise ServiceError(f"{self.name} exited with code {self.process.returncode}; see {self.log_path}")


def free_port() -> int:
    """Ask the kernel for a free loopback port; nothing else binds ports in the bench's range."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """Pre-exec hook: the child gets SIGTERM when the bench dies, even by SIGKILL."""

    def hook() -> None:
        libc_name = ctypes.util.find_library("c")
        if libc_name is not None:
            ctypes.CDLL(libc_name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent_pid:
            os._exit(1)

    return hook


async def spawn(name: str, args: Sequence[str], env: Mapping[str, str], log_dir: Path) -> Service:
    """Start `python <args>` from the repository root, with stdout and stderr in log_dir/<name>.log."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("ab") as log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *args,
            env=dict(env),
            cwd=REPO_ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(os.getpid()),
        )
    log.info("service_started", service=name, pid=process.pid, log=str(log_path))
    return Service(name=name, process=process, log_path=log_path)


async def stop(services: Sequence[Service]) -> None:
    """Stop services gracefully (workers drain their chunks), killing any still up after the timeout."""
    await stop_processes([service.process for service in services], STOP_TIMEOUT_S)


async def wait_http_ok(url: str, service: Service, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll url until it returns 200, failing early when the service exits."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        while time.monotonic() < deadline:
            service.check_alive()
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except (TimeoutError, aiohttp.ClientError) as error:
                log.debug("service_not_ready", service=service.name, error=repr(error))
            await asyncio.sleep(READY_POLL_S)
    raise ServiceError(f"{service.name} did not return 200 on {url} within {timeout_s} s; see {service.log_path}")
