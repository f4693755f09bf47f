"""What the app's form sets (LoadSettings) and the rules of its numeric fields, from the
limits the loader and the backends validate with, so the form and the command line agree.
The session (the app's face) re-exports these names; no Textual here."""

from __future__ import annotations

from dataclasses import dataclass

from wsgicompare.backends import MAX_THREADS, MAX_WORKERS
from wsgicompare.engine.capacity import DEFAULT_SLO, Slo, parse_slo
from wsgicompare.engine.runspec import (
    DEFAULT_CONCURRENCY,
    DEFAULT_DURATION_S,
    DEFAULT_THREADS,
    DEFAULT_WARMUP_S,
    DEFAULT_WORKLOAD,
)
from wsgicompare.loader import MAX_CONCURRENCY, MAX_DURATION_S, MAX_RATE, MAX_REPS, MAX_REQUESTS, MAX_SHORT_S

#: the form's numeric fields: (kind, lowest, highest, may be empty)
FIELD_RULES: dict[str, tuple[str, float, float, bool]] = {
    "concurrency": ("int", 1, MAX_CONCURRENCY, False),
    "duration_s": ("float", 0.1, MAX_DURATION_S, True),
    "requests": ("int", 1, MAX_REQUESTS, True),
    "reps": ("int", 1, MAX_REPS, True),
    "rate": ("float", 0.1, MAX_RATE, True),
    "warmup_s": ("float", 0, MAX_SHORT_S, False),
    "workers": ("int", 1, MAX_WORKERS, False),
    "threads": ("int", 1, MAX_THREADS, False),
    "event_at_s": ("float", 0.1, MAX_DURATION_S, True),
}


class SettingsError(ValueError):
    """A setting holds a value that cannot run; the message is one line for the user."""


@dataclass(frozen=True)
class LoadSettings:
    """What the app's form sets: the same knobs as the CLI's load options."""

    #: connections held open at once (closed loop: the number of clients)
    concurrency: int = DEFAULT_CONCURRENCY
    #: measured seconds of load after the warm-up; None when requests/reps end the run
    duration_s: float | None = DEFAULT_DURATION_S
    #: stop after this many measured requests in total; None = not a stop rule
    requests: int | None = None
    #: stop after every client made this many requests (siege -r); None = not a stop rule
    reps: int | None = None
    #: open loop target in requests per second; None = closed loop
    rate: float | None = None
    #: reuse connections (HTTP/1.1 keep-alive); False sends Connection: close
    keepalive: bool = True
    #: seconds at the start that count in no figure
    warmup_s: float = DEFAULT_WARMUP_S
    #: workload name served by the bundled test app
    workload: str = DEFAULT_WORKLOAD
    #: server worker processes, same for every backend
    workers: int = 1
    #: threads per worker for threaded backends
    threads: int = DEFAULT_THREADS
    #: the SLO a capacity search holds the server to
    slo: Slo = parse_slo(DEFAULT_SLO)
    #: `l` and run-all search each backend's capacity at ``slo`` instead of one load
    find_capacity: bool = False
    #: timed events (scenarios.SCENARIOS): one run per (backend, scenario); () = a steady load
    scenarios: tuple[str, ...] = ()
    #: measured seconds into the load when a scenario's event fires; None = a third of the duration
    event_at_s: float | None = None

    def stop_rule(self) -> str:
        """How the run ends, for the header line: "10 s", "5000 req" or "100 reps"."""
        parts = []
        if self.duration_s is not None:
            parts.append(f"{self.duration_s:g} s")
        if self.requests is not None:
            parts.append(f"{self.requests} req")
        if self.reps is not None:
            parts.append(f"{self.reps} reps")
        return " / ".join(parts) or "no stop rule"
