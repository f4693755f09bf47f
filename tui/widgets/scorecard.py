"""The compare view's scorecard: one row per backend, one column per scenario, each cell
the short judgement ``scorecard.scorecard`` gives the Markdown and HTML reports, so the
screen and the reports never disagree. Hidden when no run has a scenario."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from wsgicompare.results import RunResult
from wsgicompare.session import scorecard

#: narrowest a scenario column gets before its cells are cut short (with "…")
MIN_CELL_W = 12
#: columns between two cells
GAP = 2

Cells = list[tuple[bool | None, str]]


def scorecard_text(
    columns: Sequence[str],
    rows: Sequence[tuple[str, Cells]],
    width: int,
    styles: dict[str, Style] | None = None,
) -> Text:
    """The scorecard as lines of ``width`` cells: a head row, then a row per backend; a
    good cell in the "good" style, a bad one in "bad", an unsupported one "muted"."""
    st = styles or {}
    text = Text(no_wrap=True, overflow="ellipsis")
    name_w = max([len("backend"), *(len(b) for b, _ in rows)])
    room = max(MIN_CELL_W * len(columns), width - name_w - GAP * len(columns))
    natural = [max([len(c), *(len(cells[i][1]) for _, cells in rows)]) for i, c in enumerate(columns)]
    # the room left is shared in proportion to what each column would like, never below MIN_CELL_W
    cell_w = list(natural)
    if sum(natural) > room:
        cell_w = [max(MIN_CELL_W, room * n // max(1, sum(natural))) for n in natural]

    def fit(value: str, w: int) -> str:
        return value.ljust(w) if len(value) <= w else value[: max(0, w - 1)] + "…"

    text.append(fit("backend", name_w), st.get("head"))
    for name, w in zip(columns, cell_w):
        text.append(" " * GAP + fit(name, w), st.get("head"))
    for backend, cells in rows:
        text.append("\n" + fit(backend, name_w))
        for (good, value), w in zip(cells, cell_w):
            style = st.get("good") if good else st.get("bad") if good is False else st.get("muted")
            text.append(" " * GAP)
            text.append(fit(value, w), style)
    return text


class Scorecard(Widget):
    """What happens when things go wrong, per backend and scenario; hidden without scenarios."""

    DEFAULT_CSS = """
    Scorecard {
        height: auto;
        max-height: 12;
        padding: 0 1;
        border: round $primary;
        border-title-color: $text;
        border-title-style: bold;
        display: none;
    }
    Scorecard > .scorecard--head {
        color: $text-muted;
        text-style: bold;
    }
    Scorecard > .scorecard--good {
        color: $success;
    }
    Scorecard > .scorecard--bad {
        color: $error;
        text-style: bold;
    }
    Scorecard > .scorecard--muted {
        color: $text-muted;
    }
    """

    COMPONENT_CLASSES = {"scorecard--head", "scorecard--good", "scorecard--bad", "scorecard--muted"}

    results: reactive[tuple[RunResult, ...]] = reactive(())

    def on_mount(self) -> None:
        self.border_title = "Scorecard: what happens when things go wrong"

    def watch_results(self, results: tuple[RunResult, ...]) -> None:
        self.display = bool(scorecard(list(results))[1])

    def render(self) -> RenderableType:
        columns, rows = scorecard(list(self.results))
        styles = {k: self.get_component_rich_style(f"scorecard--{k}") for k in ("head", "good", "bad", "muted")}
        return scorecard_text(columns, rows, self.content_size.width, styles)
