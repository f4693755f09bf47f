"""The compare view's header: 2xx req/s and p99 of every finished run as bars."""

from __future__ import annotations

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from wsgicompare.export.ranking import best_runs, ordered
from wsgicompare.results import RunResult

from ..model import fmt_ms, human_count
from .draw import hbar


def run_label(result: RunResult) -> str:
    label = result.backend if result.workload in ("hello", "") else f"{result.backend}/{result.workload}"
    # a run read from a saved report (--open) says which one: several files sit side by side
    return f"{label} · {result.source}" if result.source else label


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
            label = run_label(r) + (" ★" if id(r) in best else "")
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
