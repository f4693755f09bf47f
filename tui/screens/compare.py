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

from wsgicompare.export.ranking import ordered
from wsgicompare.results import RunResult

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
        yield ScrollableContainer(id="columns")
        yield Footer()

    def show_results(self, results: Iterable[RunResult], load: str) -> None:
        """``load``: the short line saying what the load was (header_text(short=True))."""
        self._wanted = (tuple(results), load)
        if self.is_mounted and self.app.screen is self:
            self._draw()

    def on_mount(self) -> None:
        self.query_one(KneeChart).border_title = "Latency vs offered load"
        self._draw()

    def on_screen_resume(self) -> None:
        self._draw()

    def on_resize(self) -> None:
        self._size_columns()

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

    def _size_columns(self) -> None:
        """Share the width between the runs: 26 to 44 columns each, scrolling beyond."""
        # a short terminal gets a shorter knee chart, leaving the run columns some room
        self.set_class(self.size.height < 36, "-narrow-compare")
        columns = list(self.query(RunColumn))
        if not columns:
            return
        width = max(26, min(44, (self.size.width - 1) // len(columns)))
        for column in columns:
            column.styles.width = width
