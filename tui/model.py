"""What the screen shows, as plain immutable values: the parsing of the load settings
typed in the form, one ``LiveFrame`` per refresh (the latest Tick plus the short history the
sparklines draw) and one ``BackendRow`` per catalog entry. Nothing here imports
Textual, so the parsing and history rules are testable on their own."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, replace
from typing import Any

from wsgicompare.results import CapacityResult, Tick
from wsgicompare.session import FORM_OPTIONS as FORM_OPTIONS  # the form's fields: LoadSettings field → option row
from wsgicompare.session import (
    LoadSettings,
    Outcome,
    Session,
    SettingsError,
    Step,
    capacity_figure,
    parse_form_field,
)

#: points kept for a live series: a minute at 4 ticks per second, wider than any panel
HISTORY_POINTS = 240
#: points kept in a scenario run, whose ticks are 0.1 s (scenarios.SCENARIO_TICK_S) and whose
#: whole run is drawn: ten minutes of them
SCENARIO_HISTORY_POINTS = 6000

#: backend states shown in the table, in lifecycle order
STATES = ("stopped", "starting", "ready", "under load", "stopping", "failed")


def parse_field(name: str, text: str) -> int | float | None:
    """One form field through its option's converter, the command line's
    (``session.parse_form_field``): FieldError, with the CLI's refusal and a short one."""
    return parse_form_field(name, text)


def settings_from_fields(values: dict[str, Any]) -> LoadSettings:
    """Cross-field rules once every field parsed on its own (raises SettingsError)."""
    settings = LoadSettings(**values)
    # a capacity search's steps have their own length: no stop rule needed
    if (
        not settings.find_capacity
        and settings.duration_s is None
        and settings.requests is None
        and settings.reps is None
    ):
        raise SettingsError("give a stop rule: duration, requests or reps")
    return settings


def settings_fields(settings: LoadSettings) -> dict[str, str]:
    """The form's text for each numeric field (inverse of parse_field)."""
    out = {}
    for name in FORM_OPTIONS:
        value = getattr(settings, name)
        out[name] = "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
    return out


@dataclass(frozen=True)
class LiveFrame:
    """Everything the four live panels draw at one refresh: the latest Tick and the
    series behind the sparklines. Immutable, so every panel sees the same instant."""

    tick: Tick
    #: req/s per interval, oldest first
    rps: tuple[float, ...]
    #: server CPU % per interval (100 = one core)
    server_cpu_pct: tuple[float, ...]
    #: server RSS in MB per interval
    server_rss_mb: tuple[float, ...]
    #: p99 latency per interval in ms (0 where an interval had no responses)
    p99_ms: tuple[float, ...]
    #: errors (no response) plus non-2xx responses per interval
    failures: tuple[int, ...] = ()
    #: the run has a scenario: the series hold this run only, from its first measured tick
    scenario: bool = False
    #: index in ``rps`` and ``p99_ms`` of the interval the scenario's event fired in (None: not yet)
    event_index: int | None = None
    #: what the event was ("worker-kill at 3.3 s: signal SIGKILL pid 1234"), "" before it
    event: str = ""


class TickHistory:
    """Ticks of the current run as the worker thread delivers them.

    ``add`` runs in the conductor's thread and only appends (atomic under the GIL);
    ``frame`` runs on the UI's clock and returns a new LiveFrame only when a tick
    arrived since the last call, so an idle clock repaints nothing."""

    def __init__(self, points: int = HISTORY_POINTS) -> None:
        self._ticks: deque[Tick] = deque(maxlen=points)
        self._added = 0  # ticks ever added; compared with _framed to skip idle refreshes
        self._framed = 0
        self._points = points
        #: the load going on has scenarios (set by clear): frames keep to one run, event marked
        self.scenario = False

    def add(self, tick: Tick) -> None:
        self._ticks.append(tick)
        self._added += 1

    def clear(self, scenario: bool = False) -> None:
        """Forget the ticks; ``scenario``: the next load's runs have scenarios (their ticks
        are finer, and each run is drawn whole with its event marked)."""
        self.scenario = scenario
        points = max(self._points, SCENARIO_HISTORY_POINTS) if scenario else self._points
        if points != self._ticks.maxlen:
            self._ticks = deque(maxlen=points)
        self._ticks.clear()
        self._added += 1

    @property
    def latest(self) -> Tick | None:
        return self._ticks[-1] if self._ticks else None

    def frame(self, force: bool = False) -> LiveFrame | None:
        """A new frame if a tick arrived since the last call (or force), else None."""
        added = self._added
        if added == self._framed and not force:
            return None
        self._framed = added
        ticks = tuple(self._ticks)
        if not ticks:
            return None
        if self.scenario:
            # one run at a time: a run-all's or an "all"'s next run starts its own timeline
            start = max((i for i, t in enumerate(ticks) if t.phase == "starting"), default=0)
            ticks = ticks[start:]
        measured = [t for t in ticks if t.phase in ("load", "stopping", "done")] or list(ticks)
        event_index = None
        event = ""
        if self.scenario:
            event_index = next((i for i, t in enumerate(measured) if t.event), None)
            if event_index is not None:
                event = measured[event_index].event or ""
        return LiveFrame(
            tick=ticks[-1],
            rps=tuple(t.rps for t in measured),
            server_cpu_pct=tuple(t.server_cpu_pct for t in ticks),
            server_rss_mb=tuple(t.server_rss_mb for t in ticks),
            p99_ms=tuple(t.p99_ms or 0.0 for t in measured),
            failures=_interval_failures(measured),
            scenario=self.scenario,
            event_index=event_index,
            event=event,
        )


def _interval_failures(ticks: list[Tick]) -> tuple[int, ...]:
    """Per-interval failures from the cumulative counts (Tick.failures is cumulative)."""
    out = []
    previous = None
    for tick in ticks:
        total = tick.failures
        out.append(max(0, total - previous) if previous is not None else tick.interval_errors)
        previous = total
    return tuple(out)


@dataclass(frozen=True)
class BackendRow:
    """One line of the backend table; a change is a new row (``dataclasses.replace``)."""

    id: str
    title: str
    family: str
    available: bool
    #: things that are missing (python modules, executables) when not available
    missing: tuple[str, ...] = ()
    #: how to install what is missing
    hint: str = ""
    #: one of STATES
    state: str = "stopped"
    #: req/s of the last finished run on this backend, None before any
    last_rps: float | None = None
    #: one line: why the last start or run failed
    reason: str = ""

    @classmethod
    def from_catalog(cls, row: dict[str, Any]) -> BackendRow:
        return cls(
            id=str(row["id"]),
            title=str(row.get("title", row["id"])),
            family=str(row.get("family", "")),
            available=bool(row.get("available", True)),
            missing=tuple(row.get("missing") or ()),
            hint=str(row.get("hint", "") or ""),
        )


def header_text(settings: LoadSettings, session: Session, short: bool = False) -> str:
    """The one line that says what a load will be: workload, clients, stop rule, CPUs."""
    o = session.options
    cpus = lambda c: ",".join(map(str, c)) if c else "any"  # noqa: E731
    path = session.app_path
    parts = [
        settings.workload if path is None else f"{o.app} {path}",
        f"c={settings.concurrency}",
        settings.stop_rule(),
        "keep-alive" if settings.keepalive else "no keep-alive",
        f"server CPU {cpus(o.server_cpus)}",
        f"loader CPU {cpus(o.loader_cpus)}",
        f"{settings.workers}×{settings.threads} workers×threads",
        f"open loop {settings.rate:g}/s" if settings.rate else "closed loop",
    ]
    if settings.find_capacity:
        # the steps choose their rates and lengths: the form's rate and stop rule do not apply
        parts[2] = f"capacity at {settings.slo.text()}"
        parts[-1] = "open-loop steps"
    if settings.scenarios and not settings.find_capacity:
        at = "⅓ in" if settings.event_at_s is None else f"at {settings.event_at_s:g} s"
        parts.append(f"scenario {','.join(settings.scenarios)} {at}")
    if short:
        parts = parts[:2] + parts[3:6] + parts[8:]
    return " · ".join(parts)


def human_count(value: float | None) -> str:
    """1234 -> "1.2k", 2_500_000 -> "2.5M"; short enough for a table cell."""
    if value is None:
        return "—"
    value = float(value)
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:.0f}"


def fmt_ms(value: float | None) -> str:
    """Latency with a precision that suits its size."""
    if value is None:
        return "—"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass(frozen=True)
class CapacityLadder:
    """The live step ladder of one backend's capacity search: the steps so far and, once
    its run finished, the verdict. A new step or a verdict is a new ladder."""

    backend: str
    #: the SLO as one line ("p99 ≤ 100 ms, errors ≤ 0.1 %")
    slo: str
    #: the SLO's percentile ("p99"): the latency row of the ladder shows it
    percentile: str = "p99"
    #: steps in the order they ran
    steps: tuple[Step, ...] = ()
    #: most steps of the search (0: a fixed ladder, or unknown)
    max_steps: int = 0
    #: the run's capacity verdict once it finished, else ""
    verdict: str = ""
    #: the capacity once finished (None: none found, loader- or concurrency-bound, or not finished)
    capacity_rps: float | None = None
    #: the search's limit once finished (CapacityResult.limit), else ""
    limit: str = ""

    def with_step(self, step: Step) -> CapacityLadder:
        return replace(self, steps=(*self.steps, step))

    def finished(self, capacity: CapacityResult) -> CapacityLadder:
        return replace(self, verdict=capacity.verdict, capacity_rps=capacity_figure(capacity), limit=capacity.limit)

    @property
    def marked(self) -> Step | None:
        """The step the ladder marks: once finished, the one the capacity figure came from
        (the confirmation run that met the SLO, else the best met search step: the same
        reading as the report's, wsgicompare.engine.capacity.Outcome.capacity), none when there
        is no figure; while it runs, the best so far (Outcome.best)."""
        if self.verdict:
            return Outcome(self.steps, self.limit).capacity if self.capacity_rps is not None else None
        return Outcome(self.steps, "server").best
