"""Pilot tests of the TUI against real backends on loopback: start and stop a backend,
a missing backend refusing to start, invalid settings refused, and (with the
conductor) a short real load that fills the panels, keys handled under load, and
quitting with nothing left running."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import psutil
import pytest
from backend_support import require_backend
from process_support import stray_descendants
from textual import events

from wsgicompare.backends import get_backend
from wsgicompare.settings.options import Options
from wsgicompare.tui.app import WsgiCompareApp
from wsgicompare.tui.widgets import Banner

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


#: a short, small load: every test load is bounded in time and count
SHORT = Options(concurrency=8, duration=2.0, warmup=0.0, workloads=["hello"], workers=1, threads=2)


def make_app(**kwargs) -> WsgiCompareApp:
    # -o DIR: the app's exports and screenshots go there
    return WsgiCompareApp(dataclasses.replace(SHORT, output=kwargs.pop("output_dir", None)), **kwargs)


async def wait_for(pilot, predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await pilot.pause(0.05)


def select(app: WsgiCompareApp, backend: str) -> None:
    table = app.main.query_one("#backends")
    table.move_cursor(row=table.get_row_index(backend))
    assert app.main.selected_backend() == backend


def banner(app: WsgiCompareApp) -> str:
    return " ".join(line for _, line in app.main.query_one(Banner).lines)


def server_processes() -> list[psutil.Process]:
    """Descendants of this test process, without the long-lived helpers (reaper, resource tracker)."""
    return stray_descendants()


async def test_start_and_stop_a_real_backend_with_s():
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        select(app, "gunicorn")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.main.rows["gunicorn"].state in ("ready", "failed"), 30, "gunicorn ready")
        assert app.main.rows["gunicorn"].state == "ready", app.main.rows["gunicorn"].reason
        server = app.session.servers["gunicorn"]
        assert server.alive() and server.url.startswith("http://127.0.0.1:")
        assert server_processes(), "a started backend has processes"
        await pilot.press("s")
        await wait_for(pilot, lambda: app.main.rows["gunicorn"].state == "stopped", 20, "gunicorn stopped")
        assert "gunicorn" not in app.session.servers
    assert server_processes() == []


async def test_quit_stops_a_started_backend():
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        select(app, "flask-dev")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.main.rows["flask-dev"].state in ("ready", "failed"), 30, "flask-dev ready")
        assert app.main.rows["flask-dev"].state == "ready", app.main.rows["flask-dev"].reason
        pids = [p.pid for p in app.session.servers["flask-dev"].processes()]
        assert pids
        await pilot.press("q")
        await wait_for(pilot, lambda: app.session.closing and not app.session.servers, 20, "quit")
    for pid in pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert server_processes() == []


async def test_missing_backend_shows_hint_and_cannot_start(monkeypatch):
    from wsgicompare.backends import catalog as catalog_module
    from wsgicompare.backends import get_backend

    # a real catalog entry whose executable is not installed anywhere
    missing = dataclasses.replace(
        get_backend("nginx-static"), id="nginx-missing", executables=("nginx-not-installed-here",)
    )
    monkeypatch.setitem(catalog_module.CATALOG, "nginx-missing", missing)
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        assert app.main.rows["nginx-missing"].available is False
        select(app, "nginx-missing")
        await pilot.pause()
        hint = str(app.main.query_one("#hint").render())
        assert "nginx-not-installed-here" in hint and missing.hint in hint
        await pilot.press("s")
        await pilot.pause(0.3)
        assert app.main.rows["nginx-missing"].state == "stopped"
        assert "nginx-missing" not in app.session.servers
        await pilot.press("l")
        await pilot.pause(0.3)
        assert not app.main.load_running
    assert server_processes() == []


@pytest.mark.parametrize(
    ("field", "text", "message"),
    [("concurrency", "0", "1…100000"), ("concurrency", "abc", "whole number"), ("duration_s", "-1", ">0…86400")],
)
async def test_invalid_settings_are_refused(field, text, message):
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        app.main.query_one(f"#f-{field}").value = text
        await pilot.pause()
        assert message in str(app.main.query_one(f"#e-{field}").render())
        assert app.main.settings is None
        assert app.main.query_one("#load-button").disabled
        select(app, "flask-dev")
        app.main.query_one("#backends").focus()
        await pilot.press("l")
        await pilot.press("a")
        await pilot.pause(0.2)
        assert not app.main.load_running
        # fixing the value enables the load again
        app.main.query_one(f"#f-{field}").value = "5"
        await pilot.pause()
        assert app.main.settings is not None and not app.main.query_one("#load-button").disabled


async def test_no_stop_rule_is_refused():
    app = make_app()
    async with app.run_test(size=(120, 36)) as pilot:
        app.main.query_one("#f-duration_s").value = ""
        await pilot.pause()
        assert app.main.settings is None
        assert "stop rule" in str(app.main.query_one("#form-error").render())


def short_conductor():
    from wsgicompare.engine.conductor import Conductor

    # no long settle wait between runs: the tests' loads are tiny
    return Conductor(settle_max_s=1.0, ready_timeout_s=30.0)


async def test_load_fills_the_panels_then_quit_leaves_nothing_running():
    app = make_app(conductor=short_conductor())
    async with app.run_test(size=(160, 48)) as pilot:
        select(app, "gunicorn")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.main.rows["gunicorn"].state in ("ready", "failed"), 30, "gunicorn ready")
        assert app.main.rows["gunicorn"].state == "ready", app.main.rows["gunicorn"].reason
        await pilot.press("l")
        assert app.main.load_running
        await wait_for(pilot, lambda: app.main.live is not None and app.main.live.tick.rps > 0, 30, "a tick with req/s")
        assert app.main.rows["gunicorn"].state == "under load"
        # every panel drew from the same frame
        frame = app.main.live
        for panel_id in ("throughput", "latency", "failures", "server"):
            assert app.main.query_one(f"#{panel_id}").frame is frame
        assert "req/s" in app.main.query_one("#throughput").plain
        await wait_for(pilot, lambda: not app.main.load_running, 30, "the load to end")
        assert [r.backend for r in app.session.results] == ["gunicorn"]
        result = app.session.results[0]
        assert result.status == "ok", result.reason
        assert result.rps > 0 and result.responses["2xx"] > 0
        assert app.main.rows["gunicorn"].last_rps == result.rps
        assert app.main.rows["gunicorn"].state == "stopped"
        await pilot.press("q")
        await wait_for(pilot, lambda: app.session.closing and not app.session.running, 20, "quit")
    assert server_processes() == []


async def key_handled(app: WsgiCompareApp, key: str, handled, timeout_s: float = 10.0) -> bool:
    """Deliver a key as the terminal driver does, and wait (bounded) until ``handled()``.

    Not ``pilot.press``: after each key it waits until the *process* stops using CPU,
    and under load the conductor's thread in this same process never does. How fast a
    key is handled under load is benchmarks/tui_cost.py's figure, not this test's."""
    app._driver.send_message(events.Key(key, None))
    deadline = time.monotonic() + timeout_s
    while not handled():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_keys_are_handled_under_load():
    require_backend(get_backend("nginx-static"))  # nginx: skipped where it is missing, failed in CI
    app = make_app(conductor=short_conductor())
    async with app.run_test(size=(160, 48)) as pilot:
        # x stops the load once the keys are in: the duration only bounds it, so a busy
        # machine that handles the keys slowly still has them pressed under load
        app.main.query_one("#f-duration_s").value = "20"
        app.main.query_one("#f-concurrency").value = "32"
        app.main.query_one("#backends").focus()
        await pilot.pause()
        select(app, "nginx-static")
        await pilot.press("l")
        await wait_for(pilot, lambda: app.main.live is not None and app.main.live.tick.rps > 0, 30, "load running")
        table = app.main.query_one("#backends")
        for key in ("up", "down") * 5:
            before = table.cursor_row
            assert await key_handled(app, key, lambda: table.cursor_row != before), f"{key} moved no cursor"
        # the compare view on top of a running load, and back
        for _ in range(2):
            before = app.screen
            assert await key_handled(app, "c", lambda: app.screen is not before), "c switched no view"
        assert app.main.load_running, "the load ended before the keys were pressed"
        await pilot.press("x")
        await wait_for(pilot, lambda: not app.main.load_running, 20, "the load to stop")
    assert server_processes() == []


async def test_export_and_screenshot_write_files_whose_paths_are_shown(tmp_path):
    app = make_app(conductor=short_conductor(), output_dir=str(tmp_path))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.press("e")  # nothing to export yet: refused, no dialog
        await pilot.pause()
        assert not list(tmp_path.iterdir())
        select(app, "waitress")
        app.main.query_one("#f-duration_s").value = "1"
        app.main.query_one("#backends").focus()
        await pilot.press("l")
        await wait_for(pilot, lambda: app.main.load_running, 5, "the load to begin")
        await wait_for(pilot, lambda: not app.main.load_running, 40, "the load to end")
        assert app.session.results and app.session.results[0].status == "ok", app.session.results
        await pilot.press("e")
        await pilot.pause()
        await pilot.click("#md")
        await wait_for(pilot, lambda: list(tmp_path.glob("*.md")), 5, "the markdown file")
        report = next(tmp_path.glob("*.md"))
        text = report.read_text()
        assert "waitress" in text
        assert str(report) in banner(app)
        await pilot.press("ctrl+s")
        await pilot.pause()
        shots = list(tmp_path.glob("*.svg"))
        assert len(shots) == 1 and shots[0].read_text().startswith("<svg")
        assert str(shots[0]) in banner(app)
    assert server_processes() == []


def notifications(app: WsgiCompareApp) -> list[str]:
    return [n.message for n in app._notifications]


async def test_s_is_refused_under_load_and_a_pending_start_is_stopped_before_the_load():
    app = make_app(conductor=short_conductor())
    async with app.run_test(size=(120, 36)) as pilot:
        select(app, "flask-dev")
        # `s` then `l` in the same event-loop turn: the manual start is surely still in flight
        app.action_toggle_backend()
        assert app.main.rows["flask-dev"].state == "starting"
        app.action_load()
        assert app.main.load_running
        await wait_for(pilot, lambda: app.main.live is not None and app.main.live.tick.rps > 0, 40, "a tick with req/s")
        # the manual start ended before the load's own server began, and left no server behind
        assert app.session.pending_ops == 0
        assert app.session.servers == {}
        select(app, "gunicorn")
        await pilot.press("s")
        await pilot.pause(0.2)
        assert "a load is running: x stops it" in notifications(app)
        assert app.main.rows["gunicorn"].state == "stopped" and app.session.servers == {}
        await wait_for(pilot, lambda: not app.main.load_running, 30, "the load to end")
        assert app.session.results and app.session.results[0].status == "ok", app.session.results[0].reason
        assert app.session.servers == {}
    assert server_processes() == []


USER_APP = """
def app(environ, start_response):
    # 200 only on the path the test asks for: a load of the workload path (/hello) is all 404
    ok = environ["PATH_INFO"] == "/ok"
    start_response("200 OK" if ok else "404 Not Found", [("Content-Type", "text/plain")])
    return [b"ok" if ok else b"nope"]
"""


async def test_with_app_the_load_goes_to_the_given_path_not_the_workload(tmp_path, monkeypatch):
    (tmp_path / "tui_user_app.py").write_text(USER_APP)
    monkeypatch.chdir(tmp_path)
    options = dataclasses.replace(SHORT, duration=1.0, workloads=[], app="tui_user_app:app", path="/ok")
    app = WsgiCompareApp(options, conductor=short_conductor())
    async with app.run_test(size=(120, 36)) as pilot:
        select(app, "waitress")
        await pilot.press("l")
        await wait_for(pilot, lambda: app.session.results and not app.main.load_running, 40, "the load to end")
        result = app.session.results[0]
        assert result.status == "ok", result.reason
        assert result.responses["2xx"] > 0 and result.responses["4xx"] == 0, result.responses
    assert server_processes() == []


async def test_export_leaves_out_runs_made_with_other_load_settings(tmp_path):
    app = make_app(conductor=short_conductor(), output_dir=str(tmp_path))
    async with app.run_test(size=(120, 36)) as pilot:
        app.main.query_one("#f-duration_s").value = "1"
        app.main.query_one("#f-concurrency").value = "4"
        await pilot.pause()
        select(app, "waitress")
        app.action_load()
        await wait_for(
            pilot, lambda: len(app.session.results) == 1 and not app.main.load_running, 40, "the first load to end"
        )
        app.main.query_one("#f-concurrency").value = "6"
        await pilot.pause()
        select(app, "gunicorn")
        app.action_load()
        await wait_for(
            pilot, lambda: len(app.session.results) == 2 and not app.main.load_running, 40, "the second load to end"
        )
        assert [r.status for r in app.session.results] == ["ok", "ok"], [r.reason for r in app.session.results]
        path = app.main.export_results("json")
        assert path is not None
        await pilot.pause()
        import json

        report = json.loads(open(path).read())
        assert [run["backend"] for run in report["runs"]] == ["gunicorn"]
        assert report["load"]["concurrency"] == 6 and report["load"]["workloads"] == ["hello"]
        assert report["runs"][0]["concurrency"] == 6
        assert "1 run with other load settings left out (export after each load to keep them)" in notifications(app)
    assert server_processes() == []
