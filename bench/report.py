"""Rendering of a run's results as the Markdown page docs/benchmarks.md."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from bench.machine import Environment
from bench.stats import Metric, Results

FLOOR_LABELS = (("floor_ap_", "(a')"), ("floor_a_", "(a)"), ("floor_b_", "(b)"), ("floor_c_", "(c)"))

METHOD_NOTES = [
    (
        "Floor (a) sends the worker's own chunk statement (`shared.lead_repository.APPLY_BATCH_SQL`, called "
        "as `apply_batch` calls it, chunk marker included) from a bare asyncpg loop. Floor (a') does the same "
        "chunk work as four plain set-based statements (lock in id order, update, history insert, outbox "
        "insert) in one transaction per chunk. Both use the same ids, chunks and estado as the end-to-end job, "
        "and with two connections the connections take chunks in turn."
    ),
    (
        "End to end runs from the 202 answer to the first poll (every 200 ms) that reads `completed`, with an "
        "admin token, ids 1..N of the demo data (ids ending in 999 do not exist and fail as `Lead no "
        "encontrado`). Before every floor and end-to-end run the history, outbox, chunk and job tables are "
        "truncated, crm_leads is vacuumed and analysed, and a checkpoint is taken."
    ),
    (
        "Floor (b) is a separate aiohttp process with one handler returning a small JSON body, on uvloop like "
        "the API, loaded with the same tool and settings as the job reads."
    ),
    (
        "Floor (c) parses the same body with orjson, splits it into the same chunks and appends the same stream "
        "entries with one minimal Lua script, timed in the bench process. The 202 figures also include the HTTP "
        "transfer of the body from a client in the bench process, one request at a time."
    ),
    "Medians are over runs for throughput and sustained loads, and over individual requests for latencies.",
]


@dataclass(frozen=True)
class RunInfo:
    started_at: datetime
    duration_s: float
    command: str
    mode: str
    load_before: str
    load_after: str
    settings: dict[str, str]


def number(value: float, unit: str) -> str:
    if math.isnan(value):
        return "n/a"
    if unit in ("leads/s", "req/s"):
        return f"{value:,.0f} {unit}"
    if unit == "ms":
        return f"{value:.2f} ms" if value < 100 else f"{value:,.0f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:g} {unit}"


def spread(metric: Metric) -> str:
    if metric.count <= 1:
        return metric.spread
    low = number(metric.low, metric.unit).removesuffix(f" {metric.unit}")
    high = number(metric.high, metric.unit)
    return f"{low} – {high} ({metric.spread})"


def floor_label(key: str) -> str:
    for prefix, label in FLOOR_LABELS:
        if key.startswith(prefix):
            return label
    return key


def floor_cell(results: Results, metric: Metric) -> str:
    floor = results.metrics.get(metric.floor or "")
    if floor is None:
        return "—"
    return f"{floor_label(floor.key)} {number(floor.value, floor.unit)}"


def ratio_cell(results: Results, metric: Metric) -> str:
    ratio = results.ratio(metric)
    return "—" if ratio is None else f"{ratio:.2f}"


def verdict_text(met: bool | None) -> str:
    if met is None:
        return "n/a"
    return "met" if met else "not met"


def target_cell(results: Results, metric: Metric) -> str:
    cells = []
    for target in metric.targets:
        met = results.target_met(metric, target)
        verdict = f"**{verdict_text(met)}**"
        ratio = results.ratio(metric, target.ref) if target.kind.startswith("ratio") else None
        actual = f" (is {ratio:.2f})" if ratio is not None else ""
        cells.append(f"{target.text}{actual}: {verdict}")
    for label, ref in metric.references:
        ratio = results.ratio(metric, ref)
        if ratio is not None:
            cells.append(f"for reading, ratio to {label}: {ratio:.2f}")
    return "<br>".join(cells)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def figures_table(results: Results) -> list[str]:
    rows = [
        [metric.name, number(metric.value, metric.unit), spread(metric), floor_cell(results, metric),
         ratio_cell(results, metric), target_cell(results, metric)]
        for metric in results.metrics.values()
        if metric.section == "figures"
    ]  # fmt: skip
    return table(["metric", "median", "spread", "floor", "ratio to floor", "target"], rows)


def floors_table(results: Results) -> list[str]:
    rows = [
        [floor_label(metric.key), metric.name, number(metric.value, metric.unit), spread(metric)]
        for metric in results.metrics.values()
        if metric.section == "floors"
    ]
    return table(["floor", "what", "median", "spread"], rows)


def targets_summary(results: Results) -> list[str]:
    """List every target with its verdict, readable without the whole table."""
    lines = []
    met_count = 0
    for metric in results.metrics.values():
        for target in metric.targets:
            met = results.target_met(metric, target)
            met_count += bool(met)
            verdict = verdict_text(met)
            ratio = results.ratio(metric, target.ref) if target.kind.startswith("ratio") else None
            value = f"ratio {ratio:.2f}" if ratio is not None else f"median {number(metric.value, metric.unit)}"
            lines.append(f"- {verdict}: {metric.name}: {target.text} ({value})")
    if not lines:
        return []
    return [f"{met_count} of {len(lines)} targets met.", "", *lines]


def section(title: str, body: list[str]) -> list[str]:
    """Build a titled section, or nothing when it has no content (a table with its header only)."""
    has_rows = len(body) > 2 if body and body[0].startswith("|") else bool(body)
    return [f"## {title}", "", *body, ""] if has_rows else []


def key_value_table(title: str, values: dict[str, str]) -> list[str]:
    return [f"## {title}", "", *table(["", ""], [[key, value] for key, value in values.items()]), ""]


MISSED_TARGET_REASONS = [
    (
        "Status reads against floor (b): floor (b) returns a constant body with no I/O. A status read also"
        " verifies the token, runs one Redis script through redis-py and renders the body with pydantic. A"
        " py-spy profile of the API under this load spreads the time over aiohttp, redis-py and rendering,"
        " with no single hot spot to remove; the two rates in the table give the CPU time per request."
    ),
    (
        "Status read p99 at 50 connections: with 50 requests always in flight, the mean latency is 50 divided"
        " by the rate, so a p99 of 5 ms needs well over 10,000 requests/s from one API process."
    ),
    (
        "202 for 10,000 ids with pre-validation: by default jobs up to 10,000 ids are pre-validated with one"
        " PostgreSQL query that probes the index once per id, which takes most of the time (compare the rows"
        " without pre-validation). Lower PREVALIDATE_MAX_LEADS where that latency matters more than the"
        " early warnings."
    ),
    (
        "202 against 2 x floor (c): floor (c) only parses the body and appends the stream entries. The API"
        " also verifies the token, checks and deduplicates every id, hashes the request for idempotency,"
        " checks the rate limits and writes the job hash in the enqueue script, and renders the answer. Part"
        " of that work is fixed per request, so it weighs most on small bodies: the ratio is highest for"
        " 1,000 ids and lowest, near 2, for 1,000,000."
    ),
    (
        "Two workers against one: PostgreSQL is the limit. One worker already keeps 2 chunks in flight on 2"
        " connections, floor (a) itself gains well under 2 times from a second connection, and a second"
        " worker only adds transactions that compete for the same 2 cores."
    ),
]


def render(results: Results, environment: Environment, run: RunInfo) -> str:
    lines = [
        "# Benchmarks",
        "",
        (
            f"Generated by `{run.command}` ({run.mode} run) on {run.started_at:%Y-%m-%d %H:%M} UTC in "
            f"{run.duration_s / 60:.1f} min. Rerun `make bench` to refresh it; do not edit by hand."
        ),
        "",
        (
            f"The machine has {environment.machine.get('CPUs (nproc)', '?')} CPUs, shared by the servers, the "
            "services, the load generator and the bench itself, and other engineers may run test suites on it at "
            f"the same time. The load average (1/5/15 min) was {run.load_before} at the start and "
            f"{run.load_after} at the end, so read the figures as this machine's, with its noise."
        ),
        "",
    ]
    lines += section("Targets", targets_summary(results))
    lines += section("Why some targets are not met", [f"- {reason}" for reason in MISSED_TARGET_REASONS])
    lines += section("Figures", figures_table(results))
    lines += section("Floors", floors_table(results))
    for title, rows in results.tables.items():
        lines += [f"## {title}", "", *table(rows[0], rows[1:]), ""]

    lines += ["## How it was measured", "", *(f"- {note}" for note in METHOD_NOTES + results.notes), ""]
    lines += section("Checks", [f"- {check}" for check in results.checks])
    lines += key_value_table("Machine", environment.machine)
    lines += key_value_table("Versions", environment.versions)
    lines += key_value_table("Settings", run.settings)
    lines += key_value_table("PostgreSQL settings", environment.postgres_settings)
    return "\n".join(lines)


def now_utc() -> datetime:
    return datetime.now(UTC)
