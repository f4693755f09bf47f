"""Capacity at an SLO, end to end through the conductor against test servers of known
capacity on loopback (tests/loader_servers.py "capacity": W workers × S s per request,
first come first served: exactly W / S req/s, queueing beyond it)."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest

from tests.busy_support import ATTEMPTS, again_until
from tests.loader_servers import serve
from wsgicompare.engine.capacity import (
    CONFIRM_MAX_S,
    CONFIRM_STEP_DOWN,
    CONFIRM_STEP_DOWN_MAX,
    FAILED_LIMIT,
    STEP_MAX_S,
    CapacityError,
    CapacityPlan,
    Outcome,
    Slo,
    Step,
    bound_text,
    capacity_figure,
    confirm,
    confirm_reserve,
    confirm_seconds,
    connections_for,
    parse_rates,
    parse_slo,
    search,
    step_down,
    step_seconds,
    step_seed,
)
from wsgicompare.engine.conductor import Conductor
from wsgicompare.engine.runspec import default_load, url_spec
from wsgicompare.loader.profile import MAX_SEED
from wsgicompare.reporting.export import render
from wsgicompare.reporting.export.ranking import best_runs
from wsgicompare.reporting.thresholds import check, parse_threshold
from wsgicompare.results import RunResult

P99 = parse_slo("p99=50ms")

#: 4 workers × 10 ms: 400 req/s; at rates well below it the latency is ~10 ms
WORKERS, SERVICE_S = 4, 0.010
CAPACITY = WORKERS / SERVICE_S


def capacity_spec(url: str, plan: CapacityPlan):
    load = default_load(cpus=(), duration_s=1.0, warmup_s=0.5, timeout_s=5.0, max_wall_s=30.0, tick_s=0.1)
    return replace(url_spec(url, load=load), capacity=plan)


#: the test servers need no warming: a short warm-up per step and a short probe
QUICK = {"step_warmup_s": 0.5, "probe_s": 1.0}


def run_with_the_loader_keeping_up(
    url: str, plan: CapacityPlan, seen: list[Step] | None = None, *, every_step: bool = True
) -> RunResult:
    """The capacity run of ``plan`` against ``url`` in which the loader kept up.

    On a shared 2-core machine another test's processes can take the loader's CPU for
    tens of milliseconds; the search then rightly calls the step loader-bound and
    measures it again, or ends as loader-bound. These tests are about the server's and
    the connections' limits, so such a run is run again, up to ATTEMPTS times: one with
    any loader-bound step (``every_step``, for tests that read every step), or one that
    ended loader-bound or without a figure after a lag; a loader that lags in every one
    fails the test, saying so."""
    plan = replace(plan, **QUICK)
    for _ in range(ATTEMPTS):
        conductor = Conductor(settle_max_s=1.0)
        if seen is not None:
            seen.clear()
            conductor.on_step = seen.append
        result = conductor.run_one(capacity_spec(url, plan))
        cap = result.capacity.to_dict()  # as the report says it
        lagged = any("loader-bound" in step["why"] for step in cap["steps"])
        if not every_step:  # only a lag that cost the search its figure
            lagged = lagged and (cap["limit"] == "loader" or cap["rps"] is None)
        if not lagged:
            return result
    pytest.fail(f"the loader lagged in each of {ATTEMPTS} runs (a busy machine): {result.capacity.steps}")


def test_the_search_lands_within_bounds_of_a_known_capacity() -> None:
    # uniform arrivals: the truth here is the server's saturation rate, which is where a
    # constant-rate schedule's knee lies (Poisson arrivals queue earlier, as they should)
    plan = CapacityPlan(
        slo=parse_slo("p99=50ms,errors=0.1%"),
        step_s=1.0,
        # 8: two steps kept for confirmations (confirm_reserve): on a busy machine a 2 s
        # confirmation at a rate a hair below saturation can miss, and the next, 3 % lower, holds
        max_steps=8,
        confirm_s=2.0,
        confirm_tail=0,  # this server's p99 needs no long window: it is deterministic
        step_tail=0,
        arrivals="uniform",
    )
    seen: list[Step] = []
    with serve("capacity", delay_s=SERVICE_S, workers=WORKERS) as server:
        # a step the loader lagged in is measured again by the search itself: only a
        # search that ended on the loader is run again; and one whose server's thread lost
        # the CPU to other tests (it answered late: 310 req/s met the SLO, not 400) is too
        result = again_until(
            lambda: run_with_the_loader_keeping_up(server.url, plan, seen, every_step=False),
            lambda r: 0.90 * CAPACITY <= (r.capacity.rps or 0) <= 1.03 * CAPACITY,
        )
    cap = result.capacity.to_dict()  # as the report says it
    assert cap["limit"] in ("server", "max-steps"), cap["verdict"]
    assert cap["rps"] is not None
    # within -10 % / +3 % of the truth
    assert 0.90 * CAPACITY <= cap["rps"] <= 1.03 * CAPACITY, cap
    assert 2 <= len(cap["steps"]) <= plan.max_steps
    assert [s.to_dict() for s in seen] == cap["steps"]  # every step reported as it ended
    # a met step holds the SLO, a failed one says why
    for step in cap["steps"]:
        if step["met"]:
            assert step["p99_ms"] <= 50 and step["error_pct"] <= 0.1 and not step["why"]
        else:
            assert step["why"]
    assert any(not s["met"] and s["rate"] > cap["rps"] for s in cap["steps"])  # bracketed from above
    assert cap["slo"] == {"p99_ms": 50.0, "error_pct": 0.1}
    assert result.verdicts[0] == cap["verdict"] and cap["verdict"].startswith("capacity ")
    # the figure is the confirmation run's: the last step, twice as long, met
    confirmed = cap["confirmed"]
    assert confirmed["met"] and cap["rps"] == confirmed["rps"] and cap["steps"][-1]["confirm"]
    assert confirmed["duration_s"] == pytest.approx(2.0, abs=0.3)
    assert "confirmed over 2 s" in cap["verdict"]
    assert result.elapsed_s == pytest.approx(confirmed["duration_s"])  # the result is the confirmation's run


def test_a_plan_that_brings_its_probe_rate_starts_from_it_without_probing() -> None:
    # --recommend's probe stage measured this config's closed-loop rate just before: the
    # search starts at 0.8 × that rate and runs no probe of its own. Given 250 (the truth is
    # 400, which a probe of its own would have found), the first step is 200 req/s
    plan = CapacityPlan(slo=P99, step_s=0.5, max_steps=1, confirm_s=0.0, step_tail=0, probe_rps=250.0)
    ticks = []
    with serve("capacity", delay_s=SERVICE_S, workers=WORKERS) as server:
        result = Conductor(settle_max_s=1.0).run_one(capacity_spec(server.url, plan), on_tick=ticks.append)
    cap = result.capacity
    assert [s.rate for s in cap.steps] == [pytest.approx(200.0)], cap.steps
    assert cap.probe_rps == 250.0
    # the ticks are of one load, the step's (a probe's would have come first, its clock then
    # starting again at the step's warm-up)
    times = [t.t_s for t in ticks]
    assert times and times == sorted(times), times


def test_a_rate_only_a_short_step_holds_is_caught_by_the_confirmation_run() -> None:
    # a server that holds its 400 req/s on a connection for 2.5 s, then takes 20× as long
    # a request: a 1 s step (after 1 s of warm-up) meets a rate that a 3 s confirmation
    # does not — a capacity only a short window shows
    plan = CapacityPlan(slo=parse_slo("p99=50ms"), step_s=1.0, max_steps=4, confirm_s=3.0, confirm_tail=0, step_tail=0)
    with serve("tires", delay_s=SERVICE_S, workers=WORKERS, stall_after_s=2.5) as server:
        cap = run_with_the_loader_keeping_up(server.url, plan).capacity.to_dict()
    searched = [s for s in cap["steps"] if not s.get("confirm")]
    tries = [s for s in cap["steps"] if s.get("confirm")]
    assert any(s["met"] for s in searched), cap["steps"]  # the short steps alone would have passed a rate
    assert tries and not any(s["met"] for s in tries), cap["steps"]
    assert len(cap["steps"]) <= 4  # --max-steps holds, the confirmation included
    assert cap["rps"] is None and cap["confirmed"]["met"] is False
    assert cap["confirmed"]["duration_s"] == pytest.approx(3.0, abs=0.3)
    assert cap["verdict"].startswith("no capacity confirmed at p99 ≤ 50 ms"), cap["verdict"]


def test_a_growing_queue_in_a_short_window_does_not_pass() -> None:
    # 1.3x capacity for 1 s with a generous latency budget: the p99 may still fit, but
    # the queue grows all through the window, so the step is not met
    slo = Slo("p99", 2000.0, 0.1)
    plan = CapacityPlan(slo=slo, rates=(1.3 * CAPACITY,), step_s=1.0)
    with serve("capacity", delay_s=SERVICE_S, workers=WORKERS) as server:
        result = run_with_the_loader_keeping_up(server.url, plan)
    step = result.capacity.steps[-1]  # (a loader-bound step is measured once more)
    assert not step.met
    assert "queue growing" in step.why
    assert step.p99_ms is not None and step.p99_ms < 2000  # the percentile alone would have passed


def test_a_ladder_measures_every_rate_on_the_same_axis() -> None:
    # uniform arrivals: the served rate of a met step is its offered rate (a Poisson
    # count over 1 s would wander ±7 % at 200 req/s)
    plan = CapacityPlan(slo=parse_slo("p99=50ms"), rates=(100.0, 200.0, 600.0), step_s=1.0, arrivals="uniform")
    with serve("capacity", delay_s=SERVICE_S, workers=WORKERS) as server:
        result = run_with_the_loader_keeping_up(server.url, plan)
    cap = result.capacity.to_dict()  # as the report says it
    assert [s["rate"] for s in cap["steps"]] == [100.0, 200.0, 600.0]
    assert [s["met"] for s in cap["steps"]] == [True, True, False]
    assert cap["rps"] == pytest.approx(200, rel=0.05)
    assert cap["limit"] == "server"


def test_a_server_that_stops_answering_between_steps_ends_the_search_failed_not_loader_bound() -> None:
    # it answers the first step (1 s warm-up, 1 s measured) and nothing after 2.3 s: the
    # next step is not run against it (its pending connects would read as the loader's lag)
    plan = CapacityPlan(slo=parse_slo("p99=50ms"), rates=(100.0, 200.0, 300.0), step_s=1.0, arrivals="uniform")
    with serve("wedge", stall_after_s=2.3) as server:
        result = Conductor(settle_max_s=1.0).run_one(capacity_spec(server.url, plan))
    cap = result.capacity.to_dict()  # as the report says it
    assert len(cap["steps"]) == 1 and cap["limit"] == FAILED_LIMIT and cap["rps"] is None, cap
    assert cap["steps"][0]["why"].endswith("it stopped answering")
    assert "stopped answering" in cap["verdict"] and cap["verdict"].startswith("search ended early at 100 req/s")
    assert result.status == "failed" and "stopped answering" in result.reason


def test_a_given_concurrency_that_caps_the_open_loop_is_named() -> None:
    # 2 connections carry at most 2 / 10 ms = 200 req/s of a 400 req/s server: at 300 req/s
    # requests wait for a connection while the server answers each in 10 ms
    plan = CapacityPlan(slo=parse_slo("p99=50ms"), rates=(300.0,), step_s=1.0, concurrency=2)
    with serve("capacity", delay_s=SERVICE_S, workers=WORKERS) as server:
        result = run_with_the_loader_keeping_up(server.url, plan)
    cap = result.capacity.to_dict()  # as the report says it
    assert cap["limit"] == "concurrency", cap
    assert "concurrency-bound" in cap["verdict"] and "-c" in cap["verdict"]


def test_a_concurrency_bound_ladder_carries_no_capacity_in_any_output() -> None:
    # 100 req/s fits 2 connections (10 ms each) and is met; at 300 req/s the connections,
    # not the server, are the limit: the met 100 req/s is no server capacity either
    plan = CapacityPlan(slo=parse_slo("p99=50ms"), rates=(100.0, 300.0), step_s=1.0, concurrency=2)
    with serve("capacity", delay_s=SERVICE_S, workers=WORKERS) as server:
        # each connection is half busy at 100 req/s: a stall of the server's thread (a busy
        # loop on each core) queues the next ones past 50 ms, and that ladder runs again
        result = again_until(
            lambda: run_with_the_loader_keeping_up(server.url, plan), lambda r: r.capacity.steps[0].met
        )
    cap = result.capacity.to_dict()  # as the report says it
    assert cap["limit"] == "concurrency", cap
    assert cap["steps"][0]["met"], cap["steps"]
    assert (cap["rps"], cap["bound_at"]) == (None, 300.0)
    assert cap["verdict"].startswith("concurrency-bound at 300 req/s") and "no server capacity" in cap["verdict"]
    shown = "concurrency-bound at 300 req/s"
    assert f"| {shown} |" in render("md", [result], {}).split("## Runs")[0]
    (row,) = csv.DictReader(io.StringIO(render("csv", [result], {})))
    assert (row["capacity_rps"], row["capacity_limit"]) == ("", "concurrency")
    assert row["verdicts"].startswith(shown)
    assert f'<td class="n">{shown}</td>' in render("html", [result], {})
    assert best_runs([result]) == set()
    assert check(parse_threshold("capacity<1"), result)["why"].startswith("no server capacity: concurrency-bound")


def test_a_loader_bound_step_is_never_a_server_capacity() -> None:
    def measure(rate: float) -> Step:
        bound = rate > 1000
        return Step(
            rate,
            min(rate, 1000),
            1.0,
            2.0,
            2.0,
            0.0,
            not bound,
            1.0,
            why="loader-bound" if bound else "",
            loader_bound=bound,
        )

    outcome = search(measure, 800, ceiling=2000)
    assert outcome.limit == "loader"
    assert [s.rate for s in outcome.steps] == [800, 1600, 1600]  # measured again before giving up
    assert confirm(measure, outcome, max_steps=10, slo=P99) == outcome  # nothing to confirm
    assert outcome.verdict(Slo("p99", 50, 0.1)).startswith("loader-bound at 1,600 req/s")
    cap = outcome.to_dict(Slo("p99", 50, 0.1))
    # 800 req/s was met, but the search ended on the loader's limit: no capacity figure
    assert outcome.best is not None and outcome.capacity is None
    assert (cap["limit"], cap["rps"], cap["offered_rps"], cap["bound_at"]) == ("loader", None, None, 1600)


def _known_server(capacity: float, long_capacity: float):
    """measure(rate) of a server that meets rates up to ``capacity`` in a short step and up
    to ``long_capacity`` over a confirmation run (``Step.confirm`` set by ``confirm``)."""
    calls: list[float] = []

    def measure(rate: float, long: bool = False) -> Step:
        calls.append(rate)
        met = rate <= (long_capacity if long else capacity)
        return Step(
            rate, rate, 1.0, 2.0 if met else 80.0, 2.0, 0.0, met, 10.0 if long else 1.0, why="" if met else "p99"
        )

    return measure, calls


def test_a_confirmation_that_misses_steps_down_three_percent_until_one_holds() -> None:
    measure, calls = _known_server(1000, 950)
    found = search(measure, 800, max_steps=9, ceiling=2000)
    assert found.capacity is not None and 970 <= found.capacity.rate <= 1000
    outcome = confirm(lambda rate: measure(rate, long=True), found, max_steps=12, slo=P99)
    tries = outcome.confirmations
    assert [s.met for s in tries] == [False] * (len(tries) - 1) + [True]
    assert all(b.rate == pytest.approx(a.rate * 0.97) for a, b in zip(tries, tries[1:]))
    assert outcome.capacity is tries[-1] and outcome.capacity.rate <= 950
    assert outcome.to_dict(parse_slo("p99=50ms"))["confirmed"]["met"] is True
    assert outcome.steps[: len(found.steps)] == found.steps  # the search's steps are kept


def test_a_confirmation_that_misses_by_far_steps_down_by_half_its_overshoot() -> None:
    # a queue's p99 over a long window: 50 ms at 900 req/s, growing steeply beyond it
    def measure(rate: float) -> Step:
        p99 = 50.0 * (rate / 900.0) ** 4
        met = p99 <= 50.0
        return Step(rate, rate, 5.0, p99, p99, 0.0, met, 10.0, why="" if met else "p99", confirm=True)

    found = Outcome((Step(1100.0, 1100.0, 5.0, 20.0, 20.0, 0.0, True, 3.0),), "max-steps")
    outcome = confirm(measure, found, max_steps=10, slo=P99)
    tries = outcome.confirmations
    # 1100 req/s: p99 111.5 ms, 123 % over: the most, 25 % down; 825 req/s meets
    assert [round(s.rate) for s in tries] == [1100, 825]
    assert outcome.capacity is tries[-1]
    # with 3 % steps the same miss takes nine confirmations (1100 · 0.97⁷ = 887)
    assert step_down(tries[0], P99) == CONFIRM_STEP_DOWN_MAX
    assert step_down(replace(tries[0], slo_ms=60.0), P99) == pytest.approx(0.10)  # half of 20 % over
    assert step_down(replace(tries[0], slo_ms=51.0), P99) == CONFIRM_STEP_DOWN  # at least 3 %
    assert step_down(replace(tries[0], slo_ms=None), P99) == CONFIRM_STEP_DOWN_MAX  # no answer at all
    assert step_down(replace(tries[0], slo_ms=40.0, why="queue growing"), P99) == CONFIRM_STEP_DOWN
    # errors over the SLO's share (0.1 %) step down by half their overshoot too
    errors = replace(tries[0], slo_ms=40.0, error_pct=0.12)
    assert step_down(errors, P99) == pytest.approx(0.10)  # 20 % over: 10 % down
    assert step_down(replace(errors, error_pct=1.26), P99) == CONFIRM_STEP_DOWN_MAX
    assert step_down(replace(errors, error_pct=0.1), P99) == CONFIRM_STEP_DOWN  # at the share: met on errors
    assert (
        step_down(replace(errors, error_pct=0.5), parse_slo("p99=50ms,errors=0%")) == CONFIRM_STEP_DOWN_MAX
    )  # any error


def test_a_confirmation_at_a_cliff_steps_down_no_further_than_the_next_met_step() -> None:
    # a deterministic server at 400 req/s under uniform arrivals: a miss a hair below
    # saturation overshoots the budget tenfold, yet 399.6 req/s was met a step before
    def long(rate: float) -> Step:
        met = rate <= 400.0
        p99 = 14.0 if met else 500.0
        return Step(rate, rate, 10.0, p99, p99, 0.0, met, 2.0, why="" if met else "p99", confirm=True)

    searched = [(319.7, True), (479.6, False), (399.6, True), (439.6, False), (419.6, False), (409.6, True)]
    found = Outcome(tuple(Step(r, r, 10.0, 14.0, 14.0, 0.0, m, 1.0) for r, m in searched), "server")
    outcome = confirm(long, found, 8, P99)
    # not 25 % down to 307 req/s: 3 % down, to the met 399.6 req/s's neighbourhood
    assert [round(s.rate, 1) for s in outcome.confirmations] == [409.6, 397.3]
    assert outcome.capacity is outcome.confirmations[-1]


def test_a_search_keeps_a_quarter_of_its_steps_for_its_confirmations() -> None:
    assert [confirm_reserve(n) for n in (2, 4, 7, 8, 10, 20)] == [1, 1, 1, 2, 2, 5]
    # a bracket the search cannot close within its share (the server holds 1,000 req/s over
    # a short step, 700 over a long one): two confirmations, not one, fit into --max-steps 10
    measure, _ = _known_server(1000, 700)
    found = search(measure, 800, 10 - confirm_reserve(10), ceiling=2000, tolerance=0.001)
    assert len(found.steps) == 8 and found.limit == "max-steps"
    outcome = confirm(lambda rate: measure(rate, long=True), found, 10, P99)
    assert len(outcome.steps) == 10 and len(outcome.confirmations) == 2


def test_a_search_step_runs_long_enough_for_a_few_answers_beyond_its_percentile() -> None:
    p90 = parse_slo("p90=50ms")
    # 10 answers beyond the p99 at 100 req/s take 10 s; at 1,000 req/s --step-duration rules
    assert step_seconds(3.0, 100.0, P99) == pytest.approx(10.0)
    assert step_seconds(3.0, 1000.0, P99) == 3.0
    assert step_seconds(3.0, 10.0, P99) == STEP_MAX_S  # capped
    assert step_seconds(3.0, 100.0, p90) == 3.0  # 10 beyond the p90 at 100 req/s: 1 s
    assert step_seconds(3.0, 100.0, P99, tail=0) == 3.0  # a plan may switch it off (tests)
    assert step_seconds(20.0, 10.0, P99) == 20.0  # never below --step-duration


def test_confirmations_stop_at_max_steps_and_then_there_is_no_capacity() -> None:
    measure, _ = _known_server(1000, 500)
    found = search(measure, 800, max_steps=6, ceiling=2000)
    outcome = confirm(lambda rate: measure(rate, long=True), found, max_steps=8, slo=P99)
    assert len(outcome.steps) == 8 and len(outcome.confirmations) == 8 - len(found.steps)
    assert outcome.capacity is None and outcome.best is not None  # the figures shown: a short step's
    assert outcome.to_dict(parse_slo("p99=50ms"))["rps"] is None


@pytest.mark.parametrize("max_steps", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("bound_above", [0.0, 700.0, 1000.0, 1e9])
@pytest.mark.parametrize("lag_every", [0, 2, 3])
def test_max_steps_is_a_hard_cap_re_measurements_included(max_steps: int, bound_above: float, lag_every: int) -> None:
    # a loader that is the limit above `bound_above`, and (lag_every) a transient lag on
    # every n-th call: however the re-measurements fall, never more steps than allowed
    calls: list[float] = []

    def measure(rate: float) -> Step:
        calls.append(rate)
        bound = rate > bound_above or (lag_every > 0 and len(calls) % lag_every == 0)
        met = rate <= 900 and not bound
        return Step(rate, rate, 1.0, 2.0, 2.0, 0.0, met, 1.0, why="" if met else "x", loader_bound=bound)

    outcome = search(measure, 800, max_steps=max_steps, ceiling=4000)
    assert len(outcome.steps) == len(calls) <= max_steps, [s.rate for s in outcome.steps]
    # the loader is the limit when the last step was bound (twice running, or once with no step left)
    assert (outcome.limit == "loader") == outcome.steps[-1].loader_bound
    if outcome.limit == "loader" and len(outcome.steps) < max_steps:
        assert outcome.steps[-2].loader_bound


@pytest.mark.parametrize("confirm_s", [0.0, 2.0])
def test_a_search_whose_last_step_is_loader_bound_ends_loader_bound(confirm_s: float) -> None:
    def measure(rate: float) -> Step:
        bound = rate > 1000
        return Step(
            rate, rate, 1.0, 2.0, 2.0, 0.0, not bound, 1.0, why="loader-bound" if bound else "", loader_bound=bound
        )

    # as run_capacity calls them: with a confirmation, the search keeps a step of the budget for it
    max_steps = 3
    found = search(measure, 800, max_steps - 1 if confirm_s else max_steps, ceiling=2000)
    outcome = (
        confirm(lambda rate: replace(measure(rate), duration_s=confirm_s), found, max_steps, P99)
        if confirm_s
        else found
    )
    # 1,600 req/s was loader-bound, and no step was left to measure it again: the search
    # ended on the loader, as one bound twice does, so the met 800 req/s is no server
    # capacity (not "capacity at least 800 req/s", which blamed the server)
    assert [s.rate for s in outcome.steps][-1] == 1600 and outcome.steps[-1].loader_bound
    assert len(outcome.steps) <= max_steps
    assert outcome.limit == "loader" and outcome.capacity is None and not outcome.confirmations
    slo = Slo("p99", 50, 0.1)
    assert outcome.verdict(slo).startswith("loader-bound at 1,600 req/s: the loader, not the server")
    cap = outcome.result(slo)
    assert (cap.rps, cap.limit, cap.bound_at) == (None, "loader", 1600)
    assert capacity_figure(cap) is None and bound_text(cap) == "loader-bound at 1,600 req/s"


def test_a_transient_loader_lag_is_measured_again_not_final() -> None:
    calls: list[float] = []

    def measure(rate: float) -> Step:
        calls.append(rate)
        lagged = len(calls) == 2  # another process took the loader's CPU for a moment
        met = rate <= 500
        return Step(
            rate,
            rate,
            1.0,
            2.0,
            2.0,
            0.0,
            met and not lagged,
            1.0,
            why="" if met and not lagged else "x",
            loader_bound=lagged,
        )

    outcome = search(measure, 400, max_steps=12)
    assert outcome.limit == "server"
    assert calls[1] == calls[2]  # the lagged rate again
    best = outcome.best
    assert best is not None and 0.97 * 500 <= best.rate <= 500


def test_the_bracket_closes_within_three_percent() -> None:
    truth = 437.0

    def measure(rate: float) -> Step:
        met = rate <= truth
        return Step(rate, rate, 1.0, 2.0, 2.0, 0.0, met, 1.0, why="" if met else "p99 too high")

    outcome = search(measure, 300, max_steps=12)
    assert outcome.limit == "server"
    best = outcome.best
    assert best is not None and 0.97 * truth <= best.rate <= truth
    assert isinstance(outcome, Outcome)


def test_open_loop_connections_follow_the_rate_and_the_budget() -> None:
    slo = Slo("p99", 100.0, 0.1)
    assert connections_for(1000, slo, None) == 200  # 1000/s × 0.1 s × 2
    assert connections_for(10, slo, None) == 16  # the floor
    assert connections_for(1_000_000, slo, None) == 4096  # the ceiling
    assert connections_for(1000, slo, 8) == 8  # -c given: kept (and its limit reported)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("p99=50ms,errors=0.1%", Slo("p99", 50.0, 0.1)),
        ("p50=0.2s", Slo("p50", 200.0, 0.1)),
        ("p999=500us,errors=1", Slo("p999", 0.5, 1.0)),
        ("errors=0%", Slo("p99", 100.0, 0.0)),
    ],
)
def test_slo_parsing(text: str, expected: Slo) -> None:
    assert parse_slo(text) == expected


@pytest.mark.parametrize(
    "text", ["p99=abc", "p42=1ms", "errors=101%", "errors=-1", "p99", "p99=50ms,p50=10ms", "p99=0ms"]
)
def test_bad_slo_is_one_line(text: str) -> None:
    with pytest.raises(CapacityError) as info:
        parse_slo(text)
    assert "\n" not in str(info.value) and "--slo" in str(info.value)


@pytest.mark.parametrize("text", ["", ",", "0", "-5", "abc", "100,0"])
def test_bad_rates_are_one_line(text: str) -> None:
    with pytest.raises(CapacityError) as info:
        parse_rates(text)
    assert "--rates" in str(info.value)


def test_rates_are_sorted_and_unique() -> None:
    assert parse_rates("400, 100,200,100") == (100.0, 200.0, 400.0)


def test_a_real_loader_bound_step_reports_limit_loader() -> None:
    # two loader processes share one CPU against nginx serving a file: 150,000 req/s is
    # far past what they can send, so the step is the loader's limit, measured twice,
    # and the answer is "loader-bound", never a server capacity
    from backend_support import require_backend

    from wsgicompare.backends import get_backend
    from wsgicompare.engine.runspec import default_spec

    require_backend(get_backend("nginx-static"))
    # short steps: each burns both CPUs (the loader's, flat out, and nginx's) for its whole length
    load = default_load(cpus=(0,), procs=2, concurrency=64, duration_s=0.5, warmup_s=0.3, tick_s=0.1)
    plan = CapacityPlan(slo=parse_slo("p99=100ms"), rates=(150_000.0,), step_s=0.5, step_warmup_s=0.3)
    spec = replace(default_spec("nginx-static", load=load), capacity=plan)
    result = Conductor(settle_max_s=1.0).run_one(spec)
    cap = result.capacity.to_dict()  # as the report says it
    assert cap["limit"] == "loader", cap
    assert cap["rps"] is None
    assert len(cap["steps"]) == 2  # measured again before giving up
    assert all("loader-bound" in s["why"] for s in cap["steps"])
    assert cap["verdict"].startswith("loader-bound at 150,000 req/s")


def test_an_outcome_with_no_step_has_a_verdict_and_no_figure() -> None:
    # a ladder or search cancelled before its first step was recorded
    cap = Outcome((), "server").to_dict(parse_slo("p99=50ms"))
    assert cap["rps"] is None and cap["verdict"].startswith("no step measured")


def test_a_search_that_failed_part_way_carries_no_figure() -> None:
    met = Step(800, 800, 1.0, 2.0, 2.0, 0.0, True, 3.0)
    crashed = Step(1600, 10, None, None, None, 100.0, False, 1.0, why="server crashed at t=0.5 s")
    outcome = Outcome((met, crashed), FAILED_LIMIT)
    assert outcome.capacity is None and outcome.best is met  # the figures shown: the met step's
    cap = outcome.result(parse_slo("p99=50ms"))
    assert cap.rps is None and capacity_figure(cap) is None
    assert cap.verdict == "search ended early at 1,600 req/s (server crashed at t=0.5 s): no server capacity"


def test_a_confirmed_capacity_of_a_search_that_ran_out_of_steps_is_a_floor() -> None:
    measure, _ = _known_server(10_000, 10_000)  # everything meets: the bracket never closes
    found = search(measure, 800, max_steps=2, ceiling=100_000)
    assert found.limit == "max-steps"
    outcome = confirm(lambda rate: measure(rate, long=True), found, max_steps=3, slo=P99)
    assert outcome.capacity is not None and outcome.capacity.confirm
    assert outcome.verdict(parse_slo("p99=50ms")).startswith("capacity at least 1,600 req/s")


def test_a_loader_bound_confirmation_is_measured_again() -> None:
    measure, _ = _known_server(1000, 1000)
    found = search(measure, 800, max_steps=9, ceiling=2000)
    tries = iter([True, False])  # bound once (another process lagged the loader), then fine

    def long(rate: float) -> Step:
        bound = next(tries)
        step = measure(rate, long=True)
        return replace(step, met=step.met and not bound, loader_bound=bound, why="loader-bound" if bound else "")

    outcome = confirm(long, found, max_steps=12, slo=P99)
    assert [s.loader_bound for s in outcome.confirmations] == [True, False]
    assert outcome.limit != "loader" and outcome.capacity is outcome.confirmations[-1]


def test_each_step_draws_its_own_arrivals_and_the_same_run_seed_the_same_ones() -> None:
    seeds = [step_seed(42, i) for i in range(12)]
    assert len(set(seeds)) == 12 and seeds == [step_seed(42, i) for i in range(12)]
    assert step_seed(None, 3) is None  # uniform arrivals have no seed
    assert all(0 <= s <= MAX_SEED for s in seeds + [step_seed(MAX_SEED, 5)])


def test_a_confirmation_runs_long_enough_for_its_percentile() -> None:
    p99, p90 = parse_slo("p99=50ms"), parse_slo("p90=50ms")
    # 100 answers beyond the p99 at 132 req/s take 76 s: capped at a minute
    assert confirm_seconds(10.0, 132.0, p99) == CONFIRM_MAX_S
    assert confirm_seconds(10.0, 500.0, p99) == pytest.approx(100 / (0.01 * 500))  # 20 s
    assert confirm_seconds(10.0, 5000.0, p99) == 10.0  # --confirm is the floor
    assert confirm_seconds(10.0, 500.0, p90) == 10.0
    assert confirm_seconds(30.0, 500.0, p99, tail=0) == 30.0


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.mark.anyio
async def test_a_search_cancelled_before_its_confirmation_reads_the_same_in_every_output() -> None:
    # a search that met a rate and was cancelled (x in the app) before its confirmation:
    # no capacity (nothing held the rate longer), yet a rate met. md, json, csv, html
    # (table, bars, knee legend) and the app (knee legend, card) all say so — "X req/s
    # unconfirmed, search ended early" — where html, the knee chart and the app said
    # "none met". (--confirm 0's figure, marked unconfirmed: test_export_capacity.py)
    import json
    import threading

    from test_export_capacity import _plain
    from tui_snapshot_app import CATALOG, OPTIONS

    from wsgicompare.tui.app import WsgiCompareApp
    from wsgicompare.tui.widgets import RunColumn
    from wsgicompare.tui.widgets.knee_chart import knee_series, knee_text

    # 2 workers × 20 ms: 100 req/s, so the steps (80 req/s) ask little of a loader that
    # shares a busy machine; uniform arrivals: at 0.8 × the capacity a steady schedule
    # queues nowhere, so the first step is met (Poisson bursts on 2 workers can grow a
    # queue in a 1 s window)
    plan = CapacityPlan(
        slo=parse_slo("p50=100ms,errors=1%"), step_s=1.0, max_steps=4, confirm_s=2.0, arrivals="uniform", **QUICK
    )
    with serve("capacity", delay_s=0.020, workers=2) as server:
        for _ in range(3):  # a loader lagged by the rest of a busy machine ends a search loader-bound: again
            conductor = Conductor(settle_max_s=1.0)
            cancel, met = threading.Event(), threading.Event()
            conductor.on_step = lambda step: met.set() if step.met else None
            # cancelled as the step after the first met one begins
            r = conductor.run_one(capacity_spec(server.url, plan), lambda tick: met.is_set() and cancel.set(), cancel)
            if r.capacity is None or r.capacity.limit != "loader":
                break
    r = replace(r, backend="cancelled")
    cap = r.capacity
    assert cap is not None
    met_rps = [round(s.rps, 1) for s in cap.steps if s.met]
    assert met_rps and not any(s.confirm for s in cap.steps), [s.why for s in cap.steps]
    x = max(met_rps)
    doc = json.loads(render("json", [r], {}))["runs"][0]["capacity"]
    assert (doc["rps"], doc["limit"], doc["unconfirmed_rps"]) == (None, FAILED_LIMIT, x) and "confirmed" not in doc
    assert doc["verdict"].endswith(f"no server capacity ({x:,.0f} req/s met in a step, unconfirmed)"), doc
    (row,) = csv.DictReader(io.StringIO(render("csv", [r], {})))
    assert (row["capacity_rps"], row["capacity_limit"], float(row["capacity_unconfirmed_rps"])) == ("", "failed", x)
    said = f"{x:,.0f} req/s unconfirmed, search ended early"
    assert f"| {said} |" in render("md", [r], {}).split("## Runs")[0]
    page = render("html", [r], {})
    assert f'<td class="n">{said}</td>' in page  # the table
    assert f"cancelled · {said}" in page and f"cancelled ({said})" in page  # the knee legend, the bars
    assert "none met" not in page
    legend = knee_text(*knee_series([r]), 160, 16).plain  # the app's: an entry is cut to its column (…)
    assert f"cancelled {x:,.0f} unconfirmed, sea" in legend and "no rate met" not in legend, legend
    app = WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=[r], clock=False)
    async with app.run_test(size=(160, 60)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        (card,) = app.screen.query(RunColumn)
        shown = _plain(card)
        assert f"{x:,.0f} unconfirmed, search ended early" in shown.replace("\n", " ") and "none met" not in shown
