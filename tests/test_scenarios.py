"""Scenarios (--scenario, wsgicompare/engine/scenarios.py) on real backends with real faults: a
SIGKILLed gunicorn worker is respawned, a killed flask-dev is not (one process), a
gunicorn HUP under load, a reload a server does not have; the workers each spec declares;
the scorecard; and nothing left running. Phases are ~1 s each, under an open-loop rate
well below every server's capacity, so "back to 90 % of before" is not machine noise."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace

import psutil
import pytest
from backend_support import require_backend
from busy_support import again_until
from process_support import stray_descendants
from reliability_support import ROOT, cli_env

from wsgicompare.backends import ServerConfig, get_backend
from wsgicompare.engine.conductor import Conductor, _Running
from wsgicompare.engine.runspec import default_load, default_spec
from wsgicompare.engine.sampling import ServerSample
from wsgicompare.engine.scenarios import (
    LOADER_EVENTS,
    ONE_PROCESS,
    RECOVERY_SPAN_S,
    SCENARIO_TICK_S,
    Fired,
    ScenarioEvent,
    ScenarioPlan,
    parse_scenarios,
)
from wsgicompare.loader import LatencyHistogram
from wsgicompare.loader.stats import LoadTick, MeasuredTotals
from wsgicompare.parsing import OptionError
from wsgicompare.reporting.export import html as html_export
from wsgicompare.reporting.export import md
from wsgicompare.reporting.scorecard import cell, scorecard_md
from wsgicompare.results import RunResult, ScenarioResult, TimelinePoint
from wsgicompare.tui.widgets.run_column import charted

#: requests per second: far below what any of these servers serves on one CPU
RATE = 300.0


def scenario_run(
    backend: str,
    name: str,
    *,
    duration_s: float = 3.0,
    event_at_s: float = 1.0,
    workers: int = 1,
    workload: str = "hello",
):
    load = default_load(concurrency=16, duration_s=duration_s, warmup_s=0.5, rate=RATE)
    spec = default_spec(backend, workload, load=load)
    assert spec.server is not None
    spec = replace(spec, server=replace(spec.server, workers=workers), scenario=ScenarioPlan(name, event_at_s))
    ticks = []
    result = Conductor().run_one(spec, on_tick=ticks.append)
    if result.scenario.status == "ok":
        # from the event on, every tick says what happened (the app's banner shows it) ...
        assert any(w.startswith(f"{name} at ") for t in ticks for w in t.warnings)
        # ... and the tick it happened on carries it, as does that point of the JSON timeline
        fired = [t for t in ticks if t.event and t.event.startswith(f"{name} at ")]
        # (the tick whose end on the tick grid is the event: the loader sends one tick per grid
        # interval, so it is this run's measured tick number event_at_s / tick. ``ticks`` may
        # begin with a probe run's, which this run's warm-up follows. When each tick was taken
        # says less: a busy machine takes one late, up to the next one's time — seen: the
        # tick before the event's at 1.49 s, the event's at 1.501 s — and a timer fires up to
        # 1 ms early)
        at = result.scenario.event_t - 0.01
        assert len(fired) == 1 and fired[0].t_s >= at, (fired, at)
        warm = max(i for i, t in enumerate(ticks) if t.phase == "warmup")
        measured = [t for t in ticks[warm + 1 :] if t.phase == "load"]
        assert measured.index(fired[0]) + 1 == round(result.scenario.event_at_s / SCENARIO_TICK_S), fired
        marked = [p for p in result.timeline if p.event is not None]
        assert marked[0].event == fired[0].event and marked[0].t == fired[0].t_s
        ends = [t.event for t in ticks if t.event and " ends at " in t.event]
        assert ends == ([f"{name} ends at {phase(result, 'after')['start_s']:.1f} s"] if name in LOADER_EVENTS else [])
    assert stray_descendants() == [], "a scenario left a process running"
    return result


def phase(result: RunResult, name: str) -> dict:
    return next(p for p in result.scenario.to_dict()["phases"] if p["name"] == name)


def run_until(run: Callable[[], RunResult], holds: Callable[[dict, float], bool]) -> RunResult:
    """``run()`` again (busy_support) until *before* ran at the offered rate and
    ``holds(scenario, back_share)`` (the scenario as the report writes it; *after*'s 2xx rate
    over *before*'s): another test's processes (or a busy loop on each core) can stall one
    phase for a second."""

    def held(r: RunResult) -> bool:
        s = r.scenario.to_dict()  # as the report writes it
        if s["status"] != "ok":
            return False
        before = phase(r, "before")["rps_2xx"]
        return before > 0.8 * RATE and holds(s, phase(r, "after")["rps_2xx"] / before)

    return again_until(run, held)


# -- real faults -----------------------------------------------------------------------------


def test_a_killed_gunicorn_worker_is_respawned_and_throughput_comes_back() -> None:
    result = scenario_run("gunicorn", "worker-kill")
    s = result.scenario.to_dict()  # as the report writes it
    assert result.status == "ok", result.reason
    assert s["status"] == "ok", s
    assert s["event"]["signal"] == "SIGKILL"
    killed = s["event"]["pid"]
    assert not psutil.pid_exists(killed) or psutil.Process(killed).status() == psutil.STATUS_ZOMBIE
    # a busy machine slows the respawn (the new worker imports the app): judged within the run,
    # however long it took there (how fast a respawn is, is no claim of this test)
    assert s["recovered"] is True, (s["verdict"], s["phases"])
    assert 0.0 <= s["recovery_s"] <= 3.0 - 1.0 - 0.99 * RECOVERY_SPAN_S  # after the event, a whole span before the end
    assert 0.8 * RATE <= phase(result, "after")["rps_2xx"], s["phases"]
    # after may run above the rate while it answers what queued behind a slow respawn (a busy
    # machine), but no answer is counted twice: the phases' answers stay within the offered ones
    answered = sum(p["rps_2xx"] * (p["end_s"] - p["start_s"]) for p in s["phases"])
    assert answered <= 1.05 * RATE * 3.0, s["phases"]
    # the one request the killed worker held, perhaps a few more: never the whole queue
    assert s["failed_requests"] <= 16, s["phases"]
    assert [p["name"] for p in s["phases"]] == ["before", "during", "after"]
    assert s["verdict"] in result.verdicts[0]


def test_a_killed_flask_dev_is_reported_not_recovered_and_the_run_is_no_crash() -> None:
    result = scenario_run("flask-dev", "worker-kill")
    s = result.scenario.to_dict()  # as the report writes it
    # the expected outcome of killing a one-process server: the scenario's answer, not a failed run
    assert result.status == "ok", result.reason
    assert result.crashed_at_s is None
    assert s["status"] == "ok"
    assert s["recovered"] is False
    assert s["reason"] == ONE_PROCESS
    assert s["event"]["one_process"] is True
    assert phase(result, "after")["rps_2xx"] == 0.0
    assert cell(ScenarioResult.from_dict(s)) == (False, f"✗ not recovered: one process ({s['failed_requests']} failed)")


def test_a_gunicorn_hup_under_load_fails_no_request() -> None:
    result = scenario_run("gunicorn", "reload")
    s = result.scenario.to_dict()  # as the report writes it
    assert result.status == "ok", result.reason
    assert s["event"] == {"signal": "SIGHUP", "process": "gunicorn"}
    assert s["failed_requests"] == 0, s["phases"]
    assert s["recovered"] is True, s["verdict"]
    assert phase(result, "during")["p99_ms"] is not None
    # the spike is read over everything answered from the reload on, whichever phase it fell in
    assert s["max_ms_since_event"] >= max(phase(result, n)["max_ms"] or 0 for n in ("during", "after"))
    assert cell(ScenarioResult.from_dict(s))[0] is True and cell(ScenarioResult.from_dict(s))[1].startswith(
        "✓ 0 failed"
    )


def test_a_server_without_a_graceful_reload_is_unsupported_and_not_loaded() -> None:
    result = scenario_run("waitress", "reload")
    s = result.scenario.to_dict()  # as the report writes it
    assert s["status"] == "unsupported"
    assert "waitress has no graceful reload" in s["reason"]
    assert result.status == "unavailable" and "reload unsupported" in result.reason
    assert result.requests == 0  # no made-up number
    assert cell(ScenarioResult.from_dict(s)) == (None, "unsupported")


# -- the workers each spec declares, by structure ----------------------------------------------


@pytest.mark.parametrize(
    "backend, workers, one_process",
    [
        ("gunicorn", 2, False),
        ("uwsgi", 2, False),
        ("gunicorn-nginx", 2, False),
        ("flask-dev", 2, True),
        ("apache-mod-wsgi", 2, False),
    ],
)
def test_each_spec_declares_its_workers(backend, workers, one_process) -> None:
    require_backend(get_backend(backend))
    server = get_backend(backend).start(ServerConfig(workers=workers, threads=1))
    try:
        # ready = one worker answered; the others may still be booting on a busy machine
        deadline = time.monotonic() + 10
        found = server.workers()
        expected = 1 if one_process else workers  # a one-process server never shows two: no wait for them
        while len(found) < expected and time.monotonic() < deadline:
            time.sleep(0.1)
            found = server.workers()
        launched = psutil.Process(_first_pid(server))
        if one_process:
            assert [p.pid for p in found] == [launched.pid]
        else:
            assert len(found) == workers
            assert all(p.ppid() == launched.pid for p in found)
        if backend in ("uwsgi", "apache-mod-wsgi"):
            # uWSGI --http: its router, a child of the master too, holds the public port and is no
            # worker; Apache: its event MPM children hold it, and pass requests to the mod_wsgi daemons
            assert len(launched.children()) >= workers + 1
            for p in found:
                assert server.port not in {c.laddr.port for c in p.net_connections("tcp")}
            if backend == "uwsgi":
                assert len(launched.children()) == workers + 1
    finally:
        server.stop()


def _first_pid(server) -> int:
    return server._procs[0][1].pid


# -- phases and recovery from ticks (data, no server) --------------------------------------------


def _tick(
    i: int, ok: int, errors: int = 0, tick_s: float = 0.1, *, t_s: float | None = None, held: int = 0
) -> LoadTick:
    """Tick ``i`` of a run without warm-up, taken at ``t_s`` (default: on time; a tick's
    timer may fire a little early, or late on a busy machine); ``held``: slow clients."""
    lat = LatencyHistogram()
    lat.record_many([1000] * ok)
    return LoadTick(
        index=i,
        t_s=round((i + 1) * tick_s, 3) if t_s is None else t_s,
        interval_s=tick_s,
        warmup=False,
        status={"2xx": ok},
        errors={"reset": errors} if errors else {},
        reconnects=0,
        bytes=0,
        latency=lat,
        latency_uncorrected=None,
        loader_cpu_pct=0.0,
        loop_lag_ms=0.0,
        done=False,
        totals=MeasuredTotals(0.0, {}, {}, LatencyHistogram(), None),  # no event reads them
        slow_held=held,
    )


def _nothing() -> Fired:
    return Fired({"signal": "none"})


def test_phases_split_at_the_event_and_recovery_ignores_the_catch_up_inside_the_dip() -> None:
    event = ScenarioEvent(ScenarioPlan("reload", 1.0), _nothing, warmup_s=0.0, duration_s=3.0)
    # 1 s at 30 per tick, then 0.3 s of nothing, a burst that catches up, then steady again
    counts = [30] * 10 + [0, 0, 0, 120, 30, 30, 30, 30, 30, 30] + [30] * 10
    for i, n in enumerate(counts):
        event.tick(_tick(i, n, errors=2 if n == 0 else 0))
    assert event.fired_at == pytest.approx(1.0)
    assert event.notes() == ("reload at 1.0 s: signal none",)
    assert event.before.status["2xx"] == 300
    during, after = event.later
    assert (during.start_s, during.end_s, after.end_s) == (pytest.approx(1.0), pytest.approx(2.0), 3.0)
    assert during.errors == {"reset": 6} and during.failed == 6
    assert event.recovery() == pytest.approx(0.3)  # not 0.0: the window from the event includes the burst


def test_throughput_that_never_comes_back_is_not_recovered() -> None:
    event = ScenarioEvent(ScenarioPlan("reload", 1.0), _nothing, warmup_s=0.0, duration_s=3.0)
    for i, n in enumerate([30] * 10 + [20] * 20):
        event.tick(_tick(i, n))
    assert event.recovery() is None


def test_the_event_tick_keeps_its_timeline_point_when_the_tick_before_was_late() -> None:
    # the loader keeps to its tick grid: a tick taken 90 ms late (at 1.49 s) leaves the
    # next one, the event's at 1.5 s, a sliver of 11 ms. A sliver's rates are noise and
    # stay off the timeline — but the event's point must be there (seen missing under load)
    conductor = Conductor()
    spec = default_spec("gunicorn", load=default_load(duration_s=3.0, warmup_s=0.0, tick_s=0.1))
    running = _Running(spec, "gunicorn", 3.0, None)
    sample = ServerSample(50.0, 30.0, 2, 4)
    ticks = [
        (replace(_tick(13, 30, t_s=1.49), interval_s=0.19), None),  # 90 ms late
        (replace(_tick(14, 1, t_s=1.501), interval_s=0.011), "reload at 1.5 s"),
        (replace(_tick(15, 1, t_s=1.511), interval_s=0.01), None),  # a sliver without an event
        (_tick(16, 30, t_s=1.6), None),
    ]
    for lt, event in ticks:
        conductor._tick(running, lt, sample, (), event)
    assert [(p.t, p.event) for p in running.timeline] == [(1.49, None), (1.501, "reload at 1.5 s"), (1.6, None)]
    # the sliver's rates are noise (1 answer in 11 ms: 91 req/s): its point has none to chart
    sliver = running.timeline[1]
    assert (sliver.rps, sliver.p50_ms, sliver.p99_ms, sliver.server_cpu_pct) == (None, None, None, None)
    assert (sliver.errors, sliver.server_rss_mb) == (0, 30.0)
    assert running.timeline[2].rps == 300.0 and running.timeline[2].p50_ms is not None
    # ... and the compare view's sparklines leave it out (not a dip to 0 at the event)
    result = RunResult(backend="gunicorn", title="gunicorn", workload="hello", status="ok", timeline=running.timeline)
    assert charted(result, "rps") == [157.9, 300.0]
    assert charted(result, "server_cpu_pct") == [50.0, 50.0]


def test_scenario_names() -> None:
    assert parse_scenarios("scenario", "all") == (
        "slow-clients",
        "slow-readers",
        "slow-uploads",
        "worker-kill",
        "reload",
        "overload",
    )
    assert parse_scenarios("scenario", "reload,all") == parse_scenarios("scenario", "all")
    assert parse_scenarios("scenario", "reload,worker-kill,reload") == ("reload", "worker-kill")
    assert parse_scenarios("scenario", ["reload"]) == ("reload",)  # a TOML list
    with pytest.raises(OptionError, match="takes names"):
        parse_scenarios("scenario", [0])  # a TOML list of something else
    assert parse_scenarios("scenario", "slow-clients,overload") == ("slow-clients", "overload")
    with pytest.raises(
        OptionError,
        match="must be one of slow-clients, slow-readers, slow-uploads, worker-kill, reload, overload or all",
    ):
        parse_scenarios("scenario", "meteor")


# -- the report: a scorecard, one row per backend, one column per scenario ------------------------


def _with(backend: str, scenario: dict) -> RunResult:
    return RunResult(
        backend=backend, title=backend, workload="hello", status="ok", scenario=ScenarioResult.from_dict(scenario)
    )


def test_the_scorecard_has_a_row_per_backend_and_a_column_per_scenario() -> None:
    kill = {"name": "worker-kill", "status": "ok", "recovered": True, "recovery_s": 1.24, "failed_requests": 2}
    reload = {"name": "reload", "status": "unsupported", "reason": "no reload"}
    dead = {"name": "worker-kill", "status": "ok", "recovered": False, "reason": ONE_PROCESS, "failed_requests": 9}
    results = [_with("gunicorn", kill), _with("waitress", reload), _with("waitress", dead)]
    lines = scorecard_md(results)
    assert "| backend | worker-kill | reload |" in lines
    assert "| `gunicorn` | ✓ back in 1.2 s, 2 failed | — |" in lines
    assert "| `waitress` | ✗ not recovered: one process (9 failed) | unsupported |" in lines
    meta = {"created": "now", "machine": {}, "load": {}}
    assert "## Scorecard" in md.render(results, meta)
    assert "✓ back in 1.2 s, 2 failed" in html_export.render(results, meta)
    assert "Scorecard" not in md.render([RunResult(backend="x", title="x", workload="hello", status="ok")], meta)
    # the HTML draws each scenario run's timeline with its event marked where the timeline has it
    timeline = [{"t": round(0.6 + i / 10, 3), "rps": 300.0 if i != 8 else 0.0} for i in range(20)]
    timeline[9]["event"] = "worker-kill at 1.0 s: signal SIGKILL pid 42"
    kill_run = _with("gunicorn", {**kill, "event_t": 1.5, "event_at_s": 1.0, "event": {"signal": "SIGKILL"}})
    kill_run = replace(kill_run, requests=600, timeline=[TimelinePoint.from_dict(p) for p in timeline])
    page = html_export.render([kill_run], meta)
    assert "gunicorn · worker-kill: responses per second, the event at t=1.5 s" in page
    assert "worker-kill at 1.0 s: signal SIGKILL pid 42" in page
    # a report saved before the timeline carried the event: from the scenario's event_t
    old = [{k: v for k, v in p.items() if k != "event"} for p in timeline]
    kill_run = replace(kill_run, timeline=[TimelinePoint.from_dict(p) for p in old])
    page = html_export.render([kill_run], meta)
    assert "the event at t=1.5 s" in page and "worker-kill (SIGKILL)" in page
    # and the JSON carries it as it was measured
    assert RunResult.from_dict(json.loads(json.dumps(results[0].to_dict()))).scenario.to_dict() == kill


# -- end to end: the command line ----------------------------------------------------------------


def test_the_cli_writes_the_scorecard_and_leaves_nothing_running(tmp_path) -> None:
    out = tmp_path / "report.json"
    args = ["--backends", "gunicorn,flask-dev", "--scenario", "worker-kill,reload", "-d", "1.5", "--warmup", "0.5"]
    args += ["--rate", str(RATE), "-c", "16", "--export", "md", "--export", "json", "-o", str(out)]
    private = tmp_path / "servers"  # every server's private dir goes here: its processes name it
    private.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "wsgicompare", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=cli_env(TMPDIR=str(private)),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    report = (tmp_path / "report.md").read_text()
    assert "| `gunicorn` | ✓" in report
    assert "| `flask-dev` | ✗ not recovered: one process" in report and "| unsupported |" in report
    runs = json.loads(out.read_text())["runs"]
    assert [(r["backend"], r["scenario"]["name"]) for r in runs] == [
        ("gunicorn", "worker-kill"),
        ("gunicorn", "reload"),
        ("flask-dev", "worker-kill"),
        ("flask-dev", "reload"),
    ]
    left = [p.pid for p in psutil.process_iter(["cmdline"]) if str(private) in " ".join(p.info["cmdline"] or [])]
    assert left == [], "the CLI left server processes running"
    assert os.listdir(private) == [], "a server's private dir was left behind"


# -- planning: options → one spec per (backend, scenario) ------------------------------------------


def test_the_plan_has_one_run_per_backend_and_scenario_and_a_config_file_says_the_same(tmp_path) -> None:
    from wsgicompare.engine.runspec import plan_specs
    from wsgicompare.settings.config_file import dump_toml, to_config
    from wsgicompare.settings.options import parse_options

    o = parse_options(["--backends", "gunicorn,flask-dev", "--scenario", "worker-kill,reload", "-d", "3"])
    specs = plan_specs(o, o.backends)
    assert [(s.backend, s.scenario) for s in specs] == [
        ("gunicorn", ScenarioPlan("worker-kill", 1.0)),
        ("gunicorn", ScenarioPlan("reload", 1.0)),
        ("flask-dev", ScenarioPlan("worker-kill", 1.0)),
        ("flask-dev", ScenarioPlan("reload", 1.0)),
    ]
    o = parse_options(["--backend", "gunicorn", "--scenario", "reload", "-d", "6", "--event-at", "2.5s"])
    assert plan_specs(o, o.backends)[0].scenario == ScenarioPlan("reload", 2.5)
    path = tmp_path / "s.toml"
    path.write_text(dump_toml(to_config(o)))
    again = parse_options(["--config", str(path)])
    assert (again.scenarios, again.event_at) == (("reload",), 2.5)


def test_a_loader_bound_cell_says_so() -> None:
    kill = {"name": "worker-kill", "status": "ok", "recovered": False, "failed_requests": 0, "loader_bound": True}
    assert cell(ScenarioResult.from_dict(kill)) == (False, "✗ not recovered, 0 failed (loader-bound)")


def test_interrupted_mid_event_leaves_nothing_behind_the_respawned_worker_included(tmp_path) -> None:
    import signal

    from reliability_support import load_running, server_root, snapshot_tree, spawn_cli, stop_cli, wait_for, wait_gone

    out = tmp_path / "r.json"
    args = ["--backend", "gunicorn", "--scenario", "worker-kill", "-d", "30", "--event-at", "0.5"]
    proc = spawn_cli([*args, "-c", "8", "--warmup", "0", "--rate", str(RATE), "-o", str(out)])
    try:
        assert wait_for(lambda: load_running(proc.pid), 30.0), "".join(proc.err_lines)
        master = wait_for(lambda: server_root(proc.pid, "gunicorn"), 10.0)
        assert master is not None
        first = {p.pid for p in master.children()}
        # the event: the master's worker is killed and a new one forked in its place
        assert wait_for(lambda: {p.pid for p in master.children()} - first, 10.0), "no worker was respawned"
        snap = snapshot_tree(proc.pid)
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
        assert wait_gone(snap, 10.0) == ([], [])
    finally:
        stop_cli(proc)
    assert proc.returncode == 130, "".join(proc.err_lines)
    run = json.loads(out.read_text())["runs"][0]
    assert run["status"] == "failed" and run["reason"].startswith("cancelled")


def test_a_master_that_dies_with_its_worker_is_the_scenario_answer_not_a_failed_run() -> None:
    # granian (no --respawn-failed-workers) exits when one of its workers is killed
    result = scenario_run("granian", "worker-kill")
    s = result.scenario.to_dict()  # as the report writes it
    assert result.status == "ok", result.reason
    assert s["status"] == "ok" and s["recovered"] is False
    assert s["event"]["one_process"] is False
    assert s["reason"].startswith("the whole server exited after the worker-kill: granian exited with code")
    assert cell(ScenarioResult.from_dict(s))[1].startswith("✗ not recovered: the server exited")


def test_with_several_workloads_the_scorecard_has_a_row_per_backend_and_workload() -> None:
    ok = {"name": "reload", "status": "ok", "recovered": True, "failed_requests": 0, "max_ms_since_event": 5.0}
    runs = [_with("gunicorn", ok), replace(_with("gunicorn", ok), workload="json")]
    lines = scorecard_md(runs)
    assert "| `gunicorn · hello` | ✓ 0 failed, max 5.0 ms |" in lines
    assert "| `gunicorn · json` | ✓ 0 failed, max 5.0 ms |" in lines
