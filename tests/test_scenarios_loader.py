"""The scenarios the loader makes, on real backends: slow clients (trickling headers
through *during*) and overload (twice the probed capacity through *during*)."""

from __future__ import annotations

import pytest
from test_scenarios import phase, scenario_run

from wsgicompare.faults import cell, scorecard


def test_slow_clients_starve_a_bare_sync_server_but_not_one_behind_nginx() -> None:
    bare = scenario_run("gunicorn", "slow-clients", workers=2)
    fronted = scenario_run("gunicorn-nginx", "slow-clients", workers=2)
    for r in (bare, fronted):
        assert r.scenario["status"] == "ok", r.scenario
        assert r.scenario["event"] == {"slow_clients": 4}  # max(4, 2 × 2 workers)
    assert phase(bare, "during")["rps_2xx"] < 0.1 * phase(bare, "before")["rps_2xx"]
    assert bare.scenario["verdict"].startswith("starved")
    assert bare.scenario["recovered"]  # back once they left
    assert phase(fronted, "during")["rps_2xx"] > 0.8 * phase(fronted, "before")["rps_2xx"]
    good, text = cell(fronted.scenario)
    assert good and text.startswith("✓ kept")
    assert cell(bare.scenario)[0] is False and "starved" in cell(bare.scenario)[1]
    columns, rows = scorecard([bare, fronted])
    assert columns == ["slow-clients"] and [b for b, _ in rows] == ["gunicorn", "gunicorn-nginx"]


def test_overload_at_twice_the_capacity_reports_how_it_fails_and_its_recovery() -> None:
    result = scenario_run("gunicorn", "overload", duration_s=6.0, event_at_s=2.0)
    s = result.scenario
    assert s["status"] == "ok", s
    probe = s["event"]["capacity_probe_rps"]
    assert s["event"]["offered_rps"] == pytest.approx(2 * probe, abs=0.2)
    # before: half the capacity, comfortably served; during: more offered than served
    assert phase(result, "before")["rps_2xx"] > 0.35 * probe
    assert phase(result, "during")["rps_2xx"] < 1.5 * probe
    assert s["mode"]  # sheds, queues or fails connections: said, from the figures
    assert "2 × capacity" in s["verdict"]
    assert s["recovered"] == (s["recovery_s"] is not None)
    if s["recovered"]:
        assert 0 <= s["recovery_s"] <= 3.0
