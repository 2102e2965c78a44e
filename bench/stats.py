"""Summaries of repeated samples: median, percentiles and spread, so every number carries its noise."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    p95: float
    p99: float
    min: float
    max: float
    iqr: float  # interquartile range: the spread that ignores one-off stalls from other work on the box

    def to_json(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def summarize(samples: Sequence[float]) -> Summary:
    if not samples:
        return Summary(0, math.nan, math.nan, math.nan, math.nan, math.nan, math.nan)
    return Summary(
        n=len(samples),
        median=statistics.median(samples),
        p95=percentile(samples, 95),
        p99=percentile(samples, 99),
        min=min(samples),
        max=max(samples),
        iqr=percentile(samples, 75) - percentile(samples, 25),
    )


def ratio(value: float, baseline: float) -> float:
    return value / baseline if baseline > 0 and math.isfinite(value) and math.isfinite(baseline) else math.nan
