"""The plain WSGI servers with a pool of threads, each its own `python -m` command: waitress, Granian, Cheroot.

WSGI is what they are for (no framework of their own, no nginx); the budget maps onto their
thread pool, and onto Granian's worker processes too.
"""

from __future__ import annotations

import signal

from wsgicompare.backends.catalog.common import python_module_server
from wsgicompare.backends.spec import WORKERS_CHILDREN, Backend, Launch, Setup


def _build_waitress(setup: Setup) -> list[Launch]:
    threads = setup.config.workers * setup.config.threads
    return [python_module_server(setup, "waitress", f"--listen={setup.bind}", f"--threads={threads}")]


def _build_granian(setup: Setup) -> list[Launch]:
    config = setup.config
    options = ["--interface", "wsgi", "--host", setup.host, "--port", str(setup.port)]
    options += ["--workers", str(config.workers), "--blocking-threads", str(config.threads), "--log-level", "warning"]
    # access log is off unless --access-log; HUP: granian respawns its workers gracefully
    declared = dict(workers=WORKERS_CHILDREN, reload_signal=signal.SIGHUP)
    return [python_module_server(setup, "granian", *options, **declared)]


def _build_cheroot(setup: Setup) -> list[Launch]:
    threads = str(setup.config.workers * setup.config.threads)
    return [
        python_module_server(setup, "cheroot", "--bind", setup.bind, "--threads", threads, "--max-threads", threads)
    ]


WAITRESS = Backend(
    id="waitress",
    title="waitress",
    family="waitress",
    seed=False,
    build=_build_waitress,
    budget="1 process (waitress has no workers); a pool of workers × threads threads",
    hint="pip install waitress",
    modules=("waitress", "flask"),
    versions=("waitress", "flask"),
)
GRANIAN = Backend(
    id="granian",
    title="Granian, WSGI interface",
    family="granian",
    seed=False,
    build=_build_granian,
    budget="`workers` processes × `threads` blocking threads",
    hint="pip install granian",
    modules=("granian", "flask"),
    versions=("granian", "flask"),
)
CHEROOT = Backend(
    id="cheroot",
    title="Cheroot (CherryPy's server)",
    family="cheroot",
    seed=False,
    build=_build_cheroot,
    budget="1 process; a pool of workers × threads threads",
    hint="pip install cheroot",
    modules=("cheroot", "flask"),
    versions=("cheroot", "flask"),
)
