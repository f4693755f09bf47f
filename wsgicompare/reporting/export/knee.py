"""The HTML report's knee chart: latency (the SLO's percentile) against offered load, both
on log axes, for every run with capacity steps.

Made to be read with a dozen backends or more: each run's steps are joined in order of
offered rate (a search measures them out of order: bracket, then bisect), one point per
rate; the SLO is a dashed line across the whole x axis (from the lowest plotted rate, as
a log axis has no 0); the first ``HIGHLIGHT`` runs of the ranking are drawn strong and
the rest thin and faded; each capacity is a large dot on its own curve, and the legend
says the figure (or "loader-bound at X req/s"). Axis labels are a 1-2-5 ladder, thinned
to decades when a range is too wide for them to stay apart."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from pygal.style import DefaultStyle

from wsgicompare.engine.capacity import capacity_text
from wsgicompare.reporting.export.ranking import capacity_rps
from wsgicompare.results import CapacityResult, RunResult

#: runs drawn strong (the ranking's first); the rest are thin and faded, unless there is
#: only one more (then every run is strong)
HIGHLIGHT = 5
#: strong colours: dark enough for a thick line on white, far apart in hue
STRONG = ("#1565C0", "#C62828", "#2E7D32", "#EF6C00", "#6A1B9A")
#: faded colours, cycled: light, half-transparent, still told apart in the legend
FADED = (
    "rgba(0, 150, 136, 0.45)",
    "rgba(121, 85, 72, 0.45)",
    "rgba(233, 30, 99, 0.40)",
    "rgba(96, 125, 139, 0.50)",
    "rgba(205, 170, 0, 0.55)",
    "rgba(63, 81, 181, 0.40)",
    "rgba(139, 195, 74, 0.55)",
    "rgba(156, 39, 176, 0.40)",
    "rgba(255, 87, 34, 0.40)",
    "rgba(3, 169, 244, 0.45)",
)
SLO_COLOUR = "#212121"
#: legend columns and its font size (px): pygal spaces its rows 1.5 font sizes apart
LEGEND_COLUMNS, LEGEND_FONT_PX = 3, 13
#: the chart's height without its legend (px): plot, titles, axis labels
PLOT_PX = 400
#: pygal's margin around the chart (px)
MARGIN_PX = 20


def knee_points(cap: CapacityResult | None) -> list[tuple[float, float]]:
    """(offered req/s, latency ms) of a run's steps in ascending rate, one per rate (a
    rate measured twice, e.g. a loader-bound step measured again, keeps its last
    measurement). The latency is the SLO's percentile (p99 for older reports)."""
    return cap.knee() if cap is not None else []


def log_ticks(lo: float, hi: float, decades_for_125: float = 4.0) -> list[float]:
    """Round values (1-2-5 per decade, or only powers of ten when the range spans more
    than ``decades_for_125`` decades) from the last one at or below ``lo`` to the first
    at or above ``hi``: labels that never crowd (pygal's own log labels do, 500 to 1000)."""
    lo, hi = max(lo, 1e-3), max(hi, lo * 1.0001)
    steps = (1.0, 2.0, 5.0) if math.log10(hi / lo) <= decades_for_125 else (1.0,)
    ladder = [m * 10.0**e for e in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 2) for m in steps]
    first = max(v for v in ladder if v <= lo * 1.0001)
    last = min(v for v in ladder if v >= hi / 1.0001)
    return [v for v in ladder if first <= v <= last]


def inner_ticks(lo: float, hi: float) -> list[float]:
    """The 1-2-5 values within [lo, hi] (powers of ten only for a wide range): x labels
    that keep the axis at the data's own ends, where the SLO line starts and stops."""
    wide = math.log10(max(hi, lo * 1.0001) / lo) > 2.5
    ticks = [v for v in log_ticks(lo, hi, 0.0 if wide else 99.0) if lo / 1.0001 <= v <= hi * 1.0001]
    return ticks if len(ticks) >= 2 else sorted({lo, hi, *ticks})  # a narrow range: its ends


def tick_label(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def knee_chart(runs: Sequence[RunResult], label: Callable[[RunResult], str], cfg: dict[str, Any], pygal: Any) -> str:
    """The chart's SVG for ``runs`` (in the ranking's order; those without steps are
    left out by the caller)."""
    curves = [(r, knee_points(r.capacity)) for r in runs]
    curves = [(r, points) for r, points in curves if points]
    cap = runs[0].capacity if runs else None
    percentile, budget = (cap.budget if cap is not None else None) or ("p99", None)
    xs = [x for _, points in curves for x, _ in points]
    ys = [y for _, points in curves for _, y in points] + ([float(budget)] if budget else [])
    strong = len(curves) if len(curves) <= HIGHLIGHT + 1 else HIGHLIGHT
    colours = [SLO_COLOUR] if budget else []
    colours += [STRONG[i % len(STRONG)] if i < strong else FADED[(i - strong) % len(FADED)] for i in range(len(curves))]
    style = DefaultStyle(
        colors=tuple(colours),
        legend_font_size=LEGEND_FONT_PX,
        label_font_size=12,
        major_label_font_size=12,
        # light solid guides: the one dashed dark line is the SLO
        guide_stroke_color="#e4e4e4",
        major_guide_stroke_color="#e4e4e4",
        guide_stroke_dasharray="none",
        major_guide_stroke_dasharray="none",
    )
    entries = len(curves) + (1 if budget else 0)
    rows = math.ceil(entries / LEGEND_COLUMNS)
    # pygal reserves entries // columns legend rows: one short when they do not divide
    short = (rows - entries // LEGEND_COLUMNS) * 1.5 * max(LEGEND_FONT_PX, 12)
    chart = pygal.XY(
        **{
            **cfg,
            "style": style,
            "height": PLOT_PX + round(rows * 1.5 * LEGEND_FONT_PX),
            "legend_at_bottom_columns": LEGEND_COLUMNS,
            "margin_bottom": round(MARGIN_PX + short),
        },
        title=f"Latency vs offered load ({percentile} ms against offered req/s, both log scale)",
        logarithmic=True,
        x_title="offered req/s",
        stroke=True,
        show_minor_x_labels=True,
        show_minor_y_labels=True,
    )
    if not xs:
        return str(chart.render(is_unicode=True))
    lo, hi = min(xs), max(xs)
    chart.x_labels = inner_ticks(lo, hi)
    chart.y_labels = log_ticks(min(ys), max(ys))
    chart.x_value_formatter = chart.value_formatter = tick_label
    if budget:
        # across the whole x axis: from the lowest plotted rate (a log axis has no 0) to the highest
        chart.add(
            f"SLO: {percentile} ≤ {float(budget):g} ms",
            [(lo, float(budget)), (hi, float(budget))],
            show_dots=False,
            stroke_style={"width": 2.5, "dasharray": "9,6"},
        )
    for i, (r, points) in enumerate(curves):
        bold = i < strong
        at = r.capacity.offered_rps if r.capacity is not None and capacity_rps(r) is not None else None
        values: list[Any] = [
            {"value": (x, y), "node": {"r": 7 if bold else 4}} if at is not None and x == float(at) else (x, y)
            for x, y in points
        ]
        chart.add(
            f"{label(r)} · {capacity_text(r.capacity)}",
            values,
            dots_size=3 if bold else 1.5,
            stroke_style={"width": 3 if bold else 1.2, "linejoin": "round"},
        )
    return str(chart.render(is_unicode=True))
