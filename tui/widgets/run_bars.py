"""The compare view's header: 2xx req/s and p99 of every finished run as bars."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from wsgicompare.results import RunResult
from wsgicompare.session import best_runs, by_capacity, capacity_rps, capacity_text, ordered

from ..model import fmt_ms, human_count
from .draw import hbar


def run_label(result: RunResult) -> str:
    # a --url run's workload is its path ("/"): the backend alone says it
    label = result.backend if result.workload in ("hello", "", "/") else f"{result.backend}/{result.workload}"
    if result.scenario:  # one run per scenario: "gunicorn" twice would not tell them apart
        label += f" · {result.scenario.name}"
    # a run read from a saved report (--open) says which one: several files sit side by side
    return f"{label} · {result.source}" if result.source else label


class RunBars(Widget):
    """Compare view header: 2xx req/s and p99 of every finished run as horizontal bars,
    in the reports' order with their best run starred (wsgicompare.reporting.export.ranking).
    When runs carry a capacity, it comes first (with its bar) and decides the order."""

    COMPONENT_CLASSES = {"bars--rps", "bars--p99", "bars--label", "bars--failed", "bars--capacity"}

    results: reactive[tuple[RunResult, ...]] = reactive((), layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        # every row, whatever height was drawn last: render() cuts to the height given
        return 1 + len(self.results) if self.results else 1

    def render(self) -> RenderableType:
        if not self.results:
            return Text("no finished runs yet — press l on a backend, or a to run all", style="dim")
        ok = [r for r in self.results if r.status == "ok"]
        best = best_runs(self.results)
        peak_rps = max((r.rps_2xx for r in ok), default=0.0)
        peak_p99 = max((float(r.latency_ms.p99 or 0) for r in ok), default=0.0)
        cap = by_capacity(self.results)
        peak_cap = max((capacity_rps(r) or 0.0 for r in ok), default=0.0)
        bars = 3 if cap else 2
        heads = ["2xx req/s", "", "p99 ms", ""]
        if cap:
            heads = ["capacity", "", *heads]
        runs = ordered(self.results)
        # a short terminal caps the height (app.tcss): the last row says how many are left out
        room = self.content_size.height - 1
        listed = runs if room >= len(runs) else runs[: max(0, room - 1)]
        labels = [run_label(r) + (" ★" if id(r) in best else "") for r in listed]
        # each figure's column as wide as its header or widest figure: a long run label (a saved
        # report's file name) shortens the bars, then the label itself, never a header
        figures = [_figures(r, cap) for r in listed if r.status == "ok"]
        fig_w = [max([len(h), *(len(f[i]) for f in figures)]) for i, h in enumerate(heads[::2])]
        gaps = 2 * (2 * bars)  # padding (0, 1): two spaces between the grid's 1 + 2 × bars columns
        width = self.content_size.width
        label_w = max(len(label) for label in labels) if labels else 3
        fitted = (width - label_w - sum(fig_w) - gaps) // bars
        bar_w = max(6, min((width - (58 if cap else 42)) // bars, fitted))
        table = Table.grid(padding=(0, 1))
        table.add_column(no_wrap=True, max_width=max(8, width - sum(fig_w) - gaps - bars * bar_w))
        for w in fig_w:
            table.add_column(justify="right", no_wrap=True, min_width=w)
            table.add_column(no_wrap=True, width=bar_w)
        table.add_row(Text("run", style="bold"), *(Text(h, style="bold") for h in heads))
        rps_style = self.get_component_rich_style("bars--rps")
        p99_style = self.get_component_rich_style("bars--p99")
        cap_style = self.get_component_rich_style("bars--capacity")
        failed_style = self.get_component_rich_style("bars--failed")
        for r, label in zip(listed, labels):
            if r.status != "ok":
                table.add_row(label, "—", Text(f"{r.status}: {r.reason}", style=failed_style), *[""] * (bars * 2 - 2))
                continue
            p99 = float(r.latency_ms.p99 or 0)
            cells: list[str | Text] = [
                human_count(r.rps_2xx),
                Text(hbar(r.rps_2xx, peak_rps, bar_w), style=rps_style),
                fmt_ms(p99),
                Text(hbar(p99, peak_p99, bar_w), style=p99_style),
            ]
            if cap:
                found = capacity_rps(r)
                # without a capacity, why in the bar's place ("loader-bound at 1.6k", "none met" …);
                # an unconfirmed one says so beside its figure ("1.0k unconfirmed")
                said = capacity_text(r.capacity, human_count, none="none met" if bar_w >= 8 else "none")
                shown = Text(hbar(found, peak_cap, bar_w), style=cap_style) if found else Text(said, failed_style)
                cells = ["—" if found is None else said, shown, *cells]
            table.add_row(Text(label, no_wrap=True, overflow="ellipsis"), *cells)
        if len(listed) < len(runs):
            # under the table, not in it: a long row would widen the label column
            more = Text(f"… {len(runs) - len(listed)} more runs: see the cards below", style="dim", no_wrap=True)
            return Group(table, more)
        return table


def _figures(r: RunResult, cap: bool) -> list[str]:
    """The figures a run's row shows beside its bars (capacity first when the runs have one)."""
    shown = [human_count(r.rps_2xx), fmt_ms(float(r.latency_ms.p99 or 0))]
    if cap:
        found = capacity_rps(r)
        shown.insert(0, "—" if found is None else capacity_text(r.capacity, human_count))
    return shown
