"""A capacity search or ladder against a running server (``run_capacity``): the closed-loop
probe (unless the plan brings its rate), the open-loop steps and the confirmation runs,
each a load the conductor hands in (``StepLoad``: this module imports no conductor)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

from wsgicompare.engine.capacity.search import (
    CONFIRM_TAIL_ANSWERS,
    DEFAULT_CONFIRM_S,
    DEFAULT_MAX_STEPS,
    DEFAULT_STEP_S,
    FAILED_LIMIT,
    MAX_CONNECTIONS,
    MIN_CONNECTIONS,
    PROBE_S,
    STEP_SEED_STRIDE,
    STEP_TAIL_ANSWERS,
    STEP_WARMUP_S,
    Outcome,
    Slo,
    Step,
    confirm,
    confirm_reserve,
    confirm_seconds,
    connections_for,
    judge,
    ladder,
    search,
    step_seconds,
)
from wsgicompare.loader import MAX_SEED, LoadProfile, connection_room
from wsgicompare.results import CapacityResult, RunResult

if TYPE_CHECKING:
    from wsgicompare.engine.runspec import RunSpec
    from wsgicompare.engine.sampling import ServerSample

#: one load against the running server, sampled, as the conductor runs it
#: (``Conductor.load_on``): the spec names the run, the profile is sent
StepLoad = Callable[["RunSpec", LoadProfile], RunResult]


class ServerSampler(Protocol):
    """Samples a server's process tree (sampling.TreeSampler, or one on the server's node)."""

    def sample(self) -> ServerSample: ...


@dataclass(frozen=True)
class CapacityPlan:
    """What a capacity run does (``RunSpec.capacity``)."""

    slo: Slo
    #: a fixed ladder of offered rates (req/s); empty: search for the capacity
    rates: tuple[float, ...] = ()
    #: measured seconds per step (after its own warm-up)
    step_s: float = DEFAULT_STEP_S
    #: most steps of a search
    max_steps: int = DEFAULT_MAX_STEPS
    #: measured seconds of the confirmation run of a search's capacity (0: none)
    confirm_s: float = DEFAULT_CONFIRM_S
    #: answers beyond the SLO's percentile a confirmation runs long enough to hold (0: just
    #: confirm_s; tests and benchmarks that know their server may shorten it)
    confirm_tail: int = CONFIRM_TAIL_ANSWERS
    #: the same for a search step (0: just step_s); a ladder's steps are all step_s long
    step_tail: int = STEP_TAIL_ANSWERS
    #: seconds of each step's load that count in no figure, and of the closed-loop probe
    #: (tests of a server that needs no warming may shorten them)
    step_warmup_s: float = STEP_WARMUP_S
    probe_s: float = PROBE_S
    #: a closed-loop rate of this server and config measured just before (--recommend's
    #: probe stage): the search's first guess, and no probe of its own (None: it probes)
    probe_rps: float | None = None
    #: -c as given (the limit it sets is reported); None: sized from the rate and the budget
    concurrency: int | None = None
    #: the steps' arrivals: Poisson (independent users) unless --arrivals uniform
    arrivals: str = "poisson"

    @property
    def own_probe(self) -> bool:
        """Whether the run begins with its own closed-loop probe: a search that was given no
        ``probe_rps`` (a ladder has its rates)."""
        return not self.rates and self.probe_rps is None


class _StepFailed(Exception):
    """A step that could not measure (crash, cancel, loader failure): the search ends."""


#: server CPU (100 = a core, whole tree) below which the previous step's queue is drained
SETTLED_CPU_PCT = 15.0
#: most seconds to wait for it between steps
SETTLE_MAX_S = 5.0


def run_capacity(
    spec: RunSpec,
    load_on_server: StepLoad,
    cancel: threading.Event,
    *,
    new_sampler: Callable[[], ServerSampler] | None = None,
    on_step: Callable[[Step], None] | None = None,
    still_answers: Callable[[float], bool] | None = None,
) -> RunResult:
    """A capacity search (or ladder) against a running server: a closed-loop probe for the
    first guess (none when the plan brings its ``probe_rps``), then open-loop steps, each
    after the previous one's queue drained
    (watched with a ``new_sampler()``; None: a server we cannot sample) and, when
    ``still_answers(timeout_s)`` is given, once it answers a request again, then the
    confirmation runs; ``on_step`` hears of each step. The result is the run of the figure (the confirmation that met
    the SLO, else the best met step; the last step's when none met) with ``capacity``."""
    plan = spec.capacity
    assert plan is not None  # the conductor calls this for a spec with a capacity plan
    given = plan.concurrency
    runs: dict[tuple[float, bool], RunResult] = {}  #: (rate, confirmation) → its run
    taken: list[Step] = []
    probe_rps: float | None = plan.probe_rps
    if plan.own_probe:
        probe_load = replace(
            spec.load,
            rate=None,
            duration_s=plan.probe_s,
            warmup_s=0.5,
            requests=None,
            reps=None,
            concurrency=given or spec.load.concurrency,
        )
        probe = load_on_server(spec, probe_load)
        if probe.status != "ok" or not probe.rps_2xx:
            return replace(probe, capacity=CapacityResult.probe_failed(plan.slo, probe.reason or "no 2xx answer"))
        probe_rps = probe.rps_2xx

    def measure(rate: float, confirming: bool = False) -> Step:
        if cancel.is_set():
            raise _StepFailed
        _settle(new_sampler)
        # the settled server must answer one request within the load's --timeout: one
        # that does not is wedged (flask-dev's one thread here, after an overloaded
        # step), and a step against it would measure only the loader's pending connects
        if taken and still_answers is not None and not still_answers(spec.load.timeout_s):
            wedged = f"then the server answered no request within {spec.load.timeout_s:g} s: it stopped answering"
            taken[-1] = replace(taken[-1], why="; ".join(filter(None, (taken[-1].why, wedged))))
            raise _StepFailed(wedged)
        load = replace(
            spec.load,
            rate=rate,
            arrivals=plan.arrivals,
            # each step draws its own arrivals: a confirmation must not replay the
            # seconds its candidate step passed with
            seed=step_seed(spec.load.seed, len(taken)),
            duration_s=confirm_seconds(plan.confirm_s, rate, plan.slo, plan.confirm_tail)
            if confirming
            else (plan.step_s if plan.rates else step_seconds(plan.step_s, rate, plan.slo, plan.step_tail)),
            warmup_s=plan.step_warmup_s,
            requests=None,
            reps=None,
            concurrency=connections_for(rate, plan.slo, given, fd_cap=_fd_cap(spec.load.procs)),
        )
        result = load_on_server(spec, load)
        step = judge(result, rate, plan.slo, given is not None)
        step = replace(step, confirm=confirming)
        runs[(rate, step.confirm)] = result
        taken.append(step)
        if on_step is not None:
            on_step(step)
        if result.status != "ok" and (result.crashed_at_s is not None or cancel.is_set() or "loader" in result.reason):
            raise _StepFailed
        return step

    try:
        if plan.rates:
            outcome = ladder(measure, plan.rates)
        else:
            assert probe_rps is not None
            # a closed loop at full speed queues; the knee is usually below it. Steps of
            # the budget are kept for the confirmation runs (the figure is the confirmed one)
            confirming = plan.confirm_s > 0
            search_steps = plan.max_steps - confirm_reserve(plan.max_steps) if confirming else plan.max_steps
            outcome = search(measure, 0.8 * probe_rps, search_steps, ceiling=1.2 * probe_rps)
            if confirming:
                outcome = confirm(lambda rate: measure(rate, confirming=True), outcome, plan.max_steps, plan.slo)
        failed, failed_why = False, ""
    except _StepFailed as exc:
        outcome = Outcome(tuple(taken), FAILED_LIMIT, searched=not plan.rates)
        failed, failed_why = True, str(exc)
    best = outcome.best
    if best is not None:
        chosen: RunResult | None = runs[(best.rate, best.confirm)]
    else:
        chosen = runs[(taken[-1].rate, taken[-1].confirm)] if taken else None
    if chosen is None:  # cancelled before the first step
        chosen = RunResult(
            backend=spec.backend,
            title=spec.backend,
            workload=spec.workload,
            status="failed",
            reason="cancelled before the first step",
        )
    capacity = outcome.result(plan.slo, probe_rps)
    chosen = replace(chosen, capacity=capacity, verdicts=[capacity.verdict, *chosen.verdicts])
    if failed and chosen.status == "ok":
        last = runs[(taken[-1].rate, taken[-1].confirm)]
        chosen = replace(chosen, status="failed", reason=failed_why or last.reason or "a step failed")
    return chosen


def step_seed(seed: int | None, step: int) -> int | None:
    """The arrivals' seed of step ``step`` (0 first) of a capacity run whose load has
    ``seed``: another seed a step, the same ones for the same run seed."""
    return None if seed is None else (seed + STEP_SEED_STRIDE * (step + 1)) % (MAX_SEED + 1)


def _fd_cap(procs: int) -> int:
    """Connections the loader processes can hold (the loader's one open-file rule)."""
    room = connection_room()
    if room is None:
        return MAX_CONNECTIONS
    return max(MIN_CONNECTIONS, room * procs)


def _settle(new_sampler: Callable[[], ServerSampler] | None) -> None:
    """Wait until the server is idle again: past capacity a queue outlives the load (a
    listen backlog full of requests the workers still answer), and the next step must
    not inherit it. A server we cannot sample (``--url`` elsewhere) gets a short pause."""
    if new_sampler is None:
        time.sleep(0.5)
        return
    sampler = new_sampler()  # sampled where it runs (--server-node: there)
    sampler.sample()
    deadline = time.monotonic() + SETTLE_MAX_S
    while time.monotonic() < deadline:
        time.sleep(0.25)
        cpu_pct = sampler.sample()[0]
        if cpu_pct < SETTLED_CPU_PCT:
            return
