"""Which processes a test left running: shared by the suite-wide guard (conftest.py)
and the app tests that check a quit stopped everything."""

from __future__ import annotations

import psutil

#: helpers that live as long as the test process by design
LONG_LIVED = ("wsgicompare.backends.reaper", "multiprocessing.resource_tracker", "multiprocessing.forkserver")


def stray_descendants() -> list[psutil.Process]:
    """Running descendants of this process, less zombies and the long-lived helpers."""
    strays = []
    for proc in psutil.Process().children(recursive=True):
        try:
            cmdline = " ".join(proc.cmdline())
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.Error:
            continue
        if any(name in cmdline for name in LONG_LIVED):
            continue
        strays.append(proc)
    return strays
