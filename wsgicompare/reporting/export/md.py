"""Markdown report: a header (machine, load, pinning), one comparison table sorted by
2xx req/s with the best marked (see ranking.py), then a siege-style block per run so
readers who know siege's summary recognise every line."""

from __future__ import annotations

from typing import Any

from wsgicompare.reporting.baseline import Baseline, change_cell
from wsgicompare.reporting.export.fmt import describe_cpus, describe_load, describe_machine, num, pct
from wsgicompare.reporting.export.ranking import best_runs, by_capacity, capacity_cell, ordered
from wsgicompare.reporting.recommend.report import markdown as answer_md
from wsgicompare.reporting.scorecard import scorecard_md
from wsgicompare.reporting.thresholds import broken, meta_checks, parse_threshold
from wsgicompare.results import LATENCY_KEYS, SCHEMA, RunResult, ServerFigures


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def new_verdicts(r: RunResult) -> list[str]:
    """The verdicts, less one that restates the reason ("server crashed at t=…"):
    shown next to the reason it would say the same thing twice."""
    said = r.reason.split(":")[0] if r.reason else None
    return [v for v in r.verdicts if not (said and said in v)]


def _notes(r: RunResult) -> str:
    notes = []
    if r.status != "ok":
        notes.append(f"**{r.status}**" + (f": {r.reason}" if r.reason else ""))
    notes.extend(new_verdicts(r))
    if r.server is not None and r.server.memory_note:
        notes.append(r.server.memory_note)
    rep = r.repeat
    if rep is not None and rep.n > 1:
        notes.append(
            # with an even n the median falls between two runs: the row is the lower middle one
            f"middle run of {rep.n} (median {num(rep.rps_median, 0)} req/s, "
            f"range {num(rep.rps_min, 0)}–{num(rep.rps_max, 0)}, "
            f"spread {num(rep.spread_pct, 1)} % of the median)"
        )
    return "; ".join(notes)


def memory_line(s: ServerFigures) -> str:
    """USS and PSS of the process tree (max, mean) and per worker: what RSS overstates."""
    out = f"USS max {num(s.uss_mb_max, 1)} MB (mean {num(s.uss_mb_mean, 1)})"
    out += f" · PSS max {num(s.pss_mb_max, 1)} MB (mean {num(s.pss_mb_mean, 1)})"
    if s.uss_mb_per_worker is not None:
        out += f" · USS per worker {num(s.uss_mb_per_worker, 1)} MB"
    return out


def table(results: list[RunResult], baseline: Baseline | None = None) -> list[str]:
    cap = by_capacity(results)
    delta = baseline is not None
    head = ["", "backend", "workload"]
    head += ["capacity req/s", *(["Δ capacity"] if delta else [])] if cap else []
    head += ["2xx req/s", *(["Δ 2xx req/s"] if delta else []), "p50 ms", "p99 ms", *(["Δ p99"] if delta else [])]
    head += ["max ms", "failures", "availability", "server CPU %", "RSS MB", "USS MB", "startup s", "notes"]
    lines = [
        "|" + "|".join(f" {h} " if h else " " for h in head) + "|",
        "|---|---|---|" + "---:|" * (len(head) - 4) + "---|",
    ]
    best = best_runs(results)
    for r in ordered(results):
        has_figures = r.requests > 0
        lat = r.latency_ms

        def change(name: str, r: RunResult = r) -> list[str]:
            return [change_cell(r, baseline, name)] if baseline is not None else []

        row = [
            "★ best" if id(r) in best else "",
            f"`{r.backend}`",
            r.workload,
            *([capacity_cell(r), *change("capacity")] if cap else []),
            num(r.rps_2xx, 1) if has_figures else "—",
            *change("rps_2xx"),
            num(lat.p50, 2),
            num(lat.p99, 2),
            *change("p99"),
            num(lat.max, 2),
            num(r.failures) if has_figures else "—",
            pct(r.availability_pct),
            num(r.server.cpu_pct_mean if r.server else None, 0),
            num(r.server.rss_mb_max if r.server else None, 1),
            num(r.server.uss_mb_max if r.server else None, 1),
            num(r.startup_s, 2),
            _notes(r),
        ]
        lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return lines


def siege_block(r: RunResult) -> list[str]:
    """The classic siege summary, from our figures: transactions are answered requests,
    successful = 2xx, failed = everything else (non-2xx and errors)."""
    lat = r.latency_ms
    mb = r.bytes / 1e6
    elapsed = r.elapsed_s or 0.0
    responses = sum(r.responses.values())
    mean_s = (lat.mean or 0.0) / 1000.0
    rows = [
        ("Transactions", f"{responses} hits"),
        ("Availability", pct(r.availability_pct, none="— %")),
        ("Elapsed time", f"{elapsed:.2f} secs"),
        ("Data transferred", f"{mb:.2f} MB"),
        ("Response time", f"{mean_s:.4f} secs"),
        ("Transaction rate", f"{r.rps:.2f} trans/sec"),
        ("Throughput", f"{(mb / elapsed if elapsed else 0.0):.2f} MB/sec"),
        # siege's "concurrency" is the mean number of requests in flight: rate × mean time
        ("Concurrency", f"{r.rps * mean_s:.2f}"),
        ("Successful transactions", f"{r.responses.get('2xx', 0)}"),
        ("Failed transactions", f"{r.failures}"),
        ("Longest transaction", f"{(lat.max or 0.0) / 1000.0:.4f}"),
        ("Shortest transaction", f"{(lat.min or 0.0) / 1000.0:.4f}"),
    ]
    return [f"{name + ':':<25}{value:>20}" for name, value in rows]


def capacity_lines(r: RunResult) -> list[str]:
    """The capacity verdict and every step, in the order they ran."""
    cap = r.capacity
    assert cap is not None  # run_section: a run with a capacity
    lines = [f"**Capacity**: {cap.verdict}", ""]
    steps = cap.steps
    if steps:
        lines += [
            "| step | offered req/s | served req/s | p50 ms | p99 ms | errors % | connections | SLO |",
            "|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for i, s in enumerate(steps, 1):
            met = "✓ met" if s.met else f"✗ {s.why}"
            cells = [
                # a confirmation run (--confirm) of the search's candidate, and how long it ran
                f"{i} (confirmation, {num(s.duration_s, 0)} s)" if s.confirm else str(i),
                num(s.rate, 0),
                num(s.rps, 0),
                num(s.p50_ms, 2),
                num(s.p99_ms, 2),
                num(s.error_pct, 2),
                num(s.concurrency),
                met,
            ]
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        lines.append("")
    if any(s.met for s in steps):  # the run shown is that step's (capacity.run_capacity)
        which = "confirmation run" if any(s.confirm and s.met for s in steps) else "best step"
        lines += [f"The figures below are those of the {which} that met the SLO.", ""]
    return lines


def run_section(r: RunResult) -> list[str]:
    lines = [f"### {r.title} (`{r.backend}`) · {r.workload}", ""]
    if r.status != "ok":
        lines += [f"**{r.status}**: {r.reason or 'no reason given'}", ""]
    if r.capacity:
        lines += capacity_lines(r)
    if r.requests > 0:
        lines += ["```", *siege_block(r), "```", ""]
    if r.latency_ms:
        lat = r.latency_ms
        lines.append("Latency ms: " + " · ".join(f"{k} {num(lat.figure(k), 2)}" for k in LATENCY_KEYS))
        unc = lat.uncorrected
        if unc is not None:
            lines.append(
                "Uncorrected (from actual send time) ms: "
                + " · ".join(f"{k} {num(unc.figure(k), 2)}" for k in ("p50", "p99", "max"))
            )
        lines.append("")
    errors = {k: v for k, v in r.errors.items() if v}
    if errors or r.reconnects:
        parts = [f"{k.replace('_', ' ')} {v}" for k, v in sorted(errors.items())]
        if r.reconnects:
            parts.append(f"reconnects {r.reconnects} (not failures)")
        lines += ["Errors: " + " · ".join(parts), ""]
    if r.server is not None:
        s = r.server
        lines += [
            f"Server: CPU mean {num(s.cpu_pct_mean, 0)} % · max {num(s.cpu_pct_max, 0)} % · "
            f"RSS max {num(s.rss_mb_max, 1)} MB · {s.procs} procs · {s.threads} threads",
            "",
        ]
        if s.uss_mb_max is not None:
            lines += [f"Memory: {memory_line(s)}", ""]
    if r.loader is not None:
        ld = r.loader
        lines += [
            f"Loader: CPU {num(ld.cpu_pct, 0)} % · {ld.procs} procs · saturated {num(bool(ld.saturated))}",
            "",
        ]
        for note in ld.notes or ():
            lines += [f"Loader note: {note}", ""]
    if r.settle is not None and r.settle.waited_s:
        lines += [
            f"Waited {r.settle.waited_s:.1f} s before this run for the previous port to close "
            f"({r.settle.time_wait} client TIME_WAIT sockets left)",
            "",
        ]
    tcp = {k: v for k, v in r.tcp.to_dict().items() if v and not k.startswith("slow_")}
    if tcp:
        lines += ["Kernel TCP counters (delta over the run): " + " · ".join(f"{k} {v}" for k, v in tcp.items()), ""]
    at_retry, elsewhere = r.tcp.slow_at_syn_retry or 0, r.tcp.slow_elsewhere or 0
    if at_retry or elsewhere:
        lines += [
            f"Transactions over 0.9 s: {at_retry} at a SYN-retry time (1 s, 3 s, 7 s … ±10 %), {elsewhere} elsewhere",
            "",
        ]
    if r.verdicts:
        lines += [*(f"- {v}" for v in r.verdicts), ""]
    if r.command:
        lines += ["Command:", "", "```", *r.command, "```", ""]
    if r.versions:
        lines += ["Versions: " + " · ".join(f"{k} {v}" for k, v in r.versions.items()), ""]
    return lines


def thresholds_section(checks: list[dict[str, Any]]) -> list[str]:
    """Every --fail-if expression on every run: its value and whether it held."""
    bad = broken(checks)
    if not checks:
        summary = "No run was there to check."
    elif bad:
        summary = f"**{len(bad)} of {len(checks)} checks broken**: the exit code is 3."
    else:
        summary = f"All {len(checks)} checks passed."
    lines = ["## Thresholds", "", summary, ""]
    if checks:
        lines += ["| threshold | backend | workload | value | result |", "|---|---|---|---:|---|"]
        for c in checks:
            result = "✓ passed" if c["passed"] else f"✗ broken: {c['why']}"
            value = "—" if c["value"] is None else parse_threshold(c["expr"]).show(c["value"])
            cells = [f"`{c['expr']}`", f"`{c['backend']}`", c["workload"], value, result]
            lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
        lines.append("")
    return lines


def render(results: list[RunResult], meta: dict[str, Any]) -> str:
    load = meta.get("load", {})
    machine = meta.get("machine", {})
    pinning = machine.get("pinning") or {}
    lines = [
        "# wsgicompare report",
        "",
        *(answer_md(meta["recommendation"]) if meta.get("recommendation") else []),  # --recommend: the answer first
        f"- created: {meta.get('created', '—')} ({SCHEMA})",
        f"- machine: {describe_machine(machine)}",
        f"- pinning: loader {describe_cpus(pinning.get('loader_cpus'))} · "
        f"server {describe_cpus(pinning.get('server_cpus'))}",
        f"- load: {describe_load(load)}",
    ]
    if load.get("url"):
        lines.append(f"- target: {load['url']}")
    if load.get("app"):
        lines.append(f"- app: `{load['app']}`")
    baseline = meta.get("baseline")
    if baseline is not None:
        lines.append(f"- baseline: {baseline.describe()}; Δ: change from its run of the same backend and workload")
    lines += ["", "## Comparison", "", *table(results, baseline), "", *scorecard_md(results)]
    checks = meta_checks(meta, results)
    if checks is not None:
        lines += thresholds_section(checks)
    lines += ["## Runs", ""]
    for r in ordered(results):
        lines += run_section(r)
    return "\n".join(lines).rstrip() + "\n"
