"""Exporters with capacities (--find-capacity): the md table gains a capacity column and
ranks by it, every run gets its step table, csv and json carry the fields, the html
draws the latency-vs-offered-load chart. Golden file: tests/golden/capacity.md."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace

import pytest
from golden.samples import CAPACITY_META, META, _step, capacity_results, sample_results
from test_export import GOLDEN, UPDATE_VAR, golden_update_requested

from wsgicompare.reporting.baseline import Baseline, change
from wsgicompare.reporting.export import render
from wsgicompare.reporting.export.ranking import best_runs, capacity_cell, capacity_rps, ordered
from wsgicompare.reporting.thresholds import check, parse_threshold
from wsgicompare.results import CapacityResult, RunResult
from wsgicompare.tui.model import CapacityLadder
from wsgicompare.tui.widgets.knee_chart import knee_series, knee_text


def test_capacity_md_matches_golden_file() -> None:
    update = golden_update_requested()
    text = render("md", capacity_results(), CAPACITY_META)
    path = GOLDEN / "capacity.md"
    if update:
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            path.write_text(text, encoding="utf-8")
        pytest.fail(f"golden updated: {path.name}; rerun without {UPDATE_VAR} to check", pytrace=False)
    assert text == path.read_text(encoding="utf-8")


def test_capacity_ranks_before_throughput() -> None:
    runs = capacity_results()
    # gunicorn answers more 2xx/s at its best step, uwsgi holds more within the SLO
    by_backend = {r.backend: r for r in runs}
    assert by_backend["gunicorn"].rps_2xx > by_backend["uwsgi"].rps_2xx
    assert [r.backend for r in ordered(runs)][:2] == ["uwsgi", "gunicorn"]
    assert best_runs(runs) == {id(by_backend["uwsgi"])}
    text = render("md", runs, CAPACITY_META)
    table = text.split("## Runs")[0]
    assert "| capacity req/s |" in table
    assert table.index("`uwsgi`") < table.index("`gunicorn`") < table.index("`flask-dev`")
    assert "★ best | `uwsgi`" in table
    assert "capacity search at p99 ≤ 50 ms, errors ≤ 0.1 %" in text  # the load line says what ran


def test_without_capacities_the_table_has_no_capacity_column() -> None:
    text = render("md", sample_results(), META)
    assert "capacity" not in text.split("## Runs")[0]


def test_csv_and_json_carry_the_capacity() -> None:
    rows = list(csv.DictReader(io.StringIO(render("csv", capacity_results(), CAPACITY_META))))
    assert {r["backend"]: r["capacity_rps"] for r in rows} == {"flask-dev": "", "gunicorn": "1200.0", "uwsgi": "1500.0"}
    assert {r["backend"]: r["capacity_limit"] for r in rows}["uwsgi"] == "max-steps"
    doc = json.loads(render("json", capacity_results(), CAPACITY_META))
    cap = {r["backend"]: r["capacity"] for r in doc["runs"]}
    assert cap["gunicorn"]["rps"] == 1200.0 and len(cap["gunicorn"]["steps"]) == 5
    assert set(cap["gunicorn"]["steps"][0]) >= {"rate", "rps", "p50_ms", "p99_ms", "error_pct", "met", "duration_s"}
    assert cap["gunicorn"]["slo"] == {"p99_ms": 50.0, "error_pct": 0.1}
    assert doc["load"]["capacity"]["mode"] == "search"


def test_html_draws_the_knee_and_the_capacities() -> None:
    text = render("html", capacity_results(), CAPACITY_META)
    assert "Latency vs offered load" in text and "Capacity within the SLO" in text
    assert "SLO: p99 ≤ 50 ms" in text  # the budget drawn as a line (tests/test_export_knee.py)
    assert "uwsgi · ≥ 1,500 req/s" in text  # each capacity in the legend (a floor: ≥), and marked on its curve
    assert 'src="http' not in text and "<link" not in text  # still offline: nothing fetched


def loader_bound_results() -> list[RunResult]:
    """capacity_results() with uwsgi's search ending on the loader's limit, written the
    way reports were before that rule: the met 2,500 req/s in ``rps``, no ``bound_at``."""
    runs = capacity_results()
    slo = {"p99_ms": 50.0, "error_pct": 0.1}
    steps = [_step(2500, 2500, 4.0, True)] + [_step(5000, 3900, 20.0, False, "loader-bound")] * 2
    cap = CapacityResult.from_dict(
        {
            "rps": 2500.0,
            "offered_rps": 2500.0,
            "slo": slo,
            "limit": "loader",
            "probe_rps": 3100.0,
            "steps": steps,
            "verdict": "loader-bound at 5,000 req/s: the loader, not the server, was the limit — no server capacity",
        }
    )
    runs[2] = replace(runs[2], capacity=cap, verdicts=[cap.verdict])
    return runs


def test_a_loader_bound_search_is_never_ranked_or_starred_by_its_met_rate() -> None:
    runs = loader_bound_results()
    by_backend = {r.backend: r for r in runs}
    uwsgi = by_backend["uwsgi"]
    assert capacity_rps(uwsgi) is None and capacity_cell(uwsgi) == "loader-bound at 5,000 req/s"
    # 2,500 met is no capacity to rank by; still above a search where no rate met the SLO
    assert [r.backend for r in ordered(runs)] == ["gunicorn", "uwsgi", "flask-dev"]
    assert best_runs(runs) == {id(by_backend["gunicorn"])}
    table = render("md", runs, CAPACITY_META).split("## Runs")[0]
    assert "★ best | `gunicorn`" in table and "| `uwsgi` | hello | loader-bound at 5,000 req/s |" in table
    rows = {r["backend"]: r for r in csv.DictReader(io.StringIO(render("csv", runs, CAPACITY_META)))}
    assert rows["uwsgi"]["capacity_rps"] == "" and rows["uwsgi"]["verdicts"].startswith("loader-bound at 5,000")
    page = render("html", runs, CAPACITY_META)
    assert '<td class="n">loader-bound at 5,000 req/s</td>' in page and "uwsgi · loader-bound at 5,000 req/s" in page
    assert check(parse_threshold("capacity<1"), uwsgi)["why"].startswith("no server capacity: loader-bound at 5,000")
    base = Baseline(path="old.json", created=None, runs={("uwsgi", "hello"): capacity_results()[2]})
    assert change(uwsgi, base, "capacity") == (None, "this run has no capacity")
    # the app: the knee chart's legend, the step ladder's verdict
    series = {s.label: s for s in knee_series(runs)[0]}
    assert (series["uwsgi"].capacity_rps, series["uwsgi"].capacity_at) == (None, None)
    assert "uwsgi loader-bound at 5.0k" in knee_text(list(series.values()), 50.0, "p99", 120, 16).plain
    assert CapacityLadder("uwsgi", "p99 ≤ 50 ms").finished(uwsgi.capacity).capacity_rps is None


@pytest.mark.anyio
async def test_the_apps_compare_view_shows_loader_bound_not_a_capacity() -> None:
    from tui_snapshot_app import CATALOG, OPTIONS

    from wsgicompare.tui.app import WsgiCompareApp
    from wsgicompare.tui.widgets import RunBars, RunColumn

    app = WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=loader_bound_results(), clock=False)
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        bars = _plain(app.screen.query_one(RunBars))
        uwsgi_row = next(line for line in bars.splitlines() if line.startswith("uwsgi"))
        assert "loader-bound at 5.0k" in uwsgi_row and "2.5k" not in uwsgi_row and "★" not in uwsgi_row
        assert "gunicorn ★" in bars
        card = next(c for c in app.screen.query(RunColumn) if c.result.backend == "uwsgi")
        assert "loader-bound at 5.0k" in _plain(card) and "2,500 req/s" not in _plain(card)


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _plain(widget) -> str:
    from rich.console import Console

    console = Console(width=160, record=True, color_system=None, file=io.StringIO())
    console.print(widget.render())
    return console.export_text()


@pytest.mark.anyio
async def test_a_figure_no_confirmation_checked_is_marked_unconfirmed_in_every_output() -> None:
    # --confirm 0: the search's best met step is the capacity (ranked, starred), and every
    # output marks it unconfirmed; a ladder's figure has no confirmation to lack
    from tui_snapshot_app import CATALOG, OPTIONS

    from wsgicompare.engine.capacity import Step, ladder, parse_slo, search
    from wsgicompare.tui.app import WsgiCompareApp
    from wsgicompare.tui.widgets import RunBars, RunColumn

    def measure(rate: float) -> Step:
        met = rate <= 1600
        return Step(
            rate, rate, 1.0, 2.0 if met else 80.0, 2.0 if met else 80.0, 0.0, met, 3.0, why="" if met else "p99"
        )

    slo = parse_slo("p99=50ms")
    runs = capacity_results()
    cap = search(measure, 800, 4, ceiling=4000).result(slo, 2000.0)
    assert cap.rps == cap.unconfirmed_rps == 1600.0, cap
    assert ", unconfirmed" in cap.verdict
    runs[1] = gunicorn = replace(runs[1], capacity=cap, verdicts=[cap.verdict])
    assert "unconfirmed_rps" not in ladder(measure, (800.0, 1600.0, 3200.0)).to_dict(slo)
    assert capacity_rps(gunicorn) == 1600.0 and best_runs(runs) == {id(gunicorn)}  # still the capacity
    # a floor (the search ran out of steps): ≥, as the verdict's "at least"
    assert "★ best | `gunicorn` | hello | ≥ 1,600 unconfirmed |" in render("md", runs, CAPACITY_META)
    doc = json.loads(render("json", runs, CAPACITY_META))
    assert {r["backend"]: r["capacity"].get("unconfirmed_rps") for r in doc["runs"]}["gunicorn"] == 1600.0
    rows = {r["backend"]: r for r in csv.DictReader(io.StringIO(render("csv", runs, CAPACITY_META)))}
    assert (rows["gunicorn"]["capacity_rps"], rows["gunicorn"]["capacity_unconfirmed_rps"]) == ("1600.0", "1600.0")
    assert rows["uwsgi"]["capacity_unconfirmed_rps"] == ""
    page = render("html", runs, CAPACITY_META)
    assert '<td class="n">≥ 1,600 unconfirmed</td>' in page  # the table
    assert "gunicorn · ≥ 1,600 req/s unconfirmed" in page and "gunicorn (≥ 1,600 req/s unconfirmed)" in page
    assert "uwsgi · ≥ 1,500 req/s" in page and "uwsgi (" not in page  # a confirmed-or-older figure: unmarked
    legend = knee_text(*knee_series(runs), 160, 16).plain
    assert "gunicorn ★ ≥ 1,600 req/s unco" in legend, legend
    app = WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=runs, clock=False)
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        bars = _plain(app.screen.query_one(RunBars))
        assert "1.6k unconfirmed" in next(line for line in bars.splitlines() if line.startswith("gunicorn"))
        card = next(c for c in app.screen.query(RunColumn) if c.result.backend == "gunicorn")
        assert "1,600 req/s unconfirmed" in _plain(card)
