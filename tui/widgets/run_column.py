"""One finished run in the compare view, in miniature."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from wsgicompare.results import RunResult
from wsgicompare.session import capacity_figure, capacity_text

from ..model import fmt_ms, human_count
from .draw import plural, resample, spark_rows, wrap
from .run_bars import run_label


def charted(r: RunResult, key: str) -> list[float]:
    """The timeline's ``key`` (rps, server_cpu_pct) point by point, for a sparkline; a point
    without it (a scenario's event tick that was a sliver) is left out, not drawn as 0."""
    return [float(v) for p in r.timeline if (v := getattr(p, key)) is not None]


class RunColumn(Widget):
    """One finished run in miniature: the four panels' figures stacked in a narrow column."""

    COMPONENT_CLASSES = {"column--title", "column--label", "column--spark", "column--good", "column--bad"}

    def __init__(self, result: RunResult, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result

    def render(self) -> RenderableType:
        r = self.result
        width = max(10, self.content_size.width)
        label = self.get_component_rich_style("column--label")
        spark = self.get_component_rich_style("column--spark")
        good, bad = self.get_component_rich_style("column--good"), self.get_component_rich_style("column--bad")
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(run_label(r), self.get_component_rich_style("column--title"))
        text.append(f"\n{r.title}"[: width + 1], label)
        if r.status != "ok":
            text.append(f"\n\n{r.status}", bad)
            for chunk in wrap(r.reason, width):
                text.append("\n" + chunk, bad)
            if r.capacity and r.capacity.steps:  # a search that ended early: what it met
                self._capacity(text, width, label, good, bad)
            return text
        if r.capacity:
            self._capacity(text, width, label, good, bad)
        lat = r.latency_ms
        text.append("\n\nThroughput", label)
        text.append(f"\n{human_count(r.rps_2xx)} 2xx req/s")
        series = resample(charted(r, "rps"), width)
        for line in spark_rows(series, width, 2):
            text.append("\n" + line, spark)
        text.append("\n\nLatency ms", label)
        text.append(f"\np50 {fmt_ms(lat.p50)}  p90 {fmt_ms(lat.p90)}")
        text.append(f"\np99 {fmt_ms(lat.p99)}  max {fmt_ms(lat.max)}")
        text.append("\n\nFailures", label)
        avail = r.availability_pct
        text.append("\navail ")
        text.append("—" if avail is None else f"{avail:.2f} %", good if (avail or 0) >= 99.9 else bad)
        errors = sum(r.errors.values())
        non2xx = sum(v for k, v in r.responses.items() if k != "2xx")
        text.append(f"\nerrors {errors}  non-2xx {non2xx}", bad if errors or non2xx else None)
        text.append("\n\nServer", label)
        server = r.server
        text.append(f"\nCPU {server.cpu_pct_mean:.0f} %" if server else "\nCPU —")
        text.append(f"  RSS {server.rss_mb_max:.0f} MB" if server else "  RSS —")
        if server is not None and server.uss_mb_max is not None:
            text.append(f"\nUSS {server.uss_mb_max:.0f} MB")
        procs, threads = (server.procs, server.threads) if server else (None, None)
        text.append(f"\n{plural(procs, 'proc')} · {plural(threads, 'thread')}")
        cpu_series = resample(charted(r, "server_cpu_pct"), width)
        for line in spark_rows(cpu_series, width, 1, max([100.0, *cpu_series])):
            text.append("\n" + line, spark)
        for verdict in r.verdicts:
            for i, chunk in enumerate(wrap(verdict, width - 2)):
                text.append("\n" + ("⚠ " if i == 0 else "  ") + chunk, bad)
        return text

    def _capacity(self, text: Text, width: int, label: Style, good: Style, bad: Style) -> None:
        """The capacity at the SLO and the steps behind it: offered → served, latency, met."""
        cap = self.result.capacity
        assert cap is not None  # render: a run with a capacity
        within = cap.budget
        budget = "" if within is None else f"{within[0]} ≤ {within[1]:g} ms"
        text.append("\n\nCapacity", label)
        text.append(f" {budget}"[: max(0, width - 8)], label)
        rps = capacity_figure(cap)
        shown = capacity_text(cap, human_count, figure=lambda x: f"{x:,.0f} req/s")
        text.append("\n" + shown[: max(1, width)], bad if rps is None else good)
        if cap.limit == "max-steps":  # a loader or connection limit is in the line above
            text.append(" (max-steps)", label)
        for step in cap.steps:
            latency = step.slo_ms if step.slo_ms is not None else step.p99_ms
            text.append("\n✓ " if step.met else "\n✗ ", good if step.met else bad)
            line = f"{float(step.rate):>6,.0f}→{float(step.rps):>6,.0f} {fmt_ms(latency):>5} ms"
            text.append(line[: max(0, width - 2)])
