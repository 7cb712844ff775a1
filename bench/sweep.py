"""Worker settings compared: WORKER_CONCURRENCY by CHUNK_SIZE, one worker, with floor (a) per chunk size.

CHUNK_SIZE is applied when the API splits a job, so the API restarts for each chunk size; the
worker's concurrency is its own setting. Every run starts from reset tables, as in bench.e2e.
"""

import statistics
from collections import defaultdict

from bench.e2e import estados, run_floor, run_workers_job
from bench.floors import worker_statement
from bench.load import ApiClient
from bench.options import Sizes
from bench.stack import Stack, reset_tables, running_api
from bench.stats import Results
from shared.logs import get_logger

log = get_logger(__name__)

FLOOR = "floor (a), 1 connection"


async def run(stack: Stack, sizes: Sizes, results: Results) -> None:
    series: dict[tuple[int, str], list[float]] = defaultdict(list)
    next_estado = estados()

    for repetition in range(1, sizes.sweep_runs + 1):
        for chunk_size in sizes.sweep_chunk_sizes:
            await reset_tables(stack)
            floor = await run_floor(stack, worker_statement, 1, next(next_estado), sizes.job_leads, chunk_size)
            series[(chunk_size, FLOOR)].append(floor)

            async with running_api(stack, chunk_size=chunk_size) as api, ApiClient(api.base_url, stack.admin_token()) as client:
                for concurrency in sizes.sweep_concurrency:
                    await reset_tables(stack)
                    finished = await run_workers_job(
                        stack, client, 1, next(next_estado), sizes.job_leads, worker_concurrency=concurrency
                    )
                    series[(chunk_size, f"concurrency {concurrency}")].append(finished.leads_per_s)
                    log.info("sweep_run", repetition=repetition, chunk_size=chunk_size, concurrency=concurrency,
                             leads_per_s=round(finished.leads_per_s))  # fmt: skip
    await reset_tables(stack)
    record(results, sizes, series)


def median_cell(samples: list[float]) -> str:
    if len(samples) == 1:
        return f"{samples[0]:,.0f}"
    return f"{statistics.median(samples):,.0f} ({min(samples):,.0f} – {max(samples):,.0f})"


def record(results: Results, sizes: Sizes, series: dict[tuple[int, str], list[float]]) -> None:
    columns = [f"concurrency {concurrency}" for concurrency in sizes.sweep_concurrency] + [FLOOR]
    header = ["CHUNK_SIZE", *(f"{column} (leads/s)" for column in columns)]
    rows = []
    for chunk_size in sizes.sweep_chunk_sizes:
        cells = []
        for column in columns:
            cells.append(median_cell(series[(chunk_size, column)]))
        rows.append([str(chunk_size), *cells])

    runs = f"median (min – max) of {sizes.sweep_runs} runs" if sizes.sweep_runs > 1 else "one run each"
    title = f"Worker settings: one worker, {sizes.job_leads:,}-lead job, {runs}"
    results.tables[title] = [header, *rows]

    workers = {key: statistics.median(samples) for key, samples in series.items() if key[1] != FLOOR}
    (best_chunk, best_column), best = max(workers.items(), key=lambda item: item[1])
    results.notes.append(f"Best worker settings in the sweep: CHUNK_SIZE={best_chunk}, {best_column}, {best:,.0f} leads/s.")
