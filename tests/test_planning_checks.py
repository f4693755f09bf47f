"""What planning decides or refuses before anything starts (issue 15): loader processes
spread over loader CPUs, a --url nobody listens at, more connections than the open-file
limit, an open-loop rate no loader can send. Real sockets and processes on loopback;
every load is 1 s or less."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace

from loader_servers import closed_port, serve

from wsgicompare.cli import make_plan
from wsgicompare.engine.runspec import available_cpus, cpu_split, default_cpus
from wsgicompare.loader import LoadRun
from wsgicompare.settings.options import parse_options

PY = sys.executable

#: the ``cli`` fixture: main(argv) in-process behind the tripwire (tests/cli_support.py)
pytest_plugins = ["cli_support"]


def cli_process(*args: str, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    """A real ``python -m wsgicompare`` run (its loader processes' output included)."""
    return subprocess.run(
        [PY, "-m", "wsgicompare", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def plan_for(*argv: str):
    return make_plan(parse_options(list(argv)))


# -- 4. --loader-procs N spreads over loader CPUs -------------------------------------------


def test_the_default_split_gives_each_loader_process_a_cpu_up_to_half_of_them():
    eight = tuple(range(8))
    assert default_cpus(eight) == ((0,), tuple(range(1, 8)))  # one process: unchanged
    assert default_cpus(eight, 2) == ((0, 1), tuple(range(2, 8)))
    assert default_cpus(eight, 64) == ((0, 1, 2, 3), (4, 5, 6, 7))  # the server keeps half
    assert default_cpus((0, 1, 2, 3), 3) == ((0, 1), (2, 3))
    assert default_cpus((0, 1), 2) == ((0,), (1,))  # the server keeps its CPU
    assert default_cpus((5,), 4) == ((), ())  # one CPU: nothing pinned
    # servers given, loader not: one CPU per process of what is left
    assert cpu_split(None, (3,), 2, (0, 1, 2, 3)) == ((0, 1), (3,))
    assert cpu_split(None, (3,), 1, (0, 1, 2, 3)) == ((0,), (3,))
    assert cpu_split((2,), None, 2, (0, 1, 2, 3)) == ((2,), (0, 1, 3))  # given CPUs win
    assert cpu_split((0, 1), (2,), 8, (0, 1, 2, 3)) == ((0, 1), (2,))


def _expected_loader_cpus(procs: int) -> set[int]:
    return set(default_cpus(available_cpus(), procs)[0] or available_cpus())


def test_loader_processes_really_run_on_the_loader_cpus_the_plan_gives_them():
    plan = plan_for("--url", "http://127.0.0.1:9/", "--loader-procs", "2", "-c", "4", "-d", "1", "--warmup", "0")
    (spec,) = plan.specs
    assert set(spec.load.cpus or available_cpus()) == _expected_loader_cpus(2)
    with serve("ok") as server:
        run = LoadRun(replace(spec.load, url=server.url))
        try:
            run.start()
            assert len(run.pids) == 2
            affinities = [os.sched_getaffinity(pid) for pid in run.pids]
            run.stop()
            summary = run.summary()
        finally:
            run.close()
    assert affinities == [_expected_loader_cpus(2)] * 2, affinities
    assert summary.status["2xx"] > 0


def test_more_loader_processes_than_loader_cpus_is_said_once_on_stderr():
    procs = max(2, len(available_cpus()) // 2 + 1)  # always more than the loader is given
    loader = sorted(_expected_loader_cpus(procs))
    with serve("ok") as server:
        proc = cli_process(
            "--url",
            server.url,
            "--loader-procs",
            str(procs),
            "-c",
            str(procs),
            "-d",
            "0.5",
            "--warmup",
            "0",
            "--export",
            "json",
        )
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("wsgicompare: warning: ")]
    assert len(warnings) == 1, proc.stderr
    assert f"{procs} loader processes share {len(loader)} loader CPU" in warnings[0], warnings[0]
    assert "--loader-cpus" in warnings[0]


def test_one_loader_process_per_loader_cpu_says_nothing():
    with serve("ok") as server:
        proc = cli_process("--url", server.url, "-c", "2", "-d", "0.3", "--warmup", "0", "--export", "json")
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr


# -- 5. a --url where nothing listens, or that does not resolve -------------------------------


def test_url_with_nothing_listening_is_one_line_and_exit_1_within_3_s(tmp_path, capsys):
    from wsgicompare.cli import main

    port = closed_port()  # bound, then closed: nothing listens there
    out = tmp_path / "r.json"
    started = time.monotonic()
    code = main(["--url", f"http://127.0.0.1:{port}/", "-d", "5", "-o", str(out)])
    took = time.monotonic() - started
    assert code == 1
    stdout, stderr = capsys.readouterr()
    assert stdout == ""
    assert stderr == f"wsgicompare: error: nothing is listening at 127.0.0.1:{port} (connection refused)\n"
    assert took < 3.0, took  # was the whole -d of refused connects
    assert not out.exists()  # no run, no report pretending to be one


def test_url_that_does_not_resolve_is_one_line_and_exit_1(cli):
    # .invalid never resolves (RFC 2606); --allow-remote so the loopback rule does not refuse it first;
    # behind the tripwire: no loader, no connect, no pinning (a run would pin first)
    line = cli.refused(
        ["--url", "http://no-such-host.invalid:8080/", "--allow-remote", "-d", "5", "--warmup", "0"],
        "cannot resolve no-such-host.invalid (",
        code=1,
    )
    assert line.startswith("wsgicompare: error: cannot resolve no-such-host.invalid ("), line
