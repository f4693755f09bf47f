"""Command-line and config-file options, parsed and checked in one place.

The CLI and a ``--config`` TOML file share every option name and every converter, so a
scenario file says exactly what the command line would. Every bad value raises
``OptionError`` with one line for the user; nothing here starts a process."""

from __future__ import annotations

import os
import stat
import tomllib
from dataclasses import dataclass, field
from typing import Any

from wsgicompare.engine.capacity import Slo
from wsgicompare.engine.request import check_request_options
from wsgicompare.parsing import OptionError as OptionError
from wsgicompare.reporting.saved import check_app_options
from wsgicompare.reporting.thresholds import Threshold
from wsgicompare.results import RunResult
from wsgicompare.settings import checks, workload_options
from wsgicompare.settings.option_table import CONFIG_KEYS, OPTIONS, build_parser, convert
from wsgicompare.settings.outputs import check_output as check_output
from wsgicompare.settings.outputs import check_replaceable as check_replaceable
from wsgicompare.settings.outputs import format_from_suffix
from wsgicompare.settings.recommend_options import RecommendFields, check_recommend


@dataclass
class Options(RecommendFields):  # --recommend's fields: settings/recommend_options.py
    """Every option after parsing, config merging and conversion (units in the names)."""

    #: closed-loop clients / open connections
    concurrency: int | None = None
    #: measured seconds of load (None: the default, or no time limit when requests/reps stop the run)
    duration: float | None = None
    #: per-client request count (siege -r)
    reps: int | None = None
    #: total request count
    requests: int | None = None
    #: open-loop target req/s (None: closed loop)
    rate: float | None = None
    #: open-loop arrivals, "uniform" or "poisson" (None: poisson for capacity steps, else uniform)
    arrivals: str | None = None
    #: the Poisson arrivals' seed (None: one chosen per run and reported)
    seed: int | None = None
    #: seconds of warm-up excluded from every figure
    warmup: float | None = None
    #: per-request timeout in seconds
    timeout: float | None = None
    #: closed-loop think time in seconds (siege -d)
    delay: float | None = None
    #: send Connection: close on every request
    no_keepalive: bool = False
    #: workload names (first is the one for --workload)
    workloads: list[str] = field(default_factory=list)
    #: bytes of the stream workload's answer (None: workloads.DEFAULT_STREAM_SIZE)
    stream_size: int | None = None
    #: where the database workloads read (None: sqlite)
    database: str | None = None
    #: backend ids to run
    backends: list[str] = field(default_factory=list)
    #: run every backend of the catalog (or those in --backends)
    run_all: bool = False
    #: runs per backend; the report gives the median and the spread
    repeat: int = 1
    #: worker processes per backend
    workers: int | None = None
    #: threads per worker
    threads: int | None = None
    #: CPUs the servers are pinned to
    server_cpus: tuple[int, ...] | None = None
    #: CPUs the loader processes are pinned to
    loader_cpus: tuple[int, ...] | None = None
    #: loader processes
    loader_procs: int | None = None
    #: the user's WSGI app, "module:callable"
    app: str | None = None
    #: request path (with --app or --url; default: the workload's path or "/")
    path: str | None = None
    #: load an already-running server at this URL
    url: str | None = None
    #: allow a --url that is not on loopback
    allow_remote: bool = False
    #: export formats, in the order asked
    exports: list[str] = field(default_factory=list)
    #: where to write the export(s); None = stdout
    output: str | None = None
    #: public port of the (single) backend
    port: int | None = None
    #: most seconds to wait between runs for the previous port's sockets to drain
    settle_max: float | None = None
    #: the app's screen refreshes per second (None: 4)
    refresh_hz: float | None = None
    #: the app's colours: "dark" or "light" (None: dark)
    theme: str | None = None
    #: write these options to a TOML scenario file and exit
    save_config: str | None = None
    #: print the backend catalog and exit
    list_backends: bool = False
    #: with --list-backends: JSON instead of a table
    json: bool = False
    #: the config file these options came from (if any)
    config: str | None = None
    #: search each run's capacity at the SLO (open-loop steps)
    find_capacity: bool = False
    #: the SLO of --find-capacity/--rates (None: capacity.DEFAULT_SLO)
    slo: Slo | None = None
    #: a fixed ladder of open-loop rates, req/s (the same x-axis for every backend)
    rates: tuple[float, ...] | None = None
    #: measured seconds per capacity step
    step_duration: float | None = None
    #: most steps of a capacity search
    max_steps: int | None = None
    #: measured seconds of the run that confirms a search's capacity (0: none)
    confirm: float | None = None
    #: --fail-if thresholds: a run that breaks one makes the exit code 3
    fail_if: list[Threshold] = field(default_factory=list)
    #: an earlier JSON report: change columns in md/html, *_change thresholds
    baseline: str | None = None
    #: request method with --app/--url (None: GET, or POST with a body)
    method: str | None = None
    #: extra request headers, (name, value) in the order given
    headers: list[tuple[str, str]] = field(default_factory=list)
    #: request body as text (--body)
    body: str | None = None
    #: file whose bytes are the request body (--body-file), read while planning
    body_file: str | None = None
    #: runs read from saved JSON reports (--open), each labelled with its file (RunResult.source)
    open_reports: tuple[RunResult, ...] = ()
    #: the saved reports' created/machine/load (the first's, when all say the same load), for export
    open_meta: dict[str, Any] | None = None
    #: the --open paths, in the order given
    open_files: list[str] = field(default_factory=list)
    #: serve the app to a browser (textual-serve) instead of opening it here
    serve: bool = False
    #: address the browser server binds (None: wsgicompare.front.serve.DEFAULT_HOST)
    serve_host: str | None = None
    #: port the browser server binds (None: wsgicompare.front.serve.DEFAULT_PORT)
    serve_port: int | None = None
    #: seconds a tab's app has to quit before it is signalled (None: wsgicompare.front.serve.QUIT_S)
    serve_grace: float | None = None
    #: tabs open at once (None: wsgicompare.settings.serve_options.DEFAULT_MAX_TABS)
    serve_max_tabs: int | None = None
    #: timed events, one run per (backend, scenario) (wsgicompare/engine/scenarios.py)
    scenarios: tuple[str, ...] = ()
    #: seconds into the measured load when the scenario's event fires (None: a third of -d)
    event_at: float | None = None
    #: slow-clients: the trickling connections (None: max(4, 2 × workers))
    slow_clients: int | None = None
    #: a Ray cluster's address (HOST:PORT, ray://HOST:PORT or auto): the loaders on its nodes
    cluster: str | None = None
    #: with --cluster: start the backends on this node (its IP or node id)
    server_node: str | None = None

    @property
    def headless(self) -> bool:
        return bool(self.backends or self.run_all or self.url or self.recommend)

    @property
    def workload(self) -> str | None:
        return self.workloads[0] if self.workloads else None

    @property
    def output_dir(self) -> str:
        """For the TUI's exports and screenshots."""
        if self.output and os.path.isdir(self.output):
            return self.output
        return os.path.dirname(os.path.abspath(self.output)) if self.output else "."


# -- argparse --------------------------------------------------------------------------


#: max size of a config file: a scenario is a few lines, anything huge is a mistake
MAX_CONFIG_BYTES = 64 * 1024


def read_config(path: str) -> dict[str, Any]:
    """A TOML scenario: a flat table of option names (dashes or underscores) → values."""
    try:
        # a FIFO would block the read and /dev/zero would never end it: regular files only
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise OptionError(f"--config {path}: not a regular file")
        size = os.path.getsize(path)
        if size > MAX_CONFIG_BYTES:
            raise OptionError(f"--config {path}: {size} bytes is too big for a scenario file (max {MAX_CONFIG_BYTES})")
        with open(path, "rb") as f:
            raw = f.read(MAX_CONFIG_BYTES + 1)  # bounded even if the file grew since the stat
        if len(raw) > MAX_CONFIG_BYTES:
            raise OptionError(f"--config {path}: too big for a scenario file (max {MAX_CONFIG_BYTES} bytes)")
        data = tomllib.loads(raw.decode("utf-8"))
    except OptionError:
        raise
    except tomllib.TOMLDecodeError as exc:
        raise OptionError(f"--config {path}: not valid TOML: {str(exc).splitlines()[0]}") from None
    except UnicodeDecodeError:
        raise OptionError(f"--config {path}: not valid TOML: not UTF-8 text") from None
    except OSError as exc:
        raise OptionError(f"--config {path}: cannot read it: {exc.strerror or exc}") from None
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("_", "-")
        if name not in CONFIG_KEYS:
            raise OptionError(f"--config {path}: unknown option {key!r} (known: {', '.join(CONFIG_KEYS)})")
        if isinstance(value, dict):
            raise OptionError(f"--config {path}: {key!r} must be a value, not a table")
        out[name] = value
    return out


def parse_options(argv: list[str] | None) -> Options:
    """argv (without the program name) → checked Options. Raises OptionError."""
    namespace = build_parser().parse_args(argv)
    given: dict[str, Any] = {}
    config_path = getattr(namespace, "config", None)
    if config_path is not None:
        given.update(read_config(config_path))
    for row in OPTIONS:
        name = row.name
        value = getattr(namespace, name.replace("-", "_"))
        if value is None or name == "config":
            continue
        given[name] = value  # the command line wins over the file
    options = Options(config=config_path)
    # --backend/--backends and --workload/--workloads fill the same field: both given is a contradiction
    for one, many in (("backend", "backends"), ("workload", "workloads")):
        if one in given and many in given:
            raise OptionError(f"give --{one} or --{many}, not both")
    for name, value in given.items():
        attr, converted = convert(name, value)  # by the option's row: its converter and range
        setattr(options, attr, converted)
    check_combinations(options)
    return options


def check_combinations(o: Options) -> None:
    """Options that are fine alone but not together."""
    if o.url and (o.backends or o.run_all):
        raise OptionError(
            "--url loads a server that is already running; it cannot be combined with --backend/--run-all"
        )
    if o.url and (o.app or o.port or o.workers or o.threads or o.server_cpus):
        raise OptionError("--url starts no server: --app, --port, --workers, --threads and --server-cpus do not apply")
    if o.url and o.workloads:
        raise OptionError("--url gives the path itself: --workload does not apply")
    if o.allow_remote and not (o.url or o.serve or o.server_node):
        raise OptionError("--allow-remote only applies to --url, --serve or --server-node")
    checks.check_cluster(o)
    check_app_options(o)
    if len(o.backends) > 1 and not o.run_all and o.port is not None:
        raise OptionError("--port works with one backend only (several would fight for it)")
    if o.run_all and o.port is not None and len(o.backends) != 1:
        raise OptionError("--port works with one backend only (several would fight for it)")
    if o.json and not o.list_backends:
        raise OptionError("--json goes with --list-backends (use --export json for results)")
    if o.path and not (o.app or o.url):
        raise OptionError("--path applies to --app (your app's path) or --url; the bundled workloads have their own")
    if o.app and o.workloads:
        raise OptionError("--app serves your own app: use --path instead of --workload")
    check_request_options(o)
    workload_options.check(o)
    if o.exports and not o.headless and not (o.list_backends or o.save_config):
        raise OptionError("--export needs something to run: --backend ID, --run-all or --url (in the app, press e)")
    if o.exports and len(o.exports) > 1 and not o.output:
        raise OptionError("several --export formats need -o/--output (a directory or a file name to derive from)")
    if o.output and not o.exports:
        o.exports = [format_from_suffix(o.output)]
    checks.check_capacity(o)
    checks.check_thresholds(o)
    checks.check_scenario(o)
    checks.check_arrivals(o)
    check_recommend(o)
