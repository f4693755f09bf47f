"""The compare view: every finished run side by side, req/s and p99 bars (and capacities)
across the top, the knee chart when runs carry capacity steps, and the scorecard when
they carry scenarios."""

from __future__ import annotations

from collections.abc import Iterable

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import ScrollableContainer
from textual.screen import Screen
from textual.widgets import Footer, Static

from wsgicompare.results import RunResult
from wsgicompare.session import ordered

from ..widgets import KneeChart, RunBars, RunColumn
from ..widgets.scorecard import Scorecard


class CompareScreen(Screen[None]):
    """The app hands the runs in (``show_results``); they are drawn when the screen is
    shown and when a run finishes while it is, never per tick."""

    BINDINGS = [
        Binding("c,escape", "app.pop_screen", "back"),
        Binding("e", "app.export", "export"),
        Binding("ctrl+s", "app.screenshot", "svg"),
        Binding("q", "app.quit", "quit"),
        # the run cards: a card at a time sideways, a few lines up and down
        Binding("left", "scroll_cards(-1)", "◀ runs", show=False),
        Binding("right", "scroll_cards(1)", "runs ▶", show=False),
        Binding("home", "scroll_cards_to(0)", "first", show=False),
        Binding("end", "scroll_cards_to(-1)", "last", show=False),
        Binding("up,pageup", "scroll_lines(-4)", "up", show=False),
        Binding("down,pagedown", "scroll_lines(4)", "down", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        #: the runs and the load line handed in last
        self._wanted: tuple[tuple[RunResult, ...], str] = ((), "")
        #: what is drawn now (None: nothing yet)
        self._shown: tuple[RunResult, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-header", classes="app-header")
        yield RunBars(id="bars")
        yield KneeChart(id="knee")
        yield Scorecard(id="scorecard")
        # not focusable: the screen's arrow keys scroll it a card at a time
        yield ScrollableContainer(id="columns", can_focus=False)
        yield Static("", id="columns-hint")
        yield Footer()

    def show_results(self, results: Iterable[RunResult], load: str) -> None:
        """``load``: the short line saying what the load was (header_text(short=True))."""
        self._wanted = (tuple(results), load)
        if self.is_mounted and self.app.screen is self:
            self._draw()

    def on_mount(self) -> None:
        self.query_one(KneeChart).border_title = "Latency vs offered load"
        columns = self.query_one("#columns", ScrollableContainer)
        # the scrollbars are hidden (their thumbs looked like stray glyphs beside the
        # boxes): the hint line under the cards says what is out of sight
        self.watch(columns, "scroll_x", self._show_scroll_hint, init=False)
        self.watch(columns, "scroll_y", self._show_scroll_hint, init=False)
        self._draw()

    def on_screen_resume(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._size_columns()
        self.call_after_refresh(self._show_scroll_hint)

    def _draw(self) -> None:
        results, load = self._wanted
        if results == self._shown:
            return
        self._shown = results
        self.query_one("#compare-header", Static).update(
            f" wsgicompare — compare · {len(results)} run{'s' if len(results) != 1 else ''} · {load}"
        )
        self.query_one(RunBars).results = results
        self.query_one(KneeChart).results = results
        self.query_one(Scorecard).results = results
        columns = self.query_one("#columns", ScrollableContainer)
        columns.remove_children()
        columns.mount_all([RunColumn(r, classes="run-column") for r in ordered(results)])
        self._size_columns()
        self.call_after_refresh(self._show_scroll_hint)

    def _size_columns(self) -> None:
        """Share the width between the runs: 26 to 44 columns each, scrolling beyond (by whole cards)."""
        # a short terminal gets a shorter knee chart, leaving the run columns some room
        short = self.size.height < 36
        self.set_class(short, "-narrow-compare")
        # and with the knee chart too, fewer bar rows still: the cards keep a few lines
        self.set_class(short and self.query_one(KneeChart).display, "-short-with-knee")
        columns = list(self.query(RunColumn))
        if not columns:
            return
        room = self.size.width  # the scrollbars are hidden: every column is the cards'
        width = max(26, min(44, room // len(columns)))
        if width * len(columns) > room:
            # more cards than fit: as many whole cards as fit, none cut at the right edge
            width = room // max(1, room // 26)
        for column in columns:
            column.styles.width = width

    # -- the run cards' scrolling ---------------------------------------------------

    def _cards_x(self) -> list[tuple[int, int]]:
        """Each card's left and right edge in the row's own (scrolled) coordinates."""
        return [(c.virtual_region.x, c.virtual_region.right) for c in self.query(RunColumn)]

    def action_scroll_cards(self, step: int) -> None:
        """Bring the next (step 1) or the previous (-1) card's left edge to the left."""
        columns = self.query_one("#columns", ScrollableContainer)
        lefts = [left for left, _ in self._cards_x()]
        now = round(columns.scroll_x)
        if step > 0:
            target = next((x for x in lefts if x > now), now)
        else:
            target = next((x for x in reversed(lefts) if x < now), 0)
        columns.scroll_to(x=min(target, columns.max_scroll_x), animate=False)

    def action_scroll_cards_to(self, end: int) -> None:
        columns = self.query_one("#columns", ScrollableContainer)
        columns.scroll_to(x=0 if end == 0 else columns.max_scroll_x, animate=False)

    def action_scroll_lines(self, lines: int) -> None:
        columns = self.query_one("#columns", ScrollableContainer)
        columns.scroll_to(y=columns.scroll_y + lines, animate=False)

    def _show_scroll_hint(self, _value: object = None) -> None:
        """ "◀ 3 more · ▶ 5 more · ▼ more": the cards cut or out of sight either way, and
        the keys; hidden while every card shows whole."""
        columns = self.query_one("#columns", ScrollableContainer)
        left, width = round(columns.scroll_x), columns.scrollable_content_region.width
        edges = self._cards_x()
        before = sum(1 for x, _ in edges if x < left)
        after = sum(1 for _, right in edges if right > left + width)
        parts = []
        if before:
            parts.append(f"◀ {before} more")
        if after:
            parts.append(f"▶ {after} more")
        if before or after:
            parts.append("←→ scroll")
        if columns.max_scroll_y > 0:
            below = columns.scroll_y < columns.max_scroll_y
            parts.append(("▼ more below" if below else "▲ more above") + " · ↑↓")
        hint = self.query_one("#columns-hint", Static)
        hint.display = bool(parts)
        hint.update(" " + " · ".join(parts))
