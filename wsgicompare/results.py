"""The conductor's outputs: one immutable ``Tick`` per interval while a run goes on,
one ``RunResult`` when it ends. The TUI and every exporter read only these, so a
figure never differs between the screen and a report."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

# the loader decides what a status class and an error kind are; the results only name them
from wsgicompare.loader.stats import ERROR_KINDS as ERROR_KINDS
from wsgicompare.loader.stats import STATUS_CLASSES as STATUS_CLASSES

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
    #: a scenario's event at this tick's end ("worker-kill at 1.0 s: signal SIGKILL pid 42",
    #: "overload ends at 2.5 s"); None on every other tick and in a run without a scenario
    event: str | None = None

    @property
    def failures(self) -> int:
        return sum(self.errors.values()) + sum(v for k, v in self.responses.items() if k != "2xx")


@dataclass
class RunResult:
    """Everything known about one finished (or failed, or unavailable) run. ``to_dict``
    gives the ``runs[]`` entry of the JSON schema ``wsgicompare/1`` (see README)."""

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
    latency_ms: dict[str, Any] = field(
        default_factory=dict
    )  #: min mean p50 p90 p99 p999 max (+ "uncorrected" with --rate)
    server: dict[str, Any] = field(default_factory=dict)  #: cpu_pct_mean cpu_pct_max rss_mb_max procs threads
    loader: dict[str, Any] = field(default_factory=dict)  #: cpu_pct saturated procs (+ reasons)
    timeline: list[dict[str, Any]] = field(
        default_factory=list
    )  #: t rps p50_ms p99_ms errors server_cpu_pct server_rss_mb
    verdicts: list[str] = field(default_factory=list)
    tcp: dict[str, int] = field(default_factory=dict)  #: deltas of kernel TCP counters over the run
    concurrency: int = 0
    repeat: dict[str, Any] = field(default_factory=dict)  #: with --repeat: n, rps per repetition, spread
    rps_2xx: float = 0.0  #: 2xx responses per second over the measured window
    settle: dict[str, Any] = field(default_factory=dict)  #: wait before this run: waited_s, time_wait (sockets left)
    crashed_at_s: float | None = None  #: seconds into the load when the server was found dead, else None
    log_tail: str = ""  #: last lines of the server's log when it failed to start or crashed
    #: the measured window's latency histogram (µs, LatencyHistogram.to_dict: its non-empty
    #: HDR slots), so a saved report can be merged and re-percentiled; {} when none
    latency_hist: dict[str, Any] = field(default_factory=dict)
    #: with --find-capacity or --rates: rps, offered_rps, slo, steps, limit, probe_rps, verdict
    capacity: dict[str, Any] = field(default_factory=dict)
    #: the saved report this run was read from (--open), for its label; "" when run here.
    #: Not written by to_dict: a report's runs are its own
    source: str = ""
    #: with --scenario: name status reason event_at_s phases failed_requests recovered recovery_s verdict
    scenario: dict[str, Any] = field(default_factory=dict)

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


def document(results: list[RunResult], meta: dict[str, Any]) -> dict[str, Any]:
    """The whole ``wsgicompare/1`` document: schema, created, machine, load, runs, and
    ``thresholds`` when the run had ``--fail-if`` (a key added, so still schema 1)."""
    from wsgicompare.thresholds import meta_checks

    doc = {
        "schema": SCHEMA,
        "created": meta.get("created"),
        "machine": _json_safe(meta.get("machine", {})),
        "load": _json_safe(meta.get("load", {})),
        "runs": [r.to_dict() for r in results],
    }
    checks = meta_checks(meta, results)
    if checks is not None:
        doc["thresholds"] = _json_safe(checks)
    return doc


def results_from_document(doc: dict[str, Any]) -> list[RunResult]:
    """Read the runs back from a ``wsgicompare/1`` document (e.g. a saved JSON export)."""
    if doc.get("schema") != SCHEMA:
        raise ValueError(f"not a {SCHEMA} document (schema {doc.get('schema')!r})")
    return [RunResult.from_dict(run) for run in doc.get("runs", [])]
