"""What the app's form sets (LoadSettings), and each form field read through its option's
row of the option table (the command line's converter and range), so the form and the
command line agree. The session (the app's face) re-exports these names; no Textual here."""

from __future__ import annotations

from dataclasses import dataclass

from wsgicompare.engine.capacity import DEFAULT_SLO, Slo, parse_slo
from wsgicompare.engine.runspec import (
    DEFAULT_CONCURRENCY,
    DEFAULT_DURATION_S,
    DEFAULT_THREADS,
    DEFAULT_WARMUP_S,
    DEFAULT_WORKLOAD,
)
from wsgicompare.settings.option_table import FORM_OPTIONS
from wsgicompare.settings.options import OptionError


class SettingsError(ValueError):
    """A setting holds a value that cannot run; the message is one line for the user."""


class FieldError(SettingsError):
    """A form field's text its option refuses: the message is the command line's refusal,
    word for word; ``short`` the same, short enough to stand beside the field."""

    def __init__(self, message: str, short: str) -> None:
        super().__init__(message)
        self.short = short


def parse_form_field(name: str, text: str) -> int | float | None:
    """One field of the app's form (a LoadSettings field name) through its option's row
    of the option table: the command line's converter and range. Empty: None where the
    field is optional. Raises FieldError."""
    row = FORM_OPTIONS[name]
    assert row.form is not None
    text = text.strip()
    if not text:
        if row.form.optional:
            return None
        raise FieldError(f"--{row.name} needs a value", "required")
    try:
        value: int | float = row.convert(row.name, text)
    except OptionError as exc:
        raise FieldError(str(exc), exc.short or "invalid") from None
    return value


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
