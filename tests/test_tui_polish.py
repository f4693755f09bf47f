"""Pilot tests of the app's polish at 80×24 and 120×40: the compare view's run cards
scroll and say how many are out of sight, the keep-alive box is drawn whole, the backend
table shows the live req/s of a real backend under load, and the command palette opens
and runs the app's commands."""

from __future__ import annotations

import pytest
from process_support import stray_descendants
from test_tui_app import wait_for
from textual.command import CommandPalette
from tui_snapshot_app import CATALOG, OPTIONS, compare_many_app, make_results, many_results

from wsgicompare.backends import get_backend
from wsgicompare.settings.options import Options
from wsgicompare.tui.app import WsgiCompareApp
from wsgicompare.tui.model import human_count
from wsgicompare.tui.screens import CompareScreen
from wsgicompare.tui.widgets import BackendTable, RunColumn

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend():
    return "asyncio"


def fixed_app(results=()) -> WsgiCompareApp:
    return WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=results, clock=False)


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


# -- the command palette --------------------------------------------------------------


async def run_command(pilot, text: str) -> None:
    """ctrl+p, type ``text``, wait for a match, enter."""
    await pilot.press("ctrl+p")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), 5, "the command palette")
    await pilot.press(*text)
    palette = pilot.app.screen
    await wait_for(pilot, lambda: palette._list_visible and palette.query_one("CommandList").option_count, 5, text)
    await pilot.press("enter")
    await pilot.pause(0.2)


async def test_command_palette_runs_the_app_commands():
    app = fixed_app(make_results())
    async with app.run_test(size=(120, 40)) as pilot:
        await run_command(pilot, "compare")
        assert isinstance(app.screen, CompareScreen)
        await run_command(pilot, "light / dark")
        assert app.theme == "textual-light"
        # Textual's own: the theme picker and the keys panel are there too
        commands = [command.title for command in app.get_system_commands(app.main)]
        assert {"Compare", "Run all", "Export", "Light / dark", "Theme", "Keys"} <= set(commands)
        assert "Stop load" not in commands  # no load runs: not offered


@pytest.mark.parametrize("size,shown", [((120, 40), True), ((80, 24), False)], ids=["120x40", "80x24"])
async def test_the_footer_shows_ctrl_p_where_it_fits(size, shown):
    app = fixed_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        key = app.main.query_one("FooterKey.-command-palette")
        assert key.display is shown
        if shown:  # docked right, it covers none of the app's own keys
            quit_key = [k for k in app.main.query("FooterKey") if k.action == "quit"][0]
            assert quit_key.region.right <= key.region.x


async def test_a_resize_refits_the_layout_and_the_footer():
    """App.on_resize runs before Textual's own handler has stored the new size: the event's
    size decides (with self.size, 80→120 columns kept the narrow layout and no ^p)."""
    app = fixed_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.main.has_class("-narrow") and app.has_class("-narrow-footer")
        await pilot.resize_terminal(120, 40)
        await pilot.pause(0.2)
        assert not app.main.has_class("-narrow") and not app.has_class("-narrow-footer")
        assert app.main.query_one("FooterKey.-command-palette").display
        await pilot.resize_terminal(80, 24)
        await pilot.pause(0.2)
        assert app.main.has_class("-narrow") and app.has_class("-narrow-footer")


# -- live req/s in the backend table --------------------------------------------------

#: a short real load: long enough for several ticks under load (an open loop of 300 req/s: the
#: live figure in the table is the test, not a flat-out load)
LIVE = Options(concurrency=8, rate=300.0, duration=4.0, warmup=0.0, workloads=["hello"], workers=1, threads=2)


@pytest.mark.parametrize("backend", ["flask-dev", "gunicorn"])
async def test_backend_table_shows_live_rps_under_load(backend):
    from backend_support import require_backend

    require_backend(get_backend(backend))
    app = WsgiCompareApp(LIVE)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.main.query_one(BackendTable)
        table.move_cursor(row=table.get_row_index(backend))
        await pilot.press("l")
        seen: list[tuple[str, str]] = []

        def live_shown() -> bool:
            frame = app.main.live
            if app.main.rows[backend].state != "under load" or frame is None or frame.tick.phase != "load":
                return False
            seen.append((table.get_cell(backend, "rps").plain, human_count(frame.tick.rps_2xx)))
            return frame.tick.rps_2xx > 0 and seen[-1][0] == seen[-1][1]

        await wait_for(pilot, live_shown, 30, f"{backend}'s live req/s in the table (seen {seen[-5:]})")
        assert seen[-1][0] != "—"
        await wait_for(pilot, lambda: not app.main.load_running, 30, "the load to end")
        # finished: the run's own figure (its 2xx req/s over the measured window)
        result = app.session.results[-1]
        assert table.get_cell(backend, "rps").plain == human_count(result.rps_2xx)
        await pilot.press("q")
    assert stray_descendants() == []


# -- the compare view's run cards -----------------------------------------------------


def compare_of(app: WsgiCompareApp) -> CompareScreen:
    screen = app.screen
    assert isinstance(screen, CompareScreen)
    return screen


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
async def test_compare_view_scrolls_the_run_cards_and_says_so(size):
    app = fixed_app(many_results(9))  # 13 runs: more than fit at either size
    async with app.run_test(size=size) as pilot:
        await pilot.press("c")
        await pilot.pause()
        screen = compare_of(app)
        columns = screen.query_one("#columns")
        cards = list(screen.query(RunColumn))
        assert len(cards) == 13
        left, width = columns.scroll_x, columns.region.width
        visible = [c for c in cards if c.virtual_region.x >= left and c.virtual_region.right <= left + width]
        assert 0 < len(visible) < 13
        hint = screen.query_one("#columns-hint")
        text = str(hint.render())
        assert hint.display and f"▶ {13 - len(visible)} more" in text, text
        assert "◀" not in text
        # the cards show at least a few lines at 80×24 too
        assert columns.region.height >= 6
        # keys scroll by one card; the hint follows
        await pilot.press("right")
        await pilot.pause()
        assert columns.scroll_x > 0
        text = str(hint.render())
        assert "◀ 1 more" in text, text
        await pilot.press("end")
        await pilot.pause()
        text = str(hint.render())
        assert "▶" not in text and "◀" in text, text
        await pilot.press("home")
        await pilot.pause()
        assert columns.scroll_x == 0


async def test_compare_view_without_overflow_has_no_hint():
    app = fixed_app(make_results())
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        hint = compare_of(app).query_one("#columns-hint")
        assert not hint.display


@pytest.mark.parametrize("size", [(120, 40), (80, 24)], ids=["120x40", "80x24"])
def test_compare_view_many_runs_snapshot(snap_compare, size):
    """13 runs: whole cards, the hint under them, no scrollbar glyphs; at 80×24 the bars
    stop at a few runs and say how many more. One card scrolled: ◀ 1 more."""
    assert snap_compare(compare_many_app(), press=["c", "right"], terminal_size=size)
