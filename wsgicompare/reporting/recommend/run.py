"""``--recommend`` against real servers, per backend: probe every config of the grid
(a short closed loop) → the required scenarios on the best one (a backend that fails
one is rejected and measured no further) → the confirmed capacity at the SLO of the
best one or two → memory (USS per worker, PSS) from the confirmed run → p99 at half the
capacity → the overload scenario, as information. Every run is the conductor's
``run_one`` (a fresh server each), so each is a row the reports already know."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from wsgicompare.engine.capacity import STEP_WARMUP_S, CapacityPlan, Slo, capacity_figure, connections_for
from wsgicompare.engine.runspec import RunSpec
from wsgicompare.engine.scenarios import ScenarioPlan, default_event_at
from wsgicompare.reporting.recommend.rule import FAIL, PASS, UNSUPPORTED, Candidate
from wsgicompare.reporting.recommend.sweep import (
    REFERENCES,
    SCENARIO_S,
    STEP_S,
    Config,
    Sweep,
    grid,
    knobs_of,
    rule_of_thumb,
)
from wsgicompare.reporting.scorecard import cell
from wsgicompare.results import RunResult

#: --recommend's own defaults where the capacity options are not given (a 12-backend run fits 30 min)
#: (12 steps: a search closes its 3 % bracket in about 7, which leaves room for confirmations that
#: step down — with 8, one missed confirmation on a busy machine left no capacity at all)
MAX_STEPS, CONFIRM_S = 12, 5.0
#: the probe's warm-up unless --warmup is given
PROBE_WARMUP_S = 0.5
#: a second config is confirmed too when its probe is within this share of the best one's
SECOND_SHARE = 0.9


@dataclass(frozen=True)
class Settings:
    slo: Slo
    cpus: int
    step_s: float = STEP_S
    max_steps: int = MAX_STEPS
    confirm_s: float = CONFIRM_S
    probe_warmup_s: float = PROBE_WARMUP_S
    #: each capacity step's warm-up, and the p99-at-half run's (--warmup when given)
    step_warmup_s: float = STEP_WARMUP_S
    scenario_s: float = SCENARIO_S
    event_at_s: float | None = None
    #: the scenarios' open-loop rate (None: half the probed rate of the config)
    scenario_rate: float | None = None
    slow_clients: int | None = None
    #: -c as given (None: sized from the rate and the SLO)
    concurrency: int | None = None
    required: tuple[str, ...] = ()
    memory_budget: float | None = None
    sweep: Sweep | None = None


Runner = Callable[[RunSpec], RunResult]

#: the phase of each stage, as the app's progress shows it (memory is read from the capacity run)
PHASES = {"probe": "probe", "confirmed capacity": "capacity + memory", "p99 at half the capacity": "capacity"}


@dataclass(frozen=True)
class Stage:
    """One stage of the run, as it begins (``said`` "") and as it ends (its figure)."""

    backend: str
    #: the config it runs ("2 workers × 4 threads")
    config: str
    #: "probe", a scenario's name, "confirmed capacity", "p99 at half the capacity"
    what: str
    #: probe | scenarios | capacity + memory | capacity
    phase: str
    #: stages done (this one included once it ended) and planned
    done: int
    total: int
    eta: str
    ended: bool = False
    #: what it measured, in the progress line's words ("1,234 2xx req/s, p99 3.1 ms")
    said: str = ""
    #: the server's PSS and USS per worker in that run (MB), when sampled
    pss_mb: float | None = None
    uss_mb_per_worker: float | None = None


@dataclass
class _Clock:
    """Stages done and left, for the progress line's ETA."""

    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    def eta(self) -> str:
        if not self.done:
            return "ETA —"
        left = (time.monotonic() - self.started) / self.done * max(0, self.total - self.done)
        return f"ETA {int(left // 60)}m{int(left % 60):02d}s"


class Recommender:
    """Measures each backend as the module docstring says; ``runner`` is the conductor's
    ``run_one`` (with the run's cancel bound), ``say`` gets each progress line."""

    def __init__(self, runner: Runner, settings: Settings, cancel: threading.Event, say: Callable[[str], None]) -> None:
        self.run_one, self.s, self.cancel, self.say = runner, settings, cancel, say
        self.clock = _Clock(0)
        #: hears of every stage as it begins and as it ends (the app's progress screen)
        self.on_stage: Callable[[Stage], object] | None = None

    def plan(self, specs: list[RunSpec]) -> None:
        """Count the stages ahead (each config's probe, the scenarios, capacity, half, overload)."""
        per = len(self.s.required) + 3
        self.clock = _Clock(sum(len(grid(s.backend, self.s.cpus, self.s.sweep)) + per for s in specs))

    def _stage(self, spec: RunSpec, what: str, config: Config) -> RunResult:
        c, text = self.clock, config.text(spec.backend)
        stage = Stage(spec.backend, text, what, PHASES.get(what, "scenarios"), c.done, c.total, c.eta())
        if self.on_stage is not None:
            self.on_stage(stage)
        run = self.run_one(spec)
        result = replace(run, title=f"{run.title} · {text}")
        c.done += 1
        said = _said(result)
        self.say(f"[{c.done}/{c.total}] {spec.backend} {text}: {what}: {said} — {c.eta()}")
        if self.on_stage is not None:
            server = result.server
            self.on_stage(
                replace(
                    stage,
                    done=c.done,
                    total=c.total,
                    eta=c.eta(),
                    ended=True,
                    said=said,
                    pss_mb=server.pss_mb_max if server is not None else None,
                    uss_mb_per_worker=server.uss_mb_per_worker if server is not None else None,
                )
            )
        return result

    def _skip(self, stages: int) -> None:
        self.clock.total -= stages

    # -- the stages ---------------------------------------------------------------------------

    def _server(self, spec: RunSpec, c: Config) -> RunSpec:
        assert spec.server is not None
        # a worker class is the server's own knob only where it is swept (a fixed-class row has its own)
        wc = c.worker_class if "worker_class" in knobs_of(spec.backend) else None
        server = replace(spec.server, workers=c.workers, threads=c.threads, worker_class=wc)
        return replace(spec, server=server, capacity=None, scenario=None)

    def probe(self, spec: RunSpec, c: Config) -> RunResult:
        load = replace(
            spec.load, rate=None, duration_s=self.s.step_s, warmup_s=self.s.probe_warmup_s, requests=None, reps=None
        )
        return self._stage(replace(self._server(spec, c), load=load), "probe", c)

    def _open(self, spec: RunSpec, rate: float, duration_s: float, warmup_s: float) -> Any:
        return replace(
            spec.load,
            rate=rate,
            duration_s=duration_s,
            warmup_s=warmup_s,
            requests=None,
            reps=None,
            arrivals="poisson",
            concurrency=connections_for(rate, self.s.slo, self.s.concurrency),
        )

    def scenario(self, spec: RunSpec, c: Config, name: str, rate: float, capacity: float | None = None) -> RunResult:
        d = self.s.scenario_s
        at = self.s.event_at_s if self.s.event_at_s is not None else default_event_at(d)
        plan = ScenarioPlan(name, at, slow_clients=self.s.slow_clients, capacity_rps=capacity)
        # uniform arrivals, as --scenario with --rate: a phase's 2xx rate is compared with another's,
        # and Poisson noise over a short phase would be judged as the server's
        load = replace(self._open(spec, self.s.scenario_rate or rate, d, spec.load.warmup_s), arrivals="uniform")
        return self._stage(replace(self._server(spec, c), load=load, scenario=plan), name, c)

    def capacity(self, spec: RunSpec, c: Config, probed_rps: float) -> RunResult:
        """The search of config ``c``, from its probe stage's closed-loop rate (the same
        measurement of the same server config just before: not probed again)."""
        plan = CapacityPlan(
            probe_rps=probed_rps,
            slo=self.s.slo,
            step_s=self.s.step_s,
            max_steps=self.s.max_steps,
            confirm_s=self.s.confirm_s,
            concurrency=self.s.concurrency,
            step_warmup_s=self.s.step_warmup_s,
        )
        return self._stage(replace(self._server(spec, c), capacity=plan), "confirmed capacity", c)

    def half(self, spec: RunSpec, c: Config, capacity: float) -> RunResult:
        load = self._open(spec, capacity / 2, max(self.s.step_s, 1.0), self.s.step_warmup_s)
        return self._stage(replace(self._server(spec, c), load=load), "p99 at half the capacity", c)

    # -- one backend --------------------------------------------------------------------------

    def measure(self, spec: RunSpec) -> tuple[Candidate, list[RunResult]]:
        """One backend from probe to overload; stops early when cancelled (``finished`` False)."""
        s, b = self.s, spec.backend
        configs = grid(b, s.cpus, s.sweep)
        cand = Candidate(backend=b, cpus=s.cpus, reference=b in REFERENCES)
        left = len(configs) + len(s.required) + 3
        runs: list[RunResult] = []
        probes: list[tuple[Config, RunResult]] = []
        for c in configs:
            if self.cancel.is_set():
                cand.finished = False
                return cand, runs
            r = self.probe(spec, c)
            left -= 1
            probes.append((c, r))
            cand.probes.append(_probe_entry(b, c, r))
            if r.status == "unavailable":
                cand.problems.append(r.reason)
                self._skip(left)
                return cand, [r]
        if self.cancel.is_set():
            cand.finished = False
            return cand, runs
        answered = [(c, r) for c, r in probes if r.status == "ok" and r.rps_2xx > 0]
        if not answered:
            cand.problems.append(f"no config answered: {probes[-1][1].reason or 'no 2xx answer'}")
            self._skip(left)
            return cand, [probes[-1][1]]
        fit = [(c, r) for c, r in answered if not _over(r, s.memory_budget)]
        if not fit:
            least = min(_pss(r) or 0.0 for _, r in answered)
            cand.problems.append(
                f"every config is over the memory budget (the smallest PSS {least:,.1f} MB > {s.memory_budget:,.0f} MB)"
            )
            self._skip(left)
            return cand, [answered[0][1]]
        fit.sort(key=lambda cr: -cr[1].rps_2xx)
        best_c, best_r = fit[0]
        self._describe(cand, best_c)
        runs.append(best_r)
        # the required scenarios first: a backend that fails one is rejected, measured no further
        passed = self._scenarios(spec, best_c, best_r.rps_2xx / 2, cand, runs)
        left -= len(s.required)
        if not passed or self.cancel.is_set():
            cand.finished = not self.cancel.is_set()
            self._skip(left)
            return cand, runs
        runs.remove(best_r)
        tries = [best_c] + [c for c, r in fit[1:2] if r.rps_2xx >= SECOND_SHARE * best_r.rps_2xx]
        self._skip(1 - len(tries))
        confirmed: list[tuple[Config, RunResult, float]] = []
        probed = {c: r.rps_2xx for c, r in fit}
        for c in tries:
            if self.cancel.is_set():
                break
            # a search the loader, not the server, ended (a busy machine) is searched again
            r = self._again_if(
                lambda: self.capacity(spec, c, probed[c]), lambda r: bool(r.capacity and r.capacity.limit == "loader")
            )
            runs.append(r)
            figure = capacity_figure(r.capacity)
            if figure is not None and not _over(r, s.memory_budget):
                confirmed.append((c, r, figure))
            elif not cand.capacity_note:
                cand.capacity_note = str(
                    (r.capacity.verdict if r.capacity else "") or r.reason or "no rate met the SLO"
                )
                if figure is not None:
                    cand.capacity_note = f"PSS {_pss(r) or 0:,.1f} MB over the memory budget at {c.text(b)}"
        if self.cancel.is_set():
            cand.finished = False
            return cand, runs
        if not confirmed:
            self._skip(2)
            return cand, runs
        confirmed.sort(key=lambda x: -x[2])
        chosen, cap_run, capacity = confirmed[0]
        fell_back = ""
        if chosen != best_c and s.required:
            # the scenarios were run on another config: run them on this one too
            self._skip(-len(s.required))
            extra = Candidate(backend=b, cpus=s.cpus)
            if not self._scenarios(spec, chosen, capacity / 2, extra, runs):
                failed = [f"{n}: {extra.scenario_text.get(n, v)}" for n, v in extra.scenarios.items() if v != PASS]
                fell_back = f"{chosen.text(b)} confirmed {capacity:,.0f} req/s but failed {'; '.join(failed)}"
                back = [x for x in confirmed if x[0] == best_c]
                chosen, cap_run, capacity = back[0] if back else (best_c, cap_run, 0.0)
            else:
                cand.scenarios, cand.scenario_text = extra.scenarios, extra.scenario_text
        if capacity <= 0:
            cand.capacity_note = "only a config that failed a required scenario confirmed a capacity"
            self._skip(2)
            return cand, runs
        self._describe(cand, chosen)
        cand.capacity_rps = capacity
        confirmed_run = cap_run.capacity.confirmed if cap_run.capacity else None
        cand.capacity_how = (
            f"confirmed over {confirmed_run.duration_s:.0f} s"
            if confirmed_run is not None and confirmed_run.met
            else "the search's best step, not confirmed: --confirm 0"
        )
        server = cap_run.server
        if server is not None:
            cand.uss_mb_per_worker, cand.pss_mb = server.uss_mb_per_worker, server.pss_mb_max
        cand.command, cand.config_files = list(cap_run.command), dict(cap_run.config_files)
        cand.thumb = thumb_text(b, chosen, s.cpus, probes)
        cand.tuning = tuning_text(b, chosen, capacity, confirmed, probes)
        if fell_back:  # a user would ask why the higher figure was not taken
            cand.tuning = f"tuned: {chosen.text(b)} confirmed {capacity:,.0f} req/s; {fell_back}"
        if self.cancel.is_set():
            cand.finished = False
            return cand, runs
        h = self.half(spec, chosen, capacity)
        cand.p99_ms_at_half = h.latency_ms.p99 if h.status == "ok" else None
        if self.cancel.is_set():
            cand.finished = False
            return cand, runs
        over = self.scenario(spec, chosen, "overload", capacity / 2, capacity=capacity)
        runs.append(over)
        cand.overload = _overload_text(over)
        cand.finished = not self.cancel.is_set()
        return cand, runs

    def _describe(self, cand: Candidate, c: Config) -> None:
        cand.config, cand.config_text = c.to_dict(cand.backend), c.text(cand.backend)

    def _again_if(self, stage: Callable[[], RunResult], loader_made: Callable[[RunResult], bool]) -> RunResult:
        """``stage()``, and once more (one stage more in the ETA) when ``loader_made`` its
        outcome, unless cancelled."""
        r = stage()
        if loader_made(r) and not self.cancel.is_set():
            self._skip(-1)
            r = stage()
        return r

    def _scenarios(self, spec: RunSpec, c: Config, rate: float, cand: Candidate, runs: list[RunResult]) -> bool:
        """Run the required scenarios on ``c``; True when every one passed."""
        ok = True
        for name in self.s.required:
            if self.cancel.is_set():
                return False
            # a failure the loader may have made (a busy machine) is measured again
            r = self._again_if(
                lambda: self.scenario(spec, c, name, rate),
                lambda r: scenario_status(r)[0] == FAIL and bool(r.scenario and r.scenario.loader_bound),
            )
            runs.append(r)
            status, text = scenario_status(r)
            cand.scenarios[name], cand.scenario_text[name] = status, text
            ok = ok and status == PASS
        return ok


def scenario_status(r: RunResult) -> tuple[str, str]:
    """(pass | fail | unsupported, the scorecard's words for it) of one scenario run."""
    s = r.scenario
    if s is not None and s.status == "unsupported":
        return UNSUPPORTED, s.reason or "unsupported"
    good, text = cell(s) if s is not None else (False, r.reason or "the run failed")
    return (PASS if good else FAIL), text.removeprefix("✓ ").removeprefix("✗ ")


def _overload_text(r: RunResult) -> str | None:
    s = r.scenario
    if s is None or s.status != "ok":
        return f"not measured: {(s.reason if s else '') or r.reason or 'the run failed'}"
    if s.fell_over:
        return f"falls over: {s.server_exited or 'the server exited'}"
    return scenario_status(r)[1]


def _pss(r: RunResult) -> float | None:
    return r.server.pss_mb_max if r.server is not None else None


def _over(r: RunResult, budget: float | None) -> bool:
    pss = _pss(r)
    return budget is not None and pss is not None and pss > budget


def _said(r: RunResult) -> str:
    if r.scenario:
        return scenario_status(r)[1]
    if r.capacity:
        return r.capacity.verdict
    if r.status != "ok":
        return f"{r.status}: {r.reason}"
    p99 = r.latency_ms.p99
    return f"{r.rps_2xx:,.0f} 2xx req/s" + (f", p99 {p99:,.1f} ms" if p99 is not None else "")


def _probe_entry(backend: str, c: Config, r: RunResult) -> dict[str, Any]:
    return {
        "config": c.to_dict(backend),
        "status": r.status,
        "rps_2xx": round(r.rps_2xx, 1),
        "p99_ms": r.latency_ms.p99,
        "pss_mb": _pss(r),
        "uss_mb_per_worker": r.server.uss_mb_per_worker if r.server is not None else None,
    }


def tuning_text(
    backend: str,
    chosen: Config,
    capacity: float,
    confirmed: list[tuple[Config, RunResult, float]],
    probes: list[tuple[Config, RunResult]],
) -> str:
    """The chosen config against the sweep's others: confirmed capacities when two were
    confirmed, else the probes' 2xx rates ("" with one config)."""
    other = next(((c, f) for c, _, f in confirmed if c != chosen), None)
    if other is not None:
        return (
            f"tuned: {chosen.text(backend)} confirmed {capacity:,.0f} req/s, "
            f"{other[0].text(backend)} {other[1]:,.0f} req/s"
        )
    rest = sorted(((c, r.rps_2xx) for c, r in probes if c != chosen and r.status == "ok"), key=lambda x: -x[1])
    mine = next((r.rps_2xx for c, r in probes if c == chosen), None)
    if not rest or mine is None:
        return ""
    return (
        f"tuned on {len(probes)} probes: {chosen.text(backend)} {mine:,.0f} 2xx req/s, the next "
        f"{rest[0][0].text(backend)} {rest[0][1]:,.0f}"
    )


def thumb_text(backend: str, chosen: Config, cpus: int, probes: list[tuple[Config, RunResult]]) -> str:
    """How the tuned config compares with the docs' rule of thumb, from the probes' figures."""
    thumb, rule = rule_of_thumb(backend, cpus, chosen.worker_class)
    if not rule:
        return ""
    if thumb is None:
        return f"{rule}; tuned here to {chosen.text(backend)} ({chosen.workers * chosen.threads} at once)"
    if thumb.workers == chosen.workers:
        return f"{rule}: the tuned config agrees ({chosen.text(backend)})"
    mine = next((r for c, r in probes if c == chosen), None)
    theirs = next((r for c, r in probes if c.workers == thumb.workers and c.worker_class == chosen.worker_class), None)
    if mine is not None and theirs is not None and theirs.rps_2xx:
        diff = 100 * (mine.rps_2xx / theirs.rps_2xx - 1)
        return (
            f"{rule}; tuned to {chosen.text(backend)} instead: its probe served {mine.rps_2xx:,.0f} 2xx req/s against "
            f"{theirs.rps_2xx:,.0f} at {thumb.workers} workers ({diff:+.0f} %)"
        )
    return f"{rule}; tuned to {chosen.text(backend)} instead ({thumb.workers} workers not in the sweep)"
