"""Command line of `python -m bench`: which phases run, at which sizes, and where the page goes."""

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

CORE_PHASES = ("reads", "submit", "e2e", "rss")
EXTRA_PHASES = ("sweep", "profile")
ALL_PHASES = CORE_PHASES + EXTRA_PHASES

DOCS_PAGE = Path("docs/benchmarks.md")


@dataclass(frozen=True)
class Sizes:
    """Sizes and repetitions of each measurement; the `full` set is the one the committed page quotes."""

    mode: str
    job_leads: int
    runs: int
    body_sizes: tuple[int, ...]
    # Timed submissions per body size; the big bodies get fewer, at least five.
    body_repeats: dict[int, int]
    sync_requests: int
    wrk_seconds: int
    rss_jobs: int
    sweep_concurrency: tuple[int, ...]
    sweep_chunk_sizes: tuple[int, ...]
    sweep_runs: int


FULL = Sizes(
    mode="full",
    job_leads=1_000_000,
    runs=3,
    body_sizes=(1_000, 10_000, 100_000, 1_000_000),
    body_repeats={1_000: 200, 10_000: 60, 100_000: 15, 1_000_000: 5},
    sync_requests=300,
    wrk_seconds=10,
    rss_jobs=5,
    sweep_concurrency=(1, 2, 4),
    sweep_chunk_sizes=(500, 1_000, 2_000, 5_000),
    sweep_runs=3,
)

QUICK = Sizes(
    mode="quick",
    job_leads=100_000,
    runs=3,
    body_sizes=(1_000, 10_000, 100_000),
    body_repeats={1_000: 30, 10_000: 10, 100_000: 5},
    sync_requests=50,
    wrk_seconds=3,
    rss_jobs=2,
    sweep_concurrency=(1, 2, 4),
    sweep_chunk_sizes=(500, 1_000, 2_000, 5_000),
    sweep_runs=1,
)


@dataclass(frozen=True)
class Options:
    phases: tuple[str, ...]
    sizes: Sizes
    output: Path | None
    data_dir: Path
    keep_logs: bool

    @property
    def writes_docs(self) -> bool:
        """Only a full run of every core phase may replace the committed page."""
        return self.sizes.mode == "full" and set(CORE_PHASES) <= set(self.phases)


def parse_phases(text: str) -> tuple[str, ...]:
    """Turn `reads,e2e` or `all` into phase names in their run order."""
    names = {name.strip() for name in text.split(",") if name.strip()}
    if "all" in names:
        names = set(ALL_PHASES)
    if "core" in names:
        names = (names - {"core"}) | set(CORE_PHASES)
    unknown = names - set(ALL_PHASES)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown phase(s): {', '.join(sorted(unknown))}; choose from {', '.join(ALL_PHASES)}")
    return tuple(name for name in ALL_PHASES if name in names)


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Measure the API and the workers against their floors and write docs/benchmarks.md.",
    )
    parser.add_argument(
        "--phases",
        type=parse_phases,
        default=CORE_PHASES,
        help=f"comma-separated subset of {', '.join(ALL_PHASES)}, or core / all (default: core)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller jobs and fewer requests, for iterating")
    parser.add_argument("--runs", type=int, help="repetitions per figure (default: 3)")
    parser.add_argument("--job-leads", type=int, help="leads per end-to-end job (default: 1,000,000; quick: 100,000)")
    parser.add_argument(
        "--output", type=Path, help="page to write (default: docs/benchmarks.md for a full core run, else the run folder)"
    )
    parser.add_argument("--data-dir", type=Path, default=Path(".data/bench"), help="embedded servers' data (default: .data/bench)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the service logs even when the run succeeds")
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else FULL
    if args.runs is not None:
        if args.runs < 1:
            parser.error("--runs must be at least 1")
        sizes = replace(sizes, runs=args.runs, sweep_runs=args.runs)
    if args.job_leads is not None:
        if not 1_000 <= args.job_leads <= 1_000_000:
            parser.error("--job-leads must be between 1,000 and 1,000,000, the demo data's size")
        sizes = replace(sizes, job_leads=args.job_leads)

    return Options(phases=args.phases, sizes=sizes, output=args.output, data_dir=args.data_dir, keep_logs=args.keep_logs)
