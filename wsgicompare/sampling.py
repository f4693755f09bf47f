"""CPU, memory, processes and threads of a server's whole process tree, one sample
per loader tick."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil


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
