"""End-to-end job throughput with one and two workers, against floors (a) and (a') in the same run.

Each repetition runs every floor and every worker count once, in turn, so that background load
on the shared machine spreads over all of them. Before each run the tables a job appends to are
emptied and crm_leads is vacuumed, so no run pays for the rows of the one before.
"""

import itertools
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator

from bench.floors import ChunkedJob, ChunkStep, four_statements, run_sql_floor, worker_statement
from bench.load import ApiClient, FinishedJob, job_body
from bench.options import Sizes
from bench.stack import ADMIN_USER_ID, Stack, reset_tables, running_api, running_workers
from bench.stats import Results, Target, over_runs
from shared import keys
from shared.logs import get_logger
from tools.devstack import database_connection

log = get_logger(__name__)

OBSERVACIONES = "Benchmark"
HISTORY_TEXT = f"Actualización masiva: {OBSERVACIONES}"
ESTADOS = ("APROBADO", "CONFIRMADO", "EN_TRANSITO", "EN_BODEGA", "CONTACTADO")
MIN_JOB_TIMEOUT_S = 300.0
SLOWEST_EXPECTED_LEADS_PER_S = 2_000


def estados() -> Iterator[str]:
    """Cycle through the states, so that every run changes each lead's estado."""
    return itertools.cycle(ESTADOS)


def job_timeout_s(leads: int) -> float:
    return max(MIN_JOB_TIMEOUT_S, leads / SLOWEST_EXPECTED_LEADS_PER_S)


async def existing_leads(stack: Stack, job_leads: int) -> int:
    """Count the existing leads among ids 1..job_leads: the history rows each run must write."""
    async with database_connection(stack.database_url) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM crm_leads WHERE id BETWEEN 1 AND $1", job_leads))


async def history_rows(stack: Stack) -> int:
    async with database_connection(stack.database_url) as conn:
        return int(await conn.fetchval("SELECT count(*) FROM crm_lead_status_history"))


async def run_workers_job(
    stack: Stack, client: ApiClient, workers: int, estado: str, job_leads: int, **overrides: object
) -> FinishedJob:
    """Start the workers, then submit one job of ids 1..job_leads and time it to completion."""
    body = job_body(range(1, job_leads + 1), estado, OBSERVACIONES)
    async with running_workers(stack, workers, **overrides):
        return await client.run_job(body, job_timeout_s(job_leads))


async def run_floor(
    stack: Stack, step: ChunkStep, connections: int, estado: str, job_leads: int, chunk_size: int
) -> float:
    """Apply ids 1..job_leads in chunks as the API splits them, with a fresh request sequence; return leads/s."""
    job = ChunkedJob.split(
        f"bulk_floor{secrets.token_hex(6)}",
        range(1, job_leads + 1),
        chunk_size,
        estado=estado,
        request_seq=int(await stack.redis.incr(keys.REQUEST_SEQ)),
        actor_user_id=ADMIN_USER_ID,
        observaciones=HISTORY_TEXT,
    )
    elapsed = await run_sql_floor(stack.database_url, job, step, connections)
    return job.lead_count / elapsed


Measure = Callable[[Stack, ApiClient, str, int], Awaitable[float]]


def floor_measure(step: ChunkStep, connections: int) -> Measure:
    async def measure(stack: Stack, client: ApiClient, estado: str, job_leads: int) -> float:
        chunk_size = int(stack.service_settings["chunk_size"])
        return await run_floor(stack, step, connections, estado, job_leads, chunk_size)

    return measure


def workers_measure(workers: int) -> Measure:
    async def measure(stack: Stack, client: ApiClient, estado: str, job_leads: int) -> float:
        return (await run_workers_job(stack, client, workers, estado, job_leads)).leads_per_s

    return measure


PLAN: dict[str, Measure] = {
    "floor_a_1": floor_measure(worker_statement, 1),
    "floor_a_2": floor_measure(worker_statement, 2),
    "floor_ap_1": floor_measure(four_statements, 1),
    "floor_ap_2": floor_measure(four_statements, 2),
    "e2e_1": workers_measure(1),
    "e2e_2": workers_measure(2),
}


async def run(stack: Stack, sizes: Sizes, results: Results) -> None:
    expected_rows = await existing_leads(stack, sizes.job_leads)
    series: dict[str, list[float]] = defaultdict(list)
    wrong_counts: list[str] = []
    next_estado = estados()

    async with running_api(stack) as api, ApiClient(api.base_url, stack.admin_token()) as client:
        for repetition in range(1, sizes.runs + 1):
            for name, measure in PLAN.items():
                await reset_tables(stack)
                rate = await measure(stack, client, next(next_estado), sizes.job_leads)
                series[name].append(rate)

                written = await history_rows(stack)
                if written != expected_rows:
                    wrong_counts.append(f"{name} run {repetition}: {written}")
                log.info("e2e_run", measure=name, repetition=repetition, leads_per_s=round(rate), history_rows=written)
        await reset_tables(stack)

    concurrency = int(stack.service_settings["worker_concurrency"])
    record(results, series, sizes.job_leads, concurrency)
    note_scaling(results, concurrency)
    results.checks.append(
        f"End to end and floors (a), (a'): every run wrote {expected_rows:,} history rows."
        if not wrong_counts
        else f"History rows differing from {expected_rows:,}: {'; '.join(wrong_counts)}"
    )


def note_scaling(results: Results, concurrency: int) -> None:
    """State how much a second connection gains on the bare floor, which bounds a second worker's gain."""
    scaling = results.ratio(results.metrics["floor_a_2"], "floor_a_1")
    if scaling is None:
        return
    results.notes.append(
        f"On this machine floor (a) runs {scaling:.2f} times faster with 2 connections than with 1, so the "
        f"database work itself bounds what a second worker can add. One worker keeps {concurrency} chunks in flight."
    )


def record(results: Results, series: dict[str, list[float]], job_leads: int, concurrency: int) -> None:
    size = f"{job_leads:,} leads"
    for key, label in (("floor_a", "Floor (a): the worker's statement"), ("floor_ap", "Floor (a'): four plain statements")):
        for connections in (1, 2):
            name = f"{label}, bare asyncpg loop, {connections} connection{'s' if connections > 1 else ''} ({size})"
            results.add(over_runs(f"{key}_{connections}", name, "leads/s", series[f"{key}_{connections}"], section="floors"))

    results.add(over_runs(
        "e2e_1", f"End to end, 1 worker ({size}, {concurrency} chunks in flight)", "leads/s", series["e2e_1"],
        floor="floor_a_1",
        targets=[Target("ratio_min", 0.9, "≥ 0.9 × floor (a), 1 connection"),
                 Target("ratio_min", 0.9, "≥ 0.9 × floor (a'), 1 connection", ref="floor_ap_1")],
        references=[(f"floor (a) with {concurrency} connections, as many as the worker's chunks in flight",
                     f"floor_a_{concurrency}")] if concurrency == 2 else [],
    ))
    results.add(over_runs(
        "e2e_2", f"End to end, 2 workers ({size}, {concurrency} chunks in flight each)", "leads/s", series["e2e_2"],
        floor="floor_a_2",
        targets=[Target("ratio_min", 1.6, "≥ 1.6 × 1 worker", ref="e2e_1")],
        references=[("floor (a'), 2 connections", "floor_ap_2")],
    ))  # fmt: skip
