"""The headless progress display: a bar with an ETA and a live table bounded to the
active and latest rows on a terminal; one line per run (and per capacity step) in a log."""

from __future__ import annotations

import io
from dataclasses import replace

from rich.console import Console

from wsgicompare.engine.capacity import CapacityPlan, Slo, Step
from wsgicompare.engine.runspec import default_load, default_spec
from wsgicompare.front.progress import LIVE_ROWS, Progress, expected_s
from wsgicompare.results import RunResult


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, as stderr does in a shell."""

    def isatty(self) -> bool:
        return True


def specs(n: int):
    load = default_load(duration_s=5.0, warmup_s=1.0)
    return [default_spec(f"b{i}", load=load) for i in range(n)]


def screen(progress: Progress) -> str:
    console = Console(file=io.StringIO(), width=160, color_system=None)
    console.print(progress._render())
    return console.file.getvalue()  # type: ignore[attr-defined]


def done(backend: str) -> RunResult:
    return RunResult(
        backend=backend, title=backend, workload="hello", status="ok", requests=10, rps=100.0, rps_2xx=100.0
    )


def test_a_long_matrix_shows_only_the_latest_rows_and_says_so() -> None:
    progress = Progress(specs(20), stream=Terminal())
    for i in range(20):
        progress.on_result(done(f"b{i}"))
    text = screen(progress)
    shown = [line for line in text.splitlines() if line.split(" ", 1)[0].startswith("b") and " hello " in line]
    assert len(shown) == LIVE_ROWS
    assert "b19" in text and " b0 " not in text
    assert f"{20 - LIVE_ROWS} earlier runs not shown" in text
    assert "20/20 runs" in text


def test_the_eta_starts_from_the_specs_and_follows_the_runs() -> None:
    progress = Progress(specs(4), stream=Terminal())
    assert expected_s(specs(1)[0]) == 5.0 + 1.0 + 2.0
    assert 31.0 <= progress.eta_s() <= 32.0  # 4 × 8 s, a moment in
    progress.run_times = [20.0]
    progress.done = 1
    progress.run_started -= 5.0  # the second run is 5 s in
    assert 54.0 <= progress.eta_s() <= 55.5  # 3 to go at 20 s each, less 5 s
    assert "ETA" in screen(progress)


def test_a_capacity_search_is_expected_to_take_its_steps() -> None:
    spec = replace(specs(1)[0], capacity=CapacityPlan(Slo("p99", 50.0, 0.1), step_s=3.0, max_steps=10))
    assert expected_s(spec) > 40.0
    # its closed-loop probe (2 s) only where it runs one: not in a ladder, nor in a search
    # that starts from a probe already made (--recommend's probe stage)
    plan = CapacityPlan(Slo("p99", 50.0, 0.1), step_s=1.0, max_steps=2, confirm_s=0.0, step_warmup_s=0.5)
    searched = expected_s(replace(spec, capacity=plan))
    assert searched == plan.probe_s + 2 * (1.0 + 0.5 + 1.0) + 2.0
    assert expected_s(replace(spec, capacity=replace(plan, probe_rps=300.0))) == searched - plan.probe_s
    assert expected_s(replace(spec, capacity=replace(plan, rates=(100.0, 200.0)))) == searched - plan.probe_s


def test_in_a_log_each_run_and_each_step_is_one_line() -> None:
    log = io.StringIO()
    progress = Progress(specs(2), stream=log)
    progress.on_step(Step(400.0, 399.0, 5.0, 14.5, 14.5, 0.0, True, 3.0))
    progress.on_result(done("b0"))
    lines = log.getvalue().splitlines()
    assert lines[0] == "  step 1: 400 req/s offered → 399 served, p99 14.5 ms: met"
    assert lines[1].startswith("[1/2] b0 hello: ok")
