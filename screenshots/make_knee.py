"""The HTML report's knee chart (latency vs offered load) as a PNG for the README:

    capacity-knee.png   12 backends' capacity searches at p99 ≤ 50 ms

    .venv/bin/python screenshots/make_knee.py --from REPORT.json [--out DIR]   # measured runs
    .venv/bin/python screenshots/make_knee.py [--runs 12] [--out DIR]           # the model below

With ``--from`` the chart draws a saved ``--find-capacity`` report's runs (the README's
PNG is drawn from its measured table's report). Without it the runs are synthesised: each backend's steps come from the real
search (wsgicompare.engine.capacity.search) against a model of its latency — flat, then a
cliff just past the capacity the README's table measured, the closed-loop figure as
the probe — so the chart shows what a run-all search draws without the 7 minutes of
load. The chart itself is the report's (wsgicompare/reporting/export/html.py), screenshotted
with headless Chromium at the width the README shows it."""

from __future__ import annotations

import argparse
import math
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from wsgicompare.engine.capacity import Slo, Step, connections_for, search
from wsgicompare.results import LatencyFigures, RunResult

HERE = Path(__file__).resolve().parent
SLO = Slo("p99", 50.0, 0.1)

#: (backend, capacity req/s at p99 ≤ 50 ms, p99 ms well below it, closed-loop req/s at c=64):
#: the README's measured table; past the 12 seed backends, made-up ones for a crowded chart
MODEL = (
    ("php-fpm-nginx", 9051, 4.0, 7801),
    ("uwsgi-nginx-unix", 7558, 5.0, 6248),
    ("uwsgi", 6162, 6.0, 5542),
    ("tornado", 6026, 2.5, 5376),
    ("uwsgi-nginx", 6018, 6.0, 3915),
    ("twisted", 3536, 18.0, 2920),
    ("gevent", 3378, 43.0, 1433),
    ("flask-dev", 3026, 4.0, 2613),
    ("gunicorn", 2881, 8.0, 2562),
    ("gunicorn-nginx", 2620, 20.0, 2185),
    ("flask-threaded", 2583, 15.0, 2004),
    ("flask-processes", 154, 12.0, 2687),
    ("gunicorn-gthread", 2400, 9.0, 2100),
    ("waitress", 1900, 11.0, 1750),
    ("granian", 8200, 3.0, 7400),
    ("cheroot", 1700, 14.0, 1500),
    ("tornado-wsgi", 1450, 16.0, 1300),
    ("gunicorn-gevent", 2950, 30.0, 2300),
    ("apache-mod-wsgi", 4100, 7.0, 3600),
    ("nginx-static", 14500, 1.5, 13000),
)


def model_run(backend: str, capacity: float, floor_ms: float, probe: float) -> RunResult:
    """One backend's search against its latency model; the run is its best met step."""
    noise = random.Random(backend)  # the same chart on every run of the script
    saturation = capacity * 1.015

    def measure(rate: float) -> Step:
        load = rate / saturation
        if load <= 1:
            p99 = floor_ms * (1 + 0.25 * load**6) * noise.uniform(0.93, 1.07)
            served = rate * noise.uniform(0.995, 1.0)
        else:  # past saturation the queue grows: the tail runs away
            p99 = min(3000.0, 60 + 4000 * (load - 1) ** 0.7) * noise.uniform(0.9, 1.1)
            served = saturation
        met = p99 <= SLO.latency_ms and load <= 1
        why = "" if met else f"p99 {p99:.1f} ms > 50 ms" + ("; queue growing through the window" if load > 1 else "")
        return Step(
            rate=rate,
            rps=served,
            p50_ms=round(p99 / 3, 2),
            p99_ms=round(p99, 2),
            slo_ms=round(p99, 2),
            error_pct=0.0,
            met=met,
            duration_s=3.0,
            why=why,
            concurrency=connections_for(rate, SLO, None),
        )

    outcome = search(measure, 0.8 * probe, ceiling=1.2 * probe)
    best = outcome.best or outcome.steps[-1]
    requests = int(best.rps * best.duration_s)
    return RunResult(
        backend=backend,
        title=backend,
        workload="hello",
        status="ok",
        requests=requests,
        responses={"2xx": requests, "3xx": 0, "4xx": 0, "5xx": 0},
        elapsed_s=best.duration_s,
        rps=best.rps,
        rps_2xx=best.rps,
        latency_ms=LatencyFigures(p50=best.p50_ms, p99=best.p99_ms, max=(best.p99_ms or 0) * 1.5),
        concurrency=best.concurrency,
        capacity=outcome.to_dict(SLO, probe),
    )


def model_runs(n: int) -> list[RunResult]:
    return [model_run(*row) for row in MODEL[:n]]


def chart_page(results: list[RunResult]) -> str:
    """A page with the report's knee chart alone, as wide as the README shows it."""
    from wsgicompare.reporting.export.html import charts

    svg = dict(charts(results))["Latency vs offered load"]
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><style>'
        "body{margin:0;background:#fff} .chart{width:900px}</style></head>"
        f'<body><div class="chart">{svg}</div></body></html>'
    )


def screenshot(page: str, png: Path, size: tuple[int, int]) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        raise SystemExit("no chromium on PATH: cannot render the PNG")
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(tmp) / "knee.html"
        html.write_text(page, encoding="utf-8")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--screenshot={png}", f"--window-size={size[0]},{size[1]}", html.as_uri()],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    print(f"saved {png}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=12, help=f"backends on the chart (1-{len(MODEL)}, default 12)")
    parser.add_argument("--out", default=str(HERE), help="output directory (default: this folder)")
    parser.add_argument(
        "--from",
        dest="report",
        metavar="REPORT.json",
        help="draw the runs of a saved --find-capacity report (measured) instead of the model",
    )
    args = parser.parse_args(argv)
    if args.report:
        from wsgicompare.reporting.saved import load_reports

        runs = list(load_reports([args.report])[0])
    else:
        runs = model_runs(max(1, min(args.runs, len(MODEL))))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    page = chart_page(runs)
    # the chart's own height (its viewBox, at 900 px wide), no more
    width, height = (float(v) for v in page.split('viewBox="0 0 ', 1)[1].split('"', 1)[0].split())
    height = math.ceil(height * 900 / width)
    screenshot(page, out / "capacity-knee.png", (900, height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
