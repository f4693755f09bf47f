"""wsgicompare.loader — the embedded async HTTP load generator and its statistics.

Imports neither Textual nor ``wsgicompare.backends``: it measures any HTTP server.

How the figures are defined (the choices a reader of a result needs to know):

- Every request ends in exactly one class: a response (2xx/3xx/4xx/5xx — a 5xx is a
  response, not an error) or an error kind: ``refused``, ``connect_timeout``,
  ``reset``, ``read_timeout`` (``timeout_s`` passed, connect included),
  ``closed_early`` (the connection closed after part of a response, or a fresh
  connection closed before any byte), ``protocol`` (unparsable response), ``other``
  (EMFILE, EADDRNOTAVAIL … — the errno is named in ``LoadSummary.notes``).
  req/s counts responses only; errors never count as throughput.
- A keep-alive connection the server closes before any byte of the next response
  (uWSGI's ``--http`` router does this after every response) is reopened and the
  GET resent once: a ``reconnect``, not an error.
- Warm-up: nothing *answered* during ``warmup_s`` counts. With ``duration_s`` the
  measured window runs from the warm-up's end to ``duration_s`` later (up to when its
  end timer really fired) and counts what is answered (or fails) inside it, whenever it
  was sent: requests still outstanding at the warm-up's end, in flight or waiting for
  a connection, are carried into the window (``LoadSummary.carried_over``) — past a
  server's capacity its queue is answered there, at the server's real rate. Requests
  still in flight at the window's end are dropped (``in_flight_dropped``), as wrk does.
  ``requests`` and ``reps`` count the requests *issued* after the warm-up and wait for
  each to end, so they stop at exactly the asked count (split deterministically
  between processes).
- ``stop()``: no new requests; in-flight ones get 0.5 s (at most ``timeout_s``) to
  finish and count; the rest are dropped.
- Open loop (``rate``): request i is due at a fixed intended time. The scheduler wakes
  about once a millisecond (never a timer per request: that spins the core) and hands
  everything due until the next wake-up to free connections, opening new ones up to
  ``concurrency``; the rest waits for the next free connection (``backlogged``).
  ``latency`` is timed from the intended time (coordinated omission corrected), or
  from the actual send when that was earlier; ``latency_uncorrected`` from the actual
  send. Three rates: ``offered_rate`` (the schedule), ``sent_rate`` (what went out),
  ``served_rate`` (responses per second). ``saturated`` (loader-bound) in open loop
  means the scheduler itself woke late (``sent_late``: its event loop was busy), never
  that responses were slow; waiting for a connection is the server's slowness (or too
  low a ``concurrency``), and ``backlog_growing`` says the queue rose through the
  window. Requests still waiting when the load ends are never sent: ``unsent``.
  Every measured request is counted once: ``carried_over + scheduled == requests +
  in_flight_dropped + unsent``. ``requests`` in open loop still sends them all.
- Arrivals (``arrivals``): ``uniform`` spaces the open loop's requests evenly (wrk2,
  k6); ``poisson`` draws exponential gaps from ``seed`` (each process its own stream,
  so together they are one Poisson process at ``rate``): independent users, whose
  queueing shows before saturation. With no seed, ``LoadRun`` chooses one;
  ``LoadSummary.arrivals`` and ``seed`` say which.
- Programs that start a ``LoadRun`` from a script need the usual
  ``if __name__ == "__main__":`` guard: loader processes are spawned, not forked.
"""

from .agent import NodeAgent
from .group import TICK_LATE_S, GroupFailed, Snapshots
from .histogram import SLOT_MID_US, LatencyHistogram
from .profile import (
    ARRIVALS,
    FD_MARGIN,
    MAX_BODY_BYTES,
    MAX_CONCURRENCY,
    MAX_DURATION_S,
    MAX_PROCS,
    MAX_RATE,
    MAX_RATE_PER_PROC,
    MAX_REPS,
    MAX_REQUESTS,
    MAX_SEED,
    MAX_SHORT_S,
    MAX_SLOW_CLIENTS,
    LoadProfile,
    LoadProfileError,
    build_request,
    check_header,
    check_method,
    connection_room,
    is_loopback,
    split_evenly,
    tick_boundary_s,
)
from .run import LoadRun, run_load
from .stats import ERROR_KINDS, STATUS_CLASSES, LoadSummary, LoadTick, MeasuredTotals

# the package's face: what the engine (wsgicompare/) may use; it imports no submodule
# of this package (tests/test_layers.py)
__all__ = [
    "ARRIVALS",
    "ERROR_KINDS",
    "FD_MARGIN",
    "MAX_BODY_BYTES",
    "MAX_CONCURRENCY",
    "MAX_DURATION_S",
    "MAX_PROCS",
    "MAX_RATE",
    "MAX_RATE_PER_PROC",
    "MAX_REPS",
    "MAX_REQUESTS",
    "MAX_SEED",
    "MAX_SHORT_S",
    "MAX_SLOW_CLIENTS",
    "SLOT_MID_US",
    "STATUS_CLASSES",
    "TICK_LATE_S",
    "GroupFailed",
    "LatencyHistogram",
    "LoadProfile",
    "LoadProfileError",
    "LoadRun",
    "LoadSummary",
    "LoadTick",
    "MeasuredTotals",
    "NodeAgent",
    "Snapshots",
    "build_request",
    "check_header",
    "check_method",
    "connection_room",
    "is_loopback",
    "run_load",
    "split_evenly",
    "tick_boundary_s",
]
