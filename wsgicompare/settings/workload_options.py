"""The bundled workloads' own options: ``--stream-size`` (how large ``stream``'s answer is)
and ``--database`` (where ``db``, ``queries`` and ``fortunes`` read). Declared for argparse
and converted here (options.py splices them in); bad values: one line, exit 2."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from wsgicompare.backends import DATABASES, DB_WORKLOADS, DEFAULT_STREAM_SIZE, MAX_STREAM_SIZE
from wsgicompare.parsing import OptionError

if TYPE_CHECKING:
    from wsgicompare.settings.options import Options

#: (flags, option name, argparse kwargs), as option_table.ARGS
WORKLOAD_ARGS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (
        ("--stream-size",),
        "stream-size",
        {
            "metavar": "SIZE",
            "help": f"stream (and slow-readers): bytes of the answer, e.g. 64KiB, 1MiB (default {DEFAULT_STREAM_SIZE // 2**20}MiB)",
        },
    ),
    (
        ("--database",),
        "database",
        {"metavar": "KIND", "help": f"db, queries, fortunes read {' or '.join(DATABASES)} (default {DATABASES[0]})"},
    ),
]

WORKLOAD_OPTIONS = tuple(name for _, name, _ in WORKLOAD_ARGS)

_SIZE = re.compile(r"^\s*(\d{1,12})\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?\s*$", re.I)
#: binary multiples: a KiB is what a reader of "64K" next to a 64 KiB chunk expects
_UNIT = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}


def parse_size(name: str, value: Any, high: int) -> int:
    """``65536``, ``64K``, ``64KiB``, ``16MiB``, ``1G`` → bytes, from 1 to ``high``."""
    match = _SIZE.match(str(value)) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    if match is None:
        raise OptionError(f"--{name} must be a size such as 65536, 64KiB or 16MiB, got {value!r}")
    size = int(match.group(1)) * _UNIT[(match.group(2) or "")[:1].lower()]
    if not 1 <= size <= high:
        raise OptionError(f"--{name} must be from 1 byte to {high // 2**20} MiB, got {value!r}")
    return size


def convert(name: str, value: Any) -> tuple[str, Any]:
    """One workload option's value → (Options attribute, converted value). Raises OptionError."""
    if name == "stream-size":
        return "stream_size", parse_size(name, value, MAX_STREAM_SIZE)
    if name == "database":
        if value not in DATABASES:
            raise OptionError(f"--database must be {' or '.join(DATABASES)}, got {value!r}")
        return "database", value
    raise OptionError(f"unknown option {name!r}")


def check(o: Options) -> None:
    """Each goes with the workloads it changes (and not with the user's --app or --url)."""
    if o.stream_size is not None and "stream" not in o.workloads and "slow-readers" not in o.scenarios:
        raise OptionError(
            "--stream-size goes with --workload stream (or --workloads with stream in it) or --scenario slow-readers"
        )
    if o.database is not None and not set(DB_WORKLOADS) & set(o.workloads):
        raise OptionError(f"--database goes with a workload that reads it: {', '.join(DB_WORKLOADS)}")
