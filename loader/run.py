"""The parent side of a load run: starts the loader processes (spawn, never fork:
the TUI process has threads), hands out a common start time, merges their per-tick
snapshots and ends them cleanly. No zombie, no orphan: children are joined, and the
kernel kills them if this process dies (PR_SET_PDEATHSIG, set in the worker)."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

from .process import worker_main
from .profile import LoadProfile, LoadProfileError
from .stats import LoadSummary, LoadTick, RunningTotals, cpu_capacity_pct

#: seconds a loader process may take to start (spawn imports numpy, uvloop, httptools)
READY_TIMEOUT_S = 30.0
#: extra seconds past its tick a process may be late before it counts as hung
TICK_LATE_S = 10.0
#: seconds between the go message and the common start (lets every process get it)
START_MARGIN_S = 0.05


class LoadRun:
    """One load run over ``profile.procs`` loader processes.

    ``start()``; iterate ``ticks()`` (blocking; ends when the load ends); ``summary()``.
    ``stop()`` may be called from any thread: no new requests, in-flight ones get
    0.5 s (at most ``timeout_s``) to finish and count; what is still in flight then is
    dropped (``LoadSummary.in_flight_dropped``), as at the end of a ``--duration`` run.
    ``close()`` kills the processes; it is also what the context manager calls."""

    def __init__(self, profile: LoadProfile) -> None:
        profile.validate()
        self.profile = profile
        self._procs: list[Any] = []
        self._pipes: list[Connection] = []
        self._send_lock = threading.Lock()
        self._started = False
        self._closed = False
        self._stop_requested = False
        self._go_sent = False
        self._iter: Iterator[LoadTick] | None = None
        self._finished = False
        self.loop_name = ""  #: event loop the processes run ("uvloop" or "asyncio")
        self._acc = RunningTotals(
            profile.procs,
            open_loop=profile.rate is not None,
            target_rate=profile.rate,
            cpu_capacity_pct=cpu_capacity_pct(profile.cpus, profile.procs),
            concurrency=profile.concurrency,
            tick_s=profile.tick_s,
        )

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Start the loader processes and the load (blocks until they are ready)."""
        if self._started:
            raise RuntimeError("LoadRun.start() called twice")
        self._started = True
        ctx = multiprocessing.get_context("spawn")
        try:
            for index in range(self.profile.procs):
                parent_end, child_end = ctx.Pipe(duplex=True)
                proc = ctx.Process(
                    target=worker_main,
                    args=(child_end, self.profile, index, os.getpid()),
                    name=f"wsgicompare-loader-{index}",
                    daemon=True,
                )
                proc.start()
                child_end.close()
                self._procs.append(proc)
                self._pipes.append(parent_end)
            deadline = time.monotonic() + READY_TIMEOUT_S
            for index, pipe in enumerate(self._pipes):
                msg = self._recv(index, deadline)
                if msg is None:
                    return
                kind, payload = msg
                if kind == "fatal":
                    self._fail(f"loader process {index}: {payload}")
                    return
                self._acc.notes.extend(payload["notes"])
                self.loop_name = payload["loop"]
            start_at = time.monotonic() + START_MARGIN_S
            with self._send_lock:
                for pipe in self._pipes:
                    pipe.send(("go", start_at))
                self._go_sent = True
            if self._stop_requested:  # stop() came while the processes were starting
                self.stop()
        except BaseException:
            self.close()
            raise

    def ticks(self) -> Iterator[LoadTick]:
        """Merged ticks as they come (blocking). Ends after the tick with ``done``."""
        if not self._started:
            raise RuntimeError("LoadRun.ticks() before start()")
        if self._iter is None:
            self._iter = self._tick_stream()
        return self._iter

    def stop(self) -> None:
        """Finish early (thread-safe); the ticks go on until the processes are done."""
        self._stop_requested = True
        with self._send_lock:
            if not self._go_sent:
                return  # start() passes it on once the processes have their start time
            for pipe in self._pipes:
                try:
                    pipe.send(("stop",))
                except (OSError, ValueError):
                    pass

    def close(self) -> None:
        """Kill the loader processes (if still running) and reap them."""
        if self._closed:
            return
        self._closed = True
        for proc in self._procs:
            if proc.is_alive():
                proc.kill()
        for proc in self._procs:
            proc.join(timeout=5)
        with self._send_lock:
            for pipe in self._pipes:
                pipe.close()

    def summary(self) -> LoadSummary:
        """The measured window's figures; drains the remaining ticks first."""
        if self._started and not self._finished and not self._closed:
            for _ in self.ticks():
                pass
        summary = self._acc.summary()
        if self._stop_requested and "stopped early" not in " ".join(summary.notes):
            summary.notes.append("stopped early on request")
        return summary

    @property
    def pids(self) -> list[int]:
        """Process ids of the loader processes (for pinning checks and sampling)."""
        return [proc.pid for proc in self._procs if proc.pid is not None]

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------
    def _fail(self, reason: str) -> None:
        if self._acc.fatal is None:
            self._acc.fatal = reason
        self._finished = True
        self.close()

    def _recv(self, index: int, deadline: float) -> Any:
        """The next message from process ``index``; None (and fatal set) if it died or hung."""
        pipe = self._pipes[index]
        proc = self._procs[index]
        while True:
            wait_s = deadline - time.monotonic()
            if wait_s <= 0:
                self._fail(f"loader process {index} stopped reporting (hung or overloaded); killed")
                return None
            try:
                if pipe.poll(min(wait_s, 0.5)):
                    return pipe.recv()
            except (EOFError, OSError):
                if self._closed:  # close() from another thread: not a death to report
                    self._finished = True
                    return None
                proc.join(timeout=2)
                self._fail(f"loader process {index} died (exit code {proc.exitcode})")
                return None
            if self._closed:
                self._finished = True
                return None
            if not proc.is_alive():
                # the pipe may still hold its last words
                try:
                    if pipe.poll(0):
                        return pipe.recv()
                except (EOFError, OSError):
                    pass
                self._fail(f"loader process {index} died (exit code {proc.exitcode})")
                return None

    def _tick_stream(self) -> Iterator[LoadTick]:
        procs = self.profile.procs
        running = set(range(procs))
        index = 0
        wall_deadline = time.monotonic() + self.profile.wall_cap_s() + TICK_LATE_S + 5
        try:
            while running and self._acc.fatal is None:
                snapshots: dict[int, dict[str, Any]] = {}
                deadline = min(time.monotonic() + self.profile.tick_s + TICK_LATE_S, wall_deadline)
                for proc in sorted(running):
                    msg = self._recv(proc, deadline)
                    if msg is None:
                        return
                    kind, snap = msg
                    snapshots[proc] = snap
                    if snap["done"]:
                        running.discard(proc)
                yield self._acc.merge(index, snapshots, all_done=not running)
                index += 1
        finally:
            if not running or self._acc.fatal is not None:
                self._finished = True
                self._reap()

    def _reap(self) -> None:
        for proc in self._procs:
            proc.join(timeout=5)
        self.close()


def run_load(
    profile: LoadProfile,
    on_tick: Callable[[LoadTick], None] | None = None,
    stop_event: threading.Event | None = None,
) -> LoadSummary:
    """Run ``profile`` to its end (blocking) and return the summary. ``on_tick`` sees
    every merged tick; setting ``stop_event`` ends the load early."""
    run = LoadRun(profile)
    finished = threading.Event()
    watcher = None
    try:
        run.start()
        if stop_event is not None:

            def watch() -> None:
                while not finished.is_set():
                    if stop_event.wait(0.05):
                        run.stop()
                        return

            watcher = threading.Thread(target=watch, name="wsgicompare-loader-stop", daemon=True)
            watcher.start()
        for tick in run.ticks():
            if on_tick is not None:
                on_tick(tick)
        return run.summary()
    finally:
        finished.set()
        if watcher is not None:
            watcher.join(timeout=1)
        run.close()


__all__ = ["LoadRun", "run_load", "LoadProfileError"]
