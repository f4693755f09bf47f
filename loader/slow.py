"""Slow clients: extra connections that trickle a request's header lines and never
finish it, nor read anything — the clients a buffering proxy protects sync workers
from. A sync worker that took such a connection waits on it; with as many of them as
workers, a bare sync server answers nobody else.

They belong to one loader process, are bounded in number and time (closed at their
end time, or when the load ends), and count as no request in any figure: what they
do to the *other* clients is the measurement."""

from __future__ import annotations

import asyncio
import errno
import os
import socket

#: seconds between two header lines of a slow client (a few bytes a second)
TRICKLE_EVERY_S = 1.0


class SlowClients:
    """``count`` trickling connections to ``address`` from ``open()`` until ``close()``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, address: tuple[str, int], head: bytes, count: int) -> None:
        """``head``: the request line and Host header the connections start with."""
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
        """One more header line each TRICKLE_EVERY_S; the blank line that would end the
        request never comes."""
        if self._closed:
            return
        alive = []
        line = b"X-Slow-Client: %d\r\n" % self.lines_sent
        for sock in self.socks:
            if sock in self.headless:  # still connecting: its writer sends the request line
                alive.append(sock)
                continue
            try:
                sock.send(line)
            except BlockingIOError:  # a full send buffer: the server reads nothing either
                alive.append(sock)
                continue
            except OSError:  # the server dropped it: gone, as a real client would be
                self.dropped += 1
                sock.close()
                continue
            alive.append(sock)
        self.socks = alive
        self.lines_sent += 1
        self._timer = self.loop.call_later(TRICKLE_EVERY_S, self._trickle)

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
            out.append(f"loader process {index}: {n} slow-client connects failed with {name}{why}")
        if self.dropped:
            out.append(f"loader process {index}: the server closed {self.dropped} slow-client connections")
        return out
