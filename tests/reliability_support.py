"""Shared helpers of the reliability, security and bad-input tests: run the real CLI
as a subprocess, watch its process tree, find the ports it listens on, and check
that every process and port is gone afterwards. Real processes only, loopback only."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

#: the repository root (the CLI runs from here unless a test gives its own directory)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: every error kind the loader may report (loader/stats.py ERROR_KINDS)
ERROR_KINDS = {"refused", "connect_timeout", "reset", "read_timeout", "closed_early", "protocol", "other"}
#: response classes
STATUS_CLASSES = {"2xx", "3xx", "4xx", "5xx"}


def cli_env(**extra: str) -> dict[str, str]:
    """The environment for a CLI subprocess: no colour, no terminal tricks."""
    env = dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1", COLUMNS="200")
    env.pop("FORCE_COLOR", None)
    env.update(extra)
    return env


def run_cli(
    args: list[str], *, timeout_s: float = 60.0, cwd: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """``python -m wsgicompare ARGS`` to its end (bounded by ``timeout_s``)."""
    return subprocess.run(
        [sys.executable, "-m", "wsgicompare", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=cwd or ROOT,
        env=env or cli_env(),
        stdin=subprocess.DEVNULL,
    )


def spawn_cli(args: list[str], *, cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.Popen:
    """``python -m wsgicompare ARGS`` in the background (stdout/stderr to pipes drained by threads)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsgicompare", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=cwd or ROOT,
        env=env or cli_env(),
    )
    proc.out_lines = []  # type: ignore[attr-defined]
    proc.err_lines = []  # type: ignore[attr-defined]
    for stream, sink in ((proc.stdout, proc.out_lines), (proc.stderr, proc.err_lines)):  # type: ignore[attr-defined]
        threading.Thread(target=_drain, args=(stream, sink), daemon=True).start()
    return proc


def _drain(stream, sink: list[str]) -> None:
    for raw in iter(stream.readline, b""):
        sink.append(raw.decode(errors="replace"))
    stream.close()


def cmdline(p: psutil.Process) -> str:
    try:
        return " ".join(p.cmdline())
    except psutil.Error:
        return ""


def is_loader(p: psutil.Process) -> bool:
    """A loader process: multiprocessing spawn child (wsgicompare.loader runs nothing else that way)."""
    line = cmdline(p)
    return "multiprocessing.spawn" in line or "--multiprocessing-fork" in line


def is_reaper(p: psutil.Process) -> bool:
    return "wsgicompare.backends.reaper" in cmdline(p)


def is_helper(p: psutil.Process) -> bool:
    """Long-lived helpers that are not servers or loaders."""
    line = cmdline(p)
    return "multiprocessing.resource_tracker" in line or "wsgicompare.backends.reaper" in line


def descendants(pid: int) -> list[psutil.Process]:
    """Live (non-zombie) descendants of ``pid``."""
    try:
        found = psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []
    live = []
    for p in found:
        try:
            if p.status() != psutil.STATUS_ZOMBIE:
                live.append(p)
        except psutil.Error:
            continue
    return live


@dataclass
class TreeSnapshot:
    """Processes (pid, start time) and listening TCP ports seen under one process."""

    procs: dict[int, tuple[float, str]] = field(default_factory=dict)  # pid -> (create_time, cmdline)
    ports: set[int] = field(default_factory=set)

    def add(self, p: psutil.Process) -> None:
        try:
            self.procs[p.pid] = (p.create_time(), cmdline(p))
        except psutil.Error:
            return
        self.ports |= listening_ports(p)

    def still_running(self) -> list[str]:
        left = []
        for pid, (created, line) in self.procs.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    left.append(f"{pid} {line[:100]}")
            except psutil.Error:
                continue
        return left

    def listening(self) -> list[int]:
        return sorted(port for port in self.ports if port_listens(port))


def snapshot_tree(pid: int) -> TreeSnapshot:
    snap = TreeSnapshot()
    for p in descendants(pid):
        snap.add(p)
    return snap


def listening_ports(p: psutil.Process) -> set[int]:
    """TCP ports this process listens on."""
    try:
        conns = p.net_connections(kind="tcp")
    except psutil.Error:
        return set()
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN and c.laddr}


def listening_sockets(p: psutil.Process) -> list[tuple[str, str]]:
    """(family, address) of every listening socket of ``p``: inet ones as "ip", unix ones as their path."""
    out = []
    try:
        for c in p.net_connections(kind="inet"):
            if c.status == psutil.CONN_LISTEN and c.laddr:
                out.append(("inet", c.laddr.ip))
        for c in p.net_connections(kind="unix"):
            if c.laddr:
                out.append(("unix", c.laddr))
    except psutil.Error:
        pass
    return out


def port_listens(port: int) -> bool:
    """Something listens on 127.0.0.1:port (or on any address of that port), by the kernel's table."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                        return True
        except OSError:
            continue
    return False


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], object], timeout_s: float, poll_s: float = 0.05):
    """Poll ``condition`` until it returns something truthy (returned) or the time is up (None)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)


def wait_gone(snap: TreeSnapshot, timeout_s: float = 5.0) -> tuple[list[str], list[int]]:
    """Wait up to ``timeout_s`` for every process of ``snap`` to end and every port to close;
    returns what is left (both empty when all is gone)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left, ports = snap.still_running(), snap.listening()
        if (not left and not ports) or time.monotonic() >= deadline:
            return left, ports
        time.sleep(0.05)


def kill_snapshot(snap: TreeSnapshot) -> None:
    """Last resort in a test's finally: SIGKILL whatever of ``snap`` still runs."""
    for pid, (created, _) in snap.procs.items():
        try:
            p = psutil.Process(pid)
            if p.create_time() == created:
                p.kill()
        except psutil.Error:
            continue


def stop_cli(proc: subprocess.Popen) -> None:
    """Kill a CLI subprocess and everything under it (a test's cleanup)."""
    snap = snapshot_tree(proc.pid)
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    wait_gone(snap, 5.0)
    kill_snapshot(snap)


def server_root(pid: int, marker: str) -> psutil.Process | None:
    """The topmost descendant of ``pid`` whose command line holds ``marker`` (a server's master)."""
    found = [p for p in descendants(pid) if marker in cmdline(p)]
    pids = {p.pid for p in found}
    for p in found:
        try:
            parent = p.parent()
        except psutil.Error:
            continue
        if parent is None or parent.pid not in pids:
            return p
    return None


def load_running(pid: int) -> bool:
    return any(is_loader(p) for p in descendants(pid))


def kill_server_tree(master: psutil.Process, pause_s: float = 0.3) -> list[int]:
    """Kill a server the hard way: its workers first, then (after ``pause_s``) its master.
    Returns the pids killed."""
    killed = []
    try:
        workers = master.children(recursive=True)
    except psutil.Error:
        workers = []
    for w in workers:
        try:
            w.kill()
            killed.append(w.pid)
        except psutil.Error:
            continue
    time.sleep(pause_s)
    try:
        master.kill()
        killed.append(master.pid)
    except psutil.Error:
        pass
    return killed


def read_json_export(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def one_error_line(stderr: str) -> str:
    """The one line a bad input must give (fails with the whole stderr otherwise)."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one line on stderr, got:\n{stderr}"
    assert "Traceback" not in stderr
    assert lines[0].startswith("wsgicompare: error: "), lines[0]
    return lines[0]


def classified(run: dict) -> None:
    """Every request of an exported run ends in exactly one known class."""
    assert set(run["errors"]) <= ERROR_KINDS, run["errors"]
    assert set(run["responses"]) <= STATUS_CLASSES, run["responses"]
    assert sum(run["responses"].values()) + sum(run["errors"].values()) == run["requests"], run
    assert run["failures"] == run["requests"] - run["responses"].get("2xx", 0), run


# -- the terminal app on a pseudo-terminal -------------------------------------------------


def _own_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty on fd 0, as a
    shell in a terminal window sets it up; closing the pty then sends it SIGHUP."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class TerminalApp:
    """The real app (`python -m wsgicompare ARGS`, no run options) on a pseudo-terminal
    of ``size`` (columns, rows): what it draws collects in ``screen``, ``press`` types."""

    def __init__(self, args: list[str], size: tuple[int, int] = (160, 48)) -> None:
        master, slave = pty.openpty()
        cols, rows = size
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        env["TERM"] = "xterm-256color"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "wsgicompare", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=ROOT,
            env=env,
            preexec_fn=_own_terminal,
        )
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

    def close(self) -> None:
        """A test's cleanup: kill the app and everything under it, close the terminal."""
        stop_cli(self.proc)
        self.hang_up()
