"""End to end through the real command line against real backends on loopback:
--run-all over three backends (every JSON field, the md table), a backend that fails
to start still has its row, --url against a server the test starts, and SIGTERM in
the middle of a run-all keeps the finished run. Loads are 1–2 s each."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from pattern_server import PatternServer
from reliability_support import descendants, is_loader, server_root, wait_for
from test_loader import END_GRACE_S

from wsgicompare.backends import ServerConfig, get_backend
from wsgicompare.cli import main
from wsgicompare.engine.kernel import port_sockets
from wsgicompare.results import SCHEMA

PY = sys.executable

RUN_KEYS = {
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


def cli(*args: str, cwd: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "-m", "wsgicompare", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def ports_of(run: dict) -> list[int]:
    return [int(p) for line in run["command"] for p in re.findall(r"127\.0\.0\.1:(\d+)", line)]


def assert_ports_closed(runs: list[dict]) -> None:
    deadline = time.monotonic() + 5
    for port in (p for run in runs for p in ports_of(run)):
        while port_sockets(port)[0] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert port_sockets(port)[0] == 0, f"port {port} still listening"


def test_run_all_over_three_real_backends(tmp_path):
    proc = cli(
        "--run-all",
        "--backends",
        "flask-dev,gunicorn,uwsgi",
        "-c",
        "16",
        "-d",
        "1",
        "--warmup",
        "0.5",
        "--export",
        "json",
        "--export",
        "md",
        "-o",
        str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    # not a terminal: one line per finished backend, then where the files went
    lines = proc.stderr.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [
        "[1/3] flask-dev hello",
        "[2/3] gunicorn hello",
        "[3/3] uwsgi hello",
    ]
    doc = json.loads((tmp_path / "wsgicompare.json").read_text())
    assert doc["schema"] == SCHEMA and doc["created"]
    assert {"cpu_model", "cores", "pinning", "kernel", "python", "somaxconn", "open_files"} <= set(doc["machine"])
    assert doc["load"]["concurrency"] == 16 and doc["load"]["duration_s"] == 1.0 and doc["load"]["warmup_s"] == 0.5
    assert [r["backend"] for r in doc["runs"]] == ["flask-dev", "gunicorn", "uwsgi"]
    for run in doc["runs"]:
        assert RUN_KEYS <= set(run), RUN_KEYS - set(run)
        assert run["status"] == "ok", run["reason"]
        assert run["workload"] == "hello" and run["title"]
        assert run["requests"] > 100 and run["rps"] > 50
        assert set(run["responses"]) == {"2xx", "3xx", "4xx", "5xx"}
        # healthy servers answering `hello`: nothing may fail, known before the run (a load with
        # a known share of failures is test_failures_and_availability_match_what_the_server_answered)
        assert run["errors"] == {} and run["responses"]["2xx"] == run["requests"], (run["responses"], run["errors"])
        assert run["failures"] == 0 and run["availability_pct"] == 100.0
        # the measured window is -d 1: from the warm-up's end to the deadline, each seen by a
        # timer that a busy machine wakes late (END_GRACE_S)
        assert run["elapsed_s"] == pytest.approx(1.0, abs=END_GRACE_S)
        assert run["bytes"] > run["requests"] * len("Hello World!")
        assert set(run["latency_ms"]) == {"min", "mean", "p50", "p90", "p99", "p999", "max"}
        lat = run["latency_ms"]
        assert 0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"]
        assert set(run["server"]) == {"cpu_pct_mean", "cpu_pct_max", "rss_mb_max", "procs", "threads"} | {
            "uss_mb_max",
            "uss_mb_mean",
            "pss_mb_max",
            "pss_mb_mean",
            "uss_mb_per_worker",
        }
        assert run["server"]["cpu_pct_max"] > 0 and run["server"]["procs"] >= 1
        assert 0 < run["server"]["uss_mb_max"] <= run["server"]["pss_mb_max"] <= run["server"]["rss_mb_max"]
        assert {"cpu_pct", "saturated", "procs"} <= set(run["loader"])
        assert len(run["timeline"]) >= 3  # -d 1 at 0.25 s ticks
        assert set(run["timeline"][0]) == {"t", "rps", "p50_ms", "p99_ms", "errors", "server_cpu_pct", "server_rss_mb"}
        assert run["command"] and run["versions"] and run["startup_s"] > 0
        assert isinstance(run["verdicts"], list)
    md = (tmp_path / "wsgicompare.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| ") and "`" in line]
    assert len(rows) == 3
    rps_in_table = [float(row.split("|")[4].strip().replace(",", "")) for row in rows]
    assert rps_in_table == sorted(rps_in_table, reverse=True)
    assert rows[0].startswith("| ★ best |") and md.count("★ best") == 1
    assert md.count("Transaction rate:") == 3
    assert_ports_closed(doc["runs"])


GUNICORN_HATING_APP = """
import sys
if "gunicorn" in sys.modules:  # imports fine anywhere else: only gunicorn fails to boot it
    raise RuntimeError("this app refuses to run under gunicorn")

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
"""


def test_a_backend_that_fails_to_start_still_has_its_row(tmp_path):
    (tmp_path / "picky_app.py").write_text(GUNICORN_HATING_APP)
    out = tmp_path / "report.json"
    proc = cli(
        "--run-all",
        "--backends",
        "gunicorn,flask-dev",
        "--app",
        "picky_app:app",
        "-c",
        "4",
        "-d",
        "1",
        "--warmup",
        "0",
        "-o",
        str(out),
        cwd=str(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr
    runs = {r["backend"]: r for r in json.loads(out.read_text())["runs"]}
    assert runs["gunicorn"]["status"] == "failed"
    assert runs["gunicorn"]["reason"] and runs["gunicorn"]["requests"] == 0
    assert "refuses to run under gunicorn" in runs["gunicorn"]["log_tail"] + runs["gunicorn"]["reason"]
    assert runs["flask-dev"]["status"] == "ok" and runs["flask-dev"]["responses"]["2xx"] > 0
    assert runs["flask-dev"]["workload"] == "/"
    assert "[1/2] gunicorn /: failed" in proc.stderr


def test_url_mode_loads_a_server_that_is_already_running(tmp_path):
    out = tmp_path / "url.json"
    with get_backend("gunicorn").start(ServerConfig(workers=1, threads=1)) as server:
        code = main(
            ["--url", server.url + "/hello", "-c", "8", "-d", "1", "--warmup", "0", "--export", "json", "-o", str(out)]
        )
        assert server.alive()  # --url never starts or stops a server
    assert code == 0
    doc = json.loads(out.read_text())
    assert doc["load"]["url"] == server.url + "/hello"
    (run,) = doc["runs"]
    assert run["backend"] == "url" and run["workload"] == "/hello" and run["status"] == "ok"
    assert run["responses"]["2xx"] == run["requests"] > 0 and run["command"] == []
    # the process listening on the port is ours to see: its tree was sampled
    assert run["server"]["procs"] >= 1 and run["server"]["rss_mb_max"] > 1


def test_failures_and_availability_match_what_the_server_answered(tmp_path):
    """Against a server whose answers are known in advance (every 4th request a 500) and
    which counts them itself, the report's failures and availability are what it said."""
    with PatternServer(every=4) as server:
        code = main(
            [
                "--url",
                server.url,
                "-c",
                "4",
                "--requests",
                "400",
                "--warmup",
                "0",
                "--export",
                "json",
                "--export",
                "md",
                "-o",
                str(tmp_path),
            ]
        )
        seen = (server.requests, server.answered_200, server.answered_500)
    assert code == 0
    assert seen == (400, 300, 100), seen  # the server's own count: the loader sent exactly 400
    (run,) = json.loads((tmp_path / "wsgicompare.json").read_text())["runs"]
    assert run["status"] == "ok", run["reason"]
    assert run["requests"] == 400 and run["errors"] == {}
    assert run["responses"] == {"2xx": 300, "3xx": 0, "4xx": 0, "5xx": 100}
    assert run["failures"] == 100
    assert run["availability_pct"] == 75.0
    md = (tmp_path / "wsgicompare.md").read_text()
    assert re.search(r"Availability:\s+75\.00 %", md), md
    assert re.search(r"Failed transactions:\s+100\b", md), md


def test_sigterm_mid_run_all_keeps_the_finished_run_and_leaves_nothing(tmp_path):
    out = tmp_path / "partial.json"
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "wsgicompare",
            "--run-all",
            "--backends",
            "flask-dev,gunicorn",
            "-c",
            "4",
            "--rate",
            "200",  # an open loop: the signal and what it leaves are the test
            "-d",
            "3",
            "--warmup",
            "0",
            "-o",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.1)
        assert out.exists(), "the first finished run was not written at once"
        first = json.loads(out.read_text())["runs"]
        assert [r["backend"] for r in first] == ["flask-dev"]

        def gunicorn_under_load() -> bool:
            """gunicorn started, and a loader spawned after it: its run's load has begun."""
            master = server_root(proc.pid, "gunicorn")
            if master is None:
                return False
            try:
                up_since = master.create_time()
                return any(is_loader(p) and p.create_time() >= up_since for p in descendants(proc.pid))
            except psutil.Error:
                return False

        assert wait_for(gunicorn_under_load, 60), "gunicorn's run did not begin its load"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    runs = json.loads(out.read_text())["runs"]
    assert runs[0]["backend"] == "flask-dev" and runs[0]["status"] == "ok"
    assert len(runs) == 2  # the interrupted run is kept, marked as such
    assert runs[1]["status"] == "failed" and runs[1]["reason"].startswith("cancelled at t=")
    assert_ports_closed(runs)
    assert not list(Path(tmp_path).glob(".wsgicompare-*.tmp"))


def test_progress_is_a_live_table_when_stderr_is_a_terminal(tmp_path):
    import os
    import pty

    master, slave = pty.openpty()
    out = tmp_path / "r.md"
    proc = subprocess.Popen(
        [PY, "-m", "wsgicompare", "--backend", "flask-dev", "-c", "4", "-d", "1", "--warmup", "0", "-o", str(out)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
    )
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    screen = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", b"".join(chunks)).decode("utf-8", "replace")
    assert "backend" in screen and "req/s" in screen and "p99 ms" in screen  # the live table's header
    assert "1/1 runs" in screen and "ETA" in screen  # the bar over it
    assert "flask-dev" in screen and "ok" in screen
    assert "[1/1]" not in screen  # the one-line-per-run form is for logs, not terminals
    assert "| ★ best | `flask-dev`" in out.read_text()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs 2 CPUs")
def test_wsgicompare_runs_on_the_loader_cpu_and_the_server_keeps_its_own(tmp_path):
    """The conductor and progress threads must not take CPU from the server measured."""
    import psutil

    err = tmp_path / "stderr.txt"
    with open(err, "w") as err_file:
        proc = subprocess.Popen(
            [
                PY,
                "-m",
                "wsgicompare",
                "--backend",
                "gunicorn",
                "-c",
                "4",
                "-d",
                "3",
                "--warmup",
                "0",
                "--loader-cpus",
                "0",
                "--server-cpus",
                "1",
                "-o",
                str(tmp_path / "r.json"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            stdin=subprocess.DEVNULL,
        )
    try:
        me = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        servers: list = []
        while time.monotonic() < deadline and not servers and proc.poll() is None:
            time.sleep(0.1)
            try:
                # a child between fork and exec still shows our command line ("--backend gunicorn")
                servers = [
                    p
                    for p in me.children(recursive=True)
                    if "gunicorn" in " ".join(p.cmdline()) and "--backend" not in p.cmdline()
                ]
                affinities = [p.cpu_affinity() for p in servers]
                threads = [t.id for t in me.threads()]
            except psutil.Error:  # a process came or went while we looked: look again
                servers = []
        assert servers, f"gunicorn never seen running; exit {proc.poll()}: {err.read_text()[-500:]}"
        for tid in threads:
            try:
                assert os.sched_getaffinity(tid) == {0}, tid
            except ProcessLookupError:
                pass  # a thread that ended since
        assert all(a == [1] for a in affinities), affinities
        assert proc.wait(timeout=60) == 0, err.read_text()[-500:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="pinning needs 2 CPUs")
def test_main_as_a_library_gives_its_caller_every_cpu_back(tmp_path):
    before = os.sched_getaffinity(0)
    with get_backend("flask-dev").start(ServerConfig(workers=1, threads=1)) as server:
        assert (
            main(
                [
                    "--url",
                    server.url + "/hello",
                    "-c",
                    "2",
                    "-d",
                    "0.5",
                    "--warmup",
                    "0",
                    "-o",
                    str(tmp_path / "r.json"),
                ]
            )
            == 0
        )
    assert os.sched_getaffinity(0) == before
