"""The app's one face (wsgicompare/session.py), driven without a screen: a real backend
started and stopped by hand, the pool empty and the port free after stop_everything, a
start still in flight when a run begins, and the run plan built exactly as the CLI's."""

from __future__ import annotations

import queue
import socket
import urllib.request
from dataclasses import replace

import pytest
from backend_support import require_backend
from process_support import stray_descendants

from wsgicompare.backends import WORKLOADS, get_backend
from wsgicompare.backends.spec import port_in_use
from wsgicompare.cli import make_plan
from wsgicompare.engine.capacity import parse_slo
from wsgicompare.engine.conductor import Conductor
from wsgicompare.session import LoadSettings, Session, SettingsError
from wsgicompare.settings.options import Options

#: a short, small load: every test load is bounded in time and count
SHORT = LoadSettings(concurrency=4, duration_s=1.0, warmup_s=0.0, workload="hello", workers=1, threads=2)


class States:
    """The session's on_state calls, as they come from its threads."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, str, str]] = queue.Queue()

    def __call__(self, backend: str, state: str, detail: str) -> None:
        self.events.put((backend, state, detail))

    def next(self, timeout_s: float = 30.0) -> tuple[str, str, str]:
        return self.events.get(timeout=timeout_s)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("backend", ["flask-dev", "gunicorn"])
def test_a_backend_started_by_hand_serves_and_stops(backend: str) -> None:
    require_backend(get_backend(backend))
    states = States()
    session = Session(Options(port=free_port()), on_state=states)
    try:
        session.start(backend, SHORT)
        name, state, detail = states.next()
        assert (name, state) == (backend, "ready"), detail
        server = session.servers[backend]
        assert detail.startswith(server.url)
        assert server.url == f"http://127.0.0.1:{session.options.port}"
        with urllib.request.urlopen(server.url + WORKLOADS["hello"].path, timeout=5) as response:
            assert response.status == 200
        session.stop(backend)
        assert states.next() == (backend, "stopped", "")
        assert session.servers == {} and session.pending_ops == 0
        assert not port_in_use("127.0.0.1", session.options.port)
    finally:
        session.stop_everything()
    assert stray_descendants() == []


def test_stop_everything_empties_the_pool_and_frees_the_port() -> None:
    require_backend(get_backend("flask-dev"))
    states = States()
    session = Session(Options(port=free_port()), on_state=states)
    session.start("flask-dev", SHORT)
    assert states.next()[1] == "ready"
    pids = [p.pid for p in session.servers["flask-dev"].processes()]
    assert pids
    session.stop_everything()
    assert session.servers == {} and session.pending_ops == 0
    assert not port_in_use("127.0.0.1", session.options.port)
    assert stray_descendants() == []
    session.stop_everything()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        session.run(session.plan(SHORT, ["flask-dev"]), on_tick=print, on_result=print, on_end=print)


def test_stop_everything_cancels_a_start_in_flight() -> None:
    require_backend(get_backend("gunicorn"))
    states = States()
    session = Session(on_state=states)
    session.start("gunicorn", SHORT)
    session.stop_everything()  # at once: the start is surely still waiting for its server
    assert session.servers == {} and session.pending_ops == 0
    assert stray_descendants() == []


def test_a_start_in_flight_when_a_run_begins_is_waited_for_and_stopped() -> None:
    require_backend(get_backend("flask-dev"))
    states = States()
    session = Session(conductor=Conductor(settle_max_s=1.0), on_state=states)
    ended: queue.Queue[str] = queue.Queue()
    results = []
    ticks = []
    try:
        session.start("flask-dev", SHORT)
        session.run(
            session.plan(SHORT, ["flask-dev"]), on_tick=ticks.append, on_result=results.append, on_end=ended.put
        )
        assert session.running
        assert ended.get(timeout=60) == ""
        assert not session.running
        # the start by hand ended before the run's own server began, and left no server behind
        assert states.next() == ("flask-dev", "stopped", "")
        assert session.servers == {} and session.pending_ops == 0
        assert [r.backend for r in results] == ["flask-dev"] and session.results == results
        assert results[0].status == "ok", results[0].reason
        assert ticks and ticks[-1].backend == "flask-dev"
    finally:
        session.stop_everything()
    assert stray_descendants() == []


def test_the_form_starts_from_the_command_lines_options() -> None:
    options = Options(
        concurrency=16,
        requests=500,
        warmup=0.5,
        no_keepalive=True,
        workloads=["json"],
        workers=3,
        threads=1,
        timeout=2.0,
        server_cpus=(1,),
        loader_cpus=(0,),
    )
    session = Session(options)
    assert session.initial_settings == LoadSettings(
        concurrency=16,
        duration_s=None,
        requests=500,
        warmup_s=0.5,
        keepalive=False,
        workload="json",
        workers=3,
        threads=1,
    )
    (spec,) = session.plan(session.initial_settings, ["gunicorn"])
    assert (spec.load.timeout_s, spec.load.cpus, spec.server.cpus) == (2.0, (0,), (1,))
    defaults = Session().initial_settings
    assert defaults.duration_s == 10.0 and defaults.concurrency == 64


USER_APP = """
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


@pytest.mark.parametrize(
    "options",
    [
        Options(concurrency=16, requests=500, warmup=0.5, no_keepalive=True, workloads=["json"], timeout=2.0),
        Options(duration=3.0, rate=200.0, delay=0.1, loader_procs=2, workers=2, threads=3),
        Options(app="session_user_app:app", path="/ok", port=free_port()),
        # capacity steps draw Poisson arrivals: a seed given (else each plan chooses its own)
        Options(find_capacity=True, slo=parse_slo("p90=40ms,errors=1%"), step_duration=1.0, max_steps=4, seed=1),
        Options(rates=(100.0, 200.0), concurrency=32, seed=2),
        Options(scenarios=("worker-kill", "reload"), duration=3.0, event_at=1.2),
        Options(scenarios=("reload",), duration=6.0),
    ],
    ids=["count", "open-loop", "user-app", "find-capacity", "rates", "scenarios", "scenario-default-event"],
)
def test_the_app_plans_a_run_exactly_as_the_cli(options: Options, tmp_path, monkeypatch) -> None:
    require_backend(get_backend("waitress"))
    # the CLI imports the user's app before it plans (in a subprocess, from the working directory)
    (tmp_path / "session_user_app.py").write_text(USER_APP)
    monkeypatch.chdir(tmp_path)
    cli_options = Options(**{**vars(options), "backends": ["waitress"]})
    session = Session(options)
    assert session.plan(session.initial_settings, ["waitress"]) == make_plan(cli_options).specs


def test_with_app_the_run_is_named_by_its_path() -> None:
    session = Session(Options(app="m:app"))
    assert session.app_path == "/"
    (spec,) = Session(Options(app="m:app", path="/ok")).plan(SHORT, ["waitress"])
    assert (spec.path, spec.workload, spec.server.app) == ("/ok", "/ok", "m:app")
    assert Session().app_path is None


def test_check_has_the_loaders_word() -> None:
    session = Session(Options(loader_procs=4))
    session.check(LoadSettings(concurrency=8))
    with pytest.raises(SettingsError, match="more than --concurrency"):
        session.check(LoadSettings(concurrency=2))


def test_a_scenario_from_the_form_is_planned_and_checked() -> None:
    session = Session()
    settings = replace(SHORT, duration_s=3.0, scenarios=("worker-kill", "reload"), event_at_s=1.0)
    session.check(settings)
    specs = session.plan(settings, ["gunicorn", "flask-dev"])
    assert [(s.backend, s.scenario.name, s.scenario.event_at_s) for s in specs] == [
        ("gunicorn", "worker-kill", 1.0),
        ("gunicorn", "reload", 1.0),
        ("flask-dev", "worker-kill", 1.0),
        ("flask-dev", "reload", 1.0),
    ]
    # no event time: a third of the duration, as the CLI's
    (spec,) = session.plan(replace(settings, scenarios=("reload",), event_at_s=None), ["gunicorn"])
    assert spec.scenario.event_at_s == 1.0
    # `f` searches the capacity: no scenario in it
    (spec,) = session.plan(settings, ["gunicorn"], capacity=True)
    assert spec.scenario is None and spec.capacity is not None
    for bad, message in [
        (replace(settings, event_at_s=3.0), "outside the run"),
        (replace(settings, requests=100), "clear requests and reps"),
        (replace(settings, duration_s=None, reps=5), "clear requests and reps"),
        (replace(settings, find_capacity=True), "untick capacity"),
        (replace(settings, scenarios=()), "goes with a scenario"),
    ]:
        with pytest.raises(SettingsError, match=message):
            session.check(bad)


def test_catalog_and_workloads() -> None:
    session = Session()
    ids = [row["id"] for row in session.catalog_rows()]
    assert "flask-dev" in ids and "gunicorn" in ids
    assert session.workloads[:2] == ("hello", "json")
    fixed = [{"id": "x", "title": "X", "family": "f", "available": True}]
    assert Session(catalog=fixed).catalog_rows() == fixed


def test_export_writes_the_results_with_the_clis_exporter(tmp_path) -> None:
    from tui_snapshot_app import make_result

    session = Session(results=[make_result("flask-dev", "Flask", 1000.0, 20.0)])
    exported = session.export_runs("json", str(tmp_path))
    assert exported.left_out == 0 and exported.path.startswith(str(tmp_path)) and exported.path.endswith(".json")
    assert '"flask-dev"' in open(exported.path).read()


def test_a_capacity_plan_from_the_form() -> None:
    """`f` (capacity=True) and the form's box plan a search at the form's SLO; the form's
    rate and stop rule do not apply, and the connections are sized unless -c was given."""
    session = Session(Options(step_duration=1.0, max_steps=4))
    settings = replace(SHORT, rate=50.0, requests=100, slo=parse_slo("p99=20ms"))
    assert session.plan(settings, ["gunicorn"])[0].capacity is None
    for spec in (
        session.plan(settings, ["gunicorn"], capacity=True)[0],
        session.plan(replace(settings, find_capacity=True), ["gunicorn"])[0],
    ):
        assert spec.capacity is not None
        assert (spec.capacity.slo, spec.capacity.step_s, spec.capacity.max_steps) == (settings.slo, 1.0, 4)
        assert spec.capacity.confirm_s == 10.0  # the default confirmation run
        assert spec.capacity.concurrency is None and spec.capacity.rates == ()
        assert (spec.load.rate, spec.load.requests) == (None, None)
    assert Session(Options(concurrency=9)).plan(settings, ["gunicorn"], capacity=True)[0].capacity.concurrency == 9
    assert session.plan(replace(settings, find_capacity=True), ["gunicorn"], capacity=False)[0].capacity is None


def test_a_capacity_run_reports_each_step_with_its_backend() -> None:
    """run(on_step=...) hears of every step of a real search, with the backend it ran on,
    in the order of the result's steps; a plain run after it leaves the conductor's on_step unset."""
    require_backend(get_backend("gunicorn"))
    session = Session(Options(step_duration=1.0, max_steps=2, confirm=1.0), conductor=Conductor(settle_max_s=1.0))
    # p50: a short confirmation (1 s, or as long as 100 answers beyond the percentile take:
    # ~1 s at one worker's 2 threads × 10 ms waits); /io: the search costs the suite little
    # CPU (/hello ran the server and the loader flat out)
    settings = replace(SHORT, workload="io", slo=parse_slo("p50=200ms,errors=1%"))
    steps: list[tuple[str, object]] = []
    results = []
    ended: queue.Queue[str] = queue.Queue()
    try:
        specs = session.plan(settings, ["gunicorn"], capacity=True)
        session.run(
            specs,
            on_tick=lambda t: None,
            on_result=results.append,
            on_end=ended.put,
            on_step=lambda b, s: steps.append((b, s)),
        )
        assert ended.get(timeout=60) == ""
        (result,) = results
        assert result.capacity is not None and result.capacity.steps, result.capacity
        assert [b for b, _ in steps] == ["gunicorn"] * len(result.capacity.steps)
        assert [s.to_dict() for _, s in steps] == [s.to_dict() for s in result.capacity.steps]
        session.run(
            session.plan(settings, ["gunicorn"]), on_tick=lambda t: None, on_result=results.append, on_end=ended.put
        )
        assert ended.get(timeout=60) == ""
        assert session.conductor.on_step is None and not results[1].capacity
    finally:
        session.stop_everything()
    assert stray_descendants() == []


def test_each_scenario_run_is_kept_with_its_own_spec() -> None:
    """worker-kill and reload on one backend: two runs of it, each result paired with the
    spec of its own scenario (not the backend's first), as the export reads them."""
    require_backend(get_backend("gunicorn"))
    session = Session(conductor=Conductor(settle_max_s=1.0))
    settings = replace(SHORT, duration_s=1.5, scenarios=("worker-kill", "reload"))
    ended: queue.Queue[str] = queue.Queue()
    try:
        session.run(
            session.plan(settings, ["gunicorn"]), on_tick=lambda t: None, on_result=lambda r: None, on_end=ended.put
        )
        assert ended.get(timeout=90) == ""
        runs, specs, left_out = session.runs_to_export()
        assert [r.scenario.name for r in runs] == ["worker-kill", "reload"]
        assert [s.scenario.name for s in specs] == ["worker-kill", "reload"] and left_out == 0
    finally:
        session.stop_everything()
    assert stray_descendants() == []
