"""Plain-language findings about one run. Each rule is a pure function of a RunResult
(its kernel TCP deltas included) that returns a sentence or None; a rule speaks only
when the figures it names are in the result, so no verdict claims more than the data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from wsgicompare.loader import SLOT_MID_US, LatencyHistogram
from wsgicompare.results import RunResult, TcpFigures

#: error kinds that mean a connection could not be made or was cut before an answer:
#: what a full listen backlog or an exhausted worker pool looks like from the client
CONNECTION_ERROR_KINDS = ("refused", "connect_timeout", "reset", "closed_early")

#: a Nagle/delayed-ACK stall adds at least the delayed-ACK minimum (40 ms on Linux) to
#: every response, so a run whose p50 is below this cannot be one; from here on the
#: conductor runs the probe that decides (kernel.delayed_ack_probe)
NAGLE_P50_MIN_MS = 35.0
#: what ACKing at once must save per response in the c=1 probe to call it a stall:
#: half the 40 ms delayed-ACK minimum. Measured here (median of 6, ms, plain → with
#: TCP_QUICKACK): a server writing headers and body in two sends without TCP_NODELAY
#: (tests/split_write_server.py) 44.0 → 0.1; gevent.pywsgi hello 44.0 → 0.3; gevent
#: serving a 40 ms sleep 84.0 → 40.9 (the stall on top of slow work). A 40 ms sleep on
#: gunicorn-gthread, waitress, flask-threaded: 40.8 → 41.4, 40.7 → 40.8, 40.8 → 41.1;
#: every other backend's hello under 0.8 ms either way. Under load the sleeps and the
#: stalls look alike: p50 40.7–41.4 vs 44.0–47.8 ms, server CPU 2–11 % vs 0–47 %, min
#: latency 40.3–40.9 vs 41.2–43.9 ms: no threshold on those separates them.
DELAYED_ACK_SAVED_MS = 20.0
#: open loop: a server that answered less than this share of the rate offered, while
#: requests queued for its connections, could not keep up
SERVED_SHARE = 0.9
#: open loop: share of the scheduled requests that may leave > 10 ms late before the
#: loader counts as not having kept the schedule
LATE_SHARE = 0.01
#: share of the requests due that were still unanswered at the end that makes a finding
UNANSWERED_SHARE = 0.10
#: a connect whose SYN a full backlog dropped is retried after 1 s, then 3 s, 7 s, 15 s,
#: 31 s, 63 s (the 1 s initial RTO, doubling): a transaction that waited for retries
#: took about one of these times
SYN_RETRY_S = (1, 3, 7, 15, 31, 63)
#: how far from a retry time a transaction may be and still be at it
SYN_RETRY_TOLERANCE = 0.10
#: a transaction this long or longer is slow: the first retry time's lower edge
SLOW_MS = 1000.0 * SYN_RETRY_S[0] * (1 - SYN_RETRY_TOLERANCE)
_SLOW_SLOTS = SLOT_MID_US >= SLOW_MS * 1000
_RETRY_SLOTS = np.zeros_like(_SLOW_SLOTS)
for _t in SYN_RETRY_S:
    _RETRY_SLOTS |= (SLOT_MID_US >= _t * 1e6 * (1 - SYN_RETRY_TOLERANCE)) & (
        SLOT_MID_US <= _t * 1e6 * (1 + SYN_RETRY_TOLERANCE)
    )
#: below this many requests, percentages and latency shapes say little
MIN_REQUESTS = 20


def loader_bound(r: RunResult) -> str | None:
    if r.loader is None or not r.loader.saturated:
        return None
    reasons = r.loader.reasons or ()
    why = f" ({'; '.join(reasons)})" if reasons else ""
    return f"loader-bound: these figures measure the loader, not the server{why}"


def _p50_sent(r: RunResult) -> float | None:
    # open loop: the corrected p50 also holds the wait for a free connection
    return (r.latency_ms.uncorrected or r.latency_ms).p50


def wants_stall_probe(r: RunResult) -> bool:
    """Whether the run's latency could be a Nagle/delayed-ACK stall, so the conductor
    should probe the server (kernel.delayed_ack_probe) before stopping it."""
    p50 = _p50_sent(r)
    return r.status == "ok" and r.requests >= MIN_REQUESTS and p50 is not None and p50 >= NAGLE_P50_MIN_MS


def nagle_stall(r: RunResult) -> str | None:
    probe = r.latency_ms.probe
    p50 = _p50_sent(r)
    if not probe or p50 is None or p50 < NAGLE_P50_MIN_MS:
        return None
    plain, quick = probe["last_byte"], probe["last_byte_quickack"]
    if plain - quick < DELAYED_ACK_SAVED_MS:
        return None
    return (
        f"Nagle/delayed-ACK stall (p50 {p50:.1f} ms): at c=1 a response took {plain:.1f} ms, and "
        f"{quick:.1f} ms when the client ACKed at once (TCP_QUICKACK); the server writes a response in "
        f"pieces without TCP_NODELAY, and each waits for the client's delayed ACK (~40 ms)"
    )


def crashed(r: RunResult) -> str | None:
    if r.crashed_at_s is None:
        return None
    return f"not all requests answered: server crashed at t={r.crashed_at_s:.1f} s"


def connection_errors(r: RunResult) -> str | None:
    # after a crash every later connect is refused: that is the crash, not a backlog
    if r.crashed_at_s is not None:
        return None
    n = sum(r.errors.get(kind, 0) for kind in CONNECTION_ERROR_KINDS)
    if n <= 0:
        return None
    kinds = ", ".join(f"{r.errors[k]} {k.replace('_', ' ')}" for k in CONNECTION_ERROR_KINDS if r.errors.get(k))
    if any(r.errors.get(k) for k in ("reset", "closed_early")):
        # a reset or a close mid-response is the server dropping work it had taken
        return f"{n} connection errors ({kinds}): the server refused or dropped connections (listen backlog, worker limit or workers restarting)"
    return f"{n} connection errors ({kinds}): listen backlog or worker limit reached"


def unanswered(r: RunResult) -> str | None:
    # a time-bound load drops what is still in flight at its end (like wrk): normally
    # at most one request per connection, a sliver of the run. A large share means the
    # server stalled, and those requests are in no latency figure. Open loop adds the
    # requests that were due but never sent: every connection was still busy.
    if r.loader is None:
        return None
    in_flight = r.loader.in_flight_dropped or 0
    unsent = r.loader.unsent or 0
    dropped = in_flight + unsent
    due = r.requests + dropped  # answered or failed, sent and unanswered, never sent
    if dropped <= 0 or dropped < UNANSWERED_SHARE * due:
        return None
    after = "they are in no figure, so the latencies look better than the server was"
    if not unsent:
        return f"{dropped} requests ({100 * dropped / due:.0f} % of those sent) were still unanswered when the load ended: {after}"
    return (
        f"{dropped} requests were still unanswered when the load ended ({in_flight} sent but unanswered, "
        f"{unsent} never sent: every connection was busy), {100 * dropped / due:.0f} % of the {due} due: {after}"
    )


def low_availability(r: RunResult) -> str | None:
    pct = r.availability_pct
    if pct is None or pct >= 100.0:
        return None
    # never print "100.00 %" for a run that lost requests: keep digits until it shows
    digits = 1
    while digits < 6 and round(pct, digits) >= 100.0:
        digits += 1
    return f"2xx only {pct:.{digits}f} % of {r.requests} requests"


def with_syn_retries(tcp: TcpFigures, sent: LatencyHistogram) -> TcpFigures:
    """``tcp`` with its slow transactions split by the SYN-retry times, from the latency
    histogram measured from the actual send (open loop: the uncorrected one; the corrected
    one holds the wait for a free connection in the loader, which no SYN caused)."""
    slow = int(sent.counts[_SLOW_SLOTS].sum())
    at_retry = int(sent.counts[_RETRY_SLOTS].sum())
    return replace(tcp, slow_at_syn_retry=at_retry, slow_elsewhere=slow - at_retry)


def _retries(n: int, slow: int) -> str:
    return f"{n} of the {slow} transactions over {SLOW_MS / 1000:.1f} s took a SYN-retry time (1 s, 3 s, 7 s … ±10 %)"


def listen_overflow_finding(tcp: TcpFigures, max_ms: float | None) -> str | None:
    """The listen-overflow finding from the kernel figures of a run (RunResult.tcp, or
    the figures so far while it runs) and its longest transaction: one rule for the
    verdict and the live warning.

    ``ListenOverflows`` is machine-wide: any program's full backlog counts. It is
    blamed on this server only with evidence that fits only a full backlog: its
    accept queue seen at its limit (``accept_queue_peak`` ≥ ``accept_queue_limit``,
    from sock_diag), or its slow transactions clustered at the SYN-retry times: most of
    them at one (``slow_at_syn_retry`` > ``slow_elsewhere``), and no more of those than
    the counter has drops for (each waited for at least one dropped SYN). A slow
    endpoint's second-long transactions are spread over the times between. Otherwise
    the counter is reported as what it is. ``ListenDrops`` is left out: it counts
    every drop at a listener, the overflows included, so it adds nothing here."""
    overflows = tcp.listen_overflows
    if overflows <= 0:
        return None
    peak, limit = tcp.accept_queue_peak, tcp.accept_queue_limit
    full = peak is not None and limit is not None and peak > 0 and peak >= limit
    at_retry, elsewhere = tcp.slow_at_syn_retry or 0, tcp.slow_elsewhere or 0
    slow = at_retry + elsewhere
    clustered = 0 < at_retry <= overflows and at_retry > elsewhere
    machine = f"{overflows} listen overflow{'s' if overflows != 1 else ''} on the machine during the run"
    longest = f"the longest took {(max_ms or 0.0) / 1000:.1f} s"
    if full:
        after = (
            f"{_retries(at_retry, slow)}, {longest}"
            if clustered
            else "dropped connects are retried after 1 s, 3 s, 7 s …"
        )
        return (
            f"this server's listen backlog overflowed: its accept queue was seen full ({peak} waiting, "
            f"backlog {limit}; {machine}); {after}"
        )
    if clustered:
        return (
            f"this server's listen backlog overflowed: {_retries(at_retry, slow)}, what a connect dropped "
            f"by a full backlog waits ({longest}; {machine})"
        )
    seen = f"; this server's accept queue was seen at most {peak} of {limit}" if peak is not None and limit else ""
    if slow:
        seen += f"; {_retries(at_retry, slow)}"
        seen += ", more than the overflows could have delayed" if at_retry > overflows else ""
    return (
        f"the machine's listen queues overflowed {overflows}× during the run (a machine-wide kernel counter: "
        f"not necessarily this server{seen})"
    )


def listen_overflows(r: RunResult) -> str | None:
    # open loop: the corrected latency also holds the wait for a free connection in
    # the loader, which can pass 1 s with no SYN lost; the uncorrected one cannot
    latency = r.latency_ms.uncorrected or r.latency_ms
    return listen_overflow_finding(r.tcp, latency.max)


def over_capacity(r: RunResult) -> str | None:
    """Open loop: the server answered well below the rate offered while requests
    queued for its busy connections; the loader kept up its side."""
    if r.loader is None:
        return None
    offered = r.loader.offered_rate or r.loader.target_rate
    if not offered:
        return None  # closed loop: nothing was offered, the server set the pace
    served = r.loader.served_rate
    if served is None:
        served = r.rps  # responses per measured second: the same figure, from a loader that does not report it
    if served >= SERVED_SHARE * offered:
        return None
    growing = r.loader.backlog_growing
    if growing is None:
        # without the loader's trend: requests waited for a connection, and some never
        # got one by the end, so the queue did not drain
        growing = bool(r.loader.backlogged) and bool(r.loader.unsent)
    if not growing:
        return None
    return f"server over capacity: served {served:.0f} of {offered:.0f} req/s offered; requests queued behind busy connections"


def schedule_missed(r: RunResult) -> str | None:
    """Open loop: the loader sent a share of the requests late (> 10 ms): the rate the
    server saw was not the one asked for, whatever the server did."""
    if r.loader is None:
        return None
    scheduled = r.loader.scheduled or 0
    late = r.loader.sent_late or 0
    if not scheduled or late <= LATE_SHARE * scheduled:
        return None
    return f"the loader could not keep the schedule: {late} of {scheduled} requests left > 10 ms late"


#: the rules in the order their findings are shown (most fundamental first)
RULES: tuple[Callable[[RunResult], str | None], ...] = (
    loader_bound,
    crashed,
    schedule_missed,
    over_capacity,
    listen_overflows,
    connection_errors,
    unanswered,
    low_availability,
    nagle_stall,
)


def verdicts(r: RunResult) -> list[str]:
    return [v for v in (rule(r) for rule in RULES) if v]
