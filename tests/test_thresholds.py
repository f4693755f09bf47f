"""--fail-if: every figure, operator and unit parses to the limit it says and breaks
exactly when it should; a bad expression is one line and exit 2 before anything starts;
the md and json reports list every check; through the real command line a run that
breaks a threshold exits 3 (after the reports are written), one that does not exits 0,
and "nothing measured" (1) and SIGTERM (143) keep precedence over 3."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest
from backend_support import require_backend
from golden.samples import META, sample_results
from loader_servers import serve
from pattern_server import PatternServer
from reliability_support import wait_for

from wsgicompare.backends import get_backend
from wsgicompare.cli import main
from wsgicompare.reporting.export import render
from wsgicompare.reporting.thresholds import check, evaluate, parse_threshold, parse_thresholds
from wsgicompare.results import CapacityResult, LatencyFigures, RunResult
from wsgicompare.settings.config_file import dump_toml, to_config
from wsgicompare.settings.options import OptionError, parse_options

#: the ``cli`` fixture: main(argv) in-process behind the tripwire (tests/cli_support.py)
pytest_plugins = ["cli_support"]

# -- parsing: every figure and unit -----------------------------------------------------------


@pytest.mark.parametrize(
    "expr, figure, limit, percent",
    [
        ("p99>50ms", "p99", 50.0, False),
        ("p50 > 0.2s", "p50", 200.0, False),
        ("p90>500us", "p90", 0.5, False),
        ("p999>=750µs", "p999", 0.75, False),
        ("max<=2s", "max", 2000.0, False),
        ("P99>.5ms", "p99", 0.5, False),
        ("rps<1000", "rps", 1000.0, False),
        ("rps_2xx<=2500.5", "rps_2xx", 2500.5, False),
        ("errors>0.1%", "errors", 0.1, True),
        ("errors>10", "errors", 10.0, False),
        ("errors>=0", "errors", 0.0, False),
        ("availability<99.9%", "availability", 99.9, False),
        ("availability<99.9", "availability", 99.9, False),
        ("capacity<500", "capacity", 500.0, False),
    ],
)
def test_every_figure_and_unit_parses_to_its_limit(expr, figure, limit, percent):
    t = parse_threshold(f"  {expr} ")
    assert (t.expr, t.figure, t.limit, t.percent) == (expr, figure, pytest.approx(limit), percent)


@pytest.mark.parametrize(
    "op, below, at, above",
    [("<", True, False, False), ("<=", True, True, False), (">", False, False, True), (">=", False, True, True)],
)
def test_every_operator_breaks_exactly_when_it_says(op, below, at, above):
    t = parse_threshold(f"p99{op}50ms")
    assert (t.breaks(49.99), t.breaks(50.0), t.breaks(50.01)) == (below, at, above)


@pytest.mark.parametrize(
    "expr, needle",
    [
        ("", "needs an expression"),
        ("p98>5ms", "unknown figure 'p98'"),
        ("latency>5ms", "unknown figure 'latency'"),
        ("p99=50ms", "not FIGURE OP VALUE"),
        ("p99>>50ms", "not FIGURE OP VALUE"),
        ("p99>fifty", "not FIGURE OP VALUE"),
        ("p99>50", "give p99 a unit"),
        ("p99>50%", "give p99 a unit"),
        ("p99>-5ms", "never negative"),
        ("rps<10ms", "plain number of req/s"),
        ("rps<5%", "plain number of req/s"),
        ("errors>0.5", "whole count"),
        ("errors>5ms", "whole count"),
        ("errors>101%", "at most 100%"),
        ("availability<101%", "percentage from 0 to 100"),
        ("availability<99ms", "percentage from 0 to 100"),
        ("rps<1e9", "not FIGURE OP VALUE"),
        ("rps<99999999999999", "out of range"),
        ("p99>50ms" + " " * 100, "not a threshold"),
        ("p99>50ms\nrps<1", "not FIGURE OP VALUE"),
    ],
)
def test_a_bad_expression_is_one_line(expr, needle):
    with pytest.raises(OptionError) as info:
        parse_threshold(expr)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_the_same_expression_twice_is_one_check():
    assert [t.expr for t in parse_thresholds(["p99>5ms", "rps<10", "p99>5ms"])] == ["p99>5ms", "rps<10"]
    with pytest.raises(OptionError, match="an expression or a list"):
        parse_thresholds(42)


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--backend", "gunicorn", "--fail-if", "p99>50"], "give p99 a unit"),
        (["--backend", "gunicorn", "--fail-if", "p42>1ms"], "unknown figure 'p42'"),
        (["--backend", "gunicorn", "--fail-if", "capacity<500"], "a capacity needs --find-capacity or --rates"),
        (["--fail-if", "p99>50ms"], "--fail-if checks headless runs"),
    ],
)
def test_bad_thresholds_through_the_entry_point_start_nothing(args, needle, cli):
    cli.refused(args, needle)


def test_thresholds_are_a_config_key_and_round_trip(tmp_path):
    path = tmp_path / "ci.toml"
    path.write_text('backend = "gunicorn"\nfail-if = ["p99>50ms", "errors>0.1%"]\n')
    o = parse_options(["--config", str(path)])
    assert [t.expr for t in o.fail_if] == ["p99>50ms", "errors>0.1%"]
    path.write_text('backend = "gunicorn"\nfail-if = "rps<10"\n')
    assert [t.expr for t in parse_options(["--config", str(path)]).fail_if] == ["rps<10"]
    argv = ["--backend", "gunicorn", "--fail-if", "p99>0.2s", "--fail-if", "availability<99.9%"]
    original = parse_options(argv)
    path.write_text(dump_toml(to_config(original)))
    assert parse_options(["--config", str(path)]).fail_if == original.fail_if
    path.write_text('backend = "gunicorn"\nfail-if = ["p99>50"]\n')
    with pytest.raises(OptionError, match="give p99 a unit"):
        parse_options(["--config", str(path)])


# -- checking runs ---------------------------------------------------------------------------


def _run(**fields) -> RunResult:
    base = dict(backend="gunicorn", title="gunicorn", workload="hello", status="ok")
    return RunResult(**{**base, **fields})


def test_each_figure_is_read_from_the_run():
    r = _run(
        requests=1000,
        responses={"2xx": 990, "3xx": 0, "4xx": 4, "5xx": 0},
        errors={"read_timeout": 6},
        rps=500.0,
        rps_2xx=495.0,
        latency_ms=LatencyFigures(p50=2.0, p90=4.0, p99=61.2, p999=80.0, max=99.0),
    )
    values = {
        "p99>50ms": (61.2, False),
        "max<=0.1s": (99.0, False),
        "rps<400": (500.0, True),
        "rps_2xx<496": (495.0, False),
        "errors>0.5%": (1.0, False),
        "errors>=10": (10.0, False),
        "errors>10": (10.0, True),
        "availability<99%": (99.0, True),
        "availability<99.5%": (99.0, False),
    }
    for expr, (value, passed) in values.items():
        c = check(parse_threshold(expr), r)
        assert (c["value"], c["passed"]) == (pytest.approx(value), passed), (expr, c)
    assert check(parse_threshold("p99>50ms"), r)["why"] == "p99 61.20 ms > 50.00 ms"
    assert check(parse_threshold("errors>10"), r)["why"] == "errors 10, not > 10"


def test_a_run_without_the_figure_breaks_and_says_why():
    failed = _run(status="failed", reason="server crashed at t=1.2 s", requests=50, latency_ms=LatencyFigures(p99=1.0))
    c = check(parse_threshold("p99>50ms"), failed)
    assert (c["passed"], c["value"], c["why"]) == (False, None, "the run failed: server crashed at t=1.2 s")
    nothing = _run()
    assert check(parse_threshold("p99>50ms"), nothing)["why"] == "no p99: no request was answered"
    assert check(parse_threshold("errors>1%"), nothing)["why"] == "no share of errors: no request was measured"
    assert check(parse_threshold("availability<99%"), nothing)["why"] == "no availability: no request was measured"
    none_met = _run(capacity=CapacityResult(rps=None, limit="server", verdict="no rate met p99 ≤ 5 ms"))
    c = check(parse_threshold("capacity<500"), none_met)
    assert (c["passed"], c["why"]) == (False, "no capacity: no rate met p99 ≤ 5 ms")
    loader = _run(capacity=CapacityResult(rps=9000.0, limit="loader", verdict="loader-bound at 9,000 req/s"))
    assert check(parse_threshold("capacity<500"), loader)["why"].startswith("no server capacity: loader-bound")
    found = _run(capacity=CapacityResult(rps=800.0, limit="server", verdict="capacity 800 req/s"))
    assert check(parse_threshold("capacity<500"), found)["passed"] is True
    assert check(parse_threshold("capacity<1000"), found)["passed"] is False


def test_a_backend_not_installed_here_is_not_checked():
    runs = [_run(backend="nginx-static", status="unavailable", reason="missing nginx"), _run(rps=10.0)]
    checks = evaluate([parse_threshold("rps<5")], runs)
    assert [(c["backend"], c["passed"]) for c in checks] == [("gunicorn", True)]


def test_reports_list_every_check():
    meta = {**META, "fail_if": tuple(parse_thresholds(["p99>40ms", "errors>0.5%"]))}
    results = sample_results()
    doc = json.loads(render("json", results, meta))
    measured = [r for r in results if r.status != "unavailable"]
    assert len(doc["thresholds"]) == 2 * len(measured)
    for entry in doc["thresholds"]:
        assert set(entry) == {"expr", "backend", "workload", "value", "passed", "why"}
    assert doc["schema"] == "wsgicompare/1"
    md = render("md", results, meta)
    section = md.split("## Thresholds")[1].split("## Runs")[0]
    broken = [c for c in doc["thresholds"] if not c["passed"]]
    if broken:
        assert f"**{len(broken)} of {len(doc['thresholds'])} checks broken**" in section
    assert section.count("| `p99>40ms` |") == len(measured)
    # without --fail-if neither report says anything about thresholds
    assert "thresholds" not in json.loads(render("json", results, META))
    assert "## Thresholds" not in render("md", results, META)


# -- through the command line, against real servers ------------------------------------------


def test_exit_3_when_a_real_backend_breaks_a_threshold_and_0_when_not(tmp_path, capsys):
    require_backend(get_backend("gunicorn"))
    out = tmp_path / "ci"
    base = ["--backend", "gunicorn", "-c", "4", "-d", "1", "--warmup", "0.2", "--export", "json", "--export", "md"]
    code = main([*base, "-o", str(out), "--fail-if", "p99>10s", "--fail-if", "errors>0"])
    assert code == 0, capsys.readouterr().err
    doc = json.loads((tmp_path / "ci.json").read_text())
    assert [(c["expr"], c["passed"]) for c in doc["thresholds"]] == [("p99>10s", True), ("errors>0", True)]
    assert "All 2 checks passed." in (tmp_path / "ci.md").read_text()
    capsys.readouterr()

    code = main([*base, "-o", str(out), "--fail-if", "p99>10s", "--fail-if", "rps_2xx<1000000000"])
    err = capsys.readouterr().err
    assert code == 3, err
    doc = json.loads((tmp_path / "ci.json").read_text())  # written before the exit
    assert [(c["expr"], c["passed"]) for c in doc["thresholds"]] == [("p99>10s", True), ("rps_2xx<1000000000", False)]
    assert doc["thresholds"][1]["value"] == pytest.approx(doc["runs"][0]["rps_2xx"], rel=1e-3)
    assert "threshold broken: rps_2xx<1000000000 on gunicorn hello: rps_2xx " in err
    assert "**1 of 2 checks broken**" in (tmp_path / "ci.md").read_text()


def test_a_known_error_share_breaks_errors_and_availability(tmp_path, capsys):
    with PatternServer(every=4) as server:  # every 4th request a 500: 25 % failures
        args = ["--url", server.url, "-c", "2", "-d", "1", "--warmup", "0", "-o", str(tmp_path / "r.json")]
        checks = ["errors>20%", "errors>30%", "availability<80%", "availability<70%"]
        code = main([*args, *(x for c in checks for x in ("--fail-if", c))])
    assert code == 3, capsys.readouterr().err
    doc = json.loads((tmp_path / "r.json").read_text())
    result = {c["expr"]: (c["passed"], c["value"]) for c in doc["thresholds"]}
    assert result["errors>20%"][0] is False and result["errors>30%"][0] is True
    assert result["availability<80%"][0] is False and result["availability<70%"][0] is True
    assert result["errors>20%"][1] == pytest.approx(25.0, abs=0.5)


def test_nothing_measured_exits_1_not_3(tmp_path, capsys):
    with serve("silent") as server:  # reads every request, answers none
        code = main(
            ["--url", server.url, "-c", "2", "-d", "0.5", "--warmup", "0", "--timeout", "0.3s"]
            + ["-o", str(tmp_path / "r.json"), "--fail-if", "p99>1ms"]
        )
    assert code == 1, capsys.readouterr().err
    (entry,) = json.loads((tmp_path / "r.json").read_text())["thresholds"]
    assert entry["passed"] is False and entry["why"].startswith("the run failed: no request was answered")


def test_sigterm_exits_143_not_3(tmp_path):
    out = tmp_path / "r.json"
    with serve("ok") as server:
        proc = subprocess.Popen(
            [sys.executable, "-m", "wsgicompare", "--url", server.url, "-c", "2", "-d", "30"]
            + ["-o", str(out), "--fail-if", "rps<1000000000"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            # the load is running (its SIGTERM handler set) once the server has answered a request
            wait_for(lambda: server.requests > 0 or proc.poll() is not None, timeout_s=60)
            assert proc.poll() is None and server.requests > 0, "the run ended or never reached the server"
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    (entry,) = json.loads(out.read_text())["thresholds"]
    assert entry["passed"] is False  # the report still says what broke


def test_md_with_thresholds_and_a_baseline_matches_golden_file():
    from test_export import GOLDEN, UPDATE_VAR, golden_update_requested

    from wsgicompare.reporting.baseline import Baseline

    update = golden_update_requested()
    results = sample_results()
    old = [RunResult.from_dict({**r.to_dict(), "rps_2xx": r.rps_2xx * 1.1}) for r in results[:2]]
    meta = {
        **META,
        "fail_if": tuple(parse_thresholds(["p99>40ms", "errors>0.5%", "rps_2xx_change<-5%"])),
        "baseline": Baseline("main/perf.json", "2026-01-01T00:00:00+00:00", {(r.backend, r.workload): r for r in old}),
    }
    text = render("md", results, meta)
    path = GOLDEN / "checks.md"
    if update:
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            path.write_text(text, encoding="utf-8")
        pytest.fail(f"golden updated: {path.name}; rerun without {UPDATE_VAR} to check", pytrace=False)
    assert text == path.read_text(encoding="utf-8")
