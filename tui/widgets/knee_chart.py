"""The knee chart of the compare view: latency (the SLO's percentile, log axis) against
offered load for every run that carries capacity steps, the SLO as a dashed line and
each run's capacity starred, drawn in character cells."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from wsgicompare.results import RunResult
from wsgicompare.session import capacity_figure, capacity_text, ordered

from ..model import fmt_ms, human_count
from .run_bars import run_label

#: one marker per run, in the runs' order (then again)
MARKERS = "●▲■◆▼✚"
#: how many run colours the stylesheet defines (knee--run0 …)
RUN_STYLES = 6
#: characters of the y-axis labels
AXIS_W = 9


@dataclass(frozen=True)
class KneeSeries:
    """One run's curve: (offered req/s, latency ms) points and its capacity, if any."""

    label: str
    points: tuple[tuple[float, float], ...]
    #: the offered rate of the step the capacity came from
    capacity_at: float | None
    capacity_rps: float | None
    #: what the legend says of the capacity: "1,200 req/s" (and "unconfirmed"), or why
    #: there is none ("loader-bound at 1.6k", "no rate met" …): capacity_text
    shown: str = ""


def knee_series(results: Sequence[RunResult]) -> tuple[list[KneeSeries], float | None, str]:
    """The curves of the runs with capacity steps (in the reports' order), the SLO's
    latency (ms) and its percentile, read from the first run that has one."""
    series = []
    slo_ms: float | None = None
    percentile = "p99"
    for r in ordered(results):
        cap = r.capacity
        if cap is None or not cap.steps:
            continue
        within = cap.budget
        if within is not None and slo_ms is None:
            percentile, slo_ms = within[0], float(within[1])
        by_slo = any(s.slo_ms is not None for s in cap.steps)
        points = sorted(
            (float(s.rate), float(latency))
            for s in cap.steps
            if (latency := s.slo_ms if by_slo else s.p99_ms) is not None and s.rate
        )
        rps = capacity_figure(cap)
        series.append(
            KneeSeries(
                label=run_label(r),
                points=tuple(points),
                capacity_at=None if rps is None or cap.offered_rps is None else float(cap.offered_rps),
                capacity_rps=rps,
                shown=capacity_text(cap, human_count, figure=lambda x: f"{x:,.0f} req/s", none="no rate met"),
            )
        )
    return series, slo_ms, percentile


def knee_text(
    series: Sequence[KneeSeries],
    slo_ms: float | None,
    percentile: str,
    width: int,
    height: int,
    styles: dict[str, Style] | None = None,
) -> Text:
    """The chart in ``height`` lines (plot, x axis, legend) of ``width`` cells."""
    st = styles or {}
    text = Text(no_wrap=True, overflow="ellipsis")
    points = [p for s in series for p in s.points]
    if not points:
        text.append("no capacity steps: press f on a backend (or tick “capacity” and press a)", st.get("axis"))
        return text
    legend_rows = math.ceil(len(series) / max(1, width // 36))
    plot_h = max(3, height - 1 - legend_rows)
    plot_w = max(10, width - AXIS_W - 1)
    x_max = max(x for x, _ in points) * 1.05
    lats = [y for _, y in points] + ([slo_ms] if slo_ms else [])
    y_lo, y_hi = math.log10(max(0.01, min(lats) / 1.5)), math.log10(max(lats) * 1.5)

    def col(x: float) -> int:
        return min(plot_w - 1, max(0, round(x / x_max * (plot_w - 1))))

    def row(y: float) -> int:  # 0 = top
        f = (math.log10(max(y, 0.01)) - y_lo) / max(1e-9, y_hi - y_lo)
        return min(plot_h - 1, max(0, round((1 - f) * (plot_h - 1))))

    cells: list[list[tuple[str, Style | None]]] = [[(" ", None)] * plot_w for _ in range(plot_h)]
    slo_row = row(slo_ms) if slo_ms else None
    if slo_row is not None:
        cells[slo_row] = [("┄", st.get("slo"))] * plot_w
    for i, s in enumerate(series):
        style = st.get(f"run{i % RUN_STYLES}")
        marker = MARKERS[i % len(MARKERS)]
        # dots along the curve between its steps, under the markers
        for (x0, y0), (x1, y1) in zip(s.points, s.points[1:]):
            c0, c1 = col(x0), col(x1)
            for c in range(c0 + 1, c1):
                t = (c - c0) / (c1 - c0)
                y = 10 ** (math.log10(max(y0, 0.01)) * (1 - t) + math.log10(max(y1, 0.01)) * t)
                r = row(y)
                if cells[r][c][0] in (" ", "┄"):
                    cells[r][c] = ("·", style)
        for x, y in s.points:
            star = s.capacity_at is not None and abs(x - s.capacity_at) < 0.06
            cells[row(y)][col(x)] = ("★" if star else marker, style)
    labels = {0: fmt_ms(10**y_hi), plot_h - 1: fmt_ms(10**y_lo)}
    if slo_row is not None and slo_ms is not None:
        labels[slo_row] = f"SLO {fmt_ms(slo_ms)}"
    for r in range(plot_h):
        if r:
            text.append("\n")
        text.append(labels.get(r, "").rjust(AXIS_W)[:AXIS_W] + "│", st.get("slo") if r == slo_row else st.get("axis"))
        for ch, style in cells[r]:
            text.append(ch, style)
    axis = f"0 req/s offered  ({percentile} ms, log)".ljust(plot_w - 6) + human_count(x_max).rjust(6)
    text.append("\n" + " " * AXIS_W + "└" + axis[:plot_w], st.get("axis"))
    per_row = max(1, width // 36)
    for i, s in enumerate(series):
        text.append("\n" if i % per_row == 0 else "  ")
        style = st.get(f"run{i % RUN_STYLES}")
        cap = f"★ {s.shown}" if s.capacity_rps is not None else (s.shown or "no rate met")
        text.append(f"{MARKERS[i % len(MARKERS)]} {s.label} ", style)
        room = max(0, 34 - len(s.label) - 3)
        text.append((cap if len(cap) <= room else cap[: max(0, room - 1)] + "…").ljust(room), st.get("axis"))
    return text


class KneeChart(Widget):
    """Latency vs offered load of every capacity run; hidden when no run has steps."""

    COMPONENT_CLASSES = {"knee--axis", "knee--slo", *(f"knee--run{i}" for i in range(RUN_STYLES))}

    results: reactive[tuple[RunResult, ...]] = reactive(())

    def watch_results(self, results: tuple[RunResult, ...]) -> None:
        self.display = any(r.capacity and r.capacity.steps for r in results)

    def render(self) -> RenderableType:
        series, slo_ms, percentile = knee_series(self.results)
        names = ("axis", "slo", *(f"run{i}" for i in range(RUN_STYLES)))
        styles = {k: self.get_component_rich_style(f"knee--{k}") for k in names}
        size = self.content_size
        return knee_text(series, slo_ms, percentile, size.width, size.height, styles)
