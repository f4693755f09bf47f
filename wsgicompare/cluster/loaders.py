"""The loader agents: one Ray actor per loader node around a ``NodeAgent``, and
``ClusterLoadRun``, a LoadRun whose processes are spread over them."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from wsgicompare.loader import TICK_LATE_S, GroupFailed, LoadProfile, LoadRun, NodeAgent, Snapshots

from .nodes import GO_DELAY_S, PLACE_TIMEOUT_S, Node, first_line, on_node, ray_module


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
        ray = ray_module()
        actor_cls = ray.remote(max_concurrency=4)(LoaderActor)
        for node, indices in self.placements:
            cpus = max(0.001, min(len(indices), node.cpus))
            self._actors.append(
                actor_cls.options(num_cpus=cpus, scheduling_strategy=on_node(ray, node.node_id)).remote(
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
                raise GroupFailed(f"loader node {node.name}: {first_line(exc)}") from None
            if "fatal" in info:
                raise GroupFailed(f"loader node {node.name}: {info['fatal']}")
            notes += info["notes"]
            loop = info["loop"]
            capacities.append(info["cpu_capacity_pct"])
        self._acc.cpu_capacity_pct = min(capacities)
        return notes, loop

    def _go(self) -> None:
        ray = ray_module()
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
                    raise GroupFailed(f"loader node {node.name}: {first_line(item)}")
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
        ray = ray_module()
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
