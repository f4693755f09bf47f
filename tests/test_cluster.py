"""--cluster and --server-node on a real Ray cluster of two nodes on this machine
(tests/ray_cluster.py: ray.cluster_utils.Cluster, each node its own raylet), started
in a session of its own so each test ends exactly what it started. Every load goes to
127.0.0.1, even though Ray itself may use the machine's own interface address."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import loader_servers
import psutil
import pytest
from reliability_support import cli_env, cmdline, is_loader, run_cli, spawn_cli
from test_tui_app import select, wait_for

if not os.environ.get("CI"):  # in CI the set-up installed the extra: its absence must fail
    pytest.importorskip("ray", reason="the cluster extra: pip install 'wsgicompare[cluster]'")

from wsgicompare.cluster import Cluster, Node, split_by_cpus  # noqa: E402
from wsgicompare.loader import LoadProfile  # noqa: E402

pytestmark = pytest.mark.cluster
HERE = os.path.dirname(os.path.abspath(__file__))


@dataclass
class RayCluster:
    proc: subprocess.Popen
    address: str
    nodes: list[str]  # node ids, the head's first

    def add(self) -> str:
        """One more node (one CPU): its id."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("add\n")
        self.proc.stdin.flush()
        node_id = json.loads(self.proc.stdout.readline())["added"]
        self.nodes.append(node_id)
        return node_id

    def remove(self, node_id: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"remove {node_id}\n")
        self.proc.stdin.flush()
        assert json.loads(self.proc.stdout.readline()) == {"removed": node_id}
        self.nodes.remove(node_id)

    def session_processes(self) -> list[psutil.Process]:
        found = []
        for p in psutil.process_iter():
            with contextlib.suppress(psutil.Error):
                if os.getsid(p.pid) == self.proc.pid and p.status() != psutil.STATUS_ZOMBIE:
                    found.append(p)
        return found


@contextlib.contextmanager
def ray_cluster(nodes: int = 2, client_port: int | None = None) -> Iterator[RayCluster]:
    extra = [str(client_port)] if client_port else []
    proc = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "ray_cluster.py"), str(nodes), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    cluster = None
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        cluster = RayCluster(proc, info["address"], info["nodes"])
        yield cluster
    finally:
        with contextlib.suppress(OSError, ValueError):
            assert proc.stdin is not None
            proc.stdin.write("quit\n")
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the cluster's session is left
        proc.wait(timeout=10)
        if cluster is not None:
            deadline = time.monotonic() + 10
            while cluster.session_processes() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not cluster.session_processes()


@pytest.fixture(scope="module")
def client_port() -> int:
    # a port from the kernel's ephemeral range, never Ray's worker ports (10002–19999)
    return loader_servers.closed_port()


@pytest.fixture(scope="module")
def cluster(client_port: int) -> Iterator[RayCluster]:
    with ray_cluster(2, client_port) as c:
        yield c


@pytest.fixture(scope="module")
def server() -> Iterator[loader_servers.TestServer]:
    s = loader_servers.TestServer("ok").start()
    try:
        yield s
    finally:
        s.stop()


def test_requests_are_split_over_two_nodes_and_the_ticks_merge_both(
    cluster: RayCluster, server: loader_servers.TestServer
) -> None:
    proc = run_cli(
        ["--cluster", cluster.address, "--url", server.url, "--requests", "3000", "-c", "4"]
        + ["--loader-procs", "2", "--export", "json"],
        timeout_s=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr  # no "2 processes share CPU 0": they run on the nodes
    report = json.loads(proc.stdout)  # Ray's own messages never land in the report on stdout
    run = report["runs"][0]
    assert run["status"] == "ok"
    assert sum(run["responses"].values()) + sum(run["errors"].values()) == 3000
    assert run["responses"]["2xx"] == 3000
    nodes = run["loader"]["nodes"]
    assert sorted(n["node_id"] for n in nodes) == sorted(cluster.nodes)
    assert [n["procs"] for n in nodes] == [1, 1]
    assert all(n["cpu_pct"] > 0 for n in nodes)
    assert sorted(n["node_id"] for n in report["machine"]["nodes"]) == sorted(cluster.nodes)
    assert all(n["cores"] >= 1 and n["cpu_model"] for n in report["machine"]["nodes"])

    # the Markdown report names the nodes the run was measured from; --cluster auto
    # finds the cluster from RAY_ADDRESS
    md = run_cli(
        ["--cluster", "auto", "--url", server.url, "--requests", "300", "-c", "2", "--export", "md"],
        timeout_s=120,
        env=cli_env(RAY_ADDRESS=cluster.address),
    )
    assert md.returncode == 0, md.stderr
    # one loader process (the default) leaves a node idle: said once, with what to give
    assert "wsgicompare: warning: --loader-procs 1 over 2 loader nodes: 1 of them get no loader process; " in md.stderr
    assert "Ray cluster of 2 nodes: " in md.stdout and cluster.nodes[1][:8] in md.stdout

    # the same through the Python API: each merged tick holds both nodes' snapshots
    c = Cluster(cluster.address)
    try:
        run_ = c.load_run(
            LoadProfile(url=server.url, concurrency=4, requests=3000, duration_s=None, procs=2), servers_here=False
        )
        with run_:
            run_.start()
            ticks = list(run_.ticks())
            summary = run_.summary()
        assert summary.fatal is None and summary.requests == 3000
        assert len(run_.tick_nodes) == len(ticks) >= 1
        # each node sends its share of the requests; one whose share is done ends its stream,
        # so the last ticks may hold the other node alone (seen with a busy loop on each core),
        # but a tick never misses a node that a later tick has again
        seen = run_.tick_nodes
        assert seen[0] == frozenset(cluster.nodes), seen
        assert all(later <= earlier for earlier, later in zip(seen, seen[1:], strict=False)), seen
    finally:
        c.shutdown()


def test_a_ray_client_address_works_without_streaming_generators(
    cluster: RayCluster, client_port: int, server: loader_servers.TestServer
) -> None:
    # Ray Client has no streaming generators: the ticks come one call each
    args = ["--cluster", f"ray://127.0.0.1:{client_port}", "--url", server.url, "--requests", "1000", "-c", "2"]
    args += ["--loader-procs", "2", "--export", "json"]
    proc = run_cli(args, timeout_s=120)
    if proc.returncode == 2 and "Initialization failure from server" in proc.stderr:
        # Ray's client proxy starts a server process per connection; on a busy 2-core
        # machine that start once timed out (Ray's, not ours): one more try
        proc = run_cli(args, timeout_s=120)
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)["runs"][0]
    assert run["status"] == "ok", run["reason"]
    assert run["responses"]["2xx"] == 1000
    assert sorted(n["node_id"] for n in run["loader"]["nodes"]) == sorted(cluster.nodes)


def test_server_node_starts_gunicorn_there_and_the_run_measures_it(cluster: RayCluster) -> None:
    server_node = cluster.nodes[1]
    proc = run_cli(
        ["--cluster", cluster.address, "--server-node", server_node[:12], "--backend", "gunicorn"]
        + ["-c", "8", "-d", "2", "--export", "json"],
        timeout_s=120,
    )
    assert proc.returncode == 0, proc.stderr
    run = json.loads(proc.stdout)["runs"][0]
    assert run["status"] == "ok", run.get("reason")
    assert run["responses"]["2xx"] > 100
    assert "warning" not in proc.stderr  # one loader node (the other has the server), one process
    assert "gunicorn" in run["command"][0] and "--bind 127.0.0.1:" in run["command"][0]
    # sampled on its node: the server's own CPU and its master + worker
    assert run["server"]["cpu_pct_mean"] > 0 and run["server"]["procs"] >= 2
    # and its memory read there too: USS below RSS (the master and its worker share pages)
    assert 0 < run["server"]["uss_mb_max"] < run["server"]["rss_mb_max"] and run["server"]["uss_mb_per_worker"] > 0
    # the loaders left the server's node out
    assert [n["node_id"] for n in run["loader"]["nodes"]] == [cluster.nodes[0]]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_app_starts_a_backend_on_the_server_node_and_loads_it_from_the_other(
    cluster: RayCluster, anyio_backend: str
) -> None:
    """The app with --cluster --server-node: s starts gunicorn through the server node's
    agent, l loads it from the other node, and the screen reads the same figures."""
    from wsgicompare.engine.conductor import Conductor
    from wsgicompare.settings.options import Options
    from wsgicompare.tui.app import WsgiCompareApp

    c = Cluster(cluster.address, server_node=cluster.nodes[1])
    options = Options(concurrency=8, duration=2.0, warmup=0.0, workloads=["hello"], workers=1, threads=2)
    app = WsgiCompareApp(options, conductor=Conductor(settle_max_s=2.0, cluster=c))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            select(app, "gunicorn")
            await pilot.press("s")
            await wait_for(pilot, lambda: app.main.rows["gunicorn"].state in ("ready", "failed"), 60, "gunicorn ready")
            assert app.main.rows["gunicorn"].state == "ready", app.main.rows["gunicorn"].reason
            started = [p for p in psutil.process_iter() if "gunicorn" in cmdline(p) and _under(p, cluster.proc.pid)]
            assert started, "gunicorn was not started by the server node's agent"
            await pilot.press("l")
            await wait_for(
                pilot, lambda: app.main.live is not None and app.main.live.tick.rps > 0, 60, "a tick with req/s"
            )
            await wait_for(pilot, lambda: not app.main.load_running, 60, "the load to end")
            result = app.session.results[0]
            assert result.status == "ok", result.reason
            assert result.responses["2xx"] > 0 and result.server is not None and result.server.procs >= 2
            assert result.loader is not None and [n["node_id"] for n in result.loader.nodes or []] == [cluster.nodes[0]]
            await pilot.press("q")
            await wait_for(pilot, lambda: app.session.closing and not app.session.running, 30, "quit")
        deadline = time.monotonic() + 20
        while any(p.is_running() and p.status() != "zombie" for p in started) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p.pid for p in started if p.is_running() and p.status() != "zombie"]
    finally:
        c.shutdown()


def _cluster_run_with_processes(
    cluster: RayCluster, *extra: str, mid_s: float = 1.0
) -> tuple[subprocess.Popen, list[psutil.Process]]:
    """A run with gunicorn on the server node and a loader on the other, once both exist."""
    proc = spawn_cli(
        ["--cluster", cluster.address, "--server-node", cluster.nodes[1], "--backend", "gunicorn"]
        + ["-c", "4", "-d", "30", *extra]
    )
    # the loader (spawned by the head node's agent) and gunicorn (by the server node's
    # agent) live under Ray's worker processes, not under this test
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = [p for p in psutil.process_iter() if is_loader(p) or "gunicorn" in cmdline(p)]
        found = [p for p in found if _under(p, cluster.proc.pid)]
        if any(is_loader(p) for p in found) and any("gunicorn" in cmdline(p) for p in found):
            time.sleep(mid_s)  # mid-load
            return proc, found
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"no loader and gunicorn on the cluster: {''.join(proc.err_lines)}")  # type: ignore[attr-defined]


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # gone between the two questions
        return False


def _all_gone(found: list[psutil.Process], within_s: float) -> list[str]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and any(_alive(p) for p in found):
        time.sleep(0.25)
    return [f"{p.pid} {cmdline(p)[:80]}" for p in found if _alive(p)]


def test_sigkill_of_wsgicompare_leaves_no_loader_or_backend(cluster: RayCluster) -> None:
    proc, found = _cluster_run_with_processes(cluster, "--export", "json")
    try:
        proc.kill()
        proc.wait(timeout=10)
        assert not _all_gone(found, 35)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_ctrl_c_of_a_cluster_run_keeps_what_finished_and_leaves_nothing(cluster: RayCluster, tmp_path) -> None:
    out = tmp_path / "run.json"
    # past the 1 s warm-up and into the measured window
    proc, found = _cluster_run_with_processes(cluster, "--export", "json", "-o", str(out), mid_s=3.0)
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, "".join(proc.err_lines)  # type: ignore[attr-defined]
    run = json.loads(out.read_text())["runs"][0]
    assert run["status"] == "failed" and run["reason"].startswith("cancelled at t=")
    assert run["responses"]["2xx"] > 0  # what was measured before the Ctrl-C is kept
    assert not _all_gone(found, 15)


def _under(p: psutil.Process, session: int) -> bool:
    """``p`` was started from the cluster's processes (its session, or a child of one)."""
    # a process may end between the listing and the question (psutil.Error for p's
    # parents, ProcessLookupError for its session): then it is not one of ours
    with contextlib.suppress(psutil.Error, ProcessLookupError):
        for q in [p, *p.parents()]:
            if os.getsid(q.pid) == session:
                return True
    return False


def test_a_node_with_another_wsgicompare_version_is_refused(
    cluster: RayCluster, tmp_path, server: loader_servers.TestServer
) -> None:
    # Ray puts the driver's working directory first on its workers' sys.path: there they
    # find a wsgicompare 9.9.9, as a node with another install would; the console script
    # itself (sys.path[0] = its bin directory) still has this one
    dist = tmp_path / "wsgicompare-9.9.9.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: wsgicompare\nVersion: 9.9.9\n")
    script = os.path.join(os.path.dirname(sys.executable), "wsgicompare")
    proc = subprocess.run(
        [script, "--cluster", cluster.address, "--url", server.url, "--requests", "100"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "runs wsgicompare 9.9.9, this machine 0.1.0: every node needs the same" in lines[0]


def test_cluster_without_ray_installed_says_how_to_install_it() -> None:
    code = "import sys; sys.modules['ray'] = None; from wsgicompare.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, "--cluster", "auto", "--backend", "gunicorn"],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(),
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == (
        "wsgicompare: error: --cluster needs Ray, which is not installed: pip install 'wsgicompare[cluster]'"
    )


def test_a_node_lost_mid_run_fails_the_run_in_time_and_keeps_its_ticks(
    cluster: RayCluster, server: loader_servers.TestServer, tmp_path
) -> None:
    # the module's one cluster gets a third node for this test, which then loses it: the
    # other two stay as they were (one Ray cluster per session: each start costs ~15 s)
    lost = cluster.add()
    out = str(tmp_path / "run.json")
    proc = spawn_cli(
        ["--cluster", cluster.address, "--url", server.url, "-c", "6", "-d", "40", "--loader-procs", "3"]
        + ["--export", "json", "-o", out]
    )
    try:
        before = server.requests
        deadline = time.monotonic() + 60
        while server.requests - before < 2000 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(1.5)  # a few ticks in
        lost_at = time.monotonic()
        cluster.remove(lost)
        proc.wait(timeout=40)
        took = time.monotonic() - lost_at
    finally:
        if proc.poll() is None:
            proc.kill()
    err = "".join(proc.err_lines)  # type: ignore[attr-defined]
    assert took <= 0.25 + 10 + 3, (took, err)  # a tick + 10 s, and the exit's own time
    assert proc.returncode == 1, err  # nothing measured in full
    assert "".join(proc.out_lines) == ""  # type: ignore[attr-defined]  # Ray's node-death dump stays off stdout
    assert "raylet" not in err.lower()
    run = json.load(open(out))["runs"][0]
    assert run["status"] == "failed"
    [node] = [n for n in run["loader"]["nodes"] if n["node_id"] == lost]
    assert f"loader node {node['host']} ({lost[:8]}) lost at t=" in run["reason"]
    assert len(run["timeline"]) >= 2 and run["responses"]["2xx"] > 0  # the ticks so far are kept


def _node(cpus: int, name: str) -> Node:
    return Node(node_id=name * 8, host="10.0.0.1", cpus=cpus, facts={})


def test_processes_are_spread_by_cpus_in_consecutive_indices() -> None:
    a, b, c = _node(8, "a"), _node(4, "b"), _node(4, "c")
    split = split_by_cpus(8, [a, b, c])
    assert [(n.node_id[0], ix) for n, ix in split] == [("a", [0, 1, 2, 3]), ("b", [4, 5]), ("c", [6, 7])]
    # fewer processes than nodes: the node that gets none is left out
    assert [n.node_id[0] for n, _ in split_by_cpus(2, [a, b, c])] == ["a", "b"]
    assert sum(len(ix) for _, ix in split_by_cpus(7, [a, b, c])) == 7
