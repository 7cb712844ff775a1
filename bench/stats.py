"""Figures of a benchmark run: summary statistics, metrics with their floor, and targets."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

TargetKind = Literal["min", "max", "ratio_min", "ratio_max"]


def percentile(samples: Sequence[float], q: float) -> float:
    """Return the q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Target:
    """A goal for a metric's value: an absolute bound, or a bound on its ratio to another metric.

    `ref` names the metric a ratio is taken against; without it a ratio target uses the floor.
    """

    kind: TargetKind
    bound: float
    text: str
    ref: str | None = None


@dataclass
class Metric:
    """One row of the results table: a value, its spread, and the floor it is compared with."""

    key: str
    name: str
    unit: str
    value: float
    low: float
    high: float
    spread: str
    count: int
    floor: str | None = None
    targets: list[Target] = field(default_factory=list)
    # Further ratios shown for reading, without a target: (label, key of the other metric).
    references: list[tuple[str, str]] = field(default_factory=list)
    section: str = "figures"


def over_runs(key: str, name: str, unit: str, samples: Sequence[float], **extra: object) -> Metric:
    """Median of per-run values, with their minimum and maximum as the spread."""
    return Metric(
        key=key,
        name=name,
        unit=unit,
        value=statistics.median(samples) if samples else math.nan,
        low=min(samples, default=math.nan),
        high=max(samples, default=math.nan),
        spread=f"min-max of {len(samples)} runs",
        count=len(samples),
        **extra,  # type: ignore[arg-type]
    )


def p50_of(key: str, name: str, unit: str, samples: Sequence[float], **extra: object) -> Metric:
    """Median of individual requests, with the interquartile range as the spread."""
    return Metric(
        key=key,
        name=name,
        unit=unit,
        value=percentile(samples, 50),
        low=percentile(samples, 25),
        high=percentile(samples, 75),
        spread=f"IQR of {len(samples)} requests",
        count=len(samples),
        **extra,  # type: ignore[arg-type]
    )


def p99_of(key: str, name: str, unit: str, samples: Sequence[float], **extra: object) -> Metric:
    """99th percentile of individual requests, with the 90th percentile and the maximum as the spread."""
    return Metric(
        key=key,
        name=name,
        unit=unit,
        value=percentile(samples, 99),
        low=percentile(samples, 90),
        high=max(samples, default=math.nan),
        spread=f"p90-max of {len(samples)} requests",
        count=len(samples),
        **extra,  # type: ignore[arg-type]
    )


def single(key: str, name: str, unit: str, value: float, spread: str, **extra: object) -> Metric:
    """Wrap a value measured once, such as a peak, with a note on what it covers."""
    return Metric(key=key, name=name, unit=unit, value=value, low=value, high=value, spread=spread, count=1, **extra)  # type: ignore[arg-type]


@dataclass
class Results:
    """Everything a run measured, in the order the page shows it."""

    metrics: dict[str, Metric] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    tables: dict[str, list[list[str]]] = field(default_factory=dict)

    def add(self, metric: Metric) -> Metric:
        self.metrics[metric.key] = metric
        return metric

    def ratio(self, metric: Metric, ref: str | None = None) -> float | None:
        """Return metric / reference (its floor unless ref is given), or None when either is missing."""
        other = self.metrics.get(ref or metric.floor or "")
        if other is None or not other.value or math.isnan(other.value) or math.isnan(metric.value):
            return None
        return metric.value / other.value

    def target_met(self, metric: Metric, target: Target) -> bool | None:
        """Evaluate one target on the metric's median; None when a needed figure is missing."""
        if target.kind == "min":
            return None if math.isnan(metric.value) else metric.value >= target.bound
        if target.kind == "max":
            return None if math.isnan(metric.value) else metric.value <= target.bound

        ratio = self.ratio(metric, target.ref)
        if ratio is None:
            return None
        return ratio >= target.bound if target.kind == "ratio_min" else ratio <= target.bound
