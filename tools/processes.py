"""Child processes of the development launcher: spawn them detached from the terminal, stop them."""

import asyncio
import ctypes
import ctypes.util
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence

from shared.logs import get_logger

log = get_logger(__name__)

PR_SET_PDEATHSIG = 1


class DevstackError(RuntimeError):
    """A step of the development stack failed; the message names the step and the cause."""


def _die_with_parent(parent_pid: int) -> Callable[[], None] | None:
    """Build a pre-exec hook asking Linux to send SIGTERM to the child when the launcher dies.

    Without it a launcher killed with SIGKILL would leave Redis and the services running.
    Returns None off Linux or without a C library to call prctl in.
    """
    libc_name = ctypes.util.find_library("c") if sys.platform == "linux" else None
    if libc_name is None:
        return None
    # Loaded here in the parent: between fork and exec the child should do as little as possible.
    prctl = ctypes.CDLL(libc_name, use_errno=True).prctl

    def hook() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

        # The parent may have died before prctl ran, in which case no signal will ever come.
        if os.getppid() != parent_pid:
            os._exit(1)

    return hook


async def spawn_detached(
    command: Sequence[str], env: Mapping[str, str] | None = None
) -> asyncio.subprocess.Process:
    """Start a child in its own session, so that Ctrl-C reaches only the launcher, which stops it.

    The child shares the launcher's stdout and stderr; on Linux it also gets SIGTERM when the
    launcher dies.
    """
    process = await asyncio.create_subprocess_exec(
        *command,
        env=dict(env) if env is not None else None,
        start_new_session=True,
        preexec_fn=_die_with_parent(os.getpid()),
    )
    log.info("process_started", command=" ".join(command), pid=process.pid)
    return process


def signal_group(process: asyncio.subprocess.Process, signum: int) -> None:
    """Send a signal to the process group a detached child leads, ignoring one already gone."""
    if process.returncode is not None:
        return
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


async def stop_processes(processes: Sequence[asyncio.subprocess.Process], timeout_s: float) -> None:
    """Send SIGTERM to every process group, wait up to timeout_s for all, then SIGKILL the rest."""
    for process in processes:
        signal_group(process, signal.SIGTERM)

    waits = [asyncio.ensure_future(process.wait()) for process in processes]
    if not waits:
        return
    _, pending = await asyncio.wait(waits, timeout=timeout_s)

    for process in processes:
        if process.returncode is None:
            log.warning(
                "process_killed",
                pid=process.pid,
                reason="no exit after SIGTERM",
                timeout_s=timeout_s,
            )
            signal_group(process, signal.SIGKILL)
    if pending:
        await asyncio.wait(pending)

    for process in processes:
        log.info("process_stopped", pid=process.pid, returncode=process.returncode)


async def wait_first_exit(
    processes: Sequence[asyncio.subprocess.Process],
) -> asyncio.subprocess.Process:
    """Wait until one of the processes exits and return it; cancellation leaves no task behind."""
    waits = {asyncio.ensure_future(process.wait()): process for process in processes}
    try:
        done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in waits:
            task.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
    return waits[next(iter(done))]


def exit_code(returncode: int | None) -> int:
    """Map a child's return code to a shell exit status: 128 + N for death by signal N."""
    if returncode is None:
        return 1
    if returncode < 0:
        return 128 - returncode
    return returncode
