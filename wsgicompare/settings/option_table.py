"""The option table: every command-line option's flags, name and argparse keywords
(help text, metavar), grouped for --help by helptext.py, and the parser built from it.
Every value stays a string here; options.py converts and checks it (``_convert``)."""

from __future__ import annotations

import argparse
from typing import Any, NoReturn

from wsgicompare import __version__
from wsgicompare.backends import WORKLOADS
from wsgicompare.engine.capacity import DEFAULT_SLO
from wsgicompare.parsing import OptionError
from wsgicompare.settings import workload_options
from wsgicompare.settings.helptext import EPILOG, add_grouped, formatter
from wsgicompare.settings.recommend_options import RECOMMEND_ARGS
from wsgicompare.settings.serve_options import SERVE_ARGS


class _Parser(argparse.ArgumentParser):
    """argparse that raises one line instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise OptionError(message.splitlines()[0] if message else "bad arguments")


#: (flags, option name, argparse kwargs); all values stay strings until _convert
ARGS: list[tuple[tuple[str, ...], str, dict[str, Any]]] = [
    (("-c", "--concurrency"), "concurrency", {"metavar": "N", "help": "clients / open connections (default 64)"}),
    (
        ("-d", "--duration"),
        "duration",
        {"metavar": "DUR", "help": "measured load time: 10, 10s, 500ms, 2m (default 10s)"},
    ),
    (("-r", "--reps"), "reps", {"metavar": "N", "help": "requests per client, like siege -r"}),
    (("--requests",), "requests", {"metavar": "N", "help": "total requests"}),
    (("--rate",), "rate", {"metavar": "R", "help": "open loop: target req/s (latency from intended send time)"}),
    (
        ("--arrivals",),
        "arrivals",
        {"metavar": "KIND", "help": "uniform or poisson (default: poisson in capacity steps, uniform with --rate)"},
    ),
    (("--seed",), "seed", {"metavar": "N", "help": "seed of the poisson arrivals (default: chosen and reported)"}),
    (("--warmup",), "warmup", {"metavar": "DUR", "help": "warm-up excluded from every figure (default 1s)"}),
    (("--timeout",), "timeout", {"metavar": "DUR", "help": "per-request timeout (default 10s)"}),
    (("--delay",), "delay", {"metavar": "DUR", "help": "closed loop think time 0..DUR, like siege -d"}),
    (("--no-keepalive",), "no-keepalive", {"action": "store_const", "const": True, "help": "send Connection: close"}),
    (("--workload",), "workload", {"metavar": "NAME", "help": f"{' '.join(WORKLOADS)} (default hello)"}),
    (("--workloads",), "workloads", {"metavar": "A,B", "help": "several workloads: a matrix"}),
    *workload_options.WORKLOAD_ARGS,
    (("--backend", "-b"), "backend", {"metavar": "ID", "help": "run one backend"}),
    (("--backends",), "backends", {"metavar": "A,B", "help": "run these backends"}),
    (("--run-all",), "run-all", {"action": "store_const", "const": True, "help": "run every backend of the catalog"}),
    (("--repeat",), "repeat", {"metavar": "N", "help": "runs per backend; report median and spread"}),
    (("--workers",), "workers", {"metavar": "N", "help": "worker processes (default: number of server CPUs)"}),
    (("--threads",), "threads", {"metavar": "N", "help": "threads per worker, threaded backends (default 4)"}),
    (
        ("--server-cpus",),
        "server-cpus",
        {"metavar": "CPUS", "help": "pin servers, e.g. 1 or 1-3 (default: all but CPU 0)"},
    ),
    (("--loader-cpus",), "loader-cpus", {"metavar": "CPUS", "help": "pin the loader (default: CPU 0)"}),
    (("--loader-procs",), "loader-procs", {"metavar": "N", "help": "loader processes (default 1)"}),
    (("--app",), "app", {"metavar": "MOD:CALLABLE", "help": "serve your own WSGI app"}),
    (("--path",), "path", {"metavar": "PATH", "help": "request path with --app (default /)"}),
    (("--url",), "url", {"metavar": "URL", "help": "load an already-running server (loopback unless --allow-remote)"}),
    (
        ("-m", "--method"),
        "method",
        {"metavar": "METHOD", "help": "request method with --app/--url (default GET; POST with a body)"},
    ),
    (
        ("-H", "--header"),
        "header",
        {"metavar": "'NAME: VALUE'", "action": "append", "help": "extra request header with --app/--url (repeatable)"},
    ),
    (("--body",), "body", {"metavar": "TEXT", "help": "request body (UTF-8), sent with a Content-Length"}),
    (("--body-file",), "body-file", {"metavar": "FILE", "help": "request body from a file (at most 1 MiB)"}),
    (
        ("--allow-remote",),
        "allow-remote",
        {"action": "store_const", "const": True, "help": "allow a non-loopback --url or --serve-host"},
    ),
    (
        ("--open",),
        "open",
        {"metavar": "FILE.json", "action": "append", "help": "open the app on saved JSON reports (repeatable)"},
    ),
    (
        ("--serve",),
        "serve",
        {"action": "store_const", "const": True, "help": "serve the app to a web browser (textual-serve)"},
    ),
    *SERVE_ARGS,
    *RECOMMEND_ARGS,
    (
        ("--cluster",),
        "cluster",
        {"metavar": "ADDRESS", "help": "loaders on a Ray cluster: HOST:PORT, ray://HOST:PORT, auto"},
    ),
    (("--server-node",), "server-node", {"metavar": "NODE", "help": "with --cluster: start the backends on this node"}),
    (("--export",), "export", {"metavar": "FMT", "action": "append", "help": "md json csv html hdr (repeatable)"}),
    (("-o", "--output"), "output", {"metavar": "PATH", "help": "write the export here (default stdout)"}),
    (("--port",), "port", {"metavar": "PORT", "help": "public port of a single backend"}),
    (
        ("--settle-max",),
        "settle-max",
        {"metavar": "DUR", "help": "most wait between runs for sockets to drain (default 10s)"},
    ),
    (("--refresh-hz",), "refresh-hz", {"metavar": "HZ", "help": "the app's screen refreshes per second (default 4)"}),
    (("--theme",), "theme", {"metavar": "NAME", "help": "the app's colours: dark or light (default dark)"}),
    (
        ("--find-capacity",),
        "find-capacity",
        {"action": "store_const", "const": True, "help": "find each run's capacity at the SLO (open-loop steps)"},
    ),
    (
        ("--slo",),
        "slo",
        {"metavar": "SLO", "help": f"latency percentile and error budget (default {DEFAULT_SLO.replace('%', '%%')})"},
    ),
    (("--rates",), "rates", {"metavar": "A,B,C", "help": "open-loop steps at these req/s: the latency-vs-load curve"}),
    (
        ("--step-duration",),
        "step-duration",
        {
            "metavar": "DUR",
            "help": "measured time per capacity step, at least (default 3s; a search step at a low rate runs until 10 answers lie beyond the percentile, at most 15s)",
        },
    ),
    (("--max-steps",), "max-steps", {"metavar": "N", "help": "most steps of a capacity search (default 10)"}),
    (
        ("--confirm",),
        "confirm",
        {
            "metavar": "DUR",
            "help": "a search's capacity is the rate a run this long also meets, stepping down 3%% until one "
            "does (within --max-steps); 0 takes the search's short step as it is (default 10s)",
        },
    ),
    (
        ("--fail-if",),
        "fail-if",
        {
            "metavar": "EXPR",
            "action": "append",
            "help": "exit 3 when a run breaks it: p99>50ms, rps_2xx<1000, errors>0.1%%, availability<99.9%% "
            "(repeatable)",
        },
    ),
    (
        ("--baseline",),
        "baseline",
        {"metavar": "OLD.json", "help": "an earlier JSON report: change columns, --fail-if rps_2xx_change<-10%%"},
    ),
    (
        ("--scenario",),
        "scenario",
        {
            "metavar": "A,B",
            "help": "a timed event in each run: slow-clients, slow-readers, slow-uploads, worker-kill, reload, overload, or all",
        },
    ),
    (
        ("--event-at",),
        "event-at",
        {"metavar": "DUR", "help": "when the scenario's event fires (default: a third of -d)"},
    ),
    (
        ("--slow-clients",),
        "slow-clients",
        {"metavar": "K", "help": "slow-clients, slow-readers, slow-uploads: connections (default max(4, 2 x workers))"},
    ),
    (("--config",), "config", {"metavar": "FILE", "help": "TOML scenario file with these option names"}),
    (("--save-config",), "save-config", {"metavar": "FILE", "help": "write the options as a TOML scenario and exit"}),
    (
        ("--list-backends",),
        "list-backends",
        {"action": "store_const", "const": True, "help": "print the backend catalog"},
    ),
    (("--json",), "json", {"action": "store_const", "const": True, "help": "with --list-backends: JSON"}),
]

#: names a config file may hold (everything except --config itself and one-shot actions)
CONFIG_KEYS = tuple(
    name
    for _, name, _ in ARGS
    # --config itself, the one-shot actions and --serve's own options stay on the command line
    if name not in ("config", "save-config", "list-backends", "json", "open", "serve") and not name.startswith("serve-")
)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="wsgicompare",
        description="Compare Python WSGI deployment backends under the same load. No arguments: open the terminal app.",
        epilog=EPILOG,
        formatter_class=formatter,
        allow_abbrev=False,
    )
    add_grouped(parser, ARGS)
    parser.add_argument("--version", action="version", version=f"wsgicompare {__version__}")
    return parser
