"""Slow clients (loader/slow.py) against real servers: four connections that trickle
their headers starve a bare gunicorn sync server with two workers, and do nothing to
the same server behind nginx, which buffers a request before it passes it on."""

from __future__ import annotations

import pytest
from backend_support import require_backend
from busy_support import again_until

from wsgicompare.backends import ServerConfig, get_backend
from wsgicompare.loader import LoadProfile, LoadProfileError, LoadTick, run_load


def rates(backend_id: str) -> tuple[float, float, float]:
    """2xx req/s before (0.2–0.9 s), during (1.3–1.9 s) and after (2.5–3.0 s) four
    slow clients held from 1.0 s to 2.0 s of a 3 s closed-loop run at c=8."""
    backend = get_backend(backend_id)
    require_backend(backend)
    ticks: list[LoadTick] = []
    with backend.start(ServerConfig(workers=2, threads=1)) as server:
        profile = LoadProfile(
            url=server.url + "/hello",
            concurrency=8,
            duration_s=3.0,
            warmup_s=0.0,
            tick_s=0.1,
            timeout_s=5.0,
            slow_clients=4,
            slow_from_s=1.0,
            slow_until_s=2.0,
            max_wall_s=30.0,
        )
        summary = run_load(profile, on_tick=ticks.append)
    assert summary.fatal is None

    def rate(lo: float, hi: float) -> float:
        window = [t for t in ticks if lo <= t.t_s - t.interval_s and t.t_s <= hi]
        return sum(t.status["2xx"] for t in window) / sum(t.interval_s for t in window)

    return rate(0.2, 0.9), rate(1.3, 1.9), rate(2.5, 3.0)


def rates_until(backend_id: str, holds) -> tuple[float, float, float]:
    """``rates`` of the first run in which ``holds(before, during, after)``, else of the last
    (busy_support): the phases are a second apart, and on a shared 2-core machine another
    test's processes can halve one phase's rate."""
    return again_until(lambda: rates(backend_id), lambda r: holds(*r))


def test_slow_clients_starve_a_bare_sync_server() -> None:
    before, during, after = rates_until("gunicorn", lambda b, d, a: d < 0.05 * b and a > 0.5 * b)
    assert before > 200, before
    assert during < 0.05 * before, (before, during)  # both workers wait on a slow client
    assert after > 0.5 * before, (before, after)  # back once they are gone


def test_a_buffering_proxy_shields_the_same_server() -> None:
    before, during, after = rates_until("gunicorn-nginx", lambda b, d, a: d > 0.5 * b and a > 0.5 * b)
    assert before > 200, before
    assert during > 0.5 * before, (before, during)
    assert after > 0.5 * before


def test_slow_clients_are_bounded() -> None:
    base = dict(url="http://127.0.0.1:8000/", duration_s=1.0)
    with pytest.raises(LoadProfileError, match="slow-clients"):
        LoadProfile(**base, slow_clients=5000).validate()  # type: ignore[arg-type]
    with pytest.raises(LoadProfileError, match="end after they start"):
        LoadProfile(**base, slow_clients=4, slow_from_s=1.0, slow_until_s=0.5).validate()  # type: ignore[arg-type]


def test_a_slow_client_whose_connect_is_late_still_starts_with_its_request_line() -> None:
    # a listener that takes nobody for a while: beyond its tiny queue the connects stay
    # pending, the first send finds them unconnected, and once accepted each must still
    # begin with the request line (a bare header line would be a bad request, answered
    # and closed at once: the slow client would not hold its worker)
    import asyncio
    import socket
    import time

    from wsgicompare.loader.slow import TRICKLE_EVERY_S, SlowClients

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"

    async def main() -> SlowClients:
        slow = SlowClients(asyncio.get_running_loop(), ("127.0.0.1", port), head, 4)
        slow.open()
        await asyncio.sleep(2.5 * TRICKLE_EVERY_S)  # connects complete on a SYN retry (~1 s)
        return slow

    accepted: list[bytes] = []

    def take() -> None:
        listener.settimeout(0.2)
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline and len(accepted) < 4:
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(2.0)
            try:
                accepted.append(conn.recv(len(head)))
            except OSError:
                accepted.append(b"")
            conn.close()

    import threading

    threading.Timer(0.8, take).start()  # the queue stays full until then
    slow = asyncio.run(main())
    slow.close()
    listener.close()
    assert len(accepted) >= 2, accepted
    assert all(data.startswith(b"GET / HTTP/1.1") for data in accepted), accepted
