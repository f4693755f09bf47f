"""The real app on a pseudo-terminal (`python -m wsgicompare`, no run options): it draws,
takes keys, and on `q` or when its terminal closes (SIGHUP) it stops the load and every
backend it started, then exits; nothing is left running."""

from __future__ import annotations

import time

import psutil
from reliability_support import TerminalApp, wait_for


def backend_pids(app: TerminalApp, marker: str) -> list[int]:
    pids = []
    for proc in app.descendants():
        try:
            if marker in " ".join(proc.cmdline()):
                pids.append(proc.pid)
        except psutil.Error:
            pass
    return pids


def alive(pids: list[int]) -> list[int]:
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            pass
    return out


def run_until_loaded(app: TerminalApp) -> list[int]:
    """Select the first row (flask-dev), press l, wait for the backend and a loader process."""
    assert wait_for(lambda: b"flask-dev" in app.screen, 30), "the app did not draw its table"
    time.sleep(0.5)
    app.press(b"l")
    assert wait_for(
        lambda: backend_pids(app, "wsgicompare.backends.apps") and backend_pids(app, "multiprocessing.spawn"), 40
    )
    time.sleep(1.0)
    pids = [p.pid for p in app.descendants()]
    assert pids
    return pids


def test_q_under_load_stops_everything_and_exits():
    app = TerminalApp(["-d", "20", "-c", "8", "--warmup", "0"])
    try:
        pids = run_until_loaded(app)
        assert b"Throughput" in app.screen and b"req/s" in app.screen
        app.press(b"q")
        assert app.proc.wait(timeout=20) == 0
        assert wait_for(lambda: not alive(pids), 5), alive(pids)
        assert b"Traceback" not in app.screen
    finally:
        app.close()


def test_closing_the_terminal_stops_everything():
    app = TerminalApp(["-d", "20", "-c", "8", "--warmup", "0"])
    try:
        pids = run_until_loaded(app)
        app.hang_up()
        app.proc.wait(timeout=20)
        assert wait_for(lambda: not alive(pids), 5), alive(pids)
    finally:
        app.close()
