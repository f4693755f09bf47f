"""A node agent: one machine's share of a load run that spans several machines.

It spawns and pins that machine's loader processes exactly as a local run does
(``ProcessGroup``), and hands their raw per-tick snapshots on; the merge happens
where the run is conducted. It knows nothing of how it is reached: the Ray glue
(``wsgicompare/cluster/loaders.py``) wraps it in an actor on its node. No Ray import here.

Clocks: the go carries a *delay*, and each agent turns it into a start time on its
own monotonic clock, so machines need no common clock; every latency is timed by
one process on one clock, and ticks line up to within the go's transit time."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Iterator, Sequence
from typing import Any

from .group import GroupFailed, ProcessGroup, Snapshots
from .profile import LoadProfile
from .stats import cpu_capacity_pct


def node_cpus(exclude: Sequence[int] = ()) -> tuple[int, ...]:
    """The CPUs this process may run on, less ``exclude`` (those of a server on this
    machine); all of them if that would leave none."""
    usable = sorted(os.sched_getaffinity(0))
    left = [cpu for cpu in usable if cpu not in set(exclude)]
    return tuple(left or usable)


class NodeAgent:
    """The loader processes ``indices`` of ``profile`` on this machine, pinned to
    ``cpus`` (default: every usable CPU here). ``start()`` → ``go(delay_s)`` →
    iterate ``snapshots()``; ``stop()`` from another thread; ``close()``."""

    def __init__(self, profile: LoadProfile, indices: Sequence[int], cpus: Sequence[int] | None = None) -> None:
        pinned = tuple(cpus) if cpus is not None else node_cpus()
        # the profile was checked where the run is planned; the CPUs are this machine's
        self.profile = dataclasses.replace(profile, cpus=pinned)
        self.indices = list(indices)
        self.group = ProcessGroup(self.profile, self.indices)

    def start(self) -> dict[str, Any]:
        """Spawn the processes; returns what the conductor needs of this node:
        ``notes``, ``loop``, ``pids``, ``cpus``, ``cpu_capacity_pct`` (what one of its
        processes can get of its CPUs), or ``fatal`` when a process could not start."""
        try:
            self.group.spawn()
        except GroupFailed as exc:
            self.group.close()
            return {"fatal": str(exc)}
        return {
            "notes": list(self.group.notes),
            "loop": self.group.loop_name,
            "pids": self.group.pids,
            "cpus": list(self.profile.cpus),
            "cpu_capacity_pct": cpu_capacity_pct(self.profile.cpus, len(self.indices)),
        }

    def go(self, delay_s: float) -> float:
        """Start the load ``delay_s`` from now on this machine's clock; returns that time."""
        start_at = time.monotonic() + delay_s
        self.group.go(start_at)
        return start_at

    def snapshots(self) -> Iterator[Snapshots]:
        """Each tick's snapshots of this node's processes; GroupFailed if one dies."""
        return self.group.snapshots()

    def stop(self) -> None:
        self.group.stop()

    def close(self) -> None:
        self.group.close()
