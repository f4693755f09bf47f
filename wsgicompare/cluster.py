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

import importlib.metadata
import logging
import platform
import queue
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from wsgicompare.backends import Backend, BackendStartError, ServerConfig, get_backend
from wsgicompare.kernel import read_tcp_counters
from wsgicompare.loader import LoadProfile, LoadRun
from wsgicompare.loader.agent import NodeAgent
from wsgicompare.loader.group import TICK_LATE_S, GroupFailed, Snapshots
from wsgicompare.loader.profile import is_loopback
from wsgicompare.machine import machine_info
from wsgicompare.parsing import OptionError
from wsgicompare.sampling import TreeSampler

INSTALL_HINT = "pip install 'wsgicompare[cluster]'"
#: seconds the go is ahead of each node's start (every agent gets it before its clock runs out)
GO_DELAY_S = 0.25
#: seconds an agent may take to be placed on its node and spawn its loader processes
PLACE_TIMEOUT_S = 60.0
#: seconds a plain TCP connect to the cluster's address may take before it is called unreachable
CONNECT_TIMEOUT_S = 3.0


class ClusterError(OptionError):
    """The cluster cannot be used as asked (one line; bad input: exit 2)."""


def _ray() -> Any:
    try:
        import ray  # the cluster extra: imported only when --cluster is given
    except ImportError:
        raise ClusterError(f"--cluster needs Ray, which is not installed: {INSTALL_HINT}") from None
    return ray


def wsgicompare_version() -> str:
    try:
        return importlib.metadata.version("wsgicompare")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        from wsgicompare import __version__

        return __version__


def node_facts() -> dict[str, Any]:
    """What a node says of itself (runs there, as a Ray task)."""
    ray = _ray()
    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "hostname": socket.gethostname(),
        "wsgicompare": wsgicompare_version(),
        "python": platform.python_version(),
        "machine": machine_info(),
    }


@dataclass(frozen=True)
class Node:
    node_id: str
    host: str  #: the address Ray gives the node (may be the machine's own interface address)
    cpus: int  #: the node's Ray CPU resource
    facts: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.host} ({self.node_id[:8]})"

    def summary(self) -> dict[str, Any]:
        """Its entry in the report's ``machine.nodes``."""
        m = self.facts.get("machine", {})
        return {
            "node_id": self.node_id,
            "host": self.host,
            "hostname": self.facts.get("hostname"),
            "cpu_model": m.get("cpu_model"),
            "cores": m.get("cores"),
            "python": self.facts.get("python"),
            "wsgicompare": self.facts.get("wsgicompare"),
        }


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

    def __init__(self, address: str, *, server_node: str | None = None, connect: bool = True) -> None:
        self.address = address
        self.nodes: list[Node] = []
        self.server: Node | None = None
        #: the address a backend on the server node binds (see server_host)
        self.server_bind = "127.0.0.1"
        self.driver_node_id = ""
        if connect:
            try:
                self._connect()
                if server_node is not None:
                    self.server = self.find_node(server_node)
            except BaseException:
                self.shutdown()
                raise

    # -- connecting and checking ---------------------------------------------------------------
    def _connect(self) -> None:
        ray = _ray()
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
            raise ClusterError(f"--cluster {self.address}: {_first_line(exc)}") from None
        _quiet_driver()
        self.driver_node_id = ray.get_runtime_context().get_node_id()
        alive = [n for n in ray.nodes() if n.get("Alive")]
        facts_fn = ray.remote(num_cpus=0)(node_facts)
        refs = [facts_fn.options(scheduling_strategy=_on_node(ray, n["NodeID"])).remote() for n in alive]
        here = {"wsgicompare": wsgicompare_version(), "python": platform.python_version()}
        for info, ref in zip(alive, refs, strict=True):
            where = f"{info.get('NodeManagerAddress')} ({info['NodeID'][:8]})"
            try:
                facts = ray.get(ref, timeout=PLACE_TIMEOUT_S)
            except Exception as exc:  # noqa: BLE001  (a node without wsgicompare cannot even unpickle the task)
                raise ClusterError(
                    f"node {where} cannot run wsgicompare ({_first_line(exc)}): install it there: {INSTALL_HINT}"
                ) from None
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
        host = url.split("//", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0].strip("[]")
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
        ray = _ray()
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


def _on_node(ray: Any, node_id: str) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]


# -- the loader agents -----------------------------------------------------------------------------


class LoaderActor:
    """The Ray actor around a NodeAgent (threaded: ``stop`` comes while ``snapshots``
    streams)."""

    def __init__(self, profile: LoadProfile, indices: list[int], cpus: tuple[int, ...] | None) -> None:
        self.agent = NodeAgent(profile, indices, cpus)
        self._iter: Iterator[Snapshots] | None = None

    def start(self) -> dict[str, Any]:
        return self.agent.start()

    def go(self, delay_s: float) -> float:
        return self.agent.go(delay_s)

    def snapshots(self) -> Iterator[Snapshots]:
        yield from self.agent.snapshots()

    def next_snapshots(self) -> Snapshots | None:
        """The next tick's snapshots, None at the end: for Ray Client (ray://), which
        has no streaming generators (one call per tick instead)."""
        if self._iter is None:
            self._iter = iter(self.agent.snapshots())
        return next(self._iter, None)

    def stop(self) -> None:
        self.agent.stop()

    def close(self) -> None:
        self.agent.close()


class _Lost(Exception):
    pass


class ClusterLoadRun(LoadRun):
    """A LoadRun whose processes are spread over the nodes of ``placements``; the
    merge, the summary and the stop rules are LoadRun's own."""

    def __init__(
        self, profile: LoadProfile, placements: list[tuple[Node, list[int]]], *, cpus: tuple[int, ...] | None = None
    ) -> None:
        super().__init__(profile, cpu_capacity=100.0)
        self.placements = placements
        self.cpus = cpus  # each node's loader CPUs (None: all of a node's usable CPUs)
        self._actors: list[Any] = []
        self._streams: list[queue.Queue[Any]] = []
        self._last_t = 0.0
        #: the node ids that sent each merged tick (in order)
        self.tick_nodes: list[frozenset[str]] = []

    @property
    def nodes(self) -> list[dict[str, Any]] | None:
        """``loader.nodes`` of the report: each node's processes and their mean CPU %
        over the measured window (100 = a core)."""
        acc = self._acc
        out = []
        for node, indices in self.placements:
            pcts = [100.0 * acc.cpu_s[i] / acc.cpu_interval_s[i] for i in indices if acc.cpu_interval_s[i] > 0]
            cpu = round(sum(pcts) / len(pcts), 1) if pcts else None
            out.append({"node_id": node.node_id, "host": node.host, "procs": len(indices), "cpu_pct": cpu})
        return out

    @property
    def pids(self) -> list[int]:
        return []  # on other machines

    def _spawn(self) -> tuple[list[str], str]:
        ray = _ray()
        actor_cls = ray.remote(max_concurrency=4)(LoaderActor)
        for node, indices in self.placements:
            cpus = max(0.001, min(len(indices), node.cpus))
            self._actors.append(
                actor_cls.options(num_cpus=cpus, scheduling_strategy=_on_node(ray, node.node_id)).remote(
                    self.profile, indices, self.cpus
                )
            )
        refs = [actor.start.remote() for actor in self._actors]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=PLACE_TIMEOUT_S)
        notes: list[str] = []
        loop = ""
        capacities = []
        for (node, _), ref in zip(self.placements, refs, strict=True):
            if ref not in ready:
                raise GroupFailed(f"loader node {node.name}: its agent was not ready in {PLACE_TIMEOUT_S:g} s")
            try:
                info = ray.get(ref)
            except Exception as exc:  # noqa: BLE001
                raise GroupFailed(f"loader node {node.name}: {_first_line(exc)}") from None
            if "fatal" in info:
                raise GroupFailed(f"loader node {node.name}: {info['fatal']}")
            notes += info["notes"]
            loop = info["loop"]
            capacities.append(info["cpu_capacity_pct"])
        self._acc.cpu_capacity_pct = min(capacities)
        return notes, loop

    def _go(self) -> None:
        ray = _ray()
        ray.get([actor.go.remote(GO_DELAY_S) for actor in self._actors], timeout=PLACE_TIMEOUT_S)
        client = ray.util.client.ray.is_connected()  # ray://: no streaming generators
        for actor in self._actors:
            stream: queue.Queue[Any] = queue.Queue()
            args = (ray, actor, stream, client)
            threading.Thread(target=_pump, args=args, name="wsgicompare-cluster-ticks", daemon=True).start()
            self._streams.append(stream)

    def _halt(self) -> None:
        for actor in self._actors:
            actor.stop.remote()

    def _snapshots(self) -> Iterator[Snapshots]:
        running = set(range(len(self._actors)))
        while running:
            merged: Snapshots = {}
            nodes = set()
            deadline = time.monotonic() + self.profile.tick_s + TICK_LATE_S
            for k in sorted(running):
                node = self.placements[k][0]
                try:
                    item = self._streams[k].get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    item = _Lost()
                if item is None:  # the agent's processes are all done
                    running.discard(k)
                    continue
                if isinstance(item, GroupFailed):
                    raise GroupFailed(f"loader node {node.name}: {item}")
                if isinstance(item, _Lost) or _node_gone(item):
                    raise GroupFailed(f"loader node {node.name} lost at t={self._last_t:.1f} s")
                if isinstance(item, BaseException):
                    raise GroupFailed(f"loader node {node.name}: {_first_line(item)}")
                merged.update(item)
                nodes.add(node.node_id)
            if not merged:
                return
            self._last_t = max(snap["t_s"] for snap in merged.values())
            self.tick_nodes.append(frozenset(nodes))
            yield merged

    def _kill(self) -> None:
        if not self._actors:
            return
        ray = _ray()
        refs = [actor.close.remote() for actor in self._actors]
        ray.wait(refs, num_returns=len(refs), timeout=5.0)
        for actor in self._actors:
            try:
                ray.kill(actor)
            except Exception:  # noqa: BLE001  (a lost node's actor is gone already)
                pass

    def _reap(self) -> None:
        self.close()


def _node_gone(exc: object) -> bool:
    """Ray's word that an agent, or its node, is gone (not a failure inside it)."""
    names = {"ActorDiedError", "ActorUnavailableError", "NodeDiedError", "ObjectLostError", "OwnerDiedError"}
    return isinstance(exc, BaseException) and any(c.__name__ in names for c in type(exc).__mro__)


def _pump(ray: Any, actor: Any, out: queue.Queue[Any], client: bool) -> None:
    """One agent's stream of snapshots into ``out``; None at its end, the error if any.
    A streaming generator; through Ray Client, one call per tick."""
    try:
        if client:
            while (snapshots := ray.get(actor.next_snapshots.remote())) is not None:
                out.put(snapshots)
        else:
            for ref in actor.snapshots.options(num_returns="streaming").remote():
                out.put(ray.get(ref))
        out.put(None)
    except Exception as exc:  # noqa: BLE001
        cause = getattr(exc, "cause", None)
        out.put(GroupFailed(str(cause)) if isinstance(cause, GroupFailed) else exc)


# -- the server agent (--server-node) ------------------------------------------------------------


class ServerActor:
    """A backend's lifecycle on its node, and the samples only that node can take."""

    def __init__(self) -> None:
        self.server: Any = None
        self.sampler: TreeSampler | None = None

    def availability(self, backend_id: str) -> tuple[bool, list[str]]:
        return get_backend(backend_id).availability()

    def start(self, backend_id: str, config: ServerConfig, ready_timeout_s: float) -> dict[str, Any]:
        try:
            self.server = get_backend(backend_id).start(config, ready_timeout_s=ready_timeout_s)
        except BackendStartError as exc:
            return {"error": exc.reason, "log_tail": exc.log_tail}
        self.sampler = TreeSampler(self.server.processes)
        s = self.server
        return {
            "url": s.url,
            "port": s.port,
            "command": list(s.command),
            "config_files": dict(s.config_files),
            "versions": dict(s.versions),
            "startup_s": s.startup_s,
        }

    def sample(self) -> tuple[float, float, int, int]:
        assert self.sampler is not None
        return self.sampler.sample()

    def tcp_counters(self) -> dict[str, int]:
        return read_tcp_counters()

    def alive(self) -> bool:
        return bool(self.server is not None and self.server.alive())

    def exit_reason(self) -> str | None:
        return self.server.exit_reason() if self.server is not None else None

    def log_tail(self, lines: int) -> str:
        return self.server.log_tail(lines) if self.server is not None else ""

    def stop(self, timeout_s: float) -> None:
        if self.server is not None:
            self.server.stop(timeout_s=timeout_s)


class RemoteServer:
    """The conductor's view of a backend that runs on the server node."""

    def __init__(self, actor: Any, backend: Backend, config: ServerConfig, node: Node, info: dict[str, Any]) -> None:
        self._actor = actor
        self.backend = backend
        self.config = config
        self.node = node
        self.url: str = info["url"]
        self.port: int = info["port"]
        self.command: list[str] = info["command"]
        self.config_files: dict[str, str] = info["config_files"]
        self.versions: dict[str, str] = info["versions"]
        self.startup_s: float = info["startup_s"]

    def _call(self, method: str, *args: Any, timeout_s: float = 30.0) -> Any:
        ray = _ray()
        return ray.get(getattr(self._actor, method).remote(*args), timeout=timeout_s)

    def processes(self) -> list[Any]:
        return []  # on the server node: sample() reads them there

    def sample(self) -> tuple[float, float, int, int]:
        return self._call("sample")

    def tcp_counters(self) -> dict[str, int]:
        return self._call("tcp_counters")

    def alive(self) -> bool:
        try:
            return bool(self._call("alive", timeout_s=10.0))
        except Exception:  # noqa: BLE001  (the node itself is gone)
            return False

    def exit_reason(self) -> str | None:
        try:
            return self._call("exit_reason", timeout_s=10.0)
        except Exception:  # noqa: BLE001
            return f"server node {self.node.name} lost"

    def log_tail(self, lines: int = 20) -> str:
        return self._call("log_tail", lines)

    def stop(self, timeout_s: float = 10.0) -> None:
        ray = _ray()
        try:
            self._call("stop", timeout_s, timeout_s=timeout_s + 15.0)
        finally:
            ray.kill(self._actor)


class NodeServers:
    """Where the conductor starts backends with ``--server-node``: on that node."""

    local = False

    def __init__(self, node: Node, bind: str = "127.0.0.1") -> None:
        self.node = node
        self.bind = bind  # loopback when every loader node is on its machine (Cluster.server_host)

    def _actor(self) -> Any:
        ray = _ray()
        cls = ray.remote(num_cpus=0, max_concurrency=4)(ServerActor)
        return cls.options(scheduling_strategy=_on_node(ray, self.node.node_id)).remote()

    def availability(self, backend: Backend) -> tuple[bool, list[str]]:
        ray = _ray()
        actor = self._actor()
        try:
            available, missing = ray.get(actor.availability.remote(backend.id), timeout=PLACE_TIMEOUT_S)
        finally:
            ray.kill(actor)
        return available, [f"{m} (on {self.node.name})" for m in missing]

    def start(
        self, backend: Backend, config: ServerConfig, ready_timeout_s: float, cancel: threading.Event
    ) -> RemoteServer:
        ray = _ray()
        actor = self._actor()
        # the node's own CPUs (this machine's split means nothing there), and its address
        config = replace(config, cpus=(), host=self.bind, allow_remote_bind=not is_loopback(self.bind))
        ref = actor.start.remote(backend.id, config, ready_timeout_s)
        deadline = time.monotonic() + ready_timeout_s + PLACE_TIMEOUT_S
        while not ray.wait([ref], timeout=0.2)[0]:
            if cancel.is_set() or time.monotonic() > deadline:
                ray.kill(actor)  # its reaper ends whatever had started
                why = "cancelled" if cancel.is_set() else "no answer from the server node"
                raise BackendStartError(f"{backend.id} on {self.node.name}: {why}")
        try:
            info = ray.get(ref)
        except Exception as exc:  # noqa: BLE001
            ray.kill(actor)
            raise BackendStartError(f"{backend.id} on {self.node.name}: {_first_line(exc)}") from None
        if "error" in info:
            ray.kill(actor)
            raise BackendStartError(info["error"], info["log_tail"])
        return RemoteServer(actor, backend, config, self.node, info)

    def sampler(self, server: Any) -> Any:
        return server  # RemoteServer.sample()

    def tcp_reader(self, server: Any) -> Any:
        return server.tcp_counters
