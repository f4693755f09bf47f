"""The base of the four live panels: one immutable ``LiveFrame`` in through a reactive
attribute, a few lines of styled text out, repainting only the lines that changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ..model import LiveFrame
from .draw import Lines, spark_rows


def interval_s(frame: LiveFrame) -> float:
    """Seconds per point of the live series (the loader's tick)."""
    tick = frame.tick
    points = len(frame.rps)
    if points >= 2 and tick.elapsed_s > 0:
        return tick.elapsed_s / points
    return 0.25


def time_stretch(frame: LiveFrame, width: int) -> int:
    """Columns per point, so a time-bound run fills the chart as it goes instead of
    drawing a thin strip at the left (1 once the run is longer than the chart)."""
    tick = frame.tick
    if tick.remaining_s is None:
        return 1
    expected = len(frame.rps) + tick.remaining_s / interval_s(frame)
    return max(1, min(4, int(width // max(1.0, expected))))


def stretched(values: Sequence[float], stretch: int) -> list[float]:
    if stretch <= 1:
        return list(values)
    return [v for v in values for _ in range(stretch)]


class LivePanel(Widget):
    """Base of the four live panels: one frame in, a few lines out.

    Uses Textual's line API: a new frame rebuilds the panel's lines and repaints only
    the lines whose text or style changed, so a steady figure costs nothing to show."""

    COMPONENT_CLASSES = {
        "panel--big",  # the headline figure
        "panel--label",  # field names
        "panel--spark",  # sparkline blocks
        "panel--spark2",  # a second series in the same panel
        "panel--good",
        "panel--warn",
        "panel--bad",
        "panel--muted",
    }

    #: the latest frame; None before the first run (no automatic repaint: see watch_frame)
    frame: reactive[LiveFrame | None] = reactive(None, layout=False, repaint=False)

    #: tallest sparkline in rows: taller ones only add ink, not information
    MAX_SPARK_ROWS = 12

    #: what the panel says before any tick
    IDLE_TEXT = "no run yet\nselect a backend,\npress l to load"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._styles_by_name: dict[str, Style] = {}
        self._base_style: Style | None = None  # the panel's own colours, cached until the theme changes
        self._keys: list[tuple[tuple[str, Style | None], ...]] = []
        self._strips: list[Strip] = []
        self._stale = True  # lines must be rebuilt before the next render_line

    def style_for(self, name: str) -> Style:
        style = self._styles_by_name.get(name)
        if style is None:
            style = self._styles_by_name[name] = self.get_component_rich_style(f"panel--{name}")
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles_by_name = {}
        self._base_style = None
        self._stale = True

    def on_resize(self) -> None:
        self._stale = True
        self.refresh()

    def watch_frame(self, frame: LiveFrame | None) -> None:
        changed = self._build()
        width = self.content_size.width
        # contiguous runs of changed lines become one repaint region each
        start = None
        end = -1
        for y in [*changed, None]:
            if start is not None and (y is None or y != end + 1):
                self.refresh(Region(0, start, width, end - start + 1))
                start = None
            if y is not None:
                if start is None:
                    start = y
                end = y

    def _build(self) -> list[int]:
        """Rebuild the lines for the current frame and size; return the changed line numbers."""
        width, height = self.content_size
        if width <= 0 or height <= 0:
            self._stale = True
            return []
        if self.frame is None:
            lines = Lines()
            lines.append(self.IDLE_TEXT, self.style_for("muted"))
        else:
            lines = self.draw(self.frame, max(8, width), height)
        keys = [tuple(row) for row in lines.rows[:height]]
        keys += [()] * (height - len(keys))
        stale = self._stale or len(keys) != len(self._keys)
        changed = [y for y, key in enumerate(keys) if stale or key != self._keys[y]]
        base = self._base_style
        if base is None:
            base = self._base_style = self.rich_style
        strips = self._strips if not stale else [Strip.blank(width, base)] * height
        for y in changed:
            segments = [Segment(text, base + style if style is not None else base) for text, style in keys[y]]
            strips[y] = Strip(segments).crop_extend(0, width, base)
        self._keys, self._strips, self._stale = keys, strips, False
        return changed

    @property
    def plain(self) -> str:
        """The panel's text as shown (tests and screen readers of the SVG)."""
        if self._stale:
            self._build()
        return "\n".join("".join(text for text, _ in key) for key in self._keys)

    def render_line(self, y: int) -> Strip:
        if self._stale:
            self._build()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(self.content_size.width, self.rich_style)

    def draw(self, frame: LiveFrame, width: int, height: int) -> Lines:  # pragma: no cover - abstract
        raise NotImplementedError

    def spark(
        self,
        text: Lines,
        values: Sequence[float],
        width: int,
        height: int,
        top: float | None = None,
        style: str = "spark",
    ) -> None:
        spark = self.style_for(style)
        for line in spark_rows(values, width, min(height, self.MAX_SPARK_ROWS), top):
            text.append("\n")
            text.append(line, spark)
