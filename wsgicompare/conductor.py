"""The conductor: one run = check → start backend → ready → warm-up → load → stop →
RunResult. It samples the server's process tree every loader tick, reads the kernel's
TCP counters around the run, and hands out one immutable ``Tick`` per interval.

Blocking, and callable from any thread (the TUI calls it from a thread worker): it
installs no signal handlers; ``cancel`` (a threading.Event) ends the current run at
the next tick and skips the rest."""

from __future__ import annotations

import math
import socket
import statistics
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

import psutil

from wsgicompare.results import STATUS_CLASSES, RunResult, Tick
from wsgicompare.spec import (  # noqa: F401  (re-exported: RunSpec lives with its defaults)
    URL_BACKEND,
    RunSpec,
    default_cpus,
    default_load,
    default_server_config,
    default_spec,
    matrix,
    url_spec,
)
from wsgicompare.verdicts import CONNECTION_ERROR_KINDS, verdicts

OnTick = Callable[[Tick], None]
OnResult = Callable[[RunResult], None]

#: bins of the cumulative latency distribution in every Tick (for the TUI's histogram)
LATENCY_BINS = 40
#: TIME_WAIT sockets on the client side (our loader's ephemeral ports) hold those ports
#: for 60 s; a few hundred cost nothing, tens of thousands eat the ~28k ephemeral range
#: and make the next run's connects fail, so between runs we wait until at most this
#: many are left (or settle_max_s). Server-side TIME_WAIT (the old server's port at the
#: local end) blocks nothing: the next backend listens on another port.
TIME_WAIT_OK = 1000

#: kernel TCP counters read before and after each run (name in /proc/net/netstat "TcpExt"
#: or /proc/net/snmp "Tcp"); system-wide, so another program's traffic counts too
TCP_COUNTERS = (
    "ListenOverflows",  # SYN or final ACK dropped: the accept queue (listen backlog) was full
    "ListenDrops",  # every drop at a listening socket, overflows included
    "SyncookiesSent",  # the SYN queue was full and the kernel answered with a cookie
    "TCPReqQFullDrop",  # SYN dropped: SYN queue full and no cookies
    "TCPTimeouts",  # retransmission timer fired (lost segment or SYN)
    "TCPAbortOnData",  # reset sent: data arrived on a socket being closed
    "TCPAbortOnClose",  # reset sent: closed with unread data
    "TCPAbortOnTimeout",  # connection given up after too many retransmits
    "TCPBacklogDrop",  # segment dropped: socket backlog full while the owner held it
    "AttemptFails",  # connects that failed (from snmp Tcp)
    "EstabResets",  # established connections reset (from snmp Tcp)
    "RetransSegs",  # segments retransmitted (from snmp Tcp)
)


def read_tcp_counters() -> dict[str, int]:
    """The counters in TCP_COUNTERS as they stand now (missing files: empty)."""
    values: dict[str, int] = {}
    for path, prefixes in (("/proc/net/netstat", ("TcpExt:",)), ("/proc/net/snmp", ("Tcp:",))):
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        # each section is two lines: names, then values, both starting with the prefix
        for names, numbers in zip(lines, lines[1:]):
            if names.split(" ", 1)[0] in prefixes and numbers.split(" ", 1)[0] == names.split(" ", 1)[0]:
                for key, value in zip(names.split()[1:], numbers.split()[1:]):
                    if key in TCP_COUNTERS:
                        try:
                            values[key] = int(value)
                        except ValueError:
                            pass
    return values


def tcp_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: max(0, after[k] - before.get(k, after[k])) for k in TCP_COUNTERS if k in after}


# -- sockets between runs -------------------------------------------------------------------

_TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
_STATE_TIME_WAIT = "06"
_STATE_LISTEN = "0A"


def accept_queue(port: int) -> int | None:
    """Connections waiting in the accept queue of the socket(s) listening on ``port``
    right now, or None when nothing listens there.

    Called every tick, so it asks the kernel over netlink (sock_diag, what ``ss``
    uses): ~15 µs, where generating /proc/net/tcp costs milliseconds of kernel time
    per read under load (every connection and TIME_WAIT socket is a line)."""
    queues = listen_queues(port)
    if queues is None:
        return _accept_queue_from_proc(port)
    return sum(waiting for waiting, _ in queues) if queues else None


_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10
#: inet_diag_msg: family state timer retrans (4 bytes), sockid (48: sport at +4,
#: big-endian), expires; then idiag_rqueue and idiag_wqueue, which for a listening
#: socket are its accept queue's length and its limit (the backlog)
_DIAG_SPORT_AT, _DIAG_QUEUES_AT = 4, 56


def listen_queues(port: int) -> list[tuple[int, int]] | None:
    """(waiting, backlog limit) of every TCP socket listening on ``port``; None when
    netlink sock_diag is not available here."""
    found: list[tuple[int, int]] = []
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(1.0)
            for family in (socket.AF_INET, socket.AF_INET6):
                # dump every listener of the family (the sockid stays zero: no filter)
                req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN) + bytes(48)
                nl.send(struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0) + req)
                done = False
                while not done:
                    data = nl.recv(65536)
                    if not data:
                        break
                    offset = 0
                    while offset + 16 <= len(data):
                        length, kind = struct.unpack_from("=IH", data, offset)
                        if kind in (_NLMSG_DONE, _NLMSG_ERROR) or length < 16:
                            done = True
                            break
                        body = offset + 16
                        if struct.unpack_from(">H", data, body + _DIAG_SPORT_AT)[0] == port:
                            found.append(struct.unpack_from("=II", data, body + _DIAG_QUEUES_AT))
                        offset += (length + 3) & ~3
    except (OSError, struct.error):
        return None
    return found


def tcp_sockets(listening_only: bool = False):
    """Every TCP socket of the machine from /proc/net/tcp{,6}: (state as the kernel's
    hex code, local port, remote port, receive queue). With ``listening_only`` it
    stops at the first socket that is not listening: the kernel lists listeners
    first, and the rest (every connection, every TIME_WAIT) is what costs."""
    for table in _TCP_TABLES:
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) < 5:
                        continue
                    if listening_only and parts[3] != _STATE_LISTEN:
                        break
                    yield (parts[3], int(parts[1].rsplit(":", 1)[1], 16), int(parts[2].rsplit(":", 1)[1], 16),
                           int(parts[4].partition(":")[2], 16))  # fmt: skip
        except (OSError, ValueError, IndexError):
            continue


def _accept_queue_from_proc(port: int) -> int | None:
    """The same from /proc/net/tcp (the rx_queue of a LISTEN line is its accept
    queue), where netlink is not allowed."""
    queues = [rx for _, local, _, rx in tcp_sockets(listening_only=True) if local == port]
    return sum(queues) if queues else None


def port_sockets(port: int) -> tuple[int, int]:
    """(listening sockets on ``port``, client-side TIME_WAIT sockets towards ``port``)."""
    listening = time_wait = 0
    for state, local, remote, _ in tcp_sockets():
        if state == _STATE_LISTEN and local == port:
            listening += 1
        elif state == _STATE_TIME_WAIT and remote == port:
            time_wait += 1
    return listening, time_wait


def tw_reuse_on_loopback() -> bool:
    """Linux reuses TIME_WAIT ports for new loopback connects when net.ipv4.tcp_tw_reuse
    is 1 (always) or 2 (loopback only, the default since 4.x): then client-side TIME_WAIT
    sockets cannot starve the next run and there is nothing to wait for."""
    try:
        with open("/proc/sys/net/ipv4/tcp_tw_reuse") as f:
            return f.read().strip() in ("1", "2")
    except OSError:
        return False


def wait_settled(port: int | None, max_s: float, cancel: threading.Event | None = None) -> dict[str, object]:
    """Wait until nothing listens on the previous run's port and (unless the kernel reuses
    TIME_WAIT ports on loopback) its client-side TIME_WAIT sockets are down to
    TIME_WAIT_OK, or ``max_s`` passes. Returns what was waited for."""
    if port is None:
        return {"waited_s": 0.0, "time_wait": 0, "listening": 0}
    start = time.monotonic()
    listening, time_wait = port_sockets(port)
    first_tw = time_wait
    tw_limit = math.inf if tw_reuse_on_loopback() else TIME_WAIT_OK
    while (listening or time_wait > tw_limit) and time.monotonic() - start < max_s:
        if cancel is not None and cancel.wait(0.1):
            break
        if cancel is None:
            time.sleep(0.1)
        listening, time_wait = port_sockets(port)
    return {
        "port": port,
        "waited_s": round(time.monotonic() - start, 3),
        "time_wait_before": first_tw,
        "time_wait": time_wait,
        "listening": listening,
        "tw_reuse": tw_limit == math.inf,
    }


# -- the server's process tree ------------------------------------------------------------


class TreeSampler:
    """CPU %, RSS, processes and threads of a server's whole process tree, per tick.
    psutil.Process objects are kept between samples so each CPU figure covers exactly
    the interval since the previous sample; a process born in between counts whole.

    A process that lives shorter than a tick (flask-processes forks one per request)
    is never seen, but its CPU is: once its parent reaps it, the kernel adds it to the
    parent's children_user/children_system. A process that *was* seen and then ends
    lands there too; what it had already been counted for is held as a credit
    against that growth, so nothing counts twice."""

    def __init__(self, processes: Callable[[], list[psutil.Process]]) -> None:
        self._processes = processes
        self._cpu_s: dict[tuple[int, float], tuple[float, float]] = {}  # key -> (own, reaped children) CPU s
        self._procs: dict[tuple[int, float], psutil.Process] = {}
        self._credit_s = 0.0  # CPU of ended processes already counted, not yet seen in a parent's children
        self._last = time.monotonic()
        self._last_wall = time.time()
        self.sample()  # baseline: the next sample measures from here

    def sample(self) -> tuple[float, float, int, int]:
        """(cpu_pct, rss_mb, procs, threads) since the previous call; 100 % = one core."""
        now = time.monotonic()
        now_wall = time.time()
        interval = max(now - self._last, 1e-6)
        cpu_used = 0.0
        reaped_s = 0.0
        rss = 0
        threads = 0
        seen: dict[tuple[int, float], tuple[float, float]] = {}
        try:
            found = self._processes()
        except (psutil.Error, OSError):
            found = []
        for proc in found:
            try:
                key = (proc.pid, proc.create_time())
                kept = self._procs.setdefault(key, proc)
                with kept.oneshot():
                    times = kept.cpu_times()
                    own = times.user + times.system
                    children = times.children_user + times.children_system
                    rss += kept.memory_info().rss
                    threads += kept.num_threads()
            except (psutil.Error, OSError):
                continue
            previous = self._cpu_s.get(key)
            if previous is None:
                # unseen: if it was born after the last sample all its CPU time is in this interval
                previous = (0.0, 0.0) if key[1] >= self._last_wall else (own, children)
            cpu_used += max(0.0, own - previous[0])
            reaped_s += max(0.0, children - previous[1])
            seen[key] = (own, children)
        self._credit_s += sum(own + children for key, (own, children) in self._cpu_s.items() if key not in seen)
        counted = max(0.0, reaped_s - self._credit_s)
        self._credit_s = max(0.0, self._credit_s - reaped_s)
        cpu_used += counted
        self._procs = {k: p for k, p in self._procs.items() if k in seen}
        self._cpu_s = seen
        self._last = now
        self._last_wall = now_wall
        return 100.0 * cpu_used / interval, rss / 1e6, len(seen), threads


def listener_tree(port: int) -> Callable[[], list[psutil.Process]]:
    """For --url runs on this machine: the process listening on ``port`` and its children
    (found once; empty when it cannot be seen, e.g. another user's process)."""
    owner: psutil.Process | None = None
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                owner = psutil.Process(conn.pid)
                break
    except (psutil.Error, OSError):
        owner = None

    def tree() -> list[psutil.Process]:
        if owner is None or not owner.is_running():
            return []
        try:
            return [owner, *owner.children(recursive=True)]
        except psutil.Error:
            return []

    return tree


# -- one run's running figures ---------------------------------------------------------------


def _ms(us: float | None) -> float | None:
    return None if us is None else round(us / 1000.0, 3)


@dataclass
class _Running:
    """Cumulative figures over the measured window, built tick by tick."""

    spec: RunSpec
    title: str
    profile_duration_s: float | None
    total_requests: int | None  # requests the stop rule asks for, if any
    latency: object = None  # LatencyHistogram (cumulative, measured ticks only)
    responses: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STATUS_CLASSES, 0))
    errors: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0
    timeline: list[dict] = field(default_factory=list)
    cpu_samples: list[float] = field(default_factory=list)
    rss_mb_max: float = 0.0
    procs_max: int = 0
    threads_max: int = 0
    last_tick: Tick | None = None

    @property
    def requests(self) -> int:
        return sum(self.responses.values()) + sum(self.errors.values())


class Conductor:
    """Runs specs one after another; blocking, callable from any thread (no signal handlers)."""

    def __init__(
        self,
        *,
        settle_max_s: float = 10.0,
        ready_timeout_s: float = 30.0,
        stop_timeout_s: float = 10.0,
        latency_bins: int = LATENCY_BINS,
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

    # -- public API (ARCHITECTURE.md) --------------------------------------------------------

    def run_one(self, spec: RunSpec, on_tick: OnTick | None = None, cancel: threading.Event | None = None) -> RunResult:
        """Run ``spec`` (``spec.repeat`` times) and return one result (median with --repeat)."""
        cancel = cancel if cancel is not None else threading.Event()
        runs: list[RunResult] = []
        for _ in range(max(1, spec.repeat)):
            if runs and cancel.is_set():
                break
            settle = wait_settled(self._last_port, self.settle_max_s, cancel) if self._last_port else {}
            try:
                result = self._run_once(spec, on_tick, cancel)
            except Exception as exc:  # noqa: BLE001
                # one broken run (a loader that cannot spawn, a bug) must not sink the
                # rest of a run-all: it becomes a failed row that says what happened;
                # the backend was already stopped by _run_once's finally
                result = RunResult(backend=spec.backend, title=spec.backend, workload=spec.workload,
                                   status="failed", reason=f"internal error: {type(exc).__name__}: {_one_line(exc)}")  # fmt: skip
            result.settle = settle
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
            return self._load(spec, None, spec.load, spec.load.url, on_tick, cancel)
        from wsgicompare.backends import WORKLOADS, BackendError, get_backend

        try:
            backend = get_backend(spec.backend)
        except BackendError as exc:
            return RunResult(backend=spec.backend, title=spec.backend, workload=spec.workload, status="failed",
                             reason=_one_line(exc))  # fmt: skip
        base = dict(backend=backend.id, title=backend.title, workload=spec.workload, concurrency=spec.load.concurrency)
        available, missing = backend.availability()
        if not available:
            return RunResult(**base, status="unavailable", reason=f"missing {', '.join(missing)} — {backend.hint}")
        app = spec.server.app if spec.server is not None else None
        if app and not getattr(backend, "serves_user_app", True):
            return RunResult(**base, status="unavailable", reason=f"{backend.id} cannot serve --app (its own app only)")
        if not app and spec.workload not in backend.workloads:
            return RunResult(**base, status="unavailable",
                             reason=f"{backend.id} serves only: {', '.join(backend.workloads)}")  # fmt: skip
        self._emit(on_tick, self._phase_tick(spec, "starting"))
        if cancel.is_set():
            return RunResult(**base, status="failed", reason="cancelled before start")
        try:
            # cancel reaches into the start: Ctrl-C while a slow app imports ends within a second
            server = backend.start(spec.server, ready_timeout_s=self.ready_timeout_s, cancel=cancel)
        except BackendError as exc:  # BackendStartError included: nothing of it is left running
            reason = _one_line(getattr(exc, "reason", None) or exc)
            self._emit(on_tick, replace(self._phase_tick(spec, "failed"), warnings=(reason,)))
            return RunResult(**base, status="failed", reason=reason, log_tail=getattr(exc, "log_tail", "") or "")
        self._last_port = server.port
        try:
            path = spec.path or (WORKLOADS[spec.workload].path if spec.workload in WORKLOADS else "/")
            result = self._load(spec, server, spec.load, server.url + path, on_tick, cancel)
            if result.status == "failed":
                # read the log while the server's private dir still exists: stop removes it
                try:
                    result.log_tail = server.log_tail(20)
                except Exception:  # noqa: BLE001
                    pass
        finally:
            try:
                server.stop(timeout_s=self.stop_timeout_s)
            except Exception as exc:  # noqa: BLE001  (a stop problem must not lose the result)
                stop_error = _one_line(exc)
            else:
                stop_error = None
        result.title = backend.title
        result.command = list(server.command)
        result.config_files = dict(server.config_files)
        result.versions = dict(server.versions)
        result.startup_s = round(server.startup_s, 3)
        if stop_error:
            result.verdicts.append(f"stopping the server failed: {stop_error}")
        return result

    def _load(self, spec, server, load, url: str, on_tick: OnTick | None, cancel: threading.Event) -> RunResult:
        """Run the load against ``url`` while sampling the server; the server is left running."""
        from wsgicompare.loader import LatencyHistogram, LoadProfileError, LoadRun

        title = server.backend.title if server is not None else url
        profile = replace(load, url=url)
        result = RunResult(backend=spec.backend, title=title, workload=spec.workload, status="ok",
                           concurrency=profile.concurrency)  # fmt: skip
        try:
            profile.validate()
        except LoadProfileError as exc:
            result.status, result.reason = "failed", _one_line(exc)
            return result
        sampler_local = server is not None
        if server is not None:
            sampler = TreeSampler(server.processes)
        else:
            from wsgicompare.loader.profile import is_loopback

            parts = urlsplit(url)
            # only a server on this machine can be sampled; a remote one gets no server figures
            local = bool(parts.hostname) and is_loopback(parts.hostname)
            sampler = TreeSampler(listener_tree(parts.port or 80) if local else list)
            sampler_local = local
        total = profile.requests
        if total is None and profile.reps is not None:
            total = profile.reps * profile.concurrency
        running = _Running(spec=spec, title=title, profile_duration_s=profile.duration_s, total_requests=total,
                           latency=LatencyHistogram())  # fmt: skip
        public_port = server.port if server is not None else (urlsplit(url).port or 80)
        queue_peak: int | None = None
        tcp_before = read_tcp_counters()
        run = LoadRun(profile)
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
                sample = sampler.sample()
                queue = accept_queue(public_port) if server is not None or sampler_local else None
                if queue is not None:
                    queue_peak = max(queue_peak or 0, queue)
                warnings = self._live_warnings(load_tick, running, tcp_before, queue_peak)
                tick = self._tick(running, load_tick, sample, warnings)
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
        tcp = tcp_delta(tcp_before, read_tcp_counters())
        if queue_peak is not None:
            # sampled each tick: the peak is a lower bound (a burst between ticks is missed)
            tcp["accept_queue_peak"] = queue_peak
        self._fill(result, running, summary, tcp)
        if crashed_at is not None:
            why = server.exit_reason() if server is not None else None
            result.status = "failed"
            result.crashed_at_s = round(crashed_at, 2)
            result.reason = f"server crashed at t={crashed_at:.1f} s" + (f": {why}" if why else "")
        elif cancelled_at is not None:
            result.status = "failed"
            result.reason = f"cancelled at t={cancelled_at:.1f} s"
        elif summary.fatal:
            result.status = "failed"
            result.reason = _one_line(summary.fatal)
        elif not sum(result.responses.values()):
            # nothing answered: the figures describe no server, so the run is no "ok"
            kinds = [f"{n} {kind}" for kind, n in sorted(result.errors.items(), key=lambda kv: -kv[1]) if n]
            unanswered = result.loader.get("in_flight_dropped", 0)
            if unanswered:
                kinds.append(f"{unanswered} still waiting when the load ended")
            result.status = "failed"
            result.reason = f"no request was answered ({', '.join(kinds) or 'none was sent'})"
        result.verdicts = verdicts(result) + result.verdicts
        final = self._final_tick(running, result)
        if final is not None:
            self._emit(on_tick, final)
        return result

    # -- ticks -------------------------------------------------------------------------------

    def _tick(self, running: _Running, lt, sample, warnings: tuple[str, ...]) -> Tick:
        cpu_pct, rss_mb, procs, threads = sample
        interval_lat = lt.latency
        if not lt.warmup:
            running.latency.merge(lt.latency)
            for k, v in lt.status.items():
                running.responses[k] = running.responses.get(k, 0) + v
            for k, v in lt.errors.items():
                if v:
                    running.errors[k] = running.errors.get(k, 0) + v
            running.elapsed_s += lt.interval_s
        # the last tick of a run can be a sliver (the load ended just after a tick):
        # its rates and CPU share are noise, so it counts in the totals but not in the
        # timeline or the server's CPU figures
        if not lt.warmup and lt.interval_s >= 0.5 * running.spec.load.tick_s:
            running.cpu_samples.append(cpu_pct)
            running.rss_mb_max = max(running.rss_mb_max, rss_mb)
            running.procs_max = max(running.procs_max, procs)
            running.threads_max = max(running.threads_max, threads)
            running.timeline.append({
                "t": round(lt.t_s, 3),
                "rps": round(lt.rps, 1),
                "p50_ms": _ms(interval_lat.percentile(50)) if interval_lat.count else None,
                "p99_ms": _ms(interval_lat.percentile(99)) if interval_lat.count else None,
                "errors": lt.failed_requests,
                "server_cpu_pct": round(cpu_pct, 1),
                "server_rss_mb": round(rss_mb, 1),
            })  # fmt: skip
        cum = running.latency
        requests = running.requests
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
            elapsed_s=round(running.elapsed_s, 3),
            remaining_s=None if remaining is None else round(remaining, 3),
            progress=progress,
            rps=lt.rps,
            rps_2xx=lt.rps_2xx,
            p50_ms=_ms(pcts.get(50)),
            p90_ms=_ms(pcts.get(90)),
            p99_ms=_ms(pcts.get(99)),
            max_ms=_ms(interval_lat.max) if interval_lat.count else None,
            interval_errors=lt.failed_requests,
            requests=requests,
            responses=dict(running.responses),
            errors=dict(running.errors),
            mean_rps=(sum(running.responses.values()) / running.elapsed_s) if running.elapsed_s > 0 else 0.0,
            cum_p50_ms=_ms(cum_pcts.get(50)),
            cum_p90_ms=_ms(cum_pcts.get(90)),
            cum_p99_ms=_ms(cum_pcts.get(99)),
            cum_max_ms=_ms(cum.max) if cum.count else None,
            availability_pct=(100.0 * running.responses.get("2xx", 0) / requests) if requests else None,
            latency_bins=cum.bins(self.latency_bins),
            server_cpu_pct=round(cpu_pct, 1),
            server_rss_mb=round(rss_mb, 1),
            server_procs=procs,
            server_threads=threads,
            loader_cpu_pct=round(lt.loader_cpu_pct, 1),
            loader_saturated=lt.saturated,
            warnings=warnings,
        )
        running.last_tick = tick
        return tick

    def _live_warnings(
        self, lt, running: _Running, tcp_before: dict[str, int], queue_peak: int | None
    ) -> tuple[str, ...]:
        found = []
        if lt.saturated:
            found.append(f"loader-bound: {'; '.join(lt.saturation_reasons)}")
        conn_errors = sum(running.errors.get(k, 0) for k in CONNECTION_ERROR_KINDS) + (
            0 if not lt.warmup else sum(lt.errors.get(k, 0) for k in CONNECTION_ERROR_KINDS)
        )
        if conn_errors:
            found.append(f"{conn_errors} connection errors: listen backlog or worker limit reached?")
        overflows = tcp_delta(tcp_before, read_tcp_counters()).get("ListenOverflows", 0)
        slow = running.latency.count and running.latency.max >= 900_000
        # machine-wide counter: the same rule as the verdict before blaming this server
        if overflows and (queue_peak is None or queue_peak > 0 or slow):
            found.append(f"listen backlog overflowed {overflows}× — SYN retries cause 1 s / 3 s latency steps")
        return tuple(found)

    def _phase_tick(self, spec: RunSpec, phase: str) -> Tick:
        """A tick with no figures yet, so a display can show the phase (starting …)."""
        return Tick(
            backend=spec.backend, workload=spec.workload, phase=phase, t_s=0.0, elapsed_s=0.0,
            remaining_s=None, progress=0.0, rps=0.0, rps_2xx=0.0, p50_ms=None, p90_ms=None, p99_ms=None,
            max_ms=None, interval_errors=0, requests=0, responses=dict.fromkeys(STATUS_CLASSES, 0), errors={},
            mean_rps=0.0, cum_p50_ms=None, cum_p90_ms=None, cum_p99_ms=None, cum_max_ms=None,
            availability_pct=None, latency_bins=(0,) * self.latency_bins, server_cpu_pct=0.0, server_rss_mb=0.0,
            server_procs=0, server_threads=0, loader_cpu_pct=0.0, loader_saturated=False,
        )  # fmt: skip

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

    # -- the result ------------------------------------------------------------------------

    @staticmethod
    def _fill(result: RunResult, running: _Running, summary, tcp: dict[str, int]) -> None:
        result.requests = summary.requests
        result.responses = {k: int(summary.status.get(k, 0)) for k in STATUS_CLASSES}
        result.errors = {k: int(v) for k, v in summary.errors.items() if v}
        result.reconnects = int(summary.reconnects)
        result.elapsed_s = round(summary.elapsed_s, 3)
        result.rps = round(summary.rps, 3)
        result.rps_2xx = round(summary.rps_2xx, 3)
        result.bytes = int(summary.bytes)
        result.latency_ms = latency_figures(summary.latency)
        if summary.latency_uncorrected is not None and summary.latency_uncorrected.count:
            result.latency_ms["uncorrected"] = latency_figures(summary.latency_uncorrected)
        cpu = running.cpu_samples
        if cpu and running.procs_max > 0:  # no process seen (remote --url): no server figures, not zeros
            result.server = {
                "cpu_pct_mean": round(statistics.fmean(cpu), 1),
                "cpu_pct_max": round(max(cpu), 1),
                "rss_mb_max": round(running.rss_mb_max, 1),
                "procs": running.procs_max,
                "threads": running.threads_max,
            }
        result.loader = {
            "cpu_pct": round(summary.loader_cpu_pct, 1),
            "saturated": bool(summary.saturated),
            "procs": summary.procs,
            "reasons": list(summary.saturation_reasons),
            "loop_lag_p99_ms": round(summary.loop_lag_p99_ms, 2),
            # requests still unanswered when a time-bound load ended: in no figure above
            "in_flight_dropped": int(getattr(summary, "in_flight_dropped", 0) or 0),
        }
        if summary.target_rate is not None:
            result.loader["target_rate"] = summary.target_rate
            # asked for, actually sent, answered: a slow server lowers the last, a late loader the second
            for key in ("offered_rate", "sent_rate", "served_rate"):
                result.loader[key] = round(getattr(summary, key) or 0.0, 1)
            for key in ("scheduled", "sent", "sent_late", "backlogged", "unsent", "carried_over"):
                result.loader[key] = int(getattr(summary, key))
            result.loader["backlog_growing"] = bool(summary.backlog_growing)
        if summary.notes:
            result.loader["notes"] = list(summary.notes)
        result.tcp = tcp
        result.timeline = running.timeline


def latency_figures(hist) -> dict[str, float]:
    """min mean p50 p90 p99 p999 max in ms from a histogram in µs; {} when it is empty."""
    if not hist.count:
        return {}
    p = hist.percentiles((50, 90, 99, 99.9))
    return {
        "min": _ms(hist.min),
        "mean": _ms(hist.mean),
        "p50": _ms(p[50]),
        "p90": _ms(p[90]),
        "p99": _ms(p[99]),
        "p999": _ms(p[99.9]),
        "max": _ms(hist.max),
    }


def combine_repeats(runs: list[RunResult]) -> RunResult:
    """N repetitions → the middle one by req/s among ok runs (with an even n the lower
    of the two middle ones: a real run, never an average of two), with every
    repetition's req/s, the true median and the spread in ``repeat``."""
    if len(runs) == 1:
        return runs[0]
    ok = sorted((r for r in runs if r.status == "ok"), key=lambda r: r.rps)
    chosen = ok[(len(ok) - 1) // 2] if ok else runs[-1]
    rps = [r.rps for r in ok]
    median = statistics.median(rps) if rps else 0.0
    chosen.repeat = {
        "n": len(runs),
        "rps": [r.rps for r in runs],
        "p99_ms": [r.latency_ms.get("p99") for r in runs],
        "status": [r.status for r in runs],
        "rps_median": round(median, 3),
        "rps_min": min(rps) if rps else None,
        "rps_max": max(rps) if rps else None,
        # spread: the whole range as a share of the median, the honest figure for small n
        "spread_pct": round(100.0 * (max(rps) - min(rps)) / median, 2) if rps and median > 0 else None,
    }
    failed = [r for r in runs if r.status != "ok"]
    if ok and failed:
        chosen.status = "failed"
        chosen.reason = f"{len(failed)} of {len(runs)} repetitions failed: {failed[0].reason}"
    return chosen


def _one_line(exc: object) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
