"""CSV export: one flat row per run, for spreadsheets and scripts."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from wsgicompare.engine.capacity import capacity_unconfirmed
from wsgicompare.engine.scenarios import PHASES
from wsgicompare.reporting.export.ranking import capacity_rps
from wsgicompare.results import ERROR_KINDS, LATENCY_KEYS, STATUS_CLASSES, Phase, RunResult, ScenarioResult

#: the columns, in order: name and how a run gives its cell
COLUMNS: tuple[tuple[str, Callable[[RunResult], Any]], ...] = (
    ("backend", lambda r: r.backend),
    ("title", lambda r: r.title),
    ("workload", lambda r: r.workload),
    ("status", lambda r: r.status),
    ("reason", lambda r: r.reason),
    ("concurrency", lambda r: r.concurrency),
    ("requests", lambda r: r.requests),
    ("rps", lambda r: _round(r.rps)),
    ("rps_2xx", lambda r: _round(r.rps_2xx)),
    *((f"responses_{k}", (lambda k: lambda r: r.responses.get(k, 0))(k)) for k in STATUS_CLASSES),
    *((f"errors_{k}", (lambda k: lambda r: r.errors.get(k, 0))(k)) for k in ERROR_KINDS),
    ("failures", lambda r: r.failures),
    ("availability_pct", lambda r: _round(r.availability_pct, 4)),
    ("reconnects", lambda r: r.reconnects),
    ("elapsed_s", lambda r: _round(r.elapsed_s)),
    ("bytes", lambda r: r.bytes),
    *((f"latency_{k}_ms", (lambda k: lambda r: _round(r.latency_ms.figure(k)))(k)) for k in LATENCY_KEYS),
    ("server_cpu_pct_mean", lambda r: _round(r.server.cpu_pct_mean) if r.server else None),
    ("server_cpu_pct_max", lambda r: _round(r.server.cpu_pct_max) if r.server else None),
    ("server_rss_mb_max", lambda r: _round(r.server.rss_mb_max) if r.server else None),
    ("server_procs", lambda r: r.server.procs if r.server else None),
    ("server_threads", lambda r: r.server.threads if r.server else None),
    ("loader_cpu_pct", lambda r: _round(r.loader.cpu_pct) if r.loader else None),
    ("loader_saturated", lambda r: r.loader.saturated if r.loader else None),
    ("loader_procs", lambda r: r.loader.procs if r.loader else None),
    ("startup_s", lambda r: _round(r.startup_s)),
    ("repeat_n", lambda r: r.repeat.n if r.repeat else 1),
    ("repeat_spread_pct", lambda r: _round(r.repeat.spread_pct) if r.repeat else None),
    ("listen_overflows", lambda r: r.tcp.listen_overflows),
    # with --find-capacity/--rates: the served rate of the confirmation run that met the SLO
    # (without one, the highest of a step that met it), empty when the loader or the
    # connections were the limit, the search failed or no confirmation held (capacity_limit
    # and the verdicts say which)
    ("capacity_rps", lambda r: _round(capacity_rps(r))),
    ("capacity_limit", lambda r: r.capacity.limit if r.capacity else None),
    ("verdicts", lambda r: " | ".join(r.verdicts)),
    ("command", lambda r: " && ".join(r.command)),
    # with --scenario (wsgicompare/engine/scenarios.py): empty for a steady run; appended last, so
    # the columns before them stay where scripts reading earlier reports look for them
    ("scenario", lambda r: _scenario(r, lambda s: s.name)),
    ("scenario_status", lambda r: _scenario(r, lambda s: s.status)),
    ("scenario_event_at_s", lambda r: _round(_scenario(r, lambda s: s.event_at_s))),
    *((f"scenario_{p}_rps_2xx", (lambda p: lambda r: _round(_phase(r, p, lambda ph: ph.rps_2xx)))(p)) for p in PHASES),
    ("scenario_during_p99_ms", lambda r: _round(_phase(r, "during", lambda ph: ph.p99_ms))),
    ("scenario_failed_requests", lambda r: _scenario(r, lambda s: s.failed_requests)),
    ("scenario_recovered", lambda r: _scenario(r, lambda s: s.recovered)),
    ("scenario_recovery_s", lambda r: _round(_scenario(r, lambda s: s.recovery_s))),
    ("scenario_verdict", lambda r: _scenario(r, lambda s: s.verdict) or None),
    # a search's best met rate that no confirmation run checked: with --confirm 0 the same
    # as capacity_rps, after a search that ended early its only figure (capacity_rps empty)
    ("capacity_unconfirmed_rps", lambda r: _round(capacity_unconfirmed(r.capacity))),
)


def _scenario(r: RunResult, figure: Callable[[ScenarioResult], Any]) -> Any:
    """A figure of a run's scenario; None for a run without one."""
    return figure(r.scenario) if r.scenario is not None else None


def _phase(r: RunResult, name: str, figure: Callable[[Phase], Any]) -> Any:
    """A figure of one phase of a run's scenario; None when it has no such phase."""
    phase = r.scenario.phase(name) if r.scenario is not None else None
    return figure(phase) if phase is not None else None


def _round(value: Any, digits: int = 3) -> Any:
    if value is None:
        return ""
    return round(float(value), digits)


def render(results: list[RunResult], meta: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([name for name, _ in COLUMNS])
    for r in results:
        writer.writerow(["" if (v := get(r)) is None else v for _, get in COLUMNS])
    return out.getvalue()
