"""The reference of benchmarks/capacity_accuracy.py: the M/M/c response-time percentile
(benchmarks/mmc.py) against closed forms and a seeded simulation. Pure, no server."""

from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.mmc import erlang_c, max_rate, response_percentile, response_tail, simulate_responses


@pytest.mark.parametrize(
    ("c", "a", "expected"),
    [
        (1, 0.5, 0.5),  # M/M/1: an arrival waits with chance ρ
        (1, 0.9, 0.9),
        (2, 1.0, 1 / 3),  # (a²/2!·2) / (1 + a + a²/2!·2)
        (3, 2.0, 4 / 9),
        (5, 0.0, 0.0),
        (4, 4.0, 1.0),  # saturated: every arrival waits
    ],
)
def test_erlang_c_known_values(c: int, a: float, expected: float) -> None:
    assert erlang_c(c, a) == pytest.approx(expected, rel=1e-12)


def test_erlang_c_many_workers_does_not_overflow() -> None:
    # 400 workers at ρ = 0.5: almost nobody waits, and no a^c/c! overflow on the way
    assert 0.0 <= erlang_c(400, 200.0) < 1e-6


@pytest.mark.parametrize("lam", [10.0, 100.0, 150.0, 190.0])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
def test_one_worker_response_time_is_exponential(lam: float, q: float) -> None:
    # M/M/1: the response time is exponential of rate μ − λ, its q-quantile −ln(1 − q)/(μ − λ)
    mu = 200.0
    assert response_percentile(q, lam, mu, 1) == pytest.approx(-math.log(1 - q) / (mu - lam), rel=1e-9)


def test_tail_is_continuous_where_the_wait_rate_equals_the_service_rate() -> None:
    # c = 2, μ = 100: cμ − λ = μ at λ = 100, where the closed form switches to Erlang-2
    at = response_tail(0.02, 100.0, 100.0, 2)
    assert response_tail(0.02, 100.0 - 1e-6, 100.0, 2) == pytest.approx(at, rel=1e-6)
    assert response_tail(0.02, 100.0 + 1e-6, 100.0, 2) == pytest.approx(at, rel=1e-6)


@pytest.mark.parametrize(("c", "rho"), [(1, 0.6), (4, 0.7), (8, 0.85)])
def test_percentiles_agree_with_a_simulation(c: int, rho: float) -> None:
    mu = 100.0  # 10 ms mean service
    lam = rho * c * mu
    times = simulate_responses(lam, mu, c, 200_000, seed=12345)
    for q in (0.5, 0.9, 0.99):
        simulated = float(np.quantile(times, q))
        assert simulated == pytest.approx(response_percentile(q, lam, mu, c), rel=0.05), (c, rho, q)


def test_a_wrong_formula_would_show_in_the_simulation() -> None:
    # the check can fail: plausible mistakes are well outside its 5 % at ρ = 0.85 — the
    # wait alone (service left out), the service alone (queueing left out), one c× faster
    # worker (M/M/1 at cμ)
    c, mu, lam = 8, 100.0, 680.0
    simulated = float(np.quantile(simulate_responses(lam, mu, c, 200_000, seed=7), 0.99))
    wait_only = math.log(100 * erlang_c(c, lam / mu)) / (c * mu - lam)
    service_only = math.log(100) / mu
    one_fast_worker = math.log(100) / (c * mu - lam)
    for wrong in (wait_only, service_only, one_fast_worker):
        assert abs(simulated - wrong) / simulated > 0.15
    assert simulated == pytest.approx(response_percentile(0.99, lam, mu, c), rel=0.05)


@pytest.mark.parametrize(("c", "mean_ms"), [(1, 5.0), (4, 10.0), (8, 10.0)])
@pytest.mark.parametrize(("q", "budget_ms"), [(0.99, 50.0), (0.9, 30.0)])
def test_max_rate_is_where_the_percentile_meets_the_budget(c: int, mean_ms: float, q: float, budget_ms: float) -> None:
    mu = 1000.0 / mean_ms
    rate = max_rate(q, budget_ms / 1000.0, mu, c)
    assert 0.0 < rate < c * mu
    assert response_percentile(q, rate, mu, c) == pytest.approx(budget_ms / 1000.0, rel=1e-6)
    assert response_percentile(q, rate * 1.01, mu, c) > budget_ms / 1000.0


def test_max_rate_one_worker_closed_form() -> None:
    # M/M/1: −ln(0.01)/(μ − λ) = 50 ms → λ = μ − ln(100)/0.05
    assert max_rate(0.99, 0.05, 200.0, 1) == pytest.approx(200.0 - math.log(100) / 0.05, rel=1e-6)


def test_max_rate_is_zero_when_the_service_alone_misses() -> None:
    # 20 ms mean service: its own p99 is 92 ms, above a 50 ms budget at any rate
    assert max_rate(0.99, 0.05, 50.0, 8) == 0.0
