"""The ranking rule of ``--recommend``, a pure function of measured figures, simple
enough to check by hand (it is stated in every report, ``RULE``):

1. a backend that fails a required scenario (``--require``; "unsupported" is no pass) is
   rejected with the reason, as is one with no confirmed capacity at the SLO, or whose
   measured PSS is over ``--memory-budget``;
2. the rest are ranked by confirmed capacity per server CPU;
3. capacities within the measured spread (or 5 %) of the group's leader are a tie,
   broken by p99 at half the capacity, then by memory (PSS).

A reference that serves no Python app (PHP-FPM behind nginx, when ``--backends`` names
it) is judged the same way but ranked apart, for scale: it is never the pick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: capacities closer than this share are a tie (or the measured spread, if larger)
TIE_SHARE = 0.05
#: the scenarios a backend must pass unless --require says otherwise
DEFAULT_REQUIRED = ("slow-clients", "worker-kill", "reload")
PASS, FAIL, UNSUPPORTED = "pass", "fail", "unsupported"

RULE = (
    "A backend that fails a required scenario is rejected, with the reason; so is one with no confirmed "
    "capacity at the SLO or whose PSS is over the memory budget. The rest are ranked by confirmed capacity "
    "per server CPU; capacities within the measured spread (or 5 %) are a tie, broken by p99 at half the "
    "capacity, then by memory (PSS). A reference that serves no Python app (php-fpm-nginx) is ranked "
    "apart, for scale, and is never the pick."
)

#: the order a rejection's reasons are said in
GRAVITY = ("worker-kill", "slow-clients", "slow-readers", "slow-uploads", "reload")
#: what a failed scenario means for a deployment, said after its figure
ADVICE = {
    "slow-clients": "put a buffering proxy (nginx) in front",
    "slow-readers": "put a proxy that buffers answers (nginx) in front",
    "slow-uploads": "put a proxy that buffers request bodies (nginx) in front",
    "worker-kill": "a crash is an outage",
    "reload": "a deploy is a restart",
}


@dataclass
class Candidate:
    """One backend's measured figures at its tuned config (rule input; JSON-safe parts)."""

    backend: str
    config: dict[str, Any] = field(default_factory=dict)
    config_text: str = ""
    #: confirmed capacity (served req/s at the SLO); None: none confirmed
    capacity_rps: float | None = None
    #: why there is no capacity (the search's verdict), when there is none
    capacity_note: str = ""
    #: how the capacity was confirmed ("confirmed over 5 s"; "" said as confirmed)
    capacity_how: str = ""
    #: the measured spread of the capacity in % (repeat runs), if known
    spread_pct: float | None = None
    cpus: int = 1
    uss_mb_per_worker: float | None = None
    pss_mb: float | None = None
    p99_ms_at_half: float | None = None
    #: scenario name → pass | fail | unsupported, and its figure in words
    scenarios: dict[str, str] = field(default_factory=dict)
    scenario_text: dict[str, str] = field(default_factory=dict)
    #: the overload mode (sheds / queues / fails connections / fell over), information only
    overload: str | None = None
    #: measured figures of the tuning (each probe: config text → 2xx req/s)
    probes: list[dict[str, Any]] = field(default_factory=list)
    #: how the chosen config compares with the others of the sweep, in figures
    tuning: str = ""
    #: the rule of thumb, said, and how the tuned config compares with it
    thumb: str = ""
    #: lines for the commands of this config, and its config files (name → text)
    command: list[str] = field(default_factory=list)
    config_files: dict[str, str] = field(default_factory=dict)
    #: reasons found while measuring (start failed, every config over the budget …)
    problems: list[str] = field(default_factory=list)
    #: measured to the end (False: interrupted)
    finished: bool = True
    #: a reference that serves no Python app (sweep.REFERENCES): ranked apart, never the pick
    reference: bool = False

    @property
    def capacity_per_cpu(self) -> float | None:
        return None if self.capacity_rps is None else self.capacity_rps / max(1, self.cpus)


@dataclass
class Decision:
    ranked: list[Candidate]
    rejected: list[tuple[Candidate, list[str]]]
    unfinished: list[Candidate]
    #: backend → the why lines of a ranked one
    why: dict[str, list[str]]
    #: (a, b) pairs ranked by the tie-break, not by capacity
    ties: list[tuple[str, str, str]]
    #: the references that passed, by capacity per CPU (for scale; never the pick)
    references: list[Candidate] = field(default_factory=list)

    @property
    def pick(self) -> Candidate | None:
        return self.ranked[0] if self.ranked else None


def scenario_reason(name: str, status: str, text: str) -> str:
    """``slow-clients: ✗ starved … (put a buffering proxy (nginx) in front)``."""
    if status == UNSUPPORTED:
        return f"{name}: unsupported — {text or 'no such event for this server'} ({ADVICE.get(name, 'required')})"
    advice = ADVICE.get(name)
    return f"{name}: {text}" + (f" ({advice})" if advice else "")


def rejections(c: Candidate, required: tuple[str, ...], memory_budget_mb: float | None) -> list[str]:
    """Every reason ``c`` cannot be ranked (empty: it can)."""
    reasons = list(c.problems)
    # the gravest first: a crash that is an outage, then starvation, then a deploy that is a restart
    for name in sorted(required, key=lambda n: GRAVITY.index(n) if n in GRAVITY else len(GRAVITY)):
        status = c.scenarios.get(name)
        if status is None:
            if c.finished:
                reasons.append(f"{name}: not measured")
            continue
        if status != PASS:
            reasons.append(scenario_reason(name, status, c.scenario_text.get(name, "")))
    if not reasons and c.capacity_rps is None and c.finished:
        reasons.append(f"no confirmed capacity: {c.capacity_note or 'no rate met the SLO'}")
    if memory_budget_mb is not None and c.pss_mb is not None and c.pss_mb > memory_budget_mb:
        reasons.append(f"PSS {c.pss_mb:,.1f} MB is over the memory budget of {memory_budget_mb:,.0f} MB")
    return reasons


def _tolerance(a: Candidate, b: Candidate) -> float:
    spreads = [s / 100.0 for s in (a.spread_pct, b.spread_pct) if s is not None]
    return max([TIE_SHARE, *spreads])


def _tie_key(c: Candidate) -> tuple[float, float]:
    inf = float("inf")
    return (
        inf if c.p99_ms_at_half is None else c.p99_ms_at_half,
        inf if c.pss_mb is None else c.pss_mb,
    )


def decide(candidates: list[Candidate], required: tuple[str, ...], memory_budget_mb: float | None = None) -> Decision:
    """Rank ``candidates`` by the rule (module docstring); pure."""
    rankable: list[Candidate] = []
    rejected: list[tuple[Candidate, list[str]]] = []
    unfinished: list[Candidate] = []
    for c in candidates:
        reasons = rejections(c, required, memory_budget_mb)
        if reasons:
            rejected.append((c, reasons))
        elif not c.finished:
            unfinished.append(c)
        else:
            rankable.append(c)
    references = sorted((c for c in rankable if c.reference), key=lambda c: -(c.capacity_per_cpu or 0.0))
    pool = sorted((c for c in rankable if not c.reference), key=lambda c: -(c.capacity_per_cpu or 0.0))
    ranked: list[Candidate] = []
    ties: list[tuple[str, str, str]] = []
    while pool:
        leader = pool[0]
        top = leader.capacity_per_cpu or 0.0
        group = [c for c in pool if (c.capacity_per_cpu or 0.0) >= top * (1 - _tolerance(leader, c))]
        pool = [c for c in pool if c not in group]
        group.sort(key=_tie_key)
        for a, b in zip(group, group[1:]):
            ties.append((a.backend, b.backend, _tie_text(a, b, leader)))
        ranked.extend(group)
    why = {c.backend: why_lines(c, i, ranked, ties) for i, c in enumerate(ranked)}
    return Decision(ranked=ranked, rejected=rejected, unfinished=unfinished, why=why, ties=ties, references=references)


def _tie_text(a: Candidate, b: Candidate, leader: Candidate) -> str:
    tol = 100 * _tolerance(leader, b)
    pa, pb = a.p99_ms_at_half, b.p99_ms_at_half
    if pa is not None and pb is not None and pa != pb:
        by = f"p99 at half the capacity {pa:,.1f} ms against {pb:,.1f} ms"
    else:
        by = f"PSS {_mb(a.pss_mb)} against {_mb(b.pss_mb)}"
    return f"capacity within {tol:.0f} % of {b.backend}'s (a tie): ahead on {by}"


def _mb(v: float | None) -> str:
    return "—" if v is None else f"{v:,.1f} MB"


def why_lines(c: Candidate, place: int, ranked: list[Candidate], ties: list[tuple[str, str, str]]) -> list[str]:
    """The why of a ranked backend, each line citing a figure of the run."""
    lines = []
    cpus = f"{c.cpus} server CPU{'s' if c.cpus != 1 else ''}"
    assert c.capacity_rps is not None
    how = f" ({c.capacity_how})" if c.capacity_how else ""
    lines.append(
        f"capacity {c.capacity_rps:,.0f} req/s within the SLO{how} on {cpus} "
        f"({c.capacity_per_cpu or 0:,.0f} req/s per CPU) with {c.config_text}"
    )
    below = ranked[place + 1] if place + 1 < len(ranked) else None
    tie = next((t for t in ties if t[0] == c.backend), None)
    if tie is not None:
        lines.append(tie[2])
    elif below is not None and below.capacity_per_cpu:
        ahead = 100 * ((c.capacity_per_cpu or 0) / below.capacity_per_cpu - 1)
        lines.append(f"{ahead:,.0f} % more per CPU than {below.backend} ({below.capacity_per_cpu:,.0f} req/s per CPU)")
    mem = []
    if c.uss_mb_per_worker is not None:
        mem.append(f"USS {c.uss_mb_per_worker:,.1f} MB per worker")
    if c.pss_mb is not None:
        mem.append(f"PSS {c.pss_mb:,.1f} MB for the whole server")
    if mem:
        lines.append(", ".join(mem))
    if c.p99_ms_at_half is not None:
        lines.append(f"p99 {c.p99_ms_at_half:,.1f} ms at half the capacity")
    for name, status in c.scenarios.items():
        if status == PASS:
            lines.append(f"{name}: {c.scenario_text.get(name, 'pass')}")
    if c.overload:
        lines.append(f"overload (information): {c.overload}")
    if c.tuning:
        lines.append(c.tuning)
    if c.thumb:
        lines.append(c.thumb)
    return lines
