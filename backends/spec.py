"""The declarative side of a backend: its config and its spec (what it builds, `Launch` and
`Setup`, is in backends/launch.py, re-exported here).

A backend is data (`Backend`) plus one `build(setup) -> list[Launch]` function that renders argv and
config files; everything else (ports, private dir, pinning, readiness, stop) is the shared lifecycle
in backends/lifecycle.py.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.util import find_spec
from typing import TYPE_CHECKING

# re-exported: the catalog's specs take what they build from here (backends/launch.py)
from wsgicompare.backends.launch import WORKERS_BEHIND_ROUTER as WORKERS_BEHIND_ROUTER
from wsgicompare.backends.launch import WORKERS_CHILDREN as WORKERS_CHILDREN
from wsgicompare.backends.launch import WORKERS_SELF as WORKERS_SELF
from wsgicompare.backends.launch import BackendError as BackendError
from wsgicompare.backends.launch import BackendStartCancelled as BackendStartCancelled
from wsgicompare.backends.launch import BackendStartError as BackendStartError
from wsgicompare.backends.launch import Launch as Launch
from wsgicompare.backends.launch import Setup as Setup
from wsgicompare.backends.launch import find_executable as find_executable
from wsgicompare.backends.launch import free_port as free_port
from wsgicompare.backends.launch import port_in_use as port_in_use
from wsgicompare.backends.procutil import USABLE_CPUS
from wsgicompare.backends.workloads import ALL_WORKLOADS, DB_WORKLOADS, FRONT_WORKLOADS

if TYPE_CHECKING:
    import threading

    from wsgicompare.backends.lifecycle import Server

#: the bundled Flask test app
TEST_APP = "wsgicompare.backends.apps.testapp:app"
_APP_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
MAX_WORKERS = 256
#: where the database workloads read: the default first (--database)
DATABASES = ("sqlite", "postgres")
MAX_THREADS = 1024
#: gunicorn's worker classes a config may ask for (ServerConfig.worker_class)
WORKER_CLASSES = ("sync", "gthread", "gevent")


@dataclass(frozen=True)
class ServerConfig:
    #: worker processes (the budget every backend gets; the caller defaults it to the server CPUs)
    workers: int
    #: threads per worker, for threaded backends (each spec's `budget` says how it maps)
    threads: int
    #: server CPUs every launched process is pinned to (empty: not pinned)
    cpus: tuple[int, ...] = ()
    #: address the public port binds to
    host: str = "127.0.0.1"
    #: public TCP port; None: a free one is chosen
    port: int | None = None
    #: "module:callable" of the user's WSGI app; None serves the bundled test app
    app: str | None = None
    #: allow a host that is not loopback
    allow_remote_bind: bool = False
    #: where the database workloads read (DATABASES): SQLite in the private dir, or our own PostgreSQL
    database: str = DATABASES[0]
    #: gunicorn's worker class, where the backend's class is a knob (gunicorn, gunicorn-nginx:
    #: --recommend's sweep); None: the backend's own (sync). Other backends ignore it
    worker_class: str | None = None

    @property
    def app_target(self) -> str:
        """The "module:callable" to serve."""
        return self.app or TEST_APP

    def validate(self) -> None:
        """Raise BackendError (one line) when this config cannot work."""
        if not (isinstance(self.workers, int) and 1 <= self.workers <= MAX_WORKERS):
            raise BackendError(f"--workers must be between 1 and {MAX_WORKERS}, got {self.workers!r}")
        if not (isinstance(self.threads, int) and 1 <= self.threads <= MAX_THREADS):
            raise BackendError(f"--threads must be between 1 and {MAX_THREADS}, got {self.threads!r}")
        bad = sorted(set(self.cpus) - USABLE_CPUS)
        if bad:
            raise BackendError(f"server CPU {bad[0]} is not available to this process (allowed: {sorted(USABLE_CPUS)})")
        if not self.allow_remote_bind and not _is_loopback(self.host):
            raise BackendError(
                f"refusing to bind {self.host!r}: not a loopback address (use --allow-remote-bind to expose a server)"
            )
        if self.port is not None and not (isinstance(self.port, int) and 1 <= self.port <= 65535):
            raise BackendError(f"--port must be between 1 and 65535, got {self.port!r}")
        if self.database not in DATABASES:
            raise BackendError(f"--database must be {' or '.join(DATABASES)}, got {self.database!r}")
        if self.worker_class is not None and self.worker_class not in WORKER_CLASSES:
            raise BackendError(f"worker class must be {', '.join(WORKER_CLASSES)}, got {self.worker_class!r}")
        if self.app is not None and not _APP_TARGET.match(self.app):
            raise BackendError(f"--app must look like 'module:callable' (e.g. 'myapp:app'), got {self.app!r}")


def _is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address ("localhost" included).

    The loader has its own (wsgicompare.loader.is_loopback, which also takes "[::1]"); the
    backends cannot import the loader (tests/test_layers.py), so this one stays here."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Backend:
    """One deployment backend, declared: what it needs, how it is built; the lifecycle does the rest."""

    #: catalog id, e.g. "uwsgi-nginx"
    id: str
    #: one-line title for tables
    title: str
    #: the server family, e.g. "gunicorn", "uwsgi", "nginx"
    family: str
    #: part of the seed table every machine must run
    seed: bool
    #: renders config files into setup.private_dir and returns the processes to start, back first
    build: Callable[[Setup], list[Launch]]
    #: how the worker/thread budget maps onto this server's options
    budget: str
    #: how to install what is missing
    hint: str
    #: workload names it serves
    workloads: tuple[str, ...] = ALL_WORKLOADS
    #: why it serves no other workload: (workload, reason) pairs; see why_not
    unserved: tuple[tuple[str, str], ...] = ()
    #: Python modules it needs (checked with find_spec, never imported)
    modules: tuple[str, ...] = ()
    #: executables it needs (venv bin dir, PATH, then sbin dirs; "php-fpm" also finds "php-fpm8.2")
    executables: tuple[str, ...] = ()
    #: what to report versions of: Python distribution names, or executables with a probe in versions.VERSION_PROBES
    versions: tuple[str, ...] = ()
    #: can serve the user's --app (False for native Tornado, PHP and static nginx)
    serves_user_app: bool = True

    def availability(self) -> tuple[bool, list[str]]:
        """(available, missing things): modules by find_spec, executables by lookup; imports nothing heavy."""
        missing = [f"python module {m}" for m in self.modules if find_spec(m) is None]
        missing += [f"executable {e}" for e in self.executables if find_executable(e) is None]
        return (not missing, missing)

    def why_not(self, workload: str) -> str:
        """One line: why this backend does not serve ``workload`` (the run shows as unavailable)."""
        reason = dict(self.unserved).get(workload)
        if reason is None and workload in FRONT_WORKLOADS:
            reason = "no nginx in front of it (the nginx-fronted backends serve it from nginx itself)"
        reason = reason or f"it serves only: {', '.join(self.workloads)}"
        return f"{self.id} does not serve workload {workload!r}: {reason}"

    def unavailable_for(self, workload: str, config: ServerConfig | None) -> str | None:
        """Why a run of ``workload`` with ``config`` cannot be made here (None: it can)."""
        if workload not in self.workloads:
            return self.why_not(workload)
        if config is not None and config.database == "postgres" and workload in DB_WORKLOADS:
            from wsgicompare.backends.postgres import HINT, missing  # postgres imports this module

            if lack := missing():
                return f"--database postgres: missing {', '.join(lack)} — {HINT}"
        return None

    def start(
        self, config: ServerConfig, ready_timeout_s: float = 30.0, *, cancel: threading.Event | None = None
    ) -> Server:
        """Start it and wait until it answers; raises BackendStartError with nothing left running.

        Setting `cancel` (e.g. from a SIGINT handler) stops the start within about a second:
        everything launched is killed, the private dir removed, and BackendStartCancelled raised.
        """
        from wsgicompare.backends.lifecycle import start  # lifecycle imports this module

        return start(self, config, ready_timeout_s, cancel=cancel)
