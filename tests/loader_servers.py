"""Small misbehaving HTTP servers for the loader tests: real sockets on 127.0.0.1,
one asyncio loop in a background thread, each behaviour a few lines.

    with serve("delay", delay_s=0.02) as url: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
import time
from collections.abc import Iterator

BODY = b"hello from a loader test server\n"


def _response(status: str = "200 OK", body: bytes = BODY, extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode() + body


OK = _response()
ERROR_500 = _response("500 Internal Server Error", b"boom\n")
CHUNKED_BODY_PARTS = (b"first chunk\n", b"second, longer chunk of the body\n", b"end\n")
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
    + b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in CHUNKED_BODY_PARTS)
    + b"0\r\n\r\n"
)
#: a response cut short: promises 100 bytes, sends 10, then the server closes
MID_BODY = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789"
#: a server that says it closes, and does
SAYS_CLOSE = _response(extra="Connection: close\r\n")
#: HTTP/1.0 style: no Content-Length, the close ends the body (complete, not cut short)
CLOSE_DELIMITED = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nthe body ends at the close\n"


#: the kinds that answer every request with the same bytes: (response, close after it)
_FIXED = {
    "ok": (OK, False),
    "500": (ERROR_500, False),
    "chunked": (CHUNKED, False),
    "midbody": (MID_BODY, True),
    "close_delimited": (CLOSE_DELIMITED, True),
    "says_close": (SAYS_CLOSE, True),
    # a keep-alive response (HTTP/1.1, no Connection: close), then a close anyway,
    # like uWSGI's --http router
    "close_each": (OK, True),
}


class _Handler(asyncio.Protocol):
    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.server.connections += 1
        self.opened_at = time.monotonic()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
            self.server.requests += 1
            self.answer()

    def answer(self) -> None:
        server = self.server
        kind = server.kind
        transport = self.transport
        assert transport is not None
        if kind in _FIXED:
            response, close = _FIXED[kind]
            transport.write(response)
            if close:
                transport.close()
        elif kind == "delay":
            loop = asyncio.get_running_loop()
            loop.call_later(server.delay_s, self._late_ok, loop.time())
        elif kind in ("capacity", "tires", "mmc"):
            # ``workers`` workers, ``delay_s`` of work per request, first come first
            # served: a server of exactly workers / delay_s req/s, queueing beyond it.
            # "tires": a request on a connection older than ``stall_after_s`` takes 20×
            # as long — a rate the server holds for a short window but not a long one.
            # "mmc": the work is exponential of mean ``delay_s`` (drawn from ``seed``), so
            # under Poisson arrivals the server is an M/M/c queue (benchmarks/mmc.py)
            loop = asyncio.get_running_loop()
            now = loop.time()
            free_at = server.free_at
            worker = min(range(len(free_at)), key=free_at.__getitem__)
            work = server.delay_s
            if kind == "mmc":
                work = server.rng.expovariate(1.0 / server.delay_s)
            elif kind == "tires" and time.monotonic() - self.opened_at > server.stall_after_s:
                work *= 20
            done_at = max(now, free_at[worker]) + work
            free_at[worker] = done_at
            loop.call_at(done_at, self._late_ok)
        elif kind == "silent":
            pass  # read the request, never answer
        elif kind == "wedge":
            # answers until ``stall_after_s`` after its first request, then never again
            # (a server wedged by an overload: idle, yet answering nothing)
            now = time.monotonic()
            if server.first_request_at is None:
                server.first_request_at = now
            if now - server.first_request_at <= server.stall_after_s:
                transport.write(OK)
        elif kind == "reset" or (kind == "flaky" and server.requests % 2 == 0):
            sock = transport.get_extra_info("socket")
            # SO_LINGER 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        elif kind == "flaky":
            transport.write(OK)
        elif kind == "stall_once":
            now = time.monotonic()
            if server.first_request_at is None:
                server.first_request_at = now
            if not server.stalled and now - server.first_request_at > server.stall_after_s:
                server.stalled = True
                time.sleep(server.stall_s)  # blocks the whole server loop: every request waits
            transport.write(OK)
        else:  # pragma: no cover
            raise ValueError(kind)

    def _late_ok(self, asked_at: float | None = None) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(OK)
            if asked_at is not None:  # "delay": how long this answer really took here
                self.server.answered_after_s.append(asyncio.get_running_loop().time() - asked_at)


class LoopServer:
    """An asyncio server on a free 127.0.0.1 port, its loop in a thread of its own; a
    subclass says what answers a connection (``protocol``). ``start``/``stop``, or use
    it as a context manager."""

    def __init__(self, name: str) -> None:
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def protocol(self) -> asyncio.Protocol:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self):  # -> the subclass
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"{self._thread.name} did not start")
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = loop.run_until_complete(
            loop.create_server(self.protocol, "127.0.0.1", 0, backlog=1024, reuse_address=True)
        )
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def __enter__(self):  # -> the subclass
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TestServer(LoopServer):
    """A behaviour-specific HTTP server on a free loopback port, in its own thread."""

    def __init__(
        self,
        kind: str,
        delay_s: float = 0.02,
        stall_after_s: float = 0.8,
        stall_s: float = 1.0,
        workers: int = 4,
        seed: int = 0,
    ) -> None:
        super().__init__(f"test-server-{kind}")
        self.kind = kind
        #: "delay": seconds before each answer; "capacity": per request; "mmc": its mean
        self.delay_s = delay_s
        self.free_at = [0.0] * int(workers)  # "capacity", "mmc": when each worker is free again
        self.rng = random.Random(int(seed))  # "mmc": the service times
        #: "stall_once": seconds after the first request; "tires": age of a connection
        self.stall_after_s = stall_after_s
        self.stall_s = stall_s  # "stall_once": how long the server stalls
        self.first_request_at: float | None = None
        self.stalled = False
        self.requests = 0  # requests read
        self.connections = 0  # connections accepted
        #: "delay": seconds from reading each request to writing its answer, as this
        #: server's loop really gave them (a busy machine wakes its timer late)
        self.answered_after_s: list[float] = []

    def protocol(self) -> asyncio.Protocol:
        return _Handler(self)


@contextlib.contextmanager
def serve(kind: str, **options: float) -> Iterator[TestServer]:
    server = TestServer(kind, **options).start()
    try:
        yield server
    finally:
        server.stop()


class BacklogServer:
    """A listening socket with the smallest backlog, in its own thread, that takes one
    connection every ``accept_every_s`` (never, with None) and answers it with one
    response and a close. Connects beyond its queue stay in SYN-SENT until the kernel
    retries their SYN (1 s, 3 s, ...): the path where a connect does not complete at once."""

    def __init__(self, accept_every_s: float | None) -> None:
        self.accept_every_s = accept_every_s
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.answered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-backlog-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def _run(self) -> None:
        if self.accept_every_s is None:
            self._stop.wait()
            return
        self.sock.settimeout(0.05)
        while not self._stop.wait(self.accept_every_s):
            try:
                conn, _ = self.sock.accept()
            except OSError:  # nothing waiting (timeout)
                continue
            with conn:
                conn.settimeout(2.0)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    if b"\r\n\r\n" in data:
                        conn.sendall(SAYS_CLOSE)
                        self.answered += 1

    def __enter__(self) -> BacklogServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.sock.close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound once, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
