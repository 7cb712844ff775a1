"""Comparison of the worker's chunk statement with variants that may lower floor (a).

`python -m bench.sql_variants` creates crm_bench_sql on DATABASE_URL's server (it needs a local
server, since it reads the backend's CPU time from /proc), loads demo leads, and for each table
fillfactor and statement variant applies the same chunks from one connection. It prints, per
variant, the median over runs of the wall time and the backend's CPU time per chunk, and the
share of updates that were HOT (no index entry written), then drops the database.
"""

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import time
from dataclasses import dataclass

import asyncpg

from bench.floors import ChunkedJob
from bench.procfs import cpu_seconds
from shared.lead_repository import APPLY_BATCH_SQL
from shared.logs import configure_logging, get_logger
from shared.migrate import apply_migrations
from shared.settings import Settings
from tools.demo_data import load_demo_data
from tools.embedded_postgres import with_database

log = get_logger(__name__)

SCRATCH_DATABASE = "crm_bench_sql"
RESET_SQL = "TRUNCATE crm_lead_status_history, crm_notifications, crm_bulk_job_chunks"
# 50 leaves room on every page for a new version of each row, so a whole pass can be HOT.
FILLFACTORS = (100, 50)

VARIANTS = {
    "worker statement": APPLY_BATCH_SQL,
    "without FOR UPDATE": APPLY_BATCH_SQL.replace("    FOR UPDATE\n", ""),
}


@dataclass(frozen=True)
class Pass:
    wall_ms: float
    cpu_ms: float
    hot_share: float


async def update_counts(conn: asyncpg.Connection) -> tuple[int, int]:
    """crm_leads' updates and HOT updates so far, with this backend's own counts flushed first."""
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    row = await conn.fetchrow("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'crm_leads'")
    return int(row["n_tup_upd"]), int(row["n_tup_hot_upd"])


async def apply_pass(conn: asyncpg.Connection, sql: str, job: ChunkedJob) -> Pass:
    """Apply every chunk; return the wall and backend CPU time per chunk and the share of HOT updates."""
    backend = await conn.fetchval("SELECT pg_backend_pid()")
    updates_before, hot_before = await update_counts(conn)
    cpu_before = cpu_seconds(backend) or 0.0
    started = time.perf_counter()
    for index, lead_ids in enumerate(job.chunks):
        await conn.fetch(sql, lead_ids, job.estado, job.request_seq, True, job.actor_user_id, job.observaciones, job.job_id, index)
    wall = time.perf_counter() - started
    cpu = (cpu_seconds(backend) or 0.0) - cpu_before
    updates_after, hot_after = await update_counts(conn)

    chunks = len(job.chunks)
    hot_share = (hot_after - hot_before) / max(updates_after - updates_before, 1)
    return Pass(wall_ms=wall * 1000 / chunks, cpu_ms=cpu * 1000 / chunks, hot_share=hot_share)


async def reset(conn: asyncpg.Connection) -> None:
    await conn.execute(RESET_SQL)
    await conn.execute("VACUUM ANALYZE crm_leads")


async def next_job(conn: asyncpg.Connection, leads: int, chunk_size: int, estado: str) -> ChunkedJob:
    seq = int(await conn.fetchval("SELECT coalesce(max(last_request_seq), 0) + 1 FROM crm_leads"))
    return ChunkedJob.split(
        f"bulk_sql{secrets.token_hex(4)}", range(1, leads + 1), chunk_size,
        estado=estado, request_seq=seq, actor_user_id=9000, observaciones="Actualización masiva: Benchmark",
    )  # fmt: skip


async def measure(dsn: str, leads: int, chunk_size: int, runs: int) -> dict[str, list[Pass]]:
    conn = await asyncpg.connect(dsn)
    results: dict[str, list[Pass]] = {}
    estados = ("APROBADO", "CONFIRMADO")
    try:
        for fillfactor in FILLFACTORS:
            await conn.execute(f"ALTER TABLE crm_leads SET (fillfactor = {fillfactor})")
            await conn.execute("VACUUM FULL crm_leads")
            # One untimed pass first, so every timed pass finds the table in its steady state.
            await apply_pass(conn, APPLY_BATCH_SQL, await next_job(conn, leads, chunk_size, "EN_ESPERA"))
            for run in range(runs):
                for name, sql in VARIANTS.items():
                    await reset(conn)
                    job = await next_job(conn, leads, chunk_size, estados[run % 2])
                    result = await apply_pass(conn, sql, job)
                    results.setdefault(f"{name}, fillfactor {fillfactor}", []).append(result)
                    log.info("sql_variant_pass", variant=name, fillfactor=fillfactor, run=run + 1,
                             wall_ms=round(result.wall_ms, 1), cpu_ms=round(result.cpu_ms, 1), hot_share=round(result.hot_share, 2))  # fmt: skip
    finally:
        await conn.close()
    return results


async def run(server_url: str, leads: int, chunk_size: int, runs: int) -> None:
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}"')
    await admin.execute(f'CREATE DATABASE "{SCRATCH_DATABASE}"')
    dsn = with_database(server_url, SCRATCH_DATABASE)
    try:
        conn = await asyncpg.connect(dsn)
        await apply_migrations(conn)
        await load_demo_data(conn, leads, 42)
        await conn.close()
        results = await measure(dsn, leads, chunk_size, runs)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH_DATABASE}" WITH (FORCE)')
        await admin.close()

    print(f"| variant ({leads:,} leads, chunks of {chunk_size}, median of {runs}) | wall ms/chunk | backend CPU ms/chunk | HOT updates |")
    print("|---|---|---|---|")
    for name, passes in results.items():
        wall = statistics.median(p.wall_ms for p in passes)
        cpu = statistics.median(p.cpu_ms for p in passes)
        hot = statistics.median(p.hot_share for p in passes)
        print(f"| {name} | {wall:.1f} | {cpu:.1f} | {hot:.0%} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sql_variants", description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--chunk-size", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    configure_logging(Settings(app_env="development", log_format="console"))
    server_url = os.environ.get("DATABASE_URL")
    if not server_url:
        print("sql_variants: set DATABASE_URL to a local PostgreSQL server", file=sys.stderr)
        return 2
    asyncio.run(run(server_url, args.leads, args.chunk_size, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
