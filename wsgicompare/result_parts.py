"""The typed parts of a RunResult that a saved report holds as objects whose keys vary
with the writer: a timeline point, a capacity search (on its steps) and a scenario. Each
writes exactly the object the schema has always had (``to_dict``) and reads one back
(``from_dict``). ``results.py`` re-exports them (the app imports them from there).

A part read from a saved report writes back the keys it was read with, in their order,
unknown ones included (a newer writer, a hand-made sample, an older report without a key
that is written today): opening a report and saving it again changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, Self


def _object(data: Any, name: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise TypeError(f"{name} must be an object")
    return data


class Saved:
    """A part written as one JSON object. ``written`` gives the keys a part made here
    writes, ``value`` the value written under one; a part read from a report keeps its
    keys' order (``layout``) and the keys it has no field for (``extra``)."""

    layout: tuple[str, ...] | None
    extra: dict[str, Any]

    def written(self) -> tuple[str, ...]:
        raise NotImplementedError

    def value(self, key: str) -> Any:
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        return self.write(self.written() if self.layout is None else self.layout)

    def write(self, keys: tuple[str, ...]) -> dict[str, Any]:
        return {k: self.extra[k] if k in self.extra else self.value(k) for k in keys}

    @classmethod
    def read_fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments from a saved object; a subclass converts its nested parts."""
        names = {f.name for f in fields(cls)} - {"layout", "extra"}  # type: ignore[arg-type]
        kwargs = {k: v for k, v in data.items() if k in names}
        kwargs["layout"] = tuple(data)
        kwargs["extra"] = {k: v for k, v in data.items() if k not in names}
        return kwargs

    @classmethod
    def from_dict(cls, data: Any, name: str = "") -> Self:
        return cls(**cls.read_fields(_object(data, name or cls.__name__)))

    @staticmethod
    def read_nested(
        kwargs: dict[str, Any], key: str, readable: Callable[[Any], bool], read: Callable[[Any], Any] | None = None
    ) -> None:
        """A nested list or object of ``read_fields``' ``kwargs``: typed by ``read`` when it is
        ``readable``, else written back as it was (kept in ``extra``)."""
        if key not in kwargs:
            return
        if not readable(kwargs[key]):
            kwargs["extra"][key] = kwargs.pop(key)
        elif read is not None:
            kwargs[key] = read(kwargs[key])


def list_of_objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def an_object(value: Any) -> bool:
    return isinstance(value, dict)


def layout_field() -> Any:
    """``Saved.layout``: None for a part made here."""
    return field(default=None, compare=False, repr=False)


def extra_field() -> Any:
    """``Saved.extra``: the keys of a saved part it has no field for."""
    return field(default_factory=dict, compare=False, repr=False)


# -- the timeline ---------------------------------------------------------------------------------

#: the keys of a timeline point the conductor writes (``event`` only on a scenario's event tick)
TIMELINE_KEYS = ("t", "rps", "p50_ms", "p99_ms", "errors", "server_cpu_pct", "server_rss_mb")


@dataclass(frozen=True)
class TimelinePoint(Saved):
    """One full measured tick of a run (``timeline[]``): its seconds since the load began
    (warm-up included), its rates and latency, the server's CPU and RSS; a scenario's event
    line on the tick it happened at — kept when that tick is a sliver (the one before it
    late), then without its rates, latency and CPU share (None: noise)."""

    t: float | None = None
    rps: float | None = None  #: responses per second (any status)
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: int | None = None  #: failed requests in the tick
    server_cpu_pct: float | None = None
    server_rss_mb: float | None = None
    event: str | None = None  #: a scenario's event at this tick's end (Tick.event)
    layout: tuple[str, ...] | None = layout_field()
    extra: dict[str, Any] = extra_field()

    def written(self) -> tuple[str, ...]:
        return TIMELINE_KEYS + (("event",) if self.event else ())


# -- a scenario -----------------------------------------------------------------------------------

#: the keys of a scenario phase (engine/scenarios.py's phase figures)
PHASE_KEYS = ("name", "start_s", "end_s", "rps", "rps_2xx", "p50_ms", "p99_ms", "max_ms", "errors", "failed")
#: the keys every ``scenario`` object has, in the order its judge writes them; the rest
#: (event_t, event, the figures since the event, each scenario's own) follow when set
SCENARIO_KEYS = (
    "name",
    "status",
    "reason",
    "event_at_s",
    "phases",
    "failed_requests",
    "recovered",
    "recovery_s",
    "verdict",
)


@dataclass(frozen=True)
class Phase(Saved):
    """One phase of a scenario run (before, during, after …): its span on the load's clock
    (warm-up excluded), its rates, latency and failures. The names are the scenario's:
    any number of phases, any names."""

    name: str = ""
    start_s: float = 0.0
    end_s: float = 0.0
    rps: float | None = None  #: responses per second (any status)
    rps_2xx: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    errors: dict[str, int] = field(default_factory=dict)  #: by error kind
    failed: int = 0  #: errors + non-2xx answers
    layout: tuple[str, ...] | None = layout_field()
    extra: dict[str, Any] = extra_field()

    def written(self) -> tuple[str, ...]:
        return PHASE_KEYS

    @property
    def span_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True)
class ScenarioResult(Saved):
    """``scenario`` (--scenario): what the event did to the run and the judgement of it.
    The figures every scenario has are fields; what one scenario alone writes (slow
    clients held, an overload's mode …) is a field too when a reader needs it, and any
    other key a scenario writes is kept as written (``extra``, ``get``)."""

    name: str = ""  #: the scenario (worker-kill, reload, slow-clients, overload …)
    status: str = ""  #: "ok" | "failed" | "unsupported" ("": a saved object without one)
    reason: str = ""  #: why not ok, or why not recovered
    event_at_s: float | None = None  #: seconds into the measured window the event fired
    phases: tuple[Phase, ...] = ()
    failed_requests: int | None = None  #: failed from the event on
    recovered: bool | None = None
    recovery_s: float | None = None
    verdict: str = ""
    event_t: float | None = None  #: the event on the timeline's clock (warm-up included)
    event: dict[str, Any] = field(default_factory=dict)  #: what the event did (signal, pid, rates …)
    p99_ms_since_event: float | None = None
    max_ms_since_event: float | None = None
    loader_bound: bool | None = None  #: the loader was the limit in the phases judged
    server_exited: str | None = None  #: why the server was found dead after the event
    kept_share: float | None = None  #: slow clients, overload: 2xx rate during / before
    slow_clients_held: int | None = None  #: slow clients: connections that stayed open
    overloaded: bool | None = None  #: overload: the server fell behind the offered rate
    mode: str | None = None  #: overload: how it answered (queues, sheds, fails connections)
    fell_over: bool | None = None  #: overload: the server exited
    layout: tuple[str, ...] | None = layout_field()
    extra: dict[str, Any] = extra_field()

    def written(self) -> tuple[str, ...]:
        return SCENARIO_KEYS + tuple(k for k in _SCENARIO_SET_KEYS if getattr(self, k) not in (None, {}))

    def value(self, key: str) -> Any:
        if key == "phases":
            return [p.to_dict() for p in self.phases]
        return getattr(self, key)

    @classmethod
    def read_fields(cls, data: dict[str, Any]) -> dict[str, Any]:
        kwargs = super().read_fields(data)
        cls.read_nested(kwargs, "phases", list_of_objects, lambda phases: tuple(Phase.from_dict(p) for p in phases))
        cls.read_nested(kwargs, "event", an_object)
        return kwargs

    def phase(self, name: str) -> Phase | None:
        """The phase called ``name`` (None: the run has none: no event, unsupported)."""
        return next((p for p in self.phases if p.name == name), None)

    def figure(self, key: str) -> Any:
        """A figure only one scenario writes that no field names (kept in ``extra``), by
        its key; None when this run has none."""
        return self.extra.get(key)


#: the keys of ScenarioResult written after SCENARIO_KEYS when set (a part made here)
_SCENARIO_SET_KEYS = (
    "event_t",
    "event",
    "p99_ms_since_event",
    "max_ms_since_event",
    "loader_bound",
    "server_exited",
    "kept_share",
    "slow_clients_held",
    "overloaded",
    "mode",
    "fell_over",
)
