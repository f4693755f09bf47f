"""The open loop's fixed schedule for one loader process: when request i is due.

Request i of process ``index`` (of ``procs``) is due at ``t0 + i * interval``, where
the processes' schedules interleave (each starts ``index / rate`` later). A schedule
whose rate changes mid-run (``LoadProfile.rate_changes``) is piecewise: from request
``base`` on, request i is due at ``t0 + (i - base) * interval``; the earlier pieces
are kept for requests still waiting from them. Arithmetic only: no object per
request, so a schedule far beyond what the server answers costs no memory."""

from __future__ import annotations

import math


class Schedule:
    def __init__(
        self,
        start_at: float,
        index: int,
        procs: int,
        rate: float,
        rate_changes: tuple[tuple[float, float], ...] = (),
    ) -> None:
        """``rate`` and every changed rate are req/s over all processes; ``rate_changes``
        holds (seconds after ``start_at``, rate) pairs."""
        self.index = index
        self.procs = procs
        self.interval = procs / rate  #: seconds between two requests of this process
        self.t0 = start_at + index / rate  #: when request ``base`` is due
        self.base = 0  #: the first request of the current piece
        self.pieces: list[tuple[int, float, float]] = []  #: earlier (base, t0, interval)
        #: (monotonic time, rate) of the changes still to come
        self.changes = [(start_at + at_s, r) for at_s, r in rate_changes]

    def due_count(self, at: float) -> int:
        """How many requests are due at or before ``at`` (at least those of earlier pieces)."""
        return max(self.base, self.base + math.floor((at - self.t0) / self.interval) + 1)

    def due_at(self, i: int) -> float:
        """The intended time of request ``i``."""
        if i >= self.base:
            return self.t0 + (i - self.base) * self.interval
        for base, t0, interval in reversed(self.pieces):
            if i >= base:
                return t0 + (i - base) * interval
        raise ValueError(f"request {i} is before the schedule's start")

    def first_at_or_after(self, at: float) -> int:
        """The first request due at or after ``at`` (in the first piece)."""
        return max(0, math.ceil((at - self.t0) / self.interval))

    def late_end(self, at: float) -> int:
        """Requests of the current piece due before ``at`` end below this index."""
        return self.base + math.ceil((at - self.t0) / self.interval)

    def next_change(self) -> float | None:
        return self.changes[0][0] if self.changes else None

    def apply_changes(self, now: float, due: int) -> int:
        """Apply the rate changes whose time has come; returns the due count, raised to
        every request that fell due before a change (they stay due at their old times)."""
        while self.changes and now >= self.changes[0][0]:
            at, rate = self.changes.pop(0)
            due = max(due, self.base + max(0, math.ceil((at - self.t0) / self.interval)))
            self.pieces.append((self.base, self.t0, self.interval))
            self.base = due
            self.interval = self.procs / rate
            self.t0 = at + self.index / rate
        return due
