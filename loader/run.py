"""The parent side of a load run: starts the loader processes (``ProcessGroup``,
loader/group.py), hands out a common start time, merges their per-tick snapshots
into ticks and the summary, and ends them cleanly."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from .group import GroupClosed, GroupFailed, ProcessGroup, Snapshots
from .profile import LoadProfile, LoadProfileError
from .stats import LoadSummary, LoadTick, RunningTotals, cpu_capacity_pct

#: seconds between the go message and the common start (lets every process get it)
START_MARGIN_S = 0.05


class LoadRun:
    """One load run over ``profile.procs`` loader processes.

    ``start()``; iterate ``ticks()`` (blocking; ends when the load ends); ``summary()``.
    ``stop()`` may be called from any thread: no new requests, in-flight ones get
    0.5 s (at most ``timeout_s``) to finish and count; what is still in flight then is
    dropped (``LoadSummary.in_flight_dropped``), as at the end of a ``--duration`` run.
    ``close()`` kills the processes; it is also what the context manager calls.

    Subclasses carry the same protocol elsewhere (``wsgicompare/cluster/loaders.py``: the
    processes of several machines) by overriding the ``_spawn``, ``_go``, ``_halt``,
    ``_snapshots`` and ``_kill`` steps; the merge and the summary stay these."""

    def __init__(self, profile: LoadProfile, *, cpu_capacity: float | None = None) -> None:
        profile.validate()
        if profile.rate is not None and profile.arrivals == "poisson" and profile.seed is None:
            # chosen once, here in the parent: every process draws from it, the summary says which
            profile = replace(profile, seed=secrets.randbelow(2**32))
        self.profile = profile
        self._group = ProcessGroup(profile)
        self._lock = threading.Lock()
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
            cpu_capacity_pct=cpu_capacity_pct(profile.cpus, profile.procs) if cpu_capacity is None else cpu_capacity,
            concurrency=profile.concurrency,
            tick_s=profile.tick_s,
        )

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> None:
        """Start the loader processes and the load (blocks until they are ready)."""
        if self._started:
            raise RuntimeError("LoadRun.start() called twice")
        self._started = True
        try:
            try:
                notes, self.loop_name = self._spawn()
            except GroupClosed:
                self._finished = True
                return
            except GroupFailed as exc:
                self._fail(str(exc))
                return
            self._acc.notes.extend(notes)
            with self._lock:
                self._go()
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
        with self._lock:
            if not self._go_sent:
                return  # start() passes it on once the processes have their start time
            self._halt()

    def close(self) -> None:
        """Kill the loader processes (if still running) and reap them."""
        if self._closed:
            return
        self._closed = True
        self._kill()

    def summary(self) -> LoadSummary:
        """The measured window's figures; drains the remaining ticks first."""
        if self._started and not self._finished and not self._closed:
            for _ in self.ticks():
                pass
        summary = self._acc.summary()
        if self.profile.rate is not None:
            summary.arrivals = self.profile.arrivals
            summary.seed = self.profile.seed if self.profile.arrivals == "poisson" else None
        if self._stop_requested and "stopped early" not in " ".join(summary.notes):
            summary.notes.append("stopped early on request")
        return summary

    @property
    def pids(self) -> list[int]:
        """Process ids of the loader processes (for pinning checks and sampling)."""
        return self._group.pids

    @property
    def nodes(self) -> list[dict[str, Any]] | None:
        """Per-node figures of a run spread over several machines; None here."""
        return None

    def __enter__(self) -> LoadRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the steps a transport provides (here: processes on this machine) ----------------
    def _spawn(self) -> tuple[list[str], str]:
        """Start every process and wait until each is ready: (notes, loop name)."""
        self._group.spawn()
        return self._group.notes, self._group.loop_name

    def _go(self) -> None:
        self._group.go(time.monotonic() + START_MARGIN_S)

    def _halt(self) -> None:
        self._group.stop()

    def _snapshots(self) -> Iterator[Snapshots]:
        return self._group.snapshots()

    def _kill(self) -> None:
        self._group.close()

    def _reap(self) -> None:
        self._group.reap()

    # -- internals ---------------------------------------------------------------------
    def _fail(self, reason: str) -> None:
        if self._acc.fatal is None:
            self._acc.fatal = reason
        self._finished = True
        self.close()

    def _tick_stream(self) -> Iterator[LoadTick]:
        running = set(range(self.profile.procs))
        index = 0
        try:
            for snapshots in self._snapshots():
                for proc, snap in snapshots.items():
                    if snap["done"]:
                        running.discard(proc)
                yield self._acc.merge(index, snapshots, all_done=not running)
                index += 1
        except GroupClosed:
            self._finished = True
        except GroupFailed as exc:
            self._fail(str(exc))
        finally:
            if not running or self._acc.fatal is not None:
                self._finished = True
                self._reap()


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
