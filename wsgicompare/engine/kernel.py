"""What the kernel says about TCP on this machine: the counters in /proc/net/netstat
and /proc/net/snmp, the accept queue (and its limit) of a listening port over netlink
sock_diag or /proc/net/tcp, the sockets a previous run leaves behind, and a probe for
Nagle's algorithm meeting delayed ACK."""

from __future__ import annotations

import math
import socket
import statistics
import struct
import threading
import time
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httptools

from wsgicompare.results import Settle, TcpFigures

#: TIME_WAIT sockets on the client side (our loader's ephemeral ports) hold those ports
#: for 60 s; a few hundred cost nothing, tens of thousands eat the ~28k ephemeral range
#: and make the next run's connects fail, so between runs we wait until at most this
#: many are left (or settle_max_s). Server-side TIME_WAIT (the old server's port at the
#: local end) blocks nothing: the next backend listens on another port.
TIME_WAIT_OK = 1000

#: kernel TCP counters read before and after each run (name in /proc/net/netstat "TcpExt"
#: or /proc/net/snmp "Tcp"); system-wide, so another program's traffic counts too
TCP_COUNTERS = (
    "ListenOverflows",  # SYN or final ACK dropped: the accept queue (listen backlog) was full
    "ListenDrops",  # every drop at a listening socket, overflows included
    "SyncookiesSent",  # the SYN queue was full and the kernel answered with a cookie
    "TCPReqQFullDrop",  # SYN dropped: SYN queue full and no cookies
    "TCPTimeouts",  # retransmission timer fired (lost segment or SYN)
    "TCPAbortOnData",  # reset sent: data arrived on a socket being closed
    "TCPAbortOnClose",  # reset sent: closed with unread data
    "TCPAbortOnTimeout",  # connection given up after too many retransmits
    "TCPBacklogDrop",  # segment dropped: socket backlog full while the owner held it
    "AttemptFails",  # connects that failed (from snmp Tcp)
    "EstabResets",  # established connections reset (from snmp Tcp)
    "RetransSegs",  # segments retransmitted (from snmp Tcp)
)


def read_tcp_counters() -> dict[str, int]:
    """The counters in TCP_COUNTERS as they stand now (missing files: empty)."""
    values: dict[str, int] = {}
    for path, prefixes in (("/proc/net/netstat", ("TcpExt:",)), ("/proc/net/snmp", ("Tcp:",))):
        try:
            with open(path) as f:
                lines = f.read().splitlines()
        except OSError:
            continue
        # each section is two lines: names, then values, both starting with the prefix
        for names, numbers in zip(lines, lines[1:]):
            if names.split(" ", 1)[0] in prefixes and numbers.split(" ", 1)[0] == names.split(" ", 1)[0]:
                for key, value in zip(names.split()[1:], numbers.split()[1:]):
                    if key in TCP_COUNTERS:
                        try:
                            values[key] = int(value)
                        except ValueError:
                            pass
    return values


def tcp_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: max(0, after[k] - before.get(k, after[k])) for k in TCP_COUNTERS if k in after}


# -- listening sockets and their accept queues; sockets between runs -------------------------

_TCP_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
_STATE_TIME_WAIT = "06"
_STATE_LISTEN = "0A"

_NETLINK_SOCK_DIAG = 4
_SOCK_DIAG_BY_FAMILY = 20
_NLM_F_REQUEST_DUMP = 0x1 | 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TCP_LISTEN = 10
#: inet_diag_msg: family state timer retrans (4 bytes), sockid (48: sport at +4,
#: big-endian), expires; then idiag_rqueue and idiag_wqueue, which for a listening
#: socket are its accept queue's length and its limit (the backlog)
_DIAG_SPORT_AT, _DIAG_QUEUES_AT = 4, 56


def listen_queues(port: int) -> list[tuple[int, int]] | None:
    """(waiting, backlog limit) of every TCP socket listening on ``port``; None when
    netlink sock_diag is not available here."""
    found = _listeners()
    return None if found is None else [(waiting, limit) for local, waiting, limit in found if local == port]


def _listeners() -> list[tuple[int, int, int]] | None:
    """(port, waiting, backlog limit) of every TCP socket listening on this machine,
    over netlink sock_diag; None when that is not available here."""
    found: list[tuple[int, int, int]] = []
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG) as nl:
            nl.settimeout(1.0)
            for family in (socket.AF_INET, socket.AF_INET6):
                # dump every listener of the family (the sockid stays zero: no filter)
                req = struct.pack("=BBBBI", family, socket.IPPROTO_TCP, 0, 0, 1 << _TCP_LISTEN) + bytes(48)
                nl.send(struct.pack("=IHHII", 16 + len(req), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST_DUMP, 1, 0) + req)
                done = False
                while not done:
                    data = nl.recv(65536)
                    if not data:
                        break
                    offset = 0
                    while offset + 16 <= len(data):
                        length, kind = struct.unpack_from("=IH", data, offset)
                        if kind in (_NLMSG_DONE, _NLMSG_ERROR) or length < 16:
                            done = True
                            break
                        body = offset + 16
                        port = struct.unpack_from(">H", data, body + _DIAG_SPORT_AT)[0]
                        found.append((port, *struct.unpack_from("=II", data, body + _DIAG_QUEUES_AT)))
                        offset += (length + 3) & ~3
    except (OSError, struct.error):
        return None
    return found


def accept_queue_states(ports: Collection[int]) -> list[tuple[int, int | None]]:
    """(waiting, backlog limit) of every socket listening on one of ``ports``.

    Called every tick, so it asks the kernel over netlink (sock_diag, what ``ss``
    uses): ~15 µs, where generating /proc/net/tcp costs milliseconds of kernel time
    per read under load (every connection and TIME_WAIT socket is a line)."""
    found = _listeners()
    if found is None:
        return _queues_from_proc(ports)
    return [(waiting, limit) for local, waiting, limit in found if local in ports]


def _fill(state: tuple[int, int | None]) -> tuple[bool, float]:
    """Order of fullness: at its limit first, then by the share of the limit in use
    (by the count where the limit is unknown)."""
    waiting, limit = state
    if limit is None:
        return False, float(waiting)
    return waiting > 0 and waiting >= limit, waiting / max(limit, 1)


@dataclass
class AcceptQueuePeak:
    """The fullest accept queue seen at a sample among the sockets listening on
    ``ports`` (a server's public port and the ones it listens on inside, such as
    uWSGI's behind nginx), with that listener's backlog limit: the evidence that this
    server's backlog (not some other program's) was full. Sampled per tick, so a lower
    bound: a burst between two samples is missed."""

    ports: frozenset[int]
    peak: int | None = None
    limit: int | None = None

    def sample(self) -> None:
        for state in accept_queue_states(self.ports):
            if self.peak is None or _fill(state) >= _fill((self.peak, self.limit)):
                self.peak, self.limit = state


def tcp_figures(
    before: dict[str, int], queue: AcceptQueuePeak | None, read: Callable[[], dict[str, int]] | None = None
) -> TcpFigures:
    """RunResult.tcp so far: the counters' deltas since ``before`` and, when a queue was
    sampled, its peak (and its limit, when the peak's listener has a known one).
    ``read``: where the counters are read (default this machine's; --server-node: its node's)."""
    peak = queue.peak if queue is not None else None
    limit = queue.limit if queue is not None and peak is not None else None
    return TcpFigures(tcp_delta(before, (read or read_tcp_counters)()), peak, limit)


def tcp_sockets(listening_only: bool = False) -> Iterator[tuple[str, int, int, int]]:
    """Every TCP socket of the machine from /proc/net/tcp{,6}: (state as the kernel's
    hex code, local port, remote port, receive queue). With ``listening_only`` it
    stops at the first socket that is not listening: the kernel lists listeners
    first, and the rest (every connection, every TIME_WAIT) is what costs."""
    for table in _TCP_TABLES:
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) < 5:
                        continue
                    if listening_only and parts[3] != _STATE_LISTEN:
                        break
                    yield (
                        parts[3],
                        int(parts[1].rsplit(":", 1)[1], 16),
                        int(parts[2].rsplit(":", 1)[1], 16),
                        int(parts[4].partition(":")[2], 16),
                    )
        except (OSError, ValueError, IndexError):
            continue


def _queues_from_proc(ports: Collection[int]) -> list[tuple[int, int | None]]:
    """The same from /proc/net/tcp, where netlink is not allowed: the rx_queue of a
    LISTEN line is its accept queue, but its tx_queue is the send queue, not the
    backlog (sock_diag's idiag_wqueue is sk_max_ack_backlog), so the limit is None."""
    return [(rx, None) for _, local, _, rx in tcp_sockets(listening_only=True) if local in ports]


def port_sockets(port: int) -> tuple[int, int]:
    """(listening sockets on ``port``, client-side TIME_WAIT sockets towards ``port``)."""
    listening = time_wait = 0
    for state, local, remote, _ in tcp_sockets():
        if state == _STATE_LISTEN and local == port:
            listening += 1
        elif state == _STATE_TIME_WAIT and remote == port:
            time_wait += 1
    return listening, time_wait


def tw_reuse_on_loopback() -> bool:
    """Linux reuses TIME_WAIT ports for new loopback connects when net.ipv4.tcp_tw_reuse
    is 1 (always) or 2 (loopback only, the default since 4.x): then client-side TIME_WAIT
    sockets cannot starve the next run and there is nothing to wait for."""
    try:
        with open("/proc/sys/net/ipv4/tcp_tw_reuse") as f:
            return f.read().strip() in ("1", "2")
    except OSError:
        return False


def wait_settled(port: int | None, max_s: float, cancel: threading.Event | None = None) -> Settle:
    """Wait until nothing listens on the previous run's port and (unless the kernel reuses
    TIME_WAIT ports on loopback) its client-side TIME_WAIT sockets are down to
    TIME_WAIT_OK, or ``max_s`` passes. Returns what was waited for."""
    if port is None:
        return Settle(waited_s=0.0, time_wait=0, listening=0)
    start = time.monotonic()
    listening, time_wait = port_sockets(port)
    first_tw = time_wait
    tw_limit = math.inf if tw_reuse_on_loopback() else TIME_WAIT_OK
    while (listening or time_wait > tw_limit) and time.monotonic() - start < max_s:
        if cancel is not None and cancel.wait(0.1):
            break
        if cancel is None:
            time.sleep(0.1)
        listening, time_wait = port_sockets(port)
    return Settle(
        port=port,
        waited_s=round(time.monotonic() - start, 3),
        time_wait_before=first_tw,
        time_wait=time_wait,
        listening=listening,
        tw_reuse=tw_limit == math.inf,
    )


# -- Nagle meeting delayed ACK ----------------------------------------------------------------


def delayed_ack_probe(
    host: str, port: int, request: bytes, n: int = 8, skip: int = 2, budget_s: float = 3.0
) -> dict[str, float] | None:
    """Send ``request`` n times back to back at c=1 on each of two connections, one
    after the other: one sets TCP_QUICKACK after every read, so it ACKs at once, the
    other reads as any client does and delays its ACKs (up to ~40 ms). Returns medians
    in ms: ``first_byte`` and ``last_byte`` of a response on the plain connection,
    ``last_byte_quickack`` on the other; None when the probe could not finish within
    ``budget_s``.

    A server that writes one response in two pieces without TCP_NODELAY holds the
    second in Nagle's algorithm until the first is ACKed, and the client's delayed
    ACK holds that ACK: the response completes ~40 ms late, and on time when the
    client ACKs at once. A server that is just slow takes as long either way.

    Back to back, as the load sends: a client that waits longer than its ACK timeout
    before the next request leaves the kernel's ping-pong mode and ACKs at once
    again, so taking turns between the two connections hides the stall from a slow
    server (gevent serving a 40 ms sleep: 84 ms plain back to back, 41 ms in turns).
    The ACK-at-once connection goes first, so work left over from the load can only
    slow that one and shrink the difference, never make one. The first ``skip``
    responses of each are left out: a new connection ACKs its first segments at once
    (quick-ACK mode) and does not show the stall."""
    deadline = time.monotonic() + budget_s
    plain, quick = _Prober(host, port, request, False), _Prober(host, port, request, True)
    try:
        for prober in (quick, plain):
            for _ in range(n):
                if not prober.one(deadline):
                    return None
            prober.close()
    except (OSError, httptools.HttpParserError):
        return None
    finally:
        plain.close()
        quick.close()
    first = [t for t, _ in plain.timings[skip:]]
    last = [t for _, t in plain.timings[skip:]]
    last_quick = [t for _, t in quick.timings[skip:]]
    if not first:
        return None
    return {
        "n": len(first),
        "first_byte": round(statistics.median(first), 3),
        "last_byte": round(statistics.median(last), 3),
        "last_byte_quickack": round(statistics.median(last_quick), 3),
    }


def answers(url: str, request: bytes, timeout_s: float) -> bool:
    """Whether the server at ``url`` answers ``request`` once, whole, within ``timeout_s``
    (a connection of its own). A capacity search asks between steps: an idle server
    that no longer answers is wedged, not settled."""
    parts = urlsplit(url)
    prober = _Prober(parts.hostname or "127.0.0.1", parts.port or 80, request, False)
    try:
        return prober.one(time.monotonic() + timeout_s)
    except (OSError, httptools.HttpParserError):
        return False
    finally:
        prober.close()


class _Prober:
    """One client of the probe: a keep-alive connection (a new one whenever the server
    closes) and the (first byte, last byte) ms of every response it got."""

    def __init__(self, host: str, port: int, request: bytes, quickack: bool) -> None:
        self.address = (host, port)
        self.request = request
        self.quickack = quickack and hasattr(socket, "TCP_QUICKACK")
        self.conn: socket.socket | None = None
        self.timings: list[tuple[float, float]] = []
        # httptools callbacks set these; keep-alive is asked in the callback, since
        # the parser forgets it once the message is complete
        self.complete = False
        self.keep_alive = False
        self.parser = httptools.HttpResponseParser(self)

    def on_message_complete(self) -> None:
        self.complete = True
        self.keep_alive = self.parser.should_keep_alive()

    def one(self, deadline: float) -> bool:
        """One request and its whole response; False when the deadline passes first or
        the server closes mid-response."""
        if self.conn is None:
            self.conn = socket.create_connection(self.address, timeout=max(0.01, deadline - time.monotonic()))
        self.complete = False
        self.parser = httptools.HttpResponseParser(self)
        started = time.perf_counter()
        self.conn.sendall(self.request)
        first = None
        while not self.complete:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.conn.settimeout(left)
            data = self.conn.recv(65536)
            if self.quickack:
                self.conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            if not data:
                return False
            if first is None:
                first = time.perf_counter()
            self.parser.feed_data(data)
        first_at = started if first is None else first  # complete implies a first read
        self.timings.append(((first_at - started) * 1000.0, (time.perf_counter() - started) * 1000.0))
        if not self.keep_alive:
            self.close()
        return True

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None
