"""The bundled workloads' own options: ``--stream-size`` (how large ``stream``'s answer is)
and ``--database`` (where ``db``, ``queries`` and ``fortunes`` read). Their rows of the
option table (option_table.py splices them in); bad values: one line, exit 2."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from wsgicompare.backends import DATABASES, DB_WORKLOADS, DEFAULT_STREAM_SIZE, MAX_STREAM_SIZE
from wsgicompare.parsing import OptionError
from wsgicompare.settings.option_row import Choice, Option

if TYPE_CHECKING:
    from wsgicompare.settings.options import Options

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


def _stream_size(name: str, value: Any) -> int:
    return parse_size(name, value, MAX_STREAM_SIZE)


#: rows of the option table (option_table.OPTIONS splices them in)
WORKLOAD_ROWS: list[Option] = [
    Option(
        ("--stream-size",),
        "stream-size",
        _stream_size,
        "backends",
        {
            "metavar": "SIZE",
            "help": f"stream (and slow-readers): bytes of the answer, e.g. 64KiB, 1MiB (default {DEFAULT_STREAM_SIZE // 2**20}MiB)",
        },
    ),
    Option(
        ("--database",),
        "database",
        Choice(DATABASES),
        "backends",
        {"metavar": "KIND", "help": f"db, queries, fortunes read {' or '.join(DATABASES)} (default {DATABASES[0]})"},
    ),
]


def check(o: Options) -> None:
    """Each goes with the workloads it changes (and not with the user's --app or --url)."""
    if o.stream_size is not None and "stream" not in o.workloads and "slow-readers" not in o.scenarios:
        raise OptionError(
            "--stream-size goes with --workload stream (or --workloads with stream in it) or --scenario slow-readers"
        )
    if o.database is not None and not set(DB_WORKLOADS) & set(o.workloads):
        raise OptionError(f"--database goes with a workload that reads it: {', '.join(DB_WORKLOADS)}")
