"""Slow clients: extra connections that trickle a request's header lines and never
finish it, nor read anything — the clients a buffering proxy protects sync workers
from. A sync worker that took such a connection waits on it; with as many of them as
workers, a bare sync server answers nobody else. Two kinds more (``LoadProfile.slow_kind``):
*readers* send a whole GET of a large answer and read it at READ_BYTES a step with a
small receive buffer (SO_RCVBUF READER_RCVBUF, set before the connect), so a sync worker
writing it waits on them; *uploads* send a POST's head with its Content-Length, then the
body at READ_BYTES a step.

They belong to one loader process, are bounded in number and time (closed at their
end time, or when the load ends), and count as no request in any figure: what they
do to the *other* clients is the measurement."""

from __future__ import annotations

import asyncio
import errno
import os
import socket
from urllib.parse import urlsplit

from .profile import LoadProfile

#: seconds between two steps of a slow client: a header line (a few bytes a second), or
#: READ_BYTES read (slow readers) or sent (slow uploads)
TRICKLE_EVERY_S = 1.0
#: bytes a slow reader reads, or a slow upload sends, each step: ~1 KiB/s
READ_BYTES = 1024
#: a slow reader's receive buffer (the kernel doubles it for its bookkeeping)
READER_RCVBUF = 4096


class SlowClients:
    """``count`` trickling connections to ``address`` from ``open()`` until ``close()``."""

    #: what the notes call them
    what = "slow-client"

    def __init__(self, loop: asyncio.AbstractEventLoop, address: tuple[str, int], head: bytes, count: int) -> None:
        """``head``: what the connections send once connected (here the request line and Host)."""
        self.loop = loop
        self.address = address
        self.head = head
        self.count = count
        self.socks: list[socket.socket] = []
        self.headless: set[socket.socket] = set()  # connect not through yet: request line not out
        self.failed: dict[str, int] = {}  #: connects that failed, by errno name
        self.dropped = 0  #: connections the server closed while they trickled
        self.lines_sent = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def open(self) -> None:
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        for _ in range(self.count):
            sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            self._prepare(sock)
            err = sock.connect_ex(self.address)
            if err and err != errno.EINPROGRESS:
                self._failed(sock, err)
                continue
            self.socks.append(sock)
            self.headless.add(sock)
            # the request line goes out the moment the connect is through: on a busy
            # machine that can be late, and the trickle's next turn a second later
            self.loop.add_writer(sock.fileno(), self._connected, sock)
        self._timer = self.loop.call_later(TRICKLE_EVERY_S, self._trickle)

    def _prepare(self, sock: socket.socket) -> None:
        """Socket options set before the connect (none here)."""

    def _failed(self, sock: socket.socket, err: int) -> None:
        name = errno.errorcode.get(err, str(err))
        self.failed[name] = self.failed.get(name, 0) + 1
        sock.close()

    def _connected(self, sock: socket.socket) -> None:
        """The connect finished: the request line, or the socket is gone (connect failed)."""
        self.loop.remove_writer(sock.fileno())
        self.headless.discard(sock)
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if not err:
            try:
                sock.send(self.head)
                return
            except OSError as exc:
                err = exc.errno or errno.EIO
        self.socks.remove(sock)
        self._failed(sock, err)

    def _trickle(self) -> None:
        """One step for every connection that is through, each TRICKLE_EVERY_S (``_step``);
        the ones the server dropped are closed and counted."""
        if self._closed:
            return
        alive = []
        for sock in self.socks:
            if sock in self.headless:  # still connecting: its writer sends the request's head
                alive.append(sock)
                continue
            try:
                self._step(sock)
            except BlockingIOError:  # a full send buffer, or nothing to read yet: still held
                pass
            except (OSError, EOFError):  # the server dropped it: gone, as a real client would be
                self.dropped += 1
                self._forget(sock)
                sock.close()
                continue
            alive.append(sock)
        self.socks = alive
        self.lines_sent += 1
        self._timer = self.loop.call_later(TRICKLE_EVERY_S, self._trickle)

    def _step(self, sock: socket.socket) -> None:
        """One more header line; the blank line that would end the request never comes."""
        sock.send(b"X-Slow-Client: %d\r\n" % self.lines_sent)

    def _forget(self, sock: socket.socket) -> None:
        """A connection is gone: drop what is kept of it (nothing here)."""

    def held(self) -> int:
        """The connections that are through and still open, with nothing from the server:
        the ones holding what the server gave them (a worker, a buffer). A peek reads
        nothing; an answer (408, 400) or the server's close makes one not held."""
        n = 0
        for sock in self.socks:
            if sock in self.headless:
                continue
            try:
                sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            except BlockingIOError:
                n += 1
            except OSError:
                pass
        return n

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for sock in self.socks:
            if sock in self.headless:
                self.loop.remove_writer(sock.fileno())
            sock.close()
        self.socks = []
        self.headless.clear()

    def notes(self, index: int) -> list[str]:
        out = []
        for name, n in sorted(self.failed.items()):
            why = f" ({os.strerror(getattr(errno, name))})" if hasattr(errno, name) else ""
            out.append(f"loader process {index}: {n} {self.what} connects failed with {name}{why}")
        if self.dropped:
            out.append(f"loader process {index}: the server closed {self.dropped} {self.what} connections")
        return out


class SlowReaders(SlowClients):
    """Connections that send a whole GET (``head``) and read its answer at READ_BYTES a
    step through a READER_RCVBUF receive buffer: the server's writes fill it and wait."""

    what = "slow-reader"

    def _prepare(self, sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, READER_RCVBUF)  # before the connect: the window

    def _step(self, sock: socket.socket) -> None:
        if not sock.recv(READ_BYTES):
            raise EOFError  # the server closed it (a timeout, or the answer was short)

    def held(self) -> int:
        """The connections through and open: the server has not closed them (a peek sees
        data or nothing yet, not the end)."""
        n = 0
        for sock in self.socks:
            if sock in self.headless:
                continue
            try:
                n += bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
            except BlockingIOError:
                n += 1
            except OSError:
                pass
        return n


class SlowUploads(SlowClients):
    """Connections that send a POST's head (``head``, with its Content-Length) and then
    ``body`` at READ_BYTES a step; held while nothing came back from the server."""

    what = "slow-upload"

    def __init__(
        self, loop: asyncio.AbstractEventLoop, address: tuple[str, int], head: bytes, count: int, body: bytes
    ) -> None:
        super().__init__(loop, address, head, count)
        self.body = body
        self.sent: dict[socket.socket, int] = {}  # body bytes out per connection

    def _step(self, sock: socket.socket) -> None:
        at = self.sent.get(sock, 0)
        if at < len(self.body):
            self.sent[sock] = at + sock.send(self.body[at : at + READ_BYTES])

    def _forget(self, sock: socket.socket) -> None:
        self.sent.pop(sock, None)


def slow_clients_for(loop: asyncio.AbstractEventLoop, address: tuple[str, int], profile: LoadProfile) -> SlowClients:
    """The slow connections ``profile`` asks for (its slow_kind, slow_path, slow_body),
    against the host of its url."""
    parts = urlsplit(profile.url)
    host = f"Host: {parts.netloc}\r\n".encode("latin-1")
    path = profile.slow_path or (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    n = profile.slow_clients
    if profile.slow_kind == "readers":
        head = b"GET %s HTTP/1.1\r\n%sUser-Agent: wsgicompare-loader\r\n\r\n" % (path.encode("latin-1"), host)
        return SlowReaders(loop, address, head, n)
    if profile.slow_kind == "uploads":
        head = b"POST %s HTTP/1.1\r\n%sContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n" % (
            path.encode("latin-1"),
            host,
            len(profile.slow_body),
        )
        return SlowUploads(loop, address, head, n, profile.slow_body)
    return SlowClients(loop, address, b"GET %s HTTP/1.1\r\n%s" % (path.encode("latin-1"), host), n)
