"""What to run: one immutable ``RunSpec`` per (backend, workload), plus the defaults
every front end (CLI, config file, TUI) derives its specs from, so the screen and a
headless report use the same budget when nobody overrides it."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wsgicompare.backends import DB_WORKLOADS, WORKLOADS, ServerConfig, available_cpus, stream_workload
from wsgicompare.engine.capacity import (
    DEFAULT_CONFIRM_S,
    DEFAULT_MAX_STEPS,
    DEFAULT_SLO,
    DEFAULT_STEP_S,
    STEP_WARMUP_S,
    CapacityPlan,
    parse_slo,
)
from wsgicompare.engine.request import request_fields
from wsgicompare.loader import LoadProfile

if TYPE_CHECKING:
    # settings/options.py imports this module (through settings/checks.py): a run-time import here
    # would be circular; engine/scenarios.py is imported where a plan has scenarios (plan_specs)
    from wsgicompare.engine.scenarios import ScenarioPlan
    from wsgicompare.settings.options import Options

#: backend id used for ``--url`` runs: a server that is already running, nothing is started
URL_BACKEND = "url"

#: the URL a profile carries until the conductor knows the server's address
PLACEHOLDER_URL = "http://127.0.0.1:1/"

DEFAULT_CONCURRENCY = 64
DEFAULT_DURATION_S = 10.0
DEFAULT_WARMUP_S = 1.0
DEFAULT_WORKLOAD = "hello"
#: most seconds to wait between runs for the previous port's sockets to drain (--settle-max)
DEFAULT_SETTLE_MAX_S = 10.0
#: threads per worker for backends that use threads (flask-threaded, gunicorn-gthread,
#: waitress, uwsgi); 4 is gunicorn's own suggestion for gthread and keeps a
#: 2-core machine from drowning in context switches
DEFAULT_THREADS = 4


@dataclass(frozen=True)
class RunSpec:
    """One run: which backend serves which workload under which load.
    ``load.url`` is a placeholder the conductor replaces with the server's URL plus the
    workload's path (except for ``--url`` runs, where it is the user's URL as given)."""

    #: backend id from the catalog, or ``URL_BACKEND`` for an already-running server
    backend: str
    #: workload name (``hello``, ``json``, ``cpu``, ``io``, ``bytes``), or the user's path with ``--app``/``--url``
    workload: str
    #: the load to send; its url is replaced at run time
    load: LoadProfile
    #: how the backend is started (workers, threads, CPUs, port, app)
    server: ServerConfig | None
    #: runs of the same spec; the result reports the median and the spread
    repeat: int = 1
    #: request path on the server; None = the workload's own path
    path: str | None = None
    #: find the capacity at an SLO, or run a fixed ladder of rates (None: one load)
    capacity: CapacityPlan | None = None
    #: a timed event inside the run (wsgicompare/engine/scenarios.py; None: a steady load)
    scenario: ScenarioPlan | None = None

    @property
    def is_url(self) -> bool:
        return self.backend == URL_BACKEND


def pin_to_loader_cpus(loader_cpus: tuple[int, ...]) -> None:
    """Run wsgicompare's own threads (conductor, progress, the app's UI) on the loader
    CPUs. Left free to roam, the scheduler puts them on the server's CPU too, and what
    they burn there is taken from the server being measured; on the loader's CPU it
    is a known share next to a loader that reports its own saturation. Undo with
    ``unpin()`` (the CLI does when a run ends: it may be called as a library)."""
    cpus = set(loader_cpus) & set(available_cpus())
    if cpus and cpus != set(available_cpus()):
        _pin_threads(cpus)


def unpin() -> None:
    """Give every thread of this process back every CPU it started with."""
    _pin_threads(set(available_cpus()))


def _pin_threads(cpus: set[int]) -> None:
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:
        threads = [0]
    for tid in threads:  # sched_setaffinity pins one thread: pin every one there is
        try:
            os.sched_setaffinity(tid, cpus)
        except OSError:
            pass


def default_cpus(cpus: tuple[int, ...] | None = None, loader_procs: int = 1) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(loader CPUs, server CPUs): a CPU per loader process, from the first, but never
    more than half of them, the rest for the server, so the two never fight for a core
    and the server keeps at least as many as the loader; with one CPU nothing is
    pinned. More processes than loader CPUs share them (see ``shared_loader_cpus``)."""
    cpus = available_cpus() if cpus is None else cpus
    if len(cpus) < 2:
        return (), ()
    n = max(1, min(loader_procs, len(cpus) // 2))
    return tuple(cpus[:n]), tuple(cpus[n:])


def cpu_split(
    loader: tuple[int, ...] | None,
    server: tuple[int, ...] | None,
    loader_procs: int = 1,
    cpus: tuple[int, ...] | None = None,
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(loader CPUs, server CPUs) from what the user gave (None: not given). Given CPUs
    win; a side not given gets the CPUs the other side left (the loader one per
    process); neither given: ``default_cpus``."""
    cpus = available_cpus() if cpus is None else cpus
    if loader is None and server is None:
        return default_cpus(cpus, loader_procs)
    if loader is None:
        assert server is not None
        rest = tuple(c for c in cpus if c not in server)
        return rest[: max(1, loader_procs)], server
    if server is None:
        return loader, tuple(c for c in cpus if c not in loader)
    return loader, server


def shared_loader_cpus(loader_procs: int, loader_cpus: tuple[int, ...]) -> str | None:
    """A warning when loader processes outnumber their CPUs: they then take turns on a
    core, and a process more adds no sending power (None when each has its own)."""
    cpus = loader_cpus or available_cpus()
    if loader_procs <= len(cpus):
        return None
    where = ("CPU " if len(cpus) == 1 else "CPUs ") + ",".join(str(c) for c in cpus)
    return (
        f"{loader_procs} loader processes share {len(cpus)} loader CPU{'s' if len(cpus) != 1 else ''} ({where}): "
        f"they take turns on a core; give --loader-cpus (and --server-cpus) for more, or fewer --loader-procs"
    )


def checked_specs(o: Options, backends: Sequence[str]) -> list[RunSpec]:
    """The one checked plan of both front ends (the CLI's ``make_plan``, the app's
    ``Session.check``): ``plan_specs``, then its load checked once, before anything starts:
    LoadProfile's own validation (loopback for --url included), the open-file rule and the
    rate rule of the loader processes (``LoadProfile.check_limits``). LoadProfileError: one line."""
    specs = plan_specs(o, backends)
    load = specs[0].load
    load.validate()
    load.check_limits()
    return specs


def default_server_config(
    *,
    workers: int | None = None,
    threads: int | None = None,
    server_cpus: tuple[int, ...] | None = None,
    port: int | None = None,
    app: str | None = None,
) -> ServerConfig:
    """The same worker budget for every backend: one worker per server CPU unless told."""
    if server_cpus is None:
        server_cpus = default_cpus()[1]
    if workers is None:
        workers = max(1, len(server_cpus) or len(available_cpus()))
    return ServerConfig(
        workers=workers,
        threads=DEFAULT_THREADS if threads is None else threads,
        cpus=tuple(server_cpus),
        port=port,
        app=app,
    )


def default_load(**overrides: Any) -> LoadProfile:
    """The default load (c=64, 10 s, 1 s warm-up, loader pinned to CPU 0 on 2+ CPUs);
    keyword arguments override LoadProfile fields."""
    fields = dict(
        url=PLACEHOLDER_URL,
        concurrency=DEFAULT_CONCURRENCY,
        duration_s=DEFAULT_DURATION_S,
        warmup_s=DEFAULT_WARMUP_S,
        cpus=default_cpus()[0],
    )
    fields.update(overrides)
    return LoadProfile(**fields)


def default_spec(
    backend: str,
    workload: str = DEFAULT_WORKLOAD,
    *,
    load: LoadProfile | None = None,
    server: ServerConfig | None = None,
    repeat: int = 1,
    path: str | None = None,
) -> RunSpec:
    """A spec with every default filled in; the TUI calls this when the user presses start.
    A bundled workload that sends a body (upload) sets the load's method and body."""
    load = load if load is not None else default_load()
    request = WORKLOADS.get(workload) if path is None and backend != URL_BACKEND else None
    if request is not None and request.body:
        load = replace(load, method=request.method, body=request.body)
    return RunSpec(
        backend=backend,
        workload=workload,
        load=load,
        server=server if server is not None else (None if backend == URL_BACKEND else default_server_config()),
        repeat=repeat,
        path=path,
    )


def url_spec(url: str, *, load: LoadProfile | None = None, repeat: int = 1) -> RunSpec:
    """A spec that loads an already-running server at ``url`` (``--url``)."""
    load = replace(load if load is not None else default_load(), url=url)
    path = urlsplit(url).path or "/"
    return RunSpec(backend=URL_BACKEND, workload=path, load=load, server=None, repeat=repeat, path=path)


def matrix(
    backends: list[str],
    workloads: list[str],
    *,
    load: LoadProfile | None = None,
    server: ServerConfig | None = None,
    repeat: int = 1,
    path: str | None = None,
) -> list[RunSpec]:
    """Every backend × workload, backend-major (all workloads of one backend run together)."""
    return [default_spec(b, w, load=load, server=server, repeat=repeat, path=path) for b in backends for w in workloads]


def plan_specs(o: Options, backends: Sequence[str]) -> list[RunSpec]:
    """The runs ``o`` asks for, every default filled in: one spec per backend × workload,
    or the one ``--url`` spec (``backends`` unused). The one place where options become
    a LoadProfile and RunSpecs, for the CLI's plan and the app's form alike (the app
    hands in its form's values as Options). Builds only: checking is the caller's."""
    procs = o.loader_procs or 1
    loader_cpus, server_cpus = cpu_split(o.loader_cpus, o.server_cpus, procs)
    duration = o.duration
    if duration is None and o.requests is None and o.reps is None:
        duration = DEFAULT_DURATION_S
    arrivals, seed = arrivals_of(o), o.seed
    if seed is None and arrivals == "poisson":
        seed = secrets.randbelow(2**32)  # one for every run of the plan (the report's load says which)
    load = LoadProfile(
        url=o.url or PLACEHOLDER_URL,
        concurrency=o.concurrency or DEFAULT_CONCURRENCY,
        duration_s=duration,
        requests=o.requests,
        reps=o.reps,
        rate=o.rate,
        delay_s=o.delay or 0.0,
        warmup_s=DEFAULT_WARMUP_S if o.warmup is None else o.warmup,
        timeout_s=LoadProfile.timeout_s if o.timeout is None else o.timeout,  # the loader's own default
        keepalive=not o.no_keepalive,
        procs=procs,
        cpus=loader_cpus,
        allow_remote=o.allow_remote,
        arrivals=arrivals,
        seed=seed,
        **request_fields(o),  # method, headers, body (--body-file read here)
    )
    capacity = capacity_plan(o)
    if o.url:
        spec = replace(url_spec(o.url, load=load, repeat=o.repeat), capacity=capacity)
        return [replace(spec, path=o.path) if o.path else spec]
    server = default_server_config(
        workers=o.workers, threads=o.threads, server_cpus=server_cpus, port=o.port, app=o.app
    )
    if o.app:
        # the user's app knows nothing of the bundled workloads: a run is named by its path
        path = o.path or "/"
        specs = matrix(list(backends), [path], load=load, server=server, repeat=o.repeat, path=path)
    else:
        workloads = list(o.workloads) or [DEFAULT_WORKLOAD]
        specs = matrix(list(backends), workloads, load=load, server=server, repeat=o.repeat)
        if o.stream_size is not None:  # stream's path asks the app for that size (and its check expects it)
            sized = stream_workload(o.stream_size).path
            specs = [replace(s, path=sized) if s.workload == "stream" else s for s in specs]
        if o.database:  # only the runs that read it start it (a hello run next to db starts no PostgreSQL)
            on = replace(server, database=o.database)
            specs = [replace(s, server=on) if s.workload in DB_WORKLOADS else s for s in specs]
    if o.scenarios:  # one run per (backend, scenario), backend-major
        # imported at use: engine/scenarios.py costs ~9 ms of every start (--help included), only --scenario needs it
        from wsgicompare.engine.scenarios import ScenarioPlan, default_event_at

        at = o.event_at if o.event_at is not None else default_event_at(duration or DEFAULT_DURATION_S)
        return [
            replace(s, scenario=ScenarioPlan(name, at, slow_clients=o.slow_clients, stream_size=o.stream_size))
            for s in specs
            for name in o.scenarios
        ]
    return [replace(spec, capacity=capacity) for spec in specs] if capacity else specs


def step_warmup_of(o: Options) -> float:
    """Each capacity step's warm-up: --warmup when given (a server that needs longer to warm,
    or a quick look that needs less), the search's own second otherwise."""
    return STEP_WARMUP_S if o.warmup is None else o.warmup


def arrivals_of(o: Options) -> str:
    """The open loop's arrivals: --arrivals, else Poisson for a capacity search or ladder
    (independent users: queueing shows before saturation) and uniform for --rate (wrk2, k6)."""
    return o.arrivals or ("poisson" if o.find_capacity or o.rates else "uniform")


def capacity_plan(o: Options) -> CapacityPlan | None:
    """The capacity search (--find-capacity) or ladder (--rates) ``o`` asks for, if any."""
    if not (o.find_capacity or o.rates):
        return None
    return CapacityPlan(
        slo=o.slo or parse_slo(DEFAULT_SLO),
        rates=o.rates or (),
        step_s=o.step_duration or DEFAULT_STEP_S,
        max_steps=o.max_steps or DEFAULT_MAX_STEPS,
        confirm_s=DEFAULT_CONFIRM_S if o.confirm is None else o.confirm,
        concurrency=o.concurrency,
        arrivals=arrivals_of(o),
        step_warmup_s=step_warmup_of(o),
    )
