"""HTML export: one self-contained file (no network at view time) with the comparison
table and SVG charts drawn by pygal: 2xx req/s per run, latency percentiles, answers
per second over time. pygal's tooltip script is loaded from the web by default; we
turn it off (``js=[]``) so the file works offline — the charts stay static SVG."""

from __future__ import annotations

import html
from typing import Any

# pygal (~25 ms) loads with this module, which export.render imports only for an html report
import pygal
from pygal.style import DefaultStyle

from wsgicompare.engine.capacity import capacity_text, capacity_unconfirmed
from wsgicompare.reporting.baseline import Baseline, change_cell
from wsgicompare.reporting.export.fmt import describe_cpus, describe_load, describe_machine, num, pct
from wsgicompare.reporting.export.knee import knee_chart
from wsgicompare.reporting.export.md import new_verdicts
from wsgicompare.reporting.export.ranking import best_runs, by_capacity, capacity_cell, capacity_rps, ordered
from wsgicompare.reporting.recommend.report import html_section as answer_html
from wsgicompare.reporting.scorecard import scenario_timelines, scorecard_html
from wsgicompare.results import SCHEMA, RunResult

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.6rem; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.best { background: #e8f6e8; }
tr.failed, tr.unavailable { color: #999; }
.chart { max-width: 60rem; margin: 1rem 0 2rem; }
code { font-size: 0.85rem; }
"""


def _label(r: RunResult, workloads: int) -> str:
    return r.backend if workloads == 1 else f"{r.backend} · {r.workload}"


#: the over-time chart is drawn for at most this many runs
TIMELINE_MAX_RUNS = 6


def _chart_config() -> dict[str, Any]:
    return dict(
        js=[],  # no tooltip script from the web: the file must work offline
        disable_xml_declaration=True,
        style=DefaultStyle,
        width=900,
        height=420,
        legend_at_bottom=True,
        truncate_legend=-1,
        print_values=False,
    )


def charts(results: list[RunResult]) -> list[tuple[str, str]]:
    cfg = _chart_config()
    measured = [r for r in ordered(results) if r.requests > 0]
    if not measured:
        return []
    nworkloads = len({r.workload for r in measured})
    out = []

    bars = pygal.HorizontalBar(title="Throughput (2xx responses/s)", show_legend=False, **cfg)
    bars.x_labels = [_label(r, nworkloads) for r in reversed(measured)]
    bars.add("2xx req/s", [round(r.rps_2xx, 1) for r in reversed(measured)])
    out.append(("Throughput", bars.render(is_unicode=True)))

    lat = pygal.Bar(title="Latency percentiles (ms, log scale)", logarithmic=True, x_label_rotation=20, **cfg)
    lat.x_labels = [_label(r, nworkloads) for r in measured]
    for key in ("p50", "p90", "p99", "max"):
        lat.add(key, [max(0.001, r.latency_ms.figure(key) or 0.001) for r in measured])
    out.append(("Latency", lat.render(is_unicode=True)))

    out += capacity_charts(measured, nworkloads, cfg, pygal)
    out += scenario_timelines(measured, cfg, pygal)  # wsgicompare/reporting/scorecard.py: a timeline per scenario run
    if len(measured) <= TIMELINE_MAX_RUNS:  # past a handful of lines it is unreadable
        timeline = pygal.XY(title="Responses over time (any status, req/s)", show_dots=False, x_title="seconds", **cfg)
        for r in measured:
            points = [(p.t, p.rps) for p in r.timeline if p.t is not None and p.rps is not None]
            if points:
                timeline.add(_label(r, nworkloads), points)
        out.append(("Throughput over time", timeline.render(is_unicode=True)))
    return out


def capacity_charts(measured: list[RunResult], nworkloads: int, cfg: dict, pygal: Any) -> list[tuple[str, str]]:
    """With capacities: the latency-vs-offered-load curve of every run on one chart
    (wsgicompare/reporting/export/knee.py), and the capacities as bars."""
    runs = [r for r in measured if r.capacity and r.capacity.steps]
    if not runs:
        return []
    out = [("Latency vs offered load", knee_chart(runs, lambda r: _label(r, nworkloads), cfg, pygal))]
    bars = pygal.HorizontalBar(title="Capacity within the SLO (req/s)", show_legend=False, **cfg)
    ranked = sorted(runs, key=lambda r: capacity_rps(r) or 0.0)
    # a run without a capacity says why beside its name (none met, loader-bound at X req/s,
    # search ended early …), an unconfirmed one says so
    bars.x_labels = [_label(r, nworkloads) + _capacity_note(r) for r in ranked]
    bars.add("capacity req/s", [round(capacity_rps(r) or 0.0, 1) for r in ranked])
    out.append(("Capacity", bars.render(is_unicode=True)))
    return out


def _capacity_note(r: RunResult) -> str:
    """`` (why)`` beside the name of a run without a capacity or with an unconfirmed one."""
    plain = capacity_rps(r) is not None and capacity_unconfirmed(r.capacity) is None
    return "" if plain else f" ({capacity_text(r.capacity)})"


def _table(results: list[RunResult], baseline: Baseline | None = None) -> str:
    cap = by_capacity(results)
    delta = baseline is not None
    head = (
        "backend",
        "workload",
        "status",
        *(["capacity req/s", *(["Δ capacity"] if delta else [])] if cap else []),
        "2xx req/s",
        *(["Δ 2xx req/s"] if delta else []),
        "p50 ms",
        "p99 ms",
        *(["Δ p99"] if delta else []),
        "max ms",
        "failures",
        "availability",
        "server CPU %",
        "RSS MB",
        "USS MB",
        "startup s",
        "notes",
    )
    best = best_runs(results)
    rows = ["<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>"]
    for r in ordered(results):
        lat = r.latency_ms
        cls = "best" if id(r) in best else r.status
        notes = ([r.reason] if r.reason else []) + new_verdicts(r)
        if r.server is not None and r.server.memory_note:
            notes.append(r.server.memory_note)

        def change(name: str, r: RunResult = r) -> list[tuple[str, str]]:
            return [(change_cell(r, baseline, name), "n")] if baseline is not None else []

        cells = [
            (f"<code>{html.escape(r.backend)}</code>" + (" ★" if id(r) in best else ""), ""),
            (html.escape(r.workload), ""),
            (html.escape(r.status), ""),
            *([(html.escape(capacity_cell(r)), "n"), *change("capacity")] if cap else []),
            (num(r.rps_2xx, 1) if r.requests else "—", "n"),
            *change("rps_2xx"),
            (num(lat.p50, 2), "n"),
            (num(lat.p99, 2), "n"),
            *change("p99"),
            (num(lat.max, 2), "n"),
            (num(r.failures) if r.requests else "—", "n"),
            (pct(r.availability_pct), "n"),
            (num(r.server.cpu_pct_mean if r.server else None, 0), "n"),
            (num(r.server.rss_mb_max if r.server else None, 1), "n"),
            (num(r.server.uss_mb_max if r.server else None, 1), "n"),
            (num(r.startup_s, 2), "n"),
            ("<br>".join(html.escape(n) for n in notes), ""),
        ]
        rows.append(f'<tr class="{cls}">' + "".join(f'<td class="{c}">{v}</td>' for v, c in cells) + "</tr>")
    return "<table>\n" + "\n".join(rows) + "\n</table>"


def render(results: list[RunResult], meta: dict[str, Any]) -> str:
    load = meta.get("load", {})
    machine = meta.get("machine", {})
    pinning = machine.get("pinning") or {}
    baseline = meta.get("baseline")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>wsgicompare report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>wsgicompare report</h1>",
        *([answer_html(meta["recommendation"])] if meta.get("recommendation") else []),  # --recommend: the answer first
        "<ul>",
        f"<li>created: {html.escape(str(meta.get('created', '—')))} ({SCHEMA})</li>",
        f"<li>machine: {html.escape(describe_machine(machine))}</li>",
        f"<li>pinning: loader {describe_cpus(pinning.get('loader_cpus'))} · "
        f"server {describe_cpus(pinning.get('server_cpus'))}</li>",
        f"<li>load: {html.escape(describe_load(load))}</li>",
        *([f"<li>target: {html.escape(str(load['url']))}</li>"] if load.get("url") else []),
        *([f"<li>baseline: {html.escape(baseline.describe())}; Δ: change from its run</li>"] if baseline else []),
        "</ul>",
        "<h2>Comparison</h2>",
        _table(results, baseline),
        scorecard_html(results),  # wsgicompare/reporting/scorecard.py: empty without --scenario
    ]
    for title, svg in charts(results):
        parts += [f"<h2>{html.escape(title)}</h2>", f'<div class="chart">{svg}</div>']
    parts.append("<h2>Commands</h2>")
    for r in ordered(results):
        if r.command:
            parts.append(f"<h3>{html.escape(r.backend)}</h3><pre>{html.escape(chr(10).join(r.command))}</pre>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
