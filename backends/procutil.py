"""Linux process plumbing shared by the lifecycle and the launchers; imports nothing heavy.

Launchers (backends/apps/serve.py) import this before gevent's monkey patching, so it must not
import ssl, threading users or anything that starts threads.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

_PR_SET_PDEATHSIG = 1

#: libc's prctl, looked up once here in the parent: dlopen() in a child between fork and exec can
#: deadlock when another thread of the (multi-threaded) parent held the loader's lock at fork time.
#: None where there is no prctl (not Linux); the reaper and the process-group kill still cover it.
_prctl = None
if sys.platform.startswith("linux"):
    try:
        _prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        pass

#: the CPUs this process could use when wsgicompare started. Taken once, at import:
#: wsgicompare later pins its own threads to the loader CPUs (see
#: wsgicompare.engine.runspec.pin_to_loader_cpus), and servers must still be free to use the rest.
USABLE_CPUS: frozenset[int] = (
    frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset(range(os.cpu_count() or 1))
)


def available_cpus() -> tuple[int, ...]:
    """CPUs this process could run on when it started (respects taskset/cgroups, unlike
    os.cpu_count; unchanged by wsgicompare pinning its own threads later)."""
    return tuple(sorted(USABLE_CPUS))


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when the thread that forked it dies."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def child_setup(cpus: tuple[int, ...]) -> None:
    """Runs in every server process between fork and exec (Popen preexec_fn)."""
    set_pdeathsig()
    # unpinned servers still get every usable CPU, not the loader CPUs wsgicompare runs on
    os.sched_setaffinity(0, cpus or USABLE_CPUS)
    # files and sockets the server creates in the private dir are private too
    os.umask(0o077)
