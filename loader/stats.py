"""What the loader reports: one ``LoadTick`` per interval (merged over the loader
processes) and one ``LoadSummary`` for the measured window; plus the merging of the
processes' compact snapshots into them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .histogram import LatencyHistogram

STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
ERROR_KINDS = ("refused", "connect_timeout", "reset", "read_timeout", "closed_early", "protocol", "other")

#: loader CPU at or above this share of what its cores can give means "loader-bound"
SATURATED_CPU_SHARE = 0.90
#: event-loop lag p99 above this means the loader answered late (loader-bound)
SATURATED_LAG_P99_MS = 10.0
#: a tick shorter than this share of tick_s is a sliver: its CPU share is read over the
#: process's run so far (see RunningTotals.merge)
SHORT_TICK_SHARE = 0.5
#: open loop: more than this share of the measured requests sent late (> 10 ms after
#: their time, because the loader's event loop was busy) means the loader fell behind
SATURATED_LATE_SHARE = 0.01
#: open loop: the outstanding requests (in flight + waiting for a connection) grew through
#: the window when the last third's mean exceeds the first third's by more than this
#: share of the requests scheduled in the window (and by BACKLOG_GROWTH_MIN)
BACKLOG_GROWTH_SHARE = 0.02
BACKLOG_GROWTH_MIN = 5


@dataclass(frozen=True)
class MeasuredTotals:
    """The measured window so far (warm-up excluded), merged over the processes as of
    one tick: the running aggregate the summary is made from at the end. The live
    screen and the report both read it (as oha's result_data feeds its monitor and its
    printers), so nobody adds the ticks up again."""

    elapsed_s: float  #: measured seconds so far: the measured ticks' intervals
    status: dict[str, int]  #: responses by status class (a copy)
    errors: dict[str, int]  #: requests that ended without a response, by error kind, every kind (a copy)
    #: µs (corrected in open loop). The parent's running histogram itself, not a copy
    #: (a copy per tick is what the one aggregate saves): read it before the next tick
    #: is merged, as the conductor does in its tick loop
    latency: LatencyHistogram
    latency_uncorrected: LatencyHistogram | None  #: µs from the actual send (open loop only); as latency

    @property
    def responses(self) -> int:
        return sum(self.status.values())

    @property
    def requests(self) -> int:
        """Responses and errors: every request that ended."""
        return self.responses + sum(self.errors.values())


@dataclass(frozen=True)
class LoadTick:
    """One tick, merged over all loader processes. During warm-up it shows the
    warm-up traffic (``warmup`` True); such ticks count in no summary figure."""

    index: int  #: tick number, 0 = first
    t_s: float  #: seconds since the run start (warm-up included) at the end of this tick
    interval_s: float  #: seconds this tick covered
    warmup: bool  #: True while warming up
    status: dict[str, int]  #: responses by status class (2xx 3xx 4xx 5xx)
    errors: dict[str, int]  #: requests that ended without a response, by error kind
    reconnects: int  #: keep-alive connections the server closed, reopened (not failures)
    bytes: int  #: response bytes read (headers included)
    latency: LatencyHistogram  #: µs; open loop: from the intended send time (corrected)
    latency_uncorrected: LatencyHistogram | None  #: µs from the actual send (open loop only)
    loader_cpu_pct: float  #: mean per loader process, 100 = one core
    loop_lag_ms: float  #: worst event-loop lag of any loader process in this tick
    done: bool  #: the last tick: the load has ended
    totals: MeasuredTotals  #: the measured window so far, this tick included
    procs: int = 1  #: loader processes that reported this tick
    notes: tuple[str, ...] = ()  #: news from the loader processes (limits, errno counts)
    #: the loader, not the server, may have limited this tick (``saturation_reasons``; the
    #: same rule as the summary's). Never on the closing tick: that measures the teardown
    saturated: bool = False
    saturation_reasons: tuple[str, ...] = ()
    #: open loop: requests in flight plus those waiting for a free connection at the
    #: tick's end, over all processes (0 in closed loop)
    outstanding: int = 0
    #: slow clients (loader/slow.py) connected and not dropped by the server at the tick's end
    slow_held: int = 0

    @property
    def responses(self) -> int:
        return sum(self.status.values())

    @property
    def failed_requests(self) -> int:
        """Requests that ended in an error (no response)."""
        return sum(self.errors.values())

    @property
    def requests(self) -> int:
        return self.responses + self.failed_requests

    @property
    def rps(self) -> float:
        """Completed responses per second (errors never count)."""
        return self.responses / self.interval_s if self.interval_s > 0 else 0.0

    @property
    def rps_2xx(self) -> float:
        return self.status.get("2xx", 0) / self.interval_s if self.interval_s > 0 else 0.0


@dataclass
class LoadSummary:
    """The measured window (warm-up excluded), merged over processes."""

    elapsed_s: float = 0.0  #: measured seconds
    status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUS_CLASSES, 0))
    errors: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ERROR_KINDS, 0))
    reconnects: int = 0
    bytes: int = 0
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)  #: µs (corrected in open loop)
    latency_uncorrected: LatencyHistogram | None = None  #: µs from the actual send (open loop only)
    rps: float = 0.0  #: responses per second, any status (errors never count)
    rps_2xx: float = 0.0
    requests: int = 0  #: responses + errors
    failures: int = 0  #: errors + non-2xx responses
    availability_pct: float | None = None  #: 2xx share of all requests
    loader_cpu_pct: float = 0.0  #: mean per loader process, 100 = one core
    loop_lag_p99_ms: float = 0.0  #: event-loop lag p99 over all processes
    saturated: bool = False  #: the loader, not the server, may have been the bottleneck
    saturation_reasons: list[str] = field(default_factory=list)
    procs: int = 1
    target_rate: float | None = None  #: open loop: req/s asked for (= offered_rate)
    offered_rate: float | None = None  #: open loop: req/s the schedule asked for
    sent_rate: float | None = None  #: open loop: req/s that actually went out in the window
    served_rate: float | None = None  #: open loop: responses per second (= rps)
    scheduled: int = 0  #: open loop: requests whose intended time fell in the measured window
    sent: int = 0  #: open loop: measured requests written to a connection inside the window
    sent_late: int = 0  #: open loop: of those scheduled, due > 10 ms before the loader woke (its loop was busy)
    backlogged: int = 0  #: open loop: of those sent, waited past their time for a free connection
    #: open loop: the outstanding requests grew through the window (the server falls behind)
    backlog_growing: bool = False
    #: time-bound runs: warm-up requests still outstanding at the warm-up's end, counted
    #: where they ended (answered inside the window, in flight or unsent at its end)
    carried_over: int = 0
    in_flight_dropped: int = 0  #: measured requests still in flight when the load ended (not counted)
    #: open loop: measured requests due but still waiting for a free connection when the
    #: load ended: never sent, counted nowhere else (a stall at the end shows here).
    #: Every measured request is counted once: carried_over + scheduled
    #: == requests + in_flight_dropped + unsent
    unsent: int = 0
    #: open loop: how requests were spaced, "uniform" or "poisson" (None in closed loop)
    arrivals: str | None = None
    seed: int | None = None  #: open loop, Poisson arrivals: the seed they were drawn from
    notes: list[str] = field(default_factory=list)
    fatal: str | None = None  #: why the load could not run to its end (a loader process died …)

    @property
    def responses(self) -> int:
        return sum(self.status.values())


def _hist_from_wire(wire: Any) -> LatencyHistogram:
    h = LatencyHistogram()
    add_wire(h, wire)
    return h


def add_wire(h: LatencyHistogram, wire: Any) -> None:
    """Add one process's compact tick histogram (see worker ``_encode``)."""
    if wire is None:
        return
    slot_bytes, count_bytes, lo, hi, total = wire
    if not slot_bytes:
        return
    h.add_sparse(
        np.frombuffer(slot_bytes, np.uint16).astype(np.intp),
        np.frombuffer(count_bytes, np.uint32).astype(np.int64),
        lo,
        hi,
        total,
    )


class RunningTotals:
    """The parent's running totals: merges snapshots into ticks and the summary."""

    def __init__(
        self,
        procs: int,
        open_loop: bool,
        target_rate: float | None,
        cpu_capacity_pct: float,
        concurrency: int | None = None,
        tick_s: float = 0.25,
    ) -> None:
        self.procs = procs
        self.tick_s = tick_s  # seconds a tick covers (the closing one can be shorter)
        self.concurrency = concurrency  # connections over all processes (for the notes)
        self.open_loop = open_loop
        self.target_rate = target_rate
        self.cpu_capacity_pct = cpu_capacity_pct  # what one process can get of its CPUs, 100 = a core
        self.status = dict.fromkeys(STATUS_CLASSES, 0)
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.reconnects = 0
        self.bytes = 0
        self.latency = LatencyHistogram()
        self.latency_uncorrected = LatencyHistogram() if open_loop else None
        self.measured_elapsed_s = 0.0  # the measured ticks' intervals so far (MeasuredTotals.elapsed_s)
        self.lag = LatencyHistogram()
        self.cpu_s = [0.0] * procs  # measured-window CPU seconds per process
        self.cpu_interval_s = [0.0] * procs
        self.cpu_s_all = [0.0] * procs  # all ticks, for runs that never left the warm-up
        self.cpu_interval_all_s = [0.0] * procs
        self.measured_s = [0.0] * procs
        self.in_flight = 0
        self.carried_over = 0
        self.scheduled = 0
        self.sent = 0
        self.outstanding: list[int] = []  # per measured tick (open loop)
        self.sent_late = 0
        self.backlogged = 0
        self.unsent = 0
        self.notes: list[str] = []
        self.fatal: str | None = None

    def merge(self, index: int, snapshots: dict[int, dict[str, Any]], all_done: bool) -> LoadTick:
        """Merge the processes' snapshots of tick ``index`` into one LoadTick."""
        status = dict.fromkeys(STATUS_CLASSES, 0)
        errors = dict.fromkeys(ERROR_KINDS, 0)
        reconnects = 0
        nbytes = 0
        latency = LatencyHistogram()
        latency_unc = LatencyHistogram() if self.open_loop else None
        cpu_pcts = []
        lag_max_ms = 0.0
        tick_lag = LatencyHistogram()
        t_s = 0.0
        interval_s = 0.0
        warmup = False
        notes: list[str] = []
        outstanding = 0
        slow_held = 0
        for proc, snap in snapshots.items():
            outstanding += snap.get("outstanding", 0)
            slow_held += snap.get("slow_held", 0)
            t_s = max(t_s, snap["t_s"])
            interval_s = max(interval_s, snap["interval_s"])
            warmup = warmup or snap["warmup"]
            self.cpu_s_all[proc] += snap["cpu_s"]
            self.cpu_interval_all_s[proc] += snap["interval_s"]
            if snap["interval_s"] >= SHORT_TICK_SHARE * self.tick_s:
                cpu_pcts.append(100.0 * snap["cpu_s"] / snap["interval_s"])
            else:
                # a sliver (the closing tick): a few µs of read skew over a millisecond
                # read as >100 % of a core; its process's share so far says more
                cpu_pcts.append(100.0 * self.cpu_s_all[proc] / self.cpu_interval_all_s[proc])
            if not snap["warmup"]:
                self.cpu_s[proc] += snap["cpu_s"]
                self.cpu_interval_s[proc] += snap["interval_s"]
            lag = _hist_from_wire(snap["lag"])
            lag_max_ms = max(lag_max_ms, lag.max / 1000.0)
            tick_lag.merge(lag)
            if not snap["warmup"]:
                self.lag.merge(lag)
            notes.extend(snap["notes"])
            # A warm-up tick shows the warm-up traffic; a measured tick only measured
            # requests (warm-up requests that end late count nowhere), so the measured
            # ticks add up exactly to the summary.
            part = snap["warm"] if snap["warmup"] else snap["measured"]
            for cls, n in zip(STATUS_CLASSES, part["status"]):
                status[cls] += n
            for kind, n in part["errors"].items():
                errors[kind] += n
            reconnects += part["reconnects"]
            nbytes += part["bytes"]
            add_wire(latency, part["lat"])
            if latency_unc is not None:
                add_wire(latency_unc, part["lat_unc"])
            part = snap["measured"]
            for cls, n in zip(STATUS_CLASSES, part["status"]):
                self.status[cls] += n
            for kind, n in part["errors"].items():
                self.errors[kind] += n
            self.reconnects += part["reconnects"]
            self.bytes += part["bytes"]
            add_wire(self.latency, part["lat"])
            if self.latency_uncorrected is not None:
                add_wire(self.latency_uncorrected, part["lat_unc"])
            end = snap.get("end")
            if end:
                self.measured_s[proc] = end["measured_s"]
                self.in_flight += end["in_flight"]
                self.carried_over += end.get("carried_over", 0)
                self.scheduled += end.get("scheduled", 0)
                self.sent += end.get("sent", 0)
                self.sent_late += end.get("sent_late", 0)
                self.backlogged += end.get("backlogged", 0)
                self.unsent += end.get("unsent", 0)
        self.notes.extend(notes)
        if not warmup:
            self.measured_elapsed_s += interval_s
        if self.open_loop and not warmup and not all_done:
            self.outstanding.append(outstanding)
        cpu_pct = sum(cpu_pcts) / len(cpu_pcts) if cpu_pcts else 0.0
        reasons = (
            ()
            if all_done
            else tuple(saturation_reasons(cpu_pct, tick_lag.percentile(99) / 1000.0, self.cpu_capacity_pct))
        )
        return LoadTick(
            index=index,
            t_s=t_s,
            interval_s=interval_s,
            warmup=warmup,
            status=status,
            errors=errors,
            reconnects=reconnects,
            bytes=nbytes,
            latency=latency,
            latency_uncorrected=latency_unc,
            loader_cpu_pct=cpu_pct,
            loop_lag_ms=lag_max_ms,
            done=all_done,
            totals=MeasuredTotals(
                elapsed_s=self.measured_elapsed_s,
                status=dict(self.status),
                errors=dict(self.errors),
                latency=self.latency,
                latency_uncorrected=self.latency_uncorrected,
            ),
            procs=len(snapshots),
            notes=tuple(notes),
            saturated=bool(reasons),
            saturation_reasons=reasons,
            outstanding=outstanding,
            slow_held=slow_held,
        )

    def summary(self) -> LoadSummary:
        elapsed_s = max(self.measured_s) if self.measured_s else 0.0
        responses = sum(self.status.values())
        errors_total = sum(self.errors.values())
        requests = responses + errors_total
        cpu_pcts = []
        for proc in range(self.procs):
            if self.cpu_interval_s[proc] > 0:
                cpu_pcts.append(100.0 * self.cpu_s[proc] / self.cpu_interval_s[proc])
            elif self.cpu_interval_all_s[proc] > 0:
                cpu_pcts.append(100.0 * self.cpu_s_all[proc] / self.cpu_interval_all_s[proc])
        cpu_pct = sum(cpu_pcts) / len(cpu_pcts) if cpu_pcts else 0.0
        lag_p99_ms = self.lag.percentile(99) / 1000.0
        reasons = saturation_reasons(cpu_pct, lag_p99_ms, self.cpu_capacity_pct)
        notes = list(dict.fromkeys(self.notes))
        growing = False
        if self.target_rate is not None:
            # Loader-bound in open loop means the scheduler itself fell behind (its loop
            # was busy); responses still outstanding are the server's slowness, not ours.
            if self.scheduled and self.sent_late > SATURATED_LATE_SHARE * self.scheduled:
                reasons.append(
                    f"open loop: {self.sent_late} of {self.scheduled} requests left late (> 10 ms): "
                    f"the loader's event loop could not keep the {self.target_rate:g} req/s schedule"
                )
            growing = backlog_growing(self.outstanding, self.scheduled)
            if self.backlogged:
                conns = f"all {self.concurrency} connections" if self.concurrency else "all connections"
                notes.append(
                    f"open loop: {conns} busy for {self.backlogged} of {self.scheduled} requests (they waited; "
                    f"latency counts from their intended time): the rate needs more connections or a faster server"
                )
            if self.unsent:
                notes.append(
                    f"open loop: {self.unsent} scheduled requests were still waiting for a free connection "
                    f"when the load ended: never sent, counted in no figure"
                )
        return LoadSummary(
            elapsed_s=elapsed_s,
            status=dict(self.status),
            errors=dict(self.errors),
            reconnects=self.reconnects,
            bytes=self.bytes,
            latency=self.latency,
            latency_uncorrected=self.latency_uncorrected,
            rps=responses / elapsed_s if elapsed_s > 0 else 0.0,
            rps_2xx=self.status["2xx"] / elapsed_s if elapsed_s > 0 else 0.0,
            requests=requests,
            failures=errors_total + responses - self.status["2xx"],
            availability_pct=100.0 * self.status["2xx"] / requests if requests else None,
            loader_cpu_pct=cpu_pct,
            loop_lag_p99_ms=lag_p99_ms,
            saturated=bool(reasons),
            saturation_reasons=reasons,
            procs=self.procs,
            target_rate=self.target_rate,
            offered_rate=self.target_rate,
            sent_rate=(self.sent / elapsed_s if elapsed_s > 0 else 0.0) if self.open_loop else None,
            served_rate=(responses / elapsed_s if elapsed_s > 0 else 0.0) if self.open_loop else None,
            scheduled=self.scheduled,
            sent=self.sent,
            sent_late=self.sent_late,
            backlogged=self.backlogged,
            backlog_growing=growing,
            carried_over=self.carried_over,
            in_flight_dropped=self.in_flight,
            unsent=self.unsent,
            notes=notes,
            fatal=self.fatal,
        )


def backlog_growing(outstanding: list[int], scheduled: int) -> bool:
    """Whether the outstanding requests per tick rose through the window: the mean of
    the last third above the first third's by more than BACKLOG_GROWTH_SHARE of the
    window's scheduled requests. A queue that grows is a rate the server cannot
    sustain, however good a short window's percentiles look."""
    if len(outstanding) < 3:
        return False
    third = len(outstanding) // 3
    first = sum(outstanding[:third]) / third
    last = sum(outstanding[-third:]) / third
    return last - first > max(BACKLOG_GROWTH_MIN, BACKLOG_GROWTH_SHARE * scheduled)


def saturation_reasons(cpu_pct: float, lag_p99_ms: float, capacity_pct: float) -> list[str]:
    """Why the loader, not the server, may have been the limit: the one rule for a live
    tick and for the whole run. ``cpu_pct`` is the mean per loader process (100 = a core),
    ``capacity_pct`` what one process can get of its CPUs (see cpu_capacity_pct)."""
    reasons = []
    if cpu_pct >= SATURATED_CPU_SHARE * capacity_pct:
        reasons.append(
            f"loader CPU {cpu_pct:.0f}% per process (of {capacity_pct:.0f}% available): the loader may be the bottleneck"
        )
    if lag_p99_ms > SATURATED_LAG_P99_MS:
        reasons.append(f"loader event-loop lag p99 {lag_p99_ms:.1f} ms (> {SATURATED_LAG_P99_MS:g} ms)")
    return reasons


def cpu_capacity_pct(cpus: tuple[int, ...], procs: int) -> float:
    """How much of a core one loader process can get: 100, or less when more
    processes than CPUs share them."""
    n_cpus = (
        len(cpus)
        if cpus
        else (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
    )
    return 100.0 * min(1.0, n_cpus / procs)
