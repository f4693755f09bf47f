"""The capacity search's own statistics, without a server: how often does the search
(wsgicompare.engine.capacity's ``search`` and ``confirm``, with its step and confirmation
lengths) land within −10 %/+3 % of the truth when each step is a window of a simulated
M/M/c queue instead of a real run?

A real run (benchmarks/capacity_accuracy.py) takes minutes per search and shows one
draw; this shows the spread over many seeds in seconds, so a change to the search can be
judged before it is measured. Each step simulates the queue from empty for the step's
warm-up plus its measured seconds (Poisson arrivals, exponential service, first come
first served) and judges the SLO's percentile of the answers that arrived after the
warm-up; the closed-loop probe is taken to find W/S. The truth is benchmarks/mmc.py's.

    python benchmarks/capacity_search_sim.py [--runs 30] [--step-tail 10]
"""

from __future__ import annotations

import argparse
import heapq
import math
import os
import statistics
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.mmc import max_rate  # noqa: E402
from wsgicompare.engine.capacity import (  # noqa: E402
    DEFAULT_CONFIRM_S,
    DEFAULT_MAX_STEPS,
    DEFAULT_STEP_S,
    STEP_TAIL_ANSWERS,
    STEP_WARMUP_S,
    Step,
    confirm,
    confirm_reserve,
    confirm_seconds,
    parse_slo,
    search,
    step_seconds,
)

QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99, "p999": 0.999}
PASS_BAND = (-10.0, 3.0)  #: % of the truth
ROWS = (("1x5", "p99=50ms"), ("1x5", "p90=30ms"), ("4x10", "p99=50ms"), ("4x10", "p90=30ms"))
ROWS += (("8x10", "p99=50ms"), ("8x10", "p90=30ms"))
#: seconds a real step spends outside its measured window (settle, spawn, warm-up)
STEP_OVERHEAD_S = STEP_WARMUP_S + 1.0


def window(rate: float, mu: float, workers: int, seconds: float, rng: np.random.Generator) -> np.ndarray:
    """Response times of the answers that arrived after the warm-up, the queue started empty."""
    total = STEP_WARMUP_S + seconds
    arrivals = np.sort(rng.uniform(0.0, total, rng.poisson(rate * total)))
    services = rng.exponential(1.0 / mu, arrivals.size)
    free = [0.0] * workers
    out = []
    for at, work in zip(arrivals, services, strict=True):
        done = max(at, heapq.heappop(free)) + work
        heapq.heappush(free, done)
        if at >= STEP_WARMUP_S:
            out.append(done - at)
    return np.asarray(out)


def one_search(workers: int, mean_s: float, slo_text: str, seed: int, step_tail: int) -> tuple[float | None, float]:
    """(the search's capacity or None, the seconds it would have taken)."""
    slo = parse_slo(slo_text)
    q = QUANTILES[slo.percentile]
    mu = 1.0 / mean_s
    rng = np.random.default_rng(seed)

    def measure(rate: float, seconds: float) -> Step:
        answers = window(rate, mu, workers, seconds, rng)
        ms = 1000.0 * float(np.quantile(answers, q)) if answers.size else math.inf
        met = ms <= slo.latency_ms
        return Step(rate, answers.size / seconds, None, None, ms, 0.0, met, seconds, why="" if met else "slo")

    probe = workers * mu
    found = search(
        lambda r: measure(r, step_seconds(DEFAULT_STEP_S, r, slo, step_tail)),
        0.8 * probe,
        DEFAULT_MAX_STEPS - confirm_reserve(DEFAULT_MAX_STEPS),
        ceiling=1.2 * probe,
    )
    outcome = confirm(lambda r: measure(r, confirm_seconds(DEFAULT_CONFIRM_S, r, slo)), found, DEFAULT_MAX_STEPS, slo)
    seconds = sum(s.duration_s + STEP_OVERHEAD_S for s in outcome.steps)
    return (outcome.capacity.rate if outcome.capacity else None), seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=30, help="seeded searches per row (default 30)")
    parser.add_argument(
        "--step-tail",
        type=int,
        default=STEP_TAIL_ANSWERS,
        help=f"answers beyond the percentile a step holds (default {STEP_TAIL_ANSWERS}; 0: --step-duration only)",
    )
    args = parser.parse_args(argv)
    print(
        "| server (W × mean S) | SLO | truth req/s | within −10 %/+3 % | no figure | error median [min, max] | search seconds (median) |"
    )
    print("|---|---|---:|---:|---:|---|---:|")
    within_all = 0
    for server, slo_text in ROWS:
        workers, mean_ms = (int(x) for x in server.split("x"))
        slo = parse_slo(slo_text)
        truth = max_rate(QUANTILES[slo.percentile], slo.latency_ms / 1000.0, 1000.0 / mean_ms, workers)
        errors, seconds = [], []
        for seed in range(args.runs):
            found, took = one_search(workers, mean_ms / 1000.0, slo_text, seed, args.step_tail)
            seconds.append(took)
            errors.append(None if found is None else 100.0 * (found / truth - 1.0))
        got = sorted(e for e in errors if e is not None)
        within = sum(PASS_BAND[0] <= e <= PASS_BAND[1] for e in got)
        within_all += within
        spread = f"{statistics.median(got):+.1f} % [{got[0]:+.1f}, {got[-1]:+.1f}]" if got else "—"
        print(
            f"| {workers} × {mean_ms} ms | {slo_text} | {truth:,.0f} | {within}/{args.runs} | "
            f"{errors.count(None)} | {spread} | {statistics.median(seconds):.0f} |"
        )
    print(f"\n{within_all} of {args.runs * len(ROWS)} searches within −10 %/+3 % of the truth")
    return 0


if __name__ == "__main__":
    sys.exit(main())
