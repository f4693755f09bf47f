"""The HTML report's knee chart (wsgicompare/reporting/export/knee.py), read back from its SVG: the
SLO is a line across the whole x axis at the budget's height, each run's points are
joined in ascending offered rate, 12 runs are readable (the ranking's first five drawn
strong, the rest thin), and no two axis labels overlap (issue 20, item 3)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from golden.samples import CAPACITY_META, capacity_results

from wsgicompare.engine.capacity import Slo, Step, search
from wsgicompare.reporting.export import render
from wsgicompare.reporting.export.html import charts
from wsgicompare.reporting.export.knee import HIGHLIGHT, knee_points, log_ticks
from wsgicompare.results import CapacityResult, LatencyFigures, RunResult

SVG = "{http://www.w3.org/2000/svg}"
SLO = Slo("p99", 50.0, 0.1)


def searched(backend: str, capacity: float, floor_ms: float) -> RunResult:
    """A run whose steps come from the real search against a cliff at ``capacity``: out of
    rate order, with a rate bisected close to another."""

    def measure(rate: float) -> Step:
        p99 = floor_ms * (1 + rate / capacity) if rate <= capacity else 400.0 * rate / capacity
        met = p99 <= SLO.latency_ms
        return Step(rate, min(rate, capacity), p99 / 3, p99, p99, 0.0, met, 3.0, why="" if met else "p99")

    outcome = search(measure, 0.7 * capacity, ceiling=1.5 * capacity)
    best = outcome.best
    assert best is not None
    return RunResult(
        backend=backend,
        title=backend,
        workload="hello",
        status="ok",
        requests=int(best.rps * 3),
        responses={"2xx": int(best.rps * 3)},
        elapsed_s=3.0,
        rps=best.rps,
        rps_2xx=best.rps,
        latency_ms=LatencyFigures(p50=best.p50_ms, p99=best.p99_ms),
        capacity=outcome.result(SLO),
    )


def twelve() -> list[RunResult]:
    rates = (9000, 7500, 6200, 6000, 6000, 3500, 3300, 3000, 2900, 2600, 2500, 150)
    return [searched(f"backend-{i:02d}", c, 2.0 + i * 3) for i, c in enumerate(rates)]


def knee_svg(runs: list[RunResult]) -> ET.Element:
    svg = dict(charts(runs))["Latency vs offered load"]
    return ET.fromstring(svg)


def series_paths(root: ET.Element) -> dict[int, list[tuple[float, float]]]:
    """serie index → the (x, y) pixel points of its line, in drawing order."""
    out = {}
    for g in root.iter(f"{SVG}g"):
        m = re.fullmatch(r"series serie-(\d+) color-\d+", g.get("class", ""))
        path = g.find(f"{SVG}path")
        if m and path is not None and "line" in path.get("class", ""):
            numbers = [float(v) for v in re.findall(r"-?[\d.]+", path.get("d", ""))]
            out[int(m.group(1))] = list(zip(numbers[::2], numbers[1::2]))
    return out


def axis_labels(root: ET.Element, axis: str) -> list[tuple[str, float, float]]:
    """(text, x, y) of an axis' labels."""
    group = next(g for g in root.iter(f"{SVG}g") if g.get("class", "").startswith(f"axis {axis}"))
    return [(t.text or "", float(t.get("x", 0)), float(t.get("y", 0))) for t in group.iter(f"{SVG}text")]


def guide_y(root: ET.Element, label: str) -> float:
    """The y of the y axis' guide line labelled ``label``."""
    group = next(g for g in root.iter(f"{SVG}g") if g.get("class", "").startswith("axis y"))
    for g in group.iter(f"{SVG}g"):
        text, path = g.find(f"{SVG}text"), g.find(f"{SVG}path")
        if text is not None and text.text == label and path is not None:
            return float(re.findall(r"-?[\d.]+", path.get("d", ""))[1])
    raise AssertionError(f"no guide labelled {label}")


@pytest.mark.parametrize("runs", [capacity_results, twelve], ids=["golden", "twelve"])
def test_the_slo_line_spans_the_whole_x_axis_at_the_budget(runs) -> None:
    root = knee_svg(runs())
    paths = series_paths(root)
    slo = paths.pop(0)  # the SLO is the first series, the runs follow in the ranking's order
    xs = [x for points in paths.values() for x, _ in points]
    assert len(slo) == 2 and slo[0][1] == slo[1][1]  # level
    assert (slo[0][0], slo[1][0]) == (min(xs), max(xs))  # from the lowest plotted rate to the highest
    assert min(xs) == 0.0  # ... which is the x axis' left end (no x = 0 lost on the log axis)
    assert slo[0][1] == pytest.approx(guide_y(root, "50"), abs=0.01)  # at 50 ms


@pytest.mark.parametrize("runs", [capacity_results, twelve], ids=["golden", "twelve"])
def test_each_runs_points_are_joined_in_ascending_offered_rate(runs) -> None:
    results = runs()
    assert any(
        [s.rate for s in r.capacity.steps] != sorted(s.rate for s in r.capacity.steps) for r in results
    )  # the search measured them out of order
    paths = series_paths(knee_svg(results))
    paths.pop(0)
    assert len(paths) == len(results)
    for points in paths.values():
        xs = [x for x, _ in points]
        assert xs == sorted(xs) and len(set(xs)) == len(xs), xs


def test_a_rate_measured_twice_is_one_point_its_last() -> None:
    steps = [{"rate": 800, "slo_ms": 5.0}, {"rate": 1600, "slo_ms": 90.0}, {"rate": 1600, "slo_ms": 70.0}]
    assert knee_points(CapacityResult.from_dict({"steps": steps})) == [(800.0, 5.0), (1600.0, 70.0)]


def test_twelve_runs_the_first_five_strong_the_rest_thin() -> None:
    results = twelve()
    svg = dict(charts(results))["Latency vs offered load"]
    widths = {int(n): float(w) for n, w in re.findall(r"\.series\.serie-(\d+)\{stroke-width:([\d.]+)", svg)}
    runs = [widths[i + 1] for i in range(len(results))]
    assert runs[:HIGHLIGHT] == [max(runs)] * HIGHLIGHT and max(runs[HIGHLIGHT:]) < min(runs[:HIGHLIGHT]) / 2
    # each run's legend entry says its capacity; each capacity is a large dot on its curve
    for r in results:
        assert f"{r.backend} · {r.capacity.rps:,.0f} req/s" in svg
    assert len(re.findall(r'r="7"', svg)) == HIGHLIGHT and len(re.findall(r'r="4"', svg)) == len(results) - HIGHLIGHT


@pytest.mark.parametrize("runs", [capacity_results, twelve], ids=["golden", "twelve"])
def test_no_two_axis_labels_overlap(runs) -> None:
    root = knee_svg(runs())
    ys = sorted(y for _, _, y in axis_labels(root, "y"))
    assert len(ys) >= 3 and min(b - a for a, b in zip(ys, ys[1:])) >= 14  # 12 px labels
    xs = sorted((x, text) for text, x, _ in axis_labels(root, "x"))
    assert len(xs) >= 2
    for (x0, t0), (x1, t1) in zip(xs, xs[1:]):
        assert x1 - x0 >= 8 * (len(t0) + len(t1)) / 2 + 10, xs  # ~8 px a character, and a gap


def test_log_ticks_bracket_the_range_1_2_5_or_decades() -> None:
    assert log_ticks(3.0, 450.0) == [2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0]
    assert log_ticks(0.5, 50_000.0) == [0.1, 1.0, 10.0, 100.0, 1000.0, 10_000.0, 100_000.0]  # 5 decades


def test_the_report_still_marks_each_capacity_and_a_run_without_one() -> None:
    text = render("html", capacity_results(), CAPACITY_META)
    assert "SLO: p99 ≤ 50 ms" in text and "uwsgi · ≥ 1,500 req/s" in text and "flask-dev · none met" in text
    assert "flask-dev (none met)" in text  # the capacity bars say why it has none
