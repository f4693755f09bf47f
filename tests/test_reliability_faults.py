"""Faults on real processes: a backend killed mid-run, a backend that hangs, a busy
port, missing executables, a backend that exits at once. Each ends promptly with a
clear reason, keeps what was measured, and leaves no process or port behind."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import replace

import psutil
import pytest
from backend_support import require_backend
from reliability_support import (
    classified,
    cli_env,
    free_port,
    kill_server_tree,
    load_running,
    one_error_line,
    port_listens,
    read_json_export,
    run_cli,
    server_root,
    snapshot_tree,
    spawn_cli,
    stop_cli,
    wait_for,
    wait_gone,
)

from wsgicompare.backends import get_backend
from wsgicompare.engine.conductor import Conductor
from wsgicompare.engine.runspec import default_load, default_server_config, default_spec
from wsgicompare.reporting.export import make_meta, render
from wsgicompare.results import RunResult

#: one CPU for the servers, the other for the loader (or none pinned on one CPU)
CPUS = sorted(os.sched_getaffinity(0))
SERVER_CPUS = tuple(CPUS[1:]) if len(CPUS) > 1 else ()
LOADER_CPUS = tuple(CPUS[:1]) if len(CPUS) > 1 else ()

#: a user app that answers "/" (so readiness passes) and never answers "/hang"
HANG_APP = """\
import time

def app(environ, start_response):
    if environ.get("PATH_INFO") == "/hang":
        time.sleep(3600)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"up"]
"""

#: a user app that imports fine in wsgicompare's import check but exits at once in a server
EXIT_APP = """\
import os, sys

if sys.argv[0] != "-c":  # the import check runs `python -c …`; a server does not
    os._exit(3)

def app(environ, start_response):
    start_response("200 OK", [])
    return [b"never"]
"""


def _spec(backend: str, **load):
    # an open loop of 300 req/s: the fault and what the run keeps of it are the test, not a flat-out load
    fields = dict(concurrency=8, rate=300.0, duration_s=3.0, warmup_s=0.0, timeout_s=2.0, cpus=LOADER_CPUS)
    fields.update(load)
    return default_spec(
        backend,
        load=default_load(**fields),
        server=default_server_config(workers=2, threads=2, server_cpus=SERVER_CPUS),
    )


def _our_servers() -> list[psutil.Process]:
    return [p for p in psutil.Process().children(recursive=True) if "reaper" not in " ".join(_safe_cmd(p))]


def _safe_cmd(p: psutil.Process) -> list[str]:
    try:
        return p.cmdline()
    except psutil.Error:
        return []


# -- the backend dies mid-run -----------------------------------------------------------


def test_backend_killed_mid_run_fails_fast_keeps_its_figures_and_the_next_backend_runs() -> None:
    """Conductor API: uWSGI's workers, then its master, are SIGKILLed 0.75 s into a 3 s load."""
    require("uwsgi")
    port = free_port()
    first = _spec("uwsgi")
    first = replace(first, server=replace(first.server, port=port))
    second = _spec("waitress", duration_s=1.0)
    killed: list[int] = []
    killed_at: list[float] = []

    def on_tick(tick) -> None:
        if tick.backend != "uwsgi" or killed or tick.phase != "load" or tick.t_s < 0.75:
            return
        owner = next(
            (c.pid for c in psutil.net_connections("tcp") if c.status == "LISTEN" and c.laddr.port == port and c.pid),
            None,
        )
        assert owner is not None, "nobody listens on the backend's port"
        master = psutil.Process(owner)
        while master.parent() is not None and "uwsgi" in " ".join(_safe_cmd(master.parent())):
            master = master.parent()  # the --http router is a child of the master
        killed_at.append(time.monotonic())
        killed.extend(kill_server_tree(master, pause_s=0.2))

    results: list[RunResult] = []
    started = time.monotonic()
    Conductor(settle_max_s=2.0).run_all([first, second], on_tick, results.append)
    assert killed, "the fault was never injected"
    crashed, after = results
    # ended promptly: well before the 3 s load would have
    assert crashed.status == "failed"
    assert crashed.crashed_at_s is not None and crashed.crashed_at_s < 2.5, crashed.crashed_at_s
    assert "server crashed" in crashed.reason and "uwsgi" in crashed.reason, crashed.reason
    assert any("crashed" in v for v in crashed.verdicts), crashed.verdicts
    # the figures measured before the crash are kept, every request classified
    assert crashed.responses["2xx"] > 0
    run = crashed.to_dict()
    classified(run)
    # exported: the failed row is in every format, with its reason
    meta = make_meta([first, second])
    exported = json.loads(render("json", results, meta))
    assert [r["status"] for r in exported["runs"]] == ["failed", "ok"]
    assert exported["runs"][0]["crashed_at_s"] == crashed.crashed_at_s
    assert "server crashed" in render("md", results, meta)
    # the next backend ran normally
    assert after.backend == "waitress" and after.status == "ok" and after.responses["2xx"] > 0
    assert not port_listens(port)
    assert time.monotonic() - started < 30


def test_run_all_cli_backend_killed_mid_run_is_failed_and_exported_and_the_next_runs(tmp_path) -> None:
    """CLI: gunicorn's workers then master are SIGKILLed during `--run-all`; waitress runs after it."""
    out = tmp_path / "report.json"
    proc = spawn_cli(
        [
            "--run-all",
            "--backends",
            "gunicorn,waitress",
            "-d",
            "3",
            "--warmup",
            "0",
            "-c",
            "8",
            "--rate",
            "300",  # an open loop: the fault is the test, not a flat-out load
            "--timeout",
            "2",
            "--settle-max",
            "2",
            "-o",
            str(out),
            "--export",
            "json",
        ]
    )
    try:
        master = wait_for(lambda: load_running(proc.pid) and server_root(proc.pid, "gunicorn"), 30)
        assert master is not None, "".join(proc.err_lines)
        time.sleep(0.5)
        kill_server_tree(master, pause_s=0.3)
        killed_at = time.monotonic()
        # the crashed run is written as soon as it ends (partial export), before waitress finishes
        assert wait_for(lambda: out.exists() and len(read_json_export(str(out))["runs"]) >= 1, 10)
        assert time.monotonic() - killed_at < 5
        proc.wait(timeout=60)
    finally:
        stop_cli(proc)
    assert proc.returncode == 0, "".join(proc.err_lines)  # one run measured
    runs = read_json_export(str(out))["runs"]
    assert [(r["backend"], r["status"]) for r in runs] == [("gunicorn", "failed"), ("waitress", "ok")]
    crashed = runs[0]
    assert "server crashed" in crashed["reason"], crashed["reason"]
    assert crashed["crashed_at_s"] < 3.0
    classified(crashed)
    assert crashed["responses"]["2xx"] > 0
    assert runs[1]["responses"]["2xx"] > 0
    stderr = "".join(proc.err_lines)
    assert "gunicorn hello: failed" in stderr and "waitress hello: ok" in stderr
    assert "Traceback" not in stderr


# -- the backend hangs --------------------------------------------------------------------


def test_hanging_app_times_out_per_request_and_the_run_ends_on_time(tmp_path) -> None:
    (tmp_path / "hangapp_wsgicompare.py").write_text(HANG_APP)
    out = tmp_path / "hang.json"
    args = [
        "--backend",
        "gunicorn-gthread",
        "--app",
        "hangapp_wsgicompare:app",
        "--path",
        "/hang",
        "--timeout",
        "1",
        "-d",
        "2",
        "--warmup",
        "0",
        "-c",
        "4",
        "--workers",
        "1",
        "--threads",
        "8",
        "-o",
        str(out),
    ]
    started = time.monotonic()
    done = run_cli(args, cwd=str(tmp_path), timeout_s=60)
    elapsed = time.monotonic() - started
    assert "Traceback" not in done.stderr, done.stderr
    # 2 s of load, a 1 s timeout, a few seconds to start and stop: nothing waited for the sleeping requests
    assert elapsed < 20, (elapsed, done.stderr)
    run = read_json_export(str(out))["runs"][0]
    classified(run)
    assert run["errors"].get("read_timeout", 0) >= 4, run["errors"]
    assert run["responses"]["2xx"] == 0
    # a server that answered nothing is a failed run (exit 1), with the reason in one line
    assert done.returncode == 1, done.stderr
    assert run["status"] == "failed" and "no request was answered" in run["reason"] and "read_timeout" in run["reason"]
    assert any("2xx only 0" in v for v in run["verdicts"]), run["verdicts"]


# -- start failures: clear reason, no hang, no orphan ---------------------------------------


def test_busy_port_is_refused_before_anything_starts() -> None:
    import socket

    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = run_cli(["--backend", "gunicorn", "--port", str(port), "-d", "1"], timeout_s=30)
    assert done.returncode == 2
    assert one_error_line(done.stderr) == f"wsgicompare: error: --port {port} is already in use"


def test_busy_port_taken_after_the_check_fails_the_run_cleanly() -> None:
    """The port is free at planning time and busy when the conductor starts the backend."""
    import socket

    spec = _spec("waitress", duration_s=1.0)
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        before = {p.pid for p in _our_servers()}
        result = Conductor().run_one(replace(spec, server=replace(spec.server, port=port)))
        assert result.status == "failed" and result.reason == f"port {port} is already in use"
        assert {p.pid for p in _our_servers()} <= before


HIDE_SBIN = """\
import sys
from wsgicompare.backends import launch, spec
launch._SBIN_DIRS = ()
from wsgicompare.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _run_hidden_sbin(args: list[str], tmp_path, hide: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """The CLI with nginx/php-fpm out of reach: PATH without the sbin dirs, and the sbin fallback off.
    ``hide`` additionally shadows venv executables (e.g. uwsgi) by a PATH-first empty dir check."""
    import subprocess
    import sys

    code = HIDE_SBIN
    if hide:
        code = code.replace(
            "launch._SBIN_DIRS = ()",
            "launch._SBIN_DIRS = ()\n_find = spec.find_executable\n"
            f"spec.find_executable = lambda name: None if name in {hide!r} else _find(name)",
        )
    env = cli_env(PATH="/usr/bin:/bin")
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=str(tmp_path),
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize(
    "backend, missing",
    [
        ("uwsgi-nginx", "executable nginx"),
        ("php-fpm-nginx", "executable php-fpm"),
        ("nginx-static", "executable nginx"),
    ],
)
def test_missing_nginx_or_php_fpm_is_a_clear_error_for_one_backend(tmp_path, backend, missing) -> None:
    done = _run_hidden_sbin(["--backend", backend, "-d", "1"], tmp_path)
    assert done.returncode == 2, done.stderr
    line = one_error_line(done.stderr)
    assert f"backend {backend} is not available: missing" in line and missing in line, line
    assert "apt-get install" in line


def test_missing_uwsgi_is_a_clear_error(tmp_path) -> None:
    done = _run_hidden_sbin(["--backend", "uwsgi", "-d", "1"], tmp_path, hide=("uwsgi",))
    assert done.returncode == 2, done.stderr
    line = one_error_line(done.stderr)
    assert "backend uwsgi is not available: missing executable uwsgi (pip install uwsgi)" in line, line


def test_run_all_with_missing_executables_marks_them_unavailable_and_runs_the_rest(tmp_path) -> None:
    out = tmp_path / "r.json"
    done = _run_hidden_sbin(
        [
            "--run-all",
            "--backends",
            "nginx-static,uwsgi,waitress",
            "-d",
            "1",
            "--warmup",
            "0",
            "-c",
            "4",
            "-o",
            str(out),
        ],
        tmp_path,
        hide=("uwsgi",),
    )
    assert done.returncode == 0, done.stderr
    runs = {r["backend"]: r for r in read_json_export(str(out))["runs"]}
    assert runs["nginx-static"]["status"] == "unavailable"
    assert "missing executable nginx" in runs["nginx-static"]["reason"]
    assert runs["uwsgi"]["status"] == "unavailable" and "missing executable uwsgi" in runs["uwsgi"]["reason"]
    assert runs["waitress"]["status"] == "ok"
    assert "Traceback" not in done.stderr


def test_backend_that_exits_at_once_gives_its_reason_without_hanging_or_orphans(tmp_path) -> None:
    (tmp_path / "exitapp_wsgicompare.py").write_text(EXIT_APP)
    out = tmp_path / "exit.json"
    proc = spawn_cli(
        ["--backend", "gunicorn", "--app", "exitapp_wsgicompare:app", "-d", "1", "--warmup", "0", "-o", str(out)],
        cwd=str(tmp_path),
    )
    seen = snapshot_tree(proc.pid)
    try:
        deadline = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < deadline:
            for p in psutil.Process(proc.pid).children(recursive=True) if proc.poll() is None else []:
                seen.add(p)
            time.sleep(0.02)
        assert proc.poll() is not None, "wsgicompare hung on a backend that exits at once"
    finally:
        stop_cli(proc)
    assert proc.returncode == 1  # nothing could be measured
    stderr = "".join(proc.err_lines)
    assert "Traceback" not in stderr
    run = read_json_export(str(out))["runs"][0]
    assert run["status"] == "failed"
    assert "gunicorn exited with code" in run["reason"] and "before it was ready" in run["reason"], run["reason"]
    left, ports = wait_gone(seen, 5.0)
    assert left == [] and ports == []


def require(backend_id: str) -> None:
    """Skip an unavailable backend locally; in CI fail one the set-up should have installed."""
    require_backend(get_backend(backend_id))
