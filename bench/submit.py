"""Accepting jobs: 202 latency per body size against floor (c), the synchronous endpoint, and API memory.

No worker runs here, so the queued jobs are removed from Redis between bodies. This process sends
the requests one at a time, and each latency runs from sending the request to the last byte of
the response.
"""

import math

from bench.floors import EnqueueFloor
from bench.load import SYNC_PATH, ApiClient, LoadError, job_body
from bench.options import Sizes
from bench.procfs import peak_rss_mb, rss_mb
from bench.stack import ADMIN_USER_ID, Stack, clear_jobs, running_api
from bench.stats import Results, Target, p50_of, p99_of, single
from shared import keys
from shared.logs import get_logger

log = get_logger(__name__)

SYNC_LEADS = 100
SYNC_FIRST_ID = 10_001
SYNC_WINDOWS = 9_000
SYNC_WARMUP = 10
# Queued leads kept in Redis before the next body; bigger bodies are cleared after each request.
CLEAR_AFTER_LEADS = 1_000_000
RSS_LIMIT_MB = 300.0


def submission_bodies(sizes: Sizes) -> dict[int, bytes]:
    return {size: job_body(range(1, size + 1), "APROBADO") for size in sizes.body_sizes}


def warmups(size: int) -> int:
    """Untimed submissions before timing: a few for small bodies, one for the largest."""
    return 1 if size >= 100_000 else 5


async def time_submissions(client: ApiClient, stack: Stack, body: bytes, size: int, repeats: int) -> list[float]:
    """Submit the body warmups + repeats times; return the timed latencies in milliseconds."""
    latencies: list[float] = []
    queued = 0
    for attempt in range(warmups(size) + repeats):
        _, elapsed = await client.submit(body)
        if attempt >= warmups(size):
            latencies.append(elapsed * 1000)

        queued += size
        if queued >= CLEAR_AFTER_LEADS:
            await clear_jobs(stack.redis)
            queued = 0

    await clear_jobs(stack.redis)
    log.info("submissions_timed", leads=size, requests=len(latencies), p50_ms=round(sorted(latencies)[len(latencies) // 2], 2))
    return latencies


async def time_series(client: ApiClient, stack: Stack, bodies: dict[int, bytes], sizes: Sizes) -> dict[int, list[float]]:
    return {size: await time_submissions(client, stack, body, size, sizes.body_repeats[size]) for size, body in bodies.items()}


def sync_body(index: int) -> bytes:
    """Build a request for a different window of 100 leads each time, beyond the fixed layout's ids."""
    first = SYNC_FIRST_ID + (index % SYNC_WINDOWS) * SYNC_LEADS
    return job_body(range(first, first + SYNC_LEADS), "CONFIRMADO")


async def time_sync(client: ApiClient, requests: int) -> list[float]:
    """POST the synchronous endpoint one request at a time; return the timed latencies in ms."""
    latencies: list[float] = []
    for index in range(SYNC_WARMUP + requests):
        status, response, elapsed = await client.post(SYNC_PATH, sync_body(index))
        if status not in (200, 207):
            raise LoadError(f"sync request returned {status}: {response.get('error')}")
        if index >= SYNC_WARMUP:
            latencies.append(elapsed * 1000)
    return latencies


async def time_floor_c(stack: Stack, bodies: dict[int, bytes], sizes: Sizes) -> dict[int, list[float]]:
    """Floor (c) per body size, as many times as the 202 series, in milliseconds."""
    chunk_size = int(stack.service_settings["chunk_size"])
    request_seq = int(await stack.redis.get(keys.REQUEST_SEQ) or 0)
    floor = EnqueueFloor(stack.redis, chunk_size, request_seq, ADMIN_USER_ID)
    series: dict[int, list[float]] = {}
    for size, body in bodies.items():
        await floor.measure(body)
        series[size] = [await floor.measure(body) * 1000 for _ in range(sizes.body_repeats[size])]
    return series


async def run(stack: Stack, sizes: Sizes, results: Results) -> None:
    bodies = submission_bodies(sizes)
    prevalidate_max = int(stack.service_settings["prevalidate_max_leads"])
    token = stack.admin_token()

    async with running_api(stack) as api, ApiClient(api.base_url, token) as client:
        baseline_mb = rss_mb(api.service.pid) or math.nan
        with_default = await time_series(client, stack, bodies, sizes)
        sync = await time_sync(client, sizes.sync_requests)
        peak_mb = peak_rss_mb(api.service.pid) or math.nan

    small = {size: body for size, body in bodies.items() if size <= prevalidate_max}
    async with running_api(stack, prevalidate_max_leads=0) as api, ApiClient(api.base_url, token) as client:
        without_prevalidation = await time_series(client, stack, small, sizes)

    floor_c = await time_floor_c(stack, bodies, sizes)

    record_latencies(results, with_default, without_prevalidation, floor_c, prevalidate_max)
    results.add(p50_of("sync_p50", f"POST bulk-status (sync), {SYNC_LEADS} ids, p50", "ms", sync,
                       targets=[Target("max", 10.0, "≤ 10 ms")]))
    results.add(p99_of("sync_p99", f"POST bulk-status (sync), {SYNC_LEADS} ids, p99", "ms", sync))
    results.add(single("api_rss_idle", "API RSS after start-up", "MB", baseline_mb, "VmRSS once ready"))
    results.add(single("api_rss_peak", f"API peak RSS while accepting {max(bodies):,}-id jobs", "MB", peak_mb,
                       "VmHWM over the whole 202 series", targets=[Target("max", RSS_LIMIT_MB, f"< {RSS_LIMIT_MB:.0f} MB")]))  # fmt: skip


def record_latencies(
    results: Results,
    with_default: dict[int, list[float]],
    without_prevalidation: dict[int, list[float]],
    floor_c: dict[int, list[float]],
    prevalidate_max: int,
) -> None:
    """Add a p50 and a p99 row per body size and pre-validation mode, each against floor (c)."""
    for size, samples in floor_c.items():
        results.add(p50_of(f"floor_c_p50_{size}", f"Floor (c): orjson parse + XADD script, {size:,} ids, p50", "ms", samples, section="floors"))
        results.add(p99_of(f"floor_c_p99_{size}", f"Floor (c): orjson parse + XADD script, {size:,} ids, p99", "ms", samples, section="floors"))

    for size, samples in with_default.items():
        mode = "pre-validation on" if size <= prevalidate_max else "above the pre-validation limit"
        add_latency_rows(results, f"202_{size}", f"202 for {size:,} ids ({mode})", size, samples)
    for size, samples in without_prevalidation.items():
        add_latency_rows(results, f"202_{size}_off", f"202 for {size:,} ids (pre-validation off)", size, samples)


LATENCY_TARGETS = {10_000: 5.0, 1_000_000: 300.0}


def add_latency_rows(results: Results, key: str, name: str, size: int, samples: list[float]) -> None:
    targets = []
    if size in LATENCY_TARGETS:
        targets = [Target("max", LATENCY_TARGETS[size], f"≤ {LATENCY_TARGETS[size]:g} ms"), Target("ratio_max", 2.0, "≤ 2 × floor (c)")]
    results.add(p50_of(f"{key}_p50", f"{name}, p50", "ms", samples, floor=f"floor_c_p50_{size}", targets=targets))
    results.add(p99_of(f"{key}_p99", f"{name}, p99", "ms", samples, floor=f"floor_c_p99_{size}"))
