"""uWSGI on its own, with its HTTP router (uwsgi-nginx and uwsgi-nginx-unix are in nginx.py)."""

from __future__ import annotations

import signal
import sys
from dataclasses import replace

from wsgicompare.backends.spec import WORKERS_BEHIND_ROUTER, WORKERS_CHILDREN, Backend, Launch, Setup


def uwsgi(setup: Setup, *listen: str) -> Launch:
    """uWSGI's master with `workers` processes (× `threads` threads when > 1), listening on ``listen``."""
    config = setup.config
    argv = [setup.exe("uwsgi"), *listen, "--master", "--processes", str(config.workers)]
    if config.threads > 1:
        argv += ["--threads", str(config.threads)]
    argv += ["--module", setup.app, "--home", sys.prefix, "--need-app", "--pidfile", setup.path("uwsgi.pid")]
    # --disable-logging: no request log; --die-on-term: SIGTERM exits instead of reloading. We stop it
    # with SIGINT anyway. The listen backlog stays uWSGI's default (100): part of what is measured.
    argv += ["--disable-logging", "--die-on-term"]
    # HUP: uWSGI's graceful reload of the master and its workers (the uWSGI docs, "Managing the uWSGI server")
    declared = dict(workers=WORKERS_CHILDREN, reload_signal=signal.SIGHUP)
    return Launch("uwsgi", argv, stop_signal=signal.SIGINT, stop_grace_s=5.0, **declared)


def _build_uwsgi(setup: Setup) -> list[Launch]:
    # --http: uWSGI's own HTTP router process in front of the workers, the way uWSGI is used when
    # clients talk to it directly (--http-socket would make each worker parse HTTP itself, the
    # mode uWSGI recommends only behind a proxy)
    return [replace(uwsgi(setup, "--http", setup.bind, "--http-keepalive"), workers=WORKERS_BEHIND_ROUTER)]


UWSGI = Backend(
    id="uwsgi",
    title="uWSGI with its HTTP router (--http)",
    family="uwsgi",
    seed=True,
    build=_build_uwsgi,
    budget="`workers` processes (--processes), --threads `threads` each when threads > 1",
    hint="pip install uwsgi",
    modules=("flask",),
    executables=("uwsgi",),
    versions=("uWSGI", "flask"),
)
