"""How close does --find-capacity land to the true capacity at an SLO, when the truth
is not what the search itself measures?

Each server is an M/M/c queue: W workers, each request's work exponential of mean S ms
(drawn from a seeded RNG), first come first served — the "mmc" server of
tests/loader_servers.py, in its own process pinned to CPU 1. The search runs from the
loader on CPU 0 with Poisson arrivals (the capacity search's default, seeded) and
confirms its figure (``--confirm``). Under Poisson arrivals such a server's latency
percentile grows long before saturation, so its capacity at an SLO (the knee) lies
below W/S req/s, and the truth comes from queueing theory, not from the search's
closed-loop probe: the highest λ whose response-time percentile in an M/M/c queue is
within the SLO (benchmarks/mmc.py: Erlang C, then the wait + service tail, bisection).
A seeded simulation of the queue at that λ (numpy) checks the formula in every row.

A row PASSes when −10 % ≤ (search − truth) / truth ≤ +3 %; any FAIL (or a formula
check off by more than 5 %) exits 1. The truth ignores what the loopback and the
loader add to each answer (well under a millisecond on a quiet machine).

    python benchmarks/capacity_accuracy.py [--servers 1x5,4x10,8x10] [--slo p99=50ms --slo p90=30ms]
        [--step-duration 3] [--confirm 10] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.mmc import max_rate, response_percentile, simulate_responses  # noqa: E402
from wsgicompare.engine.capacity import DEFAULT_CONFIRM_S, DEFAULT_STEP_S  # noqa: E402

LOADER_CPU, SERVER_CPU = 0, 1
QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
PASS_BAND = (-10.0, 3.0)  #: % of the truth
FORMULA_TOLERANCE = 0.05  #: the simulated percentile at the truth vs the SLO
KNEE_BAND = (0.50, 0.85)  #: the knee (truth ÷ W/S) this benchmark means to test

SERVER = """
import sys
sys.path.insert(0, {root!r})
from tests.loader_servers import TestServer
server = TestServer("mmc", delay_s={delay_s}, workers={workers}, seed={seed}).start()
print(server.port, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
"""


@dataclass
class Row:
    workers: int
    mean_ms: float
    slo_text: str
    truth: float
    knee: float  #: truth ÷ W/S
    simulated_ms: float  #: the simulated percentile at the truth
    found: float | None = None
    offered: float | None = None
    limit: str = "?"
    steps: int = 0
    loader_bound_steps: int = 0
    seconds: float = 0.0
    verdict: str = ""

    @property
    def saturation(self) -> float:
        return self.workers * 1000.0 / self.mean_ms

    @property
    def error_pct(self) -> float | None:
        return None if self.found is None else 100.0 * (self.found - self.truth) / self.truth


def start_server(workers: int, mean_s: float, seed: int) -> tuple[subprocess.Popen, int]:
    code = SERVER.format(root=ROOT, delay_s=mean_s, workers=workers, seed=seed)
    proc = subprocess.Popen(
        ["taskset", "-c", str(SERVER_CPU), sys.executable, "-c", code],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def search_once(row: Row, slo_text: str, step_s: float, confirm_s: float, seed: int) -> None:
    from wsgicompare.engine.capacity import CapacityPlan, capacity_figure, parse_slo
    from wsgicompare.engine.conductor import Conductor
    from wsgicompare.engine.runspec import default_load, url_spec

    proc, port = start_server(row.workers, row.mean_ms / 1000.0, seed)
    try:
        load = default_load(cpus=(LOADER_CPU,), seed=seed)
        plan = CapacityPlan(parse_slo(slo_text), step_s=step_s, confirm_s=confirm_s, arrivals="poisson")
        spec = replace(url_spec(f"http://127.0.0.1:{port}/", load=load), capacity=plan)
        started = time.monotonic()
        result = Conductor(settle_max_s=1.0).run_one(spec)
        row.seconds = time.monotonic() - started
    finally:
        proc.stdin.close()  # type: ignore[union-attr]
        proc.wait(timeout=10)
    cap = result.capacity or {}
    row.found = capacity_figure(cap)
    row.offered = cap.get("offered_rps")
    row.limit = str(cap.get("limit", "?"))
    steps = cap.get("steps") or []
    row.steps = len(steps)
    row.loader_bound_steps = sum("loader-bound" in str(s.get("why", "")) for s in steps)
    for s in steps:
        kind = "confirm" if s.get("confirm") else "step"
        mark = "met" if s.get("met") else f"missed ({s.get('why')})"
        print(
            f"    {kind:7} {s['rate']:8,.1f} offered  {s['rps']:8,.1f} served  "
            f"{slo_text.split('=')[0]} {s.get('slo_ms')} ms  {mark}",
            flush=True,
        )


def judge(row: Row) -> None:
    err = row.error_pct
    formula_off = abs(row.simulated_ms - _budget_ms(row.slo_text)) / _budget_ms(row.slo_text) > FORMULA_TOLERANCE
    if formula_off:
        row.verdict = "FAIL (formula vs simulation)"
    elif err is None:
        why = "loader-bound" if row.limit == "loader" else f"no figure, limit {row.limit}"
        row.verdict = f"FAIL ({why})"
    elif PASS_BAND[0] <= err <= PASS_BAND[1]:
        row.verdict = "PASS"
    else:
        row.verdict = "FAIL"
    if row.loader_bound_steps and row.verdict.startswith("FAIL") and row.limit != "loader":
        row.verdict += f"; {row.loader_bound_steps} step(s) loader-bound"


def _budget_ms(slo_text: str) -> float:
    from wsgicompare.engine.capacity import parse_slo

    return parse_slo(slo_text).latency_ms


def _percentile(slo_text: str) -> str:
    from wsgicompare.engine.capacity import parse_slo

    return parse_slo(slo_text).percentile


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--servers", default="1x5,4x10,8x10", help="WxS: workers x mean ms per request (default 1x5,4x10,8x10)"
    )
    parser.add_argument(
        "--slo", action="append", help="an SLO of the search, repeatable (default p99=50ms and p90=30ms)"
    )
    parser.add_argument(
        "--step-duration",
        type=float,
        default=DEFAULT_STEP_S,
        help=f"measured seconds per step, at least (default {DEFAULT_STEP_S:g}, the search's own)",
    )
    parser.add_argument(
        "--confirm",
        type=float,
        default=DEFAULT_CONFIRM_S,
        help=f"seconds of the confirmation run, at least (default {DEFAULT_CONFIRM_S:g}, the search's own)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the arrivals and the service times (default 1)")
    parser.add_argument(
        "--simulate", type=int, default=200_000, help="simulated requests per formula check (default 200000)"
    )
    args = parser.parse_args(argv)
    slos = args.slo or ["p99=50ms", "p90=30ms"]
    if (os.cpu_count() or 1) < 2:
        print("needs 2 CPUs (server on CPU 1, loader on CPU 0)", file=sys.stderr)
        return 2
    os.sched_setaffinity(0, {LOADER_CPU})
    load_before = os.getloadavg()
    started = datetime.now(UTC)
    rows: list[Row] = []
    for setting in args.servers.split(","):
        workers_text, ms_text = setting.split("x")
        workers, mean_ms = int(workers_text), float(ms_text)
        mu = 1000.0 / mean_ms
        for slo_text in slos:
            q, budget_s = QUANTILES[_percentile(slo_text)], _budget_ms(slo_text) / 1000.0
            truth = max_rate(q, budget_s, mu, workers)
            if truth <= 0:
                print(f"{setting} {slo_text}: the service alone misses the SLO; skipped", flush=True)
                continue
            simulated = float(np.quantile(simulate_responses(truth, mu, workers, args.simulate, args.seed), q))
            row = Row(workers, mean_ms, slo_text, truth, truth / (workers * mu), 1000.0 * simulated)
            formula = 1000.0 * response_percentile(q, truth, mu, workers)
            print(
                f"{workers} x {mean_ms:g} ms ({row.saturation:,.0f} req/s at saturation), {slo_text}: "
                f"truth {truth:,.1f} req/s = {100 * row.knee:.0f} % of W/S "
                f"(formula {formula:.2f} ms, simulated {row.simulated_ms:.2f} ms at it)",
                flush=True,
            )
            search_once(row, slo_text, args.step_duration, args.confirm, args.seed)
            judge(row)
            rows.append(row)
            err = "—" if row.error_pct is None else f"{row.error_pct:+.1f} %"
            print(f"  → search {row.found} ({row.limit}, {row.steps} steps, {row.seconds:.1f} s): {err} {row.verdict}")
    load_after = os.getloadavg()
    print()
    print(
        f"{started:%Y-%m-%d %H:%M} UTC, seed {args.seed}, {args.step_duration:g} s steps, "
        f"{args.confirm:g} s confirmation; load average {load_before[0]:.2f} before, "
        f"{load_after[0]:.2f} after (1 min; {os.cpu_count()} CPUs)"
    )
    knees = ", ".join(f"{100 * r.knee:.0f}" for r in rows)
    inside = all(KNEE_BAND[0] <= r.knee <= KNEE_BAND[1] for r in rows)
    print(
        f"knees (truth ÷ W/S, %): {knees} — "
        + ("all" if inside else "NOT all")
        + f" within {100 * KNEE_BAND[0]:.0f}–{100 * KNEE_BAND[1]:.0f} % of saturation"
    )
    print()
    print(
        "| server (W × mean S) | W/S req/s | SLO | truth req/s (÷ W/S) | simulated at truth "
        "| search req/s (offered) | error | limit | steps | seconds | verdict |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---|---:|---:|---|")
    for r in rows:
        found = "—" if r.found is None else f"{r.found:,.0f}"
        offered = "" if r.offered is None else f" ({r.offered:,.0f})"
        err = "—" if r.error_pct is None else f"{r.error_pct:+.1f} %".replace("-", "−")
        print(
            f"| {r.workers} × {r.mean_ms:g} ms | {r.saturation:,.0f} | {r.slo_text} | "
            f"{r.truth:,.0f} ({100 * r.knee:.0f} %) | {_percentile(r.slo_text)} {r.simulated_ms:.1f} ms | "
            f"{found}{offered} | {err} | {r.limit} | {r.steps} | {r.seconds:.0f} | {r.verdict} |"
        )
    failed = [r for r in rows if not r.verdict.startswith("PASS")]
    print()
    print(
        f"{len(rows) - len(failed)} of {len(rows)} rows within {PASS_BAND[0]:+g} % / {PASS_BAND[1]:+g} % of the truth"
    )
    return 1 if failed or not rows else 0


if __name__ == "__main__":
    sys.exit(main())
