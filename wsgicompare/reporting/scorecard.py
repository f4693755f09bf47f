"""The scorecard of scenario runs (Markdown and HTML, and the app's compare view): one
row per backend, one column per scenario, each cell a short judgement with its figure,
read from a run's ``scenario`` entry (wsgicompare/engine/scenarios.py writes it); and the HTML's
timeline per scenario run with its event marked."""

from __future__ import annotations

import html
from typing import Any

from wsgicompare.engine.scenarios import ONE_PROCESS, RECOVERED_SHARE, SCENARIOS, fig
from wsgicompare.engine.slow_events import NOUN, SLOW_SCENARIOS, STARVED_SHARE
from wsgicompare.results import RunResult, ScenarioResult


def cell(s: ScenarioResult) -> tuple[bool | None, str]:
    """(good?, a short judgement with its figure) for one scorecard cell."""
    good, text = _judgement(s)
    return good, text + (" (loader-bound)" if s.loader_bound else "")


def _judgement(s: ScenarioResult) -> tuple[bool | None, str]:
    if s.status == "unsupported":
        return None, "unsupported"
    if s.status != "ok":
        return False, f"✗ failed: {s.reason or 'no reason given'}"
    failed = s.failed_requests or 0
    if s.reason == ONE_PROCESS:
        return False, f"✗ not recovered: one process ({failed} failed)"
    if s.server_exited:
        return False, f"✗ not recovered: the server exited ({failed} failed)"
    if s.name in (*SLOW_SCENARIOS, "overload"):
        return loader_event_cell(s)
    if not s.recovered:
        return False, f"✗ not recovered, {failed} failed"
    back = s.recovery_s or 0.0
    if s.name == "reload":
        good = failed == 0
        return good, f"{'✓' if good else '✗'} {failed} failed, max {fig(s.max_ms_since_event)} ms"
    return True, f"✓ back in {back:.1f} s, {failed} failed"


def scorecard(results: list[RunResult]) -> tuple[list[str], list[tuple[str, list[tuple[bool | None, str]]]]]:
    """(scenario columns, rows of (backend, cells)); empty when no run has a scenario."""
    scenarios = [(r, r.scenario) for r in results if r.scenario is not None]
    columns = [n for n in SCENARIOS if any(s.name == n for _, s in scenarios)]
    several = len({r.workload for r, _ in scenarios}) > 1  # then a row per backend · workload
    rows: dict[str, dict[str, tuple[bool | None, str]]] = {}
    for r, s in scenarios:
        rows.setdefault(f"{r.backend} · {r.workload}" if several else r.backend, {})[s.name] = cell(s)
    return columns, [(b, [cells.get(c, (None, "—")) for c in columns]) for b, cells in rows.items()]


def scorecard_md(results: list[RunResult]) -> list[str]:
    columns, rows = scorecard(results)
    if not rows:
        return []
    lines = [
        "## Scorecard: what happens when things go wrong",
        "",
        "| backend | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for backend, cells in rows:
        lines.append(f"| `{backend}` | " + " | ".join(text.replace("|", "\\|") for _, text in cells) + " |")
    return [*lines, ""]


def scorecard_html(results: list[RunResult]) -> str:
    columns, rows = scorecard(results)
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for backend, cells in rows:
        tds = "".join(
            f'<td class="{"ok" if good else "failed" if good is False else ""}">{html.escape(text)}</td>'
            for good, text in cells
        )
        body.append(f"<tr><td>{html.escape(backend)}</td>{tds}</tr>")
    return (
        "<h2>Scorecard: what happens when things go wrong</h2>\n"
        f"<table>\n<tr><th>backend</th>{head}</tr>\n" + "\n".join(body) + "\n</table>"
    )


def scenario_timelines(results: list[RunResult], cfg: dict[str, Any], pygal: Any) -> list[tuple[str, str]]:
    """(title, SVG) per scenario run: its responses per second over time, each event the
    timeline carries (the event, a loader event's end) marked where it happened."""
    out = []
    for r in results:
        s = r.scenario
        points = [(p.t, p.rps) for p in r.timeline if p.t is not None and p.rps is not None]
        events = [(p.t, p.event) for p in r.timeline if p.event and p.t is not None]
        if not events and s and s.event_t is not None:  # a report saved before ticks carried it
            events = [(s.event_t, f"{s.name} ({s.event.get('signal', 'event')})")]
        if not s or not events or not points:
            continue
        title = f"{r.backend} · {s.name}: responses per second, the event at t={events[0][0]:.1f} s"
        chart = pygal.XY(title=title, show_dots=False, x_title="seconds", **cfg)
        chart.add("req/s (any status)", points)
        top = max(rps for _, rps in points) or 1.0
        for t, what in events:
            chart.add(what, [(t, 0), (t, top)])
        out.append((f"{r.backend} · {s.name}", chart.render(is_unicode=True)))
    return out


def loader_event_cell(s: ScenarioResult) -> tuple[bool | None, str]:
    """The scorecard cell of a slow-transfer (clients, readers, uploads) or overload run."""
    kept = s.kept_share or 0.0
    if s.name in SLOW_SCENARIOS:
        k = s.event.get("slow_clients")  # what the event did: its own keys
        held = s.slow_clients_held if s.slow_clients_held is not None else k
        few = f" ({held} of {k} held)" if k is not None and held is not None and held < k else ""
        if kept < STARVED_SHARE:
            return False, f"✗ starved: {100 * kept:.0f} % of its rate with {k} {NOUN[s.name]}{few}"
        good = kept >= RECOVERED_SHARE
        return good, f"{'✓' if good else '✗'} kept {100 * kept:.0f} % of its rate{few}"
    failed = s.failed_requests or 0
    mode = s.mode if s.mode is not None else "queues"
    if s.overloaded is False:
        offered = s.event.get("offered_rps") or 0.0
        return None, f"not overloaded: kept up with {offered:,.0f} req/s (capacity too low)"
    if s.recovered:
        return True, f"✓ {mode}; back in {s.recovery_s or 0:.1f} s, {failed} failed"
    # the run ended first: say how long *after* was (a queue takes its excess over the spare rate to drain)
    after = s.phase("after")
    within = f" within {after.span_s:.1f} s" if after else ""
    return False, f"✗ {mode}; not back{within}, {failed} failed"
