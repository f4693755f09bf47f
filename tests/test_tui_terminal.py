"""The real app on a pseudo-terminal (`python -m wsgicompare`, no run options): it draws,
takes keys, and on `q` or when its terminal closes (SIGHUP) it stops the load and every
backend it started, then exits; nothing is left running."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent


def _own_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty on fd 0, as a
    shell in a terminal window sets it up; closing the pty then sends it SIGHUP."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class TerminalApp:
    def __init__(self, args: list[str], size: tuple[int, int] = (160, 48)) -> None:
        master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        env["TERM"] = "xterm-256color"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsgicompare", *args],
            stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, env=env,
            preexec_fn=_own_terminal,
        )  # fmt: skip
        os.close(slave)
        self.master: int | None = master
        self.screen = bytearray()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        while self.master is not None:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.screen.extend(data)

    def press(self, keys: bytes) -> None:
        assert self.master is not None
        os.write(self.master, keys)

    def hang_up(self) -> None:
        """Close the terminal: the kernel sends SIGHUP to the app's session."""
        master, self.master = self.master, None
        if master is not None:
            os.close(master)

    def descendants(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def kill(self) -> None:
        for proc in self.descendants():
            try:
                proc.kill()
            except psutil.Error:
                pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.hang_up()


def wait_for(predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


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
    assert wait_for(lambda: backend_pids(app, "wsgicompare.backends.apps") and backend_pids(app, "multiprocessing.spawn"), 40)
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
        app.kill()


def test_closing_the_terminal_stops_everything():
    app = TerminalApp(["-d", "20", "-c", "8", "--warmup", "0"])
    try:
        pids = run_until_loaded(app)
        app.hang_up()
        app.proc.wait(timeout=20)
        assert wait_for(lambda: not alive(pids), 5), alive(pids)
    finally:
        app.kill()
