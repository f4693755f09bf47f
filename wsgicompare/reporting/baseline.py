"""``--baseline OLD.json``: an earlier report to compare with. Its runs are matched to
this report's by backend and workload; the md and html reports show the relative change
of 2xx req/s, p99 and capacity, and ``--fail-if rps_change<-10%`` checks one.

The file is read and checked while planning, before anything starts: a missing,
unreadable or malformed file, or one of another schema, is bad input (one line, exit 2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wsgicompare.engine.capacity import capacity_figure
from wsgicompare.parsing import OptionError
from wsgicompare.reporting.saved import read_document
from wsgicompare.results import RunResult, results_from_document

#: figures with a relative change (``<figure>_change`` in --fail-if)
CHANGE_FIGURES = ("rps", "rps_2xx", "p50", "p90", "p99", "p999", "max", "capacity")


@dataclass(frozen=True)
class Baseline:
    """The runs of an earlier report, by (backend, workload)."""

    path: str
    created: str | None
    runs: dict[tuple[str, str], RunResult]

    def run_for(self, r: RunResult) -> RunResult | None:
        return self.runs.get((r.backend, r.workload))

    def describe(self) -> str:
        return f"{self.path} (created {self.created or '—'}, {len(self.runs)} runs)"


def load_baseline(path: str) -> Baseline:
    """Read a ``wsgicompare/1`` JSON report (reporting.saved's reader, as --open does);
    OptionError (one line) when it is not one."""
    doc = read_document(path, "--baseline")
    flag = f"--baseline {path}"
    try:
        runs: dict[tuple[str, str], RunResult] = {}
        for r in results_from_document(doc):
            _check_run(r)
            runs.setdefault((r.backend, r.workload), r)  # the first of a backend and workload counts
    except (ValueError, TypeError, AttributeError) as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise OptionError(f"{flag}: a malformed run in it: {why}") from None
    created = doc.get("created")
    return Baseline(path=path, created=created if isinstance(created, str) else None, runs=runs)


def _check_run(r: RunResult) -> None:
    """The fields a change is computed from have the types the schema says (a hand-edited
    or truncated file must fail here, not halfway through a report)."""
    for name in ("backend", "workload", "status"):
        if not isinstance(getattr(r, name), str):
            raise ValueError(f"{name} is not a string")
    if not isinstance(r.requests, int) or isinstance(r.requests, bool):
        raise ValueError(f"{r.backend} {r.workload}: requests is not a whole number")
    for name in ("rps", "rps_2xx"):
        if not _is_number(getattr(r, name)):
            raise ValueError(f"{r.backend} {r.workload}: {name} is not a number")
    for value in (r.latency_ms.figure(k) for k in ("p50", "p90", "p99", "p999", "max")):
        if value is not None and not _is_number(value):
            raise ValueError(f"{r.backend} {r.workload}: a latency that is not a number")
    cap = None if r.capacity is None else r.capacity.rps  # latency_ms, capacity: RunResult.from_dict read them
    if cap is not None and not _is_number(cap):
        raise ValueError(f"{r.backend} {r.workload}: capacity rps is not a number")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def figure(r: RunResult, name: str) -> float | None:
    """One of CHANGE_FIGURES of a run, None when it has none. A loader- or
    concurrency-bound search measured the loader, so it has no server capacity to compare."""
    if name == "rps":
        return float(r.rps) if r.requests else None
    if name == "rps_2xx":
        return float(r.rps_2xx) if r.requests else None
    if name == "capacity":
        return capacity_figure(r.capacity)
    value = r.latency_ms.figure(name)
    return None if value is None else float(value)


def change(r: RunResult, baseline: Baseline, name: str) -> tuple[float | None, str]:
    """(relative change of figure ``name`` from the baseline's run to ``r``, in percent;
    why there is none)."""
    old = baseline.run_for(r)
    if old is None:
        return None, f"no {r.backend} {r.workload} run in the baseline"
    if old.status != "ok":
        return None, f"the baseline's {r.backend} {r.workload} run {old.status}"
    before, now = figure(old, name), figure(r, name)
    if before is None:
        return None, f"the baseline's run has no {name}"
    if before == 0:
        return None, f"the baseline's {name} is 0: no relative change"
    if now is None:
        return None, f"this run has no {name}"
    return 100.0 * (now - before) / before, ""


def change_cell(r: RunResult, baseline: Baseline, name: str) -> str:
    """A change for a report's table: ``+12.3 %``, ``−4.0 %``, ``new`` (no run to compare
    with) or ``—`` (no figure on one side)."""
    value, _ = change(r, baseline, name)
    if value is None:
        # "new" only for a figure the baseline could have had: a run that measured
        # nothing (not installed here, failed to start) has no change either way
        return "new" if baseline.run_for(r) is None and figure(r, name) is not None else "—"
    return f"{value:+.1f} %".replace("-", "−")
