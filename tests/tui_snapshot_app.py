"""Fixed data for the TUI's snapshot tests: a catalog, the ticks of a run mid-way and a
few finished results. Nothing here depends on the clock or on what is installed, so the
screen is the same on every machine and every run."""

from __future__ import annotations

import math

from wsgicompare.results import LatencyFigures, LoaderFigures, RunResult, ServerFigures, Tick, TimelinePoint
from wsgicompare.settings.options import Options
from wsgicompare.tui.app import WsgiCompareApp

CATALOG = [
    {
        "id": "flask-dev",
        "title": "Flask dev server",
        "family": "werkzeug",
        "available": True,
        "missing": [],
        "hint": "",
    },
    {
        "id": "flask-threaded",
        "title": "Flask dev server, threaded",
        "family": "werkzeug",
        "available": True,
        "missing": [],
        "hint": "",
    },
    {
        "id": "gunicorn",
        "title": "gunicorn sync workers",
        "family": "gunicorn",
        "available": True,
        "missing": [],
        "hint": "",
    },
    {
        "id": "uwsgi-nginx",
        "title": "uWSGI behind nginx",
        "family": "uwsgi",
        "available": True,
        "missing": [],
        "hint": "",
    },
    {"id": "waitress", "title": "waitress", "family": "waitress", "available": True, "missing": [], "hint": ""},
    {
        "id": "php-fpm-nginx",
        "title": "nginx + PHP-FPM (reference)",
        "family": "php",
        "available": False,
        "missing": ["php-fpm8.2"],
        "hint": "apt-get install php-fpm",
    },
]

OPTIONS = Options(
    refresh_hz=4.0,
    server_cpus=(1,),
    loader_cpus=(0,),
    concurrency=64,
    duration=10.0,
    warmup=1.0,
    workers=1,
    threads=4,
)


#: 40 display bins, 0.1 ms … 10 s log-spaced (as the conductor sends): most requests 20-40 ms, a tail to ~90 ms
LATENCY_BINS = (0,) * 15 + (2, 9, 40, 180, 620, 900, 410, 120, 35, 12, 4, 1) + (0,) * 13


def make_ticks(backend: str = "uwsgi-nginx", n: int = 24) -> list[Tick]:
    """A run 6 s into a 10 s load: throughput ramps up, then holds with a little wobble."""
    ticks = []
    requests = 0
    for i in range(n):
        t_s = 0.25 * (i + 1)
        rps = 2600.0 * min(1.0, (i + 1) / 5) + 80 * math.sin(i)
        requests += int(rps * 0.25)
        errors = {"refused": 0, "reset": 3 if i > 10 else 0, "read_timeout": 0}
        fivexx = 2 if i > 15 else 0
        ticks.append(
            Tick(
                backend=backend,
                workload="hello",
                phase="warmup" if t_s <= 1.0 else "load",
                t_s=t_s,
                elapsed_s=max(0.0, t_s - 1.0),
                remaining_s=max(0.0, 11.0 - t_s),
                progress=min(1.0, t_s / 11.0),
                rps=rps,
                rps_2xx=rps - fivexx * 4,
                p50_ms=24.4 + (i % 3) * 0.3,
                p90_ms=31.0,
                p99_ms=44.7 + (i % 4),
                max_ms=61.2,
                interval_errors=3 if i > 10 else 0,
                requests=requests,
                responses={"2xx": requests - fivexx, "3xx": 0, "4xx": 0, "5xx": fivexx},
                errors=errors,
                mean_rps=2480.0,
                cum_p50_ms=24.5,
                cum_p90_ms=31.2,
                cum_p99_ms=45.1,
                cum_max_ms=88.0,
                availability_pct=99.82,
                latency_bins=LATENCY_BINS,
                server_cpu_pct=40.0 + 55.0 * min(1.0, (i + 1) / 5),
                server_rss_mb=180.0 + i,
                server_uss_mb=None if t_s <= 1.0 else 96.0,  # read from the first measured tick on
                server_procs=9,
                server_threads=18,
                loader_cpu_pct=71.0,
                loader_saturated=False,
                warnings=("listen backlog overflowed 247× — SYN retries explain the 1 s latency steps",)
                if i > 12
                else (),
            )
        )
    return ticks


def make_scenario_ticks(backend: str = "gunicorn") -> list[Tick]:
    """make_ticks as a worker-kill run: the event 2 s into the load (Tick.event on its tick),
    a dip in req/s and a p99 spike after it, and from it on every tick the event's live line."""
    from dataclasses import replace

    line = "worker-kill at 2.0 s: signal SIGKILL pid 4242"
    out = []
    for i, tick in enumerate(make_ticks(backend)):
        if i < 12:
            out.append(replace(tick, warnings=()))
            continue
        dip = {12: 0.35, 13: 0.6, 14: 0.9}.get(i, 1.0)
        spike = {12: 180.0, 13: 95.0, 14: 60.0}.get(i, tick.p99_ms or 0.0)
        event = line if i == 12 else None  # the tick the event fired on carries it
        out.append(
            replace(tick, rps=tick.rps * dip, rps_2xx=tick.rps_2xx * dip, p99_ms=spike, warnings=(line,), event=event)
        )
    return out


def make_result(backend: str, title: str, rps: float, p99: float, **extra) -> RunResult:
    requests = int(rps * 10)
    timeline = [
        TimelinePoint(
            t=0.25 * i,
            rps=rps * min(1.0, (i + 1) / 4),
            p50_ms=p99 / 2,
            p99_ms=p99,
            errors=0,
            server_cpu_pct=95.0,
            server_rss_mb=120.0,
        )
        for i in range(40)
    ]
    fields = dict(
        backend=backend,
        title=title,
        workload="hello",
        status="ok",
        requests=requests,
        responses={"2xx": requests, "3xx": 0, "4xx": 0, "5xx": 0},
        errors={},
        elapsed_s=10.0,
        rps=rps,
        rps_2xx=rps,
        latency_ms=LatencyFigures(
            min=0.4, mean=p99 / 2.5, p50=p99 / 2.2, p90=p99 / 1.4, p99=p99, p999=p99 * 1.3, max=p99 * 1.6
        ),
        server=ServerFigures(cpu_pct_mean=97.0, cpu_pct_max=100.0, rss_mb_max=121.0, procs=2, threads=6),
        loader=LoaderFigures(cpu_pct=60.0, saturated=False, procs=1),
        timeline=timeline,
        concurrency=64,
    )
    fields.update(extra)
    return RunResult(**fields)


def make_results() -> list[RunResult]:
    return [
        make_result("flask-dev", "Flask dev server", 1610.0, 48.2),
        make_result("gunicorn", "gunicorn sync workers", 2890.0, 31.5),
        make_result(
            "uwsgi-nginx",
            "uWSGI behind nginx",
            2480.0,
            44.7,
            verdicts=["loader-bound: the loader's core was 98 % busy"],
        ),
        RunResult(
            backend="waitress",
            title="waitress",
            workload="hello",
            status="failed",
            reason="not ready within 30 s: connection refused",
        ),
    ]


def main_screen_app(options: Options = OPTIONS) -> WsgiCompareApp:
    """The main screen mid-run on uwsgi-nginx (clock frozen: the ticks are preloaded)."""
    return WsgiCompareApp(
        options,
        catalog=CATALOG,
        conductor=object(),
        results=make_results()[:2],
        ticks=make_ticks(),
        states={"uwsgi-nginx": "under load", "waitress": "failed"},
        clock=False,
    )


def main_screen_scenario_app() -> WsgiCompareApp:
    """The main screen after a worker-kill on gunicorn (the test marks the history as a
    scenario run, as the screen does when it plans one)."""
    return WsgiCompareApp(
        OPTIONS,
        catalog=CATALOG,
        conductor=object(),
        ticks=make_scenario_ticks(),
        states={"gunicorn": "under load"},
        clock=False,
    )


def compare_app() -> WsgiCompareApp:
    return WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=make_results(), clock=False)


def compare_capacity_app() -> WsgiCompareApp:
    """The compare view of three capacity searches (tests/golden/samples.py): the capacity
    bars, the steps in each run's column and the knee chart."""
    from golden.samples import capacity_results

    return WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=capacity_results(), clock=False)


def compare_scenarios_app() -> WsgiCompareApp:
    """The compare view of worker-kill and reload runs on three backends
    (tests/golden/samples.py): the scorecard under the bars."""
    from golden.samples import scenario_results

    return WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=scenario_results(), clock=False)


def many_results(extra: int = 9) -> list[RunResult]:
    """More runs than fit side by side at 80 or 120 columns (make_results and ``extra`` more)."""
    more = [make_result(f"backend-{i}", f"Backend {i}", 1000.0 + 50 * i, 20.0 + i) for i in range(extra)]
    return [*make_results(), *more]


def compare_many_app() -> WsgiCompareApp:
    """The compare view of 13 runs: the cards scroll and the line under them says so."""
    return WsgiCompareApp(OPTIONS, catalog=CATALOG, conductor=object(), results=many_results(), clock=False)


if __name__ == "__main__":
    main_screen_app().run()
