"""The open loop's fixed schedule for one loader process: when request i is due.

Request i of process ``index`` (of ``procs``) is due at ``t0 + i * interval``, where
the processes' schedules interleave (each starts ``index / rate`` later). A schedule
whose rate changes mid-run (``LoadProfile.rate_changes``) is piecewise: from request
``base`` on, request i is due at ``t0 + (i - base) * interval``; the earlier pieces
are kept for requests still waiting from them. Arithmetic only: no object per
request, so a schedule far beyond what the server answers costs no memory.

``PoissonSchedule`` (``LoadProfile.arrivals == "poisson"``) has the same interface:
seeded exponential gaps, in blocks of arrival times it can make again from their seed."""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    from .profile import LoadProfile


class _RateChanges:
    """What both schedules share: the rate changes still to come (``LoadProfile.rate_changes``)
    and applying those whose time has come. A schedule says in ``_change`` how it starts
    its next piece; the worker calls ``apply_changes`` on every wake-up, so the usual case
    (no change due) is one comparison."""

    def __init__(self, start_at: float, index: int, procs: int, rate_changes: tuple[tuple[float, float], ...]) -> None:
        self.index = index
        self.procs = procs
        #: (monotonic time, rate) of the changes still to come
        self.changes = [(start_at + at_s, r) for at_s, r in rate_changes]

    def next_change(self) -> float | None:
        return self.changes[0][0] if self.changes else None

    def apply_changes(self, now: float, due: int) -> int:
        """Apply the rate changes whose time has come; returns the due count, raised to
        every request that fell due before a change (they stay due at their old times)."""
        changes = self.changes
        while changes and now >= changes[0][0]:
            at, rate = changes.pop(0)
            due = self._change(at, rate, due)
        return due

    def _change(self, at: float, rate: float, due: int) -> int:
        """Start the piece at ``rate`` from ``at`` on; returns the due count (see apply_changes)."""
        raise NotImplementedError


class Schedule(_RateChanges):
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
        super().__init__(start_at, index, procs, rate_changes)
        self.interval = procs / rate  #: seconds between two requests of this process
        self.t0 = start_at + index / rate  #: when request ``base`` is due
        self.base = 0  #: the first request of the current piece
        self.pieces: list[tuple[int, float, float]] = []  #: earlier (base, t0, interval)

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

    def _change(self, at: float, rate: float, due: int) -> int:
        due = max(due, self.base + max(0, math.ceil((at - self.t0) / self.interval)))
        self.pieces.append((self.base, self.t0, self.interval))
        self.base = due
        self.interval = self.procs / rate
        self.t0 = at + self.index / rate
        return due

    def forget_before(self, i: int) -> None:
        """Nothing to forget: the uniform schedule is arithmetic."""


#: requests per block of a Poisson schedule's arrival times
BLOCK = 4096
#: blocks of arrival times a Poisson schedule keeps in its cache at most, besides the one
#: due_at read last (the rest are made again from their seed when asked for again)
CACHED_BLOCKS = 4


class _Piece:
    """Arrivals at one rate: from request ``base`` on, block k holds requests
    ``base + k*BLOCK`` … ``+ BLOCK - 1``, due at ``starts[k] + cumsum(gaps of block k)``.
    ``starts[k]`` is the last time of block k - 1 (``t0`` for block 0), so ``starts``
    (one float per block, kept from block ``k0`` on) is all a piece stores."""

    __slots__ = ("number", "base", "mean", "k0", "starts")

    def __init__(self, number: int, base: int, t0: float, mean: float) -> None:
        self.number = number  #: the piece's place in the run: part of each block's seed
        self.base = base
        self.mean = mean  #: mean gap in seconds
        self.k0 = 0  #: the first block still known (earlier ones were forgotten)
        self.starts = [t0]  #: start of blocks k0 … k0 + len - 1; the last is the generated horizon


class PoissonSchedule(_RateChanges):
    """Independent arrivals (a Poisson process) for one loader process: the gaps between
    its requests are exponential with mean ``procs / rate``, so the processes together
    make a Poisson process at ``rate``. The same interface as ``Schedule``.

    Block k of piece p (a rate in force) comes from its own generator, seeded with
    (seed, index, p, k): any block can be made again, bit for bit, from its start time
    alone. So the schedule keeps one float per block and a few blocks of times
    (CACHED_BLOCKS), whatever the backlog: requests waiting for a connection cost no
    memory, as in the uniform schedule, and ``forget_before`` drops what lies below the
    backlog. A rate change starts a new piece at its time (memoryless: the first gap
    after it is exponential at the new rate)."""

    def __init__(
        self,
        start_at: float,
        index: int,
        procs: int,
        rate: float,
        rate_changes: tuple[tuple[float, float], ...] = (),
        seed: int = 0,
    ) -> None:
        super().__init__(start_at, index, procs, rate_changes)
        self.seed = seed
        self.piece = _Piece(0, 0, start_at, procs / rate)  #: the rate in force
        self.pieces: list[_Piece] = []  #: earlier pieces, for requests still waiting from them
        self._blocks: dict[tuple[int, int], np.ndarray] = {}  # (piece, block) -> times, oldest use first
        self._hot_lo = -BLOCK  # due_at's last block of the current piece: its first request, its times
        self._counted_to = start_at  # the latest time due_count was asked about
        self._hot = np.empty(0)

    @property
    def base(self) -> int:
        """The first request of the current piece."""
        return self.piece.base

    # -- the blocks ----------------------------------------------------------------------
    def _block(self, piece: _Piece, k: int) -> np.ndarray:
        """The times of block ``k`` of ``piece`` (made, or made again, from its seed)."""
        key = (piece.number, k)
        times = self._blocks.pop(key, None)
        if times is None:
            rng = np.random.default_rng((self.seed, self.index, piece.number, k))
            times = piece.starts[k - piece.k0] + np.cumsum(rng.exponential(piece.mean, BLOCK))
            if len(self._blocks) >= CACHED_BLOCKS:
                del self._blocks[next(iter(self._blocks))]
        self._blocks[key] = times  # last: the most recently used
        return times

    def _reach(self, at: float) -> None:
        """Generate the current piece's blocks until one ends after ``at``."""
        piece = self.piece
        starts = piece.starts
        while starts[-1] <= at:
            starts.append(float(self._block(piece, piece.k0 + len(starts) - 1)[-1]))

    def _find(self, at: float, side: Literal["left", "right"]) -> int:
        """Current piece: how many requests are due before ``at`` (``side`` "left") or at
        or before it ("right"), counted from request 0; a time before the known blocks
        gives their first request (the worker asks nothing below it)."""
        self._reach(at)
        piece = self.piece
        j = bisect_right(piece.starts, at) - 1  # the block whose span holds ``at``
        first = piece.base + (piece.k0 + max(j, 0)) * BLOCK
        if j < 0:
            return first
        return first + int(self._block(piece, piece.k0 + j).searchsorted(at, side))

    # -- the interface the worker uses ----------------------------------------------------
    def due_count(self, at: float) -> int:
        """How many requests are due at or before ``at`` (at least those of earlier pieces)."""
        self._counted_to = max(self._counted_to, at)
        return max(self.piece.base, self._find(at, "right"))

    def due_at(self, i: int) -> float:
        """The intended time of request ``i`` (any request not forgotten)."""
        lo = self._hot_lo
        if lo <= i < lo + BLOCK:  # the block asked for last: the usual case
            return float(self._hot.item(i - lo))
        piece = self.piece
        if i < piece.base:
            piece = next((p for p in reversed(self.pieces) if i >= p.base), piece)
            if i < piece.base:
                raise ValueError(f"request {i} is before the schedule's start")
        k, j = divmod(i - piece.base, BLOCK)
        if k < piece.k0:
            raise ValueError(f"request {i} was forgotten (forget_before)")
        if piece is self.piece:
            while k - piece.k0 >= len(piece.starts) - 1:
                self._reach(piece.starts[-1])
        times = self._block(piece, k)
        if piece is self.piece:  # an earlier piece's block may reach past its end
            self._hot_lo, self._hot = piece.base + k * BLOCK, times
        return float(times.item(j))

    def first_at_or_after(self, at: float) -> int:
        """The first request due at or after ``at`` (in the first piece)."""
        return self._find(at, "left")

    def late_end(self, at: float) -> int:
        """Requests of the current piece due before ``at`` end below this index."""
        return self._find(at, "left")

    def _change(self, at: float, rate: float, due: int) -> int:
        before = self._find(at, "left")
        # requests counted due past ``at`` (the worker looks 1 ms ahead) keep their
        # times: the new rate takes over after them, so the times stay in order
        t0 = max(at, self._counted_to) if due > before else at
        due = max(due, before)
        self.pieces.append(self.piece)
        self.piece = _Piece(self.piece.number + 1, due, t0, self.procs / rate)
        self._hot_lo = -BLOCK
        return due

    def forget_before(self, i: int) -> None:
        """The worker will ask for no request below ``i`` again (its backlog starts there):
        drop the blocks and the pieces wholly below it."""
        ends = [p.base for p in (*self.pieces[1:], self.piece)]
        self.pieces = [p for p, end in zip(self.pieces, ends) if end > i]
        for piece in (*self.pieces, self.piece):
            k = (i - piece.base) // BLOCK
            if k > piece.k0:
                k = min(k, piece.k0 + len(piece.starts) - 1)  # keep the horizon
                del piece.starts[: k - piece.k0]
                piece.k0 = k


def schedule_for(profile: LoadProfile, index: int, start_at: float) -> Schedule | PoissonSchedule:
    """The open-loop schedule of loader process ``index``: uniform or Poisson arrivals,
    as ``profile.arrivals`` says (``profile.rate`` must be set)."""
    assert profile.rate is not None
    if profile.arrivals == "poisson":
        # LoadRun chooses a seed when the profile has none; 0 only for a bare Worker
        seed = 0 if profile.seed is None else profile.seed
        return PoissonSchedule(start_at, index, profile.procs, profile.rate, profile.rate_changes, seed)
    return Schedule(start_at, index, profile.procs, profile.rate, profile.rate_changes)
