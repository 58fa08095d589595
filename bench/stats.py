"""Summaries of repeated timings: the median, the tail, and how much they spread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between the closest ranks."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class Summary:
    """Milliseconds: p50 and p95, the interquartile range (q1..q3) and min..max."""

    n: int
    p50: float
    p95: float
    q1: float
    q3: float
    min: float
    max: float

    def figures(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def summarize(seconds: Sequence[float]) -> Summary:
    ms = [s * 1000 for s in seconds]
    return Summary(n=len(ms), p50=percentile(ms, 50), p95=percentile(ms, 95),
                   q1=percentile(ms, 25), q3=percentile(ms, 75), min=min(ms), max=max(ms))


def ratio(jangkau: float, reference: float) -> float | None:
    return jangkau / reference if reference else None
