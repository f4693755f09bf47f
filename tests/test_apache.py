"""apache-mod-wsgi on loopback: its budget, its user app, its namespace as root, its stop signal, its cleanup.

The common checks (answers every workload, pinned, private dir, clean stop) run for it in
tests/test_backends.py with every other catalog backend.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import psutil
import pytest
from backend_support import HeldRequests, installed_by_setup, require_backend
from test_backends import PARENT, SERVER_CPU, accepts, get, snapshot, still_running

from wsgicompare.backends import BackendStartError, ServerConfig, catalog_rows, get_backend

BACKEND = get_backend("apache-mod-wsgi")


def test_budget_is_workers_daemon_processes_times_threads(tmp_path, monkeypatch) -> None:
    require_backend(BACKEND)
    held = HeldRequests(tmp_path, "apache_held_wsgicompare")
    monkeypatch.chdir(tmp_path)  # the daemons find the user's module through PYTHONPATH, as every backend
    config = ServerConfig(workers=2, threads=3, cpus=(SERVER_CPU,), app=held.target)
    with BACKEND.start(config) as server:
        conf = server.config_files["apache/httpd.conf"]
        assert "processes=2" in conf and "threads=3" in conf, "the daemon group's size is not in httpd.conf"
        daemons = [p for p in server.processes() if p.cmdline()[0].startswith("(wsgi:")]
        assert len(daemons) == 2
        declared = server.workers()
        get(server.url, "/warm")  # mod_wsgi imports the app on the first request of each daemon
        # 6 requests at once, each held inside the app until all 6 are: 2 × 3 slots run them
        # together (one thread per process would hold 2, and the other 4 would wait)
        inside, results = held.send_at_once(6, lambda path: get(server.url, path, 60.0))
    assert len(inside) == 6, f"only {len(inside)} of 6 requests ran at once in 2 processes × 3 threads: {inside}"
    assert {pid for pid, _ in inside} == {str(p.pid) for p in daemons}  # 3 threads in each daemon
    assert all(status == 200 for status, _ in results), results
    bodies = [body.decode().split() for _, body in results]
    assert {pid for pid, _, _ in bodies} <= {str(p.pid) for p in daemons}
    # the declared workers (what worker-kill kills) are the daemons that ran the app: not the
    # master (that would be the whole server), nor the event MPM children in front of them
    assert sorted(p.pid for p in declared) == sorted(p.pid for p in daemons), (declared, daemons)
    assert {(thread, proc) for _, thread, proc in bodies} == {("True", "True")}


def test_as_root_it_runs_in_its_own_user_namespace_without_capabilities() -> None:
    if os.geteuid() != 0:
        pytest.skip("started as a normal user Apache serves as that user: no namespace")
    require_backend(BACKEND)
    ours = open("/proc/self/uid_map").read().split()
    with BACKEND.start(ServerConfig(workers=1, threads=2, cpus=(SERVER_CPU,))) as server:
        assert os.path.basename(server.command[0].split()[0]) == "unshare"
        procs = server.processes()
        assert len(procs) >= 3  # master, a daemon process, an event MPM child
        for p in procs:
            uid_map = open(f"/proc/{p.pid}/uid_map").read().split()
            assert uid_map != ours, f"{p.pid} {p.cmdline()[0]} runs in our user namespace"
            status = dict(line.split(":\t", 1) for line in open(f"/proc/{p.pid}/status").read().splitlines())
            assert int(status["CapEff"], 16) == 0, f"{p.pid} {p.cmdline()[0]} keeps capabilities"
        assert get(server.url, "/hello") == (200, b"Hello World!")


def test_stops_on_sigterm_as_apache_stop_not_by_the_kill_fallback() -> None:
    require_backend(BACKEND)
    server = BACKEND.start(ServerConfig(workers=2, threads=2, cpus=(SERVER_CPU,)))
    port = server.port
    snap = snapshot(server.processes())
    started = time.monotonic()
    server.stop()
    elapsed_s = time.monotonic() - started
    assert "caught SIGTERM, shutting down" in server.log_tail(lines=200)
    assert elapsed_s < 4.0, f"stop took {elapsed_s:.1f} s: the stop signal was not Apache's stop"
    assert still_running(snap) == [] and not accepts(port)


def test_sigkill_of_wsgicompare_leaves_no_apache_behind() -> None:
    require_backend(BACKEND)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, BACKEND.id], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        line = parent.stdout.readline()
        assert line, "the parent process did not start the backend"
        info = json.loads(line)
        snap = snapshot([psutil.Process(pid) for pid in info["pids"]])
        assert len(snap) >= 3 and accepts(info["port"])
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=5)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and (still_running(snap) or accepts(info["port"])):
            time.sleep(0.1)
        assert still_running(snap) == [] and not accepts(info["port"])
        while time.monotonic() < deadline and os.path.exists(info["dir"]):
            time.sleep(0.1)
        assert not os.path.exists(info["dir"])
    finally:
        parent.kill()
        parent.wait()


def test_catalog_row_says_the_budget_and_how_to_install() -> None:
    row = next(r for r in catalog_rows() if r["id"] == "apache-mod-wsgi")
    assert not row["seed"] and row["serves_user_app"]
    assert "`workers` processes × `threads` threads" in row["budget"]
    assert "apache2-dev" in row["hint"] and ".[apache]" in row["hint"]
    # mod_wsgi builds only against apt-get's apxs: in CI as root it must be there, as a normal user it may not
    for missing in ("python module mod_wsgi", "executable mod_wsgi-express"):
        assert installed_by_setup(missing, as_root=True) and not installed_by_setup(missing, as_root=False)


def test_an_ipv6_host_is_refused_in_one_line_before_apache_starts() -> None:
    require_backend(BACKEND)
    with pytest.raises(BackendStartError, match="cannot listen on an IPv6 address; use 127.0.0.1$") as info:
        BACKEND.start(ServerConfig(workers=1, threads=1, host="::1"))
    assert "\n" not in str(info.value)
