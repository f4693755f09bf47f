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
- Warm-up: requests *issued* during ``warmup_s`` count toward nothing. With
  ``duration_s`` the measured window is from the warm-up's end to ``duration_s``
  later and counts what completes inside it; requests still in flight at its end
  are dropped (``LoadSummary.in_flight_dropped``), as wrk does. ``requests`` and
  ``reps`` count issued measured requests and wait for each to end, so they stop at
  exactly the asked count (split deterministically between processes).
- ``stop()``: no new requests; in-flight ones get 0.5 s (at most ``timeout_s``) to
  finish and count; the rest are dropped.
- Open loop (``rate``): requests are scheduled at fixed intended times; when every
  connection is busy, a new one is opened (up to ``concurrency``), else the request
  waits. ``latency`` is timed from the intended time (coordinated omission
  corrected), ``latency_uncorrected`` from the actual send. ``achieved_rate`` counts
  what the scheduler handed out on schedule; ``saturated`` (loader-bound) means it fell
  behind (``sent_late``: its event loop was busy), never that responses were slow.
  Requests that waited because every connection was busy (``backlogged``) are the
  server's slowness (or too low a ``concurrency``): a note says so. Those still
  waiting when the load ends are never sent: ``unsent`` (not in ``in_flight_dropped``).
  ``requests`` in open loop still sends them all before it ends.
- Programs that start a ``LoadRun`` from a script need the usual
  ``if __name__ == "__main__":`` guard: loader processes are spawned, not forked.
"""

from .histogram import LatencyHistogram
from .profile import LoadProfile, LoadProfileError
from .run import LoadRun, run_load
from .stats import ERROR_KINDS, STATUS_CLASSES, LoadSummary, LoadTick

__all__ = [
    "ERROR_KINDS",
    "STATUS_CLASSES",
    "LatencyHistogram",
    "LoadProfile",
    "LoadProfileError",
    "LoadRun",
    "LoadSummary",
    "LoadTick",
    "run_load",
]
