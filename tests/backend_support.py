"""Which backends a test may skip. Outside CI a backend whose server or module is not
installed is skipped. In CI (the CI environment variable set) everything the set-up is
meant to install must be there, so a missing one FAILS instead of hiding as a skip:
./bootstrap.sh setup pip-installs every Python backend (their modules, and the uwsgi
and twistd executables) and, only when it runs as root, apt-installs nginx, php-fpm and
Apache (then pip builds mod_wsgi against it)."""

from __future__ import annotations

import concurrent.futures
import ipaddress
import os
import re
import stat
import tempfile
from collections.abc import Callable
from typing import Any

import pytest
from reliability_support import listening_sockets, wait_for

from wsgicompare.backends import WORKLOADS, Backend
from wsgicompare.loader import LoadProfile, run_load

#: executables ./bootstrap.sh gets from apt-get, which it can do only as root
APT_EXECUTABLES = ("nginx", "php-fpm", "initdb", "postgres")
#: what pip can build only against Apache's apxs (apache2-dev from apt-get): the `apache` extra, root only too
APT_BUILT = ("python module mod_wsgi", "executable mod_wsgi-express")


def installed_by_setup(missing: str, as_root: bool) -> bool:
    """Whether ./bootstrap.sh setup installs a thing `Backend.availability()` lists as missing
    ("python module X", "executable X"); anything not recognised counts as installed by it."""
    if missing in APT_BUILT:
        return as_root
    kind, _, name = missing.partition(" ")
    if kind == "executable" and name in APT_EXECUTABLES:
        return as_root
    return True


def require_backend(backend: Backend) -> None:
    """Return if ``backend`` can run here; otherwise skip, or fail in CI when the set-up
    should have installed what is missing."""
    available, missing = backend.availability()
    if available:
        return
    message = f"{backend.id} unavailable: missing {', '.join(missing)} ({backend.hint})"
    if os.environ.get("CI"):
        expected = [m for m in missing if installed_by_setup(m, as_root=os.geteuid() == 0)]
        if expected:
            pytest.fail(
                f"{message}; in CI ./bootstrap.sh setup must have installed {', '.join(expected)}", pytrace=False
            )
        message += " (./bootstrap.sh installs it only when run as root)"
    pytest.skip(message)


def assert_loopback_only_and_private(backend_id: str, server) -> None:
    """Safety by default on a started server: every listening socket of its process tree
    is on loopback (or a unix socket in its private dir), the private dir is ours and 0700
    in the temp dir, nothing in it is world-writable or a socket others can reach, and
    every rendered config file sits in it (0600) and points nowhere else."""
    private = server.private_dir
    procs = server.processes()
    assert procs
    inet, unix = [], []
    for proc in procs:
        for family, address in listening_sockets(proc):
            (inet if family == "inet" else unix).append((proc.pid, address))
    assert inet, "no listening socket found in the server's process tree"
    for pid, ip in inet:
        assert ipaddress.ip_address(ip).is_loopback, f"{backend_id}: pid {pid} listens on {ip}"
    for pid, path in unix:
        # abstract or unnamed sockets have no file; a named one must sit in the private dir
        if path and not path.startswith("\0") and path.startswith("/"):
            assert path.startswith(private + os.sep), f"{backend_id}: unix socket {path} outside {private}"
    st = os.stat(private)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid()
    assert os.path.dirname(private) == tempfile.gettempdir()
    for dirpath, dirnames, filenames in os.walk(private):
        for name in dirnames + filenames:
            mode = os.lstat(os.path.join(dirpath, name)).st_mode
            assert not mode & stat.S_IWOTH, f"{name} is world-writable"
            if stat.S_ISSOCK(mode):
                assert not mode & 0o007, f"unix socket {name} is reachable by everyone"
    for name in server.config_files:
        path = os.path.join(private, name)
        assert os.path.isfile(path), name
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, name
    # every absolute path in an nginx config points into the private dir (or the bundled PHP script)
    for name, text in server.config_files.items():
        if name.startswith("nginx"):
            for path in re.findall(r"(?<![\w:/])(/[\w./-]+)", text):
                if path.startswith("/") and not path.startswith(private):
                    assert path.endswith("apps/testapp.php") or path in {"/", *WORKLOAD_PATHS}, (name, path)
    assert "0.0.0.0" not in " ".join(server.command) + "".join(server.config_files.values())


#: the bundled workloads' paths (nginx-static's locations)
WORKLOAD_PATHS = frozenset(w.path for w in WORKLOADS.values())


#: the short load every catalog backend carries in the suite: bounded by count, not time
SHORT_LOAD_REQUESTS = 200


def assert_carries_a_short_load(url: str, path: str, cpus: tuple[int, ...]) -> None:
    """c=4 clients, 200 requests with keep-alive and 200 with ``Connection: close``:
    every one a 2xx answer, no error of any kind."""
    for keepalive in (True, False):
        summary = run_load(
            LoadProfile(
                url=url + path,
                concurrency=4,
                duration_s=None,
                requests=SHORT_LOAD_REQUESTS,
                keepalive=keepalive,
                tick_s=0.1,
                cpus=cpus,
                max_wall_s=60.0,
            )
        )
        mode = "keep-alive" if keepalive else "Connection: close"
        errors = {kind: n for kind, n in summary.errors.items() if n}
        assert errors == {}, (mode, errors, summary.notes)
        assert summary.status["2xx"] == SHORT_LOAD_REQUESTS, (mode, summary.status)


_HELD_APP = """\
import os, threading, time

ARRIVED, GO = {arrived!r}, {go!r}


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if not environ["PATH_INFO"].startswith("/hold/"):  # the readiness check, a warm-up: at once
        return [b"not held"]
    # get_ident: a thread's, or under gevent's monkey-patching a greenlet's (they share one native thread)
    open(os.path.join(ARRIVED, f"{{os.getpid()}}-{{threading.get_ident()}}"), "w").close()
    deadline = time.monotonic() + 120
    while not os.path.exists(GO) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [f"{{os.getpid()}} {{environ['wsgi.multithread']}} {{environ['wsgi.multiprocess']}}".encode()]
"""


class HeldRequests:
    """A WSGI app that holds every request until the test lets them go (``release``).
    Each request marks its arrival (its process and thread or greenlet) in a directory first, so a
    test sees how many requests a server runs at once by waiting for that many marks,
    an event, instead of timing requests that sleep. Only paths under ``/hold/`` are
    held: the readiness check and a warm-up are answered at once."""

    def __init__(self, directory: str | os.PathLike[str], module: str) -> None:
        self.arrived_dir = os.path.join(directory, f"{module}-arrived")
        self.go = os.path.join(directory, f"{module}-go")
        os.mkdir(self.arrived_dir)
        with open(os.path.join(directory, f"{module}.py"), "w") as f:
            f.write(_HELD_APP.format(arrived=self.arrived_dir, go=self.go))
        #: the --app target (its directory must be the working directory: PYTHONPATH)
        self.target = f"{module}:app"

    def arrived(self) -> list[tuple[str, str]]:
        """(pid, thread id) of every request held so far."""
        return sorted(tuple(name.split("-", 1)) for name in os.listdir(self.arrived_dir))  # type: ignore[misc]

    def wait_for_arrivals(self, n: int, timeout_s: float = 30.0) -> list[tuple[str, str]]:
        """The arrivals once ``n`` requests are held at once, or fewer when the time is up."""
        return wait_for(lambda: len(self.arrived()) >= n and self.arrived(), timeout_s) or self.arrived()

    def release(self) -> None:
        open(self.go, "w").close()

    def send_at_once(self, n: int, get: Callable[[str], Any]) -> tuple[list[tuple[str, str]], list[Any]]:
        """``get`` /hold/0 … /hold/n-1 from n threads at once, wait until n are held (or the
        time is up), let them go: (the arrivals while they were held, the answers)."""
        with concurrent.futures.ThreadPoolExecutor(n) as pool:
            answers = [pool.submit(get, f"/hold/{i}") for i in range(n)]
            try:
                inside = self.wait_for_arrivals(n)
            finally:
                self.release()
            return inside, [a.result() for a in answers]
