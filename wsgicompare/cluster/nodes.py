"""The cluster's nodes as wsgicompare sees them, and the Ray helpers every part of
``wsgicompare.cluster`` shares. Ray is imported only when a cluster is used."""

from __future__ import annotations

import importlib.metadata
import platform
import socket
from dataclasses import dataclass
from typing import Any

from wsgicompare.engine.machine import machine_info
from wsgicompare.parsing import OptionError

INSTALL_HINT = "pip install 'wsgicompare[cluster]'"
#: seconds the go is ahead of each node's start (every agent gets it before its clock runs out)
GO_DELAY_S = 0.25
#: seconds an agent may take to be placed on its node and spawn its loader processes
PLACE_TIMEOUT_S = 60.0
#: seconds a plain TCP connect to the cluster's address may take before it is called unreachable
CONNECT_TIMEOUT_S = 3.0


class ClusterError(OptionError):
    """The cluster cannot be used as asked (one line; bad input: exit 2)."""


def ray_module() -> Any:
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
    ray = ray_module()
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


def on_node(ray: Any, node_id: str) -> Any:
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
