"""Converters for option values: each accepts the command line's string or a TOML
value and raises ``OptionError`` with one line for the user."""

from __future__ import annotations

import math
import os
import re
import stat
from typing import Any

from wsgicompare.backends import available_cpus


class OptionError(ValueError):
    """A bad option or config value; the message is one line."""

    #: the same refusal, short enough to stand beside a field of the app's form ("1…100000")
    short: str = ""


# -- converters: each accepts the CLI's string or a TOML value ---------------------------

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT_S = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_INT = re.compile(r"^\s*[+-]?\d{1,12}\s*$")


def parse_duration(name: str, value: Any, *, low: float = 0.0, high: float = 24 * 3600, zero_ok: bool = False) -> float:
    """``10``, ``10s``, ``1.5``, ``500ms``, ``2m``, ``1h`` → seconds."""
    if isinstance(value, bool):
        raise OptionError(f"--{name} must be a duration such as 10s, 500ms or 2m, got {value!r}")
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match:
            raise OptionError(f"--{name} must be a duration such as 10s, 500ms or 2m, got {value!r}")
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    else:
        raise OptionError(f"--{name} must be a duration such as 10s, 500ms or 2m, got {value!r}")
    if not math.isfinite(seconds) or seconds < low or seconds > high or (seconds == 0 and not zero_ok):
        bound = f"{'from' if zero_ok else 'above'} {low:g} s {'to' if zero_ok else 'and at most'} {high:g} s"
        raise OptionError(f"--{name} must be {bound}, got {value!r}")
    return seconds


def parse_int(name: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise OptionError(f"--{name} must be a whole number from {low} to {high}, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and _INT.match(value):
        try:
            value = int(value)
        except ValueError:  # \s in _INT also matches separators int() refuses ("0\x1f")
            pass
    if not isinstance(value, int) or not (low <= value <= high):
        raise OptionError(f"--{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def parse_float(name: str, value: Any, low: float, high: float) -> float:
    try:
        number = float(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or not math.isfinite(number) or not (low < number <= high):
        raise OptionError(f"--{name} must be a number above {low:g} and at most {high:g}, got {value!r}")
    return number


def parse_list(name: str, value: Any) -> list[str]:
    """``a,b`` or a TOML list of strings → non-empty names, duplicates dropped."""
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [v.strip() for v in value]
    else:
        raise OptionError(f"--{name} must be a comma-separated list of names, got {value!r}")
    items = [v for v in items if v]
    if not items:
        raise OptionError(f"--{name} needs at least one name")
    for item in items:
        if not re.fullmatch(r"[A-Za-z0-9_.:/-]{1,100}", item):
            raise OptionError(f"--{name}: {item!r} is not a valid name")
    return list(dict.fromkeys(items))


def parse_cpus(name: str, value: Any) -> tuple[int, ...]:
    """``1``, ``1,3``, ``0-3`` (or a TOML list of ints) → CPUs this process may use."""
    allowed = available_cpus()
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    cpus: list[int] = []
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        cpus = list(value)
    elif isinstance(value, str) and re.fullmatch(
        r"\s*\d{1,4}(\s*-\s*\d{1,4})?(\s*,\s*\d{1,4}(\s*-\s*\d{1,4})?)*\s*", value
    ):
        for part in value.split(","):
            low, _, high = part.partition("-")
            lo = int(low)
            hi = int(high) if high.strip() else lo
            if hi < lo:
                raise OptionError(f"--{name}: range {part.strip()!r} runs backwards")
            cpus.extend(range(lo, hi + 1))
    else:
        raise OptionError(f"--{name} must be CPU numbers such as 1 or 0,2 or 1-3, got {value!r}")
    bad = sorted(set(cpus) - set(allowed))
    if bad or not cpus:
        raise OptionError(
            f"--{name}: CPU {bad[0] if bad else '?'} is not available (this machine offers {_ranges(allowed)})"
        )
    return tuple(sorted(set(cpus)))


def _ranges(cpus: tuple[int, ...]) -> str:
    return ",".join(str(c) for c in cpus) or "none"


def parse_bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise OptionError(f"{name} must be true or false, got {value!r}")


# -- the resolved options -----------------------------------------------------------------


def read_regular_file(where: str, path: str, max_bytes: int) -> bytes:
    """At most ``max_bytes`` + 1 bytes of the regular file at ``path`` (the caller says
    what one byte more means); OptionError "``where``: …" when it cannot be read. A FIFO
    would block the read and /dev/zero would never end it: regular files only."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise OptionError(f"{where}: not a regular file")
        with open(path, "rb") as f:
            return f.read(max_bytes + 1)  # bounded even if the file grew since the stat
    except OSError as exc:
        raise OptionError(f"{where}: cannot read it: {exc.strerror or exc}") from None
