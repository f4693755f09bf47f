"""The Throughput panel: req/s now and mean, and req/s over time."""

from __future__ import annotations

from collections.abc import Sequence

from ..model import LiveFrame, human_count
from .draw import EVENT_GLYPH, Lines, append_marked, event_axis, flow, spark_rows, timeline
from .live_panel import LivePanel, interval_s, stretched, time_stretch


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
        if frame.scenario:
            draw_timeline(self, text, frame, frame.rps, width, rows)
            return text
        stretch = time_stretch(frame, width)
        series = stretched(frame.rps, stretch)
        self.spark(text, series, width, rows)
        # the x axis: seconds of measured load at the left and right ends of the chart
        right = f"{tick.elapsed_s:.0f} s"
        span_points = min(len(series), width) / stretch
        left_s = max(0.0, tick.elapsed_s - span_points * interval_s(frame))
        left = f"{left_s:.0f} s"
        text.append("\n" + left.ljust(max(1, min(len(series), width) - len(right))) + right, self.style_for("muted"))
        return text


def draw_timeline(
    panel: LivePanel, text: Lines, frame: LiveFrame, values: Sequence[float], width: int, rows: int
) -> None:
    """A scenario run drawn whole, its event a red column through the chart and named
    on the axis under it (the latency panel draws its p99 the same way)."""
    cols, event_col = timeline(values, width, time_stretch(frame, width), frame.event_index)
    event = panel.style_for("bad")
    append_marked(
        text, spark_rows(cols, width, min(rows, panel.MAX_SPARK_ROWS)), event_col, panel.style_for("spark"), event
    )
    label = f"{EVENT_GLYPH}{frame.event.split(':')[0]}" if frame.event else ""
    muted = panel.style_for("muted")
    head, label, tail = event_axis("0 s", f"{frame.tick.elapsed_s:.0f} s", label, event_col, width)
    text.append("\n" + head, muted)
    text.append(label, event)
    text.append(tail, muted)
