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

#: most slow connections one run may hold
MAX_SLOW_CLIENTS = 1024
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
        self.headless: set[socket.socket] = set()  # connected, request line not yet out
        self.failed: dict[str, int] = {}  #: connects that failed, by errno name
        self.lines_sent = 0
        self._timer: asyncio.TimerHandle | None = None
        self._closed = False

    def open(self) -> None:
        family = socket.AF_INET6 if ":" in self.address[0] else socket.AF_INET
        for _ in range(self.count):
            sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
            err = sock.connect_ex(self.address)
            if err and err != errno.EINPROGRESS:
                name = errno.errorcode.get(err, str(err))
                self.failed[name] = self.failed.get(name, 0) + 1
                sock.close()
                continue
            self.socks.append(sock)
            self.headless.add(sock)
        self._trickle()

    def _trickle(self) -> None:
        """The request line first (once the connect is through), then one more header
        line each TRICKLE_EVERY_S; the blank line that would end the request never comes."""
        if self._closed:
            return
        alive = []
        for sock in self.socks:
            first = sock in self.headless
            data = self.head if first else b"X-Slow-Client: %d\r\n" % self.lines_sent
            try:
                sock.send(data)
            except BlockingIOError:  # still connecting (a busy loopback, a full queue): the next turn
                alive.append(sock)
                continue
            except OSError:  # the server dropped it: gone, as a real client would be
                self.headless.discard(sock)
                sock.close()
                continue
            self.headless.discard(sock)
            alive.append(sock)
        self.socks = alive
        self.lines_sent += 1
        self._timer = self.loop.call_later(TRICKLE_EVERY_S, self._trickle)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for sock in self.socks:
            sock.close()
        self.socks = []

    def notes(self, index: int) -> list[str]:
        out = []
        for name, n in sorted(self.failed.items()):
            why = f" ({os.strerror(getattr(errno, name))})" if hasattr(errno, name) else ""
            out.append(f"loader process {index}: {n} slow-client connects failed with {name}{why}")
        return out
