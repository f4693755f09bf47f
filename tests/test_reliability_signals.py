"""wsgicompare itself is interrupted mid-run: SIGINT, SIGTERM or SIGKILL, headless and
in the terminal app. Within 5 s no backend or loader process of it remains and every
port it listened on is free; with ``--run-all -o FILE`` the runs that finished are on
disk, and the file is never seen half-written."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time

import pytest
from reliability_support import (
    TerminalApp,
    load_running,
    read_json_export,
    server_root,
    snapshot_tree,
    spawn_cli,
    stop_cli,
    wait_for,
    wait_gone,
)

SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGKILL]
#: seconds after the signal by which every process and port must be gone: a backend's
#: graceful stop (its stop_grace_s, 5 s) and the kill after it (_KILL_WAIT_S, 3 s) are the
#: product's own bound; a server that takes its whole grace on a busy machine is still in it
GONE_WITHIN_S = 5.0 + 3.0 + 2.0


def _wait_loaded(pid: int, marker: str, timeout_s: float = 40.0) -> None:
    """Until the backend (``marker`` in its command line) listens and a loader process runs."""

    def ready() -> bool:
        if not load_running(pid):
            return False
        root = server_root(pid, marker)
        return root is not None and bool(snapshot_tree(pid).ports)

    assert wait_for(ready, timeout_s), f"no load against {marker} started"


def _assert_all_gone_after(proc: subprocess.Popen, sig: int, marker: str) -> None:
    snap = snapshot_tree(proc.pid)
    assert any(is_loader_line(line) for _, line in snap.procs.values()), snap.procs
    assert any(marker in line for _, line in snap.procs.values()), snap.procs
    assert snap.ports, "the backend listens on no port"
    proc.send_signal(sig)
    sent = time.monotonic()
    left, ports = wait_gone(snap, GONE_WITHIN_S)
    assert left == [], f"still running {time.monotonic() - sent:.1f} s after {sig.name}: {left}"
    assert ports == [], f"ports still listening after {sig.name}: {ports}"


def is_loader_line(line: str) -> bool:
    return "multiprocessing.spawn" in line


# -- headless --------------------------------------------------------------------------


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_headless_run_interrupted_leaves_nothing_behind(tmp_path, sig) -> None:
    out = tmp_path / "r.json"
    # an open loop of 200 req/s: the signal and what it leaves are the test, not a flat-out load
    proc = spawn_cli(["--backend", "gunicorn", "-d", "30", "-c", "8", "--rate", "200", "--warmup", "0", "-o", str(out)])
    try:
        _wait_loaded(proc.pid, "gunicorn")
        time.sleep(0.5)
        _assert_all_gone_after(proc, sig, "gunicorn")
        proc.wait(timeout=10)
    finally:
        stop_cli(proc)
    stderr = "".join(proc.err_lines)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        return
    # a polite signal: exit 128+N, the interrupted run is written as failed ("cancelled")
    assert proc.returncode == 128 + sig, stderr
    assert "Traceback" not in stderr, stderr
    assert "interrupted after" in stderr
    run = read_json_export(str(out))["runs"][0]
    assert run["status"] == "failed" and run["reason"].startswith("cancelled at t="), run["reason"]
    assert run["responses"]["2xx"] > 0


# -- the terminal app ---------------------------------------------------------------------


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_tui_interrupted_mid_load_leaves_nothing_behind(sig) -> None:
    # the first row of the backend table (flask-dev) is selected; `l` loads it for 30 s
    app = TerminalApp(["-d", "30", "-c", "8", "--rate", "200", "--warmup", "0"], size=(140, 40))
    try:
        assert wait_for(lambda: b"flask-dev" in app.screen, 30), "the app did not draw its table"
        time.sleep(0.5)
        app.press(b"l")
        _wait_loaded(app.proc.pid, "wsgicompare.backends.apps.serve")
        time.sleep(0.5)
        _assert_all_gone_after(app.proc, sig, "wsgicompare.backends.apps.serve")
        # the app itself ends too (a polite signal stops everything first, then exits)
        app.proc.wait(timeout=10)
    finally:
        app.close()
    if sig == signal.SIGKILL:
        assert app.proc.returncode == -signal.SIGKILL
    else:
        assert b"Traceback" not in app.screen


# -- partial results survive ----------------------------------------------------------------


def test_sigkill_during_the_third_backend_keeps_the_first_two_in_the_file(tmp_path) -> None:
    out = tmp_path / "partial.json"
    proc = spawn_cli(
        [
            "--run-all",
            "--backends",
            "gunicorn,waitress,flask-threaded",
            "-d",
            "3",  # the kill must land while the third load runs, on a busy machine too
            "--warmup",
            "0",
            "-c",
            "8",
            "--rate",
            "200",  # an open loop: the kill and the file are the test, not a flat-out load
            "--settle-max",
            "2",
            "-o",
            str(out),
            "--export",
            "json",
        ]
    )
    seen_versions: list[int] = []
    bad_reads: list[str] = []
    stop_reading = threading.Event()

    def reader() -> None:
        """Read the file as fast as possible while it is rewritten: never half a report."""
        while not stop_reading.wait(0.002):
            try:
                text = out.read_text()
            except FileNotFoundError:
                continue
            try:
                seen_versions.append(len(json.loads(text)["runs"]))
            except (ValueError, KeyError) as exc:
                bad_reads.append(f"{exc}: {text[-80:]!r}")

    watcher = threading.Thread(target=reader, daemon=True)
    watcher.start()
    try:
        # killed as soon as the third backend's server is up (its load starting or running):
        # waiting for the load too once let the kill land after it ended (a busy machine)
        third = wait_for(lambda: server_root(proc.pid, "apps.serve werkzeug"), 60)
        assert third is not None, "".join(proc.err_lines)
        snap = snapshot_tree(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        left, ports = wait_gone(snap, GONE_WITHIN_S)
        assert left == [] and ports == []
    finally:
        stop_reading.set()
        watcher.join(timeout=5)
        stop_cli(proc)
    assert bad_reads == []
    assert seen_versions and max(seen_versions) == 2
    runs = read_json_export(str(out))["runs"]
    assert [(r["backend"], r["status"]) for r in runs] == [("gunicorn", "ok"), ("waitress", "ok")]
    assert all(r["responses"]["2xx"] > 0 for r in runs)
    # no temp file of an interrupted write is left where the user looks (only the report)
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".wsgicompare-")] == ["partial.json"]


SLOW_START_APP = """
import sys, time
if sys.argv and sys.argv[0] != "-c":  # the server's import sleeps; wsgicompare's import check does not
    time.sleep(20)

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


def test_sigterm_while_a_backend_is_still_starting_ends_within_5_s(tmp_path) -> None:
    (tmp_path / "slowstart_wsgicompare.py").write_text(SLOW_START_APP)
    out = tmp_path / "r.json"
    proc = spawn_cli(
        ["--backend", "waitress", "--app", "slowstart_wsgicompare:app", "-d", "2", "-o", str(out)], cwd=str(tmp_path)
    )
    try:
        assert wait_for(lambda: any("waitress" in line for _, line in snapshot_tree(proc.pid).procs.values()), 30.0)
        snap = snapshot_tree(proc.pid)
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        proc.wait(timeout=10)
        took = time.monotonic() - sent
        left, ports = wait_gone(snap, GONE_WITHIN_S)
        assert took < GONE_WITHIN_S and left == [] and ports == [], (took, left, ports)
        assert proc.returncode == 128 + signal.SIGTERM
    finally:
        stop_cli(proc)
