"""Poisson arrivals for the open loop (``LoadProfile.arrivals = "poisson"``): the
schedule itself, pure (thousands of gaps, no server), and runs against small real
servers on loopback: about rate × time requests, every one accounted once, the same
schedule from the same seed, rate changes followed.

Statistical bounds are 5 sigma of a Poisson count (sqrt of its mean); no test asserts
the machine's speed. Every load is bounded: 1-3 s, with a wall cap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.busy_support import again_until
from tests.loader_servers import serve
from tests.test_loader import errors_of, profile
from tests.test_loader_open_loop import CAPACITY, SERVICE_S, WORKERS, accounted, at_capacity
from wsgicompare.loader import LoadProfile, LoadProfileError, LoadSummary, LoadTick, run_load
from wsgicompare.loader.schedule import BLOCK, CACHED_BLOCKS, PoissonSchedule, Schedule


def arrivals(schedule: Schedule | PoissonSchedule, until: float) -> np.ndarray:
    """Every intended time up to ``until``, asked as the worker asks: request by request."""
    return np.array([schedule.due_at(i) for i in range(schedule.due_count(until))])


def cv(gaps: np.ndarray) -> float:
    """Coefficient of variation: 1 for exponential gaps, 0 for a metronome."""
    return float(gaps.std() / gaps.mean())


def within_5_sigma(count: float, expected: float) -> bool:
    return abs(count - expected) <= 5 * math.sqrt(expected)


# -- the schedule, pure ------------------------------------------------------------------------


def test_poisson_gaps_are_exponential_and_uniform_gaps_constant() -> None:
    rate, until = 1000.0, 20.0  # ~20,000 gaps
    poisson = np.diff(arrivals(PoissonSchedule(0.0, 0, 1, rate, seed=1), until))
    uniform = np.diff(arrivals(Schedule(0.0, 0, 1, rate), until))
    assert within_5_sigma(len(poisson) + 1, rate * until)
    assert cv(poisson) == pytest.approx(1.0, abs=0.05)
    assert poisson.mean() == pytest.approx(1 / rate, rel=0.05)
    # memoryless: P(gap > mean) = 1/e, P(gap > 3 means) = 1/e³
    assert (poisson > 1 / rate).mean() == pytest.approx(math.exp(-1), abs=0.02)
    assert (poisson > 3 / rate).mean() == pytest.approx(math.exp(-3), abs=0.01)
    assert cv(uniform) < 1e-6


def test_the_processes_streams_merge_into_one_poisson_process_at_the_total_rate() -> None:
    rate, procs, until = 2000.0, 4, 10.0
    merged = np.sort(
        np.concatenate([arrivals(PoissonSchedule(0.0, i, procs, rate, seed=9), until) for i in range(procs)])
    )
    assert within_5_sigma(len(merged), rate * until)
    assert cv(np.diff(merged)) == pytest.approx(1.0, abs=0.05)
    # independent streams, not one stream shifted
    first = [PoissonSchedule(0.0, i, procs, rate, seed=9).due_at(0) for i in range(procs)]
    assert len(set(first)) == procs


def test_the_same_seed_gives_the_same_schedule_and_another_seed_another() -> None:
    def times(seed: int, index: int = 0) -> np.ndarray:
        return arrivals(PoissonSchedule(5.0, index, 2, 3000.0, seed=seed), 8.0)

    assert np.array_equal(times(42), times(42))
    other = times(43)
    assert len(other) != len(times(42)) or not np.array_equal(other, times(42))
    assert not np.array_equal(times(42, index=1)[:100], times(42)[:100])


def test_due_at_is_exact_when_a_forgotten_block_is_made_again() -> None:
    schedule = PoissonSchedule(0.0, 0, 1, 10_000.0, seed=3)
    first = arrivals(schedule, 10.0)  # ~100,000 requests: far more blocks than are cached
    assert len(schedule._blocks) <= CACHED_BLOCKS
    again = np.array([schedule.due_at(i) for i in range(len(first))])
    assert np.array_equal(first, again)  # bit for bit
    # due_count, late_end and first_at_or_after agree with the times themselves
    for at in np.random.default_rng(0).uniform(0, 9.9, 50):
        assert schedule.due_count(at) == np.searchsorted(first, at, "right")
        assert schedule.late_end(at) == np.searchsorted(first, at, "left")
        assert schedule.first_at_or_after(at) == np.searchsorted(first, at, "left")
    assert schedule.due_count(first[1234]) == 1235  # a request exactly at ``at`` is due


def simulate(
    schedule: Schedule | PoissonSchedule, until: float, step: float, keep_up: bool, sent: list[float] | None = None
) -> int:
    """Wake-ups as the worker's: apply the rate changes, count what is due, send it all
    (``keep_up``; their times into ``sent``) or nothing (every connection busy), forget
    below the backlog."""
    due = next_i = 0
    t = 0.0
    while t < until:
        due = max(schedule.apply_changes(t, due), schedule.due_count(t + 0.001))
        schedule.due_at(due)  # the next wake-up's time
        if keep_up:
            for i in range(next_i, due):
                time_i = schedule.due_at(i)
                if sent is not None:
                    sent.append(time_i)
            next_i = due
        schedule.forget_before(next_i)
        t += step
    return due


def cached_times(schedule: PoissonSchedule) -> int:
    return sum(len(times) for times in schedule._blocks.values())


def test_a_long_schedule_keeps_its_memory_bounded() -> None:
    # 20 s at 100,000 req/s (2 million requests, ~500 blocks): a few blocks in memory, whatever the length
    schedule = PoissonSchedule(0.0, 0, 1, 100_000.0, seed=5)
    due = simulate(schedule, 20.0, 0.01, keep_up=True)
    assert within_5_sigma(due, 100_000 * 20)
    assert cached_times(schedule) <= CACHED_BLOCKS * BLOCK
    assert len(schedule.piece.starts) <= 3  # one float per block of the backlog: here none


def test_a_backlog_costs_one_float_per_block_and_its_times_stay_exact() -> None:
    # nothing is ever sent (every connection busy): the backlog is every request so far,
    # yet only a float per block is kept, and the oldest request's time is still exact
    schedule = PoissonSchedule(0.0, 0, 1, 100_000.0, seed=6)
    first_times = [schedule.due_at(i) for i in range(10)]
    due = simulate(schedule, 20.0, 0.01, keep_up=False)
    assert due > 1_900_000
    assert cached_times(schedule) <= CACHED_BLOCKS * BLOCK
    assert len(schedule.piece.starts) <= due // BLOCK + 2
    assert [schedule.due_at(i) for i in range(10)] == first_times


def test_poisson_rate_changes_follow_the_new_rate() -> None:
    changes = ((2.0, 5000.0), (4.0, 200.0))
    schedule = PoissonSchedule(0.0, 0, 1, 1000.0, changes, seed=7)
    sent: list[float] = []
    due = simulate(schedule, 6.0, 0.001, keep_up=True, sent=sent)
    times = np.array(sent)
    assert len(times) == due and np.all(np.diff(times) >= 0)
    assert within_5_sigma(due, 1000 * 2 + 5000 * 2 + 200 * 2)
    for lo, hi, rate in ((0.0, 2.0, 1000), (2.01, 4.0, 5000), (4.01, 6.0, 200)):
        part = times[(times > lo) & (times <= hi)]
        assert within_5_sigma(len(part), rate * (hi - lo)), (lo, hi, len(part))
        assert cv(np.diff(part)) == pytest.approx(1.0, abs=0.15)
        assert np.diff(part).mean() == pytest.approx(1 / rate, rel=0.35)


@pytest.mark.parametrize("kind", [Schedule, PoissonSchedule])
def test_both_schedules_follow_rate_changes_through_one_piece_of_code(kind: type) -> None:
    # when a change is due and how it is applied is one piece of code for both schedules
    # (only how each starts its next piece differs): a fix to one cannot miss the other
    assert kind.apply_changes is Schedule.apply_changes is PoissonSchedule.apply_changes
    assert kind.next_change is Schedule.next_change is PoissonSchedule.next_change
    schedule = kind(0.0, 0, 1, 1000.0, ((1.0, 200.0), (2.0, 3000.0)))
    assert schedule.next_change() == 1.0
    due = schedule.due_count(0.999)
    assert schedule.apply_changes(0.999, due) == due and schedule.next_change() == 1.0  # not due yet
    sent: list[float] = []
    total = simulate(schedule, 3.0, 0.001, keep_up=True, sent=sent)
    assert schedule.next_change() is None and schedule.changes == []
    times = np.array(sent)
    assert len(times) == total and np.all(np.diff(times) >= 0)
    for lo, hi, rate in ((0.0, 1.0, 1000), (1.01, 2.0, 200), (2.01, 3.0, 3000)):
        assert within_5_sigma(len(times[(times > lo) & (times <= hi)]), rate * (hi - lo))


def test_arrivals_and_seed_are_checked() -> None:
    url = "http://127.0.0.1:1/"
    with pytest.raises(LoadProfileError, match="--arrivals must be uniform or poisson, got 'gaussian'"):
        LoadProfile(url=url, rate=10, arrivals="gaussian").validate()
    for bad in (-1, True, 2**63, 1.5):
        with pytest.raises(LoadProfileError, match="--seed must be a whole number"):
            LoadProfile(url=url, rate=10, arrivals="poisson", seed=bad).validate()  # type: ignore[arg-type]
    LoadProfile(url=url, rate=10, arrivals="poisson", seed=0).validate()


# -- against a server on loopback ----------------------------------------------------------------


@pytest.mark.parametrize("procs", [1, 2])
def test_poisson_sends_about_rate_times_duration_requests(procs: int) -> None:
    rate = 1000.0
    with serve("ok") as server:
        summary = run_load(
            profile(server.url, rate=rate, concurrency=16, procs=procs, duration_s=2.0, arrivals="poisson", seed=11)
        )
    assert summary.fatal is None
    assert summary.arrivals == "poisson" and summary.seed == 11
    expected = rate * summary.elapsed_s
    # 5 sigma of the count, and the 1 ms the scheduler looks ahead
    assert abs(summary.scheduled - expected) <= 5 * math.sqrt(expected) + rate * 0.002
    assert summary.sent == summary.scheduled - summary.unsent
    assert summary.carried_over + summary.scheduled == accounted(summary)
    assert errors_of(summary) == {}


def test_a_seed_is_chosen_when_none_is_given_and_uniform_has_none() -> None:
    with serve("ok") as server:
        poisson = run_load(profile(server.url, rate=200, duration_s=0.5, arrivals="poisson"))
        uniform = run_load(profile(server.url, rate=200, duration_s=0.5))
        closed = run_load(profile(server.url, requests=20))
    assert poisson.arrivals == "poisson" and isinstance(poisson.seed, int) and 0 <= poisson.seed < 2**32
    assert uniform.arrivals == "uniform" and uniform.seed is None
    assert closed.arrivals is None and closed.seed is None


@pytest.mark.parametrize("warmup_s", [0.0, 0.5])
def test_poisson_accounts_every_request_once_past_capacity(warmup_s: float) -> None:
    def run() -> LoadSummary:
        with serve("capacity", delay_s=SERVICE_S, workers=WORKERS) as server:
            return run_load(
                profile(
                    server.url, rate=2 * CAPACITY, concurrency=16, duration_s=1.5, warmup_s=warmup_s, arrivals="poisson"
                )
            )

    summary = again_until(run, lambda s: at_capacity(s, rel=0.15))
    assert summary.fatal is None
    assert summary.carried_over + summary.scheduled == accounted(summary)
    assert summary.served_rate == pytest.approx(CAPACITY, rel=0.15)
    assert summary.backlogged > 0


def test_poisson_far_past_the_connections_is_accounted_and_ends_on_time() -> None:
    # the schedule runs far ahead of what 16 connections carry: the backlog is millions
    # of requests, kept as a float per block; each is counted once, the run ends on time
    with serve("ok") as server:
        summary = run_load(profile(server.url, rate=2_000_000, concurrency=16, duration_s=1.0, arrivals="poisson"))
    assert summary.fatal is None
    assert summary.scheduled == pytest.approx(2_000_000 * summary.elapsed_s, rel=0.05)
    assert summary.carried_over + summary.scheduled == accounted(summary)
    assert summary.unsent > 0.9 * summary.scheduled
    assert summary.elapsed_s == pytest.approx(1.0, abs=0.1)


def test_poisson_with_a_rate_change_follows_the_new_rate() -> None:
    # 100 req/s, then 400 from 0.7 s, then 100 again from 1.4 s (low rates: the answers
    # follow the schedule even on a busy machine)
    ticks: list[LoadTick] = []
    with serve("ok") as server:
        summary = run_load(
            profile(
                server.url,
                rate=100,
                concurrency=16,
                duration_s=2.1,
                rate_changes=((0.7, 400.0), (1.4, 100.0)),
                arrivals="poisson",
                seed=3,
            ),
            on_tick=ticks.append,
        )

    def answered(lo: float, hi: float) -> tuple[int, float]:
        window = [t for t in ticks if lo <= t.t_s - t.interval_s and t.t_s <= hi]
        return sum(t.status["2xx"] for t in window), sum(t.interval_s for t in window)

    assert within_5_sigma(summary.scheduled, 0.7 * (100 + 400 + 100))
    assert summary.carried_over + summary.scheduled == accounted(summary)
    for lo, hi, rate in ((0.05, 0.65, 100), (0.75, 1.35, 400), (1.45, 2.05, 100)):
        count, seconds = answered(lo, hi)
        assert seconds > 0.3
        assert within_5_sigma(count, rate * seconds), (lo, hi, count, seconds)
