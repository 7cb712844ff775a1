"""Job status reads under sustained load, against floor (b), a bare aiohttp handler.

The job read is a small finished job of cliente 1: the contract's example of ten leads, where
lead 5 belongs to another client and fails. It is read with that client's token, so each request
verifies a token, reads the job hash and its failure list, and renders the body.
"""

import os

from bench.load import ApiClient, LoadResult, job_body, sustained_get
from bench.options import Sizes
from bench.services import free_port, spawn, stop, wait_http_ok
from bench.stack import CLIENT_USER_ID, Stack, running_api, running_workers
from bench.stats import Results, Target, over_runs
from shared.logs import get_logger

log = get_logger(__name__)

CONNECTIONS = 50
WARMUP_S = 2
JOB_TIMEOUT_S = 60.0
EXAMPLE_IDS = range(1, 11)


async def finished_example_job(stack: Stack, base_url: str, token: str, results: Results) -> str:
    """Run the ten-lead example job to completion with one worker; return its status path."""
    body = job_body(EXAMPLE_IDS, "aprobado", "Procesamiento masivo de campaña")
    async with ApiClient(base_url, token) as client, running_workers(stack, 1):
        finished = await client.run_job(body, JOB_TIMEOUT_S)

    failed = finished.body["failed_leads"]
    results.checks.append(f"Status-read job: {finished.body['successful_leads']} successful, {failed} failed (expected 9 and 1).")
    return f"/api/crm/jobs/{finished.job_id}"


async def measure_pair(bare_url: str, job_url: str, token: str, seconds: int) -> tuple[LoadResult, LoadResult]:
    """Run the bare server's load and the API's load back to back, so both see the same background load."""
    bare = await sustained_get(bare_url, None, seconds, CONNECTIONS)
    api = await sustained_get(job_url, token, seconds, CONNECTIONS)
    log.info(
        "reads_run",
        bare_rps=round(bare.requests_per_s),
        api_rps=round(api.requests_per_s),
        api_p99_ms=round(api.p99_ms, 2),
        errors=bare.errors + api.errors,
    )
    return bare, api


async def run(stack: Stack, sizes: Sizes, results: Results) -> None:
    token = stack.token(CLIENT_USER_ID, ["cliente"])
    bare_port = free_port()
    bare_runs: list[LoadResult] = []
    api_runs: list[LoadResult] = []

    async with running_api(stack) as api:
        job_url = api.base_url + await finished_example_job(stack, api.base_url, token, results)
        bare = await spawn(f"bare-{bare_port}", ["-m", "bench.bare_server", "--port", str(bare_port)], dict(os.environ), stack.run_dir)
        try:
            bare_url = f"http://127.0.0.1:{bare_port}/"
            await wait_http_ok(bare_url, bare)
            await measure_pair(bare_url, job_url, token, WARMUP_S)
            for _ in range(sizes.runs):
                bare_result, api_result = await measure_pair(bare_url, job_url, token, sizes.wrk_seconds)
                bare_runs.append(bare_result)
                api_runs.append(api_result)
        finally:
            await stop([bare])

    record(results, bare_runs, api_runs, sizes.wrk_seconds)


def record(results: Results, bare_runs: list[LoadResult], api_runs: list[LoadResult], seconds: int) -> None:
    load = f"{CONNECTIONS} connections, {seconds} s per run, {api_runs[0].tool}"
    results.add(over_runs("floor_b_rps", f"Floor (b): bare aiohttp handler ({load})", "req/s",
                          [run.requests_per_s for run in bare_runs], section="floors"))
    results.add(over_runs("floor_b_p99", "Floor (b): bare aiohttp handler, p99", "ms",
                          [run.p99_ms for run in bare_runs], section="floors"))
    results.add(over_runs("reads_rps", f"GET /api/crm/jobs/{{id}} ({load})", "req/s",
                          [run.requests_per_s for run in api_runs], floor="floor_b_rps",
                          targets=[Target("ratio_min", 0.5, "≥ 0.5 × floor (b)")]))
    results.add(over_runs("reads_p50", "GET /api/crm/jobs/{id}, p50", "ms", [run.p50_ms for run in api_runs]))
    results.add(over_runs("reads_p99", "GET /api/crm/jobs/{id}, p99", "ms", [run.p99_ms for run in api_runs],
                          floor="floor_b_p99", targets=[Target("max", 5.0, "≤ 5 ms")]))  # fmt: skip

    errors = sum(run.errors for run in bare_runs + api_runs)
    results.checks.append(f"Sustained reads: {errors} non-2xx answers or socket errors over {2 * len(api_runs)} runs.")
