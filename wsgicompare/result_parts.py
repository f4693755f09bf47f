"""The typed parts of a RunResult that a saved report holds as objects whose keys vary
with the writer: a timeline point, a capacity search (on its steps) and a scenario. Each
writes exactly the object the schema has always had (``to_dict``) and reads one back
(``from_dict``). ``results.py`` re-exports them (the app imports them from there).

A part read from a saved report writes back the keys it was read with, in their order,
unknown ones included (a newer writer, a hand-made sample, an older report without a key
that is written today): opening a report and saving it again changes nothing."""

from __future__ import annotations

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
    line on the tick it happened at."""

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
