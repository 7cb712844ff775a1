"""Profiles of the services: py-spy on a worker during one job and on the API during big
submissions and job reads, plus the CPU time each process of the stack used meanwhile.

py-spy samples only threads that are running, so a function's share of the samples is its share
of the process's CPU time, and samples / (rate × seconds) is how busy the process was.
"""

import asyncio
import re
import signal
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.e2e import OBSERVACIONES, estados, job_timeout_s
from bench.load import ApiClient, job_body, sustained_get
from bench.options import Sizes
from bench.procfs import cpu_seconds
from bench.reads import CONNECTIONS, finished_example_job
from bench.services import ServiceError
from bench.stack import (
    BENCH_DATABASE,
    CLIENT_USER_ID,
    Stack,
    clear_jobs,
    reset_tables,
    running_api,
    running_workers,
)
from bench.stats import Results
from shared.logs import get_logger
from tools.devstack import database_connection

log = get_logger(__name__)

RATE_HZ = 100
TOP = 12
ATTACH_ATTEMPTS = 3
ATTACH_CHECK_S = 2.0
STOP_TIMEOUT_S = 60.0
API_SUBMISSIONS = 3
LINE_NUMBER = re.compile(r":\d+\)$")


@dataclass
class Profile:
    name: str
    samples: int
    seconds: float
    self_samples: Counter[str]
    total_samples: Counter[str]

    @property
    def busy(self) -> float:
        return self.samples / (RATE_HZ * self.seconds)


def py_spy() -> str:
    """py-spy from the same virtual environment as this Python."""
    return str(Path(sys.executable).parent / "py-spy")


def function_name(frame: str) -> str:
    """`apply_batch (shared/lead_repository.py:120)` -> `apply_batch (shared/lead_repository.py)`."""
    return LINE_NUMBER.sub(")", frame)


def parse_raw(name: str, text: str, seconds: float) -> Profile:
    """Read py-spy's collapsed stacks: one `frame;frame;... count` line per distinct stack."""
    profile = Profile(name=name, samples=0, seconds=seconds, self_samples=Counter(), total_samples=Counter())
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [function_name(frame) for frame in stack.split(";")]
        profile.samples += int(count)
        profile.self_samples[frames[-1]] += int(count)
        for frame in set(frames):
            profile.total_samples[frame] += int(count)
    return profile


async def attach(pid: int, output: Path) -> asyncio.subprocess.Process:
    """Start `py-spy record` on pid; py-spy sometimes fails to read a process's version, so retry."""
    for attempt in range(1, ATTACH_ATTEMPTS + 1):
        process = await asyncio.create_subprocess_exec(
            py_spy(), "record", "--pid", str(pid), "--rate", str(RATE_HZ), "--format", "raw", "--output", str(output),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            await asyncio.wait_for(process.wait(), ATTACH_CHECK_S)
        except TimeoutError:
            return process
        assert process.stderr is not None
        error = (await process.stderr.read()).decode().splitlines()[:1]
        log.warning("py_spy_attach_failed", pid=pid, attempt=attempt, error=error)
    raise ServiceError(f"py-spy could not attach to process {pid}")


async def detach(process: asyncio.subprocess.Process) -> None:
    """SIGINT makes py-spy stop sampling and write its output."""
    process.send_signal(signal.SIGINT)
    try:
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_S)
    except TimeoutError:
        log.warning("py_spy_killed", pid=process.pid, timeout_s=STOP_TIMEOUT_S)
        process.kill()
        await process.wait()


async def backend_pids(stack: Stack) -> list[int]:
    """PostgreSQL server processes serving crm_bench, other than this query's own."""
    async with database_connection(stack.database_url) as conn:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", BENCH_DATABASE
        )
    return [row["pid"] for row in rows]


async def redis_pid(stack: Stack) -> int | None:
    """Return the Redis server's pid when it runs on this machine (its /proc entry is readable), else None."""
    pid = int((await stack.redis.info("server")).get("process_id", 0))
    return pid if pid and cpu_seconds(pid) is not None else None


async def cpu_snapshot(stack: Stack, processes: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of the named processes, of PostgreSQL backends (summed) and of Redis."""
    snapshot = {name: cpu_seconds(pid) or 0.0 for name, pid in processes.items()}
    snapshot["PostgreSQL backends (crm_bench)"] = sum(cpu_seconds(pid) or 0.0 for pid in await backend_pids(stack))
    pid = await redis_pid(stack)
    if pid is not None:
        snapshot["Redis server"] = cpu_seconds(pid) or 0.0
    return snapshot


async def profile_worker(stack: Stack, sizes: Sizes, results: Results) -> Profile:
    """Profile one worker through one job of the e2e size, and record the stack's CPU time meanwhile."""
    await reset_tables(stack)
    output = stack.run_dir / "worker.py-spy.txt"
    body = job_body(range(1, sizes.job_leads + 1), next(estados()), OBSERVACIONES)

    async with (
        running_api(stack) as api,
        ApiClient(api.base_url, stack.admin_token()) as client,
        running_workers(stack, 1) as workers,
    ):
        processes = {"worker": workers[0].pid, "API (polling)": api.service.pid}
        spy = await attach(workers[0].pid, output)
        before = await cpu_snapshot(stack, processes)
        started = time.monotonic()
        finished = await client.run_job(body, job_timeout_s(sizes.job_leads))
        seconds = time.monotonic() - started
        after = await cpu_snapshot(stack, processes)
        await detach(spy)

    await reset_tables(stack)
    record_cpu(results, f"CPU time during one {sizes.job_leads:,}-lead job, 1 worker ({finished.leads_per_s:,.0f} leads/s under py-spy)",
               before, after, seconds)  # fmt: skip
    return parse_raw("worker", output.read_text(), seconds)


async def profile_api(stack: Stack, sizes: Sizes) -> Profile:
    """Profile the API while it accepts the largest body a few times."""
    output = stack.run_dir / "api.py-spy.txt"
    size = max(sizes.body_sizes)
    body = job_body(range(1, size + 1), "APROBADO")

    async with running_api(stack) as api, ApiClient(api.base_url, stack.admin_token()) as client:
        spy = await attach(api.service.pid, output)
        started = time.monotonic()
        for _ in range(API_SUBMISSIONS):
            await client.submit(body)
            await clear_jobs(stack.redis)
        seconds = time.monotonic() - started
        await detach(spy)
    return parse_raw(f"API ({API_SUBMISSIONS} submissions of {size:,} ids)", output.read_text(), seconds)


async def profile_reads(stack: Stack, sizes: Sizes) -> Profile:
    """Profile the API while it serves job reads at 50 connections for one run's length."""
    output = stack.run_dir / "api-reads.py-spy.txt"
    token = stack.token(CLIENT_USER_ID, ["cliente"])
    results = Results()

    async with running_api(stack) as api:
        job_url = api.base_url + await finished_example_job(stack, api.base_url, token, results)
        spy = await attach(api.service.pid, output)
        started = time.monotonic()
        load = await sustained_get(job_url, token, sizes.wrk_seconds, CONNECTIONS)
        seconds = time.monotonic() - started
        await detach(spy)
    return parse_raw(f"API serving job reads ({load.requests_per_s:,.0f} req/s under py-spy)", output.read_text(), seconds)


def record_cpu(results: Results, title: str, before: dict[str, float], after: dict[str, float], seconds: float) -> None:
    rows = [["process", "CPU seconds", "share of the job's wall time"]]
    for name, total in after.items():
        used = total - before.get(name, 0.0)
        rows.append([name, f"{used:.1f}", f"{used / seconds:.0%}"])
    rows.append(["wall time", f"{seconds:.1f}", "100%"])
    results.tables[title] = rows


def record_profile(results: Results, profile: Profile) -> None:
    title = (
        f"py-spy, {profile.name}: top functions by own samples ({profile.samples:,} samples at {RATE_HZ} Hz, "
        f"on CPU {profile.busy:.0%} of {profile.seconds:.1f} s)"
    )
    rows = [["function", "own %", "with callees %"]]
    for frame, count in profile.self_samples.most_common(TOP):
        rows.append([f"`{frame}`", f"{count / profile.samples:.1%}", f"{profile.total_samples[frame] / profile.samples:.1%}"])
    results.tables[title] = rows


async def run(stack: Stack, sizes: Sizes, results: Results) -> None:
    record_profile(results, await profile_worker(stack, sizes, results))
    record_profile(results, await profile_api(stack, sizes))
    record_profile(results, await profile_reads(stack, sizes))
