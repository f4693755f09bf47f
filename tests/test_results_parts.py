"""The typed parts of a RunResult whose keys vary with the writer (timeline points, the
capacity search, the scenario): each writes exactly the object the schema has always had,
and one read from a saved report (an older writer, a hand-made sample) writes back the
keys it was read with, in their order; the readers get attributes."""

from __future__ import annotations

import dataclasses
import json

import pytest
from golden.samples import CAPACITY_META, META, capacity_results, scenario_results

from wsgicompare.engine.capacity import (
    Outcome,
    Step,
    bound_text,
    capacity_bound,
    capacity_figure,
    capacity_text,
    parse_slo,
)
from wsgicompare.engine.measured import combine_repeats
from wsgicompare.reporting.export import render
from wsgicompare.reporting.scorecard import cell
from wsgicompare.results import CapacityResult, RunResult, TimelinePoint, results_from_document

SLO = parse_slo("p99=50ms,errors=0.1%")


def _run(**fields) -> dict:
    return {"backend": "gunicorn", "title": "gunicorn", "workload": "hello", "status": "ok", **fields}


def test_a_timeline_point_writes_the_conductors_keys_and_the_event_only_when_there_is_one():
    point = TimelinePoint(t=1.0, rps=10.0, p50_ms=None, p99_ms=2.0, errors=0, server_cpu_pct=5.0, server_rss_mb=9.0)
    assert list(point.to_dict()) == ["t", "rps", "p50_ms", "p99_ms", "errors", "server_cpu_pct", "server_rss_mb"]
    assert point.to_dict()["p50_ms"] is None  # a tick without an answer: null, as always
    marked = TimelinePoint(t=1.1, rps=0.0, event="worker-kill at 1.0 s")
    assert marked.to_dict()["event"] == "worker-kill at 1.0 s" and list(marked.to_dict())[-1] == "event"


def test_a_saved_timeline_writes_back_the_keys_it_was_read_with():
    points = [{"rps": 3.0, "t": 0.5, "extra_pct": 1.5}, {"t": 0.6, "event": "reload at 0.6 s", "rps": 0.0}]
    (run,) = results_from_document({"schema": "wsgicompare/1", "runs": [_run(timeline=points)]})
    assert [p.to_dict() for p in run.timeline] == points
    assert [(p.t, p.rps, p.event) for p in run.timeline] == [(0.5, 3.0, None), (0.6, 0.0, "reload at 0.6 s")]
    assert run.to_dict()["timeline"] == points


def test_a_search_writes_the_capacity_object_it_always_wrote():
    met = Step(800.04, 799.96, 1.0, 20.0, 20.0, 0.00001, True, 3.00049)
    missed = Step(1600, 1200, 10.0, 90.0, 90.0, 0.0, False, 3.0, why="p99 90 ms > 50 ms")
    cap = Outcome((missed, met), "server", searched=True).result(SLO, 2000.04)
    doc = cap.to_dict()
    assert list(doc) == [
        "rps",
        "offered_rps",
        "slo",
        "steps",
        "limit",
        "bound_at",
        "probe_rps",
        "verdict",
        "unconfirmed_rps",
    ]
    assert (doc["rps"], doc["offered_rps"], doc["probe_rps"], doc["bound_at"]) == (800.0, 800.0, 2000.0, None)
    assert doc["steps"][1] == {
        "rate": 800.0, "rps": 800.0, "p50_ms": 1.0, "p99_ms": 20.0, "slo_ms": 20.0, "error_pct": 0.0,
        "met": True, "duration_s": 3.0, "why": "", "concurrency": 0,
    }  # fmt: skip
    # the run holds the steps as written: what a report of it shows is what its JSON says
    assert (cap.steps[1].rate, cap.steps[1].duration_s) == (800.0, 3.0)
    assert capacity_figure(cap) == 800.0 and capacity_text(cap) == "800 req/s unconfirmed"
    assert CapacityResult.from_dict(json.loads(json.dumps(doc))).to_dict() == doc


def test_a_confirmed_search_writes_its_confirmation():
    step = Step(1000, 990, 2.0, 30.0, 30.0, 0.0, True, 10.0, confirm=True)
    doc = Outcome((Step(1000, 1000, 2.0, 25.0, 25.0, 0.0, True, 3.0), step), "server", True).result(SLO).to_dict()
    assert doc["confirmed"] == {
        "rate": 1000, "rps": 990, "p50_ms": 2.0, "p99_ms": 30.0, "error_pct": 0.0, "duration_s": 10.0, "met": True,
    }  # fmt: skip
    assert doc["steps"][1]["confirm"] is True and "confirm" not in doc["steps"][0] and "unconfirmed_rps" not in doc
    read = CapacityResult.from_dict(doc)
    assert read.confirmed is not None and read.confirmed.met and read.to_dict() == doc


def test_a_failed_probe_writes_its_own_short_object():
    cap = CapacityResult.probe_failed(SLO, "no 2xx answer")
    assert cap.to_dict() == {
        "rps": None, "limit": "server", "steps": [], "slo": {"p99_ms": 50.0, "error_pct": 0.1},
        "verdict": "the closed-loop probe failed: no 2xx answer",
    }  # fmt: skip
    assert list(cap.to_dict()) == ["rps", "limit", "steps", "slo", "verdict"]


def test_an_older_capacity_object_reads_and_writes_back_the_same():
    # before bound_at: the loader's limit read from the steps' reasons; keys in another order,
    # one this writer does not know, a step without its connections
    old = {
        "limit": "loader", "rps": 2500.0, "slo": {"p99_ms": 50.0, "error_pct": 0.1}, "note": "hand-made",
        "steps": [{"rate": 2500, "rps": 2500, "p99_ms": 4.0, "met": True},
                  {"rate": 5000, "rps": 3900, "p99_ms": 20.0, "met": False, "why": "loader-bound"}],
        "verdict": "loader-bound at 5,000 req/s",
    }  # fmt: skip
    (run,) = results_from_document({"schema": "wsgicompare/1", "runs": [_run(capacity=old)]})
    cap = run.capacity
    assert cap is not None and run.to_dict()["capacity"] == old
    assert capacity_figure(cap) is None and capacity_bound(cap) == ("loader", 5000.0)
    assert bound_text(cap) == "loader-bound at 5,000 req/s" and cap.steps[1].loader_bound
    assert cap.budget == ("p99", 50.0) and cap.knee() == [(2500.0, 4.0), (5000.0, 20.0)]


def test_a_run_without_a_search_has_no_capacity_and_writes_an_empty_object():
    (run,) = results_from_document({"schema": "wsgicompare/1", "runs": [_run(capacity={})]})
    assert run.capacity is None and run.to_dict()["capacity"] == {}
    assert RunResult("a", "a", "hello", "ok").to_dict()["capacity"] == {}


def test_the_sample_reports_read_back_to_the_same_json():
    for runs, meta in ((capacity_results(), CAPACITY_META), (scenario_results(), META)):
        text = render("json", runs, meta)
        assert render("json", results_from_document(json.loads(text)), meta) == text


def test_a_run_result_is_built_once_never_patched():
    r = RunResult("gunicorn", "gunicorn", "hello", "ok")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.status = "failed"  # type: ignore[misc]
    assert dataclasses.replace(r, status="failed").status == "failed" and r.status == "ok"


def test_repetitions_combine_into_a_new_result_each_left_as_it_ran():
    runs = [RunResult("gunicorn", "gunicorn", "hello", "ok", rps=v) for v in (1.0, 3.0, 2.0)]
    runs.append(RunResult("gunicorn", "gunicorn", "hello", "failed", reason="crashed"))
    combined = combine_repeats(runs)
    assert (combined.rps, combined.status, combined.repeat and combined.repeat.n) == (2.0, "failed", 4)
    assert combined.reason == "1 of 4 repetitions failed: crashed"
    assert all(r.repeat is None for r in runs) and runs[2].status == "ok"  # the middle one, as it ran


def test_a_scenario_reads_typed_and_writes_back_what_it_was_read_with():
    # a scenario no code here knows (its own keys, its own phase names) fits as written
    saved = {
        "name": "slow-writers", "status": "ok", "reason": "", "event_at_s": 1.0,
        "phases": [{"name": "before", "start_s": 0.0, "end_s": 1.0, "rps": 100.0, "rps_2xx": 100.0,
                    "p50_ms": 1.0, "p99_ms": 2.0, "max_ms": 3.0, "errors": {}, "failed": 0},
                   {"name": "reading", "start_s": 1.0, "end_s": 2.5, "rps_2xx": 40.0, "readers": 8}],
        "failed_requests": 0, "recovered": True, "recovery_s": 0.5, "verdict": "kept 40 %",
        "event_t": 1.5, "event": {"slow_readers": 8}, "readers_held": 7, "kept_share": 0.4,
    }  # fmt: skip
    (run,) = results_from_document({"schema": "wsgicompare/1", "runs": [_run(scenario=saved)]})
    s = run.scenario
    assert s is not None and run.to_dict()["scenario"] == saved
    assert (s.name, s.status, s.recovered, s.kept_share, s.event) == (
        "slow-writers",
        "ok",
        True,
        0.4,
        {"slow_readers": 8},
    )
    assert [p.name for p in s.phases] == ["before", "reading"] and s.phase("reading").span_s == 1.5  # type: ignore[union-attr]
    assert s.phase("during") is None and s.figure("readers_held") == 7 and s.figure("nothing") is None
    assert cell(s) == (True, "✓ back in 0.5 s, 0 failed")


def test_a_run_without_a_scenario_has_none_and_writes_an_empty_object():
    (run,) = results_from_document({"schema": "wsgicompare/1", "runs": [_run(scenario={})]})
    assert run.scenario is None and run.to_dict()["scenario"] == {}
