"""The M/M/c queue's response time, the reference of benchmarks/capacity_accuracy.py:
Poisson arrivals at λ, c workers, exponential service of rate μ, first come first
served. Pure functions (math only), plus a simulation (numpy) to check them against.

Erlang C gives the chance an arrival waits; a wait, when there is one, is exponential
of rate cμ − λ; the response time is the wait plus an independent exponential service,
so its tail has a closed form, and a percentile is found by bisection on it.
"""

from __future__ import annotations

import heapq
import math

import numpy as np


def erlang_c(c: int, a: float) -> float:
    """The chance an arrival waits in an M/M/c queue with offered load ``a`` = λ/μ
    (Erlang C); 1.0 at or beyond saturation (a ≥ c)."""
    if c < 1:
        raise ValueError(f"c must be ≥ 1, got {c}")
    if a <= 0:
        return 0.0
    if a >= c:
        return 1.0
    # the terms a^k/k!, summed as a running product (no overflow for large c)
    term, head = 1.0, 0.0
    for k in range(c):
        head += term
        term *= a / (k + 1)
    tail = term * c / (c - a)  # a^c/c! · 1/(1 − ρ)
    return tail / (head + tail)


def response_tail(t: float, lam: float, mu: float, c: int) -> float:
    """P(response time > t) in an M/M/c queue (λ < cμ)."""
    if t <= 0:
        return 1.0
    if lam >= c * mu:
        return 1.0
    wait = erlang_c(c, lam / mu)
    theta = c * mu - lam  # the rate of a wait, when there is one
    service = math.exp(-mu * t)
    if math.isclose(theta, mu, rel_tol=1e-9):
        both = (1.0 + mu * t) * math.exp(-mu * t)  # Erlang-2 tail
    else:  # the sum of Exp(θ) and Exp(μ): the hypoexponential tail
        both = (theta * math.exp(-mu * t) - mu * math.exp(-theta * t)) / (theta - mu)
    return (1.0 - wait) * service + wait * both


def response_percentile(q: float, lam: float, mu: float, c: int) -> float:
    """The q-quantile (0 < q < 1) of the response time, in the unit of 1/μ: bisection
    on the tail; inf at or beyond saturation."""
    if not 0.0 < q < 1.0:
        raise ValueError(f"q must be in (0, 1), got {q}")
    if lam >= c * mu:
        return math.inf
    lo, hi = 0.0, 1.0 / mu
    while response_tail(hi, lam, mu, c) > 1.0 - q:
        hi *= 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if response_tail(mid, lam, mu, c) > 1.0 - q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def max_rate(q: float, budget: float, mu: float, c: int) -> float:
    """The highest arrival rate whose q-quantile response time is within ``budget``
    (same time unit as 1/μ); 0.0 when even an idle server misses it (the service time's
    own quantile, −ln(1 − q)/μ, is above the budget). The quantile grows with λ, so
    bisection on λ in (0, cμ)."""
    if response_percentile(q, 0.0, mu, c) > budget:
        return 0.0
    lo, hi = 0.0, c * mu
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if response_percentile(q, mid, mu, c) <= budget:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-9 * c * mu:
            break
    return lo


def simulate_responses(lam: float, mu: float, c: int, n: int, seed: int) -> np.ndarray:
    """``n`` response times of a simulated M/M/c FCFS queue (the first tenth dropped as
    warm-up): each arrival goes to the worker free first, as the benchmark's server does."""
    rng = np.random.default_rng(seed)
    total = n + n // 10
    arrivals = np.cumsum(rng.exponential(1.0 / lam, total))
    services = rng.exponential(1.0 / mu, total)
    free = [0.0] * c
    heapq.heapify(free)
    out = np.empty(total)
    for i in range(total):
        start = max(arrivals[i], heapq.heappop(free))
        done = start + services[i]
        heapq.heappush(free, done)
        out[i] = done - arrivals[i]
    return out[n // 10 :]
