"""Snapshot tests of the TUI from fixed data (tests/tui_snapshot_app.py): the main
screen mid-run at a large and a small terminal size, the light theme, the compare
view (with and without capacities, with a scorecard), and the form refusing a bad value. Update with `pytest --snapshot-update`
after looking at the new SVGs."""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
from tui_snapshot_app import (
    OPTIONS,
    compare_app,
    compare_capacity_app,
    compare_scenarios_app,
    main_screen_app,
    main_screen_scenario_app,
)

from wsgicompare.tui.app import WsgiCompareApp


@pytest.fixture(autouse=True)
def no_snapshot_update_in_ci(request):
    """`--snapshot-update` rewrites the SVGs and passes (each is compared with what was just
    written): CI must check them, never rewrite them."""
    if request.config.getoption("update_snapshots", default=False) and os.environ.get("CI"):
        pytest.fail(
            f"--snapshot-update under CI={os.environ['CI']}: snapshots are never rewritten in CI", pytrace=False
        )


def test_main_screen_mid_run_large(snap_compare):
    assert snap_compare(main_screen_app(), terminal_size=(160, 48))


def test_main_screen_mid_run_small(snap_compare):
    assert snap_compare(main_screen_app(), terminal_size=(80, 24))


def test_main_screen_light_theme(snap_compare):
    assert snap_compare(main_screen_app(replace(OPTIONS, theme="light")), terminal_size=(120, 36))


def test_compare_view(snap_compare):
    assert snap_compare(compare_app(), press=["c"], terminal_size=(160, 48))


async def show_a_ladder(pilot):
    """A capacity search four steps in, as the live step ladder draws it."""
    from wsgicompare.engine.capacity import Step
    from wsgicompare.tui.model import CapacityLadder
    from wsgicompare.tui.widgets import StepLadder

    steps = [(2080, 2050, 31.0, True), (2496, 2300, 380.0, False), (2288, 2270, 64.0, True), (2392, 2310, 140.0, False)]
    ladder = CapacityLadder("uwsgi-nginx", "p99 ≤ 100 ms, errors ≤ 0.1 %", max_steps=10)
    for rate, rps, p99, met in steps:
        ladder = ladder.with_step(Step(rate, rps, p99 / 3, p99, p99, 0.0, met, 3.0))
    pilot.app.main.query_one(StepLadder).ladder = ladder
    await pilot.pause()


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_main_screen_step_ladder(snap_compare, size):
    assert snap_compare(main_screen_app(), terminal_size=size, run_before=show_a_ladder)


def test_compare_view_with_capacities(snap_compare):
    """Capacity bars and ranking, each run's steps, and the knee chart with the SLO line."""
    assert snap_compare(compare_capacity_app(), press=["c"], terminal_size=(120, 40))


def test_compare_view_with_capacities_small(snap_compare):
    assert snap_compare(compare_capacity_app(), press=["c"], terminal_size=(80, 24))


def test_compare_view_with_a_scorecard(snap_compare):
    """worker-kill and reload on three backends: the scorecard, a row per backend."""
    assert snap_compare(compare_scenarios_app(), press=["c"], terminal_size=(120, 40))


def test_main_screen_marks_a_scenario_event(snap_compare):
    """A worker-kill 2 s in: a red column through the throughput and p99 timelines, named under them."""

    async def as_scenario_run(pilot):
        main = pilot.app.main
        main.history.scenario = True  # as _begin_load's clear does for a plan with scenarios
        main.live = main.history.frame(force=True)
        await pilot.pause()

    assert snap_compare(main_screen_scenario_app(), terminal_size=(120, 40), run_before=as_scenario_run)


def test_invalid_setting_shows_message_and_disables_load(snap_compare):
    async def type_bad_concurrency(pilot):
        app = pilot.app
        assert isinstance(app, WsgiCompareApp)
        field = app.main.query_one("#f-concurrency")
        field.value = "-3"
        await pilot.pause()
        app.main.query_one("#backends").focus()  # no blinking cursor in the snapshot
        await pilot.pause()

    assert snap_compare(compare_app(), terminal_size=(120, 36), run_before=type_bad_concurrency)
