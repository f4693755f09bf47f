"""The one lifecycle every backend shares: private dir, launch, readiness, processes, stop.

No backend id appears here: what differs between servers is in their specs (backends/catalog/).
"""

from __future__ import annotations

import atexit
import functools
import os
import queue
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from importlib.machinery import PathFinder
from typing import TYPE_CHECKING, Any

import psutil

import wsgicompare.backends.appdata as appdata
import wsgicompare.backends.postgres as postgres
from wsgicompare.backends.launch import (
    WORKERS_BEHIND_ROUTER,
    WORKERS_SELF,
    BackendError,
    BackendStartCancelled,
    BackendStartError,
    Launch,
    Setup,
    free_port,
    port_in_use,
)
from wsgicompare.backends.procutil import child_setup, set_pdeathsig
from wsgicompare.backends.versions import probe_versions
from wsgicompare.backends.workloads import WORKLOADS

if TYPE_CHECKING:  # a Backend starts through this module (Backend.start)
    from wsgicompare.backends.spec import Backend, ServerConfig

#: seconds between two readiness probes
_READY_POLL_S = 0.05
#: what nginx in front answers while the app server behind it is not listening yet: not ready
_GATEWAY_ERRORS = (502, 503, 504)
#: seconds one readiness request may take
_READY_REQUEST_TIMEOUT_S = 1.0
#: seconds a user app's import check may take
_APP_CHECK_TIMEOUT_S = 20.0
#: seconds granted after SIGKILL for the kernel to tear a process group down
_KILL_WAIT_S = 3.0
#: seconds a cancelled start grants its processes to stop on their own signal before SIGKILL
_CANCEL_STOP_S = 1.0


class _Spawner:
    """One long-lived thread that forks every server process.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not the process: a server
    started from a short-lived worker thread (the TUI's) would be killed when that thread ends.
    """

    def __init__(self) -> None:
        self._jobs: queue.Queue = queue.Queue()
        self._pid = os.getpid()
        threading.Thread(target=self._run, name="wsgicompare-spawner", daemon=True).start()

    def _run(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                done.put((True, job()))
            except BaseException as exc:  # handed back to the caller's thread
                done.put((False, exc))

    def call(self, job: Callable[[], Any]) -> Any:
        done: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=1)
        self._jobs.put((job, done))
        ok, value = done.get()
        if not ok:
            raise value
        return value


class _Reaper:
    """Client side of backends/reaper.py; one reaper process per wsgicompare process."""

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        # own session: a Ctrl-C or SIGTERM sent to wsgicompare's process group does not reach it
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "wsgicompare.backends.reaper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    def tell(self, line: str) -> None:
        with self._lock:
            stdin = self._proc.stdin
            if stdin is None:
                return
            try:
                stdin.write(line.encode() + b"\n")
                stdin.flush()
            except (BrokenPipeError, ValueError):
                pass  # reaper gone: stop() still kills the groups itself


_shared_lock = threading.Lock()
_spawner: _Spawner | None = None
_reaper: _Reaper | None = None
_live_servers: weakref.WeakSet[Server] = weakref.WeakSet()


def _helpers() -> tuple[_Spawner, _Reaper]:
    global _spawner, _reaper
    with _shared_lock:
        if _spawner is None or _spawner._pid != os.getpid():
            _spawner = _Spawner()
        if _reaper is None or _reaper._pid != os.getpid():
            _reaper = _Reaper()
        return _spawner, _reaper


@atexit.register
def _stop_all_at_exit() -> None:
    for server in list(_live_servers):
        try:
            server.stop(timeout_s=3.0)
        except Exception:
            pass


def start(
    backend: Backend, config: ServerConfig, ready_timeout_s: float = 30.0, *, cancel: threading.Event | None = None
) -> Server:
    """Start `backend` with `config`; see Backend.start."""
    config.validate()
    _check_cancel(backend, cancel)
    available, missing = backend.availability()
    if not available:
        raise BackendStartError(f"{backend.id} is not available: missing {', '.join(missing)} ({backend.hint})")
    if config.app is not None:
        if not backend.serves_user_app:
            raise BackendStartError(f"{backend.id} serves only its own built-in app, not --app {config.app}")
        check_user_app(config.app, cancel=cancel, cancelled=f"{backend.id}: cancelled while starting")
    if config.port is not None:
        if port_in_use(config.host, config.port):
            raise BackendStartError(f"port {config.port} is already in use")
        port = config.port
    else:
        port = free_port(config.host)
    _check_temp_dir(tempfile.gettempdir())
    spawner, reaper = _helpers()
    private_dir = tempfile.mkdtemp(prefix=f"wsgicompare-{backend.id}-")  # mode 0700
    reaper.tell(f"+dir {private_dir}")
    server = Server(backend, config, port, private_dir, spawner, reaper)
    try:
        setup = Setup(config=config, private_dir=private_dir, port=port)
        launches = backend.build(setup)
        server.config_files = dict(setup.files)
        server.versions = probe_versions(backend)
        if any(WORKLOADS[w].data for w in backend.workloads) and config.app is None:
            _prepare_data(server, setup, time.monotonic() + ready_timeout_s, cancel)
        started = time.monotonic()
        for launch in launches:
            _check_cancel(backend, cancel)
            server._launch(launch)
        server._wait_ready(started + ready_timeout_s, cancel)
        server.startup_s = time.monotonic() - started
    except BaseException as exc:
        tail = server.log_tail()
        if isinstance(exc, BackendStartCancelled):
            # the user is waiting (Ctrl-C): a short grace, then SIGKILL
            server.stop(timeout_s=_CANCEL_STOP_S)
            raise BackendStartCancelled(exc.reason, tail) from None
        server.stop(timeout_s=5.0)
        if isinstance(exc, BackendStartError):
            # the last log line usually says why (a bad option, an import error): keep it in the one line
            last = next((line for line in reversed(tail.splitlines()) if line.strip()), "")
            reason = f"{exc.reason}; last log line: {last[:300]}" if last else exc.reason
            raise BackendStartError(reason, tail) from None
        if isinstance(exc, OSError):
            raise BackendStartError(f"{backend.id} could not be launched: {exc}", tail) from None
        raise
    _live_servers.add(server)
    return server


def _prepare_data(server: Server, setup: Setup, deadline: float, cancel: threading.Event | None) -> None:
    """The database and the static file, before the app server starts; with --database
    postgres, our own PostgreSQL started and seeded too (not counted in startup_s)."""
    appdata.prepare(setup.private_dir)
    if setup.config.database == "postgres":
        server._launch(postgres.build(setup))

        def gone() -> str | None:  # asked while waiting for it: a cancel ends the wait at once
            _check_cancel(server.backend, cancel)
            return server.exit_reason()

        server.versions["postgresql"] = postgres.seed(setup.private_dir, deadline, gone)


def _check_cancel(backend: Backend, cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise BackendStartCancelled(f"{backend.id}: cancelled while starting")


#: characters the private dir's path may hold: it is written unquoted into nginx, uWSGI and PHP-FPM
#: configs (a space, ";" or "}" would end or inject a directive) and the reaper's line protocol (a newline)
_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+@%,:=~-]+")


def _check_temp_dir(path: str) -> None:
    """Refuse a temp dir (from TMPDIR) whose path cannot be put into a server config safely."""
    if not _SAFE_PATH.fullmatch(path):
        raise BackendStartError(
            f"temp dir {path!r} holds characters that cannot go into a server config "
            "(spaces, quotes, ;{}#, control characters); set TMPDIR to a plain path"
        )


class Server:
    """A running backend: its processes, address, command lines, configs and logs."""

    def __init__(
        self, backend: Backend, config: ServerConfig, port: int, private_dir: str, spawner: _Spawner, reaper: _Reaper
    ) -> None:
        #: the spec it was started from
        self.backend = backend
        #: the config it was started with
        self.config = config
        #: public TCP port
        self.port = port
        #: base URL of the public port
        self.url = f"http://{_url_host(config.host)}:{port}"
        #: private dir (mode 0700) holding configs, logs, pidfiles, unix sockets; removed by stop()
        self.private_dir = private_dir
        #: one shell-quoted argv line per launched process, in start order
        self.command: list[str] = []
        #: rendered config files, name -> text
        self.config_files: dict[str, str] = {}
        #: versions of the server software, e.g. {"gunicorn": "23.0.0", "python": "3.11.7"}
        self.versions: dict[str, str] = {}
        #: seconds from the first launch to the first right answer
        self.startup_s = 0.0
        self._spawner = spawner
        self._reaper = reaper
        self._procs: list[tuple[Launch, subprocess.Popen, str]] = []  # launch, process, its log path
        self._known_procs: dict[int, psutil.Process] = {}  # pid -> the object processes() handed out
        self._stopped = False
        self._final_log_tail: str | None = None
        self._lock = threading.Lock()

    # -- start -----------------------------------------------------------------------------
    def _launch(self, launch: Launch) -> None:
        log_path = os.path.join(self.private_dir, f"{launch.name}.out.log")
        data = {appdata.DATA_ENV: self.private_dir, appdata.DATABASE_ENV: self.config.database}
        env = dict(os.environ, PYTHONUNBUFFERED="1", **data, **launch.env)
        if self.config.app is not None:
            # the user's module is found from the directory wsgicompare was started in
            env["PYTHONPATH"] = os.pathsep.join(p for p in (os.getcwd(), env.get("PYTHONPATH")) if p)
        cpus = tuple(self.config.cpus)

        def spawn() -> subprocess.Popen:
            with open(log_path, "ab") as log:
                return subprocess.Popen(
                    launch.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=self.private_dir,
                    env=env,
                    start_new_session=True,  # own process group, so the whole tree can be signalled
                    preexec_fn=functools.partial(child_setup, cpus),
                )

        self.command.append(shlex.join(launch.argv))
        proc = self._spawner.call(spawn)
        self._procs.append((launch, proc, log_path))
        self._reaper.tell(f"+pg {proc.pid}")

    def _wait_ready(self, deadline: float, cancel: threading.Event | None = None) -> None:
        workload = WORKLOADS["hello"]
        path = "/" if self.config.app is not None else workload.path
        last_seen = "no answer yet"
        while True:
            _check_cancel(self.backend, cancel)
            reason = self.exit_reason()
            if reason is not None:
                raise BackendStartError(f"{self.backend.id}: {reason} before it was ready")
            last_seen = self._probe(path, workload.check, last_seen)
            if last_seen == "ready":
                return
            if time.monotonic() >= deadline:
                raise BackendStartError(f"{self.backend.id} was not ready in time ({last_seen})")
            if cancel is not None:
                cancel.wait(_READY_POLL_S)
            else:
                time.sleep(_READY_POLL_S)

    def _probe(self, path: str, check: Callable[[bytes], bool], last_seen: str) -> str:
        import http.client  # here, not at the top: it imports ssl, which gevent launchers must not see early

        conn = http.client.HTTPConnection(_connect_host(self.config.host), self.port, timeout=_READY_REQUEST_TIMEOUT_S)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return f"last try: {type(exc).__name__}" if not isinstance(exc, ConnectionRefusedError) else last_seen
        finally:
            conn.close()
        if self.config.app is not None and response.status not in _GATEWAY_ERRORS:
            return "ready"  # a user's app may answer / as it likes, but not as a proxy whose app server is not up
        if response.status == 200 and check(body):
            return "ready"
        return f"last answer: HTTP {response.status}, {len(body)} bytes"

    # -- inspection ------------------------------------------------------------------------
    def processes(self) -> list[psutil.Process]:
        """Every live process of this server: each launched process and all its descendants.

        The same psutil.Process object is returned for the same process on every call, so
        `cpu_percent(None)` measures from one call to the next.
        """
        found: dict[int, psutil.Process] = {}
        for _, proc, _ in self._procs:
            if proc.poll() is not None:
                continue
            try:
                root = psutil.Process(proc.pid)
                for p in [root, *root.children(recursive=True)]:
                    if p.status() != psutil.STATUS_ZOMBIE:
                        known = self._known_procs.get(p.pid)
                        found[p.pid] = known if known is not None and known == p else p
            except psutil.Error:
                continue
        self._known_procs = found
        return list(found.values())

    def alive(self) -> bool:
        """Every launched process is still running."""
        return bool(self._procs) and all(proc.poll() is None for _, proc, _ in self._procs)

    def exit_reason(self) -> str | None:
        """Why the first launched process that exited did, e.g. "uwsgi exited with code 1"; None if all run."""
        for launch, proc, _ in self._procs:
            code = proc.poll()
            if code is not None:
                if code < 0:
                    return f"{launch.name} was killed by {signal.Signals(-code).name}"
                return f"{launch.name} exited with code {code}"
        return None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of this server's logs (each line prefixed with the process name)."""
        if self._final_log_tail is not None:
            return "\n".join(self._final_log_tail.splitlines()[-lines:])
        tail: deque[str] = deque(maxlen=lines)
        for launch, _, log_path in self._procs:
            for path in (log_path, *launch.extra_logs):
                try:
                    with open(path, errors="replace") as log:
                        for line in log:
                            if line.strip():
                                tail.append(f"[{launch.name}] {line.rstrip()}")
                except OSError:
                    continue
        return "\n".join(tail)

    # -- faults (the scenarios) -------------------------------------------------------------
    @property
    def app_launch(self) -> Launch:
        """The launched process that runs the app: the first that is no service such as a database
        (the back; a front such as nginx comes last)."""
        return self._app_entry()[0]

    def _app_entry(self) -> tuple[Launch, subprocess.Popen, str]:
        return next(entry for entry in self._procs if not entry[0].service)

    def workers(self) -> list[psutil.Process]:
        """The app server's live worker processes, as its spec declares them (Launch.workers), never
        by name: the launched process itself (one process), or its children (minus a router)."""
        launch, proc, _ = self._app_entry()
        if proc.poll() is not None:
            return []
        try:
            root = psutil.Process(proc.pid)
            if launch.workers == WORKERS_SELF:
                return [root]
            found = [p for p in root.children() if p.status() != psutil.STATUS_ZOMBIE]
            if launch.workers == WORKERS_BEHIND_ROUTER:  # the router holds the public port
                found = [p for p in found if self.port not in {c.laddr.port for c in p.net_connections("tcp")}]
            return found
        except psutil.Error:
            return []

    def reload(self) -> bool:
        """Send the app server its graceful-reload signal (as a deploy does); False when it has none."""
        launch, proc, _ = self._app_entry()
        if launch.reload_signal is None or proc.poll() is not None:
            return False
        _signal(proc.pid, launch.reload_signal, group=False)
        return True

    # -- stop ------------------------------------------------------------------------------
    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop with each server's own signal (front first), then SIGKILL the groups; port free after."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        deadline = time.monotonic() + timeout_s
        for launch, proc, _ in reversed(self._procs):
            if proc.poll() is None:
                _signal(proc.pid, launch.stop_signal, group=launch.signal_group)
                _wait_exit(proc, min(deadline, time.monotonic() + launch.stop_grace_s))
            _kill_group(proc)
        kill_deadline = time.monotonic() + _KILL_WAIT_S
        for _, proc, _ in self._procs:
            _wait_group_gone(proc.pid, kill_deadline)
            self._reaper.tell(f"-pg {proc.pid}")
        _wait_port_closed(self.config.host, self.port, max(deadline, kill_deadline))
        self._final_log_tail = self.log_tail(lines=200)
        shutil.rmtree(self.private_dir, ignore_errors=True)
        self._reaper.tell(f"-dir {self.private_dir}")
        _live_servers.discard(self)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<Server {self.backend.id} {self.url}>"


def _signal(pid: int, sig: int, group: bool) -> None:
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_exit(proc: subprocess.Popen, deadline: float) -> None:
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        pass


def _kill_group(proc: subprocess.Popen) -> None:
    # the group id is the leader's pid (start_new_session); members outlive a dead leader
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=_KILL_WAIT_S)
    except subprocess.TimeoutExpired:
        pass


def group_members(pgid: int) -> list[int]:
    """Pids of the live (non-zombie) processes in process group `pgid`."""
    members = []
    for p in psutil.process_iter(["status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == pgid:
                members.append(p.pid)
        except (OSError, psutil.Error):
            continue
    return members


def _wait_group_gone(pgid: int, deadline: float) -> None:
    while group_members(pgid) and time.monotonic() < deadline:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
        time.sleep(0.05)


def _wait_port_closed(host: str, port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        if not port_accepts(host, port):
            return
        time.sleep(0.05)


def port_accepts(host: str, port: int) -> bool:
    """True when a TCP connect to host:port succeeds."""
    try:
        with socket.create_connection((_connect_host(host), port), timeout=0.5):
            return True
    except OSError:
        return False


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "localhost": "127.0.0.1"}.get(host, host)


def _url_host(host: str) -> str:
    host = _connect_host(host)
    return f"[{host}]" if ":" in host else host


# -- the user's app ------------------------------------------------------------------------
_APP_CHECK_MARK = "wsgicompare-app-check: "
_APP_CHECK = (
    f"MARK = {_APP_CHECK_MARK!r}\n"
    + """
import importlib, sys
module_name, _, attr = sys.argv[1].partition(":")
try:
    module = importlib.import_module(module_name)
except BaseException as exc:
    print(MARK + f"cannot import {module_name!r}: {type(exc).__name__}: {exc}".splitlines()[0]); sys.exit(1)
if not hasattr(module, attr):
    print(MARK + f"module {module_name!r} has no attribute {attr!r}"); sys.exit(1)
if not callable(getattr(module, attr)):
    print(MARK + f"{attr!r} in {module_name!r} is not callable"); sys.exit(1)
"""
)


def check_user_app(
    target: str, *, cancel: threading.Event | None = None, cancelled: str = "cancelled while checking the app"
) -> None:
    """Raise BackendError (one line) unless `target` ("module:callable") imports and is callable.

    The module is looked for without importing it first; the import itself runs in a short-lived
    subprocess with a timeout, so an app that raises, hangs or exits at import cannot hurt us.
    Setting `cancel` kills that subprocess and raises BackendStartCancelled(`cancelled`).
    """
    module_name = target.partition(":")[0]
    top = module_name.split(".")[0]
    if PathFinder.find_spec(top, [os.getcwd(), *sys.path]) is None and top not in sys.builtin_module_names:
        raise BackendError(f"--app {target}: no module named {top!r} (looked in {os.getcwd()} and sys.path)")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (os.getcwd(), os.environ.get("PYTHONPATH")) if p))
    deadline = time.monotonic() + _APP_CHECK_TIMEOUT_S
    with subprocess.Popen(
        [sys.executable, "-c", _APP_CHECK, target],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # a slow import must not outlive a wsgicompare killed while it waits (SIGTERM
        # during planning, before any handler is installed)
        preexec_fn=set_pdeathsig,
    ) as check:
        # short waits so that a cancel (Ctrl-C while an app imports for long) is seen at once
        while True:
            try:
                stdout, stderr = check.communicate(timeout=_READY_POLL_S)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel is not None and cancel.is_set():
                check.kill()
                check.communicate()
                raise BackendStartCancelled(cancelled)
            if time.monotonic() >= deadline:
                check.kill()
                check.communicate()
                raise BackendError(f"--app {target}: importing it took more than {_APP_CHECK_TIMEOUT_S:.0f} s")
    if cancel is not None and cancel.is_set():
        # a terminal's Ctrl-C reaches the check too (same process group): it ended because of the cancel
        raise BackendStartCancelled(cancelled)
    if check.returncode != 0:
        marked = [line[len(_APP_CHECK_MARK) :] for line in stdout.splitlines() if line.startswith(_APP_CHECK_MARK)]
        errors = [line for line in stderr.splitlines() if line.strip()]
        why = marked[-1] if marked else errors[-1] if errors else f"import check exited with code {check.returncode}"
        raise BackendError(f"--app {target}: {why}")
