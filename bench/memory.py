"""Worker memory over a long run: several jobs of the e2e size back to back, RSS sampled throughout.

The tables are not reset between these jobs, as in production; the per-job throughput shows
what the growing history and outbox tables cost.
"""

import asyncio
import math
import time

from bench.e2e import OBSERVACIONES, estados, job_timeout_s
from bench.load import ApiClient, job_body
from bench.options import Sizes
from bench.procfs import peak_rss_mb, rss_mb
from bench.stack import Stack, reset_tables, running_api, running_workers
from bench.stats import Results, Target, single
from shared.logs import get_logger

log = get_logger(__name__)

SAMPLE_INTERVAL_S = 0.5
FLAT_GROWTH = 1.10


async def sample_rss(pid: int, samples: list[tuple[float, float]]) -> None:
    """Append (seconds since start, RSS in MiB) every SAMPLE_INTERVAL_S until cancelled."""
    started = time.monotonic()
    while True:
        value = rss_mb(pid)
        if value is not None:
            samples.append((time.monotonic() - started, value))
        await asyncio.sleep(SAMPLE_INTERVAL_S)


async def run(stack: Stack, sizes: Sizes, results: Results) -> None:
    await reset_tables(stack)
    samples: list[tuple[float, float]] = []
    rows: list[list[str]] = []
    after_job: list[float] = []
    next_estado = estados()

    async with (
        running_api(stack) as api,
        ApiClient(api.base_url, stack.admin_token()) as client,
        running_workers(stack, 1) as workers,
    ):
        pid = workers[0].pid
        idle_mb = rss_mb(pid) or math.nan
        sampler = asyncio.create_task(sample_rss(pid, samples))
        try:
            for number in range(1, sizes.rss_jobs + 1):
                body = job_body(range(1, sizes.job_leads + 1), next(next_estado), OBSERVACIONES)
                finished = await client.run_job(body, job_timeout_s(sizes.job_leads))
                after_job.append(rss_mb(pid) or math.nan)
                rows.append([str(number), f"{finished.leads_per_s:,.0f}", f"{after_job[-1]:.1f}"])
                log.info("rss_job_done", job=number, leads_per_s=round(finished.leads_per_s), rss_mb=round(after_job[-1], 1))
        finally:
            sampler.cancel()
        peak_mb = peak_rss_mb(pid) or math.nan

    await reset_tables(stack)
    record(results, sizes, idle_mb, after_job, peak_mb, samples, rows)


def record(
    results: Results,
    sizes: Sizes,
    idle_mb: float,
    after_job: list[float],
    peak_mb: float,
    samples: list[tuple[float, float]],
    rows: list[list[str]],
) -> None:
    total = f"{sizes.rss_jobs} jobs of {sizes.job_leads:,} leads"
    results.add(single("worker_rss_idle", "Worker RSS before the first job", "MB", idle_mb, "VmRSS once reading"))
    results.add(single("worker_rss_first", "Worker RSS after job 1", "MB", after_job[0], f"VmRSS; {total}"))
    results.add(single(
        "worker_rss_last", f"Worker RSS after job {len(after_job)}", "MB", after_job[-1], f"VmRSS; {total}",
        targets=[Target("ratio_max", FLAT_GROWTH, "flat: ≤ 1.1 × after job 1", ref="worker_rss_first")],
    ))  # fmt: skip
    results.add(single("worker_rss_peak", f"Worker peak RSS over {total}", "MB", peak_mb, "VmHWM"))

    values = [value for _, value in samples]
    title = f"Worker memory over {total}, one worker, tables not reset between jobs"
    results.tables[title] = [["job", "leads/s", "RSS after the job (MB)"], *rows]
    results.notes.append(
        f"Worker RSS was sampled {len(values)} times, every {SAMPLE_INTERVAL_S} s, over {total} run back to back "
        f"without resetting the tables: min {min(values, default=math.nan):.1f} MB, max {max(values, default=math.nan):.1f} MB."
    )
