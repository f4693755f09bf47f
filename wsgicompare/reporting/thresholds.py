"""``--fail-if EXPR``: thresholds that turn a headless run into a CI check.

An expression is ``FIGURE OP VALUE[UNIT]`` with OP one of ``<`` ``<=`` ``>`` ``>=``;
it names what *breaks* the check: ``p99>50ms``, a p99 above 50 ms; ``rps_2xx_change<-10%``,
2xx req/s more than 10 % below the same run in the ``--baseline`` report. Each one is
checked against every measured run; a run that broke any makes the CLI exit 3. The
checks are pure functions of the results, so the md and json reports, rewritten after
every run, always carry the verdicts of the runs finished so far."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from wsgicompare.engine.capacity import bound_text, capacity_bound, capacity_figure
from wsgicompare.parsing import OptionError
from wsgicompare.reporting.baseline import CHANGE_FIGURES, Baseline, change

if TYPE_CHECKING:
    from wsgicompare.results import RunResult

#: latency figures (keys of RunResult.latency_ms), compared in ms
LATENCIES = ("p50", "p90", "p99", "p999", "max")
#: relative changes against --baseline, in percent
CHANGES = tuple(f"{name}_change" for name in CHANGE_FIGURES)
#: every figure an expression may name
FIGURES = (*LATENCIES, "rps", "rps_2xx", "errors", "availability", "capacity", *CHANGES)
#: latency units → ms
_LATENCY_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001, "µs": 0.001}
_OPS = ("<=", ">=", "<", ">")
_EXPR = re.compile(
    r"^\s*(?P<figure>[A-Za-z0-9_]+)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<number>[+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*(?P<unit>ms|s|us|µs|%)?\s*$"
)
#: an expression longer than this is a mistake (the longest sensible one is ~25 characters)
MAX_EXPR_CHARS = 100
#: --fail-if given more often than this is a mistake (a check per figure and op is ~60)
MAX_THRESHOLDS = 100
#: no figure reaches this: a bound on nonsense such as 1e308
_MAX_LIMIT = 1e12


@dataclass(frozen=True)
class Threshold:
    """One parsed ``--fail-if`` expression."""

    #: as given, without surrounding blanks (what the reports and a scenario file show)
    expr: str
    #: one of FIGURES
    figure: str
    #: one of <, <=, >, >=
    op: str
    #: in the figure's unit: ms for latencies, req/s, % (errors share, availability, a change), or a count
    limit: float
    #: errors: True for a share of the requests (``errors>0.1%``), False for a count (``errors>10``)
    percent: bool = False

    def breaks(self, value: float) -> bool:
        """Whether ``value`` (in the figure's unit) breaks this threshold."""
        if self.op == "<":
            return value < self.limit
        if self.op == "<=":
            return value <= self.limit
        if self.op == ">":
            return value > self.limit
        return value >= self.limit

    @property
    def is_change(self) -> bool:
        return self.figure in CHANGES

    @property
    def unit(self) -> str:
        if self.figure in LATENCIES:
            return " ms"
        if self.figure in ("rps", "rps_2xx", "capacity"):
            return " req/s"
        if self.figure == "availability" or self.percent or self.is_change:
            return " %"
        return ""

    def show(self, value: float) -> str:
        """A value of this figure with its unit: ``61.2 ms``, ``0.15 %``, ``12``."""
        if self.figure == "errors" and not self.percent:
            return f"{int(value):,}"
        if self.is_change:
            return f"{value:+,.1f} %"
        digits = 3 if self.percent or self.figure == "availability" else 2 if self.figure in LATENCIES else 1
        return f"{value:,.{digits}f}{self.unit}"


def parse_threshold(text: Any) -> Threshold:
    """``p99>50ms`` → Threshold; OptionError (one line) for anything else."""
    if not isinstance(text, str) or not text.strip():
        raise OptionError(f"--fail-if needs an expression such as p99>50ms, got {text!r}")
    if len(text) > MAX_EXPR_CHARS:
        raise OptionError(
            f"--fail-if: an expression of {len(text)} characters is not a threshold (max {MAX_EXPR_CHARS})"
        )
    expr = text.strip()
    match = _EXPR.match(expr)
    if not match:
        head = re.match(r"\s*([A-Za-z0-9_]*)", expr)
        name = head.group(1).lower() if head else ""
        if name and name not in FIGURES:
            raise OptionError(f"--fail-if {expr!r}: unknown figure {name!r} (known: {', '.join(FIGURES)})")
        raise OptionError(
            f"--fail-if {expr!r}: not FIGURE OP VALUE with OP one of {' '.join(_OPS)} (e.g. p99>50ms, errors>0.1%)"
        )
    figure, op, unit = match["figure"].lower(), match["op"], match["unit"]
    if figure not in FIGURES:
        raise OptionError(f"--fail-if {expr!r}: unknown figure {figure!r} (known: {', '.join(FIGURES)})")
    number = float(match["number"])
    if not math.isfinite(number) or abs(number) > _MAX_LIMIT:
        raise OptionError(f"--fail-if {expr!r}: {match['number']} is out of range")
    limit, percent = _limit(expr, figure, number, unit)
    return Threshold(expr=expr, figure=figure, op=op, limit=limit, percent=percent)


def _limit(expr: str, figure: str, number: float, unit: str | None) -> tuple[float, bool]:
    """The value in the figure's unit, and whether it is a share; refuses a unit or a
    value that does not fit the figure."""
    if figure in CHANGES:
        if unit != "%":
            raise OptionError(f"--fail-if {expr!r}: a change is in percent (e.g. {figure}<-10%)")
        return number, False
    if number < 0:
        raise OptionError(f"--fail-if {expr!r}: {figure} is never negative")
    if figure in LATENCIES:
        if unit not in _LATENCY_UNITS:
            # a bare number is ambiguous (ms? s?): a CI check must not guess
            raise OptionError(f"--fail-if {expr!r}: give {figure} a unit: ms, s or us (e.g. {figure}>50ms)")
        return number * _LATENCY_UNITS[unit], False
    if figure == "errors":
        if unit == "%":
            if number > 100:
                raise OptionError(f"--fail-if {expr!r}: a share of errors is at most 100%")
            return number, True
        if unit is not None or not number.is_integer():
            raise OptionError(f"--fail-if {expr!r}: errors takes a share (errors>0.1%) or a whole count (errors>10)")
        return number, False
    if figure == "availability":
        if unit not in (None, "%") or number > 100:
            raise OptionError(
                f"--fail-if {expr!r}: availability is a percentage from 0 to 100 (e.g. availability<99.9%)"
            )
        return number, False
    if unit is not None:
        raise OptionError(f"--fail-if {expr!r}: {figure} takes a plain number of req/s (e.g. {figure}<1000)")
    return number, False


def parse_thresholds(value: Any) -> list[Threshold]:
    """The CLI's repeated ``--fail-if`` or a TOML string / list of strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise OptionError(f"--fail-if takes an expression or a list of them, got {value!r}")
    if len(items) > MAX_THRESHOLDS:
        raise OptionError(f"--fail-if given {len(items)} times (at most {MAX_THRESHOLDS})")
    parsed = [parse_threshold(item) for item in items]
    return list({t.expr: t for t in parsed}.values())  # the same expression twice is one check


# -- checking -------------------------------------------------------------------------------


def run_figure(r: RunResult, t: Threshold, baseline: Baseline | None = None) -> tuple[float | None, str]:
    """(value of the threshold's figure for run ``r``, why there is none)."""
    if t.is_change:
        if baseline is None:
            return None, "no --baseline to compare with"
        return change(r, baseline, t.figure.removesuffix("_change"))
    if t.figure in LATENCIES:
        value = r.latency_ms.figure(t.figure)
        return value, "" if value is not None else f"no {t.figure}: no request was answered"
    if t.figure == "rps":
        return r.rps, ""
    if t.figure == "rps_2xx":
        return r.rps_2xx, ""
    if t.figure == "errors":
        if not t.percent:
            return float(r.failures), ""
        if not r.requests:
            return None, "no share of errors: no request was measured"
        return 100.0 * r.failures / r.requests, ""
    if t.figure == "availability":
        pct = r.availability_pct
        return pct, "" if pct is not None else "no availability: no request was measured"
    # capacity
    cap = r.capacity
    verdict = cap.verdict if cap is not None else ""
    value = capacity_figure(cap)
    if value is None and capacity_bound(cap):
        # a loader- or concurrency-bound search measured the loader: no server capacity
        return None, f"no server capacity: {verdict or bound_text(cap)}"
    if value is None:
        return None, f"no capacity: {verdict or 'the run has no capacity figure'}"
    return value, ""


def check(t: Threshold, r: RunResult, baseline: Baseline | None = None) -> dict[str, Any]:
    """One threshold on one run: the ``thresholds[]`` entry of the JSON report."""
    entry: dict[str, Any] = {"expr": t.expr, "backend": r.backend, "workload": r.workload, "value": None}
    if r.status != "ok":
        # a run that crashed or never started is no pass, whatever figures it kept
        return {**entry, "passed": False, "why": f"the run {r.status}: {r.reason or 'no reason given'}"}
    value, why_none = run_figure(r, t, baseline)
    if value is None:
        return {**entry, "passed": False, "why": why_none}
    shown = f"{t.figure} {t.show(value)}"
    limit = t.show(t.limit)
    if t.breaks(value):
        return {**entry, "value": round(value, 4), "passed": False, "why": f"{shown} {t.op} {limit}"}
    return {**entry, "value": round(value, 4), "passed": True, "why": f"{shown}, not {t.op} {limit}"}


def evaluate(
    thresholds: list[Threshold] | tuple[Threshold, ...], results: list[RunResult], baseline: Baseline | None = None
) -> list[dict[str, Any]]:
    """Every threshold on every run that was there to measure, in run order. A run of a
    backend that is not installed here (``unavailable``, only with --run-all) is left out:
    it measured nothing, and a missing nginx is not a regression."""
    return [check(t, r, baseline) for r in results if r.status != "unavailable" for t in thresholds]


def broken(checks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in checks if not c["passed"]]


def report_broken(meta: dict[str, Any], results: list[RunResult], stream: TextIO, prog: str) -> bool:
    """One line on ``stream`` per broken check (a CI log's reason for exit 3); whether any broke."""
    bad = broken(meta_checks(meta, results) or [])
    for c in bad:
        stream.write(f"{prog}: threshold broken: {c['expr']} on {c['backend']} {c['workload']}: {c['why']}\n")
    return bool(bad)


def meta_checks(meta: dict[str, Any], results: list[RunResult]) -> list[dict[str, Any]] | None:
    """The checks a report's meta asks for (``meta["fail_if"]``, against ``meta["baseline"]``),
    None when it asks for none."""
    thresholds = meta.get("fail_if")
    if not thresholds:
        return None
    return evaluate(thresholds, results, meta.get("baseline"))
