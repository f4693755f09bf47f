"""A load's figures become a run's result: the measured window's totals, latency, server,
loader and TCP figures in one RunResult (made anew, never patched: RunResult is frozen),
why a run that answered nothing failed, and the repetitions of a ``--repeat`` run as one."""

from __future__ import annotations

import statistics
from dataclasses import replace

from wsgicompare.engine.sampling import ServerWindow
from wsgicompare.engine.verdicts import with_syn_retries
from wsgicompare.loader import LoadSummary
from wsgicompare.results import (
    STATUS_CLASSES,
    RepeatFigures,
    RunResult,
    TcpFigures,
    TimelinePoint,
    latency_figures,
    loader_figures,
)


def measured(
    result: RunResult, server: ServerWindow, timeline: list[TimelinePoint], summary: LoadSummary, tcp: TcpFigures
) -> RunResult:
    """``result`` (who ran, against what) with the figures of the measured window: the
    loader's summary, the server's window, the timeline and the TCP counters' deltas."""
    uncorrected = summary.latency_uncorrected
    return replace(
        result,
        requests=summary.requests,
        responses={k: int(summary.status.get(k, 0)) for k in STATUS_CLASSES},
        errors={k: int(v) for k, v in summary.errors.items() if v},
        reconnects=int(summary.reconnects),
        elapsed_s=round(summary.elapsed_s, 3),
        rps=round(summary.rps, 3),
        rps_2xx=round(summary.rps_2xx, 3),
        bytes=int(summary.bytes),
        latency_ms=replace(
            latency_figures(summary.latency),
            uncorrected=latency_figures(uncorrected) if uncorrected is not None and uncorrected.count else None,
        ),
        latency_hist=summary.latency.to_dict() if summary.latency.count else {},
        server=server.figures(),  # None: no process seen (remote --url), not zeros
        loader=loader_figures(summary),
        tcp=with_syn_retries(tcp, uncorrected if uncorrected is not None else summary.latency),
        timeline=list(timeline),
    )


def unanswered_reason(result: RunResult) -> str:
    """Why a run that answered nothing failed: the figures describe no server, so it is no "ok"."""
    kinds = [f"{n} {kind}" for kind, n in sorted(result.errors.items(), key=lambda kv: -kv[1]) if n]
    unanswered = result.loader.in_flight_dropped if result.loader is not None else None
    if unanswered:
        kinds.append(f"{unanswered} still waiting when the load ended")
    return f"no request was answered ({', '.join(kinds) or 'none was sent'})"


def combine_repeats(runs: list[RunResult]) -> RunResult:
    """N repetitions → the middle one by req/s among ok runs (with an even n the lower
    of the two middle ones: a real run, never an average of two), with every
    repetition's req/s, the true median and the spread in ``repeat``."""
    if len(runs) == 1:
        return runs[0]
    ok = sorted((r for r in runs if r.status == "ok"), key=lambda r: r.rps)
    chosen = ok[(len(ok) - 1) // 2] if ok else runs[-1]
    rps = [r.rps for r in ok]
    median = statistics.median(rps) if rps else 0.0
    repeat = RepeatFigures(
        n=len(runs),
        rps=[r.rps for r in runs],
        p99_ms=[r.latency_ms.p99 for r in runs],
        status=[r.status for r in runs],
        rps_median=round(median, 3),
        rps_min=min(rps) if rps else None,
        rps_max=max(rps) if rps else None,
        # spread: the whole range as a share of the median, the honest figure for small n
        spread_pct=round(100.0 * (max(rps) - min(rps)) / median, 2) if rps and median > 0 else None,
    )
    failed = [r for r in runs if r.status != "ok"]
    if ok and failed:
        why = f"{len(failed)} of {len(runs)} repetitions failed: {failed[0].reason}"
        return replace(chosen, repeat=repeat, status="failed", reason=why)
    return replace(chosen, repeat=repeat)
