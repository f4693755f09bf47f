"""The command line in-process, behind a tripwire: bad input and option checks call
``wsgicompare.cli.main(argv)`` in the test process (no ``python -m wsgicompare`` start
per case) and fail if the call tried to start anything.

While ``main()`` runs, every way this process could start a process, a server or a
loader is replaced by a recorder that refuses (raises ``Tripped``) and notes what was
tried: ``subprocess.Popen`` (asyncio's subprocesses too), ``os.fork``/``forkpty``,
``os.posix_spawn``/``posix_spawnp``, ``os.system``, ``os.execv``/``execve``,
multiprocessing's ``Process.start`` and its ``spawnv_passfds``, ``socket.listen``,
``socket.connect``/``connect_ex``, and ``os.sched_setaffinity`` (a real run pins
wsgicompare's own threads to the loader CPUs first; bad input must not). The one child
let through is the --app import check (``python -c`` with wsgicompare's own check
script, marked "wsgicompare-app-check"). After the call the CPU affinity of every
thread of the test process must be what it was before.

``Tripped`` is a BaseException: no ``except Exception``/``except OSError`` in the code
under test can swallow it, and what was tried is recorded before it is raised, so a
swallowed one still fails the test."""

from __future__ import annotations

import contextlib
import multiprocessing.process
import multiprocessing.util
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from wsgicompare.backends.lifecycle import _APP_CHECK
from wsgicompare.cli import main

#: the marker of the --app import check, the one child planning may start
APP_CHECK_MARK = "wsgicompare-app-check"
assert APP_CHECK_MARK in _APP_CHECK


class Tripped(BaseException):
    """Something tried to start a process, a server or a loader, or to pin this process."""


def is_app_check(args: Any) -> bool:
    """``[python, "-c", <the --app import check>, target]``: exactly wsgicompare's own check."""
    return (
        isinstance(args, (list, tuple))
        and len(args) == 4
        and args[0] == sys.executable
        and args[1] == "-c"
        and args[2] == _APP_CHECK
    )


def _affinities() -> dict[int, set[int]]:
    found = {}
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError):
            found[int(tid)] = os.sched_getaffinity(int(tid))
    return found


@dataclass
class Tripwire:
    """What was refused (``attempts``) and which --app checks were let through."""

    attempts: list[str] = field(default_factory=list)
    app_checks: list[str] = field(default_factory=list)

    def _refuse(self, what: str) -> Any:
        self.attempts.append(what)
        raise Tripped(what)

    def _recorder(self, what: str):
        def refuse(*args: Any, **kwargs: Any) -> Any:
            return self._refuse(f"{what} {_short(args)}".rstrip())

        return refuse

    @contextlib.contextmanager
    def armed(self) -> Iterator[Tripwire]:
        popen_init = subprocess.Popen.__init__
        tripwire = self

        def guarded_popen_init(popen: subprocess.Popen, args: Any, *rest: Any, **kwargs: Any) -> None:
            if is_app_check(args):
                tripwire.app_checks.append(args[3])
                popen_init(popen, args, *rest, **kwargs)
                return
            tripwire._refuse(f"subprocess {_short(args)}")

        def guarded_start(process: multiprocessing.process.BaseProcess) -> None:
            tripwire._refuse(f"multiprocessing process {process.name}")

        def guarded_listen(sock: socket.socket, *args: Any) -> None:
            tripwire._refuse(f"listen on {_address(sock)}")

        def guarded_connect(sock: socket.socket, address: Any) -> Any:
            return tripwire._refuse(f"connect to {address!r}")

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(subprocess.Popen, "__init__", guarded_popen_init)
            for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp", "system", "execv", "execve"):
                if hasattr(os, name):
                    mp.setattr(os, name, self._recorder(f"os.{name}"))
            mp.setattr(os, "sched_setaffinity", self._recorder("pinning (os.sched_setaffinity)"))
            mp.setattr(multiprocessing.process.BaseProcess, "start", guarded_start)
            mp.setattr(multiprocessing.util, "spawnv_passfds", self._recorder("multiprocessing spawn"))
            mp.setattr(socket.socket, "listen", guarded_listen)
            mp.setattr(socket.socket, "connect", guarded_connect)
            mp.setattr(socket.socket, "connect_ex", guarded_connect)
            yield self


def _short(args: Any) -> str:
    text = " ".join(map(str, args[0])) if args and isinstance(args[0], (list, tuple)) else " ".join(map(str, args))
    return text[:160]


def _address(sock: socket.socket) -> str:
    try:
        return str(sock.getsockname())
    except OSError:
        return "?"


@dataclass
class Outcome:
    """One in-process ``main(argv)``: its exit code (None when a tripwire stopped it),
    stdout, stderr, what it tried to start and the --app checks it ran."""

    code: int | None
    out: str
    err: str
    attempts: list[str]
    app_checks: list[str]


class Cli:
    """``main(argv)`` in-process behind the tripwire; stdout and stderr from capsys."""

    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys
        #: the latest call's outcome (e.g. which --app checks it ran)
        self.last: Outcome | None = None

    def attempt(self, argv: list[str], cwd: str | os.PathLike[str] | None = None) -> Outcome:
        """Run ``main(argv)`` and report what it tried; asserts nothing (the tripwire's own test uses it)."""
        self.capsys.readouterr()  # what the test printed before is not the CLI's
        tripwire = Tripwire()
        with pytest.MonkeyPatch.context() as mp:
            # as a CLI subprocess runs in the suite (reliability_support.cli_env): no colour, wide lines
            mp.setenv("NO_COLOR", "1")
            mp.setenv("COLUMNS", "200")
            mp.delenv("FORCE_COLOR", raising=False)
            if cwd is not None:
                mp.chdir(cwd)
            code: int | None = None
            with tripwire.armed():
                try:
                    code = main([str(a) for a in argv])
                except Tripped:
                    pass
        out, err = self.capsys.readouterr()
        return Outcome(code, out, err, tripwire.attempts, tripwire.app_checks)

    def run(self, argv: list[str], cwd: str | os.PathLike[str] | None = None) -> Outcome:
        """``main(argv)``, failing the test if it tried to start anything or left this
        process's CPU affinity changed."""
        before = _affinities()
        outcome = self.last = self.attempt(argv, cwd=cwd)
        after = _affinities()
        assert outcome.attempts == [], f"main({argv}) tried to start: {outcome.attempts}; stderr: {outcome.err}"
        changed = {tid: (before[tid], after[tid]) for tid in before.keys() & after.keys() if before[tid] != after[tid]}
        assert not changed, f"main({argv}) changed the CPU affinity of this process's threads: {changed}"
        return outcome

    def refused(self, argv: list[str], needle: str, cwd: str | os.PathLike[str] | None = None, code: int = 2) -> str:
        """Bad input: exit ``code`` (2), nothing on stdout, exactly one line
        ``wsgicompare: error: …`` holding ``needle`` on stderr, nothing started. The line."""
        outcome = self.run(argv, cwd=cwd)
        assert outcome.code == code, outcome.err
        assert outcome.out == "", outcome.out
        lines = outcome.err.splitlines()
        assert len(lines) == 1 and outcome.err.endswith("\n"), f"expected one line on stderr, got:\n{outcome.err}"
        assert lines[0].startswith("wsgicompare: error: "), lines[0]
        assert needle in lines[0], lines[0]
        return lines[0]


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """In-process ``main(argv)`` behind the tripwire (``cli.refused(argv, needle)`` for bad input)."""
    return Cli(capsys)
