"""gunicorn on its own: sync, gthread and gevent workers (gunicorn-nginx is in nginx.py)."""

from __future__ import annotations

import signal
from importlib.util import find_spec

from wsgicompare.backends.spec import WORKERS_CHILDREN, Backend, Launch, Setup


def gunicorn(setup: Setup, bind: str, worker_class: str) -> Launch:
    """gunicorn with `workers` workers of ``worker_class`` on ``bind``, with the class's own
    options: gthread's `threads` threads, gevent's 1000 connections per worker (never
    --threads for sync: gunicorn would turn it into gthread)."""
    argv = [setup.python, "-m", "gunicorn", "--bind", bind, "--workers", str(setup.config.workers)]
    options = {"gthread": ["--threads", str(setup.config.threads)], "gevent": ["--worker-connections", "1000"]}
    argv += ["--worker-class", worker_class, *options.get(worker_class, []), "--pid", setup.path("gunicorn.pid")]
    # no --access-logfile: gunicorn's access log is off unless given
    argv += ["--graceful-timeout", "3", "--log-level", "warning"]
    if find_spec("gunicorn.ctl") is not None:
        argv.append("--no-control-socket")  # gunicorn 24+: else every instance shares ~/.gunicorn/gunicorn.ctl
    # HUP: new workers (the app imported again), the old ones finish their requests
    return Launch(
        "gunicorn", argv + [setup.app], stop_grace_s=5.0, workers=WORKERS_CHILDREN, reload_signal=signal.SIGHUP
    )


def _build_gunicorn(setup: Setup) -> list[Launch]:
    return [gunicorn(setup, setup.bind, setup.config.worker_class or "sync")]


def _build_gunicorn_gthread(setup: Setup) -> list[Launch]:
    return [gunicorn(setup, setup.bind, "gthread")]


def _build_gunicorn_gevent(setup: Setup) -> list[Launch]:
    return [gunicorn(setup, setup.bind, "gevent")]


GUNICORN = Backend(
    id="gunicorn",
    title="gunicorn, sync workers",
    family="gunicorn",
    seed=True,
    build=_build_gunicorn,
    budget="`workers` sync worker processes, one request at a time each (threads ignored; "
    "--recommend also sweeps gthread and gevent workers)",
    hint="pip install gunicorn",
    modules=("gunicorn", "flask"),
    versions=("gunicorn", "flask"),
)
GUNICORN_GTHREAD = Backend(
    id="gunicorn-gthread",
    title="gunicorn, gthread workers",
    family="gunicorn",
    seed=False,
    build=_build_gunicorn_gthread,
    budget="`workers` processes × `threads` threads",
    hint="pip install gunicorn",
    modules=("gunicorn", "flask"),
    versions=("gunicorn", "flask"),
)
GUNICORN_GEVENT = Backend(
    id="gunicorn-gevent",
    title="gunicorn, gevent workers",
    family="gunicorn",
    seed=False,
    build=_build_gunicorn_gevent,
    budget="`workers` processes, each a gevent loop of up to 1000 connections (threads ignored)",
    hint="pip install gunicorn gevent",
    modules=("gunicorn", "gevent", "flask"),
    versions=("gunicorn", "gevent", "flask"),
)
