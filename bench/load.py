"""Load against the API: a client for timed requests and jobs, and wrk for sustained reads.

wrk comes from the Debian package. Where it is missing, bench.loadgen (an aiohttp client in its
own process) takes its place, and the page names the tool used.
"""

import asyncio
import os
import re
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Self

import aiohttp
import orjson

from bench.services import REPO_ROOT
from shared.logs import get_logger

log = get_logger(__name__)

SUBMIT_PATH = "/api/crm/leads/bulk-status-async"
SYNC_PATH = "/api/crm/leads/bulk-status"
FINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})
# A poll of a 1M-lead job renders up to its 1,000 inline failures. Polling every 50 ms took about
# 9 % of a core from the 2-core machine under test. Polling every 200 ms takes a quarter of that
# and adds at most 0.2 s to a job that runs for about half a minute or more.
POLL_INTERVAL_S = 0.2
REQUEST_TIMEOUT_S = 120.0
WRK_SLACK_S = 30.0

UNIT_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
WRK_PERCENTILE = re.compile(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
WRK_RATE = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
WRK_TOTAL = re.compile(r"^\s+(\d+) requests in", re.MULTILINE)
WRK_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
WRK_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


class LoadError(RuntimeError):
    """A request did not get the response the measurement depends on."""


def job_body(lead_ids: Sequence[int], estado: str, observaciones: str | None = None) -> bytes:
    """Encode the JSON body of both bulk endpoints."""
    body: dict[str, object] = {"lead_ids": list(lead_ids), "estado": estado}
    if observaciones is not None:
        body["observaciones"] = observaciones
    return orjson.dumps(body)


@dataclass(frozen=True)
class FinishedJob:
    job_id: str
    total_leads: int
    elapsed_s: float
    body: dict[str, Any]

    @property
    def leads_per_s(self) -> float:
        return self.total_leads / self.elapsed_s


class ApiClient:
    """One HTTP session against the API with a fixed bearer token; use `async with`."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        self.session = aiohttp.ClientSession(timeout=timeout, headers=self.headers)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def post(self, path: str, body: bytes) -> tuple[int, dict[str, Any], float]:
        """POST a JSON body; return the status, the decoded response body and the seconds until it arrived."""
        assert self.session is not None
        started = time.perf_counter()
        async with self.session.post(f"{self.base_url}{path}", data=body, headers={"Content-Type": "application/json"}) as response:
            raw = await response.read()
        elapsed = time.perf_counter() - started
        return response.status, orjson.loads(raw), elapsed

    async def get(self, path: str) -> tuple[int, dict[str, Any]]:
        assert self.session is not None
        async with self.session.get(f"{self.base_url}{path}") as response:
            return response.status, orjson.loads(await response.read())

    async def submit(self, body: bytes) -> tuple[str, float]:
        """Queue a job; return its id and the 202 latency in seconds."""
        status, response, elapsed = await self.post(SUBMIT_PATH, body)
        if status != 202:
            raise LoadError(f"job submission returned {status}: {response.get('error')} {response.get('message')}")
        return response["job_id"], elapsed

    async def wait_finished(self, job_id: str, timeout_s: float) -> tuple[dict[str, Any], float]:
        """Poll the job every POLL_INTERVAL_S; return its final body and when it was first seen final."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status, body = await self.get(f"/api/crm/jobs/{job_id}")
            if status != 200:
                raise LoadError(f"reading job {job_id} returned {status}: {body.get('error')}")
            if body["status"] in FINAL_STATUSES:
                return body, time.perf_counter()
            await asyncio.sleep(POLL_INTERVAL_S)
        raise LoadError(f"job {job_id} did not finish within {timeout_s} s")

    async def run_job(self, body: bytes, timeout_s: float) -> FinishedJob:
        """Submit a job and time it from the 202 to `completed` seen by polling."""
        job_id, _ = await self.submit(body)
        accepted_at = time.perf_counter()
        final, finished_at = await self.wait_finished(job_id, timeout_s)
        if final["status"] != "completed":
            raise LoadError(f"job {job_id} ended {final['status']}: {final.get('error_message')}")
        return FinishedJob(job_id=job_id, total_leads=final["total_leads"], elapsed_s=finished_at - accepted_at, body=final)


@dataclass(frozen=True)
class LoadResult:
    """Figures of one sustained-load run; `errors` counts non-2xx responses and socket errors."""

    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    tool: str


def parse_wrk(output: str) -> LoadResult:
    """Read rate, median and 99th percentile latency, and error counts from `wrk --latency` output."""
    percentiles = {int(q): float(value) * UNIT_TO_MS[unit] for q, value, unit in WRK_PERCENTILE.findall(output)}
    rate = WRK_RATE.search(output)
    total = WRK_TOTAL.search(output)
    if rate is None or total is None or 50 not in percentiles or 99 not in percentiles:
        raise LoadError(f"cannot read wrk output: {output[:500]!r}")

    non_2xx = WRK_NON_2XX.search(output)
    socket_errors = WRK_SOCKET_ERRORS.search(output)
    errors = int(non_2xx.group(1)) if non_2xx else 0
    if socket_errors:
        errors += sum(int(count) for count in socket_errors.groups())
    return LoadResult(
        requests_per_s=float(rate.group(1)),
        p50_ms=percentiles[50],
        p99_ms=percentiles[99],
        requests=int(total.group(1)),
        errors=errors,
        tool="wrk",
    )


def load_tool() -> str:
    return "wrk" if shutil.which("wrk") else "bench.loadgen"


async def _run(command: list[str], timeout_s: float, env: dict[str, str] | None = None) -> str:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=REPO_ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError as error:
        process.kill()
        await process.wait()
        raise LoadError(f"{command[0]} timed out after {timeout_s} s") from error
    if process.returncode != 0:
        raise LoadError(f"{command[0]} exited with {process.returncode}: {stderr.decode()[:500]}")
    return stdout.decode()


async def sustained_get(url: str, token: str | None, seconds: int, connections: int) -> LoadResult:
    """GET url from `connections` keep-alive connections for `seconds`, with wrk or bench.loadgen."""
    header = ["-H", f"Authorization: Bearer {token}"] if token else []
    if load_tool() == "wrk":
        command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s", *header, url]
        return parse_wrk(await _run(command, seconds + WRK_SLACK_S))

    command = [sys.executable, "-m", "bench.loadgen", "--url", url, "--seconds", str(seconds), "--connections", str(connections)]
    env = {**os.environ, "BENCH_TOKEN": token or ""}
    report = orjson.loads(await _run(command, seconds + WRK_SLACK_S, env))
    return LoadResult(tool="bench.loadgen", **report)
