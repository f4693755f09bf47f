"""--baseline OLD.json: a bad file is one line and exit 2 before anything starts; the
change of 2xx req/s, p99 and capacity is computed against the same backend and
workload; md and html gain change columns; --fail-if rps_change<-10% breaks (exit 3)
or holds (exit 0) against a real backend measured here."""

from __future__ import annotations

import json
import os

import pytest
from backend_support import require_backend
from golden.samples import META, capacity_results, sample_results

from wsgicompare.backends import get_backend
from wsgicompare.cli import main
from wsgicompare.reporting.baseline import Baseline, change, change_cell, load_baseline
from wsgicompare.reporting.export import render
from wsgicompare.reporting.thresholds import check, parse_threshold
from wsgicompare.results import SCHEMA, RunResult, document
from wsgicompare.settings.options import OptionError, parse_options

#: the ``cli`` fixture: main(argv) in-process behind the tripwire (tests/cli_support.py)
pytest_plugins = ["cli_support"]


def _doc(*runs: dict) -> dict:
    return {"schema": SCHEMA, "created": "2026-01-01T00:00:00+00:00", "runs": list(runs)}


def _run(**fields) -> dict:
    base = {"backend": "gunicorn", "title": "gunicorn", "workload": "hello", "status": "ok", "requests": 1000}
    return {**base, **fields}


def _write(path, content) -> str:
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return str(path)


# -- reading the file --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, needle",
    [
        ("{not json", "not a JSON report"),
        ("\udcff", "not a JSON report: not UTF-8 text"),
        ("[1, 2]", "the JSON is not an object"),
        ({"schema": "wsgicompare/0", "runs": []}, "not a wsgicompare/1 report (schema 'wsgicompare/0')"),
        ({"schema": SCHEMA}, "'runs' must be a list"),
        (_doc({"backend": "gunicorn"}), "run 1: no 'title'"),
        (_doc(_run(rps="fast")), "run 1: 'rps' must be a number"),
        (_doc(_run(requests="many")), "run 1: 'requests' must be a number"),
        (_doc(_run(latency_ms={"p99": "slow"})), "run 1: latency_ms 'p99' must be a number"),
        (_doc(_run(capacity=[])), "run 1: 'capacity' must be an object"),
        (_doc(_run(bogus_key=1, rps=1.5)), None),  # a newer writer's extra key is fine
        ("[" * 100_000, "not a JSON report"),
    ],
)
def test_a_malformed_file_is_one_line(tmp_path, content, needle):
    path = tmp_path / "old.json"
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8", "surrogateescape"))
    else:
        path.write_text(json.dumps(content))
    if needle is None:
        assert load_baseline(str(path)).runs
        return
    with pytest.raises(OptionError) as info:
        load_baseline(str(path))
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_what_is_not_a_regular_file_is_refused(tmp_path):
    with pytest.raises(OptionError, match="cannot read it: No such file"):
        load_baseline(str(tmp_path / "missing.json"))
    with pytest.raises(OptionError, match="not a regular file"):
        load_baseline(str(tmp_path))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OptionError, match="not a regular file"):  # would block a read forever
        load_baseline(str(fifo))


def test_a_saved_report_reads_back_as_a_baseline(tmp_path):
    path = _write(tmp_path / "old.json", document(sample_results(), META))
    baseline = load_baseline(path)
    assert set(baseline.runs) == {(r.backend, r.workload) for r in sample_results()}
    assert baseline.created == META["created"]


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--backend", "gunicorn", "--baseline", "/nonexistent/old.json"], "cannot read it"),
        (["--backend", "gunicorn", "--fail-if", "rps_change<-10%"], "a change needs --baseline"),
        (["--backend", "gunicorn", "--fail-if", "rps_change<-10"], "a change is in percent"),
        (["--backend", "gunicorn", "--fail-if", "capacity_change<-5%"], "a capacity needs --find-capacity"),
        (["--baseline", "old.json"], "--baseline compares headless runs"),
    ],
)
def test_bad_baselines_through_the_entry_point_start_nothing(args, needle, cli):
    cli.refused(args, needle)


def test_another_schema_through_the_entry_point_starts_nothing(tmp_path, cli):
    path = _write(tmp_path / "old.json", {"schema": "k6/1", "runs": []})
    cli.refused(["--backend", "gunicorn", "--baseline", path], "not a wsgicompare/1 report")


@pytest.mark.parametrize(
    "doc, problem",
    [
        (
            {"schema": "wsgicompare/1", "runs": [{"backend": "gunicorn", "title": "g", "workload": "hello"}]},
            "run 1: no 'status'",
        ),
        ({"schema": "wsgicompare/1", "runs": []}, "the report holds no runs"),
        (
            {
                "schema": "wsgicompare/1",
                "runs": [{"backend": "g", "title": "g", "workload": "h", "status": "ok", "rps": "x"}],
            },
            "'rps' must be a number",
        ),
    ],
)
def test_open_and_baseline_read_a_report_the_same_way(tmp_path, cli, doc, problem):
    # one reader of saved reports (reporting.saved.read_document): the same file, the same
    # refusal, only the option it came with differs
    path = _write(tmp_path / "old.json", doc)
    opened = cli.refused(["--open", path], problem)
    compared = cli.refused(["--backend", "gunicorn", "--baseline", path], problem)
    assert opened.replace("--open", "--baseline") == compared


def test_baseline_is_a_config_key(tmp_path):
    path = tmp_path / "ci.toml"
    path.write_text('backend = "gunicorn"\nbaseline = "old.json"\nfail-if = ["rps_2xx_change<-10%"]\n')
    o = parse_options(["--config", str(path)])
    assert o.baseline == "old.json" and o.fail_if[0].figure == "rps_2xx_change"


# -- changes -----------------------------------------------------------------------------------


def _result(**fields) -> RunResult:
    return RunResult.from_dict(_run(**fields))


def _baseline(*runs: dict) -> Baseline:
    return Baseline(path="old.json", created=None, runs={(r["backend"], r["workload"]): _result(**r) for r in runs})


def test_changes_against_the_same_backend_and_workload():
    base = _baseline(
        _run(rps=1000.0, rps_2xx=1000.0, latency_ms={"p99": 10.0}, capacity={"rps": 800.0, "limit": "server"}),
        _run(workload="json", rps_2xx=500.0),
        _run(backend="uwsgi", status="failed", reason="did not start"),
    )
    now = _result(rps=900.0, rps_2xx=850.0, latency_ms={"p99": 12.5}, capacity={"rps": 840.0, "limit": "server"})
    assert change(now, base, "rps_2xx") == (pytest.approx(-15.0), "")
    assert change(now, base, "rps") == (pytest.approx(-10.0), "")
    assert change(now, base, "p99") == (pytest.approx(25.0), "")
    assert change(now, base, "capacity") == (pytest.approx(5.0), "")
    assert [change_cell(now, base, k) for k in ("rps_2xx", "p99", "capacity")] == ["−15.0 %", "+25.0 %", "+5.0 %"]
    assert change(_result(workload="cpu", rps_2xx=1.0), base, "rps_2xx")[1] == "no gunicorn cpu run in the baseline"
    assert change_cell(_result(workload="cpu", rps_2xx=1.0), base, "rps_2xx") == "new"
    nothing = _result(workload="cpu", status="unavailable", requests=0)
    assert change_cell(nothing, base, "rps_2xx") == "—"  # measured nothing: no "new" figure either
    assert change(_result(backend="uwsgi"), base, "rps_2xx")[1] == "the baseline's uwsgi hello run failed"
    assert change(now, _baseline(_run(rps_2xx=0.0)), "rps_2xx")[1] == "the baseline's rps_2xx is 0: no relative change"
    assert change_cell(_result(workload="json", latency_ms={}), base, "p99") == "—"
    loader = _result(capacity={"rps": 9000.0, "limit": "loader"})
    assert change(loader, base, "capacity")[1] == "this run has no capacity"


def test_change_thresholds_parse_and_check():
    assert parse_threshold("rps_change<-10%").limit == -10.0
    assert parse_threshold("p99_change>+20%").limit == 20.0
    base = _baseline(_run(rps=1000.0, rps_2xx=1000.0, latency_ms={"p99": 10.0}))
    now = _result(rps=880.0, rps_2xx=880.0, latency_ms={"p99": 11.0})
    c = check(parse_threshold("rps_change<-10%"), now, base)
    assert (c["passed"], c["value"], c["why"]) == (False, pytest.approx(-12.0), "rps_change -12.0 % < -10.0 %")
    assert check(parse_threshold("p99_change>20%"), now, base)["passed"] is True
    assert check(parse_threshold("rps_change<-10%"), now, None)["why"] == "no --baseline to compare with"
    new = check(parse_threshold("rps_change<-10%"), _result(workload="cpu", rps=5.0), base)
    assert (new["passed"], new["why"]) == (False, "no gunicorn cpu run in the baseline")


def test_md_and_html_gain_change_columns_only_with_a_baseline():
    results = sample_results()
    old = [RunResult.from_dict({**r.to_dict(), "rps_2xx": r.rps_2xx * 2}) for r in results]
    meta = {**META, "baseline": Baseline("old.json", "then", {(r.backend, r.workload): r for r in old})}
    md = render("md", results, meta)
    table = md.split("## Comparison")[1].split("## Runs")[0]
    assert "| 2xx req/s | Δ 2xx req/s | p50 ms | p99 ms | Δ p99 |" in table
    assert "−50.0 %" in table
    assert "- baseline: old.json (created then," in md
    html = render("html", results, meta)
    assert "<th>Δ 2xx req/s</th>" in html and "<th>Δ p99</th>" in html and "−50.0 %" in html
    assert "Δ" not in render("md", results, META) and "Δ" not in render("html", results, META)
    caps = capacity_results()
    cap_meta = {**META, "baseline": Baseline("old.json", None, {(r.backend, r.workload): r for r in caps})}
    cap_md = render("md", caps, cap_meta)
    assert "| capacity req/s | Δ capacity | 2xx req/s | Δ 2xx req/s |" in cap_md
    assert "<th>Δ capacity</th>" in render("html", caps, cap_meta)


# -- end to end --------------------------------------------------------------------------------


def test_a_real_run_against_a_baseline(tmp_path, capsys):
    require_backend(get_backend("gunicorn"))
    out = tmp_path / "new"
    args = ["--backend", "gunicorn", "-c", "4", "-d", "1", "--warmup", "0.2", "--fail-if", "rps_change<-10%"]
    args += ["--export", "md", "--export", "html", "--export", "json", "-o", str(out)]
    # a baseline far faster than any server here: the new run is a regression
    fast = _write(tmp_path / "fast.json", _doc(_run(rps=1e9, rps_2xx=1e9, latency_ms={"p99": 0.001})))
    assert main([*args, "--baseline", fast]) == 3, capsys.readouterr().err
    assert (
        "threshold broken: rps_change<-10% on gunicorn hello: rps_change -100.0 % < -10.0 %" in capsys.readouterr().err
    )
    doc = json.loads((tmp_path / "new.json").read_text())
    (entry,) = doc["thresholds"]
    assert entry["passed"] is False and entry["value"] == pytest.approx(-100.0, abs=0.01)
    md = (tmp_path / "new.md").read_text()
    assert "| Δ 2xx req/s |" in md and "−100.0 %" in md and "| Δ p99 |" in md
    assert "<th>Δ 2xx req/s</th>" in (tmp_path / "new.html").read_text()
    # a baseline far slower: no regression, exit 0
    slow = _write(tmp_path / "slow.json", _doc(_run(rps=1.0, rps_2xx=1.0, latency_ms={"p99": 1e6})))
    assert main([*args, "--baseline", slow]) == 0, capsys.readouterr().err
    (entry,) = json.loads((tmp_path / "new.json").read_text())["thresholds"]
    assert entry["passed"] is True and entry["value"] > 100
    # the report it wrote is a baseline for the next run
    assert load_baseline(str(tmp_path / "new.json")).runs[("gunicorn", "hello")].rps_2xx > 0
