"""One row of the option table (``option_table.OPTIONS``) and the kinds of value a row
converts: the flags, the ``Options`` field, the converter with its range, the --help
group and text, how ``--save-config`` writes it, and the app form's label. argparse,
``--config``, ``--save-config``, the grouped ``--help`` and the form all read the row."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wsgicompare.parsing import (
    OptionError,
    parse_bool,
    parse_cpus,
    parse_duration,
    parse_float,
    parse_int,
    parse_list,
)

#: a row's converter: (option name, the command line's text or a TOML value) → the field's value
Convert = Callable[[str, Any], Any]


@dataclass(frozen=True)
class Number:
    """A whole number, a number or a duration, from ``low`` to ``high``: the one range
    the command line, a scenario file and the app's form refuse outside of."""

    #: "int", "float" (above ``low``) or "duration" (seconds; 10, 10s, 500ms, 2m)
    kind: str
    low: float
    high: float
    #: a duration of 0 is allowed
    zero_ok: bool = False

    def __call__(self, name: str, value: Any) -> Any:
        try:
            if self.kind == "int":
                return parse_int(name, value, int(self.low), int(self.high))
            if self.kind == "float":
                return parse_float(name, value, self.low, self.high)
            return parse_duration(name, value, low=self.low, high=self.high, zero_ok=self.zero_ok)
        except OptionError as exc:
            exc.short = self._short(value)
            raise

    def _short(self, value: Any) -> str:
        if not _numeric(value):
            return "whole number" if self.kind == "int" else "a number"
        if self.kind == "int" and not float(value).is_integer():
            return "whole number"
        return self.hint

    @property
    def hint(self) -> str:
        """The range, short enough to stand beside a form field: 1…100000, >0…86400."""
        exclusive = self.kind == "float" or (self.kind == "duration" and self.low == 0 and not self.zero_ok)
        return f"{'>' if exclusive else ''}{self.low:g}…{self.high:g}"


def _numeric(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Choice:
    """One of ``values``, as given."""

    values: tuple[str, ...]

    def __call__(self, name: str, value: Any) -> str:
        if value not in self.values:
            raise OptionError(f"--{name} must be {' or '.join(self.values)}, got {value!r}")
        return str(value)


def flag(name: str, value: Any) -> bool:
    return parse_bool(name, value)


def text(name: str, value: Any) -> str:
    """Non-empty text (a URL, a path, an address), blanks around it dropped."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        raise OptionError(f"--{name} needs a non-empty text value, got {value!r}")
    return value.strip()


def names(name: str, value: Any) -> list[str]:
    return parse_list(name, value)


def one_name(name: str, value: Any) -> list[str]:
    """--backend/--workload: one name (the field holds a list, as --backends/--workloads)."""
    if not isinstance(value, str):
        raise OptionError(f"--{name} takes one name, got {value!r}")
    items = parse_list(name, value)
    if len(items) != 1:
        raise OptionError(f"--{name} takes one name; use --{name}s a,b for several")
    return items


def cpus(name: str, value: Any) -> tuple[int, ...]:
    return parse_cpus(name, value)


def csv(value: Any) -> str:
    """A TOML list (or the CLI's text) as comma-separated text."""
    return ",".join(str(v) for v in value) if isinstance(value, (list, tuple)) else str(value)


def as_is(value: Any) -> Any:
    """How most fields go into a scenario file: as they are (tuples as lists)."""
    return list(value) if isinstance(value, (list, tuple)) else value


@dataclass(frozen=True)
class FormField:
    """Where an option sits in the app's form: its LoadSettings field, label, placeholder."""

    #: the LoadSettings field it fills (seconds where the option takes a duration)
    field: str
    label: str
    placeholder: str
    #: an empty field means "not given" (else the form refuses it: "required")
    optional: bool = False


@dataclass(frozen=True)
class Option:
    """One option, declared once."""

    #: the command line's flags, e.g. ("-c", "--concurrency")
    flags: tuple[str, ...]
    #: its name without dashes: the TOML key of a scenario file, and the name in messages
    name: str
    #: the value's converter (OptionError, one line, on a bad value)
    convert: Convert
    #: its --help group (helptext.GROUPS)
    group: str
    #: the rest of argparse's keywords: metavar, help, action, nargs
    arg: dict[str, Any] = field(default_factory=dict)
    #: the Options field it fills ("": the name with underscores)
    field: str = ""
    #: a --config file may give it (the one-shot actions and --serve's options may not)
    config: bool = True
    #: the field's value → what --save-config writes (None: not written, e.g. --backend,
    #: whose value --backends writes); a field at its default is never written
    save: Callable[[Any], Any] | None = as_is
    #: its place in the app's form (None: not in the form)
    form: FormField | None = None

    @property
    def attr(self) -> str:
        return self.field or self.name.replace("-", "_")


def by_name(rows: Sequence[Option]) -> dict[str, Option]:
    return {row.name: row for row in rows}
