"""Golden-file tests of the exporters: a fixed RunResult list (tests/golden/samples.py)
must render byte for byte as the files in tests/golden. After an intended change,
regenerate with WSGICOMPARE_UPDATE_GOLDEN=1: a file that differs is rewritten, and the
test fails either way ("golden updated … rerun without"), so an update run is never
green; review the diff and rerun without the variable. With CI set the variable is
refused outright: CI checks the golden files, it never rewrites them."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
from pathlib import Path

import pytest
from golden.samples import META, sample_results

from wsgicompare.reporting.export import render, write_atomic
from wsgicompare.results import SCHEMA, RepeatFigures, RunResult, results_from_document

GOLDEN = Path(__file__).parent / "golden"
UPDATE_VAR = "WSGICOMPARE_UPDATE_GOLDEN"


def golden_update_requested() -> bool:
    """WSGICOMPARE_UPDATE_GOLDEN=1 asks to rewrite the golden files; refused under CI."""
    if os.environ.get(UPDATE_VAR) != "1":
        return False
    if os.environ.get("CI"):
        pytest.fail(
            f"{UPDATE_VAR}=1 is set under CI={os.environ['CI']}: golden files are never rewritten "
            "in CI (a rewritten file compares equal to itself); unset it",
            pytrace=False,
        )
    return True


@pytest.mark.parametrize("fmt", ["md", "csv", "json"])
def test_render_matches_golden_file(fmt):
    update = golden_update_requested()
    text = render(fmt, sample_results(), META)
    path = GOLDEN / f"report.{fmt}"
    if update:
        # update mode never passes: it is a way to write files, not a check
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            path.write_text(text, encoding="utf-8")
        what = "rewritten: review the diff" if changed else "already matched, not rewritten"
        pytest.fail(f"golden updated: {path.name} {what}; rerun without {UPDATE_VAR} to check", pytrace=False)
    assert text == path.read_text(encoding="utf-8")


def test_json_has_every_field_the_schema_promises():
    doc = json.loads(render("json", sample_results(), META))
    assert doc["schema"] == SCHEMA
    assert doc["created"] == META["created"]
    for key in ("cpu_model", "cores", "pinning", "kernel", "python", "somaxconn", "open_files"):
        assert key in doc["machine"]
    assert doc["load"]["concurrency"] == 64
    required = {
        "backend",
        "title",
        "workload",
        "status",
        "reason",
        "command",
        "versions",
        "startup_s",
        "requests",
        "responses",
        "errors",
        "failures",
        "availability_pct",
        "elapsed_s",
        "rps",
        "bytes",
        "latency_ms",
        "server",
        "loader",
        "timeline",
        "verdicts",
    }
    for run in doc["runs"]:
        assert required <= run.keys()
        assert set(run["responses"]) == {"2xx", "3xx", "4xx", "5xx"}
        assert run["status"] in ("ok", "failed", "unavailable")
    ok = doc["runs"][1]
    assert set(ok["latency_ms"]) == {"min", "mean", "p50", "p90", "p99", "p999", "max"}
    assert set(ok["server"]) == {"cpu_pct_mean", "cpu_pct_max", "rss_mb_max", "procs", "threads"} | {
        "uss_mb_max",
        "uss_mb_mean",
        "pss_mb_max",
        "pss_mb_mean",
        "uss_mb_per_worker",
    }
    assert set(doc["runs"][0]["server"]) == {"cpu_pct_mean", "cpu_pct_max", "rss_mb_max", "procs", "threads"}
    assert {"cpu_pct", "saturated", "procs"} <= set(ok["loader"])
    assert set(ok["timeline"][0]) == {"t", "rps", "p50_ms", "p99_ms", "errors", "server_cpu_pct", "server_rss_mb"}
    # derived figures are written, not left for the reader to recompute
    crashed = doc["runs"][2]
    assert crashed["failures"] == 900 + 100  # errors; no non-2xx responses
    assert crashed["availability_pct"] == pytest.approx(8000 / 9000 * 100, abs=1e-3)


def test_json_round_trips_to_the_same_results():
    results = sample_results()
    back = results_from_document(json.loads(render("json", results, META)))
    assert [r.to_dict() for r in back] == [r.to_dict() for r in results]
    assert back[2].crashed_at_s == 4.2 and back[2].failures == results[2].failures


def test_from_dict_ignores_unknown_keys_and_needs_the_identity_keys():
    data = sample_results()[0].to_dict() | {"from_a_newer_version": 1}
    assert RunResult.from_dict(data).backend == "flask-dev"
    with pytest.raises(ValueError, match="backend"):
        RunResult.from_dict({"title": "x", "workload": "hello", "status": "ok"})


def test_json_never_writes_nan():
    r = sample_results()[1]
    r = dataclasses.replace(r, latency_ms=dataclasses.replace(r.latency_ms, p999=float("nan")))
    doc = json.loads(render("json", [r], META))
    assert doc["runs"][0]["latency_ms"]["p999"] is None


def test_md_table_is_sorted_by_rps_with_the_best_marked_and_failed_rows_last():
    text = render("md", sample_results(), META)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "`" in line]
    backends = [re.search(r"`([^`]+)`", row).group(1) for row in rows]
    assert backends == ["gunicorn", "flask-dev", "uwsgi", "php-fpm-nginx"]
    assert rows[0].startswith("| ★ best |")
    assert "**unavailable**: missing: php-fpm" in rows[3]
    # a siege-style block per run with data, every line siege prints
    for label in (
        "Transactions:",
        "Availability:",
        "Elapsed time:",
        "Data transferred:",
        "Response time:",
        "Transaction rate:",
        "Throughput:",
        "Concurrency:",
        "Successful transactions:",
        "Failed transactions:",
        "Longest transaction:",
        "Shortest transaction:",
    ):
        assert text.count(label) == 3, label


def test_csv_has_one_flat_row_per_run():
    rows = list(csv.DictReader(io.StringIO(render("csv", sample_results(), META))))
    assert [r["backend"] for r in rows] == ["flask-dev", "gunicorn", "uwsgi", "php-fpm-nginx"]
    assert rows[1]["rps"] == "3000.0" and rows[1]["latency_p99_ms"] == "31.0"
    assert rows[2]["errors_refused"] == "900" and rows[2]["listen_overflows"] == "247"
    assert rows[3]["status"] == "unavailable" and rows[3]["latency_p50_ms"] == ""


def test_html_is_self_contained_with_three_charts():
    text = render("html", sample_results(), META)
    assert text.startswith("<!DOCTYPE html>")
    assert text.count("<svg") == 3
    # nothing fetched at view time: no external script, stylesheet, image or font
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=", text)
    assert not re.search(r"(src|href)=[\"']https?:", text)
    assert "@import" not in text
    assert "gunicorn" in text and "3,000.0" in text


def test_html_with_no_measured_run_still_renders():
    text = render("html", [sample_results()[3]], META)
    assert "<svg" not in text and "php-fpm-nginx" in text


def test_write_atomic_replaces_the_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "report.md"
    target.write_text("old")
    write_atomic(str(target), "new report\n")
    assert target.read_text() == "new report\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]


def test_unknown_format_is_a_one_line_error():
    with pytest.raises(ValueError, match="unknown export format 'pdf'"):
        render("pdf", [], META)


def test_md_shows_median_and_spread_of_repeats():
    r = sample_results()[1]
    r = dataclasses.replace(
        r,
        repeat=RepeatFigures(
            n=3, rps=[2900.0, 3000.0, 3150.0], rps_median=3000.0, rps_min=2900.0, rps_max=3150.0, spread_pct=8.33
        ),
    )
    text = render("md", [r], META)
    assert "middle run of 3 (median 3,000 req/s, range 2,900–3,150, spread 8.3 % of the median)" in text
    assert next(row for row in csv.DictReader(io.StringIO(render("csv", [r], META))))["repeat_spread_pct"] == "8.33"


def test_csv_has_the_scenario_columns_after_the_others_and_empty_for_a_steady_run():
    from golden.samples import scenario_results

    steady = list(csv.DictReader(io.StringIO(render("csv", sample_results(), META))))
    rows = list(csv.DictReader(io.StringIO(render("csv", scenario_results(), META))))
    header = next(csv.reader(io.StringIO(render("csv", scenario_results(), META))))
    assert header[header.index("command") + 1 :] == [
        "scenario",
        "scenario_status",
        "scenario_event_at_s",
        "scenario_before_rps_2xx",
        "scenario_during_rps_2xx",
        "scenario_after_rps_2xx",
        "scenario_during_p99_ms",
        "scenario_failed_requests",
        "scenario_recovered",
        "scenario_recovery_s",
        "scenario_verdict",
        # added after the scenario columns: those before them stay where scripts look
        "capacity_unconfirmed_rps",
    ]
    assert all(v == "" for row in steady for k, v in row.items() if k.startswith("scenario"))
    kill, _, dead, unsupported = rows[:4]
    assert (kill["scenario"], kill["scenario_status"], kill["scenario_event_at_s"]) == ("worker-kill", "ok", "3.3")
    assert (kill["scenario_before_rps_2xx"], kill["scenario_during_rps_2xx"]) == ("2400.0", "1890.0")
    assert (kill["scenario_during_p99_ms"], kill["scenario_failed_requests"]) == ("40.0", "10")
    assert (kill["scenario_recovered"], kill["scenario_recovery_s"]) == ("True", "0.4")
    assert kill["scenario_verdict"] == "a worker killed: throughput back to 90 % of before in 0.4 s, 10 failed"
    assert (dead["scenario_recovered"], dead["scenario_recovery_s"], dead["scenario_failed_requests"]) == (
        "False",
        "",
        "3200",
    )
    assert unsupported["scenario_status"] == "unsupported" and unsupported["scenario_during_rps_2xx"] == ""
    assert unsupported["scenario_verdict"].startswith("unsupported: flask-dev has no graceful reload")
