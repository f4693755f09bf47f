"""HdrHistogram's percentile-distribution text (what its plotter reads) for each run's
latency histogram, in milliseconds: the rows Java's ``outputPercentileDistribution``
writes with 5 percentile ticks per half distance, then the mean/max/count footer.

A report holds one distribution per run. One run: the file is that distribution. On
stdout, or when several runs go to one file, each distribution is preceded by a
``#[wsgicompare run: backend · workload]`` line (the plotter wants one per file;
``files`` gives one file per run)."""

from __future__ import annotations

import math
import os
import re
from typing import Any

import numpy as np

from wsgicompare.loader import SLOT_MID_US, LatencyHistogram
from wsgicompare.results import RunResult

#: HdrHistogram's default: percentile ticks per halving of the distance to 100 %
TICKS_PER_HALF_DISTANCE = 5
#: µs per output unit: the distribution is written in ms
SCALE_US = 1000.0


def histogram_of(r: RunResult) -> LatencyHistogram | None:
    """The run's latency histogram (µs), or None when the run has none stored."""
    return LatencyHistogram.from_dict(r.latency_hist) if r.latency_hist else None


def distribution(h: LatencyHistogram) -> str:
    """One run's percentile distribution, as HdrHistogram writes it."""
    lines = [f"{'Value':>12} {'Percentile':>14} {'TotalCount':>10} {'1/(1-Percentile)':>14}", ""]
    cum = np.cumsum(h.counts)
    total = h.count
    level = 0.0
    while True:
        rank = max(1, math.ceil(level / 100.0 * total))
        slot = int(np.searchsorted(cum, rank))
        value = min(max(int(SLOT_MID_US[slot]), h.min), h.max) / SCALE_US
        count_at = int(cum[slot])
        if count_at >= total:
            lines.append(f"{h.max / SCALE_US:12.3f} {1.0:2.12f} {total:10d}")
            break
        fraction = level / 100.0
        lines.append(f"{value:12.3f} {fraction:2.12f} {count_at:10d} {1.0 / (1.0 - fraction):14.2f}")
        # each halving of the distance to 100 % gets TICKS_PER_HALF_DISTANCE rows
        halvings = math.floor(math.log2(100.0 / (100.0 - level))) + 1
        level += 100.0 / (TICKS_PER_HALF_DISTANCE * 2**halvings)
    nz = np.flatnonzero(h.counts)
    mids = SLOT_MID_US[nz].astype(np.float64)
    mean = h.mean
    var = float(np.sum(h.counts[nz] * (mids - mean) ** 2) / total) if total else 0.0
    lines.append(f"#[Mean    = {mean / SCALE_US:12.3f}, StdDeviation   = {math.sqrt(var) / SCALE_US:12.3f}]")
    lines.append(f"#[Max     = {h.max / SCALE_US:12.3f}, Total count    = {total:12d}]")
    lines.append(f"#[Buckets = {len(nz):12d}, SubBuckets     = {2048:12d}]")
    return "\n".join(lines) + "\n"


def render(results: list[RunResult], meta: dict[str, Any]) -> str:
    """Every run's distribution; with several, each after its ``#[wsgicompare run …]`` line."""
    runs = [(r, h) for r in results if (h := histogram_of(r)) is not None and h.count]
    if len(runs) == 1:
        return distribution(runs[0][1])
    return "\n".join(f"#[wsgicompare run: {r.backend} · {r.workload}]\n" + distribution(h) for r, h in runs)


def files(results: list[RunResult], path: str) -> list[tuple[str, str]]:
    """(path, text) per run for a report at ``path``: the path itself for one run, else
    ``STEM-BACKEND-WORKLOAD.hdr`` beside it, one distribution each (as the plotter wants)."""
    runs = [(r, h) for r in results if (h := histogram_of(r)) is not None and h.count]
    if len(runs) <= 1:
        return [(path, render(results, {}))]
    stem = os.path.splitext(path)[0]
    out = []
    for r, h in runs:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{r.backend}-{r.workload}").strip("_")
        out.append((f"{stem}-{name}.hdr", distribution(h)))
    return out
