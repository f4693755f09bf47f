"""The scenarios the loader makes, on real backends: slow clients (trickling headers
through *during*) and overload (twice the probed capacity through *during*)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from backend_support import require_backend
from busy_support import again_until
from test_scenarios import RATE, _tick, phase, run_until, scenario_run

from wsgicompare.backends import get_backend
from wsgicompare.engine.scenarios import Fired, ScenarioEvent, ScenarioPlan, judge
from wsgicompare.reporting.scorecard import cell, scorecard
from wsgicompare.results import RunResult, ScenarioResult


def test_slow_clients_starve_a_bare_sync_server_but_not_one_behind_nginx() -> None:
    require_backend(get_backend("gunicorn-nginx"))  # nginx: skipped where it is missing, failed in CI
    # again (at most three runs) where a busy machine stalled *before* or the phase compared
    bare = run_until(
        lambda: scenario_run("gunicorn", "slow-clients", workers=2),
        lambda s, _: s["kept_share"] < 0.1 and s["recovered"],
    )
    fronted = run_until(
        lambda: scenario_run("gunicorn-nginx", "slow-clients", workers=2), lambda s, _: s["kept_share"] > 0.8
    )
    for r in (bare, fronted):
        assert r.scenario.status == "ok", r.scenario
        assert r.scenario.event == {"slow_clients": 4}  # max(4, 2 × 2 workers)
        # the slow connections were there, through *during*: connected, never closed
        assert r.scenario.slow_clients_held == 4, r.scenario.verdict
        assert r.scenario.event_at_s == 1.0  # on the tick grid, where the loader opened them
        before = phase(r, "before")["rps_2xx"]
        assert before > 0.8 * RATE, r.scenario.to_dict()["phases"]
        assert r.scenario.kept_share == pytest.approx(phase(r, "during")["rps_2xx"] / before, abs=0.001)
    # both sync workers wait on a slow client: (almost) nobody else is answered
    s = bare.scenario.to_dict()  # as the report writes it
    assert s["kept_share"] < 0.1, s["phases"]
    assert s["verdict"].startswith("starved: "), s["verdict"]
    assert cell(ScenarioResult.from_dict(s))[0] is False and cell(ScenarioResult.from_dict(s))[1].startswith(
        "✗ starved: "
    ), cell(ScenarioResult.from_dict(s))
    assert s["recovered"] is True, s["phases"]  # back once they left
    # nginx reads the whole request before it passes it on: the workers never see them
    s = fronted.scenario.to_dict()  # as the report writes it
    assert s["kept_share"] > 0.8, s["phases"]
    assert s["verdict"].startswith("kept "), s["verdict"]
    assert cell(ScenarioResult.from_dict(s))[0] is (s["kept_share"] >= 0.9)
    columns, rows = scorecard([bare, fronted])
    assert columns == ["slow-clients"] and [b for b, _ in rows] == ["gunicorn", "gunicorn-nginx"]


def test_the_phases_are_the_slow_clients_window_on_the_tick_grid_whatever_the_ticks_timers_did() -> None:
    # Seen on a busy machine: the tick ending at 1.0 s was taken at 0.9995 s, so the event
    # fired a tick late (1.1 s) and *during* became 1.1–2.05 s; the first tick after the slow
    # clients left at 2.0 s (taken at 2.0999 s, the held-up queue answered at once) had its
    # middle inside that and made a starved server "keep 75 %" of its rate.
    plan = ScenarioPlan("slow-clients", 1.0)
    event = ScenarioEvent(plan, lambda: Fired({"slow_clients": 4}), warmup_s=0.0, duration_s=3.0)
    counts = [30] * 10 + [0] * 10 + [194, 60] + [30] * 8
    for i, n in enumerate(counts):
        t_s = {9: 0.9995, 20: 2.0999}.get(i)
        event.tick(_tick(i, n, t_s=t_s, held=4 if 10 <= i < 19 else 0))  # closed at 2.0, before that tick
    assert event.fired_at == pytest.approx(1.0)
    result = RunResult(backend="gunicorn", title="gunicorn", workload="hello", status="ok")
    s = judge(event, result, 3.0)
    assert [(p["name"], p["start_s"], p["end_s"]) for p in s["phases"]] == [
        ("before", 0.0, 1.0),
        ("during", 1.0, 2.0),
        ("after", 2.0, 3.0),
    ]
    assert s["kept_share"] == 0.0 and s["verdict"].startswith("starved: 0 2xx req/s"), s["verdict"]
    assert s["slow_clients_held"] == 4


def test_slow_clients_the_server_closed_are_reported_as_not_held() -> None:
    # a server that drops a trickling connection (a header timeout) is not starved by it:
    # the verdict says how many stayed, and the tick count sees it
    plan = ScenarioPlan("slow-clients", 1.0)
    event = ScenarioEvent(plan, lambda: Fired({"slow_clients": 4}), warmup_s=0.0, duration_s=3.0)
    for i in range(30):
        event.tick(_tick(i, 30, held=4 if i < 12 else 1 if i < 20 else 0))
    s = judge(event, RunResult(backend="x", title="x", workload="hello", status="ok"), 3.0)
    assert s["slow_clients_held"] == 1
    assert s["verdict"].endswith("only 1 of the 4 slow connections stayed open through the phase"), s["verdict"]
    assert cell(ScenarioResult.from_dict(s)) == (True, "✓ kept 100 % of its rate (1 of 4 held)")


def test_held_counts_the_slow_connections_the_server_keeps_open() -> None:
    # a real listener that accepts four slow clients and closes two of them
    import asyncio
    import socket

    from wsgicompare.loader.slow import SlowClients

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n"

    async def main() -> tuple[int, int, list[bytes]]:
        slow = SlowClients(asyncio.get_running_loop(), listener.getsockname(), head, 4)
        slow.open()
        await asyncio.sleep(0.2)
        conns = [listener.accept()[0] for _ in range(4)]
        got = [c.recv(len(head)) for c in conns]  # the request line went out as soon as connected
        first = slow.held()
        conns[0].close()
        conns[1].sendall(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        await asyncio.sleep(0.2)
        second = slow.held()
        slow.close()
        for c in conns:
            c.close()
        return first, second, got

    first, second, got = asyncio.run(main())
    listener.close()
    assert got == [head] * 4
    assert (first, second) == (4, 2)


def test_overload_at_twice_the_capacity_reports_how_it_fails_and_its_recovery() -> None:
    # /io (a 10 ms wait): one sync worker's capacity is ~100 req/s, its overload 200 req/s, so
    # neither the server nor the loader runs flat out (on /hello both did, for seconds)
    result = scenario_run("gunicorn", "overload", duration_s=6.0, event_at_s=2.0, workload="io")
    s = result.scenario.to_dict()  # as the report writes it
    assert s["status"] == "ok", s
    probe = s["event"]["capacity_probe_rps"]
    assert s["event"]["offered_rps"] == pytest.approx(2 * probe, abs=0.2)
    # before: half the capacity, comfortably served; during: more offered than served, or a
    # probe that measured it low (a busy machine) said to be no overload
    assert phase(result, "before")["rps_2xx"] > 0.35 * probe
    served = phase(result, "during")["rps_2xx"]
    assert s["overloaded"] == (served < 0.9 * s["event"]["offered_rps"]), s["phases"]
    assert s["mode"] == "kept up: not overloaded" or s["overloaded"], s["verdict"]
    assert s["mode"]  # sheds, queues or fails connections: said, from the figures
    assert "2 × capacity" in s["verdict"]
    assert s["fell_over"] is False  # gunicorn's master and workers all outlived it
    assert s["recovered"] == (s["recovery_s"] is not None)
    if s["recovered"]:
        assert 0 <= s["recovery_s"] <= 3.0


def test_overload_against_a_server_of_known_capacity_queues_and_recovers_after_it_ends() -> None:
    # the open-loop tests' server: 4 workers × 10 ms per request, first come first served,
    # exactly 400 req/s; the overload is told that capacity (no probe). Offered 800 req/s
    # for 1 s, it serves 400 and queues the rest (~400 requests); back at 200 req/s offered
    # the queue drains at 200 req/s, and the p99 (from the intended send time) is back
    # under 100 ms once fewer than 40 wait: (400 - 40) / 200 = 1.8 s after the overload (2.0 s
    # measured: a tick's p99 is its slowest answers', and half a second of ticks must hold).
    import threading

    from loader_servers import serve

    from wsgicompare.engine.conductor import Conductor
    from wsgicompare.engine.runspec import default_load, url_spec
    from wsgicompare.engine.scenarios import run_scenario

    workers, service_s = 4, 0.010
    capacity = workers / service_s

    def run() -> tuple:
        with serve("capacity", delay_s=service_s, workers=workers) as server:
            load = default_load(concurrency=16, duration_s=5.0, warmup_s=0.5)
            plan = ScenarioPlan("overload", 1.0, capacity_rps=capacity)
            spec = replace(url_spec(server.url, load=load), scenario=plan)
            ticks: list = []
            cancel = threading.Event()
            result = run_scenario(spec, None, Conductor().load_on(None, server.url, ticks.append, cancel), cancel)
            return result, server.requests, ticks

    def held(run: tuple) -> bool:
        # the server's threads and the loader share the machine's two cores with other tests:
        # when those take the CPU in the calm second before or the overload's one second, the
        # server answers below the rate offered (busy_support)
        result = run[0]
        if result.scenario.status != "ok" or not result.scenario.recovered:
            return False
        calm, full = (phase(result, n)["rps_2xx"] for n in ("before", "during"))
        return calm == pytest.approx(200, rel=0.1) and 0.85 * capacity <= full <= 1.05 * capacity

    result, served, ticks = again_until(run, held)
    s = result.scenario.to_dict()  # as the report writes it
    assert result.status == "ok", result.reason
    assert s["status"] == "ok", s
    assert s["event"] == {"capacity_rps": 400.0, "offered_rps": 800.0, "calm_rps": 200.0}  # given, not probed
    assert served > 0.9 * result.requests  # every answer counted came from this server
    before, during, after = (phase(result, n) for n in ("before", "during", "after"))
    assert (during["start_s"], during["end_s"]) == (1.0, 2.0)  # a quarter of the rest, on the tick grid
    assert before["rps_2xx"] == pytest.approx(200, rel=0.1), before
    # during: the server answers at its capacity and queues the excess: no error of any kind
    assert 0.85 * capacity <= during["rps_2xx"] <= 1.05 * capacity, during
    assert during["errors"] == {} and s["failed_requests"] == 0, s["phases"]
    assert s["mode"] == "queues", s["verdict"]
    assert s["fell_over"] is None  # a server we did not start: not known, not made up
    # after: the queue and the calm rate, all answered
    assert after["rps_2xx"] >= 0.95 * 200, after
    # recovery: a real number, counted from the overload's end, as long as the queue takes
    assert s["recovered"] is True, s["verdict"]
    assert isinstance(s["recovery_s"], float) and 1.5 <= s["recovery_s"] <= 2.5, s["recovery_s"]
    assert (
        f"back in {s['recovery_s']:.1f} s" in cell(ScenarioResult.from_dict(s))[1]
        and cell(ScenarioResult.from_dict(s))[0] is True
    )
    events = [t.event for t in ticks if t.event]
    assert events == ["overload at 1.0 s: offered_rps 800.0", "overload ends at 2.0 s"], events


def test_an_overload_the_server_kept_up_with_is_no_overload() -> None:
    # the probe measured 100 req/s on a busy machine; offered 200, the server served all 200
    plan = ScenarioPlan("overload", 1.0)
    target = {"capacity_probe_rps": 100.0, "offered_rps": 200.0, "calm_rps": 50.0}
    event = ScenarioEvent(plan, lambda: Fired(target), warmup_s=0.0, duration_s=3.0)
    for i, n in enumerate([5] * 10 + [20] * 5 + [5] * 15):
        event.tick(_tick(i, n))
    s = judge(event, RunResult(backend="gunicorn", title="gunicorn", workload="hello", status="ok"), 3.0)
    assert s["overloaded"] is False and s["mode"] == "kept up: not overloaded"
    assert s["verdict"].endswith("(the probed capacity was too low to overload it: no judgement)"), s["verdict"]
    assert cell(ScenarioResult.from_dict(s)) == (None, "not overloaded: kept up with 200 req/s (capacity too low)")


def test_a_scenario_is_loader_bound_by_its_reference_phase_not_the_burst_after_the_event() -> None:
    # the loader is busy for a moment after the event (the held-up requests answered at once):
    # the server's doing; it was the limit only if it was before the event, the comparison's base
    def run(saturated_before: int) -> dict:
        event = ScenarioEvent(ScenarioPlan("slow-clients", 1.0), lambda: Fired({"slow_clients": 4}), 0.0, 3.0)
        for i, n in enumerate([30] * 10 + [0] * 10 + [120, 60] + [30] * 8):
            busy = i < saturated_before or i in (20, 21)
            event.tick(replace(_tick(i, n, held=4), saturated=busy))
        return judge(event, RunResult(backend="gunicorn", title="gunicorn", workload="hello", status="ok"), 3.0)

    assert run(saturated_before=0)["loader_bound"] is False
    assert run(saturated_before=2)["loader_bound"] is False  # a hiccup
    s = run(saturated_before=5)
    assert s["loader_bound"] is True and cell(ScenarioResult.from_dict(s))[1].endswith("(loader-bound)")


def test_an_overload_not_back_says_how_long_it_was_given() -> None:
    # offered 200 against a server of 100 that stays slow after: the p99 never comes back
    plan = ScenarioPlan("overload", 1.0)
    target = {"capacity_rps": 100.0, "offered_rps": 200.0, "calm_rps": 50.0}
    event = ScenarioEvent(plan, lambda: Fired(target), warmup_s=0.0, duration_s=3.0)
    for i, n in enumerate([5] * 10 + [10] * 5 + [5] * 15):
        tick = _tick(i, n)
        if i >= 10:
            tick.latency.record_many([500_000] * n)  # half a second from the intended send time
        event.tick(tick)
    s = judge(event, RunResult(backend="x", title="x", workload="hello", status="ok"), 3.0)
    assert s["recovered"] is False and s["overloaded"] is True
    assert cell(ScenarioResult.from_dict(s)) == (False, "✗ queues; not back within 1.5 s, 0 failed")
