"""Beyond one machine: the loader's processes, and a backend, on the nodes of a Ray
cluster (``--cluster``, ``--server-node``). The Ray glue is all here; Ray is imported
only when a cluster is used (the ``cluster`` extra).

What runs where:

- a *loader agent* per loader node: a Ray actor pinned to its node, holding a
  ``loader.agent.NodeAgent`` that spawns and pins that node's loader processes as a
  local run does; its per-tick snapshots stream back (a Ray streaming generator) and
  merge in the same ``RunningTotals`` as a local run's (``ClusterLoadRun``);
- with ``--server-node``, a *server agent* on that node: it runs the backend's
  lifecycle there and samples its process tree and the kernel's TCP counters there
  (``NodeServers``, ``RemoteServer``).

Coordinated start: each agent gets the go as a delay and starts on its own clock.
A node lost mid-run fails the run within a tick plus ``TICK_LATE_S`` (the ticks so far
are kept, the other nodes stopped); nothing is rebalanced, since that would change the
load being compared. Agents are owned by this process: Ray ends them when it dies,
and PR_SET_PDEATHSIG and the backends' reaper end what they started."""

from __future__ import annotations

import logging
import platform
import socket
from typing import Any
from urllib.parse import urlsplit

from wsgicompare.loader import LoadProfile, is_loopback

from .loaders import ClusterLoadRun
from .nodes import (
    CONNECT_TIMEOUT_S,
    INSTALL_HINT,
    PLACE_TIMEOUT_S,
    ClusterError,
    Node,
    first_line,
    node_facts,
    on_node,
    ray_module,
    wsgicompare_version,
)
from .servers import NodeServers, RemoteServer

__all__ = [
    "Cluster",
    "ClusterError",
    "ClusterLoadRun",
    "Node",
    "NodeServers",
    "RemoteServer",
    "connect",
    "split_by_cpus",
]


def _check_reachable(address: str) -> None:
    """A plain TCP connect first: ``ray.init`` retries an unreachable address for minutes."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ClusterError(f"--cluster {address!r}: give HOST:PORT, ray://HOST:PORT or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=CONNECT_TIMEOUT_S):
            pass
    except OSError as exc:
        why = "connection refused" if isinstance(exc, ConnectionRefusedError) else (exc.strerror or str(exc))
        raise ClusterError(f"--cluster {address}: no Ray cluster reachable there ({why})") from None


def split_by_cpus(procs: int, nodes: list[Node]) -> list[tuple[Node, list[int]]]:
    """``procs`` loader processes over ``nodes`` in proportion to their CPUs (largest
    remainder, ties to the earlier node); a node that gets none is left out. Each gets
    consecutive process indices, so the profile's split of the load stays the same."""
    total = sum(max(1, n.cpus) for n in nodes)
    shares = [procs * max(1, n.cpus) / total for n in nodes]
    counts = [int(s) for s in shares]
    order = sorted(range(len(nodes)), key=lambda i: (-(shares[i] - counts[i]), i))
    for i in order[: procs - sum(counts)]:
        counts[i] += 1
    out: list[tuple[Node, list[int]]] = []
    start = 0
    for node, count in zip(nodes, counts, strict=True):
        if count:
            out.append((node, list(range(start, start + count))))
            start += count
    return out


class Cluster:
    """A connection to a Ray cluster, checked: every node runs this wsgicompare and
    this Python. ``load_run(profile)`` makes a LoadRun over the loader nodes."""

    def __init__(self, address: str, *, server_node: str | None = None) -> None:
        self.address = address
        self.nodes: list[Node] = []
        self.server: Node | None = None
        #: the address a backend on the server node binds (see server_host)
        self.server_bind = "127.0.0.1"
        self.driver_node_id = ""
        try:
            self._connect()
            if server_node is not None:
                self.server = self.find_node(server_node)
        except BaseException:
            self.shutdown()
            raise

    # -- connecting and checking ---------------------------------------------------------------
    def _connect(self) -> None:
        ray = ray_module()
        if self.address != "auto":
            _check_reachable(self.address)
        try:
            ray.init(
                address=self.address,
                namespace="wsgicompare",
                log_to_driver=False,
                logging_level=logging.ERROR,
                ignore_reinit_error=True,
            )
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise ClusterError(f"--cluster {self.address}: {first_line(exc)}") from None
        _quiet_driver()
        self.driver_node_id = ray.get_runtime_context().get_node_id()
        alive = [n for n in ray.nodes() if n.get("Alive")]
        facts_fn = ray.remote(num_cpus=0)(node_facts)
        refs = [facts_fn.options(scheduling_strategy=on_node(ray, n["NodeID"])).remote() for n in alive]
        here = {"wsgicompare": wsgicompare_version(), "python": platform.python_version()}
        # every node's answer first, then the checks: a refusal with another node's task still
        # running had Ray's core print "Failed to push error to driver" beside the one line
        ray.wait(refs, num_returns=len(refs), timeout=PLACE_TIMEOUT_S)  # one wait for all of them
        answers: list[tuple[dict[str, Any], dict[str, Any] | Exception]] = []
        for info, ref in zip(alive, refs, strict=True):
            try:
                answers.append((info, ray.get(ref, timeout=1.0)))
            except Exception as exc:  # noqa: BLE001  (a node without wsgicompare cannot even unpickle the task)
                answers.append((info, exc))
        for info, facts in answers:
            where = f"{info.get('NodeManagerAddress')} ({info['NodeID'][:8]})"
            if isinstance(facts, Exception):
                raise ClusterError(
                    f"node {where} cannot run wsgicompare ({first_line(facts)}): install it there: {INSTALL_HINT}"
                )
            for key, want in here.items():
                if facts[key] != want:
                    raise ClusterError(
                        f"node {where} runs {key} {facts[key]}, this machine {want}: every node needs the same"
                    )
            cpus = int(info.get("Resources", {}).get("CPU", 0))
            self.nodes.append(Node(info["NodeID"], str(info.get("NodeManagerAddress")), cpus, facts))

    def find_node(self, wanted: str) -> Node:
        """A node by id (or a unique prefix of it) or by address (``--server-node``)."""
        by_id = [n for n in self.nodes if n.node_id.startswith(wanted)] if len(wanted) >= 6 else []
        by_host = [n for n in self.nodes if n.host == wanted]
        found = by_id or by_host
        known = ", ".join(n.name for n in self.nodes)
        if not found:
            raise ClusterError(f"--server-node {wanted}: no such node in the cluster (nodes: {known})")
        if len(found) > 1:
            raise ClusterError(f"--server-node {wanted}: several nodes match; give a node id (nodes: {known})")
        return found[0]

    def loader_nodes(self, *, servers_here: bool) -> list[Node]:
        """The nodes the loaders go to: all with a CPU, less the server's node (the
        ``--server-node``, or this machine's node when the backends start here)."""
        skip = self.server.node_id if self.server else (self.driver_node_id if servers_here else None)
        nodes = [n for n in self.nodes if n.cpus > 0 and n.node_id != skip]
        if not nodes:
            raise ClusterError("--cluster: no node with a CPU is left for the loaders (the server takes its node)")
        return nodes

    def check_target(self, url: str, *, servers_here: bool, allow_remote: bool) -> None:
        """A loopback target is this machine's: every loader node must be on it."""
        host = urlsplit(url).hostname or ""
        if not is_loopback(host):
            return
        here = {n.host for n in self.nodes if n.node_id == self.driver_node_id}
        away = [n.name for n in self.loader_nodes(servers_here=servers_here) if n.host not in here]
        if away:
            raise ClusterError(
                f"{host} is this machine's loopback: the loader nodes {', '.join(away)} would load their own; "
                "give the server an address they reach" + ("" if allow_remote else " (with --allow-remote)")
            )

    def server_host(self, allow_remote: bool) -> str:
        """The address a backend on the server node binds: loopback when every loader
        node is on that machine, else its own address (which needs --allow-remote)."""
        assert self.server is not None
        loaders = self.loader_nodes(servers_here=False)
        if all(n.host == self.server.host for n in loaders):
            return "127.0.0.1"
        if not allow_remote:
            raise ClusterError(
                f"--server-node {self.server.name}: the loaders on other hosts reach it only on "
                f"{self.server.host}, not loopback: add --allow-remote to bind it there"
            )
        return self.server.host

    def warnings(self, procs: int, *, servers_here: bool) -> list[str]:
        """What the plan says once before the runs: loader nodes left idle."""
        nodes = self.loader_nodes(servers_here=servers_here)
        if procs < len(nodes):
            return [
                f"--loader-procs {procs} over {len(nodes)} loader nodes: {len(nodes) - procs} of them get no "
                f"loader process; give --loader-procs {sum(n.cpus for n in nodes)} to use every node's CPUs"
            ]
        return []

    def describe(self) -> list[dict[str, Any]]:
        """``machine.nodes`` of the report."""
        return [n.summary() for n in self.nodes]

    # -- runs ------------------------------------------------------------------------------------
    def load_run(
        self, profile: LoadProfile, *, servers_here: bool, cpus: tuple[int, ...] | None = None
    ) -> ClusterLoadRun:
        """A run of ``profile`` over the loader nodes; ``cpus``: pin each node's loader
        processes to these (default: all of that node's usable CPUs)."""
        placements = split_by_cpus(profile.procs, self.loader_nodes(servers_here=servers_here))
        return ClusterLoadRun(profile, placements, cpus=cpus)

    def servers(self) -> NodeServers:
        assert self.server is not None
        return NodeServers(self.server, self.server_bind)

    def shutdown(self) -> None:
        ray = ray_module()
        if ray.is_initialized():
            ray.shutdown()


def connect(o: Any) -> Cluster:
    """The checked cluster of ``Options`` ``o`` (--cluster, --server-node, --url,
    --allow-remote): ClusterError (one line) for anything it cannot do."""
    cluster = Cluster(o.cluster, server_node=o.server_node)
    try:
        if o.url:
            cluster.check_target(o.url, servers_here=False, allow_remote=o.allow_remote)
            cluster.loader_nodes(servers_here=False)
        elif cluster.server is not None:
            cluster.server_bind = cluster.server_host(o.allow_remote)
        else:
            cluster.loader_nodes(servers_here=True)
    except BaseException:
        cluster.shutdown()
        raise
    return cluster


def _quiet_driver() -> None:
    """Ray's driver prints the cluster's error messages (a lost node's last 20 raylet
    log lines) to *stdout*, where ``--export md`` writes its report: those go nowhere
    (the run says which node was lost and when), anything else to stderr. Ray has no
    option for it, so its module function is wrapped (checked by tests/test_cluster.py)."""
    import ray._private.worker as ray_worker

    original = ray_worker.print_to_stdstream
    if getattr(original, "wsgicompare_quiet", False):
        return

    def to_stderr(data: dict[str, Any], ignore_prefix: bool) -> None:
        if data.get("pid") != "raylet":
            original({**data, "is_err": True}, ignore_prefix)

    to_stderr.wsgicompare_quiet = True  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = to_stderr
