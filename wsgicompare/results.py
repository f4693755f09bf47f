"""The conductor's outputs: one immutable ``Tick`` per interval while a run goes on,
one ``RunResult`` when it ends. The TUI and every exporter read only these, so a
figure never differs between the screen and a report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from wsgicompare.capacity_result import CapacityResult as CapacityResult
from wsgicompare.capacity_result import Outcome as Outcome
from wsgicompare.capacity_result import Step as Step

# the loader decides what a status class and an error kind are; the results only name them
from wsgicompare.loader import ERROR_KINDS as ERROR_KINDS
from wsgicompare.loader import STATUS_CLASSES as STATUS_CLASSES
from wsgicompare.result_parts import Phase as Phase
from wsgicompare.result_parts import ScenarioResult as ScenarioResult
from wsgicompare.result_parts import TimelinePoint as TimelinePoint

if TYPE_CHECKING:
    from wsgicompare.loader import LatencyHistogram, LoadSummary

SCHEMA = "wsgicompare/1"

#: phases of one run, in order
PHASES = ("starting", "warmup", "load", "stopping", "done", "failed")


@dataclass(frozen=True)
class Tick:
    """One interval of one run, merged over all loader processes, plus a server sample."""

    backend: str  #: backend id
    workload: str  #: workload name
    phase: str  #: one of PHASES
    t_s: float  #: seconds since the load began (warm-up included)
    elapsed_s: float  #: measured seconds so far (warm-up excluded)
    remaining_s: float | None  #: seconds left if the run is time-bound, else None
    progress: float  #: 0..1, how far the run is by its stop rule
    # -- this interval
    rps: float  #: completed responses per second (any status; errors never count)
    rps_2xx: float  #: 2xx responses per second
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    max_ms: float | None
    interval_errors: int  #: errors (no response) in this interval
    # -- cumulative over the measured window
    requests: int  #: responses + errors so far
    responses: dict[str, int]  #: by status class
    errors: dict[str, int]  #: by error kind
    mean_rps: float
    cum_p50_ms: float | None
    cum_p90_ms: float | None
    cum_p99_ms: float | None
    cum_max_ms: float | None
    availability_pct: float | None  #: 2xx share of all requests
    latency_bins: tuple[int, ...]  #: cumulative latency distribution in log-spaced bins (for a histogram)
    # -- server (whole process tree) and loader
    server_cpu_pct: float  #: 100 = one core
    server_rss_mb: float
    server_procs: int
    server_threads: int
    loader_cpu_pct: float  #: mean per loader process, 100 = one core
    loader_saturated: bool
    warnings: tuple[str, ...] = ()  #: live findings to show as a banner
    #: the server's USS (read at most once a second: the latest read); None before the
    #: first measured tick's read, or when it cannot be read
    server_uss_mb: float | None = None
    #: a scenario's event at this tick's end ("worker-kill at 1.0 s: signal SIGKILL pid 42",
    #: "overload ends at 2.5 s"); None on every other tick and in a run without a scenario
    event: str | None = None

    @property
    def failures(self) -> int:
        return sum(self.errors.values()) + sum(v for k, v in self.responses.items() if k != "2xx")


# -- the typed parts of a RunResult -----------------------------------------------------------
# Each writes exactly the object the schema has always had (``to_dict``) and reads one back
# from a saved report (``from_dict``): keys it does not know are ignored (a newer writer),
# missing ones get their defaults (an older one). A field that is None is left out of the
# object, so a part written without it (an older report, a hand-made sample) reads and
# writes back the same.


def _set_fields(part: Any) -> dict[str, Any]:
    """The fields of ``part`` that are not None, in declaration order (the schema's)."""
    out = {}
    for f in fields(part):
        value = getattr(part, f.name)
        if value is not None:
            out[f.name] = value
    return out


def _known(cls: type, data: Any, name: str) -> dict[str, Any]:
    """The keys of a saved part that ``cls`` has a field for."""
    if not isinstance(data, dict):
        raise TypeError(f"{name} must be an object")
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


class _Part:
    """A part the report holds as its fields that are set (None: left out), or as ``{}``
    when the run has none at all (RunResult then holds None)."""

    def to_dict(self) -> dict[str, Any]:
        return _set_fields(self)


_P = TypeVar("_P", bound=_Part)


def _optional_part(cls: type[_P], data: Any, name: str) -> _P | None:
    """The part read back from its saved object; None for ``{}``."""
    kwargs = _known(cls, data, name)
    return cls(**kwargs) if data else None


@dataclass(frozen=True)
class LatencyFigures:
    """``latency_ms``: the measured window's latency in ms (open loop: from the intended
    send time). Empty (every figure None, ``{}`` in the report) when nothing was answered."""

    min: float | None = None
    mean: float | None = None
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    p999: float | None = None
    max: float | None = None
    #: open loop only: the same figures from the actual send
    uncorrected: LatencyFigures | None = None
    #: the stall probe at c=1 (kernel.delayed_ack_probe): n first_byte last_byte last_byte_quickack, ms
    probe: dict[str, Any] | None = None

    def __bool__(self) -> bool:
        """Whether there is any figure (an empty one is ``{}`` in the report, and falsy as that was)."""
        return bool(_set_fields(self))

    def figure(self, name: str) -> float | None:
        """One percentile by its schema key ("p99", "max" …): an SLO and a column name it."""
        if name not in LATENCY_KEYS:
            raise KeyError(name)
        value: float | None = getattr(self, name)
        return value

    def to_dict(self) -> dict[str, Any]:
        out = _set_fields(self)
        if self.uncorrected is not None:
            out["uncorrected"] = self.uncorrected.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Any, name: str = "latency_ms") -> LatencyFigures:
        kwargs = _known(cls, data, name)
        if kwargs.get("uncorrected") is not None:
            kwargs["uncorrected"] = cls.from_dict(kwargs["uncorrected"], f"{name}.uncorrected")
        return cls(**kwargs)


#: the figures of LatencyFigures, in the schema's order
LATENCY_KEYS = ("min", "mean", "p50", "p90", "p99", "p999", "max")


@dataclass(frozen=True)
class ServerFigures(_Part):
    """``server``: the server's whole process tree over the measured window (full ticks).
    A run with no process seen (remote ``--url``, no run) has none: ``{}`` in the report.

    RSS counts a page once per process that maps it, so a pre-fork server's master and
    workers count what they share (the interpreter, the app) once each; USS counts the
    pages only one process holds, PSS splits each shared page between its sharers. USS
    and PSS are read at most once a second (sampling.MEMORY_EVERY_S); None (left out):
    not read (a report from before them, a remote server, not permitted: see
    ``memory_note``)."""

    cpu_pct_mean: float = 0.0  #: 100 = one core
    cpu_pct_max: float = 0.0
    rss_mb_max: float = 0.0  #: summed over the tree, its highest
    uss_mb_max: float | None = None  #: summed over the tree, its highest
    uss_mb_mean: float | None = None
    pss_mb_max: float | None = None  #: summed over the tree (the server's share of RAM), its highest
    pss_mb_mean: float | None = None
    #: the mean USS of the backend's declared workers (Server.workers), its highest
    uss_mb_per_worker: float | None = None
    procs: int = 0  #: most processes seen at once
    threads: int = 0  #: most threads seen at once
    memory_note: str | None = None  #: why there is no USS/PSS (not permitted): RSS only

    @classmethod
    def from_dict(cls, data: Any) -> ServerFigures | None:
        return _optional_part(cls, data, "server")


@dataclass(frozen=True)
class LoaderFigures(_Part):
    """``loader``: what the loader did and whether it was the limit (LoadSummary's figures).
    The optional ones are left out of the report when None: the open-loop figures in a
    closed loop, ``notes`` when there are none, ``nodes`` outside a cluster run."""

    cpu_pct: float = 0.0  #: mean per loader process, 100 = one core
    saturated: bool = False  #: the loader, not the server, may have been the limit
    procs: int = 1  #: loader processes
    reasons: tuple[str, ...] | None = None  #: why it was the limit (empty when it was not)
    loop_lag_p99_ms: float | None = None  #: event-loop lag p99 over all processes
    #: requests still unanswered when a time-bound load ended: in no figure
    in_flight_dropped: int | None = None
    # -- open loop only (asked for, actually sent, answered: a slow server lowers the
    # last, a late loader the second); the counts as LoadSummary documents them
    target_rate: float | None = None
    offered_rate: float | None = None
    sent_rate: float | None = None
    served_rate: float | None = None
    scheduled: int | None = None
    sent: int | None = None
    sent_late: int | None = None
    backlogged: int | None = None
    unsent: int | None = None
    carried_over: int | None = None
    backlog_growing: bool | None = None
    arrivals: str | None = None  #: open loop: "uniform" or "poisson"
    seed: int | None = None  #: Poisson arrivals: the seed they were drawn from
    notes: tuple[str, ...] | None = None  #: news from the loader (limits, errno counts)
    #: cluster runs only: one entry per loader node (node_id host procs cpu_pct)
    nodes: list[dict[str, Any]] | None = None

    @classmethod
    def from_dict(cls, data: Any) -> LoaderFigures | None:
        part = _optional_part(cls, data, "loader")
        if part is None:
            return None
        # the lists of a saved report are tuples here, as the conductor makes them
        return replace(
            part,
            reasons=None if part.reasons is None else tuple(part.reasons),
            notes=None if part.notes is None else tuple(part.notes),
        )


@dataclass(frozen=True)
class RepeatFigures:
    """``repeat`` (``--repeat N``): every repetition's figures; the result is the middle one."""

    n: int = 1  #: repetitions run
    rps: list[float] = field(default_factory=list)  #: req/s of each repetition
    p99_ms: list[float | None] = field(default_factory=list)  #: p99 of each repetition
    status: list[str] = field(default_factory=list)  #: status of each repetition
    rps_median: float = 0.0  #: the true median of the ok repetitions' req/s
    rps_min: float | None = None
    rps_max: float | None = None
    spread_pct: float | None = None  #: (max - min) / median of the ok ones, %

    def to_dict(self) -> dict[str, Any]:
        # every key is written, a None as null (a spread with no ok repetition)
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Any) -> RepeatFigures | None:
        """None for ``{}``: a run without --repeat."""
        kwargs = _known(cls, data, "repeat")
        return cls(**kwargs) if data else None


@dataclass(frozen=True)
class Settle(_Part):
    """``settle``: the wait before a run for the previous run's port to drain
    (kernel.wait_settled). The first run of a session waited for nothing: ``{}``."""

    port: int | None = None  #: the previous run's port
    waited_s: float = 0.0
    time_wait_before: int | None = None  #: client TIME_WAIT sockets when the wait began
    time_wait: int = 0  #: client TIME_WAIT sockets left
    listening: int = 0  #: listeners still on the port
    tw_reuse: bool | None = None  #: the kernel reuses TIME_WAIT ports on loopback

    @classmethod
    def from_dict(cls, data: Any) -> Settle | None:
        return _optional_part(cls, data, "settle")


@dataclass(frozen=True)
class TcpFigures:
    """``tcp``: deltas of the kernel's TCP counters over the run (kernel.TCP_COUNTERS, by
    the kernel's names), and this server's accept queue as seen (peak and limit, when known)."""

    counters: dict[str, int] = field(default_factory=dict)
    accept_queue_peak: int | None = None  #: most connections seen waiting in an accept queue
    accept_queue_limit: int | None = None  #: that queue's backlog limit
    #: the measured window's transactions of 0.9 s or more (from the actual send) that took
    #: a SYN-retry time (1 s, 3 s, 7 s … ±10 %: what a connect dropped by a full backlog
    #: waits), and those that took any other time (verdicts.with_syn_retries)
    slow_at_syn_retry: int | None = None
    slow_elsewhere: int | None = None

    @property
    def listen_overflows(self) -> int:
        return int(self.counters.get("ListenOverflows", 0) or 0)

    def __bool__(self) -> bool:
        return bool(self.to_dict())

    def to_dict(self) -> dict[str, int]:
        out = dict(self.counters)
        for name in _TCP_FIGURES:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: Any) -> TcpFigures:
        if not isinstance(data, dict):
            raise TypeError("tcp must be an object")
        counters = {k: v for k, v in data.items() if k not in _TCP_FIGURES}
        return cls(counters, **{k: data.get(k) for k in _TCP_FIGURES})


#: the figures of TcpFigures beside the kernel's counters (the same object in the report)
_TCP_FIGURES = ("accept_queue_peak", "accept_queue_limit", "slow_at_syn_retry", "slow_elsewhere")


@dataclass(frozen=True)
class RunResult:
    """Everything known about one finished (or failed, or unavailable) run. ``to_dict``
    gives the ``runs[]`` entry of the JSON schema ``wsgicompare/1`` (see README). Frozen:
    built once (a later stage makes a new one with ``dataclasses.replace``), so a result
    an output already holds never changes under it."""

    backend: str
    title: str
    workload: str
    status: str  #: "ok" | "failed" | "unavailable"
    reason: str = ""  #: why not ok, one line
    command: list[str] = field(default_factory=list)  #: exact argv lines, one per process, plus config file names
    config_files: dict[str, str] = field(default_factory=dict)  #: file name -> rendered text
    versions: dict[str, str] = field(default_factory=dict)
    startup_s: float | None = None
    requests: int = 0
    responses: dict[str, int] = field(default_factory=lambda: {k: 0 for k in STATUS_CLASSES})
    errors: dict[str, int] = field(default_factory=dict)
    reconnects: int = 0
    elapsed_s: float = 0.0
    rps: float = 0.0
    bytes: int = 0
    #: min mean p50 p90 p99 p999 max (+ uncorrected with --rate, + probe after a stall probe)
    latency_ms: LatencyFigures = field(default_factory=LatencyFigures)
    server: ServerFigures | None = None  #: None: no server process seen (remote --url, no load)
    loader: LoaderFigures | None = None  #: None: no load ran
    timeline: list[TimelinePoint] = field(default_factory=list)  #: one point per full measured tick
    verdicts: list[str] = field(default_factory=list)
    tcp: TcpFigures = field(default_factory=TcpFigures)  #: kernel TCP counters over the run
    concurrency: int = 0
    repeat: RepeatFigures | None = None  #: with --repeat: n, rps per repetition, spread
    rps_2xx: float = 0.0  #: 2xx responses per second over the measured window
    settle: Settle | None = None  #: the wait before this run for the previous port (None: none)
    crashed_at_s: float | None = None  #: seconds into the load when the server was found dead, else None
    log_tail: str = ""  #: last lines of the server's log when it failed to start or crashed
    #: the measured window's latency histogram (µs, LatencyHistogram.to_dict: its non-empty
    #: HDR slots), so a saved report can be merged and re-percentiled; {} when none
    latency_hist: dict[str, Any] = field(default_factory=dict)
    #: with --find-capacity or --rates (None: neither); read the figure through its ``figure``
    #: (capacity_figure): rps is no capacity under a loader limit
    capacity: CapacityResult | None = None
    #: the saved report this run was read from (--open), for its label; "" when run here.
    #: Not written by to_dict: a report's runs are its own
    source: str = ""
    #: with --scenario (None: none): name status reason event_at_s phases failed_requests recovered
    #: recovery_s verdict, and what the scenario adds
    scenario: ScenarioResult | None = None

    @property
    def failures(self) -> int:
        return sum(self.errors.values()) + sum(v for k, v in self.responses.items() if k != "2xx")

    @property
    def availability_pct(self) -> float | None:
        if not self.requests:
            return None
        return 100.0 * self.responses.get("2xx", 0) / self.requests

    def to_dict(self) -> dict[str, Any]:
        """The ``runs[]`` entry of schema ``wsgicompare/1``: JSON-safe, derived figures included."""
        out: dict[str, Any] = {}
        for name in RUN_FIELDS:
            if name == "failures":
                out[name] = self.failures
            elif name == "availability_pct":
                pct = self.availability_pct
                out[name] = None if pct is None else round(pct, 4)
            elif name in _PARTS:
                part = getattr(self, name)
                out[name] = _json_safe({} if part is None else part.to_dict())
            elif name in _LISTS:
                out[name] = _json_safe([part.to_dict() for part in getattr(self, name)])
            else:
                out[name] = _json_safe(getattr(self, name))
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        """Inverse of ``to_dict``; unknown keys are ignored (a newer writer), derived ones recomputed."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("backend", "title", "workload", "status"):
            if key not in kwargs:
                raise ValueError(f"run entry without {key!r}")
        kwargs["command"] = list(kwargs.get("command", []))
        kwargs["verdicts"] = list(kwargs.get("verdicts", []))
        for name, read in _PARTS.items():
            if name in kwargs:
                kwargs[name] = read(kwargs[name])
        for name, read in _LISTS.items():
            if name in kwargs:
                kwargs[name] = [read(part, f"{name}[]") for part in kwargs[name]]
        return cls(**kwargs)


#: the keys of one ``runs[]`` entry, in the order they are written
RUN_FIELDS = (
    "backend",
    "title",
    "workload",
    "status",
    "reason",
    "command",
    "config_files",
    "versions",
    "startup_s",
    "concurrency",
    "requests",
    "responses",
    "errors",
    "failures",
    "availability_pct",
    "reconnects",
    "elapsed_s",
    "rps",
    "rps_2xx",
    "bytes",
    "latency_ms",
    "server",
    "loader",
    "tcp",
    "timeline",
    "verdicts",
    "repeat",
    "settle",
    "crashed_at_s",
    "log_tail",
    "capacity",
    "latency_hist",
    "scenario",
)


#: the typed parts of a run entry, and how each is read back from a saved one
_PARTS: dict[str, Any] = {
    "latency_ms": LatencyFigures.from_dict,
    "server": ServerFigures.from_dict,
    "loader": LoaderFigures.from_dict,
    "tcp": TcpFigures.from_dict,
    "repeat": RepeatFigures.from_dict,
    "settle": Settle.from_dict,
    "capacity": lambda data: CapacityResult.from_dict(data, "capacity") if data != {} else None,
    "scenario": lambda data: ScenarioResult.from_dict(data, "scenario") if data != {} else None,
}
#: the lists of typed parts in a run entry, and how each item is read back
_LISTS: dict[str, Any] = {
    "timeline": TimelinePoint.from_dict,
}


def _json_safe(value: Any) -> Any:
    """Tuples become lists, numpy scalars plain numbers, so json.dumps never chokes."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN/inf; "no figure" is what they mean here
    return value


def document(
    results: list[RunResult], meta: dict[str, Any], checks: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The whole ``wsgicompare/1`` document: schema, created, machine, load, runs, and
    ``thresholds`` when given the run's ``--fail-if`` checks (``thresholds.meta_checks``;
    a key added, so still schema 1)."""
    doc = {
        "schema": SCHEMA,
        "created": meta.get("created"),
        "machine": _json_safe(meta.get("machine", {})),
        "load": _json_safe(meta.get("load", {})),
        "runs": [r.to_dict() for r in results],
    }
    if checks is not None:
        doc["thresholds"] = _json_safe(checks)
    return doc


def results_from_document(doc: dict[str, Any]) -> list[RunResult]:
    """Read the runs back from a ``wsgicompare/1`` document (e.g. a saved JSON export)."""
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} document (schema {doc.get('schema')!r})")
    return [RunResult.from_dict(run) for run in doc.get("runs", [])]


# -- result parts from the loader's figures (the conductor fills a run with these) --------------


def us_to_ms(us: float | None) -> float | None:
    """Microseconds (the histograms') → milliseconds (the report's), 3 decimals."""
    return None if us is None else round(us / 1000.0, 3)


def latency_figures(hist: LatencyHistogram) -> LatencyFigures:
    """min mean p50 p90 p99 p999 max in ms from a histogram in µs; empty when it is."""
    if not hist.count:
        return LatencyFigures()
    p = hist.percentiles((50, 90, 99, 99.9))
    return LatencyFigures(
        min=us_to_ms(hist.min),
        mean=us_to_ms(hist.mean),
        p50=us_to_ms(p[50]),
        p90=us_to_ms(p[90]),
        p99=us_to_ms(p[99]),
        p999=us_to_ms(p[99.9]),
        max=us_to_ms(hist.max),
    )


def loader_figures(summary: LoadSummary) -> LoaderFigures:
    """The loader part of a result from the loader's summary of the measured window."""
    open_loop = summary.target_rate is not None
    return LoaderFigures(
        cpu_pct=round(summary.loader_cpu_pct, 1),
        saturated=bool(summary.saturated),
        procs=summary.procs,
        reasons=tuple(summary.saturation_reasons),
        loop_lag_p99_ms=round(summary.loop_lag_p99_ms, 2),
        # requests still unanswered when a time-bound load ended: in no figure above
        in_flight_dropped=int(summary.in_flight_dropped),
        target_rate=summary.target_rate,
        # asked for, actually sent, answered: a slow server lowers the last, a late loader the second
        offered_rate=round(summary.offered_rate or 0.0, 1) if open_loop else None,
        sent_rate=round(summary.sent_rate or 0.0, 1) if open_loop else None,
        served_rate=round(summary.served_rate or 0.0, 1) if open_loop else None,
        scheduled=int(summary.scheduled) if open_loop else None,
        sent=int(summary.sent) if open_loop else None,
        sent_late=int(summary.sent_late) if open_loop else None,
        backlogged=int(summary.backlogged) if open_loop else None,
        unsent=int(summary.unsent) if open_loop else None,
        carried_over=int(summary.carried_over) if open_loop else None,
        backlog_growing=bool(summary.backlog_growing) if open_loop else None,
        arrivals=summary.arrivals,
        seed=summary.seed,
        notes=tuple(summary.notes) if summary.notes else None,
    )
