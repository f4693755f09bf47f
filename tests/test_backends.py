"""Real servers on loopback: every backend of the catalog starts, answers, and leaves nothing behind."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time

import psutil
import pytest
from backend_support import (
    assert_carries_a_short_load,
    assert_loopback_only_and_private,
    installed_by_setup,
    require_backend,
)
from test_catalog import SEED

from wsgicompare.backends import (
    CATALOG,
    WORKLOADS,
    Backend,
    BackendError,
    BackendStartCancelled,
    BackendStartError,
    ServerConfig,
    catalog_rows,
    check_answer,
    get_backend,
)
from wsgicompare.backends.spec import Launch

#: one CPU every server in these tests is pinned to (the last one this process may use)
SERVER_CPU = max(os.sched_getaffinity(0))
CONFIG = ServerConfig(workers=2, threads=2, cpus=(SERVER_CPU,))
#: the short load's CPUs: the others (all of them on a one-CPU machine)
LOADER_CPUS = tuple(c for c in sorted(os.sched_getaffinity(0)) if c != SERVER_CPU) or (SERVER_CPU,)


def get(url_base: str, path: str, timeout_s: float = 10.0) -> tuple[int, bytes]:
    host, port = url_base.removeprefix("http://").rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def snapshot(procs: list[psutil.Process]) -> list[tuple[int, float]]:
    return [(p.pid, p.create_time()) for p in procs]


def still_running(snap: list[tuple[int, float]]) -> list[int]:
    """Pids of the snapshot that still run (same pid and start time, not a zombie)."""
    left = []
    for pid, created in snap:
        try:
            p = psutil.Process(pid)
            if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            continue
    return left


def our_servers() -> list[psutil.Process]:
    """Descendants of this test process other than the reaper."""
    found = []
    for p in psutil.Process().children(recursive=True):
        try:
            if "wsgicompare.backends.reaper" not in " ".join(p.cmdline()) and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.NoSuchProcess:
            continue
    return found


def require_available(backend: Backend) -> None:
    """Skip an unavailable backend; in CI, fail one the set-up should have installed (seed or not)."""
    require_backend(backend)


@pytest.mark.parametrize("backend_id", list(CATALOG))
def test_backend_starts_answers_and_stops_clean(backend_id: str) -> None:
    backend = get_backend(backend_id)
    require_available(backend)
    server = backend.start(CONFIG, ready_timeout_s=30.0)
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert server.startup_s > 0
        assert server.command and all(line.strip() for line in server.command)
        assert server.versions.get("python")
        assert server.alive() and server.exit_reason() is None
        assert stat.S_IMODE(os.stat(server.private_dir).st_mode) == 0o700
        for dirpath, _, filenames in os.walk(server.private_dir):
            for name in filenames:
                mode = os.stat(os.path.join(dirpath, name)).st_mode
                if stat.S_ISSOCK(mode):
                    assert stat.S_IMODE(mode) & 0o007 == 0, f"{name} is reachable by everyone"
        for name in backend.workloads:  # each with its own request (upload: a POST) and answer check
            assert check_answer(server.url, name) is None
        assert_loopback_only_and_private(backend_id, server)
        # a short real load, keep-alive and Connection: close, on the loader CPU(s)
        first = next(iter(backend.workloads))
        assert_carries_a_short_load(server.url, WORKLOADS[first].path, LOADER_CPUS)
        procs = server.processes()
        assert procs
        assert {id(p) for p in server.processes()} & {id(p) for p in procs}  # stable objects for cpu_percent
        for p in procs:
            try:
                assert p.cpu_affinity() == [SERVER_CPU], (p.pid, p.name())
            except psutil.NoSuchProcess:
                continue  # e.g. a per-request child of flask-processes that just ended
        snap = snapshot(procs)
        port = server.port
    except BaseException:
        server.stop()
        raise
    server.stop()
    assert still_running(snap) == []
    assert not accepts(port)
    assert not os.path.exists(server.private_dir)
    assert not server.alive()
    server.stop()  # a second stop is harmless


def test_catalog_rows_list_every_backend_seed_first() -> None:
    rows = catalog_rows()
    ids = [row["id"] for row in rows]
    seed = SEED
    assert ids[: len(seed)] == seed
    for extra in ("gunicorn-gthread", "gunicorn-gevent", "waitress", "granian", "tornado-wsgi", "nginx-static"):
        assert extra in ids
    for row in rows:
        assert row["seed"] == (row["id"] in seed)
        assert {"id", "title", "family", "seed", "available", "missing", "hint", "workloads"} <= set(row)
        assert row["available"] == (row["missing"] == [])
        assert set(row["workloads"]) <= set(WORKLOADS) and "hello" in row["workloads"]
    json.dumps(rows)


def test_unknown_backend_is_a_one_line_error() -> None:
    with pytest.raises(BackendError, match=r"unknown backend 'nope' \(known: flask-dev, ") as info:
        get_backend("nope")
    assert "\n" not in str(info.value)


def test_busy_explicit_port_fails_before_launching(tmp_path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        before = {p.pid for p in our_servers()}
        with pytest.raises(BackendStartError, match=f"^port {port} is already in use$"):
            get_backend("gunicorn").start(ServerConfig(workers=1, threads=1, port=port))
        assert {p.pid for p in our_servers()} <= before


def test_explicit_free_port_is_used() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with get_backend("waitress").start(ServerConfig(workers=1, threads=2, port=port)) as server:
        assert server.port == port
        assert get(server.url, "/hello") == (200, b"Hello World!")
    assert not accepts(port)


def test_missing_executable_makes_a_backend_unavailable_with_hint(tmp_path, monkeypatch) -> None:
    tool = "wsgicompare-test-server"
    spec = Backend(
        "test-exe",
        "test",
        "test",
        False,
        lambda setup: [],
        "1 process",
        "apt-get install wsgicompare-test-server",
        executables=(tool,),
    )
    monkeypatch.setenv("PATH", "/nonexistent")
    available, missing = spec.availability()
    assert not available and missing == [f"executable {tool}"]
    with pytest.raises(BackendStartError, match="not available: missing executable wsgicompare-test-server") as info:
        spec.start(ServerConfig(workers=1, threads=1))
    assert "apt-get install" in str(info.value) and "\n" not in str(info.value)
    exe = tmp_path / tool
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert spec.availability() == (True, [])


def test_in_ci_a_backend_the_setup_installs_fails_instead_of_skipping(monkeypatch) -> None:
    """The rule every backend test above goes through (tests/backend_support.py)."""
    spec = Backend(
        "test-pip", "t", "t", False, lambda setup: [], "-", "pip install nope", modules=("wsgicompare_no_such_mod",)
    )

    def outcome() -> str:
        # caught here: a skip escaping a pytest.raises(fail) would turn this test into a skip
        try:
            require_backend(spec)
        except pytest.skip.Exception as skipped:
            return f"skip: {skipped}"
        except pytest.fail.Exception as failed:
            return f"fail: {failed}"
        return "run"

    monkeypatch.delenv("CI", raising=False)
    assert outcome().startswith("skip: test-pip unavailable: missing python module wsgicompare_no_such_mod")
    monkeypatch.setenv("CI", "true")
    assert outcome().startswith("fail: test-pip unavailable: missing python module wsgicompare_no_such_mod")
    # pip brings every Python backend (uwsgi and twistd included); nginx and php-fpm come
    # from apt-get, which ./bootstrap.sh runs only as root
    for missing in ("python module granian", "executable uwsgi", "executable twistd"):
        assert installed_by_setup(missing, as_root=False) and installed_by_setup(missing, as_root=True)
    for missing in ("executable nginx", "executable php-fpm"):
        assert installed_by_setup(missing, as_root=True) and not installed_by_setup(missing, as_root=False)


def test_missing_python_module_is_reported() -> None:
    spec = Backend("test-mod", "t", "t", False, lambda setup: [], "-", "pip install nope", modules=("no_such_mod_xyz",))
    assert spec.availability() == (False, ["python module no_such_mod_xyz"])


def _python_spec(code: str) -> Backend:
    """A backend whose one process is `python -c code` (to test the lifecycle's failure paths)."""
    return Backend(
        "test-python", "t", "t", False, lambda setup: [Launch("testproc", [sys.executable, "-c", code])], "-", "-"
    )


def test_process_that_exits_gives_reason_and_log_tail_and_cleans_up() -> None:
    spec = _python_spec("import sys; print('boom: cannot serve'); sys.exit(3)")
    before = set(os.listdir(tempfile.gettempdir()))
    with pytest.raises(BackendStartError) as info:
        spec.start(ServerConfig(workers=1, threads=1), ready_timeout_s=10)
    assert str(info.value) == (
        "test-python: testproc exited with code 3 before it was ready; last log line: [testproc] boom: cannot serve"
    )
    assert "boom: cannot serve" in info.value.log_tail
    assert not [d for d in set(os.listdir(tempfile.gettempdir())) - before if d.startswith("wsgicompare-test-python-")]


def test_server_that_never_answers_times_out_and_is_killed() -> None:
    spec = _python_spec("import time; print('sleeping', flush=True); time.sleep(120)")
    started = time.monotonic()
    with pytest.raises(BackendStartError, match="was not ready in time") as info:
        spec.start(ServerConfig(workers=1, threads=1), ready_timeout_s=1.0)
    assert time.monotonic() - started < 10
    assert "sleeping" in info.value.log_tail
    assert not [p for p in our_servers() if "time.sleep(120)" in " ".join(p.cmdline())]


@pytest.mark.parametrize(
    "config, message",
    [
        (ServerConfig(workers=0, threads=1), "--workers must be between"),
        (ServerConfig(workers=1, threads=0), "--threads must be between"),
        (ServerConfig(workers=1, threads=1, host="0.0.0.0"), "not a loopback address"),
        (ServerConfig(workers=1, threads=1, cpus=(4096,)), "server CPU 4096 is not available"),
        (ServerConfig(workers=1, threads=1, app="no-colon"), "--app must look like 'module:callable'"),
        (ServerConfig(workers=1, threads=1, worker_class="eventlet"), "worker class must be sync, gthread, gevent"),
    ],
)
def test_bad_config_is_a_one_line_error(config: ServerConfig, message: str) -> None:
    with pytest.raises(BackendError, match=message) as info:
        get_backend("flask-dev").start(config)
    assert "\n" not in str(info.value)


USER_APP = """\
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"user app at " + environ["PATH_INFO"].encode()]
"""


@pytest.mark.parametrize(
    "source, target, message",
    [
        (None, "wsgicompare_no_such_app:app", "no module named 'wsgicompare_no_such_app'"),
        ("raise RuntimeError('database is down')", "badapp:app", "RuntimeError: database is down"),
        ("app = 42", "badapp:app", "'app' in 'badapp' is not callable"),
        ("other = 1", "badapp:app", "module 'badapp' has no attribute 'app'"),
        ("import sys; sys.exit(4)", "badapp:app", "cannot import 'badapp': SystemExit: 4"),
    ],
)
def test_bad_user_app_is_a_one_line_error(tmp_path, monkeypatch, source, target, message) -> None:
    if source is not None:
        (tmp_path / "badapp.py").write_text(source + "\n")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BackendError, match=message) as info:
        get_backend("gunicorn").start(ServerConfig(workers=1, threads=1, app=target))
    assert "\n" not in str(info.value)
    assert not isinstance(info.value, BackendStartError) or not info.value.log_tail


# gunicorn-nginx: nginx answers 502 while gunicorn still imports the app; that is not "ready"
@pytest.mark.parametrize("backend_id", ["uwsgi", "twisted", "gunicorn-nginx"])
def test_user_app_is_served_from_the_working_directory(tmp_path, monkeypatch, backend_id) -> None:
    require_available(get_backend(backend_id))
    (tmp_path / "userapp_wsgicompare.py").write_text(USER_APP)
    monkeypatch.chdir(tmp_path)
    config = ServerConfig(workers=1, threads=1, app="userapp_wsgicompare:app")
    with get_backend(backend_id).start(config) as server:
        assert get(server.url, "/anything") == (200, b"user app at /anything")


@pytest.mark.parametrize("backend_id", ["tornado", "php-fpm-nginx", "nginx-static"])
def test_backends_without_wsgi_refuse_a_user_app(tmp_path, monkeypatch, backend_id) -> None:
    require_available(get_backend(backend_id))  # a missing nginx is refused first, with another message
    (tmp_path / "userapp_wsgicompare.py").write_text(USER_APP)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BackendStartError, match="serves only its own built-in app"):
        get_backend(backend_id).start(ServerConfig(workers=1, threads=1, app="userapp_wsgicompare:app"))


PARENT = """\
import json, sys
from wsgicompare.backends import ServerConfig, get_backend
server = get_backend(sys.argv[1]).start(ServerConfig(workers=2, threads=1))
pids = [p.pid for p in server.processes()]
print(json.dumps({"port": server.port, "pids": pids, "dir": server.private_dir}), flush=True)
sys.stdin.read()  # until the test kills us
"""


@pytest.mark.parametrize("backend_id", ["gunicorn-nginx", "uwsgi"])
def test_sigkill_of_wsgicompare_leaves_no_server_behind(backend_id: str) -> None:
    require_available(get_backend(backend_id))
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, backend_id], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        line = parent.stdout.readline()
        assert line, "the parent process did not start the backend"
        info = json.loads(line)
        snap = snapshot([psutil.Process(pid) for pid in info["pids"]])
        assert len(snap) >= 3  # a master and its workers: grandchildren of the killed process
        assert accepts(info["port"])
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=5)
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and (still_running(snap) or accepts(info["port"])):
            time.sleep(0.1)
        assert still_running(snap) == []
        assert not accepts(info["port"])
        while time.monotonic() < deadline and os.path.exists(info["dir"]):
            time.sleep(0.1)
        assert not os.path.exists(info["dir"])
    finally:
        parent.kill()
        parent.wait()


PRINT_PDEATHSIG = """\
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
sig = ctypes.c_int(0)
libc.prctl(2, ctypes.byref(sig), 0, 0, 0)  # PR_GET_PDEATHSIG
print(sig.value)
"""


def test_child_setup_sets_pdeathsig_without_loading_libraries_after_fork(monkeypatch) -> None:
    import ctypes

    from wsgicompare.backends.procutil import child_setup

    def no_dlopen(*args, **kwargs):
        raise AssertionError("dlopen between fork and exec")

    # the forked child inherits this tripwire: any library load in preexec_fn fails the Popen
    monkeypatch.setattr(ctypes, "CDLL", no_dlopen)
    out = subprocess.run(
        [sys.executable, "-c", PRINT_PDEATHSIG],
        capture_output=True,
        text=True,
        timeout=20,
        preexec_fn=lambda: child_setup((SERVER_CPU,)),
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) == signal.SIGKILL


def test_flask_processes_serves_requests_in_parallel_processes(tmp_path, monkeypatch) -> None:
    import concurrent.futures

    from backend_support import HeldRequests

    held = HeldRequests(tmp_path, "heldpid_wsgicompare")
    monkeypatch.chdir(tmp_path)
    # workers=1 (a 2-core box's budget) must still fork: up to workers × threads children
    config = ServerConfig(workers=1, threads=4, cpus=(SERVER_CPU,), app=held.target)
    with get_backend("flask-processes").start(config) as server:
        assert "--processes 4" in server.command[0]
        # 4 requests at once, each held inside the app until all 4 are: served in parallel
        # processes, they are all in at once (served one at a time, only the first would be)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            answers = [pool.submit(get, server.url, f"/hold/{i}", 60.0) for i in range(4)]
            try:
                inside = held.wait_for_arrivals(4)
                during = len(server.processes())
            finally:
                held.release()
            results = [a.result() for a in answers]
    assert len(inside) == 4, f"only {len(inside)} of 4 requests ran at once: {inside}"
    assert len({pid for pid, _ in inside}) == 4  # each request in its own forked process
    assert during >= 1 + 4  # the listening process and the 4 children serving
    assert all(status == 200 for status, _ in results)
    assert len({body for _, body in results}) == 4


SLOW_IMPORT_APP = """\
import pathlib, sys, time
if {where!r} == "import check" or sys.argv[0] != "-c":  # the import check runs as python -c
    pathlib.Path({began!r}).touch()  # the test cancels from here on
    time.sleep(20)
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"too late"]
"""


@pytest.mark.parametrize("where", ["import check", "server import"])
def test_cancel_while_starting_stops_at_once_and_leaves_nothing(tmp_path, monkeypatch, where) -> None:
    from reliability_support import wait_for

    backend = get_backend("waitress")
    require_available(backend)
    began = tmp_path / "import-began"
    (tmp_path / "slowimport_wsgicompare.py").write_text(SLOW_IMPORT_APP.format(where=where, began=str(began)))
    monkeypatch.chdir(tmp_path)
    # a temp dir of this test's own: another xdist worker may start waitress meanwhile,
    # and its private dir in the shared one is not this start's leftover
    own_tmp = tmp_path / "tmp"
    own_tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own_tmp))
    before_pids = {p.pid for p in our_servers()}
    before_dirs = set(os.listdir(tempfile.gettempdir()))
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def cancel_once_importing() -> None:  # as the CLI's SIGINT handler would, while the app imports
        if wait_for(lambda: began.exists() or cancel.is_set(), 60) and not cancel.is_set():
            cancelled_at.append(time.monotonic())
            cancel.set()

    watcher = threading.Thread(target=cancel_once_importing, daemon=True)
    watcher.start()
    try:
        with pytest.raises(BackendStartCancelled, match="^waitress: cancelled while starting$"):
            backend.start(ServerConfig(workers=1, threads=1, app="slowimport_wsgicompare:app"), cancel=cancel)
    finally:
        ended = time.monotonic()
        cancel.set()
        watcher.join(5)
    assert cancelled_at, f"the {where} never began"
    # stopped at the cancel ("within about a second", its kill fallback included: a few), not
    # when the 20 s import would have ended: the bound only tells the two apart
    assert ended - cancelled_at[0] < 10, f"the start ended {ended - cancelled_at[0]:.1f} s after the cancel"
    assert [p.pid for p in our_servers() if p.pid not in before_pids] == []
    new_dirs = set(os.listdir(tempfile.gettempdir())) - before_dirs
    assert not [d for d in new_dirs if d.startswith("wsgicompare-waitress-")]


def test_a_cancel_set_before_start_launches_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    before_pids = {p.pid for p in our_servers()}
    with pytest.raises(BackendStartCancelled):
        get_backend("waitress").start(ServerConfig(workers=1, threads=1), cancel=cancel)
    assert [p.pid for p in our_servers() if p.pid not in before_pids] == []


@pytest.mark.parametrize(
    ("backend_id", "worker_class", "option"),
    [("gunicorn", "gthread", "--threads 3"), ("gunicorn-nginx", "gevent", "--worker-connections 1000")],
)
def test_gunicorns_worker_class_is_a_knob_of_the_same_backend(
    tmp_path, monkeypatch, backend_id: str, worker_class: str, option: str
) -> None:
    """--recommend's sweep starts gunicorn (bare or behind nginx) with another worker class:
    one worker of that class runs 3 held requests at once, where one sync worker runs one."""
    from backend_support import HeldRequests

    require_available(get_backend(backend_id))
    require_available(get_backend(f"gunicorn-{worker_class}"))  # the class's own modules
    held = HeldRequests(tmp_path, f"held{worker_class}_wsgicompare")
    monkeypatch.chdir(tmp_path)
    config = ServerConfig(workers=1, threads=3, cpus=(SERVER_CPU,), app=held.target, worker_class=worker_class)
    with get_backend(backend_id).start(config) as server:
        assert f"--worker-class {worker_class} {option}" in " ".join(server.command)
        inside, results = held.send_at_once(3, lambda path: get(server.url, path, 60.0))
    assert len(inside) == 3, f"only {len(inside)} of 3 requests ran at once in one {worker_class} worker: {inside}"
    assert len({pid for pid, _ in inside}) == 1  # in the one worker process
    assert all(status == 200 for status, _ in results)


def test_gunicorns_sync_class_never_gets_threads() -> None:
    """gunicorn turns sync workers with --threads > 1 into gthread ones: the sync class
    (the default, and asked for) is started without --threads, whatever the budget's threads."""
    backend = get_backend("gunicorn")
    require_available(backend)
    config = ServerConfig(workers=1, threads=3, cpus=(SERVER_CPU,), worker_class="sync")
    with backend.start(config) as server:
        command = " ".join(server.command)
        assert "--worker-class sync" in command and "--threads" not in command
        assert check_answer(server.url, "hello") is None
