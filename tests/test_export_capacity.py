"""Exporters with capacities (--find-capacity): the md table gains a capacity column and
ranks by it, every run gets its step table, csv and json carry the fields, the html
draws the latency-vs-offered-load chart. Golden file: tests/golden/capacity.md."""

from __future__ import annotations

import csv
import io
import json

import pytest
from golden.samples import CAPACITY_META, META, capacity_results, sample_results
from test_export import GOLDEN, UPDATE_VAR, golden_update_requested

from wsgicompare.export import render
from wsgicompare.export.ranking import best_runs, ordered


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
    assert "SLO 50 ms" in text  # the budget drawn as a line
    assert "uwsgi: 1,500 req/s" in text  # each capacity marked on the curve
    assert 'src="http' not in text and "<link" not in text  # still offline: nothing fetched
