"""The server agent (``--server-node``): a backend's lifecycle on its node, the
samples only that node can take, and the conductor's view of it."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

from wsgicompare.backends import Backend, BackendStartError, ServerConfig, get_backend
from wsgicompare.engine.kernel import read_tcp_counters
from wsgicompare.engine.sampling import ServerSample, TreeSampler
from wsgicompare.loader import is_loopback

from .nodes import PLACE_TIMEOUT_S, Node, first_line, on_node, ray_module


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
        self.sampler = TreeSampler(self.server.processes, self.server.workers)
        s = self.server
        return {
            "url": s.url,
            "port": s.port,
            "command": list(s.command),
            "config_files": dict(s.config_files),
            "versions": dict(s.versions),
            "startup_s": s.startup_s,
        }

    def sample(self, memory: bool = False) -> ServerSample:
        assert self.sampler is not None
        return self.sampler.sample(memory)

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
        ray = ray_module()
        return ray.get(getattr(self._actor, method).remote(*args), timeout=timeout_s)

    def processes(self) -> list[Any]:
        return []  # on the server node: sample() reads them there

    def sample(self, memory: bool = False) -> ServerSample:
        return self._call("sample", memory)

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
        ray = ray_module()
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
        ray = ray_module()
        cls = ray.remote(num_cpus=0, max_concurrency=4)(ServerActor)
        return cls.options(scheduling_strategy=on_node(ray, self.node.node_id)).remote()

    def availability(self, backend: Backend) -> tuple[bool, list[str]]:
        ray = ray_module()
        actor = self._actor()
        try:
            available, missing = ray.get(actor.availability.remote(backend.id), timeout=PLACE_TIMEOUT_S)
        finally:
            ray.kill(actor)
        return available, [f"{m} (on {self.node.name})" for m in missing]

    def start(
        self, backend: Backend, config: ServerConfig, ready_timeout_s: float, cancel: threading.Event
    ) -> RemoteServer:
        ray = ray_module()
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
            raise BackendStartError(f"{backend.id} on {self.node.name}: {first_line(exc)}") from None
        if "error" in info:
            ray.kill(actor)
            raise BackendStartError(info["error"], info["log_tail"])
        return RemoteServer(actor, backend, config, self.node, info)

    def sampler(self, server: Any) -> Any:
        return server  # RemoteServer.sample()

    def tcp_reader(self, server: Any) -> Any:
        return server.tcp_counters
