"""Saved reports read back (``--open FILE.json``): every run of each file, labelled with
the file it came from, checked before the app starts.

A file that cannot be read, is not JSON, holds another schema, or a run whose figures
are not what the app draws (a number that is text, a table that is a list) is refused
with one line naming the file, and the run when it is one of them: the app would
otherwise fail on it later, mid-draw."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from wsgicompare.loader import is_loopback
from wsgicompare.parsing import OptionError, read_regular_file
from wsgicompare.results import SCHEMA, RunResult, results_from_document

if TYPE_CHECKING:
    from wsgicompare.settings.options import Options

#: most bytes of one report: a run-all with capacity steps and histograms is a few MB
MAX_REPORT_BYTES = 64 * 1024 * 1024

#: run fields the app and the exporters read as text, numbers, tables and lists
_TEXT = ("backend", "title", "workload", "status", "reason", "log_tail")
_NUMBERS = ("requests", "reconnects", "elapsed_s", "rps", "rps_2xx", "bytes", "concurrency")
_NUMBERS_OR_NULL = ("startup_s", "crashed_at_s")
_TABLES = (
    "responses",
    "errors",
    "latency_ms",
    "server",
    "loader",
    "tcp",
    "repeat",
    "settle",
    "capacity",
    "latency_hist",
    "config_files",
    "versions",
)
_LISTS = ("command", "timeline", "verdicts")
#: the latency figures the app draws (ms)
_PERCENTILES = ("min", "mean", "p50", "p90", "p99", "p999", "max")


def load_reports(paths: list[str]) -> tuple[tuple[RunResult, ...], dict[str, Any] | None]:
    """(every run of every file, in the order given; the reports' meta). Each run's
    ``source`` is its file's name (the path as given when two files share a name). The
    meta (created, machine, load) is the first file's when every file says the same
    load, for re-exporting them; None otherwise. Raises OptionError (one line)."""
    names = [os.path.basename(p) for p in paths]
    runs: list[RunResult] = []
    metas: list[dict[str, Any]] = []
    for path, name in zip(paths, names):
        label = path if names.count(name) > 1 else name
        doc = read_document(path)
        runs.extend(replace(run, source=label) for run in results_from_document(doc))
        metas.append({key: doc.get(key) for key in ("created", "machine", "load")})
    loads = [meta["load"] if isinstance(meta["load"], dict) else None for meta in metas]
    unseeded = [{k: v for k, v in load.items() if k != "seed"} if load is not None else None for load in loads]
    if unseeded[0] is None or any(load != unseeded[0] for load in unseeded):
        return tuple(runs), None
    if any(load != loads[0] for load in loads):  # the same load but for the seed: each run's loader.seed says
        return tuple(runs), {**metas[0], "load": {**unseeded[0], "seed": None}}
    return tuple(runs), metas[0]


def saved_line(runs: Iterable[RunResult]) -> str:
    """The compare view's load line when every run was read from a saved report: which
    ones ("" when a run was made here: then the load settings describe them)."""
    runs = list(runs)
    if not runs or not all(run.source for run in runs):
        return ""
    return "saved reports: " + ", ".join(dict.fromkeys(run.source for run in runs))


def read_document(path: str, option: str = "--open") -> dict[str, Any]:
    """One saved ``wsgicompare/1`` JSON report, checked run by run: the one reader of
    --open and --baseline (``option`` names the flag in the one-line OptionError)."""
    where = f"{option} {path}"
    raw = read_regular_file(where, path, MAX_REPORT_BYTES)
    if len(raw) > MAX_REPORT_BYTES:
        raise OptionError(f"{where}: too big for a report (max {MAX_REPORT_BYTES // (1024 * 1024)} MB)")
    try:
        doc = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise OptionError(f"{where}: not a JSON report: not UTF-8 text") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "bad JSON"
        raise OptionError(f"{where}: not a JSON report: {detail}") from None
    if not isinstance(doc, dict):
        raise OptionError(f"{where}: not a {SCHEMA} report (the JSON is not an object)")
    if doc.get("schema") != SCHEMA:
        raise OptionError(f"{where}: not a {SCHEMA} report (schema {doc.get('schema')!r})")
    runs = doc.get("runs")
    if not isinstance(runs, list):
        raise OptionError(f"{where}: 'runs' must be a list")
    if not runs:
        raise OptionError(f"{where}: the report holds no runs")
    for i, run in enumerate(runs, 1):
        problem = _run_problem(run)
        if problem:
            raise OptionError(f"{where}: run {i}: {problem}")
    try:
        results_from_document(doc)
    except (ValueError, TypeError) as exc:
        raise OptionError(f"{where}: {str(exc).splitlines()[0] if str(exc) else 'bad run'}") from None
    return doc


def _run_problem(run: Any) -> str:
    """What makes this ``runs[]`` entry unusable, or ""."""
    if not isinstance(run, dict):
        return "not an object"
    for key in ("backend", "title", "workload", "status"):
        if key not in run:
            return f"no {key!r}"
    checks: tuple[tuple[tuple[str, ...], Any, str], ...] = (
        (_TEXT, str, "text"),
        (_TABLES, dict, "an object"),
        (_LISTS, list, "a list"),
    )
    for keys, kind, what in checks:
        for key in keys:
            if key in run and not isinstance(run[key], kind):
                return f"{key!r} must be {what}"
    for key in _NUMBERS + _NUMBERS_OR_NULL:
        value = run.get(key)
        if key not in run or (value is None and key in _NUMBERS_OR_NULL):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{key!r} must be a number"
    latency = run.get("latency_ms", {})
    for name in _PERCENTILES:  # beside them: "uncorrected" (open loop), "probe" (a stall probe), tables
        if not _number_or_null(latency.get(name)):
            return f"latency_ms {name!r} must be a number"
    for point in run.get("timeline", []):
        # numbers, and on a scenario's event tick the event's line (Tick.event)
        if not isinstance(point, dict) or not all(
            _number_or_null(v) or (k == "event" and isinstance(v, str)) for k, v in point.items()
        ):
            return "'timeline' entries must be objects of numbers (and an event's line)"
    return ""


def _number_or_null(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def check_app_options(o: Options) -> None:
    """--open and --serve: what goes with them, then the reports read (OptionError, one line)."""
    if (o.open_files or o.serve) and o.headless:
        flag = "--open" if o.open_files else "--serve"
        raise OptionError(f"{flag} opens the app: it cannot be combined with --backend, --run-all or --url")
    for flag, value in (
        ("--serve-host", o.serve_host),
        ("--serve-port", o.serve_port),
        ("--serve-grace", o.serve_grace),
        ("--serve-max-tabs", o.serve_max_tabs),
    ):
        if value is not None and not o.serve:
            raise OptionError(f"{flag} goes with --serve")
    if o.serve and o.serve_host is not None and not o.allow_remote:
        if not is_loopback(o.serve_host):
            raise OptionError(
                f"--serve-host {o.serve_host} is not loopback: anyone who can reach it "
                "drives the app (and starts servers); add --allow-remote to mean it"
            )
    if o.open_files:
        o.open_reports, o.open_meta = load_reports(o.open_files)
