"""Drawing with block characters: sparklines, bars and styled lines, shared by the live
panels and the compare view. Each panel draws itself as lines of Rich styles built
from these: the measured cost of Textual's Sparkline and DataTable cells per tick was
too high for a machine whose other core runs the load (benchmarks/tui_cost.py)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.style import Style
from rich.text import Text

#: eighths of a character cell, for sparklines and bars
BLOCKS = " ▁▂▃▄▅▆▇█"
#: horizontal eighths, for bar charts
HBLOCKS = " ▏▎▍▌▋▊▉█"


def spark_rows(values: Sequence[float], width: int, height: int, top: float | None = None) -> list[str]:
    """A bar sparkline ``height`` rows tall over the last ``width`` values, top row first.
    Each column is a value scaled to ``top`` (default: the largest value shown)."""
    width = max(1, width)
    height = max(1, height)
    shown = list(values[-width:])
    if not shown:
        return [" " * width for _ in range(height)]
    peak = top if top else max(shown)
    eighths = [0 if peak <= 0 else max(1 if v > 0 else 0, round(8 * height * min(v, peak) / peak)) for v in shown]
    rows = []
    for row in range(height - 1, -1, -1):  # top row first
        floor = row * 8
        rows.append("".join(BLOCKS[min(8, max(0, e - floor))] for e in eighths).ljust(width))
    return rows


def resample(values: Sequence[float], width: int) -> list[float]:
    """Fit a whole series into ``width`` columns, for finished runs: the mean per column
    when there are more points than columns, each point repeated when there are fewer."""
    if not values:
        return []
    if len(values) <= width:
        return [v for v in values for _ in range(width // len(values))]
    out = []
    for i in range(width):
        lo, hi = i * len(values) // width, (i + 1) * len(values) // width
        chunk = values[lo : max(hi, lo + 1)]
        out.append(sum(chunk) / len(chunk))
    return out


#: the event column of a scenario's timeline where its bar leaves the cell empty
EVENT_GLYPH = "┃"


def timeline(
    values: Sequence[float], width: int, stretch: int, event_index: int | None
) -> tuple[list[float], int | None]:
    """A whole run's series in at most ``width`` columns, and the column of its event:
    each point ``stretch`` columns wide while they fit, else the mean per column
    (``resample``), so the event stays on the chart however long the run."""
    width = max(1, width)
    if not values:
        return [], None
    if len(values) * stretch <= width:
        cols = [v for v in values for _ in range(stretch)]
        event_col = None if event_index is None else event_index * stretch
    else:
        cols = resample(values, width)
        event_col = None if event_index is None else min(width - 1, event_index * width // len(values))
    return cols, event_col


def marked_rows(rows: Sequence[str], column: int | None) -> list[tuple[str, str, str]]:
    """Each sparkline row split around ``column`` as (before, cell, after), the cell's
    empty space drawn as EVENT_GLYPH, so the event shows as a line through the chart."""
    out = []
    for row in rows:
        if column is None or column >= len(row):
            out.append((row, "", ""))
            continue
        cell = row[column] if row[column] != " " else EVENT_GLYPH
        out.append((row[:column], cell, row[column + 1 :]))
    return out


def append_marked(text: Lines, rows: Sequence[str], column: int | None, spark: Style, event: Style) -> None:
    """Append sparkline rows (each on a new line) with the event column in ``event``'s style."""
    for before, cell, after in marked_rows(rows, column):
        text.append("\n")
        text.append(before, spark)
        text.append(cell, event)
        text.append(after, spark)


def event_axis(left: str, right: str, label: str, column: int | None, width: int) -> tuple[str, str, str]:
    """The x axis under a timeline as (up to the event, the event's label, the rest):
    the label starts at the event's column when it fits there, else as near as it can."""
    if column is None or not label:
        return left.ljust(max(1, width - len(right))) + right, "", ""
    label = label[: max(0, width - len(left) - len(right) - 2)]
    start = min(max(len(left) + 1, column), max(len(left) + 1, width - len(right) - len(label) - 1))
    head = left.ljust(start)
    tail = " " * max(1, width - len(head) - len(label) - len(right)) + right
    return head, label, tail


def flow(text: Lines | Text, pieces: Sequence[tuple[str, str, Style]], width: int, label: Style) -> None:
    """Append "label value" pieces on as few lines as fit ``width`` (narrow panels wrap
    between pieces, never inside one)."""
    used = 0
    for name, value, style in pieces:
        size = len(name) + 1 + len(value)
        if used and used + 2 + size > width:
            text.append("\n")
            used = 0
        elif used:
            text.append("  ")
            used += 2
        text.append(name + " ", label)
        text.append(value, style)
        used += size


def hbar(value: float, peak: float, width: int) -> str:
    """A horizontal bar ``width`` cells long at full scale."""
    if peak <= 0 or width <= 0:
        return ""
    eighths = round(8 * width * max(0.0, min(value, peak)) / peak)
    full, part = divmod(eighths, 8)
    return "█" * full + (HBLOCKS[part] if part else "")


class Lines:
    """Styled lines built piece by piece, with the ``append(text, style)`` of Rich's Text
    but none of its span machinery: the panels turn these straight into Strips."""

    __slots__ = ("rows",)

    def __init__(self) -> None:
        self.rows: list[list[tuple[str, Style | None]]] = [[]]

    def append(self, text: str, style: Style | None = None) -> None:
        if "\n" in text:
            first, *rest = text.split("\n")
            if first:
                self.rows[-1].append((first, style))
            for part in rest:
                self.rows.append([(part, style)] if part else [])
        elif text:
            self.rows[-1].append((text, style))

    @property
    def line_count(self) -> int:
        return len(self.rows)

    @property
    def plain(self) -> str:
        return "\n".join("".join(piece for piece, _ in row) for row in self.rows)


#: Tick.latency_bins are log-spaced from LATENCY_LOW_MS to LATENCY_HIGH_MS (LatencyHistogram.bins)
LATENCY_LOW_MS = 0.1
LATENCY_HIGH_MS = 10_000.0


def bin_edge_ms(edge: int, n_bins: int) -> float:
    """Lower edge of display bin ``edge`` (``n_bins`` is the upper end) in ms."""
    ratio = LATENCY_HIGH_MS / LATENCY_LOW_MS
    return LATENCY_LOW_MS * ratio ** (edge / max(1, n_bins))


def plural(count: Any, noun: str) -> str:
    if count is None:
        return f"— {noun}s"
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def wrap(line: str, width: int) -> Iterable[str]:
    """Greedy word wrap for the narrow compare columns."""
    width = max(4, width)
    current = ""
    for word in line.split():
        if current and len(current) + 1 + len(word) > width:
            yield current
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        yield current
