"""The async frameworks, WSGI through their adapters: gevent, Tornado (native and WSGIContainer), Twisted.

Each is an event loop first (greenlets, an IOLoop, a reactor) that serves WSGI on the side; the
plain WSGI servers with a thread pool (waitress, Cheroot, Granian) are in thread_pool.py.
"""

from __future__ import annotations

from wsgicompare.backends.catalog.common import SERVE, serve
from wsgicompare.backends.spec import Backend, Launch, Setup


def _build_gevent(setup: Setup) -> list[Launch]:
    return [serve(setup, "gevent", "--workers", str(setup.config.workers), forks=setup.config.workers > 1)]


def _build_twisted(setup: Setup) -> list[Launch]:
    argv = [setup.exe("twistd"), "-n", "--pidfile", setup.path("twistd.pid")]  # fresh pidfile each run
    argv += ["--logger", f"{SERVE}.twisted_errors_only"]  # drops the per-request access log
    argv += ["web", "--wsgi", setup.app.replace(":", "."), "--listen", f"tcp:{setup.port}:interface={setup.host}"]
    # twistd can hang on SIGTERM right after a load: a short grace, then the group is killed
    return [Launch("twistd", argv, stop_grace_s=3.0)]


def _build_tornado(setup: Setup) -> list[Launch]:
    return [serve(setup, "tornado", "--workers", str(setup.config.workers), forks=setup.config.workers > 1)]


def _build_tornado_wsgi(setup: Setup) -> list[Launch]:
    config = setup.config
    options = ("--workers", str(config.workers), "--threads", str(config.threads))
    return [serve(setup, "tornado-wsgi", *options, forks=config.workers > 1)]


GEVENT = Backend(
    id="gevent",
    title="gevent.pywsgi WSGIServer, monkey-patched",
    family="gevent",
    seed=True,
    build=_build_gevent,
    budget="`workers` pre-forked processes, each one gevent loop (threads ignored)",
    hint="pip install gevent",
    modules=("gevent", "flask"),
    versions=("gevent", "flask"),
)
TWISTED = Backend(
    id="twisted",
    title="Twisted web (twistd -n web --wsgi)",
    family="twisted",
    seed=True,
    build=_build_twisted,
    budget="1 process; WSGI calls run in the reactor's thread pool (Twisted's default size)",
    hint="pip install twisted",
    modules=("twisted", "flask"),
    executables=("twistd",),
    versions=("twisted", "flask"),
)
TORNADO = Backend(
    id="tornado",
    title="Tornado, native handlers (no WSGI)",
    family="tornado",
    seed=True,
    build=_build_tornado,
    budget="`workers` processes (fork_processes), one IOLoop each (threads ignored)",
    hint="pip install tornado",
    modules=("tornado",),
    versions=("tornado",),
    serves_user_app=False,
)
TORNADO_WSGI = Backend(
    id="tornado-wsgi",
    title="Tornado WSGIContainer on a thread pool",
    family="tornado",
    seed=False,
    build=_build_tornado_wsgi,
    budget="`workers` processes, each a pool of `threads` threads",
    hint="pip install tornado",
    modules=("tornado", "flask"),
    versions=("tornado", "flask"),
)
