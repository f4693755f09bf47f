"""Runs are ranked and headlined by their 2xx rate (issue 15): a backend that answers
500s fast is never ★ best, comes after every run that did the work, and its progress
line says "0.0 2xx/s · … 5xx/s" instead of a big req/s. Checked on fixed results for
every place that ranks (md, html, the app's compare view) and end to end with a real
gunicorn serving an app that raises."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest
from tui_snapshot_app import CATALOG, OPTIONS

from wsgicompare.reporting.export import render
from wsgicompare.reporting.export.ranking import best_runs, can_be_best, headline, ordered
from wsgicompare.results import LatencyFigures, RunResult
from wsgicompare.tui.app import WsgiCompareApp
from wsgicompare.tui.widgets import RunBars, RunColumn

META = {"created": "2026-01-02T03:04:05+00:00", "machine": {}, "load": {"concurrency": 8}}


def run(
    backend: str,
    ok2xx: int,
    five: int = 0,
    four: int = 0,
    status: str = "ok",
    workload: str = "hello",
    elapsed: float = 2.0,
) -> RunResult:
    requests = ok2xx + five + four
    return RunResult(
        backend=backend,
        title=backend,
        workload=workload,
        status=status,
        requests=requests,
        responses={"2xx": ok2xx, "3xx": 0, "4xx": four, "5xx": five},
        elapsed_s=elapsed,
        rps=requests / elapsed,
        rps_2xx=ok2xx / elapsed,
        latency_ms=LatencyFigures(min=0.1, mean=1.0, p50=1.0, p90=2.0, p99=3.0, p999=4.0, max=5.0),
    )


def sample() -> list[RunResult]:
    return [
        run("slow-ok", 2_000),  # 1,000 2xx/s
        run("boom", 0, five=20_000),  # 10,000 req/s, every one a 500
        run("mostly-ok", 5_000, five=1_000),  # 3,000 req/s, 2,500 of them 2xx
        run("crashed", 30_000, status="failed"),  # fast until it died: never best
    ]


def md_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| ") and "`" in line]


def test_order_and_best_follow_the_2xx_rate_not_all_answers():
    results = sample()
    assert [r.backend for r in ordered(results)] == ["mostly-ok", "slow-ok", "boom", "crashed"]
    (best,) = [r for r in results if id(r) in best_runs(results)]
    assert best.backend == "mostly-ok"
    assert not can_be_best(results[1]) and not can_be_best(results[3])
    # alone, a run at 0 % availability is still not best: it measured how fast the server fails
    assert best_runs([run("boom", 0, five=20_000)]) == set()
    # per workload: each has its own best
    mixed = [run("a", 100, workload="json"), run("b", 50, workload="json"), run("c", 10)]
    assert {r.backend for r in mixed if id(r) in best_runs(mixed)} == {"a", "c"}


def test_headline_is_the_2xx_rate_with_every_other_class_beside_it():
    assert headline(run("ok", 2_000)) == "1,000.0 2xx/s"
    assert headline(run("boom", 0, five=5_747)) == "0.0 2xx/s · 2,873.5 5xx/s"
    assert headline(run("mixed", 2_000, five=200, four=2)) == "1,000.0 2xx/s · 1.0 4xx/s · 100.0 5xx/s"


def test_md_table_ranks_by_2xx_and_never_stars_a_failing_run():
    rows = md_rows(render("md", sample(), META))
    assert [re.search(r"`([^`]+)`", row).group(1) for row in rows] == ["mostly-ok", "slow-ok", "boom", "crashed"]
    assert rows[0].startswith("| ★ best | `mostly-ok`")
    assert sum("★" in row for row in rows) == 1
    cells = [c.strip() for c in rows[2].split("|")]
    assert cells[4] == "0.0" and cells[9] == "0.00 %"  # the boom row: 2xx req/s and availability
    alone = render("md", [run("boom", 0, five=5_747)], META)
    assert "★" not in alone and "| 2xx req/s |" in alone


def test_html_table_and_bars_rank_by_2xx():
    text = render("html", sample(), META)
    rows = re.findall(r'<tr class="([^"]+)">\s*<td class=""><code>([^<]+)</code>', text)
    assert rows == [("best", "mostly-ok"), ("ok", "slow-ok"), ("ok", "boom"), ("failed", "crashed")]
    assert text.count("★") == 1 and "Throughput (2xx responses/s)" in text
    assert "★" not in render("html", [run("boom", 0, five=5_747)], META)


@pytest.mark.anyio
async def test_the_apps_compare_view_ranks_by_2xx_and_stars_the_same_run():
    app = WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=sample(), clock=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.press("c")
        await pilot.pause()
        bars = app.screen.query_one(RunBars)
        plain = _plain(bars)
        labels = [line.split()[0] for line in plain.splitlines()[1:]]
        assert labels == ["mostly-ok", "slow-ok", "boom", "crashed"], plain
        assert "mostly-ok ★" in plain and plain.count("★") == 1 and "2xx req/s" in plain
        assert [c.result.backend for c in app.screen.query(RunColumn)] == labels


@pytest.fixture
def anyio_backend():
    return "asyncio"


def _plain(widget) -> str:
    from rich.console import Console

    console = Console(width=150, record=True, color_system=None, file=io.StringIO())
    console.print(widget.render())
    return console.export_text()


BOOM_APP = """
def app(environ, start_response):
    raise RuntimeError("boom: every request fails")
"""


def test_an_app_that_answers_only_500s_is_headlined_by_its_2xx_rate(tmp_path):
    """`--backend gunicorn --app boom:app`: the progress line said "ok · 2,873.6 req/s" and
    the report starred it best at 0.00 % availability."""
    (tmp_path / "boom.py").write_text(BOOM_APP)
    out = tmp_path / "report.md"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "wsgicompare",
            "--backend",
            "gunicorn",
            "--app",
            "boom:app",
            "-c",
            "4",
            "-d",
            "2",
            "--warmup",
            "0",
            "-o",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(tmp_path),
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    line = next((x for x in proc.stderr.splitlines() if x.startswith("[1/1]")), None)
    assert line is not None, proc.stderr
    match = re.search(r": ok · 0\.0 2xx/s · ([\d,.]+) 5xx/s · p99 ", line)
    assert match and float(match.group(1).replace(",", "")) > 50, line
    assert "req/s" not in line
    (row,) = md_rows(out.read_text())
    cells = [c.strip() for c in row.split("|")]
    assert cells[1] == "" and cells[2] == "`gunicorn`", row  # no ★ best
    assert cells[4] == "0.0" and cells[9] == "0.00 %", row
