"""One loader connection and its client: the per-request hot path.

Keep-alive: ``Link`` (an asyncio protocol, uvloop when installed) →
``parser.feed_data`` (httptools) → ``Client.on_headers_complete`` /
``on_message_complete`` → the next pre-encoded request is written from inside that
callback. No task, no future, no allocation per request beyond one int appended to
an ``array('q')``.

A connection that carries one request only (``--no-keepalive``, or a server that
closes after every response) skips the transport: a plain non-blocking socket in the
worker's own epoll set (``Shot``), written right after ``connect()`` and closed from
the response callback. uvloop's connect path costs about twice wrk's CPU per
connection and closes a socket only on the loop's next turn; against a server that
waits for the client's FIN (gunicorn's sync worker) that showed as a slower server.
"""

from __future__ import annotations

import _socket
import asyncio
import ctypes
import errno
import os
import select
import socket
import time
from array import array
from typing import TYPE_CHECKING, Any

import httptools
import numpy as np

from .histogram import bucket_sparse
from .stats import ERROR_KINDS

if TYPE_CHECKING:
    from .worker import Worker

# client states
CLOSED, CONNECTING, IDLE, BUSY = 0, 1, 2, 3

#: connect failures other than "refused" (EMFILE, EADDRNOTAVAIL…) back off this long
#: before the client tries again, so an exhausted resource is not hammered in a hot loop
OTHER_ERROR_BACKOFF_S = 0.05
_monotonic = time.monotonic

#: bytes one recv() asks for on a one-shot connection
RECV_SIZE = 64 * 1024  # below malloc's mmap threshold: a larger buffer costs mmap + munmap per read

#: a one-shot request at most this long goes out in the first segment (no path's MSS is
#: smaller), written once on a connection that carries nothing else: Nagle's algorithm
#: cannot hold it back, so such a socket skips the TCP_NODELAY call (a syscall per
#: connection). A longer one (a large body, sent in parts) sets it as every connection did.
NAGLE_SAFE_BYTES = 536

#: bytes of a response's first chunk kept to tell, at a close, whether its body was
#: delimited by the close (a header block longer than this counts as cut short)
_HEAD_KEPT = 2048


def _body_ends_at_close(head: bytes | None) -> bool:
    """Whether a response whose headers start ``head`` has a body that only the
    connection's close ends: neither Content-Length nor Transfer-Encoding."""
    if not head:
        return False
    end = head.find(b"\r\n\r\n")
    if end < 0:
        return False  # header block not all in view: do not guess
    block = head[:end].lower()
    return b"\ncontent-length:" not in block and b"\ntransfer-encoding:" not in block


class TickCounts:
    """One loader process's counts for one tick: the measured part or the warm-up part
    (a Worker has one of each). A request counts where its ``Client.acc`` points: the
    part it was issued under, except that a time-bound run moves what is outstanding
    at the warm-up's end into the measured part (it is answered inside the window;
    see ``Worker._begin_measuring``). ``--requests``/``--reps`` count only requests
    issued after the warm-up, so they stay exact."""

    __slots__ = ("status", "errors", "reconnects", "bytes", "lat", "lat_unc")

    def __init__(self, open_loop: bool) -> None:
        self.status = [0] * 10  # by status // 100
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.reconnects = 0
        self.bytes = 0
        self.lat = array("q")  # µs from intended send (closed loop: actual send)
        self.lat_unc = array("q") if open_loop else None  # µs from the actual send (open loop)

    def drain(self) -> dict[str, Any]:
        """This tick's figures in compact form; resets the accumulator."""
        lat, self.lat = self.lat, array("q")
        part: dict[str, Any] = {
            "status": self.status[2:6],
            "errors": {k: v for k, v in self.errors.items() if v},
            "reconnects": self.reconnects,
            "bytes": self.bytes,
            "lat": _encode(lat),
            "lat_unc": None,
        }
        if self.lat_unc is not None:
            unc, self.lat_unc = self.lat_unc, array("q")
            part["lat_unc"] = _encode(unc)
        # statuses outside 2xx..5xx were counted as protocol errors already
        self.status = [0] * 10
        self.errors = dict.fromkeys(ERROR_KINDS, 0)
        self.reconnects = 0
        self.bytes = 0
        return part


_EMPTY_WIRE = (b"", b"", 0, 0, 0)
_EMPTY_PART: dict[str, Any] = {
    "status": [0, 0, 0, 0],
    "errors": {},
    "reconnects": 0,
    "bytes": 0,
    "lat": _EMPTY_WIRE,
    "lat_unc": None,
}


def _encode(values: array) -> tuple[bytes, bytes, int, int, int]:
    slots, counts, lo, hi, total = bucket_sparse(values)
    # uint16 slot numbers (< 23552 slots) and uint32 counts (< 2**32 per tick): ~6 bytes a slot
    return slots.astype(np.uint16).tobytes(), counts.astype(np.uint32).tobytes(), lo, hi, total


_SOCK_STREAM_NONBLOCK = socket.SOCK_STREAM | socket.SOCK_NONBLOCK

_libc = ctypes.CDLL(None, use_errno=True)  # shutdown() on a transport's socket, prctl()


class Link(asyncio.Protocol):
    """The protocol of one TCP connection. Tiny and per connection, so a late
    callback from a connection the client already gave up (timed out, closed)
    is recognised (``client.link is not self``) and ignored."""

    __slots__ = ("client", "transport")

    def __init__(self, client: Client) -> None:
        self.client = client
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        client = self.client
        if client.link is self and client.state == CONNECTING:
            client.on_connected(transport)  # type: ignore[arg-type]
        else:
            transport.abort()  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        client = self.client
        if client.link is self:
            client.on_data(data)

    def eof_received(self) -> bool | None:
        return False  # close our side too; connection_lost tells the client

    def connection_lost(self, exc: Exception | None) -> None:
        client = self.client
        if client.link is self:
            client.on_lost(exc)


class Shot:
    """A connection for one request on a plain non-blocking socket, watched by the
    worker's own epoll set (see the module's doc). The request is written right after
    ``connect()`` (on loopback the handshake is usually done by then), else once the
    socket turns writable; the socket is closed, and leaves the epoll set, as soon as
    the response is complete."""

    __slots__ = ("client", "sock", "fd", "unsent")

    def __init__(self, client: Client, sock: _socket.socket) -> None:
        self.client = client
        self.sock = sock
        self.fd = sock.fileno()
        self.unsent = b""  # request bytes not yet written

    def write(self, data: bytes) -> bool:
        """Write ``data`` (what is left of it later); True once all is out."""
        try:
            n = self.sock.send(data)
        except BlockingIOError:  # still connecting (or a full buffer): wait for writable
            n = 0
        self.unsent = data[n:]
        return not self.unsent

    def on_event(self, events: int) -> None:
        client = self.client
        if client.link is not self:
            return
        if client.state == CONNECTING:
            err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                client.on_connect_failed(OSError(err, os.strerror(err)))
                return
            try:
                sent = self.write(self.unsent)
            except OSError as exc:
                client.on_connect_failed(exc)
                return
            if sent:
                client.state = BUSY
                client.worker.epoll.modify(self.fd, select.EPOLLIN)
            return
        try:
            data = self.sock.recv(RECV_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            self.close()
            client.on_lost(exc)
            return
        if data:
            client.on_data(data)
        else:
            self.close()
            client.on_lost(None)

    def close(self) -> None:
        """Close the socket (it leaves the epoll set with it); further events are stale."""
        self.client.worker.shots.pop(self.fd, None)
        self.sock.close()


class Client:
    """One simulated client: one connection at a time, one request at a time."""

    __slots__ = (
        "worker",
        "state",
        "link",
        "transport",
        "parser",
        "has_request",
        "t_intended",
        "t_sent",
        "acc",
        "got",
        "responses_on_link",
        "resent",
        "keep_alive",
        "status",
        "reps_issued",
        "retired",
        "connect_task",
        "think_handle",
        "head",
        "fd",
        "one_shot",
    )

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.state = CLOSED
        self.link: Link | Shot | None = None
        self.transport: asyncio.Transport | None = None
        self.parser: Any = None
        self.has_request = False  # a request is being (re)sent or awaits its response
        self.t_intended = 0.0  # monotonic s the request was meant to go out (open loop schedule)
        self.t_sent = 0.0  # monotonic s it was handed to this client
        self.acc: TickCounts = worker.warm_acc
        self.got = 0  # bytes of the current response received so far
        self.responses_on_link = 0  # complete responses on the current connection
        self.resent = False  # the current request was already resent once after a keep-alive close
        self.keep_alive = True  # what the server said for the current response
        self.status = 0
        self.reps_issued = 0  # measured requests this client issued (for --reps)
        self.retired = False
        self.connect_task: asyncio.Task | None = None
        self.think_handle: asyncio.TimerHandle | None = None
        self.head: bytes | None = None  # start of the current response (see _body_ends_at_close)
        self.fd = -1  # the current transport's socket, to send the FIN at once (see drop_connection)
        # the next connection carries one request only: always with --no-keepalive; with
        # keep-alive once the server said it closes after each response (see Shot)
        self.one_shot = not worker.keepalive

    # -- sending ----------------------------------------------------------------------
    def issue(self, t_intended: float, now: float, acc: TickCounts) -> None:
        self.has_request = True
        self.t_intended = t_intended
        self.t_sent = now
        self.acc = acc
        self.resent = False
        self.status = 0  # no header of this request's response seen yet
        state = self.state
        if state == IDLE:
            self.state = BUSY
            self.got = 0
            self.transport.write(self.worker.request)  # type: ignore[union-attr]
        elif state == CLOSED:
            self.connect()

    def connect(self) -> None:
        self.state = CONNECTING
        if self.one_shot:
            self._open_shot()
            return
        link = Link(self)
        self.link = link
        self.connect_task = self.worker.loop.create_task(self._open(link))

    def _open_shot(self) -> None:
        worker = self.worker
        try:
            # the C socket type: socket.socket's Python layer (__init__, close, the io
            # reference count) buys nothing here and costs per connection
            sock = _socket.socket(worker.family, _SOCK_STREAM_NONBLOCK)
        except OSError as exc:  # EMFILE, ENFILE, ENOBUFS
            self._connect_failed_later(exc)
            return
        shot = Shot(self, sock)
        self.link = shot
        worker.shots[shot.fd] = shot
        try:
            if worker.request_nodelay:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            err = sock.connect_ex(worker.address)
            if err and err != errno.EINPROGRESS:
                raise OSError(err, os.strerror(err))  # OSError picks the subclass (refused…)
            self.parser = httptools.HttpResponseParser(self)
            self.responses_on_link = 0
            self.got = 0
            if shot.write(worker.request):  # connect() is only ever called with a request
                self.state = BUSY
                worker.epoll.register(shot.fd, select.EPOLLIN)
            else:
                worker.epoll.register(shot.fd, select.EPOLLOUT)
        except OSError as exc:
            self._connect_failed_later(exc)

    def _connect_failed_later(self, exc: OSError) -> None:
        """A connect that failed at once (refused on loopback) is handled on the loop's
        next turn, not from inside connect(): the next request would connect again from
        the same stack, and a server that refuses every connect (one that died) would
        recurse until Python gives up."""
        link = self.link

        def later() -> None:
            if self.link is link and self.state == CONNECTING:
                self.on_connect_failed(exc)

        self.worker.loop.call_soon(later)

    def on_connect_failed(self, exc: OSError) -> None:
        """The current connection could not be opened, or its connect failed."""
        link = self.link
        if isinstance(link, Shot):
            link.close()
        self.link = None
        self.state = CLOSED
        kind = self.worker.classify_connect_error(exc)
        self.fail(kind, backoff=kind == "other")

    async def _open(self, link: Link) -> None:
        worker = self.worker
        try:
            await worker.loop.create_connection(lambda: link, worker.host, worker.port)
        except asyncio.CancelledError:
            return
        except OSError as exc:
            if self.link is link:
                self.connect_task = None
                self.on_connect_failed(exc)
            return
        except Exception as exc:  # noqa: BLE001 - never leave a client hanging in CONNECTING
            if self.link is not link:
                return
            self.link = None
            self.connect_task = None
            self.state = CLOSED
            worker.errno_counts[type(exc).__name__] = worker.errno_counts.get(type(exc).__name__, 0) + 1
            self.fail("other", backoff=True)
            return
        if self.link is link:
            self.connect_task = None

    def on_connected(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")  # uvloop's stand-in refuses shutdown()
        self.fd = -1 if sock is None else sock.fileno()
        self.parser = httptools.HttpResponseParser(self)
        self.responses_on_link = 0
        self.state = IDLE
        if self.has_request:
            self.state = BUSY
            self.got = 0
            transport.write(self.worker.request)

    def on_data(self, data: bytes) -> None:
        """Bytes read from the current connection (either kind)."""
        if self.state != BUSY:
            # bytes nobody asked for: not a response to count; drop the connection
            self.drop_connection(abort=True)
            return
        if self.got == 0:
            # the start of the response, kept (bounded) in case its body ends at the close
            self.head = data[:_HEAD_KEPT]
        self.got += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.fail("protocol")
        except httptools.HttpParserError:
            self.fail("protocol")

    # -- parser callbacks (called from inside feed_data) --------------------------------
    def on_headers_complete(self) -> None:
        parser = self.parser
        self.status = parser.get_status_code()
        # must be read here: after the message completes httptools reports False
        self.keep_alive = parser.should_keep_alive()

    def on_message_complete(self) -> None:
        now = _monotonic()
        worker = self.worker
        reuse = self.keep_alive and worker.keepalive and self.transport is not None
        if not reuse:
            self.drop_connection()  # first: a server may wait for our FIN (see there)
        if worker.keepalive:
            self.one_shot = not self.keep_alive  # what the server does decides the next connection
        acc = self.acc
        acc.lat.append(int((now - self.t_intended) * 1e6))
        if acc.lat_unc is not None:
            acc.lat_unc.append(int((now - self.t_sent) * 1e6))
        cls = self.status // 100
        if 2 <= cls <= 5:
            acc.status[cls] += 1
        else:
            acc.errors["protocol"] += 1
        acc.bytes += self.got
        self.has_request = False
        self.responses_on_link += 1
        if reuse:
            self.state = IDLE
        worker.next_request(self, now)

    # -- failures -----------------------------------------------------------------------
    def on_lost(self, exc: Exception | None) -> None:
        was = self.state
        self.link = None
        self.transport = None
        self.state = CLOSED
        worker = self.worker
        if was == BUSY:
            if self.got == 0 and self.responses_on_link > 0 and not self.resent:
                # A keep-alive connection the server closed before any byte of this
                # response (uWSGI's --http router does it after every response): a
                # close that raced the request, so reconnect and resend it once, as wrk
                # does, whatever the method; not a failure.
                self.acc.reconnects += 1
                self.resent = True
                self.connect()
                return
            if exc is None and self.status and _body_ends_at_close(self.head):
                # no Content-Length, not chunked (HTTP/1.0 style): the close ends the
                # body, so this response is complete, not cut short
                self.keep_alive = False
                self.on_message_complete()
                return
            self.acc.bytes += self.got
            self.fail("reset" if isinstance(exc, ConnectionResetError) else "closed_early")
        elif was == IDLE and worker.keepalive and not worker.finishing:
            # the server closed an idle keep-alive connection; the next request reconnects
            self.acc.reconnects += 1

    def fail(self, kind: str, backoff: bool = False) -> None:
        """End the current request as error ``kind`` and go on with the next one."""
        if not self.has_request:
            return
        self.acc.errors[kind] += 1
        self.has_request = False
        self.drop_connection()
        worker = self.worker
        if backoff and not worker.finishing:
            self.think_handle = worker.loop.call_later(OTHER_ERROR_BACKOFF_S, worker.after_think, self)
        else:
            worker.next_request(self, _monotonic())

    def drop_connection(self, abort: bool = False) -> None:
        """Forget the current connection (its late callbacks are ignored) and close it.

        The FIN goes out now, from this callback: ``transport.close()`` closes the socket
        only on the loop's next turn, and a server that lingers for the client's FIN
        before it takes the next connection (gunicorn's sync worker: ``shutdown(SHUT_WR)``,
        then wait until the client closes) would sit idle that long on every request and
        be measured slower than it is. wrk, too, closes from its response callback."""
        link, self.link = self.link, None
        self.state = CLOSED
        transport, self.transport = self.transport, None
        fd, self.fd = self.fd, -1
        if isinstance(link, Shot):
            link.close()  # close() itself sends the FIN at once
        elif transport is not None:
            if abort:
                transport.abort()
            else:
                if fd >= 0:
                    _libc.shutdown(fd, socket.SHUT_WR)  # a failure (peer gone) changes nothing
                transport.close()
        task, self.connect_task = self.connect_task, None
        if task is not None and not task.done():
            task.cancel()


class HeadClient(Client):
    """A client that sends HEAD. Its response ends with the header block (RFC 9110
    9.3.2) whatever Content-Length it announces, and the parser, which sees only the
    response, would wait for that body until the timeout. So the request completes at
    the headers and a fresh parser reads the connection's next response; the old one
    may still report a message end, which is ignored. A class of its own keeps the
    check off every other client's per-response path."""

    __slots__ = ()

    def on_headers_complete(self) -> None:
        Client.on_headers_complete(self)
        self.parser = httptools.HttpResponseParser(self)
        Client.on_message_complete(self)

    def on_message_complete(self) -> None:
        pass  # only an old parser calls this: the response already ended at its headers
