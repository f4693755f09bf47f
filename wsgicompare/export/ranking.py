"""Which run is best, in what order runs are listed, and the figure a run is headlined
by: one place for the md and html reports, the progress line and the app's compare
view, so none of them can crown a different run.

Runs are ranked by their 2xx rate, never by all answers: a backend that fails fast
with 500s answers more requests per second than one that does the work, and would
otherwise come first."""

from __future__ import annotations

from collections.abc import Iterable

from wsgicompare.export.fmt import num
from wsgicompare.results import STATUS_CLASSES, RunResult

_STATUS_RANK = {"ok": 0, "failed": 1, "unavailable": 2}


def ordered(results: Iterable[RunResult]) -> list[RunResult]:
    """Workloads in first-seen order; within one, ok runs by 2xx req/s (best first),
    then failed, then unavailable. Ties keep the order the runs came in."""
    results = list(results)
    workload_order = {w: i for i, w in enumerate(dict.fromkeys(r.workload for r in results))}
    return sorted(results, key=lambda r: (workload_order[r.workload], _STATUS_RANK.get(r.status, 3), -r.rps_2xx))


def can_be_best(r: RunResult) -> bool:
    """An ok run that answered at least one request with a 2xx: a run at 0 % availability
    measured how fast the server fails, which is no win."""
    return r.status == "ok" and r.rps_2xx > 0 and (r.availability_pct or 0.0) > 0


def best_runs(results: Iterable[RunResult]) -> set[int]:
    """ids of the run with the highest 2xx req/s per workload (among those that can be best)."""
    best: dict[str, RunResult] = {}
    for r in results:
        if can_be_best(r) and (r.workload not in best or r.rps_2xx > best[r.workload].rps_2xx):
            best[r.workload] = r
    return {id(r) for r in best.values()}


def class_rates(r: RunResult) -> dict[str, float]:
    """Answers per second by status class over the measured window (2xx always, others
    only when there were any)."""
    elapsed = r.elapsed_s or 0.0
    out = {"2xx": r.rps_2xx}
    for k in STATUS_CLASSES[1:]:
        if r.responses.get(k):
            out[k] = r.responses[k] / elapsed if elapsed > 0 else 0.0
    return out


def headline(r: RunResult) -> str:
    """The run's figure for a one-line summary: its 2xx rate, and beside it the rate of
    every other status class it got, so a server answering only 500s reads
    "0.0 2xx/s · 2,873.6 5xx/s", not "2,873.6 req/s"."""
    return " · ".join(f"{num(rate, 1)} {k}/s" for k, rate in class_rates(r).items())
