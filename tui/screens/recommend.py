"""The recommend screen (``r``): which deployment to choose, measured here.

While the run goes: which backend, which stage (probe, scenarios, capacity + memory), the
stages measured so far with their figures, and the ETA. At the end (or once Esc / Ctrl-C
stopped it: then marked partial), the answer first, in the reports' own words (the session
re-exports the report's text functions: one source of the sentences), then the ranked and
the rejected backends. Esc goes back to the main screen once the run is over."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from wsgicompare.session import RANKED_HEADERS, Stage, heading, pick_why, ranked_rows, rejected_rows

#: the progress table's columns (the figure before the config: a fixed config's words are long)
STAGE_COLUMNS = ("backend", "phase", "stage", "measured", "PSS MB", "config")


def now_text(stage: Stage | None, backends: list[str], stopping: bool) -> Text:
    """The line under the header: what runs now, how far, the ETA."""
    if stage is None:
        return Text(f"starting: {', '.join(backends) or 'no backend to measure'} …", style="bold")
    line = Text()
    line.append("stopping … " if stopping else "▶ ", style="bold")
    line.append(f"{stage.backend}", style="bold")
    line.append(f" · {stage.config} · {stage.phase}: {stage.what}")
    line.append(f"   {stage.done}/{stage.total} stages · {stage.eta}", style="dim")
    return line


def answer_text(answer: dict[str, Any]) -> Text:
    """The answer in plain words: the heading, the summary, the pick with its why lines and
    its command lines (the Markdown report's sentences)."""
    out = Text()
    partial = bool(answer.get("partial"))
    out.append(heading(answer) + "\n", style="bold reverse" if partial else "bold")
    out.append(str(answer.get("summary", "")) + "\n", style="bold")
    pick = answer.get("pick")
    if pick:
        out.append(f"\nPick: {pick['backend']}, {pick.get('config_text', '')}. Why:\n", style="bold")
        for line in pick_why(answer):
            out.append(f"  • {line}\n")
        commands = pick.get("command") or []
        if commands:
            out.append("\nCommand (this run's port and private directory):\n", style="bold")
            for line in commands:
                out.append(f"  {line}\n", style="italic")
    return out


class RecommendScreen(Screen[None]):
    """Driven by the app: ``stage`` and ``show_answer`` from the session's messages."""

    BINDINGS = [Binding("escape", "stop_or_back", "stop / back")]

    def __init__(self, backends: list[str], title: str, cancel: Callable[[], None]) -> None:
        """``title``: what is measured against what (the header); ``cancel`` stops the run."""
        super().__init__()
        self.backends = backends
        self.title_line = title
        self._cancel = cancel
        #: the run is going (until its final answer is shown)
        self.running = True
        self.stopping = False
        self.current: Stage | None = None
        #: the final answer, once the run is over
        self.answer: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static("", id="rec-header", classes="app-header")
        with VerticalScroll(id="rec-body"):
            yield Static("", id="rec-answer")
            yield DataTable(id="rec-ranked", show_cursor=False, zebra_stripes=True)
            yield Static("", id="rec-rejected")
            yield Static("", id="rec-now")
            yield DataTable(id="rec-stages", show_cursor=False, zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#rec-header", Static).update(f" [b]wsgicompare[/b] — recommend · {self.title_line}")
        self.query_one("#rec-stages", DataTable).add_columns(*STAGE_COLUMNS)
        self.query_one("#rec-ranked", DataTable).add_columns(*RANKED_HEADERS)
        for part in ("#rec-answer", "#rec-ranked", "#rec-rejected"):
            self.query_one(part).display = False
        self.query_one("#rec-stages").border_title = "Measured so far"
        self._show_now()

    def _show_now(self) -> None:
        self.query_one("#rec-now", Static).update(now_text(self.current, self.backends, self.stopping))

    # -- the session's messages, handed on by the app -----------------------------------

    def stage(self, stage: Stage) -> None:
        """A stage began (the line says what runs now) or ended (a row with its figures)."""
        if self.running:
            self.current = stage
            self._show_now()
        if stage.ended:
            pss = "—" if stage.pss_mb is None else f"{stage.pss_mb:,.1f}"
            table = self.query_one("#rec-stages", DataTable)
            table.add_row(stage.backend, stage.phase, stage.what, stage.said, pss, stage.config)
            table.move_cursor(row=table.row_count - 1)

    def show_answer(self, answer: dict[str, Any], final: bool, error: str = "") -> None:
        """The answer so far (after each backend) or the final one, first on the screen."""
        if final:
            self.running, self.answer = False, answer
            now = Text("stopped: the answer is partial" if answer.get("partial") else "done", style="bold")
            if error:
                now = Text(f"the run failed: {error}", style="bold red")
            now.append("   esc: back", style="dim")
            self.query_one("#rec-now", Static).update(now)
        box = self.query_one("#rec-answer", Static)
        box.update(answer_text(answer))
        box.display = True
        # the state where the eye is, at the top (the progress line may be scrolled out of sight)
        left = len(answer.get("pending") or ())
        box.border_title = (
            ("final, partial: stopped" if answer.get("partial") else "final")
            if final
            else f"so far: {left} more to measure"
        )
        ranked = self.query_one("#rec-ranked", DataTable)
        ranked.clear()
        for row in ranked_rows(answer):
            ranked.add_row(*row)
        ranked.display = bool(ranked.row_count)
        ranked.border_title = "Ranked"
        rejected = rejected_rows(answer)
        lines = Text()
        for backend, reasons in rejected:
            lines.append(f"{backend}", style="bold")
            lines.append(f": {reasons}\n")
        part = self.query_one("#rec-rejected", Static)
        part.update(lines)
        part.border_title = "Rejected"
        part.display = bool(rejected)

    # -- keys ---------------------------------------------------------------------------

    def stop(self) -> bool:
        """Stop the run (the app's Esc and Ctrl-C while it goes); False when it is over."""
        if not self.running:
            return False
        if not self.stopping:
            self.stopping = True
            self._cancel()
            self._show_now()
        return True

    def action_stop_or_back(self) -> None:
        if not self.stop():
            self.app.pop_screen()
