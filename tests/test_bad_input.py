"""Bad and hostile input: exactly one line on stderr, exit 2, no traceback, and nothing
started. Most cases call main(argv) in-process behind the tripwire of tests/cli_support.py
(any process, server, loader or pinning refused and the test failed; the tripwire's own
tests are here too); a few run the real entry point (python -m wsgicompare) with its
process tree watched while it runs: one of each kind end to end, and the open-file limit
checks, which need a lower limit in the child. tests/test_cli.py covers the messages of
the common mistakes; this file adds hostile config files (devices, FIFOs, shell and nginx
metacharacters, huge numbers), unwritable outputs that fool os.access, and property
tests of the whole planning step (options → specs)."""

from __future__ import annotations

import json
import os
import resource
import stat
import subprocess
import sys
import time

import psutil
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loader_servers import closed_port, serve
from process_support import stray_descendants
from reliability_support import ROOT, cli_env, cmdline, one_error_line

from wsgicompare.engine.runspec import available_cpus, pin_to_loader_cpus, unpin

#: the ``cli`` fixture: main(argv) in-process behind the tripwire
pytest_plugins = ["cli_support"]

#: the one subprocess planning may start: the --app import check (python -c with its marker)
_APP_CHECK_MARK = "wsgicompare-app-check"


def run_watched(
    args: list[str], cwd: str | None = None, timeout_s: float = 40.0, preexec_fn=None
) -> tuple[int, str, list[str]]:
    """Run the CLI and watch its process tree until it exits: (exit code, stderr, every
    child command line seen that is not the --app import check)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "wsgicompare", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=cwd or ROOT,
        env=cli_env(),
        text=True,
        preexec_fn=preexec_fn,
    )
    seen: dict[int, str] = {}
    deadline = time.monotonic() + timeout_s
    try:
        parent = psutil.Process(proc.pid)
        own = cmdline(parent)
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                for child in parent.children(recursive=True):
                    line = cmdline(child)
                    # between fork and exec a child still shows its parent's command line
                    if line and line != own:
                        seen[child.pid] = line
            except psutil.Error:
                pass
            time.sleep(0.005)
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    started = [line for line in seen.values() if _APP_CHECK_MARK not in line and line]
    return proc.returncode, err, started


def assert_refused(args: list[str], needle: str, cwd: str | None = None, preexec_fn=None) -> str:
    code, err, started = run_watched(args, cwd=cwd, preexec_fn=preexec_fn)
    assert code == 2, err
    line = one_error_line(err)
    assert needle in line, line
    assert started == [], f"bad input started processes: {started}"
    return line


@pytest.fixture(scope="module")
def apps(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("bad_apps")
    (d / "raises_app.py").write_text("raise ImportError('no database driver')\n")
    (d / "exits_app.py").write_text("import os\nos._exit(7)\n")
    (d / "notcallable_app.py").write_text("app = 'a string'\n")
    (d / "noattr_app.py").write_text("other = 1\n")
    (d / "syntax_app.py").write_text("def app(:\n")
    return str(d)


# -- a few through the real entry point: exit code and the one line end to end ---------------


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--backend", "warp-drive"], "unknown backend 'warp-drive'"),
        (["--run-all", "-d", "1 fortnight"], "--duration must be a duration"),
        (["--backend", "gunicorn", "--app", "raises_app:app", "-d", "1"], "ImportError: no database driver"),
        (["--config", "{apps}/broken.toml"], "not valid TOML"),
    ],
    ids=["unknown-backend", "bad-duration", "bad-app", "config-file"],
)
def test_bad_input_end_to_end(apps, args, needle) -> None:
    with open(os.path.join(apps, "broken.toml"), "w") as f:
        f.write("run-all = true\nconcurrency = [1,\n")
    assert_refused([a.replace("{apps}", apps) for a in args], needle, cwd=apps)


# -- the rest in-process, behind the tripwire ---------------------------------------------------


@pytest.mark.parametrize(
    "target, needle, checked",
    [
        ("missing_mod_xyz:app", "no module named 'missing_mod_xyz'", False),  # found missing without a child
        ("raises_app:app", "ImportError: no database driver", True),
        ("exits_app:app", "--app exits_app:app", True),
        ("notcallable_app:app", "is not callable", True),
        ("noattr_app:app", "has no attribute 'app'", True),
        ("syntax_app:app", "SyntaxError", True),
        ("x:app; rm -rf /", "--app must look like 'module:callable'", False),
        ("../etc/passwd:x", "--app must look like 'module:callable'", False),
    ],
)
def test_bad_app_starts_nothing(apps, cli, target, needle, checked) -> None:
    cli.refused(["--backend", "gunicorn", "--app", target, "-d", "1"], needle, cwd=apps)
    assert cli.last.app_checks == ([target] if checked else [])


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--backend", "warp-drive"], "unknown backend 'warp-drive'"),
        (["--run-all", "--workload", "fib"], "unknown workload 'fib'"),
        (["--run-all", "-c", "-1"], "--concurrency must be a whole number"),
        (["--run-all", "-c", "1e6"], "--concurrency must be a whole number"),
        (["--run-all", "-c", "100001"], "--concurrency must be a whole number from 1 to 100000"),
        (["--run-all", "-c", "99999999999999999999999"], "--concurrency must be a whole number"),
        (["--run-all", "-d", "1 fortnight"], "--duration must be a duration"),
        (["--run-all", "-d", "10 s s"], "--duration must be a duration"),
        (["--run-all", "-d", "inf"], "--duration must be a duration"),
        (["--run-all", "--timeout", "0"], "--timeout must be above 0 s"),
        (["--run-all", "--requests", "-10"], "--requests must be a whole number"),
        (["--run-all", "-r", "0"], "--reps must be a whole number"),
        (["--run-all", "--rate", "1e400"], "--rate must be a number above 0"),
        (["--run-all", "--delay=-1ms"], "--delay must be a duration"),
        (["--run-all", "--loader-procs", "65"], "--loader-procs must be a whole number from 1 to 64"),
        (["--backend", "gunicorn", "--port", "65536"], "--port must be a whole number from 1 to 65535"),
        (["--backend", "gunicorn", "--workers", "257"], "--workers must be a whole number from 1 to 256"),
        (["--run-all", "--path", "/a b"], "--path must start with / and hold no spaces"),
        (["--url", "http://127.0.0.1:1/a b"], "--url must be printable ASCII without spaces"),
        (["--url", "http://127.0.0.1:1/\u00e9"], "--url must be printable ASCII without spaces"),
        # scenarios (wsgicompare/engine/scenarios.py)
        (
            ["--backend", "gunicorn", "--scenario", "meteor"],
            "--scenario must be one of slow-clients, slow-readers, slow-uploads, worker-kill, reload, overload or all",
        ),
        (["--backend", "gunicorn", "--slow-clients", "4"], "--slow-clients goes with --scenario slow-clients"),
        (["--backend", "gunicorn", "--scenario", "slow-clients", "--slow-clients", "0"], "--slow-clients"),
        (["--backend", "gunicorn", "--scenario", "reload", "-d", "3", "--event-at", "3"], "outside the run"),
        (["--backend", "gunicorn", "--scenario", "reload", "--event-at", "0"], "--event-at must be above 0 s"),
        (["--backend", "gunicorn", "--event-at", "1"], "--event-at goes with --scenario"),
        (["--url", "http://127.0.0.1:1/", "--scenario", "worker-kill"], "--scenario needs a server wsgicompare starts"),
        (["--backend", "gunicorn", "--scenario", "all", "--find-capacity"], "cannot be combined with --find-capacity"),
        (["--backend", "gunicorn", "--scenario", "all", "--requests", "100"], "--requests and --reps do not apply"),
        # the workloads' own options (wsgicompare/settings/workload_options.py)
        (["--backend", "gunicorn", "--workload", "stream", "--stream-size", "lots"], "--stream-size must be a size"),
        (["--backend", "gunicorn", "--workload", "stream", "--stream-size", "16 MiBs"], "--stream-size must be a size"),
        (["--backend", "gunicorn", "--workload", "stream", "--stream-size", "0"], "from 1 byte to 256 MiB"),
        (["--backend", "gunicorn", "--workload", "stream", "--stream-size", "2GiB"], "from 1 byte to 256 MiB"),
        (["--backend", "gunicorn", "--stream-size", "1MiB"], "--stream-size goes with --workload stream"),
        (
            ["--backend", "gunicorn", "--scenario", "slow-uploads", "--stream-size", "1MiB"],
            "or --scenario slow-readers",
        ),
        (["--backend", "gunicorn", "--workload", "db", "--database", "mysql"], "--database must be sqlite or postgres"),
        (["--backend", "gunicorn", "--database", "postgres"], "--database goes with a workload that reads it"),
        (["--backend", "php-fpm-nginx", "--workload", "db"], "the PHP reference has no database workloads"),
    ],
)
def test_bad_values_start_nothing(cli, args, needle) -> None:
    cli.refused(args, needle)


# -- limits known before anything starts: open files, open-loop rate -----------------------


def _hard_nofile_1024() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))


def test_more_connections_than_the_open_file_limit_is_refused_before_anything_starts() -> None:
    """-c above the hard RLIMIT_NOFILE: every connect past it failed with EMFILE, then
    "failed: no request was answered"."""
    line = assert_refused(
        ["--backend", "gunicorn", "-c", "5000", "-d", "1"], "open-file limit is 1024", preexec_fn=_hard_nofile_1024
    )
    assert "-c 5000" in line and "lower -c to 960" in line and "--loader-procs 6" in line and "ulimit" in line
    # per loader process: 5000 over 2 processes is still 2500 each
    line = assert_refused(
        ["--backend", "gunicorn", "-c", "5000", "--loader-procs", "2", "-d", "1"],
        "2500 connections in one loader process",
        preexec_fn=_hard_nofile_1024,
    )
    assert "lower -c to 1920" in line


def _hard_nofile_256() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


def test_a_concurrency_that_fits_the_open_file_limit_still_runs(tmp_path) -> None:
    # a limit of 256 keeps the connections few enough for the test server to answer at once
    line = assert_refused(["--run-all", "-c", "400"], "limit is 256", preexec_fn=_hard_nofile_256)
    assert "lower -c to 192, spread it with --loader-procs 3" in line
    out = tmp_path / "r.json"
    with serve("ok") as server:
        # 192 connections and 64 files of its own fit; so does the fix the refusal names
        for args in (["-c", "192"], ["-c", "400", "--loader-procs", "3"]):
            code, err, _ = run_watched(
                ["--url", server.url, *args, "-d", "1", "--warmup", "0", "-o", str(out)], preexec_fn=_hard_nofile_256
            )
            assert code == 0, err
            (run,) = json.loads(out.read_text())["runs"]
            assert run["status"] == "ok" and run["responses"]["2xx"] > 0 and not run["errors"], run["errors"]


def test_an_open_loop_rate_no_loader_can_send_is_refused_and_a_reachable_one_runs(tmp_path, cli) -> None:
    """--rate 10000000 sent 0 requests and reported nonsense accounting."""
    out = tmp_path / "r.json"
    with serve("ok") as server:
        base = ["--url", server.url, "-c", "8", "-d", "1", "--warmup", "0", "-o", str(out)]
        line = cli.refused([*base, "--rate", "10000000"], "--rate 10,000,000 req/s is beyond what 1 loader process")
        assert "--loader-procs" in line and not out.exists()
        cli.refused([*base, "--loader-procs", "2", "--rate", "400001"], "beyond what 2 loader processes")
        code, err, _ = run_watched([*base, "--rate", "1000"])
    assert code == 0, err
    (run,) = json.loads(out.read_text())["runs"]
    assert run["status"] == "ok" and 0 < run["responses"]["2xx"] <= 1100, run["requests"]  # about 1,000 in 1 s


# -- hostile config files ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, needle",
    [
        ('path = "/x;\\n}\\nserver { listen 0.0.0.0:80; }"', "--path"),
        ('app = "app:app;include /etc/passwd"', "--app must look like 'module:callable'"),
        ('backends = ["gunicorn$(touch /tmp/wsgicompare-pwned)"]', "is not a valid name"),
        ('backends = ["gunicorn`id`"]', "is not a valid name"),
        ('workloads = ["hello\\n}"]', "is not a valid name"),
        ('server-cpus = "0;1"', "--server-cpus must be CPU numbers"),
        ('workers = "2; reboot"', "--workers must be a whole number"),
        ("concurrency = 9223372036854775807", "--concurrency must be a whole number"),
        ("duration = 1e308", "--duration must be above 0 s and at most 86400 s"),
        ("rate = inf", "--rate must be a number above 0"),
        ("timeout = nan", "--timeout must be"),
        ("port = 70000", "--port must be a whole number from 1 to 65535"),
        ("repeat = 1.5", "--repeat must be a whole number"),
        ('export = "md;sh"', "--export must be one of"),
        ("run_all = 1", "run-all must be true or false"),
        ("[[backends]]\nid = 'gunicorn'", "must be"),
        ('config = "/etc/passwd"', "unknown option 'config'"),
        ('save-config = "/tmp/x.toml"', "unknown option 'save-config'"),
        ("a = 1\na = 2", "not valid TOML"),
        ("\x00\x01\x02", "not valid TOML"),
    ],
)
def test_hostile_config_is_refused_and_runs_nothing(tmp_path, cli, text, needle) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text("run-all = true\n" + text + "\n")
    cli.refused(["--config", str(path)], needle)
    assert not os.path.exists("/tmp/wsgicompare-pwned")


def test_config_that_is_a_device_or_fifo_is_refused_without_blocking(tmp_path, cli) -> None:
    fifo = tmp_path / "scenario.fifo"
    os.mkfifo(fifo)
    for path in ("/dev/zero", str(fifo)):  # a read of either would never end (the suite's timeout fails it)
        cli.refused(["--config", path], "not a regular file")


def test_config_that_is_a_directory_or_missing_is_refused(tmp_path, cli) -> None:
    cli.refused(["--config", str(tmp_path)], "not a regular file")
    cli.refused(["--config", str(tmp_path / "nope.toml")], "cannot read it")


@pytest.mark.parametrize(
    "output, needle",
    [
        # os.access() says yes to root in both: only a real write finds out
        ("/proc/wsgicompare-report.md", "-o/--output: cannot write in /proc"),
        ("/sys/wsgicompare-report.md", "-o/--output: cannot write in /sys"),
        ("/nonexistent-dir/r.md", "directory /nonexistent-dir does not exist"),
    ],
)
def test_unwritable_output_is_refused_before_any_run(cli, output, needle) -> None:
    cli.refused(["--backend", "gunicorn", "-d", "1", "-o", output], needle)


# -- property tests: planning (options → run specs) never fails any other way -----------------

_flags = [
    "-c",
    "-d",
    "-r",
    "--requests",
    "--rate",
    "--warmup",
    "--timeout",
    "--delay",
    "--workload",
    "--backends",
    "--repeat",
    "--workers",
    "--threads",
    "--loader-procs",
    "--export",
    "--settle-max",
]
_values = st.one_of(
    st.sampled_from(
        [
            "1",
            "2",
            "0",
            "-1",
            "64",
            "1s",
            "250ms",
            "1m",
            "3600",
            "1e3",
            "hello",
            "json",
            "cpu",
            "gunicorn",
            "gunicorn,uwsgi",
            "nope",
            "md",
            "json",
            "csv",
            "html",
            "pdf",
            "8",
            "256",
            "257",
        ]
    ),
    st.integers(-10, 10**6).map(str),
)
_argv = st.lists(st.tuples(st.sampled_from(_flags), _values), max_size=6).map(
    lambda pairs: ["--run-all", *[x for pair in pairs for x in pair]]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_argv)
def test_planning_any_run_all_command_line_gives_specs_or_one_bad_input_line(argv) -> None:
    """parse_options + make_plan (what the CLI does before starting anything): either a
    plan whose every spec is valid, or one of the bad-input errors with one line."""
    from wsgicompare.cli import _bad_input_errors, make_plan
    from wsgicompare.settings.options import parse_options

    try:
        plan = make_plan(parse_options(argv))
    except _bad_input_errors() as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert plan.specs
    for spec in plan.specs:
        spec.load.validate()
        spec.server.validate()
        assert spec.load.concurrency >= spec.load.procs
        assert spec.server.host == "127.0.0.1"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_any_bytes_as_a_config_file_give_options_or_one_line(tmp_path, raw) -> None:
    from wsgicompare.settings.options import OptionError, parse_options

    path = tmp_path / "any.toml"
    path.write_bytes(raw)
    try:
        parse_options(["--config", str(path)])
    except OptionError as exc:
        assert str(exc) and "\n" not in str(exc)


@pytest.mark.parametrize("kind", ["fifo", "symlink"])
@pytest.mark.parametrize("flag", ["-o", "--save-config"])
def test_an_output_that_is_not_a_regular_file_is_refused_and_left_alone(tmp_path, cli, kind, flag) -> None:
    """An export's atomic rename would replace it (as root even /dev/null): refuse instead."""
    target = tmp_path / "target"
    if kind == "fifo":
        os.mkfifo(target)
    else:
        (tmp_path / "real.md").write_text("keep me")
        target.symlink_to(tmp_path / "real.md")
    cli.refused(["--backend", "flask-dev", "-d", "1", flag, str(target)], "not a regular file")
    if kind == "fifo":
        assert stat.S_ISFIFO(os.lstat(target).st_mode)
    else:
        assert target.is_symlink() and (tmp_path / "real.md").read_text() == "keep me"


# -- the tripwire itself (tests/cli_support.py): it catches what it is there to catch ------------


def _sleeper() -> None:  # pragma: no cover - never started: the tripwire refuses it
    time.sleep(60)


def _start_each_way() -> dict[str, object]:
    """Every way the tripwire watches, each a callable that would start something."""
    import asyncio
    import multiprocessing
    import socket

    def listen() -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            sock.listen()

    def connect() -> None:
        with socket.socket() as sock:
            sock.connect(("127.0.0.1", closed_port()))

    async def exec_async() -> None:
        await asyncio.create_subprocess_exec("sleep", "60")

    return {
        "subprocess": lambda: subprocess.Popen(["sleep", "60"]),
        "subprocess.run": lambda: subprocess.run(["sleep", "60"]),
        "asyncio subprocess": lambda: asyncio.run(exec_async()),
        "os.fork": lambda: os.fork() or os._exit(0),  # a child, were it forked, would end at once
        "os.posix_spawn": lambda: os.posix_spawn("/bin/sleep", ["sleep", "60"], os.environ),
        "os.system": lambda: os.system("sleep 60"),
        "multiprocessing spawn": lambda: multiprocessing.get_context("spawn").Process(target=_sleeper).start(),
        "multiprocessing fork": lambda: multiprocessing.get_context("fork").Process(target=_sleeper).start(),
        "a listening socket": listen,
        "a connect": connect,
        "a server of the standard library": lambda: __import__("socketserver").TCPServer(("127.0.0.1", 0), None),
        "pinning": lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)),
    }


@pytest.mark.parametrize("way", list(_start_each_way()))
def test_the_tripwire_refuses_and_records_every_way_to_start_something(way) -> None:
    from cli_support import Tripped, Tripwire  # imported once pytest_plugins has it (assertions rewritten)

    start = _start_each_way()[way]
    tripwire = Tripwire()
    before = {p.pid for p in stray_descendants()}
    try:
        with tripwire.armed(), pytest.raises(Tripped):
            start()
    finally:
        started = [p for p in stray_descendants() if p.pid not in before]
        for proc in started:  # had one got through, it must not outlive this test
            proc.kill()
    assert len(tripwire.attempts) == 1, tripwire.attempts
    assert started == []  # refused, not started and then noticed
    # disarmed, the same calls work again: nothing is left patched
    assert subprocess.run(["true"]).returncode == 0


def test_only_wsgicompares_own_app_check_gets_through() -> None:
    from cli_support import Tripped, Tripwire

    tripwire = Tripwire()
    with tripwire.armed(), pytest.raises(Tripped):
        # the marker alone is not the check
        subprocess.run([sys.executable, "-c", f"print({_APP_CHECK_MARK!r})", "x:app"])
    assert tripwire.attempts and tripwire.app_checks == []


def test_a_run_that_would_start_a_server_fails_the_in_process_check(tmp_path, cli) -> None:
    out = tmp_path / "r.json"
    argv = ["--backend", "flask-dev", "-d", "0.5", "--warmup", "0", "-o", str(out)]
    with pytest.raises(AssertionError, match="tried to start"):
        cli.run(argv)
    done = cli.attempt(argv)
    assert done.code is None and done.attempts  # stopped at the first thing it would start
    assert not out.exists() and stray_descendants() == []


def test_a_url_that_is_there_would_be_connected_to_and_is_refused(cli) -> None:
    port = closed_port()
    done = cli.attempt(["--url", f"http://127.0.0.1:{port}/", "-d", "0.5"])
    assert done.code is None and done.attempts == [f"connect to ('127.0.0.1', {port})"]


@pytest.mark.skipif(len(available_cpus()) < 2, reason="pinning to fewer CPUs needs two of them")
def test_pinning_is_refused_and_an_affinity_left_changed_fails_the_in_process_check(cli, monkeypatch) -> None:
    import cli_support
    from cli_support import Tripped, Tripwire

    first = available_cpus()[0]
    with Tripwire().armed() as tripwire, pytest.raises(Tripped):
        pin_to_loader_cpus((first,))  # how a real run starts: it pins this process to the loader CPUs
    assert len(tripwire.attempts) == 1 and tripwire.attempts[0].startswith("pinning"), tripwire.attempts

    setaffinity = os.sched_setaffinity  # taken before the tripwire is armed: the check after the call must see it

    def pins_behind_the_tripwires_back(argv: list[str]) -> int:
        setaffinity(0, {first})
        return 2

    monkeypatch.setattr(cli_support, "main", pins_behind_the_tripwires_back)
    try:
        with pytest.raises(AssertionError, match="changed the CPU affinity"):
            cli.run(["--backend", "gunicorn"])
    finally:
        unpin()
