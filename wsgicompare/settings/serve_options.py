"""``--serve``'s own options: their rows of the option table (option_table.py splices
them in), checked before anything is served. None of them goes into a
``--save-config`` scenario: they belong to the serving process, not to a run."""

from __future__ import annotations

import re
from typing import Any

from wsgicompare.parsing import OptionError
from wsgicompare.settings.option_row import Convert, Number, Option

#: tabs open at once (each runs an app, which can start servers); --serve-max-tabs
DEFAULT_MAX_TABS = 4
MAX_TABS = 64


def _host(name: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]{1,253}", value.strip()):
        raise OptionError(f"--{name} must be a host name or an IP address, got {value!r}")
    return value.strip().strip("[]")


def _serve(flag: str, convert: Convert, metavar: str, help: str) -> Option:
    # the serving process's own: not in a --config file, not written by --save-config
    return Option((flag,), flag[2:], convert, "app", {"metavar": metavar, "help": help}, config=False, save=None)


#: rows of the option table (option_table.OPTIONS splices them in)
SERVE_ROWS: list[Option] = [
    _serve("--serve-host", _host, "HOST", "--serve's address (default 127.0.0.1)"),
    _serve("--serve-port", Number("int", 1, 65535), "PORT", "--serve's port (default 8000)"),
    _serve(
        "--serve-grace",
        Number("duration", 0, 600),
        "DUR",
        "--serve: how long a closed tab's app may take to quit (default 15s)",
    ),
    _serve(
        "--serve-max-tabs",
        Number("int", 1, MAX_TABS),
        "N",
        f"--serve: most tabs open at once, each an app (default {DEFAULT_MAX_TABS})",
    ),
]
