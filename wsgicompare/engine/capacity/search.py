"""The capacity search as pure functions of a ``measure(rate) -> Step`` callable: a step's
judgement against the SLO, the search (bracket, bisect), the confirmation runs, the
fixed ladder, and the one reading of a run's ``capacity`` object for every output."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

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
#: the limits of a search that are not the server's: such a search has no capacity figure
BOUND_LIMITS = ("loader", "concurrency")
#: a search that ended early (the server crashed, a step failed, it was cancelled): no figure
FAILED_LIMIT = "failed"
#: steps' seeds are the run's seed plus a multiple of this (a prime), wrapped at MAX_SEED
STEP_SEED_STRIDE = 1_000_003


@dataclass(frozen=True)
class Step:
    """One open-loop step of a search or a ladder."""

    rate: float  #: offered req/s
    rps: float  #: served req/s (responses)
    p50_ms: float | None
    p99_ms: float | None
    slo_ms: float | None  #: the SLO's percentile at this step
    error_pct: float  #: failed requests (errors + non-2xx) in % of requests
    met: bool
    duration_s: float  #: measured seconds
    why: str = ""  #: why not met (empty when met)
    loader_bound: bool = False
    concurrency_bound: bool = False
    concurrency: int = 0  #: connections the step used
    confirm: bool = False  #: a confirmation run (--confirm) of a search's candidate, not a search step

    def to_dict(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"confirm": True} if self.confirm else {}
        return {
            "rate": round(self.rate, 1),
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "slo_ms": self.slo_ms,
            "error_pct": round(self.error_pct, 4),
            "met": self.met,
            "duration_s": round(self.duration_s, 3),
            "why": self.why,
            "concurrency": self.concurrency,
            **extra,
        }

    def confirmed_dict(self) -> dict[str, Any]:
        """The ``capacity.confirmed`` object of a report."""
        return {
            "rate": round(self.rate, 1),
            "rps": round(self.rps, 1),
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "error_pct": round(self.error_pct, 4),
            "duration_s": round(self.duration_s, 3),
            "met": self.met,
        }


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


@dataclass(frozen=True)
class Outcome:
    """What a search or a ladder found."""

    steps: tuple[Step, ...]  #: the search's steps, then its confirmation runs (``Step.confirm``)
    limit: str  #: "server" | "loader" | "concurrency" | "max-steps" | "failed"
    #: a search's (whose figure a confirmation run checks), not a fixed ladder's
    searched: bool = False

    @property
    def search_steps(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if not s.confirm)

    @property
    def confirmations(self) -> tuple[Step, ...]:
        return tuple(s for s in self.steps if s.confirm)

    @property
    def confirmed(self) -> Step | None:
        """The confirmation run that met the SLO (the last one tried: each miss steps
        down), or the last one that missed; None when there was none."""
        runs = self.confirmations
        return runs[-1] if runs else None

    @property
    def best(self) -> Step | None:
        """The run a report shows the figures of: the confirmation that met the SLO, else
        the met search step with the highest served rate (whatever the limit)."""
        confirmed = self.confirmed
        if confirmed is not None and confirmed.met:
            return confirmed
        met = [s for s in self.search_steps if s.met]
        return max(met, key=lambda s: s.rps) if met else None

    @property
    def capacity(self) -> Step | None:
        """The step whose served rate is the server's capacity: the confirmation run that
        met the SLO; without confirmations, the best met search step. None when the
        loader or the connections were the limit (then the search measured them), or
        when every confirmation missed (no rate held over the longer window)."""
        if self.limit in BOUND_LIMITS or self.limit == FAILED_LIMIT:
            return None
        if self.confirmations:
            confirmed = self.confirmed
            return confirmed if confirmed is not None and confirmed.met else None
        return self.best

    @property
    def unconfirmed(self) -> Step | None:
        """A search's best met step that no confirmation run checked: with --confirm 0 it
        is the capacity, marked unconfirmed; a search that ended before its confirmation
        (cancelled, a step failed) has no capacity, yet met this rate. None for a ladder,
        a search with confirmation runs, or one the loader or the connections limited."""
        if not self.searched or self.confirmations or self.limit in BOUND_LIMITS:
            return None
        return self.best

    @property
    def bound(self) -> Step | None:
        """The step at which the loader (the last one: it ended the search) or the
        connections (the first) were the limit; None when the server was."""
        if self.limit == "loader":
            return next((s for s in reversed(self.steps) if s.loader_bound), None)
        if self.limit == "concurrency":
            return next((s for s in self.steps if s.concurrency_bound), None)
        return None

    def verdict(self, slo: Slo, probe_rps: float | None = None) -> str:
        best = self.best
        at = f" at {slo.text()}"
        if not self.steps:
            return "no step measured (cancelled or failed before the first)"
        unconfirmed = self.unconfirmed
        if self.limit == FAILED_LIMIT:
            last = self.steps[-1]
            met = "" if unconfirmed is None else f" ({unconfirmed.rps:,.0f} req/s met in a step, unconfirmed)"
            return (
                f"search ended early at {last.rate:,.0f} req/s ({last.why or 'a step failed'}): no server capacity{met}"
            )
        bound = self.bound
        if self.limit == "loader" and bound is not None:
            return f"loader-bound at {bound.rate:,.0f} req/s: the loader, not the server, was the limit — no server capacity"
        if self.limit == "concurrency" and bound is not None:
            below = f" ({best.rps:,.0f} req/s met{at} below it)" if best else ""
            return (
                f"concurrency-bound at {bound.rate:,.0f} req/s: all {bound.concurrency} connections busy "
                f"while the server answered within the budget{below} — no server capacity; raise -c, "
                f"or leave it out to size it automatically"
            )
        confirmations = self.confirmations
        if confirmations and not confirmations[-1].met:
            last = confirmations[-1]
            return (
                f"no capacity confirmed{at}: the search's candidate missed over {last.duration_s:.0f} s "
                f"{len(confirmations)}× (last {last.rate:,.0f} req/s offered: {last.why})"
            )
        if best is None:
            lowest = min(self.steps, key=lambda s: s.rate)
            return f"no rate met {slo.text()} (lowest tried {lowest.rate:,.0f} req/s: {lowest.why})"
        if best.confirm:
            first = confirmations[0]
            down = "" if best is first else f", after {first.rate:,.0f} req/s missed it"
            # a search that ran out of steps before its bracket closed found a floor
            least = " at least" if self.limit == "max-steps" else ""
            return (
                f"capacity{least} {best.rps:,.0f} req/s{at}, confirmed over {best.duration_s:.0f} s "
                f"({best.rate:,.0f} req/s offered{down})"
            )
        failed = [s.rate for s in self.steps if not s.met and s.rate > best.rate]
        # a search's step no confirmation run checked (--confirm 0)
        at += ", unconfirmed" if unconfirmed is not None else ""
        if self.limit == "max-steps":
            above = f"; {min(failed):,.0f} req/s did not" if failed else ""
            return f"capacity at least {best.rps:,.0f} req/s{at} (search ended after {len(self.steps)} steps{above})"
        above = f", {min(failed):,.0f} req/s did not" if failed else ""
        return f"capacity {best.rps:,.0f} req/s{at} ({best.rate:,.0f} req/s offered met the SLO{above})"

    def to_dict(self, slo: Slo, probe_rps: float | None = None) -> dict[str, Any]:
        found, bound, unconfirmed = self.capacity, self.bound, self.unconfirmed
        return {
            "rps": None if found is None else round(found.rps, 1),
            "offered_rps": None if found is None else round(found.rate, 1),
            "slo": slo.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "limit": self.limit,
            # the offered rate at which the loader or the connections were the limit
            "bound_at": None if bound is None else round(bound.rate, 1),
            "probe_rps": None if probe_rps is None else round(probe_rps, 1),
            "verdict": self.verdict(slo, probe_rps),
            # the run that confirmed the figure (or the last that missed); absent: none ran
            **({"confirmed": self.confirmed.confirmed_dict()} if self.confirmed is not None else {}),
            # a search's best met step that no confirmation run checked (Outcome.unconfirmed)
            **({"unconfirmed_rps": round(unconfirmed.rps, 1)} if unconfirmed is not None else {}),
        }


# -- reading a run's ``capacity`` object: every report, the ranking, thresholds, the baseline
# and the app read the figure through these, so none of them shows a capacity another does not


def capacity_figure(cap: Mapping[str, Any] | None) -> float | None:
    """The server's capacity (req/s) in a run's ``capacity`` object; None when no rate met
    the SLO, nothing was searched, or the loader or the connections were the limit. A
    report written before that rule may hold the met step's rate in ``rps`` with
    ``limit: "loader"``: it is no server capacity either."""
    if not cap or cap.get("limit") in BOUND_LIMITS or cap.get("limit") == FAILED_LIMIT:
        return None
    value = cap.get("rps")
    return None if value is None else float(value)


def capacity_bound(cap: Mapping[str, Any] | None) -> tuple[str, float | None] | None:
    """``("loader" | "concurrency", offered req/s at which it was the limit)`` for a search
    the server did not limit, else None. The rate is ``bound_at``; a report written before
    it had one gives it from its steps (the last loader-bound one, the first whose
    connections were all busy), or None."""
    limit = cap.get("limit") if cap else None
    if not cap or limit not in BOUND_LIMITS:
        return None
    rate = cap.get("bound_at")
    if rate is None:
        steps = [s for s in cap.get("steps") or () if isinstance(s, Mapping)]
        if limit == "loader":
            hits = [s for s in steps if "loader-bound" in str(s.get("why", ""))][-1:]
        else:
            hits = [s for s in steps if "connections busy" in str(s.get("why", ""))][:1]
        rate = hits[0].get("rate") if hits else None
    return str(limit), None if not isinstance(rate, (int, float)) else float(rate)


def bound_text(cap: Mapping[str, Any] | None, rate: Callable[[float], str] = lambda x: f"{x:,.0f} req/s") -> str:
    """``loader-bound at 1,600 req/s`` (or ``concurrency-bound at …``) for a search the
    server did not limit, else ""; ``rate`` formats the rate (the app's is shorter)."""
    bound = capacity_bound(cap)
    if bound is None:
        return ""
    limit, at = bound
    return f"{limit}-bound" + ("" if at is None else f" at {rate(at)}")


def capacity_unconfirmed(cap: Mapping[str, Any] | None) -> float | None:
    """The served rate of a search's best met step that no confirmation run checked
    (``unconfirmed_rps``): the capacity of a --confirm 0 search, or what a search that
    ended early met before its confirmation (it has no capacity). None otherwise, and
    for a report written before the field."""
    value = cap.get("unconfirmed_rps") if cap else None
    return float(value) if isinstance(value, (int, float)) else None


def capacity_text(
    cap: Mapping[str, Any] | None,
    rate: Callable[[float], str] = lambda x: f"{x:,.0f} req/s",
    figure: Callable[[float], str] | None = None,
    none: str = "none met",
) -> str:
    """What every output says of a run's capacity (the md and html capacity cells, the
    html bars and knee legend, the app's cards, bars and knee legend), so none says what
    another does not: the figure (``figure`` formats it, else ``rate``), followed by
    "unconfirmed" when no confirmation run checked it (--confirm 0); "loader-bound at X"
    (or concurrency-bound) when the server was not the limit; "X unconfirmed, search
    ended early" for a search that met X, then failed or was cancelled before a
    confirmation (no capacity); "none confirmed" when every confirmation missed; else
    ``none`` (no rate met, or nothing was searched)."""
    found = capacity_figure(cap)
    unconfirmed = capacity_unconfirmed(cap)
    if found is not None:
        return (figure or rate)(found) + (" unconfirmed" if unconfirmed is not None else "")
    bound = bound_text(cap, rate)
    if bound or not cap:
        return bound or none
    if cap.get("limit") == FAILED_LIMIT:
        return ("" if unconfirmed is None else f"{rate(unconfirmed)} unconfirmed, ") + "search ended early"
    confirmed = cap.get("confirmed")
    if isinstance(confirmed, Mapping) and not confirmed.get("met"):
        return "none confirmed"
    return none


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
