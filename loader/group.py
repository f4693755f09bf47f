"""A group of loader processes on this machine and the parent's side of their pipe
protocol: spawn (never fork: the TUI process has threads) → ready → go(start_at) →
one snapshot per tick → stop. ``LoadRun`` holds one group of every process and
merges; a cluster node agent (``loader/agent.py``) holds the share of one node and
hands the raw snapshots on. No zombie, no orphan: children are joined, and the
kernel kills them if this process dies (PR_SET_PDEATHSIG, set in the child)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection
from typing import Any

from .process import worker_main
from .profile import LoadProfile

#: seconds a loader process may take to start (spawn imports numpy, uvloop, httptools)
READY_TIMEOUT_S = 30.0
#: extra seconds past its tick a process may be late before it counts as hung
TICK_LATE_S = 10.0

#: one tick's raw snapshots, by the process's index in the whole run
Snapshots = dict[int, dict[str, Any]]


class GroupFailed(Exception):
    """A process of the group died, hung or could not start (the message says which)."""


class ProcessGroup:
    """The loader processes ``indices`` of a run of ``profile.procs`` (all of them by
    default). Each process gets its share of the load by its index, as the profile
    splits it (``split_evenly``, loader/profile.py), so groups on several machines make one run."""

    def __init__(self, profile: LoadProfile, indices: Sequence[int] | None = None) -> None:
        self.profile = profile
        self.indices = list(range(profile.procs) if indices is None else indices)
        self._procs: dict[int, Any] = {}
        self._pipes: dict[int, Connection] = {}
        self._send_lock = threading.Lock()
        self._closed = False
        self._go_sent = False
        self.notes: list[str] = []  # the processes' start-up notes (e.g. the open-file limit)
        self.loop_name = ""  #: event loop the processes run ("uvloop" or "asyncio")

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc in self._procs.values() if proc.pid is not None]

    @property
    def closed(self) -> bool:
        return self._closed

    def spawn(self) -> None:
        """Start the processes and wait until each is ready; GroupFailed if one is not."""
        ctx = multiprocessing.get_context("spawn")
        for index in self.indices:
            parent_end, child_end = ctx.Pipe(duplex=True)
            proc = ctx.Process(
                target=worker_main,
                args=(child_end, self.profile, index, os.getpid()),
                name=f"wsgicompare-loader-{index}",
                daemon=True,
            )
            proc.start()
            child_end.close()
            self._procs[index] = proc
            self._pipes[index] = parent_end
        deadline = time.monotonic() + READY_TIMEOUT_S
        for index in self.indices:
            kind, payload = self.recv(index, deadline)
            if kind == "fatal":
                raise GroupFailed(f"loader process {index}: {payload}")
            self.notes.extend(payload["notes"])
            self.loop_name = payload["loop"]

    def go(self, start_at: float) -> None:
        """The common start, on this machine's monotonic clock."""
        with self._send_lock:
            for pipe in self._pipes.values():
                pipe.send(("go", start_at))
            self._go_sent = True

    def stop(self) -> bool:
        """Ask every process to finish early (thread-safe); False before ``go``."""
        with self._send_lock:
            if not self._go_sent:
                return False
            for pipe in self._pipes.values():
                try:
                    pipe.send(("stop",))
                except (OSError, ValueError):
                    pass
        return True

    def snapshots(self) -> Iterator[Snapshots]:
        """Each tick's snapshots of every process still running (blocking), until each
        has sent its last (``done``). GroupFailed when one dies or stops reporting;
        ends quietly if ``close()`` came from another thread."""
        running = set(self.indices)
        wall_deadline = time.monotonic() + self.profile.wall_cap_s() + TICK_LATE_S + 5
        while running:
            snapshots: Snapshots = {}
            deadline = min(time.monotonic() + self.profile.tick_s + TICK_LATE_S, wall_deadline)
            for index in sorted(running):
                _kind, snap = self.recv(index, deadline)
                snapshots[index] = snap
                if snap["done"]:
                    running.discard(index)
            yield snapshots

    def recv(self, index: int, deadline: float) -> Any:
        """The next message from process ``index``: GroupFailed if it died or hung,
        GroupClosed if ``close()`` came meanwhile."""
        pipe = self._pipes[index]
        proc = self._procs[index]
        while True:
            wait_s = deadline - time.monotonic()
            if wait_s <= 0:
                raise GroupFailed(f"loader process {index} stopped reporting (hung or overloaded); killed")
            try:
                if pipe.poll(min(wait_s, 0.5)):
                    return pipe.recv()
            except (EOFError, OSError):
                if self._closed:  # close() from another thread: not a death to report
                    raise GroupClosed from None
                proc.join(timeout=2)
                raise GroupFailed(f"loader process {index} died (exit code {proc.exitcode})") from None
            if self._closed:
                raise GroupClosed
            if not proc.is_alive():
                # the pipe may still hold its last words
                try:
                    if pipe.poll(0):
                        return pipe.recv()
                except (EOFError, OSError):
                    pass
                raise GroupFailed(f"loader process {index} died (exit code {proc.exitcode})")

    def reap(self) -> None:
        """Wait for processes that are finishing by themselves, then close."""
        for proc in self._procs.values():
            proc.join(timeout=5)
        self.close()

    def close(self) -> None:
        """Kill the processes (if still running) and reap them; idempotent."""
        if self._closed:
            return
        self._closed = True
        for proc in self._procs.values():
            if proc.is_alive():
                proc.kill()
        for proc in self._procs.values():
            proc.join(timeout=5)
        with self._send_lock:
            for pipe in self._pipes.values():
                pipe.close()


class GroupClosed(Exception):
    """``close()`` came from another thread while a message was awaited."""
