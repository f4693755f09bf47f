"""Scenarios (``--scenario``): one run with a timed event in it — steady load *before*,
the event, *during*, *after* — and each phase's own figures (DESIGN.md, "Scenarios").

The events: ``worker-kill`` (SIGKILL one of the worker processes the backend's spec
declares), ``reload`` (the server's own graceful reload, as a deploy sends it),
``slow-clients``, ``slow-readers`` and ``slow-uploads`` (K extra connections that trickle
their headers, read a large answer or send an upload at ~1 KiB/s through *during*,
loader/slow.py, engine/slow_events.py) and ``overload`` (an open loop at half the
server's capacity, probed or given, twice it through *during*, half again after:
LoadProfile.rate_changes).

The conductor calls ``run_scenario`` for a spec with a scenario, handing it its load
bound to the running server (``ScenarioLoad``: this module imports no conductor); the
event is fired from that load's tick loop (``ScenarioEvent.tick``), and the phases are
tick ranges of the loader's own per-tick counts and latency histograms."""

from __future__ import annotations

import math
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol

from wsgicompare.backends import WORKERS_SELF, Server
from wsgicompare.engine.capacity import PROBE_S, Slo, connections_for
from wsgicompare.engine.slow_events import (
    SLOW_SCENARIOS,
    default_slow_clients,
    judge_slow,
    slow_load,
    unsupported,
    wrong_answer,
)
from wsgicompare.loader import LatencyHistogram, LoadProfile, LoadTick, tick_boundary_s
from wsgicompare.parsing import OptionError, parse_list
from wsgicompare.results import RunResult, ScenarioResult

if TYPE_CHECKING:
    from wsgicompare.engine.runspec import RunSpec

#: the scenarios built so far, in scorecard order
SCENARIOS = (*SLOW_SCENARIOS, "worker-kill", "reload", "overload")
#: throughput back to this share of *before* counts as recovered ...
RECOVERED_SHARE = 0.9
#: ... within this many seconds of the event
RECOVERY_WINDOW_S = 10.0
#: recovery is judged on a window this long (one short tick is noise)
RECOVERY_SPAN_S = 0.5
#: a scenario is loader-bound when the loader may have been the limit in more than this share
#: of the ticks of the phase the others are compared with (*before*; an overload's *during* too)
LOADER_BOUND_SHARE = 0.25
#: a scenario's loader tick: fine enough to time an event and a recovery
SCENARIO_TICK_S = 0.1
ONE_PROCESS = "one process: a crash takes the whole server down"
PHASES = ("before", "during", "after")
#: what an event's line says of its target
_SAID = ("signal", "pid", "process", "slow_clients", "path", "offered_rps")


def parse_scenarios(name: str, value: Any) -> tuple[str, ...]:
    """``worker-kill,reload`` or ``all`` → the scenario names; OptionError (one line) otherwise."""
    if isinstance(value, list):  # a TOML list
        if not all(isinstance(v, str) for v in value):
            raise OptionError(f"--{name} takes names such as worker-kill,reload, got {value!r}")
        value = ",".join(value)
    items = parse_list(name, value)
    if "all" in items:
        return SCENARIOS
    for item in items:
        if item not in SCENARIOS:
            raise OptionError(f"--scenario must be one of {', '.join(SCENARIOS)} or all, got {item!r}")
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class ScenarioPlan:
    """One scenario of one run: which event, when (seconds into the measured load)."""

    name: str
    event_at_s: float
    #: slow-clients, -readers, -uploads: the slow connections (None: max(4, 2 × workers))
    slow_clients: int | None = None
    #: slow-readers: the bytes of the stream answer they read (None: the workload's default)
    stream_size: int | None = None
    #: overload: the server's capacity in 2xx req/s, when known (None: a quick probe measures it)
    capacity_rps: float | None = None

    def bounds(self, duration_s: float, event_s: float) -> list[tuple[str, float, float]]:
        """(phase, start, end) in measured seconds: before until the event, then the rest in
        halves; an overload lasts a quarter of the rest, so the queue it leaves (its excess
        over the capacity) can drain at half the capacity inside *after*. Every bound is a
        tick boundary (on_grid), so each tick lies wholly inside one phase."""
        share = 0.25 if self.name == "overload" else 0.5
        middle = min(on_grid(event_s + (duration_s - event_s) * share), duration_s)
        return [("before", 0.0, event_s), ("during", event_s, middle), ("after", middle, duration_s)]

    def event_s(self) -> float:
        """When the event happens, in measured seconds: the first tick boundary at or past
        ``event_at_s`` (the conductor fires on that tick; the loader's events start there)."""
        return on_grid(self.event_at_s)


def on_grid(t_s: float, tick_s: float = SCENARIO_TICK_S) -> float:
    """The first scenario tick boundary at or past ``t_s`` (measured seconds)."""
    return round(math.ceil(round(t_s / tick_s, 6)) * tick_s, 6)


def default_event_at(duration_s: float) -> float:
    """A third of the run: before, during and after get a third each."""
    return round(duration_s / 3, 3)


@dataclass
class _Phase:
    name: str
    start_s: float
    end_s: float
    status: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    ticks: int = 0
    saturated: int = 0  #: ticks the loader may have been the limit in (LoadTick.saturated)

    def add(self, lt: LoadTick) -> None:
        self.ticks += 1
        self.saturated += bool(lt.saturated)
        for k, v in lt.status.items():
            self.status[k] = self.status.get(k, 0) + v
        for k, v in lt.errors.items():
            if v:
                self.errors[k] = self.errors.get(k, 0) + v
        self.latency.merge(lt.latency)

    @property
    def failed(self) -> int:
        return sum(self.errors.values()) + sum(v for k, v in self.status.items() if k != "2xx")

    def to_dict(self) -> dict[str, Any]:
        span = max(self.end_s - self.start_s, 1e-9)
        lat = self.latency
        pcts = lat.percentiles((50, 99)) if lat.count else {}
        ms = {k: round(v / 1000.0, 3) for k, v in pcts.items()}
        return {
            "name": self.name,
            "start_s": round(self.start_s, 3),
            "end_s": round(self.end_s, 3),
            "rps": round(sum(self.status.values()) / span, 1),
            "rps_2xx": round(self.status.get("2xx", 0) / span, 1),
            "p50_ms": ms.get(50),
            "p99_ms": ms.get(99),
            "max_ms": round(lat.max / 1000.0, 3) if lat.count else None,
            "errors": dict(self.errors),
            "failed": self.failed,
        }


class ScenarioEvent:
    """The conductor's tick hook: fires the event on the first measured tick at or past
    ``event_at_s`` and sorts every measured tick into its phase."""

    def __init__(
        self,
        plan: ScenarioPlan,
        fire: Callable[[], Fired],
        warmup_s: float,
        duration_s: float,
        tick_s: float = SCENARIO_TICK_S,
    ) -> None:
        self.plan = plan
        self.fire = fire
        self.warmup_s = warmup_s
        self.duration_s = duration_s
        self.tick_s = tick_s
        #: what happened at the end of the tick just seen: the event's line on the tick it
        #: fired, the end of a loader event (slow clients gone, overload over); else None
        self.news: str | None = None
        #: slow-clients: the fewest slow connections the loader held open at a tick's end
        #: through *during* (None: no slow clients)
        self.held: int | None = None
        self.fired_at: float | None = None  # measured seconds
        self.killed_server = False  # the event took the whole server down (one process)
        self.problem = ""  # the event could not be fired: why
        self.target: dict[str, Any] = {}  # what the event did: signal, pid
        self.rates: list[tuple[float, float, float]] = []  # (start, end, 2xx count) per tick after the event
        self.p99s: list[tuple[float, float, float | None]] = []  # (start, end, p99 ms) per tick after the event
        self.before = _Phase("before", 0.0, plan.event_at_s)
        self.later: list[_Phase] = []

    def tick(self, lt: LoadTick) -> None:
        self.news = None
        if lt.warmup:
            return
        end = lt.t_s - self.warmup_s
        start = end - lt.interval_s
        # Which phase a tick belongs to is read from where it sits on the tick grid, not from
        # when it was taken: its timer fires up to a millisecond early, or late on a busy
        # machine, and the event and phase ends are grid points. By its actual end, a tick
        # ending at 0.9995 s missed an event at 1.0, which then fired a tick late, and the
        # phases after it moved half a tick: the first tick after the slow clients left
        # (the held-up queue answered at once) was counted in *during*.
        grid_end = tick_boundary_s(lt.index, self.warmup_s, self.tick_s) - self.warmup_s
        if lt.done:
            grid_end = min(grid_end, max(end, grid_end - self.tick_s))  # the closing tick may be short
        if self.fired_at is None:
            self.before.add(lt)
            if grid_end >= self.plan.event_s() - 1e-6 and not self.problem:
                self._fire(grid_end)
                self.news = self.notes()[0]
            return
        self.rates.append((start, end, lt.status.get("2xx", 0)))
        # on the grid: recovery after an overload is timed from a grid point (the end of *during*)
        p99 = lt.latency.percentile(99) / 1000.0 if lt.latency.count else None
        self.p99s.append((max(start, grid_end - self.tick_s), grid_end, p99))
        during = len(self.later) < 2 or grid_end <= self.later[0].end_s + 1e-6
        ends = len(self.later) == 2 and abs(grid_end - self.later[0].end_s) < 1e-6
        if ends and self.plan.name in LOADER_EVENTS:
            self.news = f"{self.plan.name} ends at {grid_end:.1f} s"  # the loader's event is over
        (self.later[0] if during else self.later[1]).add(lt)
        if self.held is not None and self.fired_at + self.tick_s + 1e-6 < grid_end < self.later[0].end_s - 1e-6:
            # the ticks inside *during*: the first is when they connect, the last when they close
            self.held = min(self.held, lt.slow_held)

    def notes(self) -> tuple[str, ...]:
        """A live line for every tick from the event on (the app's banner shows it)."""
        if self.fired_at is None:
            return ()
        what = " ".join(f"{k} {v}" for k, v in self.target.items() if k in _SAID)
        return (f"{self.plan.name} at {self.fired_at:.1f} s: {self.problem or what}",)

    def _fire(self, at: float) -> None:
        self.fired_at = at
        self.before.end_s = at
        self.later = [_Phase(n, s, e) for n, s, e in self.plan.bounds(self.duration_s, at)[1:]]
        fired = self.fire()
        self.target, self.problem, self.killed_server = fired.target, fired.problem, fired.killed_server
        if "slow_clients" in self.target:
            self.held = self.target["slow_clients"]

    def recovery(self) -> float | None:
        """Seconds from the event until a tick and the window of RECOVERY_SPAN_S it starts ran
        at ≥ 90 % of *before*'s 2xx rate (within RECOVERY_WINDOW_S), None when none did."""
        span = max(self.before.end_s - self.before.start_s, 1e-9)
        target = RECOVERED_SHARE * self.before.status.get("2xx", 0) / span
        if target <= 0 or self.fired_at is None:
            return None
        for i, (start, end, count) in enumerate(self.rates):
            if start - self.fired_at > RECOVERY_WINDOW_S:
                break
            if count / max(end - start, 1e-9) < target:
                continue  # a window starting in the dip would count the catch-up after it
            window = [r for r in self.rates[i:] if r[0] < start + RECOVERY_SPAN_S]
            if window[-1][1] - start < RECOVERY_SPAN_S * 0.99:
                break  # the load ended: not enough left to judge
            if sum(r[2] for r in window) / (window[-1][1] - start) >= target:
                return round(max(0.0, start - self.fired_at), 2)
        return None


@dataclass(frozen=True)
class Fired:
    """What an event did: signal and process, why it could not (``problem``), and whether
    it took the whole server down (a one-process server's worker is the server)."""

    target: dict[str, Any]
    problem: str = ""
    killed_server: bool = False


def kill_worker(server: Server) -> Fired:
    """SIGKILL one of the worker processes the server's spec declares (Server.workers)."""
    workers = server.workers()
    if not workers:
        return Fired({}, "no worker process was found at the event")
    one_process = server.app_launch.workers == WORKERS_SELF
    target = {"signal": "SIGKILL", "pid": workers[0].pid, "one_process": one_process}
    try:
        os.kill(workers[0].pid, signal.SIGKILL)
    except ProcessLookupError:
        return Fired(target, "the worker exited before it could be killed")
    return Fired(target, killed_server=one_process)


def reload(server: Server) -> Fired:
    """The server's own graceful reload (its spec's reload signal to the app server)."""
    launch = server.app_launch
    target = {"signal": signal.Signals(launch.reload_signal).name, "process": launch.name}
    return Fired(target, "" if server.reload() else "the server was gone before its reload")


def reload_unsupported(server: Server) -> str | None:
    """Why ``server`` has no graceful reload (None when it has one)."""
    launch = server.app_launch
    if launch.reload_signal is not None:
        return None
    return f"{launch.name} has no graceful reload of its own: a deploy restarts it, refusing connections meanwhile"


class ScenarioLoad(Protocol):
    """One load against the running server, sampled, as the conductor runs it
    (``Conductor.load_on``): ``spec`` names the run, ``load`` is sent, ``event`` is told
    of every tick."""

    def __call__(self, spec: RunSpec, load: LoadProfile, event: ScenarioEvent | None = None) -> RunResult: ...


def run_scenario(
    spec: RunSpec,
    server: Server | None,
    load_on_server: ScenarioLoad,
    cancel: threading.Event,
) -> RunResult:
    """One run of ``spec.scenario`` against a running server (``load_on_server`` with a
    ScenarioEvent as tick hook); the result carries ``scenario``. ``server`` may be
    None for the events the loader makes (LOADER_EVENTS) against a server we did not start
    at ``url``: nothing of it is signalled, and whether it exited is not known."""
    plan = spec.scenario
    assert plan is not None  # the conductor runs a scenario only for a spec with one
    if server is None and plan.name not in LOADER_EVENTS:
        raise ValueError(f"{plan.name} signals the server: it needs one wsgicompare started")
    duration = spec.load.duration_s or 0.0
    why = reload_unsupported(server) if server is not None and plan.name == "reload" else unsupported(plan.name, server)
    if why is not None:
        assert server is not None
        return RunResult(  # the reason says it: no verdict to repeat it
            backend=spec.backend,
            title=server.backend.title,
            workload=spec.workload,
            status="unavailable",
            reason=f"{plan.name} unsupported: {why}",
            scenario=ScenarioResult.from_dict(
                {**_empty(plan), "status": "unsupported", "reason": why, "verdict": f"unsupported: {why}"}
            ),
        )
    if (wrong := wrong_answer(plan.name, server, plan.stream_size)) is not None:
        assert server is not None  # a wrong answer is only found on a server of ours
        return RunResult(  # the slow connections' path is not served right: nothing measured
            backend=spec.backend,
            title=server.backend.title,
            workload=spec.workload,
            status="failed",
            reason=wrong,
            scenario=ScenarioResult.from_dict({**_empty(plan), "reason": wrong, "verdict": f"the run failed: {wrong}"}),
        )
    load = replace(spec.load, tick_s=SCENARIO_TICK_S)  # the timeline keeps every tick
    if plan.name in LOADER_EVENTS:
        # the loader does these itself, on the run's clock: the event only marks the time
        try:
            probe = partial(load_on_server, spec)
            load, target = LOADER_EVENTS[plan.name](plan, server, load, duration, probe)
        except _NoCapacity as exc:
            failed = {**_empty(plan), "reason": exc.why, "verdict": f"the run failed: {exc.why}"}
            return replace(exc.result, scenario=ScenarioResult.from_dict(failed))

        def fire() -> Fired:
            return Fired(target)
    else:
        assert server is not None
        fire = partial({"worker-kill": kill_worker, "reload": reload}[plan.name], server)
    event = ScenarioEvent(plan, fire, spec.load.warmup_s, duration)
    spec = replace(spec, load=load)
    result = load_on_server(spec, spec.load, event)
    exited = None
    if server is not None and result.crashed_at_s is not None and event.fired_at is not None and not cancel.is_set():
        # found dead after the event fired (a crash stops the load: no event after one): it fell over
        exited = server.exit_reason() or "it exited"
    judged = judge(event, result, duration, exited)
    if plan.name == "overload" and judged["status"] == "ok":
        # the question an overload asks first; unknown for a server we did not start
        judged["fell_over"] = None if server is None else exited is not None
    # the report's object as the judge wrote it (its keys in that order), typed once
    scenario = ScenarioResult.from_dict(judged)
    verdicts = result.verdicts
    if exited is not None:
        # the event took the server down (a one-process server killed, a master that does
        # not outlive its worker): the scenario's answer, not a failed run
        result = replace(result, status="ok", reason="", crashed_at_s=None)
        verdicts = [v for v in verdicts if "crashed" not in v]
    return replace(result, scenario=scenario, verdicts=[f"{plan.name}: {scenario.verdict}", *verdicts])


def _empty(plan: ScenarioPlan) -> dict[str, Any]:
    return {
        "name": plan.name,
        "status": "failed",
        "reason": "",
        "event_at_s": plan.event_at_s,
        "phases": [],
        "failed_requests": None,
        "recovered": None,
        "recovery_s": None,
        "verdict": "",
    }


def judge(event: ScenarioEvent, result: RunResult, duration_s: float, exited: str | None = None) -> dict[str, Any]:
    """The ``scenario`` entry of a run's JSON from what the event saw; ``exited``: why the
    server was found dead after the event (None: it was not)."""
    plan = event.plan
    out = _empty(plan)
    if event.fired_at is None:
        out["reason"] = result.reason or "the load ended before the event"
        out["verdict"] = f"no event: {out['reason']}"
        return out
    out["event_at_s"] = round(event.fired_at, 3)
    out["event_t"] = round(event.fired_at + event.warmup_s, 3)  # on the timeline's clock (warm-up included)
    out["event"] = dict(event.target)
    phases = [event.before, *event.later]
    out["phases"] = [p.to_dict() for p in phases]
    failed = sum(p.failed for p in event.later)
    out["failed_requests"] = failed
    # a request held up by the event completes (and is timed) when it is answered, perhaps in
    # *after*: the spike is read over everything answered from the event on
    since = LatencyHistogram()
    for p in event.later:
        since.merge(p.latency)
    out["p99_ms_since_event"] = round(since.percentile(99) / 1000.0, 3) if since.count else None
    out["max_ms_since_event"] = round(since.max / 1000.0, 3) if since.count else None
    if event.problem:
        out["reason"] = event.problem
        out["verdict"] = f"the event failed: {event.problem}"
        return out
    if result.status != "ok" and exited is None:
        out["reason"] = result.reason
        out["verdict"] = f"the run failed: {result.reason}"
        return out
    out["status"] = "ok"
    # a loader that was the limit makes "throughput back to 90 %" a statement about the loader
    # (not when the server is gone: then nothing is compared, and a loader facing refused
    # connects is busy by nature). Judged on the phases the figures are compared with, not the
    # whole run: the burst of held-up requests that a server answers once the event is over
    # (slow clients gone, a worker back) keeps the loader busy for a moment, the server's doing.
    reference = [event.before, *event.later[:1]] if plan.name == "overload" else [event.before]
    out["loader_bound"] = exited is None and any(p.saturated > LOADER_BOUND_SHARE * p.ticks for p in reference)
    recovery = None if exited is not None else event.recovery()
    out["recovered"] = recovery is not None
    out["recovery_s"] = recovery
    if exited is not None:
        out["server_exited"] = exited
        out["reason"] = (
            ONE_PROCESS if event.killed_server else f"the whole server exited after the {plan.name}: {exited}"
        )
        out["verdict"] = f"not recovered: {out['reason']} ({failed} requests failed)"
    elif plan.name in (*SLOW_SCENARIOS, "overload"):
        judge_loader_event(event, out, failed)
    elif plan.name == "reload":
        spike = f"p99 {fig(out['p99_ms_since_event'])} ms, max {fig(out['max_ms_since_event'])} ms since the reload"
        back = f"back in {recovery:.1f} s" if recovery is not None else "throughput not back to 90 % of before"
        out["verdict"] = f"{failed} requests failed across the reload; {spike}; {back}"
    elif recovery is not None:
        out["verdict"] = f"a worker killed: throughput back to 90 % of before in {recovery:.1f} s, {failed} failed"
    else:
        left = max(0.0, duration_s - event.fired_at)
        within = min(RECOVERY_WINDOW_S, left)
        out["reason"] = f"throughput not back to 90 % of before within {within:.1f} s"
        out["verdict"] = f"a worker killed: {out['reason']}, {failed} failed"
    if out["loader_bound"]:
        out["verdict"] += " (loader-bound: the throughput figures measure the loader; try --rate)"
    return out


def fig(value: float | None) -> str:
    """A figure for a verdict: one decimal, thousands separated, "—" when unknown."""
    return "—" if value is None else f"{value:,.1f}"


# -- the events the loader makes: slow clients and overload ------------------------------------

#: the SLO an overload's recovery is judged against: p99 back within it
OVERLOAD_SLO_P99_MS = 100.0
#: the offered rate during an overload, and before and after it, as shares of the probed capacity
OVERLOAD_FACTOR, OVERLOAD_CALM = 2.0, 0.5
#: share of the requests during that makes a kind of failure the answer (shed, refused …)
MANY = 0.01


class _NoCapacity(Exception):
    """The overload's probe measured no capacity: the run is that failed probe."""

    def __init__(self, result: RunResult, why: str) -> None:
        super().__init__(why)
        self.result, self.why = result, why


def _middle(plan: ScenarioPlan, duration_s: float) -> float:
    return plan.bounds(duration_s, plan.event_s())[1][2]


#: one load on the scenario's server, as the conductor runs it (the overload's probe)
Probe = Callable[[LoadProfile], RunResult]


def _slow(
    plan: ScenarioPlan, server: Server | None, load: LoadProfile, duration_s: float, probe: Probe
) -> tuple[LoadProfile, dict[str, Any]]:
    """K slow connections from the event to the end of *during* (engine/slow_events.py)."""
    k = plan.slow_clients or default_slow_clients(server)
    warm = load.warmup_s
    until = warm + _middle(plan, duration_s)
    return slow_load(plan.name, k, load, warm + plan.event_s(), until, plan.stream_size)


def _overload(
    plan: ScenarioPlan, server: Server | None, load: LoadProfile, duration_s: float, probe: Probe
) -> tuple[LoadProfile, dict[str, Any]]:
    """A closed-loop probe for the capacity C, then an open loop at C/2, 2C through
    *during*, C/2 again: does the server shed, queue or fall over, and how soon is
    its p99 back within OVERLOAD_SLO_P99_MS?"""
    if plan.capacity_rps:
        capacity, known = plan.capacity_rps, {"capacity_rps": round(plan.capacity_rps, 1)}
    else:
        probed = probe(replace(load, rate=None, duration_s=PROBE_S, warmup_s=0.5, requests=None, reps=None))
        capacity = probed.rps_2xx
        if probed.status != "ok" or capacity <= 0:
            raise _NoCapacity(probed, f"the capacity probe failed: {probed.reason or 'no 2xx answer'}")
        known = {"capacity_probe_rps": round(capacity, 1)}
    high, calm = OVERLOAD_FACTOR * capacity, OVERLOAD_CALM * capacity
    warm = load.warmup_s
    load = replace(
        load,
        rate=calm,
        rate_changes=((warm + plan.event_s(), high), (warm + _middle(plan, duration_s), calm)),
        concurrency=connections_for(high, Slo("p99", OVERLOAD_SLO_P99_MS, 0.1), None),
    )
    return load, {**known, "offered_rps": round(high, 1), "calm_rps": round(calm, 1)}


#: the scenarios whose event the loader makes, and how each sets up the load
LOADER_EVENTS = {**dict.fromkeys(SLOW_SCENARIOS, _slow), "overload": _overload}


def judge_loader_event(event: ScenarioEvent, out: dict[str, Any], failed: int) -> None:
    """The verdict of a slow-transfer or overload run (phases already in ``out``)."""
    if out["name"] in SLOW_SCENARIOS:
        k: int = event.target.get("slow_clients", 0)
        judge_slow(out["name"], k, event.held, out["phases"], out, RECOVERED_SHARE)
        return
    before, during = (out["phases"] + [{}, {}])[:2]
    base = before.get("rps_2xx") or 0.0
    kept = (during.get("rps_2xx") or 0.0) / base if base else 0.0
    out["kept_share"] = round(kept, 3)
    errors = during.get("errors") or {}
    requests = sum(errors.values()) + (during.get("rps") or 0.0) * max(during["end_s"] - during["start_s"], 1e-9)
    shed = (during.get("rps") or 0.0) - (during.get("rps_2xx") or 0.0)  # non-2xx answers per second
    mode = "queues"
    if requests and shed * max(during["end_s"] - during["start_s"], 1e-9) > MANY * requests:
        mode = "sheds (fast non-2xx answers)"
    elif requests and sum(errors.values()) > MANY * requests:
        kinds = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(errors.items(), key=lambda kv: -kv[1]))
        mode = f"fails connections ({kinds})"
    offered = event.target.get("offered_rps") or 0.0
    # a capacity probed low (a busy machine, a cold server) offers no overload at all: a server
    # that kept up with "twice its capacity" neither shed nor queued, and its recovery means nothing
    out["overloaded"] = (during.get("rps_2xx") or 0.0) < RECOVERED_SHARE * offered
    if not out["overloaded"] and mode == "queues":
        mode = "kept up: not overloaded"
    out["mode"] = mode
    end = event.later[0].end_s if event.later else None
    recovery = None
    for i, (start, _, p99) in enumerate(event.p99s):
        if end is None or start < end or p99 is None or p99 > OVERLOAD_SLO_P99_MS:
            continue
        window = [w for w in event.p99s[i:] if w[0] < start + RECOVERY_SPAN_S]
        if all(w[2] is not None and w[2] <= OVERLOAD_SLO_P99_MS for w in window):
            recovery = round(start - end, 2)
            break
    out["recovered"] = recovery is not None
    out["recovery_s"] = recovery
    back_text = (
        f"p99 back under {OVERLOAD_SLO_P99_MS:g} ms {recovery:.1f} s after"
        if recovery is not None
        else f"p99 not back under {OVERLOAD_SLO_P99_MS:g} ms before the run ended"
    )
    out["verdict"] = (
        f"at {offered:,.0f} req/s offered (2 × capacity) it {mode}: {during.get('rps_2xx', 0):,.0f} 2xx req/s, "
        f"p99 {fig(during.get('p99_ms'))} ms, {failed} failed; {back_text}"
    )
    if not out["overloaded"]:
        source = "given" if "capacity_rps" in event.target else "probed"
        out["verdict"] += f" (the {source} capacity was too low to overload it: no judgement)"
