"""``--serve``'s own options: declared for argparse and converted here (options.py
splices them in), checked before anything is served. None of them goes into a
``--save-config`` scenario: they belong to the serving process, not to a run."""

from __future__ import annotations

import re
from typing import Any

from wsgicompare.parsing import OptionError, parse_duration, parse_int

#: tabs open at once (each runs an app, which can start servers); --serve-max-tabs
DEFAULT_MAX_TABS = 4
MAX_TABS = 64

#: (flags, option name, argparse kwargs), as option_table.ARGS
SERVE_ARGS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("--serve-host",), "serve-host", {"metavar": "HOST", "help": "--serve's address (default 127.0.0.1)"}),
    (("--serve-port",), "serve-port", {"metavar": "PORT", "help": "--serve's port (default 8000)"}),
    (
        ("--serve-grace",),
        "serve-grace",
        {"metavar": "DUR", "help": "--serve: how long a closed tab's app may take to quit (default 15s)"},
    ),
    (
        ("--serve-max-tabs",),
        "serve-max-tabs",
        {"metavar": "N", "help": f"--serve: most tabs open at once, each an app (default {DEFAULT_MAX_TABS})"},
    ),
]

SERVE_OPTIONS = tuple(name for _, name, _ in SERVE_ARGS)


def convert(name: str, value: Any) -> tuple[str, Any]:
    """One serve option's value → (Options attribute, converted value). Raises OptionError."""
    if name == "serve-host":
        if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9.:\-\[\]]{1,253}", value.strip()):
            raise OptionError(f"--serve-host must be a host name or an IP address, got {value!r}")
        return "serve_host", value.strip().strip("[]")
    if name == "serve-port":
        return "serve_port", parse_int(name, value, 1, 65535)
    if name == "serve-grace":
        return "serve_grace", parse_duration(name, value, high=600)
    if name == "serve-max-tabs":
        return "serve_max_tabs", parse_int(name, value, 1, MAX_TABS)
    raise OptionError(f"unknown option {name!r}")
