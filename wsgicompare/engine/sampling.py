"""CPU, memory, processes and threads of a server's whole process tree, one sample
per loader tick; USS and PSS at most once a second (MEMORY_EVERY_S)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import psutil

from wsgicompare.results import ServerFigures

#: USS and PSS come from /proc/PID/smaps_rollup (psutil's memory_full_info), which walks
#: each process's page tables. Measured here on gunicorn with 4 sync workers (5 processes):
#: 2.1 ms a read of the tree (p90 6.2 ms), against 0.05 ms for RSS alone (statm). Read
#: every 250 ms tick that would be ~1 % of a core on the conductor's CPU, shared with the
#: loader; once a second it is ~0.2 %, and memory moves slower than that.
MEMORY_EVERY_S = 1.0


class ServerSample(NamedTuple):
    """One sample of a server's process tree (TreeSampler.sample)."""

    cpu_pct: float  #: since the previous sample; 100 = one core
    rss_mb: float  #: summed over the tree: pages shared between processes count once per process
    procs: int
    threads: int
    #: summed over the tree: pages only one process holds (its own); None when not read on
    #: this sample (at most once a second) or not permitted
    uss_mb: float | None = None
    #: summed over the tree: each page split between the processes that share it
    pss_mb: float | None = None
    #: the mean USS of the processes the backend declares as its workers (Server.workers)
    worker_uss_mb: float | None = None
    #: why there is no USS/PSS (not permitted), else None
    memory_note: str | None = None


class TreeSampler:
    """CPU %, RSS, processes and threads of a server's whole process tree, per tick.
    psutil.Process objects are kept between samples so each CPU figure covers exactly
    the interval since the previous sample; a process born in between counts whole.

    A process that lives shorter than a tick (flask-processes forks one per request)
    is never seen, but its CPU is: once its parent reaps it, the kernel adds it to the
    parent's children_user/children_system. A process that *was* seen and then ends
    lands there too; what it had already been counted for is held as a credit
    against that growth, so nothing counts twice."""

    def __init__(
        self,
        processes: Callable[[], list[psutil.Process]],
        workers: Callable[[], list[psutil.Process]] | None = None,
    ) -> None:
        self._processes = processes
        self._workers = workers  # the backend's declared workers (Server.workers); None: none declared
        self._memory_at = -math.inf  # when USS and PSS were last read (monotonic)
        self._cpu_s: dict[tuple[int, float], tuple[float, float]] = {}  # key -> (own, reaped children) CPU s
        self._procs: dict[tuple[int, float], psutil.Process] = {}
        self._credit_s = 0.0  # CPU of ended processes already counted, not yet seen in a parent's children
        self._last = time.monotonic()
        self._last_wall = time.time()
        self.sample()  # baseline: the next sample measures from here

    def sample(self, memory: bool = False) -> ServerSample:
        """CPU since the previous call (100 % = one core), RSS, processes, threads; with
        ``memory``, USS and PSS too when the last read is MEMORY_EVERY_S old."""
        now = time.monotonic()
        read_memory = memory and now - self._memory_at >= MEMORY_EVERY_S
        uss_by_pid: dict[int, int] = {}
        pss = 0
        note: str | None = None
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
            if read_memory and note is None:
                try:
                    full = kept.memory_full_info()
                    uss_by_pid[proc.pid] = full.uss
                    pss += full.pss
                except psutil.AccessDenied:
                    note = f"USS and PSS not permitted (/proc/{proc.pid}/smaps_rollup unreadable): memory is RSS only"
                except (psutil.Error, OSError):
                    pass  # ended since: no memory left to count
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
        sample = ServerSample(100.0 * cpu_used / interval, rss / 1e6, len(seen), threads)
        if not read_memory:
            return sample
        self._memory_at = now
        if note is not None or not uss_by_pid:
            return sample._replace(memory_note=note)
        return sample._replace(
            uss_mb=sum(uss_by_pid.values()) / 1e6, pss_mb=pss / 1e6, worker_uss_mb=self._worker_uss_mb(uss_by_pid)
        )

    def _worker_uss_mb(self, uss_by_pid: dict[int, int]) -> float | None:
        """The mean USS of the declared workers read in this sample (None: none declared or read)."""
        if self._workers is None:
            return None
        try:
            pids = [p.pid for p in self._workers()]
        except (psutil.Error, OSError):
            return None
        values = [uss_by_pid[pid] for pid in pids if pid in uss_by_pid]
        return statistics.fmean(values) / 1e6 if values else None


@dataclass
class ServerWindow:
    """A run's server figures, gathered sample by sample over its measured window."""

    cpu: list[float] = field(default_factory=list)
    rss_mb_max: float = 0.0
    procs_max: int = 0
    threads_max: int = 0
    uss_mb: list[float] = field(default_factory=list)
    pss_mb: list[float] = field(default_factory=list)
    worker_uss_mb_max: float | None = None
    memory_note: str | None = None
    #: the latest USS read: a tick shows it until the next read
    uss_mb_last: float | None = None

    def add(self, sample: ServerSample, full: bool) -> None:
        """A measured tick's sample. ``full``: not the sliver of a last tick, whose CPU
        share is noise; memory is a level, not a rate, so a sliver's reading counts."""
        if full:
            self.cpu.append(sample.cpu_pct)
            self.rss_mb_max = max(self.rss_mb_max, sample.rss_mb)
            self.procs_max = max(self.procs_max, sample.procs)
            self.threads_max = max(self.threads_max, sample.threads)
        self.memory_note = self.memory_note or sample.memory_note
        if sample.uss_mb is None or sample.pss_mb is None:
            return
        self.uss_mb.append(sample.uss_mb)
        self.pss_mb.append(sample.pss_mb)
        self.uss_mb_last = sample.uss_mb
        if sample.worker_uss_mb is not None:
            self.worker_uss_mb_max = max(self.worker_uss_mb_max or 0.0, sample.worker_uss_mb)

    def figures(self) -> ServerFigures | None:
        """The ``server`` part of the result; None when no process was seen (remote --url)."""
        if not self.cpu or self.procs_max <= 0:
            return None

        def mb(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        uss, pss = self.uss_mb, self.pss_mb
        return ServerFigures(
            cpu_pct_mean=round(statistics.fmean(self.cpu), 1),
            cpu_pct_max=round(max(self.cpu), 1),
            rss_mb_max=round(self.rss_mb_max, 1),
            uss_mb_max=mb(max(uss)) if uss else None,
            uss_mb_mean=mb(statistics.fmean(uss)) if uss else None,
            pss_mb_max=mb(max(pss)) if pss else None,
            pss_mb_mean=mb(statistics.fmean(pss)) if pss else None,
            uss_mb_per_worker=mb(self.worker_uss_mb_max),
            procs=self.procs_max,
            threads=self.threads_max,
            # a read refused once (a process of the tree not ours for a moment) is no
            # note when others succeeded: the figures above are USS/PSS after all
            memory_note=self.memory_note if not uss else None,
        )


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


def listen_ports(processes: list[psutil.Process]) -> set[int]:
    """The TCP ports these processes listen on: a server's public port and the ones
    behind it (uWSGI's socket behind nginx, the uWSGI HTTP router's workers). Read
    once before the load: it walks every process's file descriptors."""
    ports: set[int] = set()
    for proc in processes:
        try:
            conns = proc.net_connections(kind="tcp")
        except (psutil.Error, OSError):
            continue
        ports |= {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN and c.laddr}
    return ports
