"""A loader process's set-up and its side of the pipe protocol with the parent
(``LoadRun``): ready → go(start_at) → one snapshot per tick → the last one with
``done``; a ``stop`` from the parent ends the load early. The process dies with its
parent (PR_SET_PDEATHSIG)."""

from __future__ import annotations

import os
import resource
import signal
import socket
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import anyio

from .connection import _libc
from .profile import FD_MARGIN, LoadProfile, open_file_room, split_evenly
from .worker import Worker

_monotonic = time.monotonic


def _die_with_parent(parent_pid: int) -> None:
    """PR_SET_PDEATHSIG: the kernel SIGKILLs this process when its parent dies, so a
    killed wsgicompare leaves no loader behind."""
    try:
        _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _raise_nofile(needed: int, index: int) -> list[str]:
    notes = []
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            target = hard if hard != resource.RLIM_INFINITY else max(soft, needed + FD_MARGIN)
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        if open_file_room(soft) < needed:
            notes.append(
                f"loader process {index}: open-file limit {soft} cannot hold its {needed} connections "
                f"(+{FD_MARGIN} spare); expect EMFILE errors — raise it with `ulimit -n`"
            )
    except (ValueError, OSError) as exc:
        notes.append(f"loader process {index}: could not raise the open-file limit ({exc})")
    return notes


def _resolve(host: str, port: int) -> str:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    infos.sort(key=lambda info: info[0] != socket.AF_INET)  # prefer IPv4 like most servers bind
    return str(infos[0][4][0])


def worker_main(pipe: Any, profile: LoadProfile, index: int, parent_pid: int) -> None:
    """Entry point of a loader process (multiprocessing spawn target)."""
    _die_with_parent(parent_pid)
    # Ctrl-C, a closed terminal or a SIGTERM sent to the whole process group are
    # the parent's to handle: it stops the load and reports what finished. If the
    # parent dies instead, PR_SET_PDEATHSIG ends this process.
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)
    notes: list[str] = []
    if profile.cpus:
        try:
            os.sched_setaffinity(0, profile.cpus)
        except OSError as exc:
            notes.append(f"loader process {index}: could not pin to CPUs {list(profile.cpus)} ({exc})")
    clients_n = split_evenly(profile.concurrency, profile.procs)[index]
    notes += _raise_nofile(clients_n, index)
    parts = urlsplit(profile.url)
    port = parts.port or 80
    try:
        host = _resolve(parts.hostname or "", port)
    except OSError as exc:
        pipe.send(("fatal", f"cannot resolve {parts.hostname!r}: {exc}"))
        return
    try:  # whether uvloop is there (in this spawned process, which runs the loop): the parent never needs it
        import uvloop  # noqa: F401

        loop_name = "uvloop"
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        loop_name = "asyncio"
    pipe.send(("ready", {"notes": notes, "loop": loop_name, "pid": os.getpid()}))
    try:
        msg = pipe.recv()
    except EOFError:
        return
    if msg[0] != "go":
        return
    start_at = msg[1]

    async def main() -> None:
        worker = Worker(profile, index, pipe, host, port, start_at)
        # The ticks end the run at wall_cap_s(); this cancel scope is the safety net
        # should anything keep the run from finishing by itself.
        with anyio.move_on_after(max(0.0, start_at - _monotonic()) + profile.wall_cap_s() + 5.0):
            await worker.run()
        if not worker.finished:
            worker.notes.append(f"loader process {index}: did not finish by itself; ended at the wall-time cap")
            worker.finish(_monotonic())

    # anyio runs the loop (uvloop when installed); the per-request path stays on plain
    # protocol callbacks, where anyio's streams would cost most of the throughput
    anyio.run(main, backend="asyncio", backend_options={"use_uvloop": loop_name == "uvloop"})
    pipe.close()
    sys.stdout.flush()
