"""An HTTP server on loopback that answers a fixed, known pattern and counts for itself:
request k (counted over all connections, from 1) gets a 500 when k is a multiple of
``every``, a 200 otherwise. The expected failures and availability of a load against it
are known before the load runs, and its own counters are the server's side of the story.

    with PatternServer(every=4) as server: ...   # 25 % 500s, 75 % 2xx
"""

from __future__ import annotations

import asyncio

from loader_servers import ERROR_500, OK, LoopServer


class _Answer(asyncio.Protocol):
    def __init__(self, server: PatternServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections += 1

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:  # requests without a body (GET)
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            server = self.server
            server.requests += 1
            if server.requests % server.every == 0:
                server.answered_500 += 1
                self.transport.write(ERROR_500)  # type: ignore[union-attr]
            else:
                server.answered_200 += 1
                self.transport.write(OK)  # type: ignore[union-attr]


class PatternServer(LoopServer):
    """Every ``every``-th request a 500, the rest 200 (keep-alive), counted by the server."""

    def __init__(self, every: int) -> None:
        super().__init__("test-pattern-server")
        self.every = every
        self.requests = 0  # requests read (one loop thread: no lock needed)
        self.answered_200 = 0
        self.answered_500 = 0
        self.connections = 0

    def protocol(self) -> asyncio.Protocol:
        return _Answer(self)
