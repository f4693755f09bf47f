"""A run's capacity search as typed parts: ``Step`` (one open-loop step), ``Outcome`` (what a
search or a ladder found) and ``CapacityResult`` (the ``capacity`` object of a run entry,
read by every report, the ranking, thresholds, the baseline and the app through the same
properties, so none shows a capacity another does not). The search itself is
``wsgicompare.engine.capacity``; ``results.py`` re-exports these (the app imports them there)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from wsgicompare.result_parts import Saved, an_object, extra_field, layout_field, list_of_objects
from wsgicompare.slo import Slo

#: the limits of a search that are not the server's: such a search has no capacity figure
BOUND_LIMITS = ("loader", "concurrency")
#: a search that ended early (the server crashed, a step failed, it was cancelled): no figure
FAILED_LIMIT = "failed"

#: the keys of a step in ``capacity.steps`` (``confirm`` only on a confirmation run)
STEP_KEYS = ("rate", "rps", "p50_ms", "p99_ms", "slo_ms", "error_pct", "met", "duration_s", "why", "concurrency")
#: the keys of ``capacity.confirmed``
CONFIRMED_KEYS = ("rate", "rps", "p50_ms", "p99_ms", "error_pct", "duration_s", "met")
#: the keys of a ``capacity`` object a search or a ladder writes (then ``confirmed`` and
#: ``unconfirmed_rps`` when it has them)
CAPACITY_KEYS = ("rps", "offered_rps", "slo", "steps", "limit", "bound_at", "probe_rps", "verdict")
#: how a figure of a step is rounded when written
_STEP_ROUNDING = {"rate": 1, "rps": 1, "error_pct": 4, "duration_s": 3}


@dataclass(frozen=True)
class Step(Saved):
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

    layout: tuple[str, ...] | None = layout_field()
    extra: dict[str, Any] = extra_field()

    def written(self) -> tuple[str, ...]:
        return STEP_KEYS + (("confirm",) if self.confirm else ())

    def value(self, key: str) -> Any:
        value = getattr(self, key)
        digits = _STEP_ROUNDING.get(key)
        if digits is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
            return round(value, digits)
        return value

    def as_written(self) -> Step:
        """This step with its figures rounded as a report writes them: what a run's
        ``capacity`` holds, so a run read back from its report reads the same."""
        return replace(self, **{k: self.value(k) for k in _STEP_ROUNDING})

    def confirmed_dict(self) -> dict[str, Any]:
        """The ``capacity.confirmed`` object of a report."""
        return self.write(CONFIRMED_KEYS if self.layout is None else self.layout)

    @classmethod
    def read_fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        # what a report does not hold: the limits from the step's reason (as it words them)
        why = str(data.get("why") or "")
        return {
            **_STEP_DEFAULTS,
            "loader_bound": "loader-bound" in why,
            "concurrency_bound": "connections busy" in why,
            **super().read_fields(data),
        }


#: a saved step's figures that it lacks (a hand-made one)
_STEP_DEFAULTS: dict[str, Any] = {
    "rate": 0.0,
    "rps": 0.0,
    "p50_ms": None,
    "p99_ms": None,
    "slo_ms": None,
    "error_pct": 0.0,
    "met": False,
    "duration_s": 0.0,
}


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

    def result(self, slo: Slo, probe_rps: float | None = None) -> CapacityResult:
        """The run's ``capacity``: the figure, the steps, the limit, the verdict."""
        found, bound, unconfirmed = self.capacity, self.bound, self.unconfirmed
        return CapacityResult(
            rps=None if found is None else round(found.rps, 1),
            offered_rps=None if found is None else round(found.rate, 1),
            slo=slo.to_dict(),
            steps=tuple(s.as_written() for s in self.steps),
            limit=self.limit,
            # the offered rate at which the loader or the connections were the limit
            bound_at=None if bound is None else round(bound.rate, 1),
            probe_rps=None if probe_rps is None else round(probe_rps, 1),
            verdict=self.verdict(slo, probe_rps),
            # the run that confirmed the figure (or the last that missed); None: none ran
            confirmed=None if self.confirmed is None else self.confirmed.as_written(),
            # a search's best met step that no confirmation run checked (Outcome.unconfirmed)
            unconfirmed_rps=None if unconfirmed is None else round(unconfirmed.rps, 1),
        )

    def to_dict(self, slo: Slo, probe_rps: float | None = None) -> dict[str, Any]:
        return self.result(slo, probe_rps).to_dict()


@dataclass(frozen=True)
class CapacityResult(Saved):
    """``capacity`` (--find-capacity, --rates): the server's capacity at the SLO and the
    steps that found it. Read the figure through ``figure``: ``rps`` is no capacity under
    a loader or connection limit, nor after a search that ended early."""

    rps: float | None = None  #: the served rate of the capacity step (see ``figure``)
    offered_rps: float | None = None  #: its offered rate
    slo: dict[str, float] = field(default_factory=dict)  #: Slo.to_dict: {"p99_ms": 50.0, "error_pct": 0.1}
    steps: tuple[Step, ...] = ()  #: the search's steps, then its confirmation runs
    limit: str = ""  #: Outcome.limit
    bound_at: float | None = None  #: the offered rate at which the loader or the connections were the limit
    probe_rps: float | None = None  #: the closed-loop probe's 2xx req/s (a search's first guess)
    verdict: str = ""
    confirmed: Step | None = None  #: the confirmation run of the figure (or the last that missed)
    unconfirmed_rps: float | None = None  #: Outcome.unconfirmed's served rate
    layout: tuple[str, ...] | None = layout_field()
    extra: dict[str, Any] = extra_field()

    @classmethod
    def probe_failed(cls, slo: Slo, why: str) -> CapacityResult:
        """The capacity of a search whose closed-loop probe failed: no step, no figure."""
        return cls(limit="server", slo=slo.to_dict(), verdict=f"the closed-loop probe failed: {why}").laid_out(
            ("rps", "limit", "steps", "slo", "verdict")
        )

    def laid_out(self, keys: tuple[str, ...]) -> CapacityResult:
        return replace(self, layout=keys)

    def written(self) -> tuple[str, ...]:
        return (
            CAPACITY_KEYS
            + (("confirmed",) if self.confirmed is not None else ())
            + (("unconfirmed_rps",) if self.unconfirmed_rps is not None else ())
        )

    def value(self, key: str) -> Any:
        if key == "steps":
            return [s.to_dict() for s in self.steps]
        if key == "confirmed":
            return None if self.confirmed is None else self.confirmed.confirmed_dict()
        return getattr(self, key)

    @classmethod
    def read_fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        kwargs = super().read_fields(data)
        cls.read_nested(kwargs, "steps", list_of_objects, lambda steps: tuple(Step.from_dict(s) for s in steps))
        cls.read_nested(kwargs, "confirmed", an_object, Step.from_dict)
        cls.read_nested(kwargs, "slo", an_object)
        return kwargs

    # -- the one reading of a capacity for every output

    @property
    def figure(self) -> float | None:
        return capacity_figure(self)

    @property
    def budget(self) -> tuple[str, Any] | None:
        """(the SLO's percentile, e.g. "p99", and its latency budget in ms) from ``slo``;
        None when it has none."""
        return next(((k.removesuffix("_ms"), v) for k, v in self.slo.items() if k.endswith("_ms")), None)

    def knee(self) -> list[tuple[float, float]]:
        """(offered req/s, latency ms) of the steps in ascending rate, one per rate (a rate
        measured twice, e.g. a loader-bound step measured again, keeps its last
        measurement). The latency is the SLO's percentile (p99 for older reports)."""
        by_slo = any(s.slo_ms is not None for s in self.steps)
        by_rate: dict[float, float] = {}
        for s in self.steps:
            rate, latency = s.rate, s.slo_ms if by_slo else s.p99_ms
            if rate and latency is not None and rate > 0:
                by_rate[float(rate)] = max(0.01, float(latency))
        return sorted(by_rate.items())


# -- reading a run's ``capacity`` object: every report, the ranking, thresholds, the baseline
# and the app read the figure through these, so none of them shows a capacity another does not


def capacity_figure(cap: CapacityResult | None) -> float | None:
    """The server's capacity (req/s) in a run's ``capacity``; None when no rate met the SLO,
    nothing was searched, or the loader or the connections were the limit. A report
    written before that rule may hold the met step's rate in ``rps`` with
    ``limit: "loader"``: it is no server capacity either."""
    if cap is None or cap.limit in BOUND_LIMITS or cap.limit == FAILED_LIMIT:
        return None
    return None if cap.rps is None else float(cap.rps)


def capacity_bound(cap: CapacityResult | None) -> tuple[str, float | None] | None:
    """``("loader" | "concurrency", offered req/s at which it was the limit)`` for a search
    the server did not limit, else None. The rate is ``bound_at``; a report written before
    it had one gives it from its steps (the last loader-bound one, the first whose
    connections were all busy), or None."""
    if cap is None or cap.limit not in BOUND_LIMITS:
        return None
    rate: Any = cap.bound_at
    if rate is None:
        if cap.limit == "loader":
            hits = [s for s in cap.steps if "loader-bound" in str(s.why)][-1:]
        else:
            hits = [s for s in cap.steps if "connections busy" in str(s.why)][:1]
        rate = hits[0].rate if hits else None
    return str(cap.limit), None if not isinstance(rate, (int, float)) else float(rate)


def bound_text(cap: CapacityResult | None, rate: Callable[[float], str] = lambda x: f"{x:,.0f} req/s") -> str:
    """``loader-bound at 1,600 req/s`` (or ``concurrency-bound at …``) for a search the
    server did not limit, else ""; ``rate`` formats the rate (the app's is shorter)."""
    bound = capacity_bound(cap)
    if bound is None:
        return ""
    limit, at = bound
    return f"{limit}-bound" + ("" if at is None else f" at {rate(at)}")


def capacity_unconfirmed(cap: CapacityResult | None) -> float | None:
    """The served rate of a search's best met step that no confirmation run checked
    (``unconfirmed_rps``): the capacity of a --confirm 0 search, or what a search that
    ended early met before its confirmation (it has no capacity). None otherwise, and
    for a report written before the field."""
    value = cap.unconfirmed_rps if cap is not None else None
    return float(value) if isinstance(value, (int, float)) else None


def capacity_text(
    cap: CapacityResult | None,
    rate: Callable[[float], str] = lambda x: f"{x:,.0f} req/s",
    figure: Callable[[float], str] | None = None,
    none: str = "none met",
) -> str:
    """What every output says of a run's capacity (the md and html capacity cells, the
    html bars and knee legend, the app's cards, bars and knee legend), so none says what
    another does not: the figure (``figure`` formats it, else ``rate``; "≥ " before it when
    the search ran out of steps before its bracket closed: a floor), followed by
    "unconfirmed" when no confirmation run checked it (--confirm 0); "loader-bound at X"
    (or concurrency-bound) when the server was not the limit; "X unconfirmed, search
    ended early" for a search that met X, then failed or was cancelled before a
    confirmation (no capacity); "none confirmed" when every confirmation missed; else
    ``none`` (no rate met, or nothing was searched)."""
    found = capacity_figure(cap)
    unconfirmed = capacity_unconfirmed(cap)
    if found is not None:
        # a search that ran out of steps before its bracket closed found a floor (its verdict: "at least")
        floor = "≥ " if cap is not None and cap.limit == "max-steps" else ""
        return floor + (figure or rate)(found) + (" unconfirmed" if unconfirmed is not None else "")
    bound = bound_text(cap, rate)
    if bound or cap is None:
        return bound or none
    if cap.limit == FAILED_LIMIT:
        return ("" if unconfirmed is None else f"{rate(unconfirmed)} unconfirmed, ") + "search ended early"
    if cap.confirmed is not None and not cap.confirmed.met:
        return "none confirmed"
    return none
