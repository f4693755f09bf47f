"""An HTTP server on loopback that keeps what it received: every request's method, path,
headers and body, parsed by httptools' request parser (a real parser, not a split on a
blank line, so a body is read by its Content-Length). It answers 200 with a short body,
and to a HEAD the same headers with no body (Content-Length says what a GET would get),
as a real server does; it closes after a request that says ``Connection: close``.

    with RecordingServer() as server: ...; server.received[0].body
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httptools
from loader_servers import LoopServer

BODY = b"recorded\n"
HEAD_LINES = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(BODY)


@dataclass
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def header(self, name: str) -> list[str]:
        return [v for n, v in self.headers if n.lower() == name.lower()]


class _Conn(asyncio.Protocol):
    def __init__(self, server: RecordingServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.current: Received | None = None
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections += 1

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.server.bad += 1
            assert self.transport is not None
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.current = Received(method="", path="")
        self.url = b""

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self.current is not None
        self.current.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        assert self.current is not None
        self.current.body += body

    def on_message_complete(self) -> None:
        received = self.current
        assert received is not None and self.transport is not None
        received.method = self.parser.get_method().decode("latin-1")
        received.path = self.url.decode("latin-1")
        self.server.received.append(received)
        self.transport.write(HEAD_LINES if received.method == "HEAD" else HEAD_LINES + BODY)
        if not self.parser.should_keep_alive():
            self.transport.close()


class RecordingServer(LoopServer):
    """Runs in its own thread on a free 127.0.0.1 port; ``received`` fills as requests come."""

    def __init__(self) -> None:
        super().__init__("recording-server")
        self.received: list[Received] = []
        self.connections = 0
        self.bad = 0  # requests the parser refused

    def protocol(self) -> asyncio.Protocol:
        return _Conn(self)
