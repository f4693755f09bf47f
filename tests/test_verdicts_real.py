"""Verdicts on real servers, run end to end through the conductor: each rule speaks on
the server that has the problem and stays silent on the one that only looks like it.
Loopback only; every load is 1-2 s."""

from __future__ import annotations

import socket

from tests.loader_servers import BacklogServer, serve
from wsgicompare.conductor import Conductor, default_load
from wsgicompare.results import Tick
from wsgicompare.spec import url_spec


def url_run(url: str, on_tick=None, **load):
    options = dict(concurrency=8, duration_s=1.5, warmup_s=0.0, timeout_s=5.0)
    options.update(load)
    return Conductor().run_one(url_spec(url, load=default_load(**options)), on_tick)


# -- listen overflow -------------------------------------------------------------------------


def test_a_backlog_seen_full_is_blamed_on_this_server_live_and_in_the_result():
    """A listener with the smallest backlog that never accepts: one connection fits its
    queue, every other SYN is dropped. The queue is seen at its limit, so the
    verdict (and the live warning, from the same rule) names this server."""
    ticks: list[Tick] = []
    with BacklogServer(accept_every_s=None) as server:
        result = url_run(server.url, ticks.append)
    assert result.tcp["ListenOverflows"] > 0
    assert result.tcp["accept_queue_limit"] == 0  # listen(0)
    assert result.tcp["accept_queue_peak"] >= 1
    found = [v for v in result.verdicts if "listen" in v]
    assert len(found) == 1 and found[0].startswith(
        "this server's listen backlog overflowed: its accept queue was seen full"
    )
    live = {w for t in ticks if t.phase == "load" for w in t.warnings if "listen" in w}
    assert live and all(w.startswith("this server's listen backlog overflowed") for w in live)


def test_another_programs_overflow_is_reported_as_machine_wide():
    """The server measured has a roomy backlog and keeps its queue empty; meanwhile
    another listener on the machine overflows. The kernel counter moves, and the
    verdict says it is the machine's, not this server's."""
    other_clients: list[socket.socket] = []
    with BacklogServer(accept_every_s=None) as other, serve("ok") as measured:

        def overflow_the_other(tick: Tick) -> None:
            if tick.phase == "load" and not other_clients:
                for _ in range(6):  # one fits its queue (listen(0)), the other SYNs are dropped
                    c = socket.socket()
                    c.setblocking(False)
                    c.connect_ex(("127.0.0.1", other.port))
                    other_clients.append(c)

        try:
            result = url_run(measured.url, overflow_the_other, concurrency=4)
        finally:
            for c in other_clients:
                c.close()
    assert result.status == "ok", result.reason
    assert result.tcp["ListenOverflows"] > 0
    assert result.tcp["accept_queue_limit"] == 1024 and result.tcp["accept_queue_peak"] < 1024
    found = [v for v in result.verdicts if "listen" in v]
    assert len(found) == 1, result.verdicts
    assert found[0].startswith("the machine's listen queues overflowed")
    assert "not necessarily this server" in found[0] and "this server's listen backlog" not in found[0]
