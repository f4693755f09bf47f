"""The command line: no arguments opens the terminal app; ``--run-all``, ``--backend``
or ``--url`` run headless and end in the same exporters as the app.

Every bad input ends as one line ``wsgicompare: error: …`` on stderr and exit code 2,
before anything is started. Exit codes: 0 done (at least one run measured), 1 nothing
could be measured (or an export could not be written), 2 bad input, 3 a run broke a
--fail-if threshold, 130/143 interrupted by SIGINT/SIGTERM (what finished is still
written). When several apply, the first of: an export not written (1), 130/143, nothing
measured (1), a broken threshold (3)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

from wsgicompare.backends import (
    CATALOG,
    WORKLOADS,
    BackendError,
    catalog_rows,
    check_user_app,
    get_backend,
    port_in_use,
)
from wsgicompare.engine.runspec import (
    DEFAULT_SETTLE_MAX_S,
    RunSpec,
    checked_specs,
    cpu_split,
    default_cpus,
    pin_to_loader_cpus,
    shared_loader_cpus,
    unpin,
)
from wsgicompare.front.progress import Progress
from wsgicompare.front.serve import serve
from wsgicompare.loader import LoadProfileError
from wsgicompare.reporting.baseline import load_baseline
from wsgicompare.reporting.export import make_meta, render, report_files, write_atomic
from wsgicompare.reporting.thresholds import report_broken
from wsgicompare.results import RunResult
from wsgicompare.settings.config_file import dump_toml, to_config
from wsgicompare.settings.options import (
    OptionError,
    Options,
    check_output,
    check_replaceable,
    parse_options,
)
from wsgicompare.settings.recommend_options import fill_candidates
from wsgicompare.signals import set_from_signal_handler

PROG = "wsgicompare"


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message.splitlines()[0] if message else 'bad input'}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        options = parse_options(argv)
    except OptionError as exc:
        return _fail(str(exc))
    except SystemExit as exc:  # --help / --version print and "exit"; keep main() returning
        return int(exc.code or 0)
    try:
        if options.save_config:
            return save_config(options)
        if options.list_backends:
            return list_backends(options.json)
        if options.serve:
            return serve(options, argv)
        if not options.headless:
            return open_tui(options)
        if options.recommend and not options.backends:
            fill_candidates(options)  # every available backend that serves the app
        checks = report_checks(options)
        plan = make_plan(options)
        plan.meta.update(checks)
    except _bad_input_errors() as exc:
        return _fail(str(exc))
    try:
        if plan.specs and plan.specs[0].is_url:  # --url: one spec, a server nobody here starts
            check_target(plan.specs[0].load.url)
    except TargetError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    for warning in plan.warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)
    if options.recommend:
        return recommend(plan, options)
    return run_headless(plan)


def recommend(plan: Plan, options: Options) -> int:
    """--recommend headless (wsgicompare/front/recommend.py), pinned as a run is."""
    # imported at use: the conductor and the recommender cost every other start
    from wsgicompare.front.recommend import run_recommend

    pin_to_loader_cpus(plan.specs[0].load.cpus)
    try:
        code = run_recommend(
            options,
            plan.specs,
            plan.meta,
            plan.settle_max_s,
            lambda results, files_only: write_exports(plan, results, files_only=files_only),
            _Interrupt,
        )
    finally:
        unpin()
    for path in (p for p in plan.targets.values() if p):
        print(f"{PROG}: wrote {path}", file=sys.stderr)
    return code


def _bad_input_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "bad input": each carries a one-line message."""
    return (OptionError, BackendError, LoadProfileError)


def report_checks(options: Options) -> dict[str, Any]:
    """What the reports check the runs against (keys of the reports' meta): the --fail-if
    thresholds, which md and json evaluate at every write and the exit code at the end,
    and the --baseline report, read now: a bad file is bad input, and -o may replace it
    after the first run."""
    checks: dict[str, Any] = {}
    if options.fail_if:
        checks["fail_if"] = tuple(options.fail_if)
    if options.baseline:
        checks["baseline"] = load_baseline(options.baseline)
    return checks


# -- one-shot actions -----------------------------------------------------------------------


def save_config(options: Options) -> int:
    path = options.save_config
    assert path is not None
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory) or not os.access(directory, os.W_OK):
        raise OptionError(f"--save-config: cannot write in {directory}")
    check_replaceable("--save-config", path)
    write_atomic(path, dump_toml(to_config(options)))
    print(f"{PROG}: scenario written to {path}", file=sys.stderr)
    return 0


def list_backends(as_json: bool, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    rows = catalog_rows()
    if as_json:
        out.write(json.dumps(rows, indent=2) + "\n")
        return 0
    # imported here: rich's console and table cost ~15 ms of every start, and only this table needs them
    from rich.console import Console
    from rich.table import Table

    table = Table(title="wsgicompare backends", title_justify="left")
    for name in ("id", "title", "family", "seed", "available", "workloads", "missing / hint"):
        table.add_column(name)
    for row in rows:
        missing = ", ".join(row.get("missing") or [])
        table.add_row(
            row["id"],
            row["title"],
            row["family"],
            "seed" if row["seed"] else "",
            "yes" if row["available"] else "[red]no[/]",
            " ".join(row.get("workloads") or []),
            f"{missing} — {row['hint']}" if missing else "",
        )
    Console(file=out, width=None if out.isatty() else 200).print(table)
    return 0


def open_tui(options: Options) -> int:
    # imported here, not at the top: Textual costs ~200 ms (measured), which a headless run, --help
    # and --serve (the app runs in its own processes there) need not pay
    from wsgicompare.tui.app import run_app

    conductor = None
    if options.cluster:
        from wsgicompare.cluster import connect  # Ray: imported only with --cluster
        from wsgicompare.engine.conductor import Conductor

        settle = DEFAULT_SETTLE_MAX_S if options.settle_max is None else options.settle_max
        conductor = Conductor(settle_max_s=settle, cluster=connect(options))  # ClusterError: exit 2
    pin_to_loader_cpus(options.loader_cpus or default_cpus()[0])
    try:
        return int(run_app(options, conductor=conductor) or 0)
    finally:
        unpin()
        if conductor is not None and conductor.cluster is not None:
            conductor.cluster.shutdown()


# -- planning: everything checked before anything starts --------------------------------------


@dataclass
class Plan:
    specs: list[RunSpec]
    targets: dict[str, str | None]  # export format -> path (None: stdout)
    meta: dict[str, Any]
    settle_max_s: float
    #: said once on stderr before the runs: the plan works, but not as well as it could
    warnings: list[str] = field(default_factory=list)
    #: --cluster: the connected Ray cluster (wsgicompare.cluster.Cluster)
    cluster: Any = None


def make_plan(o: Options) -> Plan:
    targets = check_output(o)
    procs = o.loader_procs or 1
    loader_cpus, _ = cpu_split(o.loader_cpus, o.server_cpus, procs)
    # with --cluster the loader processes run on the cluster's nodes, pinned there
    warnings = [w for w in (shared_loader_cpus(procs, loader_cpus),) if w and not o.cluster]
    # built and checked as the app checks its form (runspec.checked_specs): the load first
    specs = checked_specs(o, [] if o.url else list(o.backends) or list(CATALOG))
    if not o.url:
        _check_backends(o, specs)
    settle = DEFAULT_SETTLE_MAX_S if o.settle_max is None else o.settle_max
    cluster = None
    if o.cluster:
        from wsgicompare.cluster import connect  # Ray: imported only with --cluster

        cluster = connect(o)  # ClusterError (bad input) before anything starts
        warnings += cluster.warnings(procs, servers_here=not o.url)
    meta = make_meta(specs)
    if cluster is not None:
        meta["machine"]["nodes"] = cluster.describe()
    return Plan(specs=specs, targets=targets, meta=meta, settle_max_s=settle, warnings=warnings, cluster=cluster)


def _check_backends(o: Options, specs: list[RunSpec]) -> None:
    """Refuse (one line) what the specs ask of backends that cannot give it."""
    # BackendError("unknown backend 'x' (known: …)")
    backends = [get_backend(b) for b in dict.fromkeys(s.backend for s in specs)]
    workloads = list(dict.fromkeys(s.workload for s in specs))
    if not o.app:
        for w in workloads:
            if w not in WORKLOADS:
                raise OptionError(f"unknown workload {w!r} (known: {', '.join(WORKLOADS)})")
    server = specs[0].server
    assert server is not None  # only a --url spec starts no server
    server.validate()
    if not o.run_all:
        # a backend named on its own must be able to run: anything else is bad input
        for backend in backends:
            available, missing = backend.availability()
            if not available:
                raise OptionError(
                    f"backend {backend.id} is not available: missing {', '.join(missing)} ({backend.hint})"
                )
            if o.app and not backend.serves_user_app:
                raise OptionError(f"backend {backend.id} serves only its own built-in app, not --app")
            for w in workloads if not o.app else []:
                if w not in backend.workloads:
                    raise OptionError(f"backend {backend.why_not(w)}")
    if o.port is not None:
        if port_in_use(server.host, o.port):
            raise OptionError(f"--port {o.port} is already in use")
    if o.app:
        check_user_app(o.app)  # imports it in a short-lived subprocess: missing, raising, not callable


#: seconds the pre-run connect to a --url target may take: a loopback server that is
#: there accepts in microseconds, and a bad target must be told well within 3 s
TARGET_CONNECT_TIMEOUT_S = 2.0


class TargetError(Exception):
    """The --url target cannot be reached: not bad input (exit 1, not 2), but no load
    can measure anything there. One line."""


def check_target(url: str, timeout_s: float = TARGET_CONNECT_TIMEOUT_S) -> None:
    """One plain TCP connect to where the loader would connect, before any loader starts:
    against a closed port a load fires tens of thousands of refused connects for its
    whole duration and reports them as a measurement (loader-bound, listen backlog)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 80
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetError(f"cannot resolve {host} ({getattr(exc, 'strerror', None) or exc})") from None
    # the address the loader will use (loader/process.py _resolve prefers IPv4 too)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(address)
        except ConnectionRefusedError:
            raise TargetError(f"nothing is listening at {where} (connection refused)") from None
        except TimeoutError:
            raise TargetError(f"no answer from {where} within {timeout_s:g} s (connect timed out)") from None
        except OSError as exc:
            raise TargetError(f"cannot connect to {where} ({exc.strerror or exc})") from None


# -- running headless -------------------------------------------------------------------------


class _Interrupt:
    """SIGINT/SIGTERM during a headless run: the first sets the cancel event (the run
    stops at its next tick, backends are stopped, what finished is written); a second
    one raises KeyboardInterrupt for an impatient user (the reaper still stops servers)."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.signum: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupt:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum
        set_from_signal_handler(self.cancel)

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def write_exports(plan: Plan, results: list[RunResult], *, files_only: bool = False) -> bool:
    """Write every export; False (after one line on stderr each) when one could not be
    written, e.g. the disk filled up mid-run: the runs still go on and the next
    write tries again."""
    written = True
    for fmt, path in plan.targets.items():
        try:
            if path is None:
                if not files_only:
                    sys.stdout.write(render(fmt, results, plan.meta))
                    sys.stdout.flush()
            else:
                for file_path, text in report_files(fmt, results, plan.meta, path):
                    write_atomic(file_path, text)
        except OSError as exc:
            written = False
            print(
                f"{PROG}: error: could not write the {fmt} export to {path or 'stdout'}: {exc.strerror or exc}",
                file=sys.stderr,
            )
    return written


def run_headless(plan: Plan) -> int:
    if plan.specs:
        pin_to_loader_cpus(plan.specs[0].load.cpus)
    try:
        return _run_pinned(plan)
    finally:
        unpin()
        if plan.cluster is not None:
            plan.cluster.shutdown()


def _run_pinned(plan: Plan) -> int:
    cancel = threading.Event()
    # imported at use: the conductor (with scenarios, kernel, verdicts) costs ~20 ms of every
    # start, --help included, and only a headless run needs it here
    from wsgicompare.engine.conductor import Conductor

    conductor = Conductor(settle_max_s=plan.settle_max_s, cluster=plan.cluster)
    results: list[RunResult] = []
    started = time.monotonic()

    def on_result(result: RunResult) -> None:
        results.append(result)
        progress.on_result(result)
        # each finished run is on disk at once: a crash at backend 9 keeps backends 1–8
        write_exports(plan, results, files_only=True)

    # the handlers stay until the end: a SIGTERM while the last run ends or the reports
    # are written is an interruption (exit 143, the reports whole), never a kill mid-write
    with _Interrupt(cancel) as interrupt:
        with Progress(plan.specs) as progress:
            conductor.on_step = progress.on_step
            try:
                conductor.run_all(plan.specs, progress.on_tick, on_result, cancel)
            except KeyboardInterrupt:
                interrupt.signum = interrupt.signum or signal.SIGINT
        if not write_exports(plan, results):
            return 1
        for path in (p for p in plan.targets.values() if p):
            print(f"{PROG}: wrote {path}", file=sys.stderr)
        broken = report_broken(plan.meta, results, sys.stderr, PROG)
        # a broken threshold comes last: a job that was stopped or measured nothing must
        # not read as a regression of the server
        if interrupt.signum is not None:
            print(
                f"{PROG}: interrupted after {time.monotonic() - started:.1f} s; "
                f"{len(results)} of {len(plan.specs)} runs kept",
                file=sys.stderr,
            )
            return 128 + int(interrupt.signum)
    if not any(r.status == "ok" for r in results):
        return 1
    return 3 if broken else 0
