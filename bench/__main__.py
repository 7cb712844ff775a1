"""Entry point of `make bench`: `python -m bench [--quick] [--phases reads,submit,e2e,rss,sweep,profile]`.

Runs the chosen phases against a prepared stack and writes the page: docs/benchmarks.md after a
full run of every core phase, otherwise benchmarks.md in the run folder (or --output). Service
logs and profiles go to the run folder, which is kept when a phase fails or with --keep-logs.
"""

import asyncio
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import e2e, memory, profile, reads, submit, sweep
from bench.load import load_tool
from bench.machine import describe_environment, load_average
from bench.options import DOCS_PAGE, Options, Sizes, parse_args
from bench.report import RunInfo, now_utc, render
from bench.stack import BENCH_DATABASE, BENCH_LEADS, BENCH_REDIS_DB, STREAM_KEY, Stack, open_stack
from bench.stats import Results
from shared.logs import configure_logging, get_logger
from shared.settings import Settings

log = get_logger("bench")

Phase = Callable[[Stack, Sizes, Results], Awaitable[None]]

PHASES: dict[str, Phase] = {
    "reads": reads.run,
    "submit": submit.run,
    "e2e": e2e.run,
    "rss": memory.run,
    "sweep": sweep.run,
    "profile": profile.run,
}


def run_settings(stack: Stack, options: Options) -> dict[str, str]:
    """Collect the settings the page lists: those passed to the services and the bench's own."""
    sizes = options.sizes
    values = {name.upper(): str(value) for name, value in stack.service_settings.items()}
    values.update({
        "end-to-end job": f"{sizes.job_leads:,} leads",
        "repetitions per figure": str(sizes.runs),
        "demo leads in crm_leads": f"{BENCH_LEADS:,}",
        "servers": "embedded: " + ", ".join(stack.embedded) if stack.embedded else "this machine's (REDIS_URL, DATABASE_URL)",
        "PostgreSQL database": BENCH_DATABASE,
        "Redis": f"database {BENCH_REDIS_DB}, stream {STREAM_KEY}",
        "load generator": f"{load_tool()}, 1 thread",
        "phases": ", ".join(options.phases),
    })  # fmt: skip
    return values


async def run_phases(stack: Stack, options: Options, results: Results) -> list[str]:
    """Run each phase in turn; a failed phase is logged and skipped. Return the failed ones."""
    failed = []
    timings = [["phase", "minutes", "load average at its start (1/5/15 min)", "outcome"]]
    for name in options.phases:
        started = time.monotonic()
        load = load_average()
        log.info("phase_started", phase=name, load=load)
        try:
            await PHASES[name](stack, options.sizes, results)
        except Exception:
            log.exception("phase_failed", phase=name, logs=str(stack.run_dir))
            failed.append(name)
        elapsed_s = time.monotonic() - started
        outcome = "failed, see the logs" if name in failed else "done"
        timings.append([name, f"{elapsed_s / 60:.1f}", load, outcome])
        log.info("phase_finished", phase=name, elapsed_s=round(elapsed_s, 1), outcome=outcome)
    results.tables["Phases"] = timings
    return failed


async def bench(options: Options, run_dir: Path) -> tuple[str, list[str]]:
    """Measure, and return the rendered page with the names of the phases that failed."""
    results = Results()
    started_at = now_utc()
    started = time.monotonic()
    load_before = load_average()

    async with open_stack(options.data_dir, run_dir) as stack:
        environment = await describe_environment(stack.redis, stack.database_url)
        failed = await run_phases(stack, options, results)
        settings = run_settings(stack, options)

    run = RunInfo(
        started_at=started_at,
        duration_s=time.monotonic() - started,
        command=shlex.join(["python", "-m", "bench", *sys.argv[1:]]),
        mode=options.sizes.mode,
        load_before=load_before,
        load_after=load_average(),
        settings=settings,
    )
    return render(results, environment, run), failed


def page_path(options: Options, run_dir: Path, failed: list[str]) -> Path:
    if options.output is not None:
        return options.output
    if options.writes_docs and not failed:
        return DOCS_PAGE
    return run_dir / "benchmarks.md"


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    configure_logging(Settings(app_env="development", log_format="console"))
    run_dir = Path(tempfile.mkdtemp(prefix="crm-bench-"))
    log.info("bench_started", phases=",".join(options.phases), mode=options.sizes.mode, run_dir=str(run_dir))

    try:
        import uvloop

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    page, failed = runner(bench(options, run_dir))

    path = page_path(options, run_dir, failed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    log.info("bench_finished", page=str(path), failed=",".join(failed) or None)

    if failed or options.keep_logs or path.is_relative_to(run_dir):
        log.info("run_folder_kept", run_dir=str(run_dir))
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
