"""The live step ladder of a capacity search: one column per step (offered rate, served
rate, the SLO's percentile, met or not), the newest on the right, and the verdict once
the search ends."""

from __future__ import annotations

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from wsgicompare.session import Step

from ..model import CapacityLadder, fmt_ms

#: characters of the row labels, and of each step's column
LABEL_W, STEP_W = 9, 8


def ladder_text(ladder: CapacityLadder, width: int, styles: dict[str, Style] | None = None) -> Text:
    """Five lines: the title (or the verdict), then offered, served, latency and met, as
    many of the latest steps as fit ``width`` (a "…" column says older ones are hidden)."""
    st = styles or {}
    text = Text(no_wrap=True, overflow="ellipsis")
    title_style = st.get("title")
    title = Text()
    if ladder.verdict:
        title.append(f"Capacity · {ladder.backend}: ", title_style)
        title.append(ladder.verdict, st.get("good") if ladder.capacity_rps is not None else st.get("bad"))
    else:
        of = f" of ≤ {ladder.max_steps}" if ladder.max_steps else ""
        title.append(f"Capacity · {ladder.backend}", title_style)
        title.append(f" · {ladder.slo} · step {len(ladder.steps)}{of}", st.get("label"))
        if not ladder.steps:
            title.append(" · probing the ceiling (closed loop) …", st.get("label"))
    # one line whatever the width: the verdict is also in the run's verdicts (compare view)
    title.truncate(max(1, width), overflow="ellipsis")
    text.append_text(title)
    fit = max(1, (width - LABEL_W) // STEP_W)
    steps = ladder.steps[-fit:]
    hidden = len(ladder.steps) - len(steps)
    if hidden:  # make room for the "…" column
        steps = steps[1:]
        hidden += 1
    # the step the capacity came from once finished (a met confirmation run, whose served
    # rate is the figure), the best so far while the search runs
    best = ladder.marked
    rows: list[tuple[str, list[tuple[str, Style | None]]]] = [
        ("offered", [(f"{s.rate:,.0f}", None) for s in steps]),
        ("served", [(f"{s.rps:,.0f}", None) for s in steps]),
        (f"{ladder.percentile} ms", [(fmt_ms(s.slo_ms), None) for s in steps]),
        ("SLO", [_judged(s, st) for s in steps]),
    ]
    for label, cells in rows:
        text.append("\n" + label.ljust(LABEL_W), st.get("label"))
        if hidden:
            text.append("…".rjust(STEP_W), st.get("label"))
        for step, (cell, style) in zip(steps, cells):
            if step is best:
                style = (style or Style()) + Style(bold=True, underline=True)
            text.append(cell.rjust(STEP_W), style)
    return text


def _judged(step: Step, st: dict[str, Style]) -> tuple[str, Style | None]:
    """The SLO row's cell: met or not, and "conf" for a confirmation run (--confirm) of
    the search's candidate, which runs longer at a rate a search step already met."""
    what = "conf" if step.confirm else ("met" if step.met else "not")
    return ("✓ " if step.met else "✗ ") + what, st.get("good" if step.met else "bad")


class StepLadder(Widget):
    """The capacity search's steps as they come; hidden while there is none."""

    COMPONENT_CLASSES = {"ladder--title", "ladder--label", "ladder--good", "ladder--bad"}

    #: the ladder to draw (None: no capacity search since the last load began)
    ladder: reactive[CapacityLadder | None] = reactive(None, layout=True)

    def watch_ladder(self, ladder: CapacityLadder | None) -> None:
        self.display = ladder is not None

    def render(self) -> RenderableType:
        if self.ladder is None:
            return ""
        styles = {k: self.get_component_rich_style(f"ladder--{k}") for k in ("title", "label", "good", "bad")}
        return ladder_text(self.ladder, self.content_size.width, styles)
