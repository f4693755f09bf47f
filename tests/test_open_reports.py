"""``--open FILE.json``: saved reports in the app. Reports written by real headless runs
(a gunicorn backend, and a --url run against a loopback test server) are opened in a
pilot test: the compare view shows every run labelled with its file, no load is fired
and no server started, and export still writes. Bad files through the real CLI: one
line, exit 2, nothing started."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace

import pytest
from loader_servers import serve
from process_support import stray_descendants
from reliability_support import run_cli

from wsgicompare.results import SCHEMA, RunResult
from wsgicompare.settings.options import parse_options
from wsgicompare.tui.app import WsgiCompareApp
from wsgicompare.tui.screens import CompareScreen
from wsgicompare.tui.widgets import RunBars, RunColumn
from wsgicompare.tui.widgets.run_bars import run_label

#: the ``cli`` fixture: main(argv) in-process behind the tripwire (tests/cli_support.py)
pytest_plugins = ["cli_support"]


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, str]:
    """Two real reports: gunicorn (a backend wsgicompare started) and a --url run."""
    d = tmp_path_factory.mktemp("reports")
    gunicorn = str(d / "gunicorn-run.json")
    done = run_cli(["--backend", "gunicorn", "-d", "1", "--warmup", "0", "-c", "4", "--export", "json", "-o", gunicorn])
    assert done.returncode == 0, done.stderr
    url = str(d / "url-run.json")
    with serve("ok") as server:
        done = run_cli(["--url", server.url, "-d", "1", "--warmup", "0", "-c", "2", "--export", "json", "-o", url])
    assert done.returncode == 0, done.stderr
    return {"gunicorn": gunicorn, "url": url, "dir": str(d)}


def _saved_runs(path: str) -> list[dict]:
    with open(path) as f:
        return json.load(f)["runs"]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_open_shows_saved_runs_side_by_side_and_exports(reports, tmp_path, anyio_backend) -> None:
    options = parse_options(["--open", reports["gunicorn"], "--open", reports["url"], "-o", str(tmp_path)])
    app = WsgiCompareApp(options)
    async with app.run_test(size=(140, 44)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, CompareScreen), "the app opens on the compare view"
        columns = list(app.screen.query(RunColumn))
        saved = _saved_runs(reports["gunicorn"]) + _saved_runs(reports["url"])
        assert len(columns) == len(saved) == 2
        shown = {(c.result.backend, c.result.source, round(c.result.rps_2xx, 1)) for c in columns}
        assert shown == {
            (saved[0]["backend"], "gunicorn-run.json", round(saved[0]["rps_2xx"], 1)),
            (saved[1]["backend"], "url-run.json", round(saved[1]["rps_2xx"], 1)),
        }
        # each run says which file it came from, in its column and in the bars
        column_text = " ".join(str(c.render()) for c in columns)
        assert "gunicorn · gunicorn-run.json" in column_text
        assert "· url-run.json" in column_text
        # the server's USS beside its RSS, where the run read it (the backend's; a --url run's listener too)
        uss = RunResult.from_dict(saved[0]).server.uss_mb_max
        assert uss and f"USS {uss:.0f} MB" in column_text
        bars = app.screen.query_one(RunBars)
        assert sorted(run_label(r) for r in bars.results) == sorted(
            run_label(replace(RunResult.from_dict(r), source=f))
            for r, f in zip(saved, ("gunicorn-run.json", "url-run.json"))
        )
        header = str(app.screen.query_one("#compare-header").render())
        assert "compare · 2 runs · saved reports: gunicorn-run.json, url-run.json" in header
        # nothing fired, nothing started
        assert not app.session.running and not app.session.servers
        assert stray_descendants() == []
        # export (e) still works, from the compare view
        await pilot.press("e")
        await pilot.pause()
        await pilot.click("#json")
        deadline = time.monotonic() + 5
        while not list(tmp_path.glob("*.json")) and time.monotonic() < deadline:
            await pilot.pause(0.05)
        exported = next(tmp_path.glob("*.json"))
        runs = _saved_runs(str(exported))
        assert [r["backend"] for r in runs] == [r["backend"] for r in saved]
        assert [r["latency_hist"] for r in runs] == [r["latency_hist"] for r in saved]
    assert stray_descendants() == []


def test_export_of_a_saved_report_keeps_its_load_machine_and_date(reports, tmp_path) -> None:
    from wsgicompare.session import Session

    with open(reports["gunicorn"]) as f:
        saved = json.load(f)
    options = parse_options(["--open", reports["gunicorn"]])
    session = Session(options, results=options.open_reports)
    with open(session.export_runs("json", str(tmp_path)).path) as f:
        again = json.load(f)
    assert (again["load"], again["machine"], again["created"]) == (saved["load"], saved["machine"], saved["created"])
    assert again["load"]["concurrency"] == 4  # the run's -c 4, not the form's default
    assert again["runs"] == saved["runs"]
    # reports made with different loads: one header would misdescribe one of them
    assert parse_options(["--open", reports["gunicorn"], "--open", reports["url"]]).open_meta is None


def test_same_file_name_in_two_directories_is_labelled_by_path(reports, tmp_path) -> None:
    other = tmp_path / "gunicorn-run.json"
    shutil.copy(reports["gunicorn"], other)
    options = parse_options(["--open", reports["gunicorn"], "--open", str(other)])
    assert [r.source for r in options.open_reports] == [reports["gunicorn"], str(other)]


def _write(d, name: str, content: str | bytes) -> str:
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(content.encode() if isinstance(content, str) else content)
    return path


def _run_with(reports, **changes) -> str:
    run = _saved_runs(reports["gunicorn"])[0]
    run.update(changes)
    return json.dumps({"schema": SCHEMA, "runs": [run]})


@pytest.mark.parametrize(
    "name, content, needle",
    [
        ("cut.json", '{"schema": "wsgicompare/1", "runs": [', "not a JSON report"),
        ("binary.json", b"\xff\xfe\x00junk", "not a JSON report: not UTF-8 text"),
        ("list.json", "[1, 2]", "not a wsgicompare/1 report (the JSON is not an object)"),
        ("other.json", '{"schema": "k6/summary", "runs": []}', "not a wsgicompare/1 report (schema 'k6/summary')"),
        ("noschema.json", '{"runs": []}', "not a wsgicompare/1 report (schema None)"),
        ("empty.json", '{"schema": "wsgicompare/1", "runs": []}', "the report holds no runs"),
        ("runsobj.json", '{"schema": "wsgicompare/1", "runs": {}}', "'runs' must be a list"),
        ("runstr.json", '{"schema": "wsgicompare/1", "runs": ["x"]}', "run 1: not an object"),
        ("nobackend.json", '{"schema": "wsgicompare/1", "runs": [{"title": "t"}]}', "run 1: no 'backend'"),
    ],
)
def test_bad_report_is_refused_in_one_line(tmp_path, name, content, needle, cli) -> None:
    path = _write(tmp_path, name, content)
    line = cli.refused(["--open", path], needle)
    assert path in line


@pytest.mark.parametrize(
    "changes, needle",
    [
        ({"rps_2xx": "fast"}, "run 1: 'rps_2xx' must be a number"),
        ({"latency_ms": [1, 2]}, "run 1: 'latency_ms' must be an object"),
        ({"latency_ms": {"p99": "slow"}}, "run 1: latency_ms 'p99' must be a number"),
        ({"timeline": [{"rps": "x"}]}, "run 1: 'timeline' entries must be objects of numbers"),
        ({"backend": 7}, "run 1: 'backend' must be text"),
    ],
)
def test_report_with_bad_figures_is_refused(reports, tmp_path, changes, needle, cli) -> None:
    path = _write(tmp_path, "figures.json", _run_with(reports, **changes))
    cli.refused(["--open", path], needle)


def test_a_scenario_report_whose_timeline_marks_the_event_opens(reports, tmp_path, cli) -> None:
    # a scenario run's timeline carries its event's line on the tick it happened at
    points = [{"t": 1.0, "rps": 300.0}, {"t": 1.1, "rps": 0.0, "event": "worker-kill at 1.0 s: signal SIGKILL pid 7"}]
    path = _write(tmp_path, "scenario.json", _run_with(reports, timeline=points))
    runs = parse_options(["--open", path]).open_reports
    assert [p.to_dict() for p in runs[0].timeline] == points
    assert runs[0].timeline[1].event == points[1]["event"] and runs[0].timeline[0].event is None
    bad = _write(tmp_path, "bad-event.json", _run_with(reports, timeline=[{"t": 1.0, "event": ["x"]}]))
    cli.refused(["--open", bad], "run 1: 'timeline' entries must be objects of numbers (and an event's line)")


def test_missing_directory_and_combinations_are_refused(reports, tmp_path, cli) -> None:
    cli.refused(["--open", str(tmp_path / "nope.json")], "cannot read it: No such file or directory")
    cli.refused(["--open", str(tmp_path)], "not a regular file")
    cli.refused(["--open", "/dev/zero"], "not a regular file")
    cli.refused(["--open", reports["gunicorn"], "--backend", "gunicorn"], "--open opens the app")
    # a good file next to a bad one: still refused, naming the bad one
    bad = _write(tmp_path, "bad.json", "{")
    line = cli.refused(["--open", reports["gunicorn"], "--open", bad], "not a JSON report")
    assert bad in line


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_failed_and_unavailable_runs_of_a_run_all_open_too(reports, tmp_path, anyio_backend) -> None:
    """A --run-all report holds runs that never measured anything: they open as such."""
    with open(reports["gunicorn"]) as f:
        doc = json.load(f)
    # what a run-all writes beside the percentiles: a stall probe, the open loop's uncorrected figures
    doc["runs"][0]["latency_ms"]["probe"] = {"n": 20, "first_byte": 0.2, "last_byte": 40.1, "last_byte_quickack": 0.3}
    doc["runs"][0]["latency_ms"]["uncorrected"] = dict(doc["runs"][0]["latency_ms"])
    doc["runs"] += [
        RunResult("php-fpm-nginx", "PHP-FPM behind nginx", "hello", "unavailable", reason="missing php-fpm").to_dict(),
        RunResult("uwsgi", "uWSGI", "hello", "failed", reason="uwsgi exited with code 1", log_tail="boom").to_dict(),
    ]
    path = _write(tmp_path, "run-all.json", json.dumps(doc))
    app = WsgiCompareApp(parse_options(["--open", path]))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        columns = {c.result.backend: str(c.render()) for c in app.screen.query(RunColumn)}
        assert set(columns) == {"gunicorn", "php-fpm-nginx", "uwsgi"}
        assert "unavailable" in columns["php-fpm-nginx"] and "missing php-fpm" in columns["php-fpm-nginx"]
        assert "failed" in columns["uwsgi"]
        assert app.session.results[0].latency_hist == doc["runs"][0]["latency_hist"]
    assert stray_descendants() == []
