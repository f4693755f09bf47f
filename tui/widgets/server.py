"""The Server panel: the server's process tree (CPU, RSS, USS, processes, threads) and the loader's CPU."""

from __future__ import annotations

from ..model import LiveFrame
from .draw import Lines, flow, plural
from .live_panel import LivePanel, stretched, time_stretch


class ServerPanel(LivePanel):
    """The server's whole process tree: CPU and RSS over time, its USS (the pages its processes
    do not share: a pre-fork server's RSS counts the shared ones once per worker),
    processes/threads; the loader's CPU."""

    def draw(self, frame: LiveFrame, width: int, height: int) -> Lines:
        tick = frame.tick
        label, big, muted = self.style_for("label"), self.style_for("big"), self.style_for("muted")
        text = Lines()
        memory = [("RSS", f"{tick.server_rss_mb:.0f} MB", big)]
        if tick.server_uss_mb is not None:  # read from the first measured tick on
            memory.append(("USS", f"{tick.server_uss_mb:.0f} MB", big))
        flow(text, [("CPU", f"{tick.server_cpu_pct:.0f} %", big), *memory], width, label)
        text.append("\n")
        flow(
            text,
            [
                (f"{plural(tick.server_procs, 'proc')} ·", plural(tick.server_threads, "thread"), muted),
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
