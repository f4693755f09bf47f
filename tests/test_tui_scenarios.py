"""Scenarios in the app, on a real backend with a real fault: worker-kill chosen in the
load form, run on gunicorn, the event marked on the live throughput and latency
timelines as it happens, and the scorecard in the compare view."""

from __future__ import annotations

import re

import pytest
from backend_support import require_backend
from test_tui_app import SHORT, server_processes, short_conductor, wait_for

from wsgicompare.backends import get_backend
from wsgicompare.reporting.scorecard import cell
from wsgicompare.tui.app import WsgiCompareApp
from wsgicompare.tui.widgets.draw import EVENT_GLYPH
from wsgicompare.tui.widgets.scorecard import Scorecard

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def event_cells(panel) -> int:
    """Chart rows of a live panel that draw a cell in the event's style (its red column)."""
    bad = panel.style_for("bad")
    # the axis line's label is in that style too: count only one-cell pieces
    return sum(1 for row in panel._keys for text, style in row if style == bad and len(text) == 1)


async def test_worker_kill_chosen_in_the_form_is_marked_live_and_scored_in_the_compare_view():
    require_backend(get_backend("gunicorn"))
    app = WsgiCompareApp(SHORT, conductor=short_conductor())
    async with app.run_test(size=(160, 48)) as pilot:
        main = app.main
        assert not main.query_one("#event-row").display  # no scenario: no event time to set
        main.query_one("#f-duration_s").value = "3"
        main.query_one("#f-scenario").value = "worker-kill"
        await pilot.pause()
        assert main.query_one("#event-row").display
        assert main.settings is not None and main.settings.scenarios == ("worker-kill",)
        table = main.query_one("#backends")
        table.move_cursor(row=table.get_row_index("gunicorn"))
        table.focus()
        await pilot.press("l")
        assert main.load_running
        # the event fires a third of the way in (1 s of 3): marked on both timelines as it happens
        await wait_for(
            pilot,
            lambda: main.live is not None and main.live.event_index is not None,
            30,
            "a frame with the worker-kill event",
        )
        assert main.load_running, "the event was seen only after the load"
        # the first measured tick at or past 1 s fires it: 1.0 or 1.1 s on 0.1 s ticks
        assert re.fullmatch(r"worker-kill at 1\.[01] s: signal SIGKILL pid \d+", main.live.event), main.live.event
        label = main.live.event.split(":")[0]
        for panel_id in ("throughput", "latency"):
            panel = main.query_one(f"#{panel_id}")
            assert f"{EVENT_GLYPH}{label}" in panel.plain, panel.plain
            assert event_cells(panel) >= 1, panel.plain
        await wait_for(pilot, lambda: not main.load_running, 30, "the load to end")
        (result,) = app.session.results
        assert result.status == "ok", result.reason
        assert result.scenario.name == "worker-kill" and result.scenario.status == "ok", result.scenario
        await pilot.press("c")
        await pilot.pause()
        scorecard = app.screen.query_one(Scorecard)
        assert scorecard.display
        lines = scorecard.render().plain.split("\n")
        assert lines[0].split() == ["backend", "worker-kill"]
        assert lines[1].startswith("gunicorn") and cell(result.scenario)[1] in lines[1], lines
        await pilot.press("c")
        await pilot.press("q")
        await wait_for(pilot, lambda: app.session.closing and not app.session.running, 20, "quit")
    assert server_processes() == []


async def test_the_form_refuses_a_scenario_that_cannot_run():
    app = WsgiCompareApp(SHORT, conductor=short_conductor())
    async with app.run_test(size=(120, 36)) as pilot:
        main = app.main
        main.query_one("#f-scenario").value = "all"
        main.query_one("#f-event_at_s").value = "2"
        await pilot.pause()
        # SHORT runs 2 s: an event at 2 s is past its end
        assert main.settings is None and main.query_one("#load-button").disabled
        assert "outside the run" in str(main.query_one("#form-error").render())
        main.query_one("#f-event_at_s").value = ""
        main.query_one("#f-requests").value = "100"
        await pilot.pause()
        assert main.settings is None and "clear requests and reps" in str(main.query_one("#form-error").render())
        main.query_one("#f-requests").value = ""
        await pilot.pause()
        assert main.settings is not None and len(main.settings.scenarios) > 1  # all of them
        # `f` searches a capacity: many short runs, no place for the event
        table = main.query_one("#backends")
        table.move_cursor(row=table.get_row_index("gunicorn"))
        table.focus()
        await pilot.press("f")
        await pilot.pause()
        assert not main.load_running
        assert any("set scenario to none to find the capacity" in n.message for n in app._notifications)
        # back to none: the hidden event time no longer counts
        main.query_one("#f-event_at_s").value = "5"
        main.query_one("#f-scenario").value = "none"
        await pilot.pause()
        assert main.settings is not None and main.settings.scenarios == () and main.settings.event_at_s is None
        assert not main.query_one("#event-row").display
