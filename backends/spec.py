"""The declarative side of a backend: its config, its spec, and the plan of processes it launches.

A backend is data (`Backend`) plus one `build(setup) -> list[Launch]` function that renders argv and
config files; everything else (ports, private dir, pinning, readiness, stop) is the shared lifecycle
in backends/lifecycle.py.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.util import find_spec
from typing import TYPE_CHECKING

from wsgicompare.backends.procutil import USABLE_CPUS
from wsgicompare.backends.workloads import ALL_WORKLOADS, DB_WORKLOADS, FRONT_WORKLOADS

if TYPE_CHECKING:
    import threading

    from wsgicompare.backends.lifecycle import Server

#: the bundled Flask test app
TEST_APP = "wsgicompare.backends.apps.testapp:app"
#: where system daemons live on Debian, outside a normal user's PATH
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")
_APP_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
MAX_WORKERS = 256
#: where the database workloads read: the default first (--database)
DATABASES = ("sqlite", "postgres")
MAX_THREADS = 1024

#: Launch.workers: which processes are the server's workers (what the worker-kill scenario kills),
#: declared by structure, never matched by name:
#: the launched process serves requests itself; it has no separate worker (one process)
WORKERS_SELF = "self"
#: the children of the launched process (a master that forks its workers: gunicorn, PHP-FPM, nginx)
WORKERS_CHILDREN = "children"
#: the children of the launched process except those that hold the public port: the router
#: in front of the workers (uWSGI --http's HTTP router; Apache's event MPM children, which pass
#: requests to the mod_wsgi daemon processes that run the app)
WORKERS_BEHIND_ROUTER = "children-behind-router"


class BackendError(Exception):
    """Bad backend input (unknown id, bad --app, bad config); the message is one line for the user."""


class BackendStartError(BackendError):
    """A backend did not become ready; `reason` is one line, `log_tail` the end of its logs."""

    def __init__(self, reason: str, log_tail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.log_tail = log_tail


class BackendStartCancelled(BackendStartError):
    """The caller's cancel event was set while the backend was starting; nothing of it is left running."""


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
        if self.app is not None and not _APP_TARGET.match(self.app):
            raise BackendError(f"--app must look like 'module:callable' (e.g. 'myapp:app'), got {self.app!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Launch:
    """One process a backend starts, in start order (the front, e.g. nginx, comes last)."""

    #: short name used in logs, exit reasons and versions, e.g. "nginx"
    name: str
    #: exact argv
    argv: list[str]
    #: the signal that makes this server shut down (not always SIGTERM: uWSGI reloads on it)
    stop_signal: int = signal.SIGTERM
    #: seconds the process gets after the stop signal before its group is SIGKILLed
    stop_grace_s: float = 5.0
    #: send the stop signal to the whole process group (our own pre-fork launchers), not just the leader
    signal_group: bool = False
    #: log files the server writes itself (besides its stdout/stderr log), read by log_tail
    extra_logs: tuple[str, ...] = ()
    #: extra environment variables
    env: dict[str, str] = field(default_factory=dict)
    #: which of its processes are workers (WORKERS_SELF, WORKERS_CHILDREN, WORKERS_BEHIND_ROUTER)
    workers: str = WORKERS_SELF
    #: the signal of its own graceful reload, as a deploy sends it (None: it has none)
    reload_signal: int | None = None
    #: a service the app uses (its database), started before the app server: never the
    #: app launch (what worker-kill and reload act on)
    service: bool = False


@dataclass
class Setup:
    """What a spec's build function gets: where to bind, what to serve, where to put files."""

    #: the config being started
    config: ServerConfig
    #: the private temp dir (mode 0700) for configs, logs, pidfiles and unix sockets
    private_dir: str
    #: the public TCP port (on config.host)
    port: int
    #: rendered config files, name -> text (filled by write())
    files: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        return self.config.host

    @property
    def bind(self) -> str:
        """The public "host:port" ("[::1]:port" for IPv6)."""
        host = self.config.host
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"

    @property
    def app(self) -> str:
        return self.config.app_target

    @property
    def python(self) -> str:
        return sys.executable

    def path(self, name: str) -> str:
        return os.path.join(self.private_dir, name)

    def write(self, name: str, text: str | bytes, *, record: bool = True) -> str:
        """Write a file into the private dir (mode 0600) and return its path; configs are recorded."""
        path = self.path(name)
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        data = text.encode() if isinstance(text, str) else text
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        if record:
            self.files[name] = data.decode(errors="replace")
        return path

    def mkdir(self, name: str) -> str:
        """A directory (mode 0700) inside the private dir."""
        path = self.path(name)
        os.makedirs(path, mode=0o700, exist_ok=True)
        return path

    def free_port(self) -> int:
        """A free loopback port for an internal listener (an app server behind nginx)."""
        return free_port("127.0.0.1")

    def exe(self, name: str) -> str:
        found = find_executable(name)
        if found is None:  # availability() is checked before build(); this is a race (uninstalled meanwhile)
            raise BackendStartError(f"executable {name!r} not found")
        return found


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


def find_executable(name: str) -> str | None:
    """The path of an executable: beside this Python (the venv's bin), on PATH, then in the sbin dirs.

    A versioned name also matches (Debian installs php-fpm as php-fpm8.2).
    """
    dirs = [os.path.dirname(sys.executable)]
    dirs += [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    dirs += _SBIN_DIRS
    for directory in dirs:
        found = shutil.which(name, path=directory)
        if found:
            return found
        for candidate in sorted(glob.glob(os.path.join(glob.escape(directory), name + "[0-9]*")), reverse=True):
            if re.fullmatch(re.escape(name) + r"[0-9.]+", os.path.basename(candidate)) and os.access(
                candidate, os.X_OK
            ):
                return candidate
    return None


def free_port(host: str) -> int:
    """A port the kernel says is free now (bind to port 0); the server binds it right after."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def port_in_use(host: str, port: int) -> bool:
    """True when something is bound to host:port (SO_REUSEADDR: a TIME_WAIT leftover does not count)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _family(host: str) -> int:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
