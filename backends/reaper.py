"""The reaper: one small process per wsgicompare process that kills what wsgicompare leaves behind.

    python -m wsgicompare.backends.reaper

It reads lines on stdin: "+pg PGID" / "-pg PGID" (register / forget a server's process group) and
"+dir PATH" / "-dir PATH" (a private dir to remove). When stdin reaches EOF, which is what happens
when wsgicompare dies in any way (even SIGKILL, which PR_SET_PDEATHSIG covers only for the direct
children, not for the workers of a killed master), it SIGKILLs every registered group, removes the
dirs and exits.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys


def main() -> None:
    # Ctrl-C in the terminal is for wsgicompare, which then stops its servers itself
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: set[int] = set()
    dirs: set[str] = set()
    for raw in sys.stdin.buffer:
        op, _, arg = raw.decode(errors="replace").strip().partition(" ")
        if op == "+pg":
            groups.add(int(arg))
        elif op == "-pg":
            groups.discard(int(arg))
        elif op == "+dir":
            dirs.add(arg)
        elif op == "-dir":
            dirs.discard(arg)
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass  # already gone
    for path in dirs:
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    main()
