"""Linux process plumbing shared by the lifecycle and the launchers; imports nothing heavy.

Launchers (backends/apps/serve.py) import this before gevent's monkey patching, so it must not
import ssl, threading users or anything that starts threads.
"""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send `sig` to this process when the thread that forked it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the reaper and the process-group kill still cover it


def child_setup(cpus: tuple[int, ...]) -> None:
    """Runs in every server process between fork and exec (Popen preexec_fn)."""
    set_pdeathsig()
    if cpus:
        os.sched_setaffinity(0, cpus)
    # files and sockets the server creates in the private dir are private too
    os.umask(0o077)
