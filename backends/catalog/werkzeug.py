"""Werkzeug, the Flask dev server: one thread, a thread per request, a process per request."""

from __future__ import annotations

from wsgicompare.backends.catalog.common import PIP_HINT, serve
from wsgicompare.backends.spec import Backend, Launch, Setup

_FLASK = ("flask", "werkzeug")


def _build_flask_dev(setup: Setup) -> list[Launch]:
    return [serve(setup, "werkzeug")]


def _build_flask_threaded(setup: Setup) -> list[Launch]:
    return [serve(setup, "werkzeug", "--threaded")]


def _build_flask_processes(setup: Setup) -> list[Launch]:
    # Werkzeug forks only when processes > 1 (1 would be flask-dev again); like PHP-FPM's pool, the
    # budget is workers × threads concurrent children
    processes = max(2, setup.config.workers * setup.config.threads)
    return [serve(setup, "werkzeug", "--processes", str(processes))]


FLASK_DEV = Backend(
    id="flask-dev",
    title="Flask dev server (Werkzeug), one thread",
    family="werkzeug",
    seed=True,
    build=_build_flask_dev,
    budget="1 process, 1 thread (workers and threads ignored)",
    hint=PIP_HINT,
    modules=_FLASK,
    versions=_FLASK,
)
FLASK_THREADED = Backend(
    id="flask-threaded",
    title="Flask dev server, a thread per request",
    family="werkzeug",
    seed=True,
    build=_build_flask_threaded,
    budget="1 process; Werkzeug starts a thread per request (no pool: threads ignored)",
    hint=PIP_HINT,
    modules=_FLASK,
    versions=_FLASK,
)
FLASK_PROCESSES = Backend(
    id="flask-processes",
    title="Flask dev server, a process per request",
    family="werkzeug",
    seed=True,
    build=_build_flask_processes,
    budget="Werkzeug forks a process per request, at most max(2, workers × threads) at once (as PHP-FPM's pool)",
    hint=PIP_HINT,
    modules=_FLASK,
    versions=_FLASK,
)
