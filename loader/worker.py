"""One loader process's run: its clients, the stop rules, the open-loop schedule, and
one snapshot per tick to the parent (``loader/process.py`` sets the process up; the
per-connection hot path is in ``loader/connection.py``).

Runs only in a child process started by ``LoadRun`` (spawn); never import it for
its side effects in the UI process.
"""

from __future__ import annotations

import asyncio
import errno
import os
import random
import select
import socket
import time
from array import array
from collections import deque
from typing import Any

from .connection import (
    _EMPTY_PART,
    BUSY,
    CONNECTING,
    IDLE,
    NAGLE_SAFE_BYTES,
    Client,
    HeadClient,
    Shot,
    TickCounts,
    _encode,
)
from .profile import LoadProfile, build_request, split_evenly, tick_boundary_s, warmup_ticks
from .schedule import schedule_for
from .slow import SlowClients, slow_clients_for

__all__ = ["Worker", "_encode"]

#: seconds between two event-loop lag probes
LAG_PROBE_S = 0.01
#: seconds in-flight requests may still finish after stop() before they are dropped
STOP_GRACE_S = 0.5
#: open loop: a request the scheduler hands out later than this after its intended
#: time was sent late because this process's event loop was busy (loader-bound)
SCHEDULE_LATE_S = 0.010
#: open loop: the scheduler wakes at most once per this many seconds and hands out
#: everything due until one step ahead. A timer per request would fire at once for
#: sub-millisecond gaps (uvloop's timers have millisecond resolution) and spin the
#: core; a request sent up to one step early is timed from its actual send instead
#: (latency counts from the earlier of its intended and actual send time).
SCHEDULE_STEP_S = 0.001

_monotonic = time.monotonic


class Worker:
    """Runs one process's share of the load and reports a snapshot per tick."""

    def __init__(self, profile: LoadProfile, index: int, pipe: Any, host: str, port: int, start_at: float) -> None:
        self.profile = profile
        self.index = index
        self.pipe = pipe
        self.host = host
        self.port = port
        self.family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.address = (host, port)
        self.loop = asyncio.get_running_loop()
        self.epoll = select.epoll()  # one-shot connections (Shot); one reader on the loop
        self.shots: dict[int, Shot] = {}
        self.request = build_request(profile)
        #: one-shot connections set TCP_NODELAY only for a request Nagle could hold back
        self.request_nodelay = len(self.request) > NAGLE_SAFE_BYTES
        self.keepalive = profile.keepalive
        self.open_loop = profile.rate is not None
        self.clients_n = split_evenly(profile.concurrency, profile.procs)[index]
        self.requests_left = split_evenly(profile.requests, profile.procs)[index] if profile.requests else None
        self.reps = profile.reps
        self.delay_s = profile.delay_s
        self.timeout_s = profile.timeout_s
        self.warm_acc = TickCounts(self.open_loop)
        self.measured_acc = TickCounts(self.open_loop)
        self.start_at = start_at  # monotonic s of the run start (same in every process)
        self.warm_end = start_at + profile.warmup_s
        self.end_at = self.warm_end + profile.duration_s if profile.duration_s is not None else None
        self.wall_end = start_at + profile.wall_cap_s()
        self.issue_acc = self.warm_acc if profile.warmup_s > 0 else self.measured_acc
        self.measured_start = start_at if profile.warmup_s <= 0 else None
        self.n_warm_ticks = warmup_ticks(profile.warmup_s, profile.tick_s)
        self.k = 0
        self.last_tick_at = start_at
        self.cpu_prev = time.process_time()
        self.lag = array("q")
        self.lag_expected = 0.0
        self.finishing = False  # no new requests; in-flight ones may still complete
        self.finished = False
        self.done = self.loop.create_future()
        self.notes: list[str] = []
        self.errno_counts: dict[str, int] = {}
        client_class = HeadClient if profile.method == "HEAD" else Client
        self.clients = [client_class(self) for _ in range(self.clients_n)]
        self.active = self.clients_n
        # the periodic timers, kept by name so finish() can cancel them
        self.tick_timer: asyncio.TimerHandle | None = None
        self.lag_timer: asyncio.TimerHandle | None = None
        self.sweep_timer: asyncio.TimerHandle | None = None
        self.schedule_timer: asyncio.TimerHandle | None = None
        self.grace_timer: asyncio.TimerHandle | None = None
        # A time-bound run counts what is answered inside the measured window: requests
        # still outstanding when the warm-up ends (in flight, or waiting for a connection)
        # are carried into it. A count-bound run counts the requests issued after it.
        self.carry = self.requests_left is None and self.reps is None
        self.carried_over = 0  # warm-up requests outstanding at the warm-up's end (carried)
        # open loop: when each request is due (loader/schedule.py). The backlog is the
        # index range [next_i, due_end): due, but every connection was busy.
        self.schedule = schedule_for(profile, index, start_at) if profile.rate else None
        self.idle_open: deque = deque()
        self.idle_closed: list[Client] = []
        self.next_i = 0  # the next due request to send
        self.due_end = 0  # requests [0, due_end) are due
        #: the first request whose intended time is at or after the warm-up's end
        self.first_measured_i = self.schedule.first_at_or_after(self.warm_end) if self.schedule else 0
        #: open loop with --requests: this process's last request + 1
        self.sched_limit = (
            self.first_measured_i + self.requests_left if self.schedule and self.requests_left is not None else None
        )
        # open-loop accounting of the measured window, reported once at the end:
        self.measured_from_i = 0  # the first request index counted as measured (set when measuring begins)
        self.sched_late = 0  # measured requests that became due > SCHEDULE_LATE_S before the scheduler woke
        self.backlogged = 0  # measured requests that waited for a free connection past their time
        self.unsent = 0  # measured requests still waiting for a connection when the load ended
        self.sched_stopped = False  # the schedule handed out its last request (--requests)
        self.draining = False  # --requests reached: busy clients still take the backlog
        # slow clients (loader/slow.py): process 0 holds them, from slow_from_s to slow_until_s
        self.slow: SlowClients | None = None
        self.slow_timers: list[asyncio.TimerHandle] = []

    # -- the run ---------------------------------------------------------------------------
    async def run(self) -> None:
        loop = self.loop
        delay = max(0.0, self.start_at - _monotonic())
        await asyncio.sleep(delay)
        self.cpu_prev = time.process_time()  # the first tick's CPU counts from the start, as its wall time
        # The run's clock started at start_at, before any connection is opened: a run
        # that cannot open its connections still ends on time.
        self._arm_tick()
        self.lag_expected = _monotonic() + LAG_PROBE_S
        self.lag_timer = loop.call_later(LAG_PROBE_S, self._probe_lag)
        self.sweep_timer = loop.call_later(self._sweep_every_s(), self._sweep)
        loop.add_reader(self.pipe.fileno(), self._on_parent)
        loop.add_reader(self.epoll.fileno(), self._on_shots)
        profile = self.profile
        if profile.slow_clients and self.index == 0:
            self.slow_timers.append(
                loop.call_later(max(0.0, self.start_at + profile.slow_from_s - _monotonic()), self._open_slow)
            )
        if self.active == 0 or self.requests_left == 0:
            for client in self.clients:
                client.retired = True
            self.active = 0
            self.finish(_monotonic())
        elif self.open_loop:
            self.idle_closed = list(reversed(self.clients))
            self._schedule()
        else:
            now = _monotonic()
            for client in self.clients:
                self._issue_closed(client, now)
        try:
            await self.done
        finally:
            loop.remove_reader(self.pipe.fileno())
            loop.remove_reader(self.epoll.fileno())
            self.epoll.close()

    def _open_slow(self) -> None:
        """The slow clients connect (loader process 0 only); they close at slow_until_s."""
        if self.finished:
            return
        self.slow = slow_clients_for(self.loop, self.address, self.profile)
        self.slow.open()
        if self.profile.slow_until_s is not None:
            delay = self.start_at + self.profile.slow_until_s - _monotonic()
            self.slow_timers.append(self.loop.call_later(max(0.0, delay), self.slow.close))

    def _on_shots(self) -> None:
        """The epoll set of the one-shot connections has events: handle them all."""
        shots = self.shots
        for fd, events in self.epoll.poll(0):
            shot = shots.get(fd)
            if shot is not None:  # else closed earlier in this batch: a stale event
                shot.on_event(events)

    def next_request(self, client: Client, now: float) -> None:
        """Give ``client`` its next request, or retire it when the stop rule says so."""
        if self.finishing:
            self.retire(client)
            return
        if self.open_loop:
            if self.next_i < self.due_end:
                self._send_scheduled(client, now, waited=True)
                if self.draining and self.next_i >= self.due_end:
                    self.finishing_soft()
            elif client.state == IDLE:
                self.idle_open.append(client)
            else:
                self.idle_closed.append(client)
            return
        if self.delay_s > 0:
            client.think_handle = self.loop.call_later(random.random() * self.delay_s, self.after_think, client)
            return
        self._issue_closed(client, now)

    def after_think(self, client: Client) -> None:
        client.think_handle = None
        if self.open_loop:
            self.next_request(client, _monotonic())
        elif self.finishing:
            self.retire(client)
        else:
            self._issue_closed(client, _monotonic())

    def _issue_closed(self, client: Client, now: float) -> None:
        acc = self.issue_acc
        if acc is self.measured_acc:
            if self.reps is not None:
                if client.reps_issued >= self.reps:
                    self.retire(client)
                    return
                client.reps_issued += 1
            if self.requests_left is not None:
                if self.requests_left <= 0:
                    self.retire(client)
                    return
                self.requests_left -= 1
        client.issue(now, now, acc)

    def retire(self, client: Client) -> None:
        if client.retired:
            return
        client.retired = True
        client.drop_connection()
        self.active -= 1
        if self.active <= 0:
            self.finish(_monotonic())

    # -- open loop -------------------------------------------------------------------------
    def _schedule(self) -> None:
        """One wake-up of the open loop: everything due until SCHEDULE_STEP_S ahead goes
        to the idle connections; the rest waits in the backlog for the next free one."""
        if self.finishing or self.sched_stopped:
            return
        now = _monotonic()
        schedule = self.schedule
        assert schedule is not None
        self.due_end = schedule.apply_changes(now, self.due_end)
        prev_due = self.due_end
        due_end = max(prev_due, schedule.due_count(now + SCHEDULE_STEP_S))
        limit = self.sched_limit
        if limit is not None and due_end >= limit:
            due_end = limit
        if due_end > prev_due:
            if due_end > self.first_measured_i and self.issue_acc is not self.measured_acc:
                self._begin_measuring(now)
            self.due_end = due_end
            self._count_late(prev_due, now)
            idle_open, idle_closed = self.idle_open, self.idle_closed
            while self.next_i < due_end:
                if idle_open:
                    client = idle_open.popleft()
                elif idle_closed:
                    client = idle_closed.pop()
                else:
                    break  # every connection busy: the rest waits (see next_request)
                self._send_scheduled(client, now, waited=False)
        schedule.forget_before(self.next_i)  # the backlog starts there: a Poisson schedule keeps nothing below
        if limit is not None and due_end >= limit:
            self._scheduler_done()
            return
        wake_at = schedule.due_at(due_end) - SCHEDULE_STEP_S
        change = schedule.next_change()
        if change is not None:
            wake_at = min(wake_at, change)
        self.schedule_timer = self.loop.call_later(max(SCHEDULE_STEP_S, wake_at - now), self._schedule)

    def _send_scheduled(self, client: Client, now: float, waited: bool) -> None:
        """Send the next due request on ``client``. Its latency counts from its intended
        time (coordinated omission corrected), or from now when it goes out early."""
        i = self.next_i
        self.next_i = i + 1
        t_intended = self.schedule.due_at(i)  # type: ignore[union-attr]
        measuring = self.issue_acc is self.measured_acc
        if measuring and (i >= self.first_measured_i or self.carry):
            acc = self.measured_acc
            if waited and t_intended < now:
                # it waited for a free connection: the server (or too small a
                # --concurrency) held it back, not the loader
                self.backlogged += 1
        else:
            acc = self.warm_acc
        client.issue(t_intended if t_intended < now else now, now, acc)

    def _count_late(self, prev_due: int, now: float) -> None:
        """Count the measured requests that became due more than SCHEDULE_LATE_S before
        this wake-up: the event loop was too busy to wake on time (loader-bound). Once
        per wake-up, by arithmetic on the fixed schedule."""
        if self.issue_acc is not self.measured_acc:
            return
        schedule = self.schedule
        assert schedule is not None
        lo = max(prev_due, self.first_measured_i, schedule.base)
        late_end = min(self.due_end, schedule.late_end(now - SCHEDULE_LATE_S))
        if late_end > lo:
            self.sched_late += late_end - lo

    def _scheduler_done(self) -> None:
        """The open loop scheduled its last request: retire clients once idle. Requests
        still waiting for a free connection are part of the asked count: the busy
        clients take them first (``draining``), then retire."""
        self.sched_stopped = True
        if self.next_i >= self.due_end:
            self.finishing_soft()
            return
        self.draining = True
        idle = list(self.idle_open) + self.idle_closed
        self.idle_open.clear()
        self.idle_closed = []
        for client in idle:
            if not client.has_request:
                self.retire(client)

    def _drop_backlog(self) -> None:
        """Forget the requests waiting for a connection; the measured ones are counted
        as ``unsent`` so a stall at the end shows."""
        if self.issue_acc is self.measured_acc:
            self.unsent += max(0, self.due_end - max(self.next_i, self.measured_from_i))
        self.next_i = self.due_end

    def outstanding(self) -> int:
        """Requests sent and unanswered plus those waiting for a connection (open loop)."""
        return sum(1 for client in self.clients if client.has_request) + (self.due_end - self.next_i)

    def finishing_soft(self) -> None:
        """Stop issuing; clients retire as their in-flight requests end."""
        if self.finishing:
            return
        self.finishing = True
        self._drop_backlog()
        for client in list(self.clients):
            if not client.has_request:
                if client.think_handle is not None:
                    client.think_handle.cancel()
                    client.think_handle = None
                self.retire(client)

    # -- timers ------------------------------------------------------------------------------
    def _arm_tick(self) -> None:
        target = self.start_at + tick_boundary_s(self.k, self.profile.warmup_s, self.profile.tick_s)
        if self.end_at is not None:
            target = min(target, self.end_at)
        target = min(target, self.wall_end)
        self.tick_timer = self.loop.call_later(max(0.0, target - _monotonic()), self._tick)

    def _tick(self) -> None:
        if self.finished:
            return
        now = _monotonic()
        if self.end_at is not None and now >= self.end_at - 0.0005:
            self.finish(now)
            return
        if now >= self.wall_end - 0.0005:
            self.notes.append(f"loader process {self.index}: hit the wall-time cap of {self.profile.wall_cap_s():g} s")
            self.finish(now)
            return
        self._send_tick(now, done=False)
        if self.issue_acc is not self.measured_acc and self.k >= self.n_warm_ticks:
            self._begin_measuring(now)
        self._arm_tick()

    def _begin_measuring(self, now: float) -> None:
        """The warm-up is over: new requests count from here on, and in a time-bound run
        what is still outstanding too (it is answered inside the measured window)."""
        self.issue_acc = self.measured_acc
        self.measured_start = now
        if not self.carry:
            self.measured_from_i = self.first_measured_i
            return
        self.measured_from_i = self.next_i
        # waiting for a connection (open loop), due or falling due before the warm-up's end
        self.carried_over += max(0, self.first_measured_i - self.next_i)
        for client in self.clients:
            if client.has_request and client.acc is not self.measured_acc:
                client.acc = self.measured_acc
                self.carried_over += 1

    def _probe_lag(self) -> None:
        now = _monotonic()
        self.lag.append(max(0, int((now - self.lag_expected) * 1e6)))
        self.lag_expected = now + LAG_PROBE_S
        if not self.finished:
            self.lag_timer = self.loop.call_later(LAG_PROBE_S, self._probe_lag)

    def _sweep_every_s(self) -> float:
        return min(0.1, max(0.01, self.timeout_s / 10))

    def _sweep(self) -> None:
        """Time out requests (connect included) older than timeout_s. One periodic
        sweep instead of a timer per request keeps the hot path free of timers."""
        if self.finished:
            return
        now = _monotonic()
        limit = now - self.timeout_s
        for client in self.clients:
            if client.has_request and client.t_sent < limit and client.state in (CONNECTING, BUSY):
                kind = "connect_timeout" if client.state == CONNECTING else "read_timeout"
                client.drop_connection(abort=True)
                client.fail(kind)
        self.sweep_timer = self.loop.call_later(self._sweep_every_s(), self._sweep)

    def _on_parent(self) -> None:
        try:
            if not self.pipe.poll():
                return
            msg = self.pipe.recv()
        except (EOFError, OSError):
            # the parent is gone: stop now
            self.finish(_monotonic())
            return
        if msg and msg[0] == "stop":
            self.stop_soon()

    def stop_soon(self) -> None:
        """stop() from the parent: no new requests; in-flight ones get STOP_GRACE_S."""
        if self.finishing:
            return
        self.finishing_soft()
        if not self.finished:
            grace = min(STOP_GRACE_S, self.timeout_s)
            self.grace_timer = self.loop.call_later(grace, lambda: self.finish(_monotonic()))

    # -- ending and reporting ----------------------------------------------------------------
    def finish(self, now: float) -> None:
        """End the run: drop what is still in flight (not counted), send the last tick."""
        if self.finished:
            return
        self.finishing = True
        self.finished = True
        for timer in (self.tick_timer, self.lag_timer, self.sweep_timer, self.schedule_timer, self.grace_timer):
            if timer is not None:
                timer.cancel()
        for timer in self.slow_timers:
            timer.cancel()
        if self.slow is not None:
            self.slow.close()
            self.notes.extend(self.slow.notes(self.index))
        self._drop_backlog()
        in_flight = 0
        for client in self.clients:
            if client.has_request:
                if client.acc is self.measured_acc:
                    in_flight += 1
                client.has_request = False
            if client.think_handle is not None:
                client.think_handle.cancel()
                client.think_handle = None
            client.drop_connection(abort=True)
        measuring = self.measured_start is not None
        # the real window: up to now, when the end timer actually fired (it can be late)
        measured_s = max(0.0, now - self.measured_start) if self.measured_start is not None else 0.0
        open_loop = self.open_loop and measuring
        end = {
            "measured_s": measured_s,
            "in_flight": in_flight,
            "carried_over": self.carried_over,
            # open loop (zeros in closed loop): what the scheduler did in the measured window
            "scheduled": max(0, self.due_end - self.first_measured_i) if open_loop else 0,
            "sent": max(0, self.next_i - self.unsent - self.measured_from_i) if open_loop else 0,
            "sent_late": self.sched_late,
            "backlogged": self.backlogged,
            "unsent": self.unsent,
        }
        self._send_tick(now, done=True, end=end)
        if not self.done.done():
            self.done.set_result(None)

    def classify_connect_error(self, exc: OSError) -> str:
        if isinstance(exc, ConnectionRefusedError):
            return "refused"
        if isinstance(exc, TimeoutError):
            return "connect_timeout"
        if isinstance(exc, ConnectionResetError):
            return "reset"
        name = errno.errorcode.get(exc.errno or 0, "") or type(exc).__name__
        self.errno_counts[name] = self.errno_counts.get(name, 0) + 1
        return "other"

    def _send_tick(self, now: float, done: bool, end: dict | None = None) -> None:
        # CPU and wall time read together: the closing tick does its teardown after
        # ``now`` was taken, and a CPU span longer than its wall span read >100 % of a core
        cpu = time.process_time()
        wall = _monotonic()
        lag, self.lag = self.lag, array("q")
        notes = self.notes
        self.notes = []
        if done and self.errno_counts:
            for name, count in sorted(self.errno_counts.items()):
                why = f" ({os.strerror(getattr(errno, name))})" if hasattr(errno, name) else ""
                notes.append(
                    f"loader process {self.index}: {count} connects failed with {name}{why}, counted as 'other'"
                )
        warmup = self.k < self.n_warm_ticks
        msg = {
            "k": self.k,
            "t_s": now - self.start_at,
            "interval_s": max(1e-6, wall - self.last_tick_at),
            "warmup": warmup,
            "done": done,
            # A warm-up tick keeps back what measured requests already finished (open loop
            # can start measuring a moment before the tick fires): they go out with the
            # first measured tick, so the measured ticks add up to the summary exactly.
            "measured": self.measured_acc.drain() if not warmup or done else _EMPTY_PART,
            "warm": self.warm_acc.drain(),
            "cpu_s": cpu - self.cpu_prev,
            "outstanding": self.outstanding() if self.open_loop and not done else 0,
            "slow_held": self.slow.held() if self.slow is not None and not done else 0,
            "lag": _encode(lag),
            "notes": notes,
            "end": end,
        }
        self.cpu_prev = cpu
        self.last_tick_at = wall
        self.k += 1
        try:
            self.pipe.send(("tick", msg))
        except (BrokenPipeError, OSError):
            self.finish(now)
