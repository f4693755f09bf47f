"""The one face the terminal app talks to: everything the app does that is not drawing.

The app (``wsgicompare.tui``) imports neither ``wsgicompare.backends`` nor
``wsgicompare.loader``; what it needs of them goes through a ``Session``: the catalog
rows and workload names, a backend started and stopped by hand outside a run (and
the pool of those servers), the runs planned from the form (through
``runspec.plan_specs``, as the CLI plans its runs), the runs themselves, and every
finished result with the spec it ran with, for export.

No Textual here. Blocking work runs on the session's own threads, which report
through callbacks called on those threads (the app turns each into a message:
``post_message`` is thread-safe); ``stop_everything`` joins them. Tests drive a
Session directly, with real servers."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from wsgicompare.backends import WORKLOADS, Server, ServerConfig, catalog_rows, get_backend
from wsgicompare.engine.capacity import DEFAULT_SLO, Step, parse_slo
from wsgicompare.engine.capacity import CapacityError as CapacityError
from wsgicompare.engine.capacity import Outcome as Outcome
from wsgicompare.engine.capacity import bound_text as bound_text
from wsgicompare.engine.capacity import capacity_figure as capacity_figure
from wsgicompare.engine.capacity import capacity_text as capacity_text
from wsgicompare.engine.conductor import Conductor
from wsgicompare.engine.runspec import (
    DEFAULT_CONCURRENCY,
    DEFAULT_DURATION_S,
    DEFAULT_WARMUP_S,
    DEFAULT_WORKLOAD,
    URL_BACKEND,
    RunSpec,
    checked_specs,
    cpu_split,
    default_server_config,
    plan_specs,
)
from wsgicompare.engine.scenarios import SCENARIOS as SCENARIOS
from wsgicompare.engine.scenarios import parse_scenarios as parse_scenarios
from wsgicompare.loader import LoadProfileError

# the app (tui/) reaches the engine through this module and results.py only (tests/test_layers.py):
# what it reads beside the session (the names imported ``as`` themselves) is re-exported here
from wsgicompare.reporting import export
from wsgicompare.reporting.export.ranking import best_runs as best_runs
from wsgicompare.reporting.export.ranking import by_capacity as by_capacity
from wsgicompare.reporting.export.ranking import capacity_rps as capacity_rps
from wsgicompare.reporting.export.ranking import ordered as ordered
from wsgicompare.reporting.recommend.campaign import Campaign

# the answer's sentences and tables, as the reports say them (the app's recommend screen)
from wsgicompare.reporting.recommend.report import RANKED_HEADERS as RANKED_HEADERS
from wsgicompare.reporting.recommend.report import heading as heading
from wsgicompare.reporting.recommend.report import pick_why as pick_why
from wsgicompare.reporting.recommend.report import ranked_rows as ranked_rows
from wsgicompare.reporting.recommend.report import rejected_rows as rejected_rows
from wsgicompare.reporting.recommend.run import Stage as Stage
from wsgicompare.reporting.saved import saved_line as saved_line
from wsgicompare.reporting.scorecard import scorecard as scorecard
from wsgicompare.results import RunResult, Tick

# the form's fields (LoadSettings field → its option's row) and the screen's own limits and defaults
from wsgicompare.settings.form import FieldError as FieldError
from wsgicompare.settings.form import LoadSettings as LoadSettings
from wsgicompare.settings.form import SettingsError as SettingsError
from wsgicompare.settings.form import parse_form_field as parse_form_field
from wsgicompare.settings.option_table import DEFAULT_REFRESH_HZ as DEFAULT_REFRESH_HZ
from wsgicompare.settings.option_table import DEFAULT_THEME as DEFAULT_THEME
from wsgicompare.settings.option_table import FORM_OPTIONS as FORM_OPTIONS
from wsgicompare.settings.option_table import MAX_REFRESH_HZ as MAX_REFRESH_HZ
from wsgicompare.settings.option_table import MIN_REFRESH_HZ as MIN_REFRESH_HZ
from wsgicompare.settings.options import Options
from wsgicompare.settings.recommend_options import candidates, settings_of
from wsgicompare.signals import set_from_signal_handler

#: (backend id, state, detail): a backend the session started or stopped changed state.
#: state is "ready" (detail: "URL in N s"), "stopping", "stopped" or "failed" (detail: why, one line)
OnState = Callable[[str, str, str], object]

#: (backend id, step): one step of a capacity search or ladder ended
OnStep = Callable[[str, Step], object]

#: most seconds a run waits for the starts and stops by hand still in flight
SETTLE_OPS_S = 60.0


@dataclass(frozen=True)
class Exported:
    """Where an export went."""

    #: absolute path of the file written
    path: str
    #: finished runs left out because they ran with other load settings than the latest
    left_out: int


def one_line(exc: BaseException) -> str:
    """An exception as one line for the screen."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _ran(spec: RunSpec, result: RunResult) -> bool:
    """``result`` is a run of ``spec`` (a backend has one spec per scenario)."""
    scenario = spec.scenario.name if spec.scenario is not None else None
    return spec.backend == result.backend and scenario == ((result.scenario.name if result.scenario else "") or None)


class Session:
    """Backends by hand, runs and results for one app session (see the module's doc)."""

    def __init__(
        self,
        options: Options | None = None,
        *,
        catalog: list[dict[str, Any]] | None = None,
        conductor: Conductor | None = None,
        results: Iterable[RunResult] = (),
        on_state: OnState | None = None,
    ) -> None:
        """``options``: the command line's (None: every default). ``catalog`` and
        ``results`` hand in fixed data (snapshot tests, screenshots); ``conductor``
        replaces the real one; ``on_state`` hears of every backend it starts or stops."""
        given = options if options is not None else Options()
        loader_cpus, server_cpus = cpu_split(given.loader_cpus, given.server_cpus, given.loader_procs or 1)
        #: the command line's options, with the CPU split settled once for the whole session
        self.options = replace(given, loader_cpus=loader_cpus, server_cpus=server_cpus)
        #: workload names the form offers
        self.workloads: tuple[str, ...] = tuple(WORKLOADS)
        #: every finished run, in order (handed-in ones first)
        self.results: list[RunResult] = list(results)
        settle = self.options.settle_max
        if conductor is None:
            conductor = Conductor() if settle is None else Conductor(settle_max_s=settle)
        self.conductor = conductor
        self._catalog = catalog
        self._on_state: OnState = on_state or (lambda backend, state, detail: None)
        #: the spec each entry of ``results`` ran with (None: handed in, not run here)
        self._result_specs: list[RunSpec | None] = [None] * len(self.results)
        #: the specs of the latest run
        self._last_specs: list[RunSpec] = []
        self._lock = threading.Lock()
        #: signalled whenever a start or stop by hand ends (uses _lock)
        self._settled = threading.Condition(self._lock)
        #: servers started by hand (not by a run), by backend id
        self._servers: dict[str, Server] = {}
        #: starts and stops by hand not finished yet; a run waits for them
        self._pending_ops = 0
        #: the session's threads still running (joined by stop_everything)
        self._threads: set[threading.Thread] = set()
        self._running = False
        #: set to end the current run early
        self._cancel = threading.Event()
        #: set once, by stop_everything: also ends a start still waiting for its server
        self._closing = threading.Event()

    # -- what the form offers and builds ---------------------------------------------

    def catalog_rows(self) -> list[dict[str, Any]]:
        """One row per backend: id title family seed available missing hint workloads."""
        return list(self._catalog) if self._catalog is not None else catalog_rows()

    @property
    def initial_settings(self) -> LoadSettings:
        """The form's first values: what the command line gave, defaults for the rest."""
        o = self.options
        server = default_server_config(workers=o.workers, threads=o.threads, server_cpus=o.server_cpus)
        ended_by_count = o.requests is not None or o.reps is not None
        return LoadSettings(
            concurrency=o.concurrency or DEFAULT_CONCURRENCY,
            duration_s=o.duration if o.duration is not None or ended_by_count else DEFAULT_DURATION_S,
            requests=o.requests,
            reps=o.reps,
            rate=o.rate,
            keepalive=not o.no_keepalive,
            warmup_s=DEFAULT_WARMUP_S if o.warmup is None else o.warmup,
            workload=o.workload or DEFAULT_WORKLOAD,
            workers=server.workers,
            threads=server.threads,
            slo=o.slo or parse_slo(DEFAULT_SLO),
            find_capacity=o.find_capacity or bool(o.rates),
            scenarios=tuple(o.scenarios),
            event_at_s=o.event_at,
        )

    @property
    def app_path(self) -> str | None:
        """The path loaded on the user's app (as the CLI: --path or "/"); None without
        --app, where the workload names the path."""
        return (self.options.path or "/") if self.options.app else None

    def plan(self, settings: LoadSettings, backends: Sequence[str], capacity: bool | None = None) -> list[RunSpec]:
        """One spec per backend for these settings, built by the same function as the
        CLI's runs, with the options the form does not show taken from the command line.
        ``capacity`` (default: ``settings.find_capacity``) makes each spec a capacity search
        at ``settings.slo`` (a ladder when the command line gave --rates): the steps choose
        their rates and lengths, so the form's rate and stop rule do not apply, and the
        connections are sized from the rate and the SLO unless the command line gave -c.
        ``settings.scenarios`` make one run per (backend, scenario), as --scenario does;
        a capacity search has no scenario (check refuses the two together in the form)."""
        return plan_specs(self._options(settings, capacity), backends)

    def _options(self, settings: LoadSettings, capacity: bool | None = None) -> Options:
        """The command line's options with the form's settings in place (see ``plan``)."""
        if capacity is None:
            capacity = settings.find_capacity
        o = replace(
            self.options,
            concurrency=settings.concurrency,
            duration=settings.duration_s,
            requests=settings.requests,
            reps=settings.reps,
            rate=settings.rate,
            warmup=settings.warmup_s,
            no_keepalive=not settings.keepalive,
            workloads=[settings.workload],
            workers=settings.workers,
            threads=settings.threads,
            # the app has always run each spec once: --repeat is for headless runs
            repeat=1,
            find_capacity=False,
            rates=None,
            scenarios=() if capacity else settings.scenarios,
            event_at=None if capacity else settings.event_at_s,
        )
        if capacity:
            given = self.options
            o = replace(
                o,
                find_capacity=not given.rates,
                rates=given.rates,
                slo=settings.slo,
                rate=None,
                requests=None,
                reps=None,
                # the probe runs closed-loop for the form's duration-less steps; the
                # steps' connections are sized from the SLO unless -c was given
                concurrency=given.concurrency,
            )
        return o

    def check(self, settings: LoadSettings) -> None:
        """Let the loader's own validation have the last word: SettingsError (one line).
        A scenario's rules first (the CLI's check_scenario, in the form's words)."""
        if settings.scenarios:
            if settings.find_capacity:
                raise SettingsError("a scenario is one timed run: untick capacity")
            if settings.requests is not None or settings.reps is not None:
                raise SettingsError("a scenario's phases are timed: clear requests and reps")
            if settings.duration_s is None:
                raise SettingsError("a scenario needs a duration")
            if settings.event_at_s is not None and settings.event_at_s >= settings.duration_s:
                raise SettingsError(
                    f"the event at {settings.event_at_s:g} s is outside the run: give less than the duration"
                )
        elif settings.event_at_s is not None:
            raise SettingsError("an event time goes with a scenario")
        try:
            # the CLI's one checked plan (runspec.checked_specs): the same refusals, word for word
            checked_specs(self._options(settings, capacity=False), [URL_BACKEND])
        except LoadProfileError as exc:
            raise SettingsError(str(exc)) from None

    def _any_spec(self, settings: LoadSettings) -> RunSpec:
        return self.plan(settings, [URL_BACKEND])[0]

    # -- backends by hand -------------------------------------------------------------

    @property
    def servers(self) -> dict[str, Server]:
        """The servers started by hand and running now, by backend id (a copy)."""
        with self._lock:
            return dict(self._servers)

    @property
    def pending_ops(self) -> int:
        """Starts and stops by hand still in flight."""
        with self._lock:
            return self._pending_ops

    def start(self, backend: str, settings: LoadSettings) -> None:
        """Start ``backend`` outside a run, on a thread of the session; returns at once.
        on_state then says "ready" or "failed"; a start that ends during a run, or after
        stop_everything, stops its server again (and says "stopped" unless closing)."""
        server = self.plan(settings, [backend])[0].server
        assert server is not None  # only a --url spec has none, and the app makes none
        self._server_op(self._start, backend, server)

    def stop(self, backend: str) -> None:
        """Stop a server started by hand, on a thread of the session; returns at once.
        on_state then says "stopped" (or "failed" with why)."""
        self._server_op(self._stop, backend)

    def _server_op(self, work: Callable[..., None], *args: Any) -> None:
        def op() -> None:
            try:
                work(*args)
            finally:
                with self._lock:
                    self._pending_ops -= 1
                    self._settled.notify_all()

        with self._lock:
            # counted before its thread runs, so a run begun right after already waits for it
            self._pending_ops += 1
        self._spawn(op, f"wsgicompare-{work.__name__.strip('_')}-{args[0]}")

    def _start(self, backend: str, config: ServerConfig) -> None:
        try:
            # closing cancels a slow start at once instead of waiting out its ready timeout
            # where the conductor starts its backends: here, or on --server-node's node
            server = self.conductor.servers.start(
                get_backend(backend), config, self.conductor.ready_timeout_s, self._closing
            )
            with self._lock:
                # a run began, or stop_everything ran, while this backend was starting:
                # the run stops servers by hand first, and this one came too late for that
                keep = not (self._running or self._closing.is_set())
                if keep:
                    self._servers[backend] = server
            if not keep:
                server.stop()
                if not self._closing.is_set():
                    self._on_state(backend, "stopped", "")
                return
            self._on_state(backend, "ready", f"{server.url} in {server.startup_s:.2f} s")
        except Exception as exc:  # shown as the backend's state, never raised into the app
            self._on_state(backend, "failed", one_line(exc))

    def _stop(self, backend: str) -> None:
        try:
            with self._lock:
                server = self._servers.pop(backend, None)
            if server is not None:
                server.stop()
            self._on_state(backend, "stopped", "")
        except Exception as exc:
            self._on_state(backend, "failed", f"stop: {one_line(exc)}")

    # -- runs -------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        """stop_everything has begun: nothing new starts."""
        return self._closing.is_set()

    @property
    def running(self) -> bool:
        with self._lock:
            return self._running

    def run(
        self,
        specs: Sequence[RunSpec],
        *,
        on_tick: Callable[[Tick], None],
        on_result: Callable[[RunResult], object],
        on_end: Callable[[str], object],
        on_step: OnStep | None = None,
    ) -> None:
        """Run ``specs`` with the conductor on a thread of the session; returns at once.
        A server started by hand for one of these backends is stopped first (the
        conductor starts its own), once the starts and stops in flight have ended.
        Called on the run's thread: ``on_tick`` with every Tick, ``on_result`` with each
        finished result (already in ``results``), ``on_end`` with "" or the one-line
        error once the run is over; ``on_step`` with (backend, Step) as each step of a
        capacity search ends. RuntimeError when a run is going or the session closed."""
        self._start_run(specs, lambda cancel: self._run(list(specs), cancel, on_tick, on_result, on_end, on_step))

    def _start_run(
        self, specs: Sequence[RunSpec], work: Callable[[threading.Event], None], exported: bool = True
    ) -> threading.Event:
        with self._lock:
            if self._running or self._closing.is_set():
                raise RuntimeError("a run is going" if self._running else "the session is closed")
            self._running = True
            self._cancel = threading.Event()
            if exported:  # a recommend run's results are its answer's, not the export's
                self._last_specs = list(specs)
            cancel = self._cancel
        self._spawn(lambda: work(cancel), "wsgicompare-run")
        return cancel

    def recommend(
        self,
        settings: LoadSettings,
        backends: Sequence[str] = (),
        *,
        on_stage: Callable[[Stage], object],
        on_backend: Callable[[dict[str, Any]], object],
        on_end: Callable[[dict[str, Any], str], object],
    ) -> tuple[list[str], str]:
        """--recommend over ``backends`` (none: every candidate, settings/recommend_options.py) for the form's workload and SLO, the rest (sweep, budget, required
        scenarios, step lengths) as the command line says; on a thread of the session, as
        ``run``; returns at once: the backends, and what they are held to in words. ``on_stage`` hears of each stage as it begins
        and ends, ``on_backend`` gets the answer so far after each backend, ``on_end`` the
        answer (partial when cancel_run stopped it) and "" or the one-line error."""
        o = replace(self.options, slo=settings.slo, workloads=[settings.workload], recommend=True)
        names = list(backends or candidates(o))
        if not names:
            raise SettingsError("no backend is available that serves the app (see --list-backends)")
        form = replace(settings, scenarios=(), event_at_s=None, find_capacity=False)
        specs, plan = self.plan(form, names, capacity=False), settings_of(o)

        def work(cancel: threading.Event) -> None:
            # the conductor's run: a fresh server per stage, ended by the run's cancel
            run = Campaign(specs, plan, lambda spec, c: self.conductor.run_one(spec, None, c), cancel)
            run.rec.on_stage = on_stage
            error = ""
            try:
                self._prepare(specs, cancel)
                run.run(lambda cand: on_backend(run.answer(partial=True)))
            except Exception as exc:
                error = one_line(exc)
            finally:
                with self._lock:
                    self._running = False
                on_end(run.answer(cancel.is_set() or bool(error)), error)

        self._start_run(specs, work, exported=False)
        budget = f" · memory ≤ {plan.memory_budget:,.0f} MB" if plan.memory_budget is not None else ""
        said = f"SLO {plan.slo.text()} · {plan.cpus} server CPU{'s' if plan.cpus != 1 else ''}{budget}"
        return list(dict.fromkeys(names)), f"{said} · required: {', '.join(plan.required) or 'none'}"

    def cancel_run(self) -> None:
        """End the run going early (safe in a signal handler)."""
        set_from_signal_handler(self._cancel)

    def _run(
        self,
        specs: list[RunSpec],
        cancel: threading.Event,
        on_tick: Callable[[Tick], None],
        on_result: Callable[[RunResult], object],
        on_end: Callable[[str], object],
        on_step: OnStep | None,
    ) -> None:
        error = ""
        #: the backend of the latest tick: the conductor's on_step hands only the Step
        current = {"backend": specs[0].backend if specs else ""}

        def tick(t: Tick) -> None:
            current["backend"] = t.backend
            on_tick(t)

        def step(s: Step) -> None:
            if on_step is not None:
                on_step(current["backend"], s)

        def finished(result: RunResult) -> None:
            with self._lock:
                self.results.append(result)
                self._result_specs.append(next((s for s in specs if _ran(s, result)), None))
            on_result(result)

        try:
            self._prepare(specs, cancel)
            # set for every run (None after a plain one): a step must never reach an old run's callback
            self.conductor.on_step = step if on_step is not None else None
            if len(specs) == 1:
                finished(self.conductor.run_one(specs[0], tick, cancel))
            else:
                self.conductor.run_all(specs, tick, finished, cancel)
        except Exception as exc:
            error = one_line(exc)
        finally:
            with self._lock:
                self._running = False
            on_end(error)

    def _prepare(self, specs: Sequence[RunSpec], cancel: threading.Event) -> None:
        # a start ending during the run would add a server on the server CPUs mid-measurement
        self._wait_for_ops(cancel)
        for spec in specs:
            with self._lock:
                server = self._servers.pop(spec.backend, None)
            if server is not None:
                self._on_state(spec.backend, "stopping", "")
                server.stop()

    def _wait_for_ops(self, cancel: threading.Event) -> None:
        deadline = time.monotonic() + SETTLE_OPS_S
        with self._lock:
            while self._pending_ops > 0 and not cancel.is_set():
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    break
                self._settled.wait(min(0.2, left_s))

    # -- export -----------------------------------------------------------------------

    def runs_to_export(self) -> tuple[list[RunResult], list[RunSpec], int]:
        """(runs, their specs, how many left out): the runs that share the latest run's
        load settings. A report has one "load" header; a run made with other settings
        under it would be misattributed, so it is left out (and the user told)."""

        def settings_key(spec: RunSpec) -> dict[str, Any]:
            options = export.load_options([spec])
            options.pop("workloads", None)  # runs of one load may differ in workload, not in load
            options.pop("scenarios", None)  # nor in which scenario's event they had
            options.pop("seed", None)  # nor in their Poisson seed (each start draws one; loader.seed says which)
            return options

        with self._lock:
            pairs = list(zip(self.results, self._result_specs))
        latest = next((s for _, s in reversed(pairs) if s is not None), None)
        if latest is None:  # handed-in results only: nothing to tell them apart by
            return [r for r, _ in pairs], [], 0
        key = settings_key(latest)
        kept = [(r, s) for r, s in pairs if s is None or settings_key(s) == key]
        return [r for r, _ in kept], [s for _, s in kept if s is not None], len(pairs) - len(kept)

    def export_runs(self, fmt: str, output_dir: str) -> Exported:
        """Write the runs of the latest load settings in ``fmt`` (md json csv html) with
        the same exporter as the CLI, to a new time-stamped file in ``output_dir``."""
        runs, specs, left_out = self.runs_to_export()
        meta = export.make_meta(specs or self._last_specs or [self._any_spec(self.initial_settings)])
        if not specs and self.options.open_meta is not None:
            meta = self.options.open_meta  # only saved reports (--open): their own load, machine, date
        text = export.render(fmt, runs, meta)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = os.path.abspath(os.path.join(output_dir, f"wsgicompare-{stamp}{export.SUFFIX[fmt]}"))
        export.write_atomic(path, text)
        return Exported(path=path, left_out=left_out)

    # -- the end ----------------------------------------------------------------------

    def stop_everything(self, timeout_s: float = 30.0) -> None:
        """Idempotent, blocking: end the run, stop every server started by hand, and
        wait (at most ``timeout_s``) for the session's threads to end."""
        self._closing.set()
        self._cancel.set()
        self._stop_pool()
        deadline = time.monotonic() + timeout_s
        me = threading.current_thread()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            if thread is not me:
                thread.join(max(0.0, deadline - time.monotonic()))
        # a start that raced the first sweep may have stored its server after it
        self._stop_pool()

    def _stop_pool(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for server in servers:
            try:
                server.stop()
            except Exception:
                pass  # its process groups are killed by the backends' reaper anyway

    def _spawn(self, work: Callable[[], None], name: str) -> None:
        def tracked() -> None:
            try:
                work()
            finally:
                with self._lock:
                    self._threads.discard(threading.current_thread())

        # daemon: a start stuck past stop_everything's wait must not hold the process
        # open; the backends' reaper kills its process groups when the process ends
        thread = threading.Thread(target=tracked, name=name, daemon=True)
        with self._lock:
            self._threads.add(thread)
        thread.start()
