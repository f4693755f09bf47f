"""The conductor: one run = check → start backend → ready → warm-up → load → stop →
RunResult. It samples the server's process tree every loader tick, reads the kernel's
TCP counters around the run (wsgicompare.engine.kernel), and hands out one immutable ``Tick`` per interval.

Blocking, and callable from any thread (the TUI calls it from a thread worker): it
installs no signal handlers; ``cancel`` (a threading.Event) ends the current run at
the next tick and skips the rest."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from wsgicompare.backends import (
    WORKLOADS,
    Backend,
    BackendError,
    BackendStartError,
    Server,
    ServerConfig,
    check_answer,
    get_backend,
)
from wsgicompare.engine.capacity import run_capacity
from wsgicompare.engine.kernel import (
    AcceptQueuePeak,
    answers,
    delayed_ack_probe,
    read_tcp_counters,
    tcp_figures,
    wait_settled,
)
from wsgicompare.engine.measured import combine_repeats, measured, unanswered_reason
from wsgicompare.engine.runspec import DEFAULT_SETTLE_MAX_S, RunSpec
from wsgicompare.engine.sampling import ServerSample, ServerWindow, TreeSampler, listen_ports, listener_tree
from wsgicompare.engine.scenarios import ScenarioEvent, ScenarioLoad, run_scenario
from wsgicompare.engine.verdicts import (
    CONNECTION_ERROR_KINDS,
    listen_overflow_finding,
    verdicts,
    wants_stall_probe,
    with_syn_retries,
)
from wsgicompare.loader import LoadProfile, LoadProfileError, LoadRun, LoadTick, build_request, is_loopback
from wsgicompare.results import (
    STATUS_CLASSES,
    RunResult,
    Tick,
    TimelinePoint,
    us_to_ms,
)

if TYPE_CHECKING:
    from wsgicompare.cluster import Cluster, NodeServers

OnTick = Callable[[Tick], None]
OnResult = Callable[[RunResult], None]

#: bins of the cumulative latency distribution in every Tick (for the TUI's histogram)
LATENCY_BINS = 40


class LocalServers:
    """Where backends start by default: on this machine, sampled here. (With
    ``--server-node`` a cluster's ``NodeServers`` takes its place.)"""

    local = True

    def availability(self, backend: Backend) -> tuple[bool, list[str]]:
        return backend.availability()

    def start(self, backend: Backend, config: ServerConfig, ready_timeout_s: float, cancel: threading.Event) -> Server:
        return backend.start(config, ready_timeout_s=ready_timeout_s, cancel=cancel)

    def sampler(self, server: Server) -> TreeSampler:
        return TreeSampler(server.processes, server.workers)

    def tcp_reader(self, server: Server) -> Callable[[], dict[str, int]]:
        return read_tcp_counters


# -- one run's running figures ---------------------------------------------------------------


@dataclass
class _Running:
    """What one run gathers beside the loader's figures, tick by tick: the server's
    samples and the timeline. The measured window's totals are the loader's own
    (``LoadTick.totals``), read, never added up again here."""

    spec: RunSpec
    title: str
    profile_duration_s: float | None
    total_requests: int | None  # requests the stop rule asks for, if any
    timeline: list[TimelinePoint] = field(default_factory=list)
    server: ServerWindow = field(default_factory=ServerWindow)
    last_tick: Tick | None = None


class Conductor:
    """Runs specs one after another; blocking, callable from any thread (no signal handlers)."""

    def __init__(
        self,
        *,
        settle_max_s: float = DEFAULT_SETTLE_MAX_S,
        ready_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        latency_bins: int = LATENCY_BINS,
        cluster: Cluster | None = None,
    ) -> None:
        #: most seconds to wait between runs for the previous port's sockets to drain
        self.settle_max_s = settle_max_s
        #: seconds a backend may take to answer its first request
        self.ready_timeout_s = ready_timeout_s
        #: seconds a backend may take to stop before its process groups are killed
        self.stop_timeout_s = stop_timeout_s
        #: bins of Tick.latency_bins
        self.latency_bins = latency_bins
        self._last_port: int | None = None
        #: --cluster: the loader's processes on its nodes (and the backends, with --server-node)
        self.cluster = cluster
        self.servers: LocalServers | NodeServers = (
            cluster.servers() if cluster is not None and cluster.server is not None else LocalServers()
        )
        #: called with each capacity step as it ends (the app's live step ladder)
        self.on_step: Callable[[Any], None] | None = None

    # -- public API (ARCHITECTURE.md) --------------------------------------------------------

    def run_one(self, spec: RunSpec, on_tick: OnTick | None = None, cancel: threading.Event | None = None) -> RunResult:
        """Run ``spec`` (``spec.repeat`` times) and return one result (median with --repeat)."""
        cancel = cancel if cancel is not None else threading.Event()
        runs: list[RunResult] = []
        for _ in range(max(1, spec.repeat)):
            if runs and cancel.is_set():
                break
            settle = wait_settled(self._last_port, self.settle_max_s, cancel) if self._last_port else None
            try:
                result = self._run_once(spec, on_tick, cancel)
            except Exception as exc:  # noqa: BLE001
                # one broken run (a loader that cannot spawn, a bug) must not sink the
                # rest of a run-all: it becomes a failed row that says what happened;
                # the backend was already stopped by _run_once's finally
                result = RunResult(
                    backend=spec.backend,
                    title=spec.backend,
                    workload=spec.workload,
                    status="failed",
                    reason=f"internal error: {type(exc).__name__}: {_one_line(exc)}",
                )
            result = replace(result, settle=settle)
            runs.append(result)
            if result.status == "unavailable" or cancel.is_set():
                break
        return combine_repeats(runs)

    def run_all(
        self,
        specs: list[RunSpec],
        on_tick: OnTick | None = None,
        on_result: OnResult | None = None,
        cancel: threading.Event | None = None,
    ) -> list[RunResult]:
        """Run every spec in order; a failed or unavailable one becomes a row and the
        rest still run. ``cancel`` ends the current run and skips the rest."""
        cancel = cancel if cancel is not None else threading.Event()
        results: list[RunResult] = []
        for spec in specs:
            if cancel.is_set():
                break
            result = self.run_one(spec, on_tick, cancel)
            results.append(result)
            if on_result is not None:
                on_result(result)
        return results

    # -- one run ---------------------------------------------------------------------------

    def _run_once(self, spec: RunSpec, on_tick: OnTick | None, cancel: threading.Event) -> RunResult:
        if spec.is_url:
            return self._measure_spec(spec, None, spec.load.url, on_tick, cancel)
        try:
            backend = get_backend(spec.backend)
        except BackendError as exc:
            return RunResult(
                backend=spec.backend, title=spec.backend, workload=spec.workload, status="failed", reason=_one_line(exc)
            )
        base = dict(backend=backend.id, title=backend.title, workload=spec.workload, concurrency=spec.load.concurrency)
        available, missing = self.servers.availability(backend)
        if not available:
            return RunResult(**base, status="unavailable", reason=f"missing {', '.join(missing)} — {backend.hint}")
        app = spec.server.app if spec.server is not None else None
        if app and not backend.serves_user_app:
            return RunResult(**base, status="unavailable", reason=f"{backend.id} cannot serve --app (its own app only)")
        if not app and (why := backend.unavailable_for(spec.workload, spec.server)) is not None:
            return RunResult(**base, status="unavailable", reason=why)
        self._emit(on_tick, self._phase_tick(spec, "starting"))
        if cancel.is_set():
            return RunResult(**base, status="failed", reason="cancelled before start")
        try:
            # cancel reaches into the start: Ctrl-C while a slow app imports ends within a second
            server = self.servers.start(backend, spec.server, self.ready_timeout_s, cancel)
        except BackendError as exc:  # BackendStartError included: nothing of it is left running
            # a start that failed says why in a line and has a log; bad input has a message
            why, log_tail = (exc.reason, exc.log_tail) if isinstance(exc, BackendStartError) else ("", "")
            reason = _one_line(why or exc)
            self._emit(on_tick, replace(self._phase_tick(spec, "failed"), warnings=(reason,)))
            return RunResult(**base, status="failed", reason=reason, log_tail=log_tail)
        self._last_port = server.port
        try:
            path = spec.path or (WORKLOADS[spec.workload].path if spec.workload in WORKLOADS else "/")
            if (wrong := None if app else check_answer(server.url, spec.workload, path)) is not None:
                result = RunResult(**base, status="failed", reason=wrong)  # a wrong answer is never measured
            else:
                result = self._measure_spec(spec, server, server.url + path, on_tick, cancel)
            if result.status == "failed":
                # read the log while the server's private dir still exists: stop removes it
                try:
                    result = replace(result, log_tail=server.log_tail(20))
                except Exception:  # noqa: BLE001
                    pass
        finally:
            stop_error: str | None = None
            try:
                server.stop(timeout_s=self.stop_timeout_s)
            except Exception as exc:  # noqa: BLE001  (a stop problem must not lose the result)
                stop_error = _one_line(exc)
        return replace(
            result,
            title=backend.title,
            command=list(server.command),
            config_files=dict(server.config_files),
            versions=dict(server.versions),
            startup_s=round(server.startup_s, 3),
            verdicts=result.verdicts + ([f"stopping the server failed: {stop_error}"] if stop_error else []),
        )

    def _measure_spec(
        self, spec: RunSpec, server: Server | None, url: str, on_tick: OnTick | None, cancel: threading.Event
    ) -> RunResult:
        """The measurement a spec asks for against a running server: one load, or a
        capacity search / ladder (wsgicompare/engine/capacity/) of open-loop steps, or a scenario
        (wsgicompare/engine/scenarios.py); both are handed the load to run, never this conductor."""
        load_on_server = self.load_on(server, url, on_tick, cancel)
        if spec.capacity is not None:
            sampler = partial(self.servers.sampler, server) if server is not None else None
            answering = partial(answers, url, build_request(replace(spec.load, url=url)))
            return run_capacity(
                spec, load_on_server, cancel, new_sampler=sampler, on_step=self.on_step, still_answers=answering
            )
        if spec.scenario is not None and server is not None:
            return run_scenario(spec, server, load_on_server, cancel)
        return load_on_server(spec, spec.load)

    def load_on(self, server: Server | None, url: str, on_tick: OnTick | None, cancel: threading.Event) -> ScenarioLoad:
        """``load`` bound to one running server at ``url``, a tick hook and cancel: what a capacity search or a scenario runs."""
        return lambda spec, load, event=None: self.load(spec, server, load, url, on_tick, cancel, event)

    def load(
        self,
        spec: RunSpec,
        server: Server | None,
        load: LoadProfile,
        url: str,
        on_tick: OnTick | None,
        cancel: threading.Event,
        event: ScenarioEvent | None = None,
    ) -> RunResult:
        """One load against ``url`` while sampling the server (left running): the unit a
        capacity step is made of. ``event``: a scenario's hook, ``event.tick(load_tick)``."""
        title = server.backend.title if server is not None else url
        profile = replace(load, url=url)
        result = RunResult(
            backend=spec.backend, title=title, workload=spec.workload, status="ok", concurrency=profile.concurrency
        )
        try:
            # a LoadRun checks its profile (LoadProfile.validate): the one check at run time,
            # after the plan's (runspec.checked_specs); a profile it refuses fails this run only
            if self.cluster is not None:
                # a backend started here keeps the loaders off this machine's node
                run: LoadRun = self.cluster.load_run(profile, servers_here=server is not None and self.servers.local)
            else:
                run = LoadRun(profile)
        except LoadProfileError as exc:
            return replace(result, status="failed", reason=_one_line(exc))
        local = server is not None and self.servers.local
        read_tcp = read_tcp_counters
        if server is not None:
            tree = server.processes
            sampler = self.servers.sampler(server)
            read_tcp = self.servers.tcp_reader(server)
        else:
            parts = urlsplit(url)
            # only a server on this machine can be sampled; a remote one gets no server figures
            local = bool(parts.hostname) and is_loopback(parts.hostname)
            tree = listener_tree(parts.port or 80) if local else list
            sampler = TreeSampler(tree)
        total = profile.requests
        if total is None and profile.reps is not None:
            total = profile.reps * profile.concurrency
        running = _Running(spec=spec, title=title, profile_duration_s=profile.duration_s, total_requests=total)
        public_port = server.port if server is not None else (urlsplit(url).port or 80)
        # only a listener on this machine has an accept queue we can read; the server's
        # inner listeners count too (uWSGI's backlog of 100 behind nginx is the seed's trap)
        queue = AcceptQueuePeak(frozenset({public_port, *listen_ports(tree())})) if local else None
        tcp_before = read_tcp()
        crashed_at: float | None = None
        cancelled_at: float | None = None
        last_t = 0.0
        try:
            run.start()
            # the server's CPU counts from here: spawning the loader took time in
            # which the server only waited, and that is not part of the first tick
            sampler.sample()
            for load_tick in run.ticks():
                last_t = load_tick.t_s
                if event is not None:
                    event.tick(load_tick)
                # USS and PSS over the measured window only (the sampler reads them at most once a second)
                sample = sampler.sample(memory=not load_tick.warmup)
                if queue is not None:
                    queue.sample()
                warnings = self._live_warnings(load_tick, tcp_before, queue, read_tcp)
                warnings += event.notes() if event is not None else ()  # a scenario's event, once fired
                tick = self._tick(running, load_tick, sample, warnings, event.news if event is not None else None)
                self._emit(on_tick, tick)
                if cancel.is_set() and cancelled_at is None:
                    cancelled_at = load_tick.t_s
                    run.stop()
                if server is not None and crashed_at is None and not server.alive():
                    crashed_at = load_tick.t_s
                    run.stop()  # nothing left to measure: end the load now, keep what we have
            summary = run.summary()
        finally:
            run.close()
        # a crash on the very last tick is still a crash
        if server is not None and crashed_at is None and not server.alive():
            crashed_at = last_t
        result = measured(result, running.server, running.timeline, summary, tcp_figures(tcp_before, queue, read_tcp))
        if run.nodes is not None and result.loader is not None:  # --cluster: each loader node's share
            result = replace(result, loader=replace(result.loader, nodes=run.nodes))
        if crashed_at is not None:
            why = server.exit_reason() if server is not None else None
            result = replace(
                result,
                status="failed",
                crashed_at_s=round(crashed_at, 2),
                reason=f"server crashed at t={crashed_at:.1f} s" + (f": {why}" if why else ""),
            )
        elif cancelled_at is not None:
            result = replace(result, status="failed", reason=f"cancelled at t={cancelled_at:.1f} s")
        elif summary.fatal:
            result = replace(result, status="failed", reason=_one_line(summary.fatal))
        elif not sum(result.responses.values()):
            result = replace(result, status="failed", reason=unanswered_reason(result))
        if wants_stall_probe(result) and not cancel.is_set():
            # at c=1 with the server still up: whether ACKing at once removes the wait
            parts = urlsplit(url)
            probe = delayed_ack_probe(parts.hostname or "127.0.0.1", parts.port or 80, build_request(profile))
            if probe is not None:
                result = replace(result, latency_ms=replace(result.latency_ms, probe=probe))
        result = replace(result, verdicts=verdicts(result) + result.verdicts)
        final = self._final_tick(running, result)
        if final is not None:
            self._emit(on_tick, final)
        return result

    # -- ticks -------------------------------------------------------------------------------

    def _tick(
        self,
        running: _Running,
        lt: LoadTick,
        sample: ServerSample,
        warnings: tuple[str, ...],
        event: str | None = None,
    ) -> Tick:
        cpu_pct, rss_mb, procs, threads = sample[:4]
        interval_lat = lt.latency
        # the last tick of a run can be a sliver (the load ended just after a tick), and so
        # can the one after a late tick (the loader keeps to its tick grid): its rates and
        # CPU share are noise, so it counts in the totals but not in the timeline or the
        # server's CPU figures — unless it is the scenario's event tick, whose place the
        # timeline keeps (a busy machine took the tick before 90 ms late), without the noise
        full = lt.interval_s >= 0.5 * running.spec.load.tick_s
        if not lt.warmup:
            running.server.add(sample, full)
        if not lt.warmup and (full or event):
            measured = full and interval_lat.count > 0
            running.timeline.append(
                TimelinePoint(
                    t=round(lt.t_s, 3),
                    rps=round(lt.rps, 1) if full else None,
                    p50_ms=us_to_ms(interval_lat.percentile(50)) if measured else None,
                    p99_ms=us_to_ms(interval_lat.percentile(99)) if measured else None,
                    errors=lt.failed_requests,
                    server_cpu_pct=round(cpu_pct, 1) if full else None,
                    server_rss_mb=round(rss_mb, 1),
                    event=event or None,  # only a scenario's event tick has one
                )
            )
        totals = lt.totals  # the measured window so far, this tick included
        cum = totals.latency
        requests = totals.requests
        warmup_s = running.spec.load.warmup_s
        duration = running.profile_duration_s
        progress = 0.0
        remaining = None
        if duration:
            progress = min(1.0, lt.t_s / (warmup_s + duration)) if (warmup_s + duration) > 0 else 1.0
            remaining = max(0.0, warmup_s + duration - lt.t_s)
        if running.total_requests:
            progress = max(progress, min(1.0, requests / running.total_requests))
        if lt.done:
            progress = 1.0
        pcts = interval_lat.percentiles((50, 90, 99)) if interval_lat.count else {}
        cum_pcts = cum.percentiles((50, 90, 99)) if cum.count else {}
        tick = Tick(
            backend=running.spec.backend,
            workload=running.spec.workload,
            phase="warmup" if lt.warmup else ("stopping" if lt.done else "load"),
            t_s=round(lt.t_s, 3),
            elapsed_s=round(totals.elapsed_s, 3),
            remaining_s=None if remaining is None else round(remaining, 3),
            progress=progress,
            rps=lt.rps,
            rps_2xx=lt.rps_2xx,
            p50_ms=us_to_ms(pcts.get(50)),
            p90_ms=us_to_ms(pcts.get(90)),
            p99_ms=us_to_ms(pcts.get(99)),
            max_ms=us_to_ms(interval_lat.max) if interval_lat.count else None,
            interval_errors=lt.failed_requests,
            requests=requests,
            responses=dict(totals.status),
            errors={k: v for k, v in totals.errors.items() if v},  # the kinds seen
            mean_rps=(totals.responses / totals.elapsed_s) if totals.elapsed_s > 0 else 0.0,
            cum_p50_ms=us_to_ms(cum_pcts.get(50)),
            cum_p90_ms=us_to_ms(cum_pcts.get(90)),
            cum_p99_ms=us_to_ms(cum_pcts.get(99)),
            cum_max_ms=us_to_ms(cum.max) if cum.count else None,
            availability_pct=(100.0 * totals.status.get("2xx", 0) / requests) if requests else None,
            latency_bins=cum.bins(self.latency_bins),
            server_cpu_pct=round(cpu_pct, 1),
            server_rss_mb=round(rss_mb, 1),
            server_procs=procs,
            server_threads=threads,
            loader_cpu_pct=round(lt.loader_cpu_pct, 1),
            loader_saturated=lt.saturated,
            warnings=warnings,
            server_uss_mb=None if running.server.uss_mb_last is None else round(running.server.uss_mb_last, 1),
            event=event,
        )
        running.last_tick = tick
        return tick

    def _live_warnings(
        self,
        lt: LoadTick,
        tcp_before: dict[str, int],
        queue: AcceptQueuePeak | None,
        read_tcp: Callable[[], dict[str, int]] = read_tcp_counters,
    ) -> tuple[str, ...]:
        found = []
        if lt.saturated:
            found.append(f"loader-bound: {'; '.join(lt.saturation_reasons)}")
        totals = lt.totals
        conn_errors = sum(totals.errors.get(k, 0) for k in CONNECTION_ERROR_KINDS) + (
            0 if not lt.warmup else sum(lt.errors.get(k, 0) for k in CONNECTION_ERROR_KINDS)
        )
        if conn_errors:
            found.append(f"{conn_errors} connection errors: listen backlog or worker limit reached?")
        # the transactions from their actual send (open loop: the uncorrected ones)
        sent = totals.latency_uncorrected if totals.latency_uncorrected is not None else totals.latency
        tcp = with_syn_retries(tcp_figures(tcp_before, queue, read_tcp), sent)
        slowest_ms = sent.max / 1000.0 if totals.latency.count else None
        overflow = listen_overflow_finding(tcp, slowest_ms)
        if overflow:
            found.append(overflow)
        return tuple(found)

    def _phase_tick(self, spec: RunSpec, phase: str) -> Tick:
        """A tick with no figures yet, so a display can show the phase (starting …)."""
        return Tick(
            backend=spec.backend,
            workload=spec.workload,
            phase=phase,
            t_s=0.0,
            elapsed_s=0.0,
            remaining_s=None,
            progress=0.0,
            rps=0.0,
            rps_2xx=0.0,
            p50_ms=None,
            p90_ms=None,
            p99_ms=None,
            max_ms=None,
            interval_errors=0,
            requests=0,
            responses=dict.fromkeys(STATUS_CLASSES, 0),
            errors={},
            mean_rps=0.0,
            cum_p50_ms=None,
            cum_p90_ms=None,
            cum_p99_ms=None,
            cum_max_ms=None,
            availability_pct=None,
            latency_bins=(0,) * self.latency_bins,
            server_cpu_pct=0.0,
            server_rss_mb=0.0,
            server_procs=0,
            server_threads=0,
            loader_cpu_pct=0.0,
            loader_saturated=False,
        )

    def _final_tick(self, running: _Running, result: RunResult) -> Tick | None:
        """The last tick again, phase done/failed, with the result's verdicts as warnings."""
        last = running.last_tick
        if last is None:
            return None
        return replace(
            last,
            phase="done" if result.status == "ok" else "failed",
            progress=1.0,
            remaining_s=0.0 if last.remaining_s is not None else None,
            warnings=tuple(result.verdicts),
        )

    @staticmethod
    def _emit(on_tick: OnTick | None, tick: Tick) -> None:
        if on_tick is not None:
            on_tick(tick)


def _one_line(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
