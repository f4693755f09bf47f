"""Each run's latency histogram is stored in the JSON (a saved report can be merged and
re-percentiled), and ``--export hdr`` writes HdrHistogram's percentile distribution,
checked against the reference HdrHistogram (the hdrhistogram package) and end to end."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import numpy as np
from hdrh.histogram import HdrHistogram
from loader_servers import serve

from wsgicompare.cli import main
from wsgicompare.loader import LatencyHistogram
from wsgicompare.reporting.export import hdr
from wsgicompare.results import RunResult, results_from_document

ROW = re.compile(r"^\s+([\d.]+) ([\d.]+)\s+(\d+)(?:\s+([\d.]+|inf))?$")


def _run(values_us: list[int]) -> RunResult:
    h = LatencyHistogram()
    h.record_many(np.asarray(values_us, dtype=np.int64))
    return RunResult(backend="b", title="b", workload="hello", status="ok", latency_hist=h.to_dict())


def test_the_distribution_reads_as_the_reference_histogram() -> None:
    rng = np.random.default_rng(7)
    values = rng.lognormal(mean=8.0, sigma=1.0, size=20_000).astype(np.int64) + 1  # µs, a latency-like tail
    ref = HdrHistogram(1, 3_600_000_000, 3)
    for v in values:
        ref.record_value(int(v))
    text = hdr.render([_run(list(values))], {})
    rows = [ROW.match(line) for line in text.splitlines()]
    rows = [m for m in rows if m]
    assert len(rows) > 40
    percentiles = [float(m.group(2)) for m in rows]
    assert percentiles == sorted(percentiles) and percentiles[0] == 0.0 and percentiles[-1] == 1.0
    # 5 ticks per halving of the distance to 100 %: 0, 10, …, 50, 55, …, 75, 77.5 …
    assert percentiles[:8] == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6]
    for m in rows[1:-1]:
        p = float(m.group(2)) * 100
        ours_ms = float(m.group(1))
        # the reference rounds the rank, we take its ceiling: one value apart at most
        one = 100.0 / len(values)
        low = ref.get_value_at_percentile(max(0.0, p - one)) / 1000.0
        high = ref.get_value_at_percentile(min(100.0, p + one)) / 1000.0
        assert low * 0.998 - 0.001 <= ours_ms <= high * 1.002 + 0.001, (p, ours_ms, low, high)
        count = int(m.group(3))
        assert count >= p / 100 * len(values)  # the values at or below this row's value
    assert rows[-1].group(3) == str(len(values))
    assert f"Total count    = {len(values):12d}" in text
    assert "#[Mean    =" in text and "#[Buckets =" in text


def test_find_the_histogram_in_the_json_and_the_hdr_files(tmp_path) -> None:
    with serve("delay", delay_s=0.005) as server:
        out = tmp_path / "run"
        code = main(
            [
                "--url",
                server.url,
                "-c",
                "4",
                "-d",
                "1",
                "--warmup",
                "0",
                "--export",
                "json",
                "--export",
                "hdr",
                "-o",
                str(out),
            ]
        )
    assert code == 0
    doc = json.loads((tmp_path / "run.json").read_text())
    (run,) = results_from_document(doc)
    h = LatencyHistogram.from_dict(run.latency_hist)
    # the stored histogram is the run's: same count, same percentiles
    assert h.count == sum(run.responses.values()) + sum(run.errors.values()) - run.errors.get("refused", 0)
    assert abs(h.percentile(99) / 1000 - run.latency_ms.p99) < 0.01
    text = (tmp_path / "run.hdr").read_text()
    assert text.startswith(f"{'Value':>12} {'Percentile':>14}")
    assert f"Total count    = {h.count:12d}" in text


def test_several_runs_write_one_distribution_file_each(tmp_path) -> None:
    runs = [_run([1000, 2000, 3000]), replace(_run([5000] * 10), backend="uwsgi")]
    files = hdr.files(runs, str(tmp_path / "report.hdr"))
    assert [p.rsplit("/", 1)[1] for p, _ in files] == ["report-b-hello.hdr", "report-uwsgi-hello.hdr"]
    assert all(text.count("#[Max") == 1 for _, text in files)
    combined = hdr.render(runs, {})
    assert combined.count("#[wsgicompare run:") == 2
