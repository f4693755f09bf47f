"""Which run is best, in what order runs are listed, and the figure a run is headlined
by: one place for the md and html reports, the progress line and the app's compare
view, so none of them can crown a different run.

Runs are ranked by their 2xx rate, never by all answers: a backend that fails fast
with 500s answers more requests per second than one that does the work, and would
otherwise come first. Runs that carry a capacity (``--find-capacity``, ``--rates``)
are ranked by it: the rate within the SLO is the figure that decides. A search the
loader or the connections limited has no capacity (wsgicompare.engine.capacity.capacity_figure):
it ranks below every run that has one, is never best, and its cell says
"loader-bound at X req/s"."""

from __future__ import annotations

from collections.abc import Iterable

from wsgicompare.engine.capacity import capacity_bound, capacity_figure, capacity_text
from wsgicompare.reporting.export.fmt import num
from wsgicompare.results import STATUS_CLASSES, RunResult

_STATUS_RANK = {"ok": 0, "failed": 1, "unavailable": 2}


def capacity_rps(r: RunResult) -> float | None:
    """The run's capacity at its SLO (req/s), or None (none found, not searched, or the
    loader or the connections were the limit)."""
    return capacity_figure(r.capacity)


def capacity_cell(r: RunResult) -> str:
    """The capacity column's cell (wsgicompare.engine.capacity.capacity_text): ``1,200``,
    ``1,200 unconfirmed`` (--confirm 0), ``loader-bound at 1,600 req/s`` (or
    concurrency-bound), ``1,000 req/s unconfirmed, search ended early``, ``none
    confirmed`` or ``—`` (none met, or not searched)."""
    return capacity_text(r.capacity, figure=lambda x: num(x, 0), none="—")


def by_capacity(results: Iterable[RunResult]) -> bool:
    """Whether these runs are ranked by capacity: any of them searched for one."""
    return any(r.capacity for r in results)


def score(r: RunResult, capacity: bool) -> float:
    """What a run is ranked by: its capacity (0 when none was found), else its 2xx rate."""
    return (capacity_rps(r) or 0.0) if capacity else r.rps_2xx


def ordered(results: Iterable[RunResult]) -> list[RunResult]:
    """Workloads in first-seen order; within one, ok runs by capacity or 2xx req/s (best
    first; of the runs without a capacity, a loader- or concurrency-bound search, which
    met the SLO below that limit, before one where no rate met it), then failed, then
    unavailable. Ties keep the order the runs came in."""
    results = list(results)
    cap = by_capacity(results)
    workload_order = {w: i for i, w in enumerate(dict.fromkeys(r.workload for r in results))}

    def key(r: RunResult) -> tuple[int, int, float, bool]:
        unbound = not (cap and capacity_bound(r.capacity))
        return workload_order[r.workload], _STATUS_RANK.get(r.status, 3), -score(r, cap), unbound

    return sorted(results, key=key)


def can_be_best(r: RunResult) -> bool:
    """An ok run that answered at least one request with a 2xx: a run at 0 % availability
    measured how fast the server fails, which is no win."""
    return r.status == "ok" and r.rps_2xx > 0 and (r.availability_pct or 0.0) > 0


def best_runs(results: Iterable[RunResult]) -> set[int]:
    """ids of the run with the highest 2xx req/s per workload (among those that can be best)."""
    results = list(results)
    cap = by_capacity(results)
    best: dict[str, RunResult] = {}
    for r in results:
        if not can_be_best(r) or (cap and capacity_rps(r) is None):
            continue
        if r.workload not in best or score(r, cap) > score(best[r.workload], cap):
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
