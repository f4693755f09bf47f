"""The answer of ``--recommend`` as the reports show it: the JSON ``recommendation``
object, the Markdown section that opens the report, and the HTML one. Pure renderers of
a ``Decision`` (rule.py) and of the dict they make."""

from __future__ import annotations

import html
from typing import Any

from wsgicompare.backends import CATALOG
from wsgicompare.reporting.recommend.rule import RULE, Candidate, Decision
from wsgicompare.reporting.recommend.sweep import CLASS_TITLES


def _title(backend: str) -> str:
    """The catalog's title, without the worker class where the class is swept (the config names it)."""
    if backend in CLASS_TITLES:
        return CLASS_TITLES[backend]
    return CATALOG[backend].title if backend in CATALOG else backend


def _num(v: float | None, digits: int = 1) -> float | None:
    return None if v is None else round(v, digits)


def ranked_entry(c: Candidate, why: list[str]) -> dict[str, Any]:
    return {
        "backend": c.backend,
        "config": c.config,
        "capacity_rps": _num(c.capacity_rps),
        "capacity_per_cpu": _num(c.capacity_per_cpu),
        "uss_mb_per_worker": _num(c.uss_mb_per_worker),
        "pss_mb": _num(c.pss_mb),
        "p99_ms_at_half": _num(c.p99_ms_at_half, 3),
        "scenarios": dict(c.scenarios),
        "overload": c.overload,
        "why": why,
        "tuning": c.probes,
    }


def summary(d: Decision, slo_text: str, partial: bool) -> str:
    """The answer in plain words, from the measured figures."""
    out = []
    pick = d.pick
    if pick is None and d.references:
        out.append(
            "No Python backend can be recommended: "
            + ("every one measured was rejected." if d.rejected else "only a reference was measured.")
        )
    elif pick is None:
        out.append(
            "No backend can be recommended: every one measured was rejected." if d.rejected else "Nothing measured yet."
        )
    else:
        cpus = f"{pick.cpus} CPU{'s' if pick.cpus != 1 else ''}"
        mem = f", {pick.uss_mb_per_worker:,.0f} MB per worker" if pick.uss_mb_per_worker is not None else ""
        kept = [f"{n}: {pick.scenario_text.get(n, 'pass')}" for n, s in pick.scenarios.items() if s == "pass"]
        out.append(
            f"Deploy with {_title(pick.backend)} ({pick.backend}), {pick.config_text}: "
            f"{pick.capacity_rps or 0:,.0f} req/s within {slo_text} on {cpus}{mem}"
            + (f"; {'; '.join(kept)}" if kept else "")
            + "."
        )
        if len(d.ranked) > 1:
            runner = d.ranked[1]
            out.append(
                f"Runner-up: {runner.backend}, {runner.config_text}: {runner.capacity_rps or 0:,.0f} req/s "
                f"({runner.capacity_per_cpu or 0:,.0f} per CPU)."
            )
    if d.references:
        scale = ", ".join(
            f"{c.backend} {c.config_text}: {c.capacity_rps or 0:,.0f} req/s ({c.capacity_per_cpu or 0:,.0f} per CPU)"
            for c in d.references
        )
        out.append(f"For scale (a reference that serves no Python app, never the pick): {scale}.")
    if d.rejected:
        out.append("Rejected: " + "; ".join(_rejected(reasons, c.backend) for c, reasons in d.rejected) + ".")
    if d.unfinished or partial:
        left = ", ".join(c.backend for c in d.unfinished)
        out.append("Partial: the run was stopped" + (f" before {left} finished" if left else "") + ".")
    return " ".join(out)


def _rejected(reasons: list[str], backend: str) -> str:
    """``flask-dev — worker-kill: … (a crash is an outage); also fails slow-clients, reload``."""
    also = [r.split(":")[0] for r in reasons[1:]]
    return f"{backend} — {reasons[0]}" + (f"; also fails {', '.join(also)}" if also else "")


def recommendation(
    d: Decision,
    *,
    slo: dict[str, Any],
    slo_text: str,
    cpus: int,
    memory_mb: float | None,
    required: tuple[str, ...],
    partial: bool,
    pending: list[str] | None = None,
) -> dict[str, Any]:
    """The JSON ``recommendation`` object (schema in issue #22, keys added: rule, partial,
    unfinished, pending, config text and config files of the pick)."""
    pick = d.pick
    return {
        "slo": slo,
        "budget": {"cpus": cpus, "memory_mb": memory_mb},
        "required": list(required),
        "pick": None
        if pick is None
        else {
            "backend": pick.backend,
            "config": pick.config,
            "config_text": pick.config_text,
            "command": list(pick.command),
            "config_files": dict(pick.config_files),
        },
        "ranked": [ranked_entry(c, d.why.get(c.backend, [])) for c in d.ranked],
        "references": [ranked_entry(c, []) for c in d.references],
        "rejected": [{"backend": c.backend, "reasons": reasons} for c, reasons in d.rejected],
        "unfinished": [c.backend for c in d.unfinished],
        "pending": list(pending or ()),
        "partial": partial,
        "rule": RULE,
        "summary": summary(d, slo_text, partial),
    }


#: the ranked table's columns, in the Markdown report and the app
RANKED_HEADERS = (
    "rank",
    "backend",
    "config",
    "capacity req/s",
    "per CPU",
    "USS MB/worker",
    "PSS MB",
    "p99 ms at ½",
    "scenarios",
    "overload",
)


def heading(rec: dict[str, Any]) -> str:
    return "The answer" + (" (partial)" if rec.get("partial") else "")


def pick_why(rec: dict[str, Any]) -> list[str]:
    """The pick's why lines (each cites a figure of the run); [] without a pick."""
    pick = rec.get("pick") or {}
    first = next((r for r in rec.get("ranked", []) if r["backend"] == pick.get("backend")), None)
    return list((first or {}).get("why", []))


def ranked_rows(rec: dict[str, Any]) -> list[list[str]]:
    """The ranked table's rows (RANKED_HEADERS' columns), as text."""
    rows = []
    for i, r in enumerate(rec.get("ranked") or [], 1):
        config = ", ".join(f"{k}={v}" for k, v in r["config"].items())
        scen = ", ".join(f"{k}: {v}" for k, v in r["scenarios"].items())
        cells = [str(i), r["backend"], config, _f(r["capacity_rps"], 0), _f(r["capacity_per_cpu"], 0)]
        cells += [_f(r["uss_mb_per_worker"]), _f(r["pss_mb"]), _f(r["p99_ms_at_half"]), scen, r["overload"] or "—"]
        rows.append(cells)
    return rows


def rejected_rows(rec: dict[str, Any]) -> list[tuple[str, str]]:
    """(backend, its reasons in one line) of every rejected backend."""
    return [(entry["backend"], "; ".join(entry["reasons"])) for entry in rec.get("rejected") or []]


def markdown(rec: dict[str, Any]) -> list[str]:
    """The report's first section: the answer, the ranking, the rejections, the commands."""
    lines = [f"## {heading(rec)}", "", rec.get("summary", ""), ""]
    pick = rec.get("pick")
    if pick:
        lines += [f"**Pick: `{pick['backend']}`, {pick.get('config_text', '')}.** Why:", ""]
        lines += [f"- {w}" for w in pick_why(rec)]
        lines += ["", "Commands (as this run started it; the port and the private directory are the run's own):", ""]
        lines += ["```sh", *pick.get("command", []), "```", ""]
        for name, text in (pick.get("config_files") or {}).items():
            lines += [f"`{name}`:", "", "```", text.rstrip("\n"), "```", ""]
    rows = ranked_rows(rec)
    if rows:
        lines += ["| " + " | ".join(RANKED_HEADERS) + " |", "|---:|---|---|---:|---:|---:|---:|---:|---|---|"]
        for cells in rows:
            cells[1] = f"`{cells[1]}`"
            lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        lines.append("")
    rejected = rejected_rows(rec)
    lines += [f"- Rejected `{backend}`: {reasons}" for backend, reasons in rejected]
    if rejected:
        lines.append("")
    lines += [f"*The rule:* {rec.get('rule', RULE)}", ""]
    return lines


def _f(v: float | None, digits: int = 1) -> str:
    return "—" if v is None else f"{v:,.{digits}f}"


def html_section(rec: dict[str, Any]) -> str:
    """The same answer for the HTML report (plain markup, escaped)."""
    e = html.escape
    parts = [
        f"<h2>{heading(rec)}</h2>",
        f"<p><strong>{e(rec.get('summary', ''))}</strong></p>",
    ]
    pick = rec.get("pick")
    if pick:
        parts.append("<ul>" + "".join(f"<li>{e(w)}</li>" for w in pick_why(rec)) + "</ul>")
        parts.append("<pre>" + e("\n".join(pick.get("command", []))) + "</pre>")
        for name, text in (pick.get("config_files") or {}).items():
            parts.append(f"<p>{e(name)}:</p><pre>{e(text)}</pre>")
    rejected = rec.get("rejected") or []
    if rejected:
        items = "".join(f"<li>{e(r['backend'])}: {e('; '.join(r['reasons']))}</li>" for r in rejected)
        parts.append(f"<p>Rejected:</p><ul>{items}</ul>")
    parts.append(f"<p><em>The rule:</em> {e(rec.get('rule', RULE))}</p>")
    return "\n".join(parts)
