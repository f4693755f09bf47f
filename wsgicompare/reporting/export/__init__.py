"""Exporters: each format is a module with ``render(results, meta) -> str``. The TUI and
the CLI call the same functions, so a figure never differs between screen and report.

``meta`` is a dict: ``created`` (ISO time), ``machine`` (see wsgicompare.engine.machine) and
``load`` (the options every run shared); ``make_meta`` builds it from the run specs."""

from __future__ import annotations

import importlib
import os
import tempfile
from typing import TYPE_CHECKING, Any

from wsgicompare.backends import DB_WORKLOADS
from wsgicompare.engine.machine import machine_info, now_iso
from wsgicompare.reporting.export import hdr
from wsgicompare.results import RunResult

if TYPE_CHECKING:
    from wsgicompare.engine.runspec import RunSpec

FORMATS = ("md", "json", "csv", "html", "hdr")
#: file suffix per format, for ``-o DIR`` or several exports
SUFFIX = {"md": ".md", "json": ".json", "csv": ".csv", "html": ".html", "hdr": ".hdr"}


def render(fmt: str, results: list[RunResult], meta: dict[str, Any]) -> str:
    if fmt not in SUFFIX:
        raise ValueError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    # imported when asked for: the html renderer pulls in pygal
    module = importlib.import_module(f"wsgicompare.reporting.export.{fmt}")
    return str(module.render(results, meta))


def load_options(specs: list[RunSpec]) -> dict[str, Any]:
    """The options every run shared, as the report's ``load`` section."""
    if not specs:
        return {}
    spec = specs[0]
    load = spec.load
    server = spec.server
    out: dict[str, Any] = {
        "concurrency": load.concurrency,
        "duration_s": load.duration_s,
        "requests": load.requests,
        "reps": load.reps,
        "rate": load.rate,
        "delay_s": load.delay_s,
        "warmup_s": load.warmup_s,
        "timeout_s": load.timeout_s,
        "keepalive": load.keepalive,
        "loader_procs": load.procs,
        "loader_cpus": list(load.cpus),
        "workers": server.workers if server else None,
        "threads": server.threads if server else None,
        "server_cpus": list(server.cpus) if server else [],
        "app": server.app if server else None,
        "workloads": list(dict.fromkeys(s.workload for s in specs)),
        "repeat": spec.repeat,
    }
    if load.rate is not None or spec.capacity is not None:
        # how the open loop spaced its requests (a capacity search's steps too)
        out["arrivals"] = load.arrivals
        if load.arrivals == "poisson":  # the runs' seed when they share one (each run's loader.seed says)
            out["seed"] = load.seed if all(s.load.seed == load.seed for s in specs) else None
    if spec.is_url:
        out["url"] = load.url
    if load.method != "GET" or load.headers or load.body:
        # what was sent instead of a bare GET (the body's bytes stay out of the report)
        out["request"] = {
            "method": load.method,
            "headers": [f"{name}: {value}" for name, value in load.headers],
            "body_bytes": len(load.body),
        }
    databases = [s.server.database for s in specs if s.server is not None and s.workload in DB_WORKLOADS]
    if databases:  # where db, queries and fortunes read (sqlite unless --database)
        out["database"] = databases[0]
    scenarios = [s.scenario for s in specs if s.scenario is not None]
    if scenarios:
        out["scenarios"] = {
            "names": list(dict.fromkeys(p.name for p in scenarios)),
            "event_at_s": scenarios[0].event_at_s,
        }
    plan = spec.capacity
    if plan is not None:
        # steps replace the one load: their rate, duration and connections are the plan's
        out["capacity"] = {
            "mode": "ladder" if plan.rates else "search",
            "slo": plan.slo.to_dict(),
            "rates": list(plan.rates),
            "step_s": plan.step_s,
            "step_warmup_s": plan.step_warmup_s,
            "max_steps": plan.max_steps,
            "concurrency": plan.concurrency,
            # a search's figure is confirmed by a run this long (0: the search's step as it is)
            **({} if plan.rates else {"confirm_s": plan.confirm_s}),
        }
    return out


def make_meta(
    specs: list[RunSpec], *, machine: dict[str, Any] | None = None, created: str | None = None
) -> dict[str, Any]:
    load = load_options(specs)
    if machine is None:
        machine = machine_info(tuple(load.get("loader_cpus", ())), tuple(load.get("server_cpus", ())))
    return {"created": created or now_iso(), "machine": machine, "load": load}


def report_files(fmt: str, results: list[RunResult], meta: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """(path, text) of every file one export writes: one, except ``hdr`` with several
    runs, which writes a distribution per run beside ``path`` (its plotter reads one)."""
    if fmt == "hdr":
        return hdr.files(results, path)
    return [(path, render(fmt, results, meta))]


def write_atomic(path: str, text: str) -> None:
    """Write via a temp file in the same directory and rename it into place, so a reader
    (or a crash half-way) never sees half a report."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".wsgicompare-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
