"""The Latency panel: percentiles of this interval and of the run, and the distribution."""

from __future__ import annotations

from ..model import LiveFrame, fmt_ms
from .draw import Lines, bin_edge_ms, flow
from .live_panel import LivePanel
from .throughput import draw_timeline


class LatencyPanel(LivePanel):
    """p50/p90/p99/max of this interval and of the run so far, and the distribution; in a
    scenario run, the p99 over time instead, with the event marked (as the throughput's)."""

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
        if frame.scenario:
            text.append("\n" + f"p99 over time, top {fmt_ms(max(frame.p99_ms, default=0.0))} ms", muted)
            draw_timeline(self, text, frame, frame.p99_ms, width, max(1, rows - 1))
            return text
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
