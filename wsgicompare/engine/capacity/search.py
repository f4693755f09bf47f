"""The capacity search as pure functions of a ``measure(rate) -> Step`` callable: a step's
judgement against the SLO, the search (bracket, bisect), the confirmation runs, the
fixed ladder, and the one reading of a run's ``capacity`` object for every output."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from wsgicompare.capacity_result import BOUND_LIMITS as BOUND_LIMITS
from wsgicompare.capacity_result import FAILED_LIMIT as FAILED_LIMIT
from wsgicompare.capacity_result import Outcome as Outcome
from wsgicompare.capacity_result import Step as Step
from wsgicompare.capacity_result import bound_text as bound_text
from wsgicompare.capacity_result import capacity_bound as capacity_bound
from wsgicompare.capacity_result import capacity_figure as capacity_figure
from wsgicompare.capacity_result import capacity_text as capacity_text
from wsgicompare.capacity_result import capacity_unconfirmed as capacity_unconfirmed
from wsgicompare.results import LoaderFigures, RunResult
from wsgicompare.slo import DEFAULT_SLO as DEFAULT_SLO
from wsgicompare.slo import PERCENTILES as PERCENTILES
from wsgicompare.slo import CapacityError as CapacityError
from wsgicompare.slo import Slo as Slo
from wsgicompare.slo import parse_rates as parse_rates
from wsgicompare.slo import parse_slo as parse_slo

#: the search stops when the bracket (highest met, lowest not met) is this close
BRACKET_TOLERANCE = 0.03
DEFAULT_STEP_S = 3.0
DEFAULT_MAX_STEPS = 10
#: measured seconds of the run that confirms a search's capacity: a rate at ρ ≈ 1 can pass
#: a 3 s step by luck and miss over a longer window
DEFAULT_CONFIRM_S = 10.0
#: the shortest confirmation worth its name (0 = none)
MIN_CONFIRM_S = 1.0
#: a confirmation that misses steps down and confirms again: by half its percentile's
#: overshoot (p99 60 ms against 50: 10 %), at least this share ...
CONFIRM_STEP_DOWN = 0.03
#: ... and at most this one
CONFIRM_STEP_DOWN_MAX = 0.25
#: a search step runs long enough to hold this many answers beyond the SLO's percentile
#: (a p99 step at 100 req/s: 10 s), never shorter than --step-duration: a 3 s step read a
#: slow server's p99 from its 2–3 slowest answers (simulated M/M/c queues: 54 % of 120
#: searches within −10 %/+3 % of the truth with 3 s steps, 70 % with these) ...
STEP_TAIL_ANSWERS = 10
#: ... but no longer than this
STEP_MAX_S = 15.0
#: a confirmation runs long enough to hold this many answers beyond the SLO's percentile
#: (a p99 read from a dozen slow answers is luck: benchmarks/capacity_accuracy.py saw short
#: windows read a Poisson p99 up to half too low) ...
CONFIRM_TAIL_ANSWERS = 100
#: ... but no longer than this (a slow server's p99 then rests on fewer)
CONFIRM_MAX_S = 60.0
#: seconds of a step's load that count in no figure (connections open, queues settle)
STEP_WARMUP_S = 1.0
#: seconds of the closed-loop probe whose req/s is the first upper guess
PROBE_S = 2.0
#: a rate below this is no capacity worth searching for
MIN_RATE = 1.0
#: open-loop connections per second of the latency budget per req/s (rate × budget × this)
CONNECTIONS_PER_BUDGET = 2.0
#: bounds of the automatic connection count
MIN_CONNECTIONS, MAX_CONNECTIONS = 16, 4096
#: share of a step's requests that waited for a connection which makes -c the limit
CONCURRENCY_BOUND_SHARE = 0.01
#: steps' seeds are the run's seed plus a multiple of this (a prime), wrapped at MAX_SEED
STEP_SEED_STRIDE = 1_000_003


def judge(result: RunResult, rate: float, slo: Slo, concurrency_given: bool) -> Step:
    """Whether one step's result meets ``slo``, and if not, why."""
    requests = result.requests
    failed_pct = 100.0 * result.failures / requests if requests else 100.0
    lat = result.latency_ms
    slo_ms = lat.figure(PERCENTILES[slo.percentile])
    loader = result.loader or LoaderFigures()  # a run that never loaded: no loader figures
    growing = bool(loader.backlog_growing)
    why = []
    if result.status != "ok":
        why.append(result.reason or result.status)
    if slo_ms is None or slo_ms > slo.latency_ms:
        shown = "no answer" if slo_ms is None else f"{slo_ms:g} ms"
        why.append(f"{slo.percentile} {shown} > {slo.latency_ms:g} ms")
    if failed_pct > slo.error_pct:
        why.append(f"errors {failed_pct:.2f} % > {slo.error_pct:g} %")
    if growing:
        why.append("queue growing through the window")
    loader_bound = loader.saturated
    if loader_bound:
        why.append("loader-bound")
    scheduled = loader.scheduled or 0
    waited = (loader.backlogged or 0) + (loader.unsent or 0)
    server_ms = lat.uncorrected.figure(PERCENTILES[slo.percentile]) if lat.uncorrected is not None else None
    # the connections, not the server, held requests back: they waited for a free one
    # while the server's own answer time (from the actual send) kept within the budget
    concurrency_bound = (
        concurrency_given
        and bool(why)
        and scheduled > 0
        and waited > CONCURRENCY_BOUND_SHARE * scheduled
        and server_ms is not None
        and server_ms <= slo.latency_ms
    )
    if concurrency_bound:
        why.append(f"all {result.concurrency} connections busy")
    return Step(
        rate=rate,
        rps=float(loader.served_rate or result.rps),
        p50_ms=lat.p50,
        p99_ms=lat.p99,
        slo_ms=slo_ms,
        error_pct=failed_pct,
        met=not why,
        duration_s=result.elapsed_s,
        why="; ".join(why),
        loader_bound=loader_bound,
        concurrency_bound=concurrency_bound,
        concurrency=result.concurrency,
    )


def connections_for(rate: float, slo: Slo, given: int | None, fd_cap: int = MAX_CONNECTIONS) -> int:
    """The open loop needs about rate × latency connections in flight: size them from the
    latency budget (twice over), unless -c was given."""
    if given is not None:
        return given
    need = math.ceil(rate * slo.latency_ms / 1000.0 * CONNECTIONS_PER_BUDGET)
    return max(MIN_CONNECTIONS, min(need, MAX_CONNECTIONS, fd_cap))


def search(
    measure: Callable[[float], Step],
    first_rate: float,
    max_steps: int = DEFAULT_MAX_STEPS,
    tolerance: float = BRACKET_TOLERANCE,
    ceiling: float | None = None,
) -> Outcome:
    """Bracket (double while met, halve while not) then bisect until the highest met and
    the lowest failed rate are within ``tolerance``, or ``max_steps`` are spent (a hard
    cap: a loader-bound step measured again counts as a step). ``ceiling`` (the
    closed-loop probe's req/s with some room) caps the doubling: an open loop past what
    a closed loop reached cannot be met."""
    steps: list[Step] = []
    lo: float | None = None  # highest met rate
    hi: float | None = None  # lowest failed rate
    rate = max(MIN_RATE, first_rate)
    while len(steps) < max_steps:
        step = _measure_again_if_loader_bound(measure, rate, steps, max_steps)
        if step.loader_bound:
            # the search ends on the loader: bound twice, or once with no step left to tell
            # a transient from it. Either way the last rate measured the loader, not the
            # server, so the met rates below it are no server capacity (as in confirm and
            # ladder): "loader-bound at X", never "capacity at least" the server's
            return Outcome(tuple(steps), "loader", searched=True)
        if step.met:
            lo = rate if lo is None else max(lo, rate)
        else:
            hi = rate if hi is None else min(hi, rate)
            if step.concurrency_bound:
                return Outcome(tuple(steps), "concurrency", searched=True)
        if lo is not None and hi is not None and hi - lo <= tolerance * hi:
            return Outcome(tuple(steps), "server", searched=True)
        if hi is None:
            assert lo is not None
            rate = lo * 2 if ceiling is None or lo >= ceiling else min(lo * 2, ceiling)
        elif lo is None:
            rate = hi / 2
            if rate < MIN_RATE:
                return Outcome(tuple(steps), "server", searched=True)
        else:
            rate = (lo + hi) / 2
    return Outcome(tuple(steps), "max-steps", searched=True)


def confirm_reserve(max_steps: int) -> int:
    """Steps of a search's budget (--max-steps) kept for its confirmation runs: a quarter,
    at least one. One is too few: a search that spends all but one on a bracket it
    cannot close (gevent here: 9 steps between 6,951 and 7,385 req/s) has no step left
    when its first confirmation misses, and ends with no figure."""
    return max(1, max_steps // 4)


def confirm_seconds(confirm_s: float, rate: float, slo: Slo, tail: int = CONFIRM_TAIL_ANSWERS) -> float:
    """How long the confirmation run at ``rate`` measures: ``confirm_s`` (--confirm), or
    longer until it holds ``tail`` answers beyond the SLO's percentile, at most
    CONFIRM_MAX_S (never below ``confirm_s``)."""
    return _tail_seconds(confirm_s, rate, slo, tail, CONFIRM_MAX_S)


def step_seconds(step_s: float, rate: float, slo: Slo, tail: int = STEP_TAIL_ANSWERS) -> float:
    """How long a search step at ``rate`` measures: ``step_s`` (--step-duration), or longer
    until it holds ``tail`` answers beyond the SLO's percentile, at most STEP_MAX_S."""
    return _tail_seconds(step_s, rate, slo, tail, STEP_MAX_S)


def _tail_seconds(shortest_s: float, rate: float, slo: Slo, tail: int, longest_s: float) -> float:
    tail_s = tail / (slo.tail_share * max(rate, MIN_RATE))
    return max(shortest_s, min(tail_s, longest_s))


def step_down(step: Step, slo: Slo) -> float:
    """The share a missed confirmation steps down by: half its worst overshoot of the SLO,
    the percentile's or the error share's (both grow faster than the rate near the knee,
    so half is still a step towards it: p99 60 ms against 50 is 10 %, errors 0.3 %
    against 0.1 % is 25 %), within CONFIRM_STEP_DOWN..CONFIRM_STEP_DOWN_MAX; the
    smallest for a miss on a growing queue alone."""
    if step.slo_ms is None:  # no answer at all
        return CONFIRM_STEP_DOWN_MAX
    over = step.slo_ms / slo.latency_ms - 1.0
    if step.error_pct > slo.error_pct:
        over = max(over, step.error_pct / slo.error_pct - 1.0 if slo.error_pct > 0 else 1.0)
    return min(CONFIRM_STEP_DOWN_MAX, max(CONFIRM_STEP_DOWN, over / 2))


def confirm(measure_long: Callable[[float], Step], outcome: Outcome, max_steps: int, slo: Slo) -> Outcome:
    """Run the search's capacity again over the longer window (``measure_long``); when it
    misses, step down (``step_down``) and run again, while the steps (search and
    confirmations together) stay within ``max_steps``. A search the loader or the
    connections limited, or that met no rate, has nothing to confirm."""
    candidate = outcome.capacity
    if candidate is None:
        return outcome
    steps = list(outcome.steps)
    rate = candidate.rate
    while len(steps) < max_steps:
        # a loader-bound confirmation is measured once more, as a search step is: another
        # process on the loader's CPU may have lagged it for a moment
        step = _measure_again_if_loader_bound(lambda r: replace(measure_long(r), confirm=True), rate, steps, max_steps)
        if step.met or step.loader_bound or step.concurrency_bound:
            break
        rate = _next_confirmation(rate, step_down(step, slo), outcome.steps)
    limit = outcome.limit
    if steps[-1].confirm and steps[-1].loader_bound:
        limit = "loader"
    elif steps[-1].confirm and steps[-1].concurrency_bound:
        limit = "concurrency"
    return Outcome(tuple(steps), limit, outcome.searched)


def _next_confirmation(rate: float, down: float, searched: tuple[Step, ...]) -> float:
    """The rate to confirm after one that missed: ``down`` below it, but never past the
    highest rate below it that a search step met (at least CONFIRM_STEP_DOWN below): at a
    cliff-like knee (a deterministic server, uniform arrivals) a miss a hair below
    saturation overshoots the budget many times over, yet the next met step is close."""
    stepped = rate * (1.0 - down)
    met_below = [s.rate for s in searched if s.met and not s.confirm and s.rate < rate]
    if not met_below:
        return stepped
    return max(stepped, min(max(met_below), rate * (1.0 - CONFIRM_STEP_DOWN)))


def _measure_again_if_loader_bound(
    measure: Callable[[float], Step], rate: float, steps: list[Step], max_steps: int | None = None
) -> Step:
    """One step, appended to ``steps``; a loader-bound one is measured once more, while
    ``steps`` stays within ``max_steps``: another process on the loader's CPU can lag its
    event loop for a moment (a transient is not the loader's limit), while a loader at
    its limit is bound again. Returns the last step measured."""
    step = measure(rate)
    steps.append(step)
    if step.loader_bound and (max_steps is None or len(steps) < max_steps):
        step = measure(rate)
        steps.append(step)
    return step


def ladder(measure: Callable[[float], Step], rates: tuple[float, ...]) -> Outcome:
    """Every rate of a fixed ladder, in order (the same x-axis for every backend). Stops
    early only when the loader is the limit: past that, steps measure the loader."""
    steps: list[Step] = []
    for rate in rates:
        step = _measure_again_if_loader_bound(measure, rate, steps)
        if step.loader_bound:
            return Outcome(tuple(steps), "loader")
    failed = any(not s.met for s in steps)
    bound = any(s.concurrency_bound for s in steps)
    return Outcome(tuple(steps), "concurrency" if bound else ("server" if failed else "max-steps"))
