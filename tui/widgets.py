"""The app's lightweight widgets. Each live panel takes one immutable ``LiveFrame``
through a reactive attribute and draws itself as a single Rich ``Text`` built from
block characters: the measured cost of Textual's Sparkline and DataTable cells per
tick was too high for a machine whose other core runs the load (see issue 5)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from wsgicompare.export.ranking import best_runs, ordered
from wsgicompare.results import ERROR_KINDS, STATUS_CLASSES, RunResult

from .model import LiveFrame, fmt_ms, human_count

#: eighths of a character cell, for sparklines and bars
BLOCKS = " ▁▂▃▄▅▆▇█"
#: horizontal eighths, for bar charts
HBLOCKS = " ▏▎▍▌▋▊▉█"

#: short labels for error kinds in a narrow panel
ERROR_LABELS = {
    "refused": "refused",
    "connect_timeout": "conn t/o",
    "reset": "reset",
    "read_timeout": "read t/o",
    "closed_early": "closed",
    "protocol": "protocol",
    "other": "other",
}


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


def _interval_s(frame: LiveFrame) -> float:
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
    expected = len(frame.rps) + tick.remaining_s / _interval_s(frame)
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

    def __init__(self, **kwargs) -> None:
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


class ThroughputPanel(LivePanel):
    """req/s now and mean, and req/s over time."""

    def draw(self, frame: LiveFrame, width: int, height: int) -> Lines:
        tick = frame.tick
        text = Lines()
        text.append(f"{human_count(tick.rps)}", self.style_for("big"))
        text.append(" req/s", self.style_for("label"))
        text.append(f"  mean {human_count(tick.mean_rps)}", self.style_for("label"))
        text.append("\n")
        muted = self.style_for("muted")
        flow(
            text,
            [("2xx", f"{human_count(tick.rps_2xx)}/s", muted), ("requests", f"{tick.requests:,}", muted)],
            width,
            muted,
        )
        rows = max(1, height - text.line_count - 1)
        stretch = time_stretch(frame, width)
        series = stretched(frame.rps, stretch)
        self.spark(text, series, width, rows)
        # the x axis: seconds of measured load at the left and right ends of the chart
        right = f"{tick.elapsed_s:.0f} s"
        span_points = min(len(series), width) / stretch
        left_s = max(0.0, tick.elapsed_s - span_points * _interval_s(frame))
        left = f"{left_s:.0f} s"
        text.append("\n" + left.ljust(max(1, min(len(series), width) - len(right))) + right, self.style_for("muted"))
        return text


class LatencyPanel(LivePanel):
    """p50/p90/p99/max of this interval and of the run so far, and the distribution."""

    def draw(self, frame: LiveFrame, width: int, height: int) -> Lines:
        tick = frame.tick
        label, big, muted = self.style_for("label"), self.style_for("big"), self.style_for("muted")
        text = Lines()
        flow(text, [("p50", fmt_ms(tick.p50_ms), big), ("p90", fmt_ms(tick.p90_ms), big)], width, label)
        text.append("\n")
        flow(text, [("p99", fmt_ms(tick.p99_ms), big), ("max", fmt_ms(tick.max_ms) + " ms", big)], width, label)
        text.append("\n")
        flow(
            text,
            [
                ("run p50", fmt_ms(tick.cum_p50_ms), muted),
                ("p99", fmt_ms(tick.cum_p99_ms), muted),
                ("max", fmt_ms(tick.cum_max_ms), muted),
            ],
            width,
            muted,
        )
        rows = max(1, height - (text.line_count - 1) - 2)
        bins = tick.latency_bins
        used = [i for i, count in enumerate(bins) if count]
        if not used:
            self.spark(text, (), width, rows)
            text.append("\n" + "no responses yet", muted)
            return text
        # show only the occupied stretch of the 0.1 ms … 10 s axis, one bin to spare each side
        first, last = max(0, used[0] - 1), min(len(bins) - 1, used[-1] + 1)
        shown = bins[first : last + 1]
        cols = [shown[min(len(shown) - 1, i * len(shown) // width)] for i in range(width)]
        self.spark(text, cols, width, rows)
        left = f"{fmt_ms(bin_edge_ms(first, len(bins)))} ms"
        right = f"{fmt_ms(bin_edge_ms(last + 1, len(bins)))} ms"
        gap = max(1, width - len(left) - len(right))
        middle = "log scale" if gap >= len("log scale") + 2 else ""
        text.append("\n" + left + middle.center(gap) + right, muted)
        return text


class FailuresPanel(LivePanel):
    """Availability, responses by status class, errors by kind."""

    def draw(self, frame: LiveFrame, width: int, height: int) -> Lines:
        tick = frame.tick
        label, muted = self.style_for("label"), self.style_for("muted")
        text = Lines()
        text.append("availability ", label)
        avail = tick.availability_pct
        if avail is None:
            text.append("—", muted)
        else:
            grade = "good" if avail >= 99.9 else "warn" if avail >= 99.0 else "bad"
            text.append(f"{avail:.2f} %", self.style_for("big") + self.style_for(grade))
        text.append("\n")
        statuses = []
        for cls in STATUS_CLASSES:
            count = tick.responses.get(cls, 0)
            style = muted if count == 0 else self.style_for("good" if cls == "2xx" else "bad")
            statuses.append((cls, human_count(count) if count >= 10_000 else str(count), style))
        flow(text, statuses, width, label)
        text.append("\n")
        errors = [
            (
                ERROR_LABELS[kind],
                str(tick.errors.get(kind, 0)),
                muted if not tick.errors.get(kind) else self.style_for("bad"),
            )
            for kind in ERROR_KINDS
            if tick.errors.get(kind) or kind in ("refused", "reset", "read_timeout")
        ]
        flow(text, errors, width, label)
        text.append(
            f"\ninterval: {tick.interval_errors} errors",
            muted if not tick.interval_errors else self.style_for("bad"),
        )
        rows = height - (text.line_count - 1) - 2
        if rows >= 1 and not any(frame.failures):
            text.append("\n\nno failures so far", self.style_for("good"))
        elif rows >= 1:
            bad = self.style_for("bad")
            for line in spark_rows(frame.failures, width, min(rows - 1, 4) or 1, max(1, max(frame.failures))):
                text.append("\n" + line, bad)
            text.append("\nfailures per interval", muted)
        return text


class ServerPanel(LivePanel):
    """The server's whole process tree: CPU and RSS over time, processes/threads; the loader's CPU."""

    def draw(self, frame: LiveFrame, width: int, height: int) -> Lines:
        tick = frame.tick
        label, big, muted = self.style_for("label"), self.style_for("big"), self.style_for("muted")
        text = Lines()
        flow(
            text,
            [("CPU", f"{tick.server_cpu_pct:.0f} %", big), ("RSS", f"{tick.server_rss_mb:.0f} MB", big)],
            width,
            label,
        )
        text.append("\n")
        flow(
            text,
            [
                (f"{_plural(tick.server_procs, 'proc')} ·", _plural(tick.server_threads, "thread"), muted),
                (
                    "loader CPU",
                    f"{tick.loader_cpu_pct:.0f} %",
                    self.style_for("bad") if tick.loader_saturated else muted,
                ),
            ],
            width,
            muted,
        )
        rows = max(1, min(height - (text.line_count - 1) - 2, self.MAX_SPARK_ROWS + 2))
        rss_rows = 0 if rows < 3 else min(2, rows // 3)
        cpu_rows = rows - rss_rows
        top_cpu = max(100.0, max(frame.server_cpu_pct or (0.0,)))
        stretch = time_stretch(frame, width)
        self.spark(text, stretched(frame.server_cpu_pct, stretch), width, cpu_rows, top_cpu)
        if rss_rows:
            self.spark(text, stretched(frame.server_rss_mb, stretch), width, rss_rows, style="spark2")
        text.append("\n" + "▲ CPU %   ▼ RSS MB"[:width], muted)
        return text


class Banner(Widget):
    """Verdicts and warnings, one line each, coloured by severity; hidden when empty."""

    COMPONENT_CLASSES = {"banner--warn", "banner--info", "banner--error"}

    #: (severity, text) pairs; severity is "warn", "info" or "error"
    lines: reactive[tuple[tuple[str, str], ...]] = reactive((), layout=True)

    def watch_lines(self, lines: tuple[tuple[str, str], ...]) -> None:
        self.display = bool(lines)

    def render(self) -> RenderableType:
        text = Text(overflow="ellipsis")
        icons = {"warn": "⚠ ", "error": "✗ ", "info": "ℹ "}
        for i, (severity, line) in enumerate(self.lines):
            if i:
                text.append("\n")
            text.append(icons.get(severity, "") + line, self.get_component_rich_style(f"banner--{severity}"))
        return text


def _run_label(result: RunResult) -> str:
    return result.backend if result.workload in ("hello", "") else f"{result.backend}/{result.workload}"


class RunBars(Widget):
    """Compare view header: 2xx req/s and p99 of every finished run as horizontal bars,
    in the reports' order with their best run starred (wsgicompare.export.ranking)."""

    COMPONENT_CLASSES = {"bars--rps", "bars--p99", "bars--label", "bars--failed"}

    results: reactive[tuple[RunResult, ...]] = reactive((), layout=True)

    def render(self) -> RenderableType:
        if not self.results:
            return Text("no finished runs yet — press l on a backend, or a to run all", style="dim")
        ok = [r for r in self.results if r.status == "ok"]
        best = best_runs(self.results)
        peak_rps = max((r.rps_2xx for r in ok), default=0.0)
        peak_p99 = max((float(r.latency_ms.get("p99") or 0) for r in ok), default=0.0)
        bar_w = max(6, (self.content_size.width - 42) // 2)
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(no_wrap=True, width=bar_w)
        table.add_column(justify="right", no_wrap=True)
        table.add_column(no_wrap=True, width=bar_w)
        table.add_row(Text("run", style="bold"), Text("2xx req/s", style="bold"), "", Text("p99 ms", style="bold"), "")
        rps_style = self.get_component_rich_style("bars--rps")
        p99_style = self.get_component_rich_style("bars--p99")
        for r in ordered(self.results):
            label = _run_label(r) + (" ★" if id(r) in best else "")
            if r.status != "ok":
                table.add_row(
                    label,
                    "—",
                    Text(f"{r.status}: {r.reason}", style=self.get_component_rich_style("bars--failed")),
                    "",
                    "",
                )
                continue
            p99 = float(r.latency_ms.get("p99") or 0)
            table.add_row(
                label,
                human_count(r.rps_2xx),
                Text(hbar(r.rps_2xx, peak_rps, bar_w), style=rps_style),
                fmt_ms(p99),
                Text(hbar(p99, peak_p99, bar_w), style=p99_style),
            )
        return table


class RunColumn(Widget):
    """One finished run in miniature: the four panels' figures stacked in a narrow column."""

    COMPONENT_CLASSES = {"column--title", "column--label", "column--spark", "column--good", "column--bad"}

    def __init__(self, result: RunResult, **kwargs) -> None:
        super().__init__(**kwargs)
        self.result = result

    def render(self) -> RenderableType:
        r = self.result
        width = max(10, self.content_size.width)
        label = self.get_component_rich_style("column--label")
        spark = self.get_component_rich_style("column--spark")
        good, bad = self.get_component_rich_style("column--good"), self.get_component_rich_style("column--bad")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(_run_label(r), self.get_component_rich_style("column--title"))
        text.append(f"\n{r.title}"[: width + 1], label)
        if r.status != "ok":
            text.append(f"\n\n{r.status}", bad)
            for chunk in _wrap(r.reason, width):
                text.append("\n" + chunk, bad)
            return text
        lat = r.latency_ms
        text.append("\n\nThroughput", label)
        text.append(f"\n{human_count(r.rps_2xx)} 2xx req/s")
        series = resample([float(p.get("rps", 0)) for p in r.timeline], width)
        for line in spark_rows(series, width, 2):
            text.append("\n" + line, spark)
        text.append("\n\nLatency ms", label)
        text.append(f"\np50 {fmt_ms(lat.get('p50'))}  p90 {fmt_ms(lat.get('p90'))}")
        text.append(f"\np99 {fmt_ms(lat.get('p99'))}  max {fmt_ms(lat.get('max'))}")
        text.append("\n\nFailures", label)
        avail = r.availability_pct
        text.append("\navail ")
        text.append("—" if avail is None else f"{avail:.2f} %", good if (avail or 0) >= 99.9 else bad)
        errors = sum(r.errors.values())
        non2xx = sum(v for k, v in r.responses.items() if k != "2xx")
        text.append(f"\nerrors {errors}  non-2xx {non2xx}", bad if errors or non2xx else None)
        text.append("\n\nServer", label)
        cpu = r.server.get("cpu_pct_mean")
        rss = r.server.get("rss_mb_max")
        text.append(f"\nCPU {cpu:.0f} %" if cpu is not None else "\nCPU —")
        text.append(f"  RSS {rss:.0f} MB" if rss is not None else "  RSS —")
        procs, threads = r.server.get("procs"), r.server.get("threads")
        text.append(f"\n{_plural(procs, 'proc')} · {_plural(threads, 'thread')}")
        cpu_series = resample([float(p.get("server_cpu_pct", 0)) for p in r.timeline], width)
        for line in spark_rows(cpu_series, width, 1, max([100.0, *cpu_series])):
            text.append("\n" + line, spark)
        for verdict in r.verdicts:
            for i, chunk in enumerate(_wrap(verdict, width - 2)):
                text.append("\n" + ("⚠ " if i == 0 else "  ") + chunk, bad)
        return text


def _plural(count: Any, noun: str) -> str:
    if count is None:
        return f"— {noun}s"
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _wrap(line: str, width: int) -> Iterable[str]:
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
