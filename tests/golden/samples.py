"""Fixed RunResults and meta for the exporter golden files and the verdict tests:
figures typed in by hand, shaped like real runs (no run behind them is needed to
check that a renderer prints what it is given)."""

from __future__ import annotations

from dataclasses import replace

from wsgicompare.results import (
    CapacityResult,
    LatencyFigures,
    LoaderFigures,
    RunResult,
    ScenarioResult,
    ServerFigures,
    Settle,
    TcpFigures,
    TimelinePoint,
)

MACHINE = {
    "cpu_model": "Test CPU 3000",
    "cores": 2,
    "pinning": {"loader_cpus": [0], "server_cpus": [1]},
    "kernel": "Linux 6.1.0",
    "python": "CPython 3.11.7",
    "somaxconn": 4096,
    "open_files": {"soft": 1024, "hard": 524288},
}

LOAD = {
    "concurrency": 64,
    "duration_s": 10.0,
    "requests": None,
    "reps": None,
    "rate": None,
    "delay_s": 0.0,
    "warmup_s": 1.0,
    "timeout_s": 10.0,
    "keepalive": True,
    "loader_procs": 1,
    "loader_cpus": [0],
    "workers": 1,
    "threads": 4,
    "server_cpus": [1],
    "app": None,
    "workloads": ["hello"],
    "repeat": 1,
}

META = {"created": "2026-01-02T03:04:05+00:00", "machine": MACHINE, "load": LOAD}


def _timeline(rps: float, n: int = 4) -> list[TimelinePoint]:
    return [
        TimelinePoint(t=1.0 + i * 0.25, rps=rps + i, p50_ms=2.0, p99_ms=5.0, errors=0,
                      server_cpu_pct=95.0, server_rss_mb=40.0)
        for i in range(n)
    ]


def sample_results() -> list[RunResult]:
    flask = RunResult(
        backend="flask-dev",
        title="Flask dev server (Werkzeug, 1 thread)",
        workload="hello",
        status="ok",
        command=["/venv/bin/python -m wsgicompare.backends.apps.flask_dev --port 40001"],
        versions={"werkzeug": "3.0.1"},
        startup_s=0.412,
        requests=16020,
        responses={"2xx": 16000, "3xx": 0, "4xx": 0, "5xx": 0},
        errors={"reset": 20},
        elapsed_s=10.0,
        rps=1600.0,
        rps_2xx=1600.0,
        bytes=2_000_000,
        latency_ms=LatencyFigures(min=0.5, mean=39.5, p50=40.1, p90=41.0, p99=44.7, p999=60.0, max=61.2),
        server=ServerFigures(cpu_pct_mean=12.0, cpu_pct_max=20.0, rss_mb_max=31.5, procs=1, threads=2),
        loader=LoaderFigures(cpu_pct=35.0, saturated=False, procs=1),
        timeline=_timeline(1600.0),
        concurrency=64,
    )
    gunicorn = RunResult(
        backend="gunicorn",
        title="gunicorn (sync workers)",
        workload="hello",
        status="ok",
        command=["/venv/bin/gunicorn -w 1 -b 127.0.0.1:40002 wsgicompare.backends.apps.wsgi:app"],
        versions={"gunicorn": "22.0.0"},
        startup_s=0.655,
        requests=30000,
        responses={"2xx": 30000, "3xx": 0, "4xx": 0, "5xx": 0},
        elapsed_s=10.0,
        rps=3000.0,
        rps_2xx=3000.0,
        bytes=3_600_000,
        latency_ms=LatencyFigures(min=0.3, mean=21.0, p50=20.5, p90=24.0, p99=31.0, p999=40.0, max=45.5),
        # USS and PSS as a run since they were added reads them; flask's and uwsgi's runs are
        # as an older report holds them (RSS only)
        server=ServerFigures(cpu_pct_mean=98.5, cpu_pct_max=100.2, rss_mb_max=60.25, uss_mb_max=41.0,
                             uss_mb_mean=40.6, pss_mb_max=48.3, pss_mb_mean=47.9, uss_mb_per_worker=27.5,
                             procs=2, threads=2),
        loader=LoaderFigures(cpu_pct=55.0, saturated=False, procs=1),
        tcp=TcpFigures({"ListenOverflows": 0, "TCPTimeouts": 0}),
        settle=Settle(port=40001, waited_s=0.25, time_wait_before=12, time_wait=0, listening=0),
        timeline=_timeline(3000.0),
        concurrency=64,
    )
    uwsgi = RunResult(
        backend="uwsgi",
        title="uWSGI (HTTP router)",
        workload="hello",
        status="failed",
        reason="server crashed at t=4.2 s: uwsgi exited with code 9",
        command=["/venv/bin/uwsgi --ini /tmp/x/uwsgi.ini", "uwsgi.ini"],
        versions={"uwsgi": "2.0.26"},
        startup_s=1.1,
        requests=9000,
        responses={"2xx": 8000, "3xx": 0, "4xx": 0, "5xx": 0},
        errors={"refused": 900, "reset": 100},
        elapsed_s=4.2,
        rps=1904.762,
        rps_2xx=1904.762,
        bytes=960_000,
        latency_ms=LatencyFigures(min=0.4, mean=30.0, p50=25.0, p90=40.0, p99=1012.0, p999=3010.0, max=3050.0),
        server=ServerFigures(cpu_pct_mean=90.0, cpu_pct_max=99.0, rss_mb_max=80.0, procs=3, threads=5),
        loader=LoaderFigures(cpu_pct=60.0, saturated=False, procs=1),
        # the transactions over 0.9 s nearly all at a SYN-retry time (p99 1 s, p99.9 3 s)
        tcp=TcpFigures({"ListenOverflows": 247, "ListenDrops": 247}, slow_at_syn_retry=95, slow_elsewhere=3),
        timeline=_timeline(1900.0, 3),
        concurrency=64,
        crashed_at_s=4.2,
    )
    php = RunResult(
        backend="php-fpm-nginx",
        title="nginx + PHP-FPM",
        workload="hello",
        status="unavailable",
        reason="missing: php-fpm (apt-get install php-fpm)",
    )
    from wsgicompare.engine.verdicts import verdicts

    return [replace(r, verdicts=verdicts(r)) for r in (flask, gunicorn, uwsgi, php)]


CAPACITY_META = {
    **META,
    "load": {
        **LOAD,
        "capacity": {
            "mode": "search",
            "slo": {"p99_ms": 50.0, "error_pct": 0.1},
            "rates": [],
            "step_s": 3.0,
            "step_warmup_s": 1.0,
            "max_steps": 10,
            "concurrency": None,
        },
    },
}


def _step(rate: float, rps: float, p99: float, met: bool, why: str = "") -> dict:
    return {"rate": rate, "rps": rps, "p50_ms": round(p99 / 4, 2), "p99_ms": p99, "slo_ms": p99,
            "error_pct": 0.0, "met": met, "duration_s": 3.0, "why": why, "concurrency": int(rate / 10)}


def capacity_results() -> list[RunResult]:
    """Two capacity searches: gunicorn has the higher 2xx rate at its best step but the
    lower capacity; uwsgi's search found the higher capacity. A third run found none."""
    slo = {"p99_ms": 50.0, "error_pct": 0.1}
    gunicorn = sample_results()[1]
    gunicorn = replace(gunicorn, capacity=CapacityResult.from_dict({
        "rps": 1200.0, "offered_rps": 1200.0, "slo": slo, "limit": "server", "probe_rps": 2400.0,
        "steps": [_step(1920, 1700, 410.0, False, "p99 410 ms > 50 ms; queue growing through the window"),
                  _step(960, 960, 8.0, True), _step(1440, 1300, 95.0, False, "p99 95 ms > 50 ms"),
                  _step(1200, 1200, 31.0, True), _step(1320, 1290, 61.0, False, "p99 61 ms > 50 ms")],
        "verdict": "capacity 1,200 req/s at p99 ≤ 50 ms, errors ≤ 0.1 % (1,200 req/s offered met the SLO, 1,320 req/s did not)",
    }))
    uwsgi = sample_results()[2]
    uwsgi = replace(uwsgi, status="ok", reason="", rps_2xx=900.0, capacity=CapacityResult.from_dict({
        "rps": 1500.0, "offered_rps": 1500.0, "slo": slo, "limit": "max-steps", "probe_rps": 3000.0,
        "steps": [_step(2400, 1900, 300.0, False, "p99 300 ms > 50 ms"), _step(1200, 1200, 5.0, True),
                  _step(1500, 1500, 22.0, True)],
        "verdict": "capacity at least 1,500 req/s at p99 ≤ 50 ms, errors ≤ 0.1 % (search ended after 3 steps; 2,400 req/s did not)",
    }))
    flask = sample_results()[0]
    flask = replace(flask, capacity=CapacityResult.from_dict({
        "rps": None, "offered_rps": None, "slo": slo, "limit": "server", "probe_rps": 1600.0,
        "steps": [_step(1280, 900, 700.0, False, "p99 700 ms > 50 ms"), _step(640, 640, 80.0, False, "p99 80 ms > 50 ms")],
        "verdict": "no rate met p99 ≤ 50 ms, errors ≤ 0.1 % (lowest tried 640 req/s: p99 80 ms > 50 ms)",
    }))
    return [flask, gunicorn, uwsgi]


def _scenario(name: str, **fields) -> dict:
    """A run's ``scenario`` entry as faults.judge writes it (figures typed in)."""
    phases = [
        {"name": "before", "start_s": 0.0, "end_s": 3.3, "rps": 2400.0, "rps_2xx": 2400.0, "p50_ms": 2.0,
         "p99_ms": 6.0, "max_ms": 9.0, "errors": {}, "failed": 0},
        {"name": "during", "start_s": 3.3, "end_s": 6.7, "rps": 1900.0, "rps_2xx": 1890.0, "p50_ms": 2.4,
         "p99_ms": 40.0, "max_ms": 210.0, "errors": {"reset": 10}, "failed": 10},
        {"name": "after", "start_s": 6.7, "end_s": 10.0, "rps": 2390.0, "rps_2xx": 2390.0, "p50_ms": 2.0,
         "p99_ms": 6.5, "max_ms": 12.0, "errors": {}, "failed": 0},
    ]
    out = {"name": name, "status": "ok", "reason": "", "event_at_s": 3.3, "event_t": 4.3, "phases": phases,
           "failed_requests": 0, "recovered": True, "recovery_s": 0.4, "p99_ms_since_event": 40.0,
           "max_ms_since_event": 210.0, "loader_bound": False, "verdict": ""}
    out.update(fields)
    return out


def scenario_results() -> list[RunResult]:
    """worker-kill and reload on three backends: gunicorn recovers from both; flask-dev is
    one process (the kill ends it) and has no graceful reload; uwsgi-nginx loses requests
    across its reload."""
    def run(backend: str, title: str, scenario: dict) -> RunResult:
        return RunResult(backend=backend, title=title, workload="hello", status="ok", requests=24000,
                         responses={"2xx": 24000, "3xx": 0, "4xx": 0, "5xx": 0}, elapsed_s=10.0, rps=2400.0,
                         rps_2xx=2400.0, latency_ms=LatencyFigures(p50=2.0, p99=8.0, max=210.0),
                         timeline=_timeline(2400.0), concurrency=16, scenario=ScenarioResult.from_dict(scenario),
                         verdicts=[f"{scenario['name']}: {scenario['verdict']}"])

    one = "one process: a crash takes the whole server down"
    unsupported = "flask-dev has no graceful reload of its own: a deploy restarts it, refusing connections meanwhile"
    return [
        run("gunicorn", "gunicorn sync workers", _scenario(
            "worker-kill", failed_requests=10, recovery_s=0.4,
            verdict="a worker killed: throughput back to 90 % of before in 0.4 s, 10 failed")),
        run("gunicorn", "gunicorn sync workers", _scenario(
            "reload", recovery_s=0.2, max_ms_since_event=35.0,
            verdict="0 requests failed across the reload; p99 12.0 ms, max 35.0 ms since the reload; back in 0.2 s")),
        run("flask-dev", "Flask dev server", _scenario(
            "worker-kill", failed_requests=3200, recovered=False, recovery_s=None, reason=one,
            server_exited="flask_dev exited with code -9",
            verdict=f"not recovered: {one} (3200 requests failed)")),
        run("flask-dev", "Flask dev server", {
            **_scenario("reload", status="unsupported", reason=unsupported, phases=[], recovered=None,
                        recovery_s=None, failed_requests=None),
            "verdict": f"unsupported: {unsupported}"}),
        run("uwsgi-nginx", "uWSGI behind nginx", _scenario(
            "worker-kill", failed_requests=0, recovery_s=0.1,
            verdict="a worker killed: throughput back to 90 % of before in 0.1 s, 0 failed")),
        run("uwsgi-nginx", "uWSGI behind nginx", _scenario(
            "reload", failed_requests=42, recovery_s=1.2, max_ms_since_event=1020.0,
            verdict="42 requests failed across the reload; p99 980.0 ms, max 1,020.0 ms since the reload; back in 1.2 s")),
    ]
