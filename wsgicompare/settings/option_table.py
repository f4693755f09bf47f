"""The option table: every option declared once (``OPTIONS``, one ``option_row.Option``
each): its flags, its Options field, its converter and range, its --help group and text,
how --save-config writes it and where the app's form shows it. argparse, ``--config``,
``--save-config`` (config_file.py), the grouped ``--help`` (helptext.py) and the form's
fields (session.py) are all read from it."""

from __future__ import annotations

import argparse
import re
from typing import Any, NoReturn

from wsgicompare import __version__
from wsgicompare.backends import MAX_THREADS, MAX_WORKERS, WORKLOADS
from wsgicompare.engine.capacity import DEFAULT_SLO, MIN_CONFIRM_S, CapacityError, Slo, parse_rates, parse_slo
from wsgicompare.engine.request import parse_body, parse_body_file, parse_headers, parse_method
from wsgicompare.loader import (
    ARRIVALS,
    MAX_CONCURRENCY,
    MAX_DURATION_S,
    MAX_PROCS,
    MAX_RATE,
    MAX_REPS,
    MAX_REQUESTS,
    MAX_SEED,
    MAX_SHORT_S,
    MAX_SLOW_CLIENTS,
)
from wsgicompare.parsing import OptionError
from wsgicompare.reporting.export import FORMATS
from wsgicompare.reporting.thresholds import Threshold, parse_thresholds
from wsgicompare.settings.helptext import EPILOG, add_grouped, formatter
from wsgicompare.settings.option_row import (
    Choice,
    FormField,
    Number,
    Option,
    by_name,
    cpus,
    csv,
    flag,
    names,
    one_name,
    text,
)
from wsgicompare.settings.recommend_options import RECOMMEND_ROWS
from wsgicompare.settings.serve_options import SERVE_ROWS
from wsgicompare.settings.workload_options import WORKLOAD_ROWS

#: most runs per backend (--repeat)
MAX_REPEAT = 100
#: most seconds between runs for sockets to drain (--settle-max), of a capacity step (--step-duration)
MAX_SETTLE_S = MAX_STEP_S = 600.0
#: most seconds of a confirmation run (--confirm)
MAX_CONFIRM_S = 3600.0
#: a capacity search's steps (--max-steps)
MIN_STEPS, MAX_STEPS = 2, 50
#: the app's screen refreshes per second (--refresh-hz): the range, and the default
MIN_REFRESH_HZ, MAX_REFRESH_HZ = 0.5, 30.0
DEFAULT_REFRESH_HZ = 4.0
#: the app's colours (--theme), the first the default
THEMES = ("dark", "light")
DEFAULT_THEME = THEMES[0]


class _Parser(argparse.ArgumentParser):
    """argparse that raises one line instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise OptionError(message.splitlines()[0] if message else "bad arguments")


def _app_target(name: str, value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*", value.strip()):
        raise OptionError(f"--app must look like 'module:callable' (e.g. 'myapp:app'), got {value!r}")
    return value.strip()


def _path(name: str, value: Any) -> str:
    # the path goes into a request line: no spaces, no control characters, must start with /
    if not isinstance(value, str) or not re.fullmatch(r"/[\x21-\x7e]{0,2000}", value):
        raise OptionError(f"--path must start with / and hold no spaces or control characters, got {value!r}")
    return value


def _exports(name: str, value: Any) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) for v in items):
        raise OptionError(f"--export must be one of md, json, csv, html, got {value!r}")
    for item in items:
        if item not in FORMATS:
            raise OptionError(f"--export must be one of {', '.join(FORMATS)}, got {item!r}")
    return list(dict.fromkeys(items))


def _open(name: str, value: Any) -> list[str]:
    paths = [value] if isinstance(value, str) else value
    if not isinstance(paths, list) or not all(isinstance(p, str) and p and "\0" not in p for p in paths):
        raise OptionError(f"--open needs a report file (FILE.json), got {value!r}")
    return list(paths)  # read by check_app_options, after every other check


def _slo(name: str, value: Any) -> Slo:
    try:
        return parse_slo(str(value))
    except CapacityError as exc:
        raise OptionError(str(exc)) from None


def _rates(name: str, value: Any) -> tuple[float, ...]:
    try:
        return parse_rates(csv(value))
    except CapacityError as exc:
        raise OptionError(str(exc)) from None


def _confirm(name: str, value: Any) -> float:
    seconds = Number("duration", 0, MAX_CONFIRM_S, zero_ok=True)(name, value)
    if 0 < seconds < MIN_CONFIRM_S:
        raise OptionError(
            f"--confirm must be 0 (no confirmation) or from {MIN_CONFIRM_S:g} s to {MAX_CONFIRM_S:g} s, got {value!r}"
        )
    return float(seconds)


def _fail_if(name: str, value: Any) -> list[Threshold]:
    return parse_thresholds(value)


def _scenarios(name: str, value: Any) -> tuple[str, ...]:
    # imported at use: engine/scenarios.py costs ~9 ms of every start (--help included), only --scenario needs it
    from wsgicompare.engine.scenarios import parse_scenarios

    return parse_scenarios(name, value)


def _row(flags: tuple[str, ...], convert: Any, group: str, metavar: str | None, help: str, **kw: Any) -> Option:
    """A row whose name is its long flag's; ``metavar`` None: a switch (store_const True)."""
    name = next(f for f in flags if f.startswith("--"))[2:]
    arg: dict[str, Any] = {"metavar": metavar} if metavar is not None else {"action": "store_const", "const": True}
    if kw.pop("append", False):
        arg["action"] = "append"
    arg.update(kw.pop("arg", {}))
    arg["help"] = help
    return Option(flags, name, convert, group, arg, **kw)


#: every option, in the order --help lists them within their groups
OPTIONS: list[Option] = [
    _row(
        ("-c", "--concurrency"),
        Number("int", 1, MAX_CONCURRENCY),
        "load",
        "N",
        "clients / open connections (default 64)",
        form=FormField("concurrency", "concurrency", "clients"),
    ),
    _row(
        ("-d", "--duration"),
        Number("duration", 0, MAX_DURATION_S),
        "load",
        "DUR",
        "measured load time: 10, 10s, 500ms, 2m (default 10s)",
        form=FormField("duration_s", "duration s", "none", optional=True),
    ),
    _row(
        ("-r", "--reps"),
        Number("int", 1, MAX_REPS),
        "load",
        "N",
        "requests per client, like siege -r",
        form=FormField("reps", "reps/client", "none", optional=True),
    ),
    _row(
        ("--requests",),
        Number("int", 1, MAX_REQUESTS),
        "load",
        "N",
        "total requests",
        form=FormField("requests", "requests", "none", optional=True),
    ),
    _row(
        ("--rate",),
        Number("float", 0, MAX_RATE),
        "load",
        "R",
        "open loop: target req/s (latency from intended send time)",
        form=FormField("rate", "rate req/s", "closed", optional=True),
    ),
    _row(
        ("--arrivals",),
        Choice(ARRIVALS),
        "load",
        "KIND",
        "uniform or poisson (default: poisson in capacity steps, uniform with --rate)",
    ),
    _row(
        ("--seed",),
        Number("int", 0, MAX_SEED),
        "load",
        "N",
        "seed of the poisson arrivals (default: chosen and reported)",
    ),
    _row(
        ("--warmup",),
        Number("duration", 0, MAX_SHORT_S, zero_ok=True),
        "load",
        "DUR",
        "warm-up excluded from every figure; with --find-capacity or --rates, each step's (default 1s)",
        form=FormField("warmup_s", "warm-up s", "seconds"),
    ),
    _row(("--timeout",), Number("duration", 0, MAX_SHORT_S), "load", "DUR", "per-request timeout (default 10s)"),
    _row(
        ("--delay",),
        Number("duration", 0, MAX_SHORT_S, zero_ok=True),
        "load",
        "DUR",
        "closed loop think time 0..DUR, like siege -d",
    ),
    _row(("--no-keepalive",), flag, "load", None, "send Connection: close"),
    _row(
        ("--workload",),
        one_name,
        "backends",
        "NAME",
        f"{' '.join(WORKLOADS)} (default hello)",
        field="workloads",
        save=None,
    ),
    _row(("--workloads",), names, "backends", "A,B", "several workloads: a matrix"),
    *WORKLOAD_ROWS,
    _row(("--backend", "-b"), one_name, "backends", "ID", "run one backend", field="backends", save=None),
    _row(("--backends",), names, "backends", "A,B", "run these backends"),
    _row(("--run-all",), flag, "backends", None, "run every backend of the catalog"),
    _row(
        ("--repeat",),
        Number("int", 1, MAX_REPEAT),
        "load",
        "N",
        "runs per backend; report median and spread",
    ),
    _row(
        ("--workers",),
        Number("int", 1, MAX_WORKERS),
        "backends",
        "N",
        "worker processes (default: number of server CPUs)",
        form=FormField("workers", "workers", "processes"),
    ),
    _row(
        ("--threads",),
        Number("int", 1, MAX_THREADS),
        "backends",
        "N",
        "threads per worker, threaded backends (default 4)",
        form=FormField("threads", "threads", "per worker"),
    ),
    _row(("--server-cpus",), cpus, "advanced", "CPUS", "pin servers, e.g. 1 or 1-3 (default: all but CPU 0)"),
    _row(("--loader-cpus",), cpus, "advanced", "CPUS", "pin the loader (default: CPU 0)"),
    _row(("--loader-procs",), Number("int", 1, MAX_PROCS), "advanced", "N", "loader processes (default 1)"),
    _row(("--app",), _app_target, "backends", "MOD:CALLABLE", "serve your own WSGI app"),
    _row(("--path",), _path, "backends", "PATH", "request path with --app (default /)"),
    _row(("--url",), text, "backends", "URL", "load an already-running server (loopback unless --allow-remote)"),
    _row(
        ("-m", "--method"),
        parse_method,
        "load",
        "METHOD",
        "request method with --app/--url (default GET; POST with a body)",
    ),
    _row(
        ("-H", "--header"),
        parse_headers,
        "load",
        "'NAME: VALUE'",
        "extra request header with --app/--url (repeatable)",
        append=True,
        field="headers",
        save=lambda headers: [f"{name}: {value}" for name, value in headers],
    ),
    _row(("--body",), parse_body, "load", "TEXT", "request body (UTF-8), sent with a Content-Length"),
    _row(("--body-file",), parse_body_file, "load", "FILE", "request body from a file (at most 1 MiB)"),
    _row(("--allow-remote",), flag, "backends", None, "allow a non-loopback --url or --serve-host"),
    _row(
        ("--open",),
        _open,
        "app",
        "FILE.json",
        "open the app on saved JSON reports (repeatable)",
        append=True,
        field="open_files",
        config=False,
        save=None,
    ),
    _row(("--serve",), flag, "app", None, "serve the app to a web browser (textual-serve)", config=False, save=None),
    *SERVE_ROWS,
    *RECOMMEND_ROWS,
    _row(
        ("--cluster",),
        text,
        "cluster",
        "ADDRESS",
        "loaders on a Ray cluster: HOST:PORT, ray://HOST:PORT, auto",
    ),
    _row(("--server-node",), text, "cluster", "NODE", "with --cluster: start the backends on this node"),
    _row(
        ("--export",),
        _exports,
        "reports",
        "FMT",
        "md json csv html hdr (repeatable)",
        append=True,
        field="exports",
    ),
    _row(("-o", "--output"), text, "reports", "PATH", "write the export here (default stdout)"),
    _row(("--port",), Number("int", 1, 65535), "backends", "PORT", "public port of a single backend"),
    _row(
        ("--settle-max",),
        Number("duration", 0, MAX_SETTLE_S, zero_ok=True),
        "advanced",
        "DUR",
        "most wait between runs for sockets to drain (default 10s)",
    ),
    _row(
        ("--refresh-hz",),
        Number("float", MIN_REFRESH_HZ, MAX_REFRESH_HZ),
        "app",
        "HZ",
        f"the app's screen refreshes per second (default {DEFAULT_REFRESH_HZ:g})",
    ),
    _row(
        ("--theme",),
        Choice(THEMES),
        "app",
        "NAME",
        f"the app's colours: {' or '.join(THEMES)} (default {DEFAULT_THEME})",
    ),
    _row(("--find-capacity",), flag, "capacity", None, "find each run's capacity at the SLO (open-loop steps)"),
    _row(
        ("--slo",),
        _slo,
        "capacity",
        "SLO",
        f"latency percentile and error budget (default {DEFAULT_SLO.replace('%', '%%')})",
        save=lambda slo: slo.spec(),
    ),
    _row(("--rates",), _rates, "capacity", "A,B,C", "open-loop steps at these req/s: the latency-vs-load curve"),
    _row(
        ("--step-duration",),
        Number("duration", 0.5, MAX_STEP_S),
        "capacity",
        "DUR",
        "measured time per capacity step, at least (default 3s; a search step at a low rate runs until 10 answers "
        "lie beyond the percentile, at most 15s)",
    ),
    _row(
        ("--max-steps",),
        Number("int", MIN_STEPS, MAX_STEPS),
        "capacity",
        "N",
        "most steps of a capacity search (default 10)",
    ),
    _row(
        ("--confirm",),
        _confirm,
        "capacity",
        "DUR",
        "a search's capacity is the rate a run this long also meets, stepping down 3%% until one "
        "does (within --max-steps); 0 takes the search's short step as it is (default 10s)",
    ),
    _row(
        ("--fail-if",),
        _fail_if,
        "reports",
        "EXPR",
        "exit 3 when a run breaks it: p99>50ms, rps_2xx<1000, errors>0.1%%, availability<99.9%% (repeatable)",
        append=True,
        save=lambda thresholds: [t.expr for t in thresholds],
    ),
    _row(
        ("--baseline",),
        text,
        "reports",
        "OLD.json",
        "an earlier JSON report: change columns, --fail-if rps_2xx_change<-10%%",
    ),
    _row(
        ("--scenario",),
        _scenarios,
        "scenarios",
        "A,B",
        "a timed event in each run: slow-clients, slow-readers, slow-uploads, worker-kill, reload, overload, or all",
        field="scenarios",
    ),
    _row(
        ("--event-at",),
        Number("duration", 0, MAX_DURATION_S),
        "scenarios",
        "DUR",
        "when the scenario's event fires (default: a third of -d)",
        form=FormField("event_at_s", "event at s", "⅓ of dur.", optional=True),
    ),
    _row(
        ("--slow-clients",),
        Number("int", 1, MAX_SLOW_CLIENTS),
        "scenarios",
        "K",
        "slow-clients, slow-readers, slow-uploads: connections (default max(4, 2 x workers))",
    ),
    _row(
        ("--config",), text, "advanced", "FILE", "TOML scenario file with these option names", config=False, save=None
    ),
    _row(
        ("--save-config",),
        text,
        "advanced",
        "FILE",
        "write the options as a TOML scenario and exit",
        config=False,
        save=None,
    ),
    _row(("--list-backends",), flag, "backends", None, "print the backend catalog", config=False, save=None),
    _row(("--json",), flag, "backends", None, "with --list-backends: JSON", config=False, save=None),
]

#: option name (as on the command line, without dashes) → its row
BY_NAME = by_name(OPTIONS)

#: names a config file may hold (everything except --config itself, the one-shot actions and --serve's options)
CONFIG_KEYS = tuple(row.name for row in OPTIONS if row.config)

#: the app form's fields: LoadSettings field → its option's row
FORM_OPTIONS = {row.form.field: row for row in OPTIONS if row.form is not None}


def convert(name: str, value: Any) -> tuple[str, Any]:
    """One option's value (the command line's text or a TOML value) → (Options field,
    converted value), by its row's converter. Raises OptionError (one line)."""
    row = BY_NAME.get(name)
    if row is None:
        raise OptionError(f"unknown option {name!r}")
    return row.attr, row.convert(name, value)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wsgicompare",
        description="Compare Python WSGI deployment backends under the same load. No arguments: open the terminal app.",
        epilog=EPILOG,
        formatter_class=formatter,
        allow_abbrev=False,
    )
    add_grouped(parser, OPTIONS)
    parser.add_argument("--version", action="version", version=f"wsgicompare {__version__}")
    return parser


__all__ = ["BY_NAME", "CONFIG_KEYS", "FORM_OPTIONS", "OPTIONS", "build_parser", "convert"]
