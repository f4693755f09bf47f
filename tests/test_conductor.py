"""The conductor against real backends on loopback: ticks from a non-main thread,
cancel, a server that dies mid-run, unavailable rows, repeats; and its helpers
(kernel TCP counters, the socket table, the process-tree sampler) on real sockets
and processes. Every load is 0.5–1.5 s."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
import threading
import time

import psutil
import pytest
from backend_support import require_backend
from test_loader import END_GRACE_S

from wsgicompare.backends import ServerConfig, get_backend
from wsgicompare.engine.conductor import Conductor
from wsgicompare.engine.kernel import (
    TCP_COUNTERS,
    AcceptQueuePeak,
    _queues_from_proc,
    accept_queue_states,
    delayed_ack_probe,
    listen_queues,
    port_sockets,
    read_tcp_counters,
    wait_settled,
)
from wsgicompare.engine.measured import combine_repeats
from wsgicompare.engine.runspec import default_load, default_spec
from wsgicompare.engine.sampling import TreeSampler, listen_ports
from wsgicompare.results import PHASES, RunResult, Tick


def quick_load(**kw):
    base = dict(concurrency=8, duration_s=1.0, warmup_s=0.25)
    base.update(kw)
    return default_load(**base)


def in_thread(fn, timeout_s: float = 60.0):
    """Run fn in a non-main thread (as the TUI's worker does) and return its value."""
    box: dict = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(timeout_s)
    assert not thread.is_alive(), "conductor did not return in time"
    if "error" in box:
        raise box["error"]
    return box["value"]


def test_run_one_from_a_thread_ticks_and_result_agree():
    ticks: list[Tick] = []
    spec = default_spec("gunicorn", load=quick_load())
    result = in_thread(lambda: Conductor().run_one(spec, ticks.append, threading.Event()))

    assert result.status == "ok", result.reason
    phases = [t.phase for t in ticks]
    assert phases[0] == "starting" and phases[-1] == "done"
    assert "warmup" in phases and "load" in phases
    assert all(p in PHASES for p in phases)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ticks[-1].rps = 0.0  # type: ignore[misc]
    last = ticks[-1]
    assert last.requests == result.requests > 0
    assert last.responses == result.responses
    assert last.cum_p99_ms == pytest.approx(result.latency_ms.p99, rel=0.01)
    assert sum(last.latency_bins) == sum(last.responses.values())  # every answered request is in the histogram
    assert result.rps > 0 and result.responses["2xx"] == result.requests
    assert set(result.latency_ms.to_dict()) == {"min", "mean", "p50", "p90", "p99", "p999", "max"}
    assert result.server is not None
    assert result.server.cpu_pct_mean > 0 and result.server.rss_mb_max > 1 and result.server.procs >= 2
    assert result.timeline and set(result.timeline[0].to_dict()) == {
        "t",
        "rps",
        "p50_ms",
        "p99_ms",
        "errors",
        "server_cpu_pct",
        "server_rss_mb",
    }
    assert set(result.tcp.counters) <= set(TCP_COUNTERS)
    # the peak's value is checked where it is known (test_accept_queue_peak_is_what_nobody_accepted)
    assert "ListenOverflows" in result.tcp.counters and isinstance(result.tcp.accept_queue_peak, int)
    assert result.tcp.accept_queue_limit > 0  # gunicorn's backlog (2048, capped by somaxconn)
    assert "gunicorn" in result.command[0] and result.startup_s > 0
    assert result.loader is not None and result.loader.procs == 1 and "saturated" in result.loader.to_dict()
    # the measured window is -d (1 s): from the warm-up's end to the deadline, each seen by a
    # timer that a busy machine wakes late (END_GRACE_S)
    assert result.elapsed_s == pytest.approx(1.0, abs=END_GRACE_S)


def test_cancel_ends_the_current_run_promptly_and_skips_the_rest():
    cancel = threading.Event()
    seen: list[Tick] = []

    def on_tick(tick: Tick) -> None:
        seen.append(tick)
        if tick.phase == "load":
            cancel.set()

    specs = [
        default_spec("flask-dev", load=quick_load(duration_s=30.0)),
        default_spec("gunicorn", load=quick_load(duration_s=30.0)),
    ]
    started = time.monotonic()
    results = in_thread(lambda: Conductor().run_all(specs, on_tick, None, cancel))
    assert time.monotonic() - started < 10
    assert [r.backend for r in results] == ["flask-dev"]
    assert results[0].status == "failed" and results[0].reason.startswith("cancelled at t=")
    assert results[0].requests > 0  # what was measured is kept
    assert all(t.backend == "flask-dev" for t in seen)


CRASHING_APP = """
import os
served = 0

def app(environ, start_response):
    global served
    served += 1
    if served > 300:
        os._exit(3)  # the whole server process dies, as a segfaulting extension would
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""


def test_a_server_that_dies_mid_run_ends_it_with_a_crash_row(tmp_path, monkeypatch):
    (tmp_path / "crashing_app.py").write_text(CRASHING_APP)
    monkeypatch.chdir(tmp_path)
    server = ServerConfig(workers=1, threads=1, app="crashing_app:app")
    spec = dataclasses.replace(
        default_spec("flask-dev", load=quick_load(duration_s=20.0, warmup_s=0.0), server=server), path="/"
    )
    started = time.monotonic()
    result = Conductor().run_one(spec)
    assert time.monotonic() - started < 10  # not the 20 s asked for
    assert result.status == "failed"
    assert result.crashed_at_s is not None and result.reason.startswith("server crashed at t=")
    assert any(v.startswith("not all requests answered: server crashed at t=") for v in result.verdicts)
    assert result.responses["2xx"] >= 250  # what it answered before dying is kept
    assert result.command and result.to_dict()["status"] == "failed"


def test_a_workload_the_backend_does_not_serve_is_an_unavailable_row():
    require_backend(get_backend("nginx-static"))  # without nginx the row is unavailable for that instead
    result = Conductor().run_one(default_spec("nginx-static", "cpu", load=quick_load()))
    assert result.status == "unavailable"
    assert "serves only" in result.reason and result.requests == 0 and not result.command


def test_repeat_reports_the_median_run_and_the_spread():
    spec = dataclasses.replace(default_spec("flask-dev", load=quick_load(duration_s=0.5, warmup_s=0.0)), repeat=3)
    result = Conductor(settle_max_s=2.0).run_one(spec)
    rep = result.repeat
    assert rep is not None and rep.n == 3 and len(rep.rps) == 3 and rep.status == ["ok"] * 3
    assert result.rps == pytest.approx(rep.rps_median)  # odd n: the chosen run is the median
    assert rep.rps_min <= result.rps <= rep.rps_max
    assert rep.spread_pct == pytest.approx(100 * (rep.rps_max - rep.rps_min) / rep.rps_median, abs=0.01)


def test_combine_repeats_keeps_failures_visible():
    runs = [RunResult(backend="b", title="B", workload="hello", status="ok", rps=r) for r in (100.0, 300.0)]
    runs.append(
        RunResult(backend="b", title="B", workload="hello", status="failed", reason="server crashed at t=1.0 s")
    )
    combined = combine_repeats(runs)
    assert combined.rps == 100.0  # lower middle of the ok runs: a real run, not an average
    assert combined.status == "failed" and combined.reason.startswith("1 of 3 repetitions failed: server crashed")
    assert combined.repeat is not None
    assert combined.repeat.rps_median == 200.0 and combined.repeat.spread_pct == 100.0


def _kernel_counters() -> dict[str, int]:
    """/proc/net/netstat's TcpExt and /proc/net/snmp's Tcp counters, read here independently."""
    out: dict[str, int] = {}
    for path, section in (("/proc/net/netstat", "TcpExt:"), ("/proc/net/snmp", "Tcp:")):
        with open(path) as f:
            rows = [line.split() for line in f if line.startswith(section)]
        names, values = rows[0][1:], rows[1][1:]
        out.update(zip(names, map(int, values)))
    return out


def test_tcp_counters_come_from_the_kernel():
    before = _kernel_counters()
    counters = read_tcp_counters()
    after = _kernel_counters()
    assert {"ListenOverflows", "ListenDrops", "TCPTimeouts", "RetransSegs"} <= set(counters)
    assert set(counters) <= set(TCP_COUNTERS)
    # every value is the kernel's own (these counters only grow): read between two reads of ours
    wrong = {k: (before[k], v, after[k]) for k, v in counters.items() if not before[k] <= v <= after[k]}
    assert wrong == {}
    # and a counter that moves is seen to move: connects to a closed port are refused with a RST
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    for _ in range(3):
        with socket.socket() as c, pytest.raises(ConnectionRefusedError):
            c.connect(("127.0.0.1", closed))
    assert read_tcp_counters()["AttemptFails"] >= counters["AttemptFails"] + 3


def test_listen_overflow_is_counted_when_the_backlog_is_full():
    """A listener with backlog 1 that never accepts: extra connects overflow it."""
    before = read_tcp_counters()["ListenOverflows"]
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        assert port_sockets(port)[0] == 1
        clients = []
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            clients.append(c)
        time.sleep(0.3)
        assert accept_queue_states({port})[0][0] >= 1  # connections wait there: nobody accepts them
        for c in clients:
            c.close()
    assert read_tcp_counters()["ListenOverflows"] > before
    assert port_sockets(port)[0] == 0 and accept_queue_states({port}) == []


def test_accept_queue_peak_is_what_nobody_accepted():
    """A --url load of 8 connections against a listener that never accepts: all 8 wait in its
    accept queue for the whole run (the timeout is longer than the load), so the peak is 8."""
    from wsgicompare.engine.runspec import url_spec

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        port = listener.getsockname()[1]
        load = quick_load(duration_s=1.0, warmup_s=0.0, timeout_s=5.0)
        result = Conductor().run_one(url_spec(f"http://127.0.0.1:{port}/", load=load))
    assert result.requests == 0 and result.status == "failed", (result.requests, result.reason)
    assert result.tcp.accept_queue_peak == 8, result.tcp


def test_accept_queue_over_netlink_agrees_with_proc_and_knows_the_backlog():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(37)
        port = listener.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        try:
            time.sleep(0.05)
            assert listen_queues(port) == [(5, 37)]  # 5 waiting, backlog 37
            assert accept_queue_states({port}) == [(5, 37)]
            assert _queues_from_proc({port}) == [(5, None)]  # /proc/net/tcp knows no backlog
        finally:
            for c in clients:
                c.close()
    assert listen_queues(port) == [] and _queues_from_proc({port}) == [] and accept_queue_states({port}) == []


def test_wait_settled_returns_at_once_for_a_closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    info = wait_settled(port, max_s=5.0)
    assert time.monotonic() - started < 1.0
    assert info.listening == 0 and info.waited_s < 1.0


def test_wait_settled_gives_up_after_max_s_while_something_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        info = wait_settled(s.getsockname()[1], max_s=0.4)
    assert info.listening == 1 and 0.4 <= info.waited_s < 1.5


def test_tree_sampler_measures_cpu_rss_and_threads_of_real_processes():
    me = psutil.Process()
    sampler = TreeSampler(lambda: [me])
    release = threading.Event()
    extra = [threading.Thread(target=release.wait, daemon=True) for _ in range(3)]
    for thread in extra:
        thread.start()
    try:
        began, burned_from = time.monotonic(), time.thread_time()
        deadline = began + 0.3
        x = 0
        while time.monotonic() < deadline:
            x += 1  # burn CPU in this thread
        expected_threads = me.num_threads()
        burned_s = time.thread_time() - burned_from
        cpu_pct, rss_mb, procs, threads = sampler.sample()[:4]
        wall_s = time.monotonic() - began
    finally:
        release.set()
        for thread in extra:
            thread.join()
    # against this thread's own CPU clock over the same window, not a share of a core: on a
    # busy machine the burn gets what the scheduler gives it, and the sampler must see that much
    burned_pct = 100 * burned_s / wall_s
    assert burned_pct > 0 and 0.8 * burned_pct <= cpu_pct <= 100 * len(os.sched_getaffinity(0)), (cpu_pct, burned_pct)
    assert procs == 1 and threads == expected_threads >= 4  # this thread and the three started here
    assert rss_mb == pytest.approx(me.memory_info().rss / 1e6, rel=0.1)  # MB, as the conductor reports


def test_a_broken_run_becomes_a_failed_row_and_the_rest_still_run():
    def on_tick(tick: Tick) -> None:
        if tick.backend == "flask-dev" and tick.phase == "load":
            raise RuntimeError("display fell over")

    specs = [
        default_spec("flask-dev", load=quick_load(duration_s=5.0)),
        default_spec("nginx-static", "cpu", load=quick_load()),
    ]
    started = time.monotonic()
    results = Conductor().run_all(specs, on_tick)
    assert time.monotonic() - started < 10
    assert results[0].status == "failed"
    assert results[0].reason == "internal error: RuntimeError: display fell over"
    assert results[1].status == "unavailable"


def test_cpu_of_children_too_short_lived_to_be_seen_is_counted_once_reaped():
    """flask-processes forks a process per request: each lives shorter than a tick."""
    burner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            (
                "import os, time\n"
                "end = time.monotonic() + 2.5\n"
                "while time.monotonic() < end:\n"
                "    pid = os.fork()\n"
                "    if pid == 0:\n"
                "        t = time.monotonic() + 0.05\n"
                "        while time.monotonic() < t: pass\n"
                "        os._exit(0)\n"
                "    os.waitpid(pid, 0)\n"
            ),
        ]
    )
    try:
        parent = psutil.Process(burner.pid)
        time.sleep(0.5)
        sampler = TreeSampler(lambda: [parent])  # the children are never listed: only the parent is
        # the reference, from the kernel over the same window: what the parent and the
        # children it reaped used (as much as this machine's load let them have)
        began, at = parent.cpu_times(), [time.monotonic()]
        figures = []
        for _ in range(4):
            time.sleep(0.4)
            figures.append(sampler.sample()[0])
            at.append(time.monotonic())
        ended = parent.cpu_times()
    finally:
        burner.wait(timeout=10)
    reaped_s = (ended.children_user + ended.children_system) - (began.children_user + began.children_system)
    used_s = reaped_s + (ended.user + ended.system) - (began.user + began.system)
    assert reaped_s > 0.05, "the children burned no CPU"
    # every CPU second of children the sampler never saw is counted, once
    counted_s = sum(pct / 100 * (t1 - t0) for pct, t0, t1 in zip(figures, at, at[1:]))
    assert counted_s == pytest.approx(used_s, rel=0.1, abs=0.03), (counted_s, used_s, figures)


def test_the_delayed_ack_probe_gives_up_within_its_budget_on_a_server_that_never_answers():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connects complete in the kernel; nobody ever reads or answers
        port = listener.getsockname()[1]
        started = time.monotonic()
        assert delayed_ack_probe("127.0.0.1", port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", budget_s=0.5) is None
    assert time.monotonic() - started < 1.5


def test_the_fullest_of_a_servers_listeners_is_the_accept_queue_evidence():
    """A roomy public port in front, a full inner listener behind it (uWSGI's socket
    behind nginx): the inner one is what overflowed, and it is found and reported."""
    with socket.socket() as front, socket.socket() as inner:
        front.bind(("127.0.0.1", 0))
        front.listen(128)
        inner.bind(("127.0.0.1", 0))
        inner.listen(2)
        ports = {front.getsockname()[1], inner.getsockname()[1]}
        assert ports <= listen_ports([psutil.Process()])  # both found from the process
        clients = [socket.create_connection(("127.0.0.1", front.getsockname()[1])) for _ in range(5)]
        clients += [socket.create_connection(("127.0.0.1", inner.getsockname()[1]), timeout=2) for _ in range(3)]
        try:
            time.sleep(0.05)
            queue = AcceptQueuePeak(frozenset(ports))
            queue.sample()
            assert (queue.peak, queue.limit) == (3, 2)  # 3 of 2, not 5 of 128
        finally:
            for c in clients:
                c.close()
