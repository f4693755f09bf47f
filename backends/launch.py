"""What a backend's build function makes and uses: the processes it launches (`Launch`), its
`Setup` (where to bind, what to serve, where to put files), the backend errors, and the host
helpers (executables, ports). Below both the specs (backends/spec.py) and the lifecycle
(backends/lifecycle.py), which import it; it imports neither.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wsgicompare.backends.spec import ServerConfig

#: where system daemons live on Debian, outside a normal user's PATH
_SBIN_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin")

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
